//! The OTLP requests observe encodes from its span records, as the in-test
//! receiver decodes them with opentelemetry-proto's types: every field of a
//! span with nothing but its callsite's data, with attributes, with an error
//! and its exception event, under a remote parent with a `tracestate`, and
//! linked to a producer; over OTLP/gRPC and OTLP/HTTP, gzipped and not. A
//! partial success from the collector counts the rejected spans as dropped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use observe_runtime::{observe, Config, ExportProtocol, LogOutput, SpanContext};
use observe_tests::OtlpReceiver;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

/// Each test initialises observe afresh in this process: they take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const PRODUCER_TRACE: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
const PRODUCER_SPAN: u64 = 0x00f0_67aa_0ba9_02b7;
const TRACE_STATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

fn producer_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{PRODUCER_TRACE:032x}-{PRODUCER_SPAN:016x}-01")
            .parse()
            .unwrap(),
    );
    headers.insert("tracestate", TRACE_STATE.parse().unwrap());
    headers
}

#[observe(span = "Plain.Work")]
fn plain() -> SpanContext {
    observe_runtime::current()
}

#[observe(span = "Order.Submit", kind = server, fields(order.id = id, order.items = items))]
fn submit(id: &str, items: i64) -> Result<SpanContext, std::io::Error> {
    if items == 0 {
        return Err(std::io::Error::other("empty order"));
    }
    Ok(observe_runtime::current())
}

#[observe(consumer, span = "Orders.Process", headers = headers)]
fn process(headers: &http::HeaderMap) -> SpanContext {
    observe_runtime::current()
}

#[observe(consumer, span = "Orders.Audit", headers = headers, propagation = "link")]
fn audit(headers: &http::HeaderMap) -> SpanContext {
    observe_runtime::current()
}

fn value(span: &Span, key: &str) -> Option<Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

fn string(span: &Span, key: &str) -> String {
    match value(span, key) {
        Some(Any::StringValue(s)) => s,
        other => panic!("{key}: {other:?} in {span:#?}"),
    }
}

fn keys(span: &Span) -> Vec<&str> {
    let mut keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    keys
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The `code.*` attributes of a function of this file.
fn assert_code(span: &Span, function: &str) {
    assert_eq!(string(span, "code.function"), function);
    assert_eq!(string(span, "code.namespace"), module_path!());
    assert!(
        string(span, "code.filepath").ends_with("otlp_encoded.rs"),
        "{span:#?}"
    );
    assert!(matches!(value(span, "code.lineno"), Some(Any::IntValue(line)) if line > 30));
}

fn round_trip(protocol: ExportProtocol, gzip: bool) {
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.endpoint(protocol);
    let guard = observe_runtime::init(
        Config::default()
            .service_name("encoded-test")
            .service_version("1.2.3")
            .logs(LogOutput::Off)
            .otlp(endpoint, protocol)
            .otlp_gzip(gzip)
            .otlp_header("x-tenant", "acme"),
    )
    .expect("init");
    let before = unix_nanos();
    let plain = plain();
    let submitted = submit("A-17", 3).expect("an order with items");
    submit("A-18", 0).expect_err("an empty order");
    let processed = process(&producer_headers());
    let audited = audit(&producer_headers());
    let after = unix_nanos();
    drop(guard);

    let case = format!("{protocol:?}, gzip {gzip}");
    let requests = receiver.requests();
    assert!(!requests.is_empty(), "{case}: no request");
    for request in &requests {
        let expected = match protocol {
            ExportProtocol::Grpc => "grpc",
            ExportProtocol::HttpProtobuf => "http",
        };
        assert_eq!(request.protocol, expected, "{case}");
        assert_eq!(request.gzip, gzip, "{case}: the body's encoding");
        for resource_spans in &request.request.resource_spans {
            let resource = resource_spans.resource.as_ref().expect("a resource");
            let attribute = |key: &str| {
                resource
                    .attributes
                    .iter()
                    .find(|kv: &&KeyValue| kv.key == key)
                    .and_then(|kv| kv.value.clone()?.value)
            };
            assert_eq!(
                attribute("service.name"),
                Some(Any::StringValue("encoded-test".into()))
            );
            assert_eq!(
                attribute("service.version"),
                Some(Any::StringValue("1.2.3".into()))
            );
            assert_eq!(
                attribute("telemetry.sdk.name"),
                Some(Any::StringValue("observe".into()))
            );
            for scope_spans in &resource_spans.scope_spans {
                let scope = scope_spans.scope.as_ref().expect("a scope");
                assert_eq!(scope.name, "observe");
                assert!(!scope.version.is_empty());
            }
        }
    }
    let spans: Vec<Span> = requests
        .iter()
        .flat_map(|r| &r.request.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| ss.spans.clone())
        .collect();
    assert_eq!(spans.len(), 5, "{case}: {spans:#?}");
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    // The span times come from the TSC, anchored to the wall clock once at
    // `init`: they may stray from `SystemTime::now()` by the calibration's
    // error, well under this.
    const SLACK: u64 = 50_000_000;
    for span in &spans {
        let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
        assert!(before - SLACK <= start, "{case}: {before} > {start}");
        assert!(start <= end, "{case}: {span:#?}");
        assert!(end <= after + SLACK, "{case}: {end} > {after}");
        assert!(span
            .events
            .iter()
            .all(|e| e.time_unix_nano == span.end_time_unix_nano));
    }

    // Nothing but the callsite's data: a root, internal, unset status.
    let span = named("Plain.Work")[0];
    assert_eq!(span.trace_id, plain.trace_id.to_be_bytes());
    assert_eq!(span.span_id, plain.span_id.to_be_bytes());
    assert!(span.parent_span_id.is_empty());
    assert!(span.trace_state.is_empty());
    assert_eq!(span.kind, 1, "SPAN_KIND_INTERNAL");
    assert_eq!(span.flags, 0x103, "sampled, random, parent not remote");
    assert_eq!(
        keys(span),
        [
            "code.filepath",
            "code.function",
            "code.lineno",
            "code.namespace"
        ]
    );
    assert_code(span, "plain");
    assert_eq!(span.status, Some(Status::default()));
    assert!(span.events.is_empty() && span.links.is_empty());
    assert_eq!(
        (
            span.dropped_attributes_count,
            span.dropped_events_count,
            span.dropped_links_count
        ),
        (0, 0, 0)
    );

    // With attributes, and with an error.
    let submits = named("Order.Submit");
    assert_eq!(submits.len(), 2, "{case}");
    let ok = submits
        .iter()
        .find(|s| s.span_id == submitted.span_id.to_be_bytes())
        .expect("the successful order");
    assert_eq!(ok.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(string(ok, "order.id"), "A-17");
    assert_eq!(value(ok, "order.items"), Some(Any::IntValue(3)));
    assert_eq!(
        keys(ok),
        [
            "code.filepath",
            "code.function",
            "code.lineno",
            "code.namespace",
            "order.id",
            "order.items"
        ]
    );
    assert_code(ok, "submit");
    assert_eq!(ok.status, Some(Status::default()));
    let failed = submits
        .iter()
        .find(|s| s.span_id != submitted.span_id.to_be_bytes())
        .expect("the failed order");
    assert_eq!(string(failed, "order.id"), "A-18");
    let error_type = string(failed, "error.type");
    assert!(!error_type.is_empty());
    assert_eq!(
        failed.status,
        Some(Status {
            message: "empty order".into(),
            code: 2,
        })
    );
    assert_eq!(failed.events.len(), 1, "{case}: {failed:#?}");
    let event = &failed.events[0];
    assert_eq!(event.name, "exception");
    let event_attributes: Vec<(String, Option<Any>)> = event
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().and_then(|v| v.value)))
        .collect();
    assert_eq!(
        event_attributes,
        [
            (
                "exception.type".to_owned(),
                Some(Any::StringValue(error_type))
            ),
            (
                "exception.message".to_owned(),
                Some(Any::StringValue("empty order".into()))
            ),
        ]
    );

    // Under a remote parent, with the trace's tracestate.
    let span = named("Orders.Process")[0];
    assert_eq!(span.trace_id, PRODUCER_TRACE.to_be_bytes());
    assert_eq!(processed.trace_id, PRODUCER_TRACE);
    assert_eq!(span.span_id, processed.span_id.to_be_bytes());
    assert_eq!(span.parent_span_id, PRODUCER_SPAN.to_be_bytes());
    assert_eq!(span.trace_state, TRACE_STATE);
    assert_eq!(span.kind, 5, "SPAN_KIND_CONSUMER");
    assert_eq!(span.flags & 0x300, 0x300, "the parent is remote");
    assert_eq!(
        span.flags & 0xff,
        0x01,
        "sampled; the producer's id is not random"
    );
    assert!(span.links.is_empty());

    // A new trace, linked to the producer.
    let span = named("Orders.Audit")[0];
    assert_eq!(span.trace_id, audited.trace_id.to_be_bytes());
    assert_ne!(audited.trace_id, PRODUCER_TRACE);
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.links.len(), 1, "{case}: {span:#?}");
    let link = &span.links[0];
    assert_eq!(link.trace_id, PRODUCER_TRACE.to_be_bytes());
    assert_eq!(link.span_id, PRODUCER_SPAN.to_be_bytes());
    assert_eq!(link.trace_state, TRACE_STATE);
    assert_eq!(link.flags, 0x301, "sampled, remote");
    assert!(link.attributes.is_empty());
    assert_eq!(span.dropped_links_count, 0);
}

#[test]
fn grpc_plain() {
    let _serial = serial();
    round_trip(ExportProtocol::Grpc, false);
}

#[test]
fn grpc_gzip() {
    let _serial = serial();
    round_trip(ExportProtocol::Grpc, true);
}

#[test]
fn http_plain() {
    let _serial = serial();
    round_trip(ExportProtocol::HttpProtobuf, false);
}

#[test]
fn http_gzip() {
    let _serial = serial();
    round_trip(ExportProtocol::HttpProtobuf, true);
}

fn rejected() -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .find(|l| l.starts_with("observe_spans_dropped_total{reason=\"rejected\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn exported() -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .find(|l| l.starts_with("observe_spans_exported_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A collector that takes a request but rejects some of its spans: they
/// are counted as dropped, not exported.
#[test]
fn a_partial_success_counts_the_rejected_spans() {
    let _serial = serial();
    for protocol in [ExportProtocol::Grpc, ExportProtocol::HttpProtobuf] {
        let (receiver, guard) = exporting_to_a_receiver("partial-test", protocol);
        receiver.set_partial_success(Some((2, "two spans over quota")));
        let (rejected_before, exported_before) = (rejected(), exported());
        for _ in 0..5 {
            plain();
        }
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        let requests = receiver.requests().len() as u64;
        assert!(requests >= 1);
        assert_eq!(rejected() - rejected_before, 2 * requests, "{protocol:?}");
        assert_eq!(
            exported() - exported_before,
            5 - 2 * requests,
            "{protocol:?}"
        );
        drop(guard);
    }
}

fn export_failed() -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .find(|l| l.starts_with("observe_spans_dropped_total{reason=\"export_failed\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A receiver, and observe exporting to it over `protocol`.
fn exporting_to_a_receiver(
    service: &str,
    protocol: ExportProtocol,
) -> (OtlpReceiver, observe_runtime::Guard) {
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.endpoint(protocol);
    let guard = observe_runtime::init(
        Config::default()
            .service_name(service)
            .logs(LogOutput::Off)
            .otlp(endpoint, protocol),
    )
    .expect("init");
    (receiver, guard)
}

/// A collector that answers "unavailable" twice gets the request a third
/// time and every span arrives; one that refuses the request as invalid
/// gets it once, and its spans are counted as `export_failed`.
#[test]
fn retryable_refusals_are_retried_and_others_are_not() {
    let _serial = serial();
    for protocol in [ExportProtocol::Grpc, ExportProtocol::HttpProtobuf] {
        let (receiver, guard) = exporting_to_a_receiver("retry-test", protocol);

        receiver.refuse_next(2, 503);
        let (exported_before, failed_before) = (exported(), export_failed());
        for _ in 0..3 {
            plain();
        }
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        assert_eq!(
            receiver.attempts(),
            3,
            "{protocol:?}: two refusals, one success"
        );
        assert_eq!(receiver.spans().len(), 3, "{protocol:?}");
        assert_eq!(exported() - exported_before, 3, "{protocol:?}");
        assert_eq!(export_failed() - failed_before, 0, "{protocol:?}");

        receiver.refuse_next(1, 400);
        for _ in 0..2 {
            plain();
        }
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        assert_eq!(receiver.attempts(), 4, "{protocol:?}: not retried");
        assert_eq!(receiver.spans().len(), 3, "{protocol:?}");
        assert_eq!(export_failed() - failed_before, 2, "{protocol:?}");
        drop(guard);
    }
}

/// A throttled collector: gRPC `RESOURCE_EXHAUSTED` with a `RetryInfo`, or
/// HTTP 429 with `Retry-After` as an HTTP date, gets the request again after
/// the delay it asked for, and every span arrives; `RESOURCE_EXHAUSTED`
/// without `RetryInfo` is final.
#[test]
fn throttling_is_retried_after_the_delay_the_collector_asks_for() {
    let _serial = serial();
    for protocol in [ExportProtocol::Grpc, ExportProtocol::HttpProtobuf] {
        let (receiver, guard) = exporting_to_a_receiver("throttle-test", protocol);

        receiver.refuse_next(1, 429);
        let (exported_before, failed_before) = (exported(), export_failed());
        plain();
        let started = std::time::Instant::now();
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        let waited = started.elapsed();
        assert_eq!(
            receiver.attempts(),
            2,
            "{protocol:?}: throttled once, then sent"
        );
        assert_eq!(receiver.spans().len(), 1, "{protocol:?}");
        assert_eq!(exported() - exported_before, 1, "{protocol:?}");
        assert_eq!(export_failed() - failed_before, 0, "{protocol:?}");
        // The wait is the collector's, not the backoff's first 100 ms: the
        // gRPC detail's 300 ms, or the HTTP date's, two seconds on in whole
        // seconds, so over one.
        let floor = match protocol {
            ExportProtocol::Grpc => observe_tests::RETRY_DELAY,
            ExportProtocol::HttpProtobuf => Duration::from_secs(1),
        };
        assert!(waited >= floor, "{protocol:?}: waited {waited:?}");

        if protocol == ExportProtocol::Grpc {
            receiver.refuse_next(1, 430);
            plain();
            assert!(observe_runtime::force_flush(Duration::from_secs(10)));
            assert_eq!(receiver.attempts(), 3, "without RetryInfo: not retried");
            assert_eq!(export_failed() - failed_before, 1);
        }
        drop(guard);
    }
}

/// A burst of several batches arrives whole and in call order, in requests
/// of at most `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` spans each.
#[test]
fn a_burst_arrives_in_requests_of_at_most_a_batch() {
    let _serial = serial();
    let receiver = OtlpReceiver::start();
    let lookup = |key: &str| (key == "OTEL_BSP_MAX_EXPORT_BATCH_SIZE").then(|| "100".to_owned());
    let guard = observe_runtime::init(
        Config::from_lookup(&lookup)
            .service_name("batch-test")
            .logs(LogOutput::Off)
            .otlp(receiver.grpc_endpoint(), ExportProtocol::Grpc),
    )
    .expect("init");
    let called: Vec<Vec<u8>> = (0..1_050)
        .map(|_| plain().span_id.to_be_bytes().to_vec())
        .collect();
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let requests = receiver.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| {
            r.request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
        .collect();
    assert!(
        sizes.iter().all(|&n| (1..=100).contains(&n)),
        "request sizes {sizes:?}"
    );
    let received: Vec<Vec<u8>> = requests
        .iter()
        .flat_map(|r| &r.request.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| span.span_id.clone())
        .collect();
    assert_eq!(received, called, "every span once, in call order");
    drop(guard);
}
