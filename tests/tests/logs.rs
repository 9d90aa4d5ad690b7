//! JSON log lines written inside an observed call carry the trace_id and
//! span_id of the span that was exported; lines outside carry none.

use std::sync::{Arc, Mutex};

use observe_runtime::{observe, Config, LogOutput};
use observe_tests::Capture;
use opentelemetry_sdk::trace::InMemorySpanExporter;

#[observe(span = "Logs.Handle")]
async fn handle(order: u32) -> Result<u32, std::io::Error> {
    tracing::info!(order, "handling");
    tokio::task::yield_now().await;
    step(order);
    tracing::warn!(retry = false, "after the await");
    Ok(order)
}

#[observe(span = "Logs.Step")]
fn step(order: u32) {
    tracing::debug!(order, "filtered out at the default level");
    tracing::info!(order, "in the child");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_ids_of_the_exported_span() {
    let capture = Capture::default();
    let exporter = InMemorySpanExporter::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("logs-test")
            .service_version("1.2.3")
            .environment("test")
            .logs(LogOutput::Writer(Arc::new(Mutex::new(capture.clone()))))
            .exporter(exporter.clone())
            // Also shows `init` works inside an async runtime.
            .metrics_addr("127.0.0.1:0".parse().unwrap()),
    )
    .expect("init");
    assert!(guard.metrics_addr().is_some());

    tracing::info!("before any observed call");
    handle(42).await.unwrap();
    tracing::info!("after the observed call");

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let handle_span = spans.iter().find(|s| s.name == "Logs.Handle").unwrap();
    let step_span = spans.iter().find(|s| s.name == "Logs.Step").unwrap();
    let trace_id = handle_span.span_context.trace_id().to_string();

    let lines = capture.json_lines();
    let by_message = |m: &str| {
        lines
            .iter()
            .find(|l| l["message"] == m)
            .unwrap_or_else(|| panic!("no line {m:?} in {lines:#?}"))
    };
    for m in ["before any observed call", "after the observed call"] {
        let line = by_message(m);
        assert!(
            line.get("trace_id").is_none() && line.get("span_id").is_none(),
            "{line}"
        );
        assert_eq!(line["service.name"], "logs-test");
    }
    for m in ["handling", "after the await"] {
        let line = by_message(m);
        assert_eq!(line["trace_id"], trace_id.as_str());
        assert_eq!(
            line["span_id"],
            handle_span.span_context.span_id().to_string().as_str()
        );
        assert_eq!(line["sampled"], true);
    }
    let child = by_message("in the child");
    assert_eq!(child["trace_id"], trace_id.as_str());
    assert_eq!(
        child["span_id"],
        step_span.span_context.span_id().to_string().as_str()
    );
    assert_eq!(child["order"], 42);

    let line = by_message("handling");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["order"], 42);
    assert_eq!(line["service.version"], "1.2.3");
    assert_eq!(line["deployment.environment"], "test");
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(by_message("after the await")["retry"], false);
    assert!(lines
        .iter()
        .all(|l| l["message"] != "filtered out at the default level"));
}
