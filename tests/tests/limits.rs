//! The OpenTelemetry span limits hold on what a sampled span records: a
//! long string is cut at a UTF-8 boundary, attributes and links past their
//! counts are left out and counted, an error message is cut like a value,
//! and a span that lost anything says so with `observe.truncated`.

use std::time::Duration;

use observe_runtime::{observe, Config, LogOutput, SpanLimits};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

#[derive(Debug)]
struct LongError(String);

impl std::fmt::Display for LongError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LongError {}

#[observe(span = "Limits.Work", fields(order.note = note, order.tag = tag, order.extra = extra))]
fn work(note: &str, tag: &str, extra: &str, fail: bool) -> Result<(), LongError> {
    if fail {
        return Err(LongError("é".repeat(40)));
    }
    Ok(())
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn span_limits_cut_and_count_what_a_span_records() {
    let exporter = InMemorySpanExporter::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("limits-test")
            .logs(LogOutput::Off)
            .exporter(exporter.clone())
            .span_limits(SpanLimits {
                attribute_value_length: 15,
                attribute_count: 2,
                event_count: 0,
                link_count: 1,
            }),
    )
    .expect("init");
    // 20 two-byte characters: a cut at 15 bytes keeps 7 of them.
    work(&"é".repeat(20), "short", "third", false).unwrap();
    work("ok", "ok", "ok", true).unwrap_err();
    work("a", "b", "", false).unwrap();
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let spans = exporter.get_finished_spans().unwrap();
    // The in-memory exporter forgets its spans when it is shut down.
    drop(guard);
    assert_eq!(spans.len(), 3);
    let long = &spans[0];
    assert_eq!(
        attribute(long, "order.note").map(|v| v.as_str().into_owned()),
        Some("é".repeat(7)),
        "cut at a UTF-8 boundary"
    );
    assert_eq!(
        attribute(long, "order.tag").map(|v| v.as_str().into_owned()),
        Some("short".to_owned())
    );
    assert_eq!(attribute(long, "order.extra"), None, "past the count");
    assert_eq!(long.dropped_attributes_count, 1);
    assert_eq!(
        attribute(long, "observe.truncated"),
        Some(&Value::Bool(true))
    );

    let failed = &spans[1];
    match &failed.status {
        opentelemetry::trace::Status::Error { description } => {
            assert_eq!(
                description.as_ref(),
                "é".repeat(7),
                "the message is cut too"
            );
        }
        other => panic!("status {other:?}"),
    }
    assert!(failed.events.is_empty(), "an event limit of 0 keeps none");
    assert_eq!(failed.events.dropped_count, 1);
    assert_eq!(
        attribute(failed, "observe.truncated"),
        Some(&Value::Bool(true))
    );

    // Short values, but three fields for a count of two.
    let counted = &spans[2];
    assert_eq!(counted.dropped_attributes_count, 1);
    assert_eq!(
        attribute(counted, "order.note").map(|v| v.as_str().into_owned()),
        Some("a".to_owned())
    );
    assert_eq!(
        attribute(counted, "observe.truncated"),
        Some(&Value::Bool(true))
    );
}
