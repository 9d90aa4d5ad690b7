//! Log events exported as OTLP log records to a real receiver (gRPC and
//! HTTP/protobuf): the records carry the ids of the exported spans that were
//! current, severity, body, the fields as attributes (personal data masked)
//! and the spans' resource; a collector that is down loses records without
//! making the program wait, and every lost record is counted; dropping the
//! guard exports what is queued.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use observe_runtime::{observe, Config, ExportProtocol, LogOutput, SpanContext};
use observe_tests::{free_addr, Capture, OtlpReceiver, ReceivedLog};
use tracing_subscriber::layer::SubscriberExt;

const EMAIL: &str = "alice@example.com";

/// One subscriber for the process, with observe's layer writing lines to a
/// capture (the layer exports records instead while OTLP is configured);
/// each test initialises observe afresh, in turn.
fn setup() -> (std::sync::MutexGuard<'static, ()>, Capture) {
    static SERIAL: Mutex<()> = Mutex::new(());
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let output = LogOutput::Writer(Arc::new(Mutex::new(capture.clone())));
        let subscriber = tracing_subscriber::registry().with(
            observe_runtime::logs::layer_with(&output)
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        );
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        capture
    });
    (serial, capture.clone())
}

use tracing_subscriber::Layer as _;

#[observe(span = "Order.Submit", kind = server)]
fn submit(id: u64) -> (SpanContext, SpanContext) {
    tracing::info!(order.id = id, email = EMAIL, "submitting");
    let child = charge(id);
    (observe_runtime::current(), child)
}

#[observe(span = "Payment.Charge")]
fn charge(id: u64) -> SpanContext {
    tracing::warn!(cents = 1200, declined = id % 2 == 1, "charging");
    tracing::debug!("below the filter");
    observe_runtime::current()
}

fn counter(name: &str) -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn by_body<'a>(logs: &'a [ReceivedLog], body: &str) -> Vec<&'a ReceivedLog> {
    logs.iter().filter(|l| l.body == body).collect()
}

fn round_trip(protocol: ExportProtocol) {
    let (_serial, capture) = setup();
    let lines_before = capture.text().len();
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.endpoint(protocol);
    let guard = observe_runtime::init(
        Config::default()
            .service_name("otlp-logs-test")
            .environment("ci")
            .logs(LogOutput::Off)
            .otlp(endpoint.clone(), protocol)
            .otlp_logs(endpoint, protocol),
    )
    .expect("init");
    tracing::info!(phase = "start", "outside any span");
    let calls: Vec<(SpanContext, SpanContext)> = (0..3).map(submit).collect();
    // Dropping the guard exports the queued records and the spans.
    drop(guard);

    let spans = receiver.wait_until(Duration::from_secs(10), |s| s.len() >= 6);
    let logs = receiver.wait_for_logs(Duration::from_secs(10), |l| l.len() >= 7);
    assert_eq!(logs.len(), 7, "{protocol:?}: {logs:#?}");

    let outside = by_body(&logs, "outside any span");
    assert_eq!(outside.len(), 1);
    assert!(outside[0].trace_id.is_empty() && outside[0].span_id.is_empty());
    assert_eq!(outside[0].attributes["phase"], "start");

    for (root, child) in &calls {
        let root_span = spans
            .iter()
            .find(|s| s.span_id == root.span_id_hex())
            .expect("the root span was exported");
        let in_trace = |body: &str| -> ReceivedLog {
            let found: Vec<&ReceivedLog> = by_body(&logs, body)
                .into_iter()
                .filter(|l| l.trace_id == root.trace_id_hex())
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{body:?} in {}: {logs:#?}",
                root.trace_id_hex()
            );
            found[0].clone()
        };

        let submitting = in_trace("submitting");
        assert_eq!(submitting.trace_id, root_span.trace_id);
        assert_eq!(submitting.span_id, root_span.span_id);
        assert_eq!(submitting.flags & 0x01, 0x01, "sampled");
        assert_eq!(submitting.severity_number, 9, "SEVERITY_NUMBER_INFO");
        assert_eq!(submitting.severity_text, "INFO");
        assert_eq!(submitting.scope, "otlp_logs", "the tracing target");
        assert!(submitting.time_unix_nano > 0);
        let id = submitting.attributes["order.id"].parse::<u64>().unwrap();
        assert!(id < 3);
        // The same masking as the JSON lines: never the raw address.
        let email = &submitting.attributes["email"];
        assert!(!email.contains("alice"), "masked: {email}");
        assert!(
            email.contains("@example.com") || email.contains('*'),
            "{email}"
        );
        assert_eq!(submitting.resource["service.name"], "otlp-logs-test");
        assert_eq!(submitting.resource, root_span.resource, "one resource");

        let charging = in_trace("charging");
        assert_eq!(charging.span_id, child.span_id_hex());
        let child_span = spans
            .iter()
            .find(|s| s.span_id == child.span_id_hex())
            .expect("the child span was exported");
        assert_eq!(child_span.parent_span_id, root_span.span_id);
        assert_eq!(charging.severity_number, 13, "SEVERITY_NUMBER_WARN");
        assert_eq!(charging.severity_text, "WARN");
        assert_eq!(charging.attributes["cents"], "1200");
        assert_eq!(charging.attributes["declined"], (id % 2 == 1).to_string());
    }
    assert!(by_body(&logs, "below the filter").is_empty());
    assert!(
        logs.iter()
            .all(|l| !l.attributes.values().any(|v| v.contains(EMAIL))),
        "no raw address anywhere"
    );
    // One destination per record: no JSON line was written meanwhile.
    assert_eq!(capture.text().len(), lines_before, "{}", capture.text());
}

#[test]
fn otlp_log_records_carry_the_ids_of_the_exported_spans() {
    // One test, so the two runs never overlap.
    round_trip(ExportProtocol::Grpc);
    round_trip(ExportProtocol::HttpProtobuf);
}

#[observe(span = "Burst.Item")]
fn burst_item(i: u32) -> u32 {
    tracing::info!(i, "burst");
    i
}

/// Dropping the guard right after a burst exports every record of it, with
/// a collector slow enough that most are still queued at the drop.
#[test]
fn shutdown_exports_every_queued_record() {
    let (_serial, _capture) = setup();
    let receiver = OtlpReceiver::start();
    receiver.set_delay(Duration::from_millis(100));
    let dropped_before = counter("observe_logs_dropped_total");
    let guard = observe_runtime::init(
        Config::default()
            .service_name("otlp-logs-burst")
            .logs(LogOutput::Off)
            .spans(observe_runtime::SpanOutput::None)
            .max_log_queue(5_000)
            .shutdown_timeout(Duration::from_secs(20))
            .otlp_logs(receiver.grpc_endpoint(), ExportProtocol::Grpc),
    )
    .expect("init");
    for i in 0..2_000 {
        burst_item(i);
    }
    drop(guard);
    let received = by_body(&receiver.logs(), "burst").len();
    assert_eq!(received, 2_000);
    assert_eq!(counter("observe_logs_dropped_total"), dropped_before);
}

/// A collector that is down: the calls keep returning, and every record is
/// accounted for as dropped, by reason, once the guard is dropped.
#[test]
fn a_down_collector_loses_records_counted_without_blocking() {
    let (_serial, _capture) = setup();
    let text = observe_runtime::metrics::render();
    for reason in ["queue_full", "export_failed", "shutdown_timeout"] {
        let series = format!("observe_logs_dropped_total{{reason=\"{reason}\"}}");
        assert!(text.contains(&series), "{series} is exposed:\n{text}");
    }
    let dropped_before = counter("observe_logs_dropped_total");
    let full_before = counter("observe_logs_dropped_total{reason=\"queue_full\"}");
    let exported_before = counter("observe_logs_exported_total");
    let guard = observe_runtime::init(
        Config::default()
            .service_name("otlp-logs-down")
            .logs(LogOutput::Off)
            .spans(observe_runtime::SpanOutput::None)
            .max_log_queue(64)
            .export_timeout(Duration::from_millis(300))
            .shutdown_timeout(Duration::from_secs(1))
            .otlp_logs(format!("http://{}", free_addr()), ExportProtocol::Grpc),
    )
    .expect("init");
    const EVENTS: u64 = 20_000;
    for i in 0..EVENTS as u32 {
        assert_eq!(burst_item(i), i);
    }
    drop(guard);
    assert_eq!(
        counter("observe_logs_dropped_total") - dropped_before,
        EVENTS,
        "every record is counted once:\n{}",
        observe_runtime::metrics::render()
    );
    assert!(counter("observe_logs_dropped_total{reason=\"queue_full\"}") > full_before);
    assert_eq!(counter("observe_logs_exported_total"), exported_before);
}

#[observe(span = "Large.Item")]
fn large_item(i: u32, blob: &str) {
    tracing::info!(i, blob, "large");
}

/// Records are bounded by bytes as well as by count: a burst of large
/// events past `max_log_queue_bytes` drops what does not fit, counted as
/// `queue_full`, while the same burst under the default cap loses nothing.
#[test]
fn large_records_past_the_byte_cap_are_dropped_and_counted() {
    let (_serial, _capture) = setup();
    const EVENTS: u64 = 100;
    let blob = "x".repeat(16 << 10);
    for cap in [None, Some(64 << 10)] {
        let receiver = OtlpReceiver::start();
        // A slow collector: the burst waits in the queue.
        receiver.set_delay(Duration::from_millis(100));
        let full_before = counter("observe_logs_dropped_total{reason=\"queue_full\"}");
        let mut config = Config::default()
            .service_name("otlp-logs-bytes")
            .logs(LogOutput::Off)
            .spans(observe_runtime::SpanOutput::None)
            .max_log_queue(10_000)
            .shutdown_timeout(Duration::from_secs(20))
            .otlp_logs(receiver.grpc_endpoint(), ExportProtocol::Grpc);
        if let Some(cap) = cap {
            config = config.max_log_queue_bytes(cap);
        }
        let guard = observe_runtime::init(config).expect("init");
        for i in 0..EVENTS as u32 {
            large_item(i, &blob);
        }
        drop(guard);
        let received = by_body(&receiver.logs(), "large").len() as u64;
        let full = counter("observe_logs_dropped_total{reason=\"queue_full\"}") - full_before;
        assert_eq!(
            received + full,
            EVENTS,
            "cap {cap:?}: every record accounted for"
        );
        match cap {
            None => assert_eq!(full, 0, "16 MiB holds the burst"),
            Some(_) => {
                assert!(
                    full > EVENTS / 2,
                    "64 KiB holds a few 16 KiB records: {full}"
                );
                assert!(received > 0, "what fitted is exported");
            }
        }
    }
}
