//! OpenMetrics exposition with exemplars: `/metrics` answers Prometheus's
//! Accept header with OpenMetrics whose latency buckets carry the trace id of
//! a span the same program exported, and a real Prometheus server scrapes it
//! and returns that trace id from `/api/v1/query_exemplars`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use observe_runtime::{observe, Config, ExportProtocol, FutureExt, LogOutput, SpanContext};
use observe_tests::prometheus::Prometheus;
use observe_tests::{free_addr, http_get, OtlpReceiver, ReceivedSpan};

/// The Accept header Prometheus 2.x sends with every scrape.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const FAMILY: &str = "operation_duration_seconds";

#[observe(span = "Checkout.Pay", metric = "latency")]
fn pay(cents: u64) -> Result<u64, std::io::Error> {
    Ok(cents)
}

#[observe(span = "Checkout.Audit", metric = "latency")]
fn audit() {}

struct Program {
    receiver: OtlpReceiver,
    metrics: SocketAddr,
}

/// One observed program per test binary: OTLP export to an in-test
/// receiver and `/metrics` on a free port.
fn program() -> &'static Program {
    static PROGRAM: OnceLock<Program> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let receiver = OtlpReceiver::start();
        let metrics = free_addr();
        let guard = observe_runtime::init(
            Config::default()
                .service_name("exemplars-test")
                .logs(LogOutput::Off)
                .otlp(receiver.grpc_endpoint(), ExportProtocol::Grpc)
                .metrics_addr(metrics),
        )
        .expect("init");
        // The guard lives for the whole test binary.
        std::mem::forget(guard);
        Program { receiver, metrics }
    })
}

/// Calls `pay` `n` times.
fn pay_many(n: u64) {
    for cents in 0..n {
        pay(cents).unwrap();
    }
}

/// Every `Checkout.Pay` span exported so far (by either test of this binary).
fn exported_pay_spans() -> Vec<ReceivedSpan> {
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    program()
        .receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == "Checkout.Pay")
        .collect()
}

/// `(trace_id, span_id)` of each exemplar on `operation`'s bucket lines.
fn exemplars(text: &str, operation: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{FAMILY}_bucket{{")))
        .filter(|l| l.contains(&format!("operation=\"{operation}\"")))
        .filter_map(|l| l.split_once(" # {"))
        .map(|(_, exemplar)| {
            let label = |name: &str| {
                let start = exemplar.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
                exemplar[start..start + exemplar[start..].find('"').unwrap()].to_owned()
            };
            (label("trace_id"), label("span_id"))
        })
        .collect()
}

#[test]
fn openmetrics_buckets_carry_exemplars_of_exported_spans() {
    let program = program();
    pay_many(20);
    // Calls in an unsampled trace are counted but leave no exemplar.
    let unsampled = SpanContext {
        trace_id: 0x5eed,
        span_id: 0x5eed,
        sampled: false,
        remote: true,
        ..SpanContext::NONE
    };
    futures::executor::block_on(
        async {
            for _ in 0..5 {
                audit();
            }
        }
        .with_context(unsampled),
    );

    let (status, headers, text) = http_get(
        program.metrics,
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT)],
    );
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE observe_spans_exported counter\n")
            && text.contains("\nobserve_spans_exported_total "),
        "counters are named the OpenMetrics way: {text}"
    );

    let pay_exemplars = exemplars(&text, "Checkout.Pay");
    assert!(!pay_exemplars.is_empty(), "{text}");
    let spans: HashSet<(String, String)> = exported_pay_spans()
        .iter()
        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
        .collect();
    for exemplar in &pay_exemplars {
        assert!(
            spans.contains(exemplar),
            "exemplar {exemplar:?} is not an exported Checkout.Pay span: {spans:?}"
        );
    }
    assert!(
        text.contains("operation=\"Checkout.Audit\",outcome=\"ok\"} 5"),
        "the unsampled calls are counted: {text}"
    );
    assert_eq!(exemplars(&text, "Checkout.Audit"), vec![], "{text}");

    // Without an Accept header (curl, a browser, promtool): classic text, no
    // exemplars, and promtool accepts it.
    let (status, headers, classic) = http_get(program.metrics, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{headers:?}"
    );
    assert!(!classic.contains(" # {"), "{classic}");
    assert!(!classic.contains("# EOF"), "{classic}");
    for health in [
        "observe_spans_exported_total ",
        "observe_spans_dropped_total{reason=\"queue_full\"} ",
        "observe_export_errors_total ",
        "observe_span_queue_depth ",
        "observe_propagation_errors_total{reason=\"traceparent_invalid\"} ",
        "observe_build_info{environment=\"\",service=\"exemplars-test\",version=\"",
    ] {
        assert!(classic.contains(health), "missing {health}: {classic}");
    }
    observe_tests::check_with_promtool(&classic);
}

#[test]
fn prometheus_stores_the_exemplar_of_an_exported_trace() {
    let program = program();
    pay_many(10);
    let prometheus = Prometheus::scraping(program.metrics);

    // Two scrapes, both successful.
    prometheus.wait_for_scrapes(2);

    let selector = format!("{FAMILY}_count{{operation=\"Checkout.Pay\",outcome=\"ok\"}}");
    let count = prometheus.wait_for("the histogram count", |p| {
        let data = p.api("/api/v1/query", &[("query", &selector)])?;
        let series = data["result"].as_array()?.first()?.clone();
        Some(series)
    });
    assert_eq!(count["metric"]["job"], "observe");
    assert_eq!(count["metric"]["operation"], "Checkout.Pay");
    assert_eq!(count["metric"]["outcome"], "ok");
    let calls: f64 = count["value"][1].as_str().unwrap().parse().unwrap();
    assert!(calls >= 10.0, "{count}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = ((now - 600).to_string(), (now + 600).to_string());
    let bucket = format!("{FAMILY}_bucket{{operation=\"Checkout.Pay\"}}");
    let stored: Vec<String> = prometheus.wait_for("exemplars", |p| {
        let data = p.api(
            "/api/v1/query_exemplars",
            &[("query", &bucket), ("start", &start), ("end", &end)],
        )?;
        let ids: Vec<String> = data
            .as_array()?
            .iter()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
            .collect();
        (!ids.is_empty()).then_some(ids)
    });
    let trace_ids: HashSet<String> = exported_pay_spans()
        .into_iter()
        .map(|s| s.trace_id)
        .collect();
    assert!(
        stored.iter().any(|id| trace_ids.contains(id)),
        "Prometheus holds exemplars {stored:?}, none of them an exported trace {trace_ids:?}"
    );
}
