//! A subscriber of the user's own: `tracing_subscriber::fmt` lines, human
//! and JSON, carry the ids of the observed span they were written in through
//! `observe_runtime::logs::with_trace_ids`, and nothing is printed twice.

use observe_runtime::logs::{context_layer, with_trace_ids};
use observe_runtime::{observe, Config, LogOutput};
use observe_tests::Capture;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt as _;

#[observe(span = "Fmt.Charge")]
fn charge(cents: u64) {
    tracing::info!(cents, "charging");
}

#[test]
fn fmt_lines_carry_the_observed_spans_ids() {
    let exporter = InMemorySpanExporter::default();
    let _guard = observe_runtime::init(
        Config::default()
            .service_name("fmt-test")
            .logs(LogOutput::Off)
            .exporter(exporter.clone()),
    )
    .expect("init with a subscriber of one's own");

    let human = Capture::default();
    let writer = human.clone();
    let subscriber = tracing_subscriber::registry().with(context_layer()).with(
        fmt::layer()
            .with_writer(move || writer.clone())
            .event_format(with_trace_ids(fmt::format())),
    );
    tracing::subscriber::with_default(subscriber, || {
        charge(1200);
        tracing::info!("outside");
    });

    let json = Capture::default();
    let writer = json.clone();
    let subscriber = tracing_subscriber::registry().with(context_layer()).with(
        fmt::layer()
            .with_writer(move || writer.clone())
            .event_format(with_trace_ids(fmt::format().json())),
    );
    tracing::subscriber::with_default(subscriber, || {
        charge(1300);
        tracing::info!("outside");
    });

    let spans = observe_tests::flushed(&exporter);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let ids = |i: usize| {
        (
            spans[i].span_context.trace_id().to_string(),
            spans[i].span_context.span_id().to_string(),
        )
    };

    // Human: one line each, the ids at the end of the line inside the call.
    let text = human.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let (trace_id, span_id) = ids(0);
    assert!(lines[0].contains("charging cents=1200"), "{text}");
    assert!(
        lines[0].ends_with(&format!(
            " trace_id={trace_id} span_id={span_id} sampled=true"
        )),
        "{text}"
    );
    assert!(lines[1].ends_with("outside"), "{text}");
    assert!(!lines[1].contains("trace_id"), "{text}");

    // JSON: the ids are fields of the object; the line still parses.
    let lines = json.json_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let (trace_id, span_id) = ids(1);
    assert_eq!(lines[0]["fields"]["message"], "charging");
    assert_eq!(lines[0]["fields"]["cents"], 1300);
    assert_eq!(lines[0]["trace_id"], trace_id);
    assert_eq!(lines[0]["span_id"], span_id);
    assert_eq!(lines[0]["sampled"], true);
    assert_eq!(lines[1]["fields"]["message"], "outside");
    assert!(lines[1].get("trace_id").is_none(), "{lines:#?}");
}
