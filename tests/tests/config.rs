//! Malformed `OTEL_*` values make `init` return an error naming the variable;
//! nothing panics and nothing is left half-initialised.

use observe_runtime::{Config, InitError, LogOutput};

fn from(vars: &'static [(&'static str, &'static str)]) -> Config {
    Config::from_lookup(&|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .logs(LogOutput::Off)
}

fn vars_named(error: &InitError) -> Vec<&'static str> {
    match error {
        InitError::Invalid { var, .. } => vec![*var],
        InitError::Many(errors) => errors.iter().flat_map(vars_named).collect(),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn malformed_variables_are_errors_that_name_them() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "team=pay%2")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "abc"),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_PROPAGATORS", "tracecontext,xray")],
            "OTEL_PROPAGATORS",
        ),
        (&[("OTEL_SDK_DISABLED", "yes")], "OTEL_SDK_DISABLED"),
        (&[("OBSERVE_METRICS_ADDR", "9464")], "OBSERVE_METRICS_ADDR"),
        (
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
            "OTEL_BSP_MAX_QUEUE_SIZE",
        ),
    ];
    for (vars, expected) in cases {
        let vars: &'static [(&'static str, &'static str)] = vars;
        let error = observe_runtime::init(from(vars)).expect_err(expected);
        assert_eq!(vars_named(&error), [*expected], "{vars:?}");
        let message = error.to_string();
        assert!(message.contains(expected), "{message}");
        assert!(!observe_runtime::is_initialized());
    }

    // Several mistakes are reported together.
    let error = observe_runtime::init(from(&[
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
    ]))
    .unwrap_err();
    let mut vars = vars_named(&error);
    vars.sort_unstable();
    assert_eq!(vars, ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SDK_DISABLED"]);

    // A good configuration still initialises afterwards, and applies its
    // hash key: a later attempt to set another one is refused.
    let guard = observe_runtime::init(
        from(&[("OTEL_TRACES_EXPORTER", "none")]).hash_key("deployment-secret"),
    )
    .expect("init");
    assert!(
        !observe_runtime::set_hash_key(b"another"),
        "init set the key"
    );
    assert!(observe_runtime::is_initialized());
    assert_eq!(
        observe_runtime::init(from(&[])).unwrap_err(),
        InitError::AlreadyInitialized
    );
    drop(guard);
    assert!(!observe_runtime::is_initialized());
}
