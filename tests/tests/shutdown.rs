//! Nothing is lost at shutdown without a count: a service stopped by SIGTERM
//! exports every span it ended; a stalled exporter's spans, and those of
//! `OTEL_TRACES_EXPORTER=none`, are counted by reason, so that after the
//! guard drops exported + dropped equals the spans ended.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use observe_runtime::{observe, Config, LogOutput, SpanLimits, SpanOutput};
use observe_tests::OtlpReceiver;

/// Each test initialises observe afresh in this process: they take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[observe(span = "Shutdown.Work")]
fn work(i: u64) -> u64 {
    i
}

#[observe(span = "Shutdown.Large", fields(order.note = note))]
fn large(note: &str) -> usize {
    note.len()
}

/// `observe_spans_exported_total`, and `observe_spans_dropped_total` by
/// reason, from the metrics text.
fn counts() -> (u64, Vec<(String, u64)>) {
    let text = observe_runtime::metrics::render();
    let value = |line: &str| {
        line.rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    let exported = text
        .lines()
        .filter(|l| l.starts_with("observe_spans_exported_total"))
        .map(value)
        .sum();
    let dropped = text
        .lines()
        .filter(|l| l.starts_with("observe_spans_dropped_total{"))
        .map(|l| {
            let reason = l.split('"').nth(1).unwrap_or_default().to_owned();
            (reason, value(l))
        })
        .collect();
    (exported, dropped)
}

/// Every reason a span ended and was not exported.
const LOST: [&str; 4] = [
    "queue_full",
    "export_failed",
    "shutdown_timeout",
    "exporter_none",
];

fn dropped(by: &[(String, u64)], reason: &str) -> u64 {
    by.iter()
        .find(|(r, _)| r == reason)
        .map_or_else(|| panic!("no reason {reason} in {by:?}"), |(_, n)| *n)
}

/// An exporter whose export never returns: a collector that accepted the
/// connection and then hangs.
#[derive(Debug)]
struct Stalled;

impl opentelemetry_sdk::trace::SpanExporter for Stalled {
    async fn export(
        &self,
        _batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        std::future::pending().await
    }
}

#[test]
fn stalled_exporter_spans_are_all_counted() {
    let _serial = serial();
    let calls = 100_000_u64;
    let guard = observe_runtime::init(
        Config::default()
            .service_name("shutdown-test")
            .logs(LogOutput::Off)
            .exporter(Stalled)
            .max_queue(1_000_000)
            .shutdown_timeout(Duration::from_secs(1)),
    )
    .expect("init");
    let (exported_before, dropped_before) = counts();
    for i in 0..calls {
        work(i);
    }
    let started = Instant::now();
    drop(guard);
    let took = started.elapsed();
    let (exported, dropped_after) = counts();
    let delta = |reason: &str| dropped(&dropped_after, reason) - dropped(&dropped_before, reason);
    let lost = LOST.iter().map(|r| delta(r)).sum::<u64>();
    assert_eq!(
        exported - exported_before + lost,
        calls,
        "every ended span is exported or counted: {dropped_after:?}"
    );
    assert!(delta("shutdown_timeout") > 0, "{dropped_after:?}");
    assert!(
        took < Duration::from_secs(5),
        "the drop kept its 1 s timeout (took {took:?})"
    );
}

/// An exporter that takes 2 ms per batch and counts what it received.
#[derive(Debug, Default, Clone)]
struct Slow(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for Slow {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.0
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Four threads outrun a slow exporter: their rings fill, the queue
/// fills, each sets a full ring aside while the spare slots last (one
/// ring's worth here), and then drops. Every span is exported or counted,
/// and what observe counts as exported is what the exporter received.
#[test]
fn threads_that_outrun_the_exporter_lose_nothing_uncounted() {
    let _serial = serial();
    let (threads, calls) = (4_u64, 100_000_u64);
    let slow = Slow::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("shutdown-test")
            .logs(LogOutput::Off)
            .exporter(slow.clone())
            .max_queue(20_000)
            .shutdown_timeout(Duration::from_secs(2)),
    )
    .expect("init");
    let (exported_before, dropped_before) = counts();
    let producers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..calls {
                    work(t * calls + i);
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().expect("a producer ends");
    }
    drop(guard);
    let (exported, dropped_after) = counts();
    let delta = |reason: &str| dropped(&dropped_after, reason) - dropped(&dropped_before, reason);
    let lost = LOST.iter().map(|r| delta(r)).sum::<u64>();
    let exported = exported - exported_before;
    assert_eq!(
        exported + lost,
        threads * calls,
        "every ended span is exported or counted: {dropped_after:?}"
    );
    assert!(delta("queue_full") > 0, "the overload was counted");
    assert_eq!(
        slow.0.load(std::sync::atomic::Ordering::Relaxed),
        exported,
        "what is counted as exported arrived"
    );
}

#[test]
fn spans_without_an_exporter_are_counted() {
    let _serial = serial();
    let calls = 10_000_u64;
    let guard = observe_runtime::init(
        Config::default()
            .service_name("shutdown-test")
            .logs(LogOutput::Off)
            .spans(SpanOutput::None),
    )
    .expect("init");
    let (_, before) = counts();
    for i in 0..calls {
        work(i);
    }
    drop(guard);
    let (_, after) = counts();
    assert_eq!(
        dropped(&after, "exporter_none") - dropped(&before, "exporter_none"),
        calls,
        "{after:?}"
    );
}

fn gauge(name: &str) -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// With the exporter stalled, spans of 8 KiB wait within the byte cap: the
/// rest are dropped as `queue_full`, and all are still accounted for.
#[test]
fn queued_bytes_are_capped() {
    let _serial = serial();
    let calls = 2_000_u64;
    let cap = 1 << 20;
    let guard = observe_runtime::init(
        Config::default()
            .service_name("shutdown-test")
            .logs(LogOutput::Off)
            .exporter(Stalled)
            .max_queue_bytes(cap)
            .span_limits(SpanLimits {
                attribute_value_length: 8192,
                ..SpanLimits::default()
            })
            .shutdown_timeout(Duration::from_millis(500)),
    )
    .expect("init");
    let (exported_before, before) = counts();
    let note = "x".repeat(8192);
    for _ in 0..calls {
        large(&note);
    }
    // The drain thread collects at least every 100 ms.
    std::thread::sleep(Duration::from_millis(500));
    let depth = gauge("observe_span_queue_depth");
    assert!(
        depth * 8192 <= cap as u64,
        "{depth} spans of 8 KiB wait, over the {cap}-byte cap"
    );
    drop(guard);
    let (exported, after) = counts();
    let delta = |reason: &str| dropped(&after, reason) - dropped(&before, reason);
    assert!(delta("queue_full") > 0, "{after:?}");
    let lost = LOST.iter().map(|r| delta(r)).sum::<u64>();
    assert_eq!(exported - exported_before + lost, calls, "{after:?}");
}

#[test]
fn sigterm_exports_every_ended_span() {
    let receiver = OtlpReceiver::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigterm_service"))
        .arg("26")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_SERVICE_NAME", "sigterm-test")
        // Nothing is exported on schedule before the signal: only the
        // shutdown can deliver these spans.
        .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test service starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the service reports");
    let ended: usize = line
        .trim()
        .strip_prefix("ended ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected report {line:?}"));
    assert_eq!(ended, 52);
    assert!(
        receiver.spans().is_empty(),
        "nothing exported before the signal"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(143),
        "exits with SIGTERM's code: {status:?}"
    );
    let spans = receiver.wait_until(Duration::from_secs(5), |s| s.len() >= ended);
    assert_eq!(spans.len(), ended, "every ended span was exported");
}
