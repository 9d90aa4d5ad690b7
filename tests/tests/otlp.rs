//! A real OTLP round trip: observe exports over OTLP/gRPC and OTLP/HTTP to an
//! in-process receiver, which gets the spans with the right trace ids and
//! parents and the service's resource.

use std::time::Duration;

use observe_runtime::{observe, Config, ExportProtocol, LogOutput, SpanContext};
use observe_tests::{OtlpReceiver, ReceivedSpan};

#[observe(span = "Order.Submit", kind = server, fields(order.id = id))]
fn submit(id: u64) -> SpanContext {
    reserve(id).ok();
    observe_runtime::current()
}

#[observe(span = "Inventory.Reserve")]
fn reserve(id: u64) -> Result<(), std::io::Error> {
    if id % 2 == 1 {
        return Err(std::io::Error::other("out of stock"));
    }
    Ok(())
}

fn round_trip(protocol: ExportProtocol) {
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.endpoint(protocol);
    let guard = observe_runtime::init(
        Config::default()
            .service_name("otlp-test")
            .environment("ci")
            .logs(LogOutput::Off)
            .otlp(endpoint, protocol),
    )
    .expect("init");
    let roots: Vec<SpanContext> = (0..3).map(submit).collect();
    // Dropping the guard flushes every ended span.
    drop(guard);

    let spans = receiver.wait_until(Duration::from_secs(10), |s| s.len() >= 6);
    assert_eq!(spans.len(), 6, "{protocol:?}: {spans:#?}");
    for root in roots {
        let trace_id = root.trace_id_hex();
        let in_trace: Vec<&ReceivedSpan> =
            spans.iter().filter(|s| s.trace_id == trace_id).collect();
        let parent = in_trace
            .iter()
            .find(|s| s.name == "Order.Submit")
            .expect("root span");
        let child = in_trace
            .iter()
            .find(|s| s.name == "Inventory.Reserve")
            .expect("child span");
        assert_eq!(parent.span_id, root.span_id_hex());
        assert_eq!(child.parent_span_id, parent.span_id);
        assert!(parent.parent_span_id.is_empty(), "root has no parent");
        assert_eq!(parent.kind, 2, "SPAN_KIND_SERVER");
        assert_eq!(child.kind, 1, "SPAN_KIND_INTERNAL");
        assert!(parent.start_unix_nano <= child.start_unix_nano);
        assert!(child.end_unix_nano <= parent.end_unix_nano);
        assert_eq!(parent.resource["service.name"], "otlp-test");
        assert_eq!(parent.resource["deployment.environment"], "ci");
        assert!(parent.attributes.contains_key("order.id"));
        if parent.attributes["order.id"].parse::<u64>().unwrap() % 2 == 1 {
            assert_eq!(child.status_code, 2, "STATUS_CODE_ERROR");
            assert_eq!(child.status_message, "out of stock");
            assert_eq!(child.attributes["error.type"], "Error");
        } else {
            assert_eq!(child.status_code, 0, "STATUS_CODE_UNSET");
        }
    }
}

#[observe(span = "Burst.Item")]
fn burst_item(i: u32) -> u32 {
    i
}

/// Every span ended before the guard drops is exported: a burst of 10 000
/// from one thread, then drop, and the receiver holds exactly 10 000.
fn shutdown_exports_everything_ended_before_it() {
    let receiver = OtlpReceiver::start();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("otlp-burst")
            .logs(LogOutput::Off)
            .otlp(receiver.grpc_endpoint(), ExportProtocol::Grpc),
    )
    .expect("init");
    for i in 0..10_000 {
        burst_item(i);
    }
    drop(guard);
    let spans = receiver.spans();
    assert_eq!(
        spans.iter().filter(|s| s.name == "Burst.Item").count(),
        10_000
    );
    let text = observe_runtime::metrics::render();
    assert!(
        text.contains("observe_spans_dropped_total{reason=\"queue_full\"} 0\n"),
        "nothing dropped:\n{text}"
    );
}

#[test]
fn otlp_grpc_and_http_round_trip() {
    // One test, so the runtimes never overlap in this process.
    round_trip(ExportProtocol::Grpc);
    round_trip(ExportProtocol::HttpProtobuf);
    shutdown_exports_everything_ended_before_it();
}
