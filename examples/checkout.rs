//! A small order service instrumented with `#[observe]`.
//!
//! `cargo run --example checkout` runs a bounded workload of a few dozen
//! orders and prints where each signal went. No collector or server is
//! needed: spans go to stderr (the embedded default), JSON logs to stdout, and
//! metrics to a `/metrics` endpoint on a free loopback port.
//!
//! `cargo run --example checkout -- --serve` keeps taking orders and serving
//! `/metrics` (on `OBSERVE_METRICS_ADDR`, default `127.0.0.1:9464`) until
//! interrupted, with the debug pages beside it: open
//! `http://127.0.0.1:9464/debug/metrics` and click from a latency bucket's
//! exemplar to its trace and the trace's log lines. Set
//! `OTEL_EXPORTER_OTLP_ENDPOINT` to send spans to a collector (the pages are
//! then off unless `OBSERVE_DEBUG_PAGES=true`).
//!
//! `-- --print-rules` prints the Prometheus rules of the demo's objectives,
//! `-- --print-rule-tests` their `promtool test rules` file (for rules saved
//! as `checkout-rules.yml` beside it), and `-- --print-dashboard` the
//! Grafana dashboard; each exits without running the workload.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use observe_runtime::{observe, Config, ErrorType};

/// The start of order 13's deliberate panic message.
const DELIBERATE_PANIC: &str = "inventory record";

#[derive(Debug)]
enum OrderError {
    OutOfStock { sku: String },
    PaymentDeclined,
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::OutOfStock { sku } => write!(f, "{sku} is out of stock"),
            OrderError::PaymentDeclined => f.write_str("payment declined"),
        }
    }
}

impl std::error::Error for OrderError {}

impl ErrorType for OrderError {
    fn error_type(&self) -> &'static str {
        match self {
            OrderError::OutOfStock { .. } => "out_of_stock",
            OrderError::PaymentDeclined => "payment_declined",
        }
    }
}

struct Order {
    id: u64,
    sku: String,
    cents: u64,
}

#[derive(Debug)]
struct Receipt {
    order_id: u64,
}

#[observe(span = "Order.Submit", kind = server, metric = "latency", fields(order.id = order.id),
          objective(success = "99%", latency = "250ms", latency_target = "99%", window = "7d"))]
async fn submit(order: Order) -> Result<Receipt, OrderError> {
    tracing::info!(order.id = order.id, sku = %order.sku, "order received");
    reserve(&order.sku).await?;
    charge(order.cents)?;
    tracing::info!(order.id = order.id, "order accepted");
    Ok(Receipt { order_id: order.id })
}

#[observe(span = "Inventory.Reserve", kind = client, metric = "latency", fields(sku = sku))]
async fn reserve(sku: &str) -> Result<(), OrderError> {
    tokio::time::sleep(Duration::from_millis(2 + sku.len() as u64)).await;
    if sku.ends_with("-4") {
        // The slow orders a latency bucket's exemplar leads to on
        // `/debug/metrics`.
        tracing::info!(sku, "not in the local warehouse; asking the central one");
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    if sku.ends_with("-9") {
        tracing::warn!(sku, "no stock left");
        return Err(OrderError::OutOfStock { sku: sku.into() });
    }
    if sku == "CORRUPT" {
        panic!("{DELIBERATE_PANIC} for {sku} is corrupted");
    }
    tracing::info!(sku, "reserved");
    Ok(())
}

#[observe(span = "Payment.Charge", kind = client, metric = "latency", fields(amount.cents = cents))]
fn charge(cents: u64) -> Result<(), OrderError> {
    std::thread::sleep(Duration::from_micros(300));
    if cents > 50_000 {
        tracing::warn!(cents, "declined by the card issuer");
        return Err(OrderError::PaymentDeclined);
    }
    tracing::info!(cents, "charged");
    Ok(())
}

fn order(id: u64) -> Order {
    let sku = if id == 13 {
        "CORRUPT".to_owned()
    } else {
        format!("SKU-{}", id % 10)
    };
    Order {
        id,
        sku,
        cents: if id % 7 == 0 { 90_000 } else { 1_000 + id * 10 },
    }
}

/// Submits one order; a panic inside is caught here, at the top, as a server
/// would catch it per request.
async fn handle(id: u64) -> &'static str {
    match AssertUnwindSafe(submit(order(id))).catch_unwind().await {
        Ok(Ok(receipt)) => {
            debug_assert_eq!(receipt.order_id, id);
            "ok"
        }
        Ok(Err(e)) => e.error_type(),
        Err(_) => "panic",
    }
}

/// The objectives: the one `submit` declares, and one over the calls it
/// makes.
fn slo_rules() -> observe_runtime::slo::Rules {
    use observe_runtime::slo::{Objective, Rules};
    Rules::from_catalog().objective(
        Objective::new("checkout")
            .operations(["Inventory.Reserve", "Payment.Charge"])
            .success(95.0),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (flag, print) in [
        (
            "--print-rules",
            observe_runtime::slo::Rules::rules as fn(&_) -> _,
        ),
        ("--print-dashboard", observe_runtime::slo::Rules::dashboard),
    ] {
        if std::env::args().any(|a| a == flag) {
            println!("{}", print(&slo_rules())?);
            return Ok(());
        }
    }
    if std::env::args().any(|a| a == "--print-rule-tests") {
        println!("{}", slo_rules().promtool_tests("checkout-rules.yml")?);
        return Ok(());
    }
    let serve = std::env::args().any(|a| a == "--serve");
    let mut config = Config::from_env()
        .service_name("checkout")
        .service_version(env!("CARGO_PKG_VERSION"))
        .environment("demo");
    if std::env::var_os("OBSERVE_METRICS_ADDR").is_none() {
        let addr: SocketAddr = if serve {
            "127.0.0.1:9464".parse()?
        } else {
            "127.0.0.1:0".parse()?
        };
        config = config.metrics_addr(addr);
    }
    quiet_deliberate_panic();
    let guard = observe_runtime::init(config)?;
    let metrics_addr = guard.metrics_addr();
    let pages_addr = guard.debug_pages_addr();

    if serve {
        eprintln!(
            "serving http://{}/metrics; Ctrl-C or SIGTERM to stop",
            metrics_addr.expect("metrics are served")
        );
        if let Some(addr) = pages_addr {
            eprintln!(
                "open http://{addr}/debug/metrics: a latency bucket's exemplar -> its trace -> \
                 the trace's log lines"
            );
        }
        // SIGTERM (docker stop, Kubernetes) and SIGINT both end the loop, and
        // the guard's drop exports every ended span before the exit.
        let stop = observe_runtime::shutdown_signal();
        tokio::pin!(stop);
        let mut id = 0;
        let signal = loop {
            tokio::select! {
                signal = &mut stop => break signal,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    id += 1;
                    handle(id).await;
                }
            }
        };
        drop(guard);
        std::process::exit(signal.exit_code());
    }

    let mut outcomes = std::collections::BTreeMap::new();
    for id in 1..=40 {
        *outcomes.entry(handle(id).await).or_insert(0) += 1;
    }

    let metrics = match metrics_addr {
        Some(addr) => fetch_metrics(addr)
            .await
            .unwrap_or_else(|e| format!("(scrape failed: {e})")),
        None => String::new(),
    };
    drop(guard); // flushes every span

    println!();
    println!("40 orders submitted: {outcomes:?}");
    println!("where each signal went:");
    println!("  spans   -> {}", span_destination());
    println!("  logs    -> stdout, one JSON line per event with trace_id and span_id");
    if let Some(addr) = metrics_addr {
        println!(
            "  metrics -> served on http://{addr}/metrics while the demo ran \
             (`-- --serve` keeps it up); calls by outcome:"
        );
        for line in metrics
            .lines()
            .filter(|l| l.starts_with("operation_duration_seconds_count"))
        {
            println!("             {line}");
        }
    }
    if pages_addr.is_some() {
        println!(
            "  traces  -> kept in the process for the debug pages; `-- --serve` keeps them up at \
             http://127.0.0.1:9464/debug/metrics (latency -> exemplar -> trace -> log lines)"
        );
    }
    Ok(())
}

/// Order 13's panic is deliberate: it shows a panicking call's span ending
/// with status ERROR and `error.type = "panic"`, caught at the top as a
/// server catches it per request. It prints one line rather than a message
/// and backtrace that look like a crash; any other panic prints as usual.
/// Installed before `init`, so observe's hook records the panic first and
/// then calls this one.
fn quiet_deliberate_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains(DELIBERATE_PANIC) {
            eprintln!(
                "(order 13 panics on purpose: \"{message}\"; caught at the top, \
                 its spans end with status ERROR and error.type=panic)"
            );
        } else {
            default_hook(info);
        }
    }));
}

fn span_destination() -> String {
    match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => format!("OTLP at {endpoint}"),
        _ => "stderr, one line per span (set OTEL_EXPORTER_OTLP_ENDPOINT for a collector)".into(),
    }
}

async fn fetch_metrics(addr: SocketAddr) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}
