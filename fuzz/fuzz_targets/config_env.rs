//! `Config::from_lookup` on arbitrary variable values: every malformed value
//! becomes an error naming its variable, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use observe_runtime::{Config, InitError};

const VARS: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "OTEL_SDK_DISABLED",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OBSERVE_METRICS_ADDR",
    "OBSERVE_SPANS_FILE",
    "RUST_LOG",
];

fuzz_target!(|data: &[u8]| {
    // Each input line is the value of the next variable in `VARS`.
    let text = String::from_utf8_lossy(data);
    let values: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let config = Config::from_lookup(&|name| {
        let i = VARS.iter().position(|v| *v == name)?;
        values.get(i).cloned()
    });
    if let Err(error) = config.validate() {
        check(&error);
    }
});

fn check(error: &InitError) {
    match error {
        InitError::Invalid { var, .. } => assert!(VARS.contains(var), "{error}"),
        InitError::Many(errors) => errors.iter().for_each(check),
        other => panic!("unexpected error from parsing: {other}"),
    }
    let _ = error.to_string();
}
