//! `OTEL_SDK_DISABLED=true`: nothing is exported and observed functions still
//! run and return their values.

use std::time::Duration;

use observe_runtime::{observe, Config, LogOutput};
use opentelemetry_sdk::trace::InMemorySpanExporter;

#[observe(span = "Disabled.Work", metric = "latency")]
fn work(n: u32) -> Result<u32, std::io::Error> {
    if n == 0 {
        return Err(std::io::Error::other("zero"));
    }
    Ok(n * 2)
}

#[observe(span = "Disabled.Async")]
async fn work_async(n: u32) -> u32 {
    n + 1
}

#[test]
fn disabled_sdk_exports_nothing_and_functions_still_work() {
    let exporter = InMemorySpanExporter::default();
    let config =
        Config::from_lookup(&|name| (name == "OTEL_SDK_DISABLED").then(|| "true".to_owned()))
            .logs(LogOutput::Off)
            .exporter(exporter.clone());
    let _guard = observe_runtime::init(config).expect("init");

    assert_eq!(work(21).unwrap(), 42);
    assert_eq!(work(0).unwrap_err().to_string(), "zero");
    assert_eq!(futures::executor::block_on(work_async(1)), 2);
    assert_eq!(
        observe_runtime::current(),
        observe_runtime::SpanContext::NONE
    );

    assert!(
        !observe_runtime::force_flush(Duration::from_secs(1)),
        "nothing is running"
    );
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    let text = observe_runtime::metrics::render();
    assert!(!text.contains("Disabled.Work"), "{text}");
}

#[test]
fn before_init_observed_functions_run_untouched() {
    // Runs in the same binary; whichever test runs first, no span is ever
    // current because the SDK is disabled or not initialised.
    assert_eq!(work(1).unwrap(), 2);
    assert_eq!(
        observe_runtime::current(),
        observe_runtime::SpanContext::NONE
    );
}
