//! The `/metrics` endpoint: the latency histogram counts ok, error and panic
//! apart, has `_bucket`, `_sum` and `_count`, and passes `promtool check metrics`.

use observe_runtime::{observe, Config, LogOutput, SpanOutput};
use observe_tests::{free_addr, http_get};

#[derive(Debug)]
enum ChargeError {
    Declined,
}

impl std::fmt::Display for ChargeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("declined")
    }
}

impl observe_runtime::ErrorType for ChargeError {
    fn error_type(&self) -> &'static str {
        match self {
            ChargeError::Declined => "payment_declined",
        }
    }
}

#[observe(span = "Payment.Charge", metric = "latency")]
fn charge(cents: u64) -> Result<u64, ChargeError> {
    if cents > 1000 {
        return Err(ChargeError::Declined);
    }
    if cents == 13 {
        panic!("unlucky amount");
    }
    Ok(cents)
}

#[observe(span = "Payment.Refund")]
fn refund_without_metric() -> u32 {
    1
}

fn series_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_endpoint_serves_a_histogram_per_outcome() {
    let addr = free_addr();
    let _guard = observe_runtime::init(
        Config::default()
            .service_name("metrics-test")
            .logs(LogOutput::Off)
            .spans(SpanOutput::None)
            .metrics_addr(addr),
    )
    .expect("init");

    for cents in [1, 2, 3] {
        charge(cents).unwrap();
    }
    for _ in 0..2 {
        charge(5000).unwrap_err();
    }
    std::panic::catch_unwind(|| charge(13)).unwrap_err();
    // Counted on another thread too: the scrape sums every thread's shard,
    // including those of threads that have exited.
    std::thread::spawn(|| charge(4).unwrap()).join().unwrap();
    refund_without_metric();

    let (status, headers, text) = http_get(addr, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{headers:?}"
    );

    let family = "operation_duration_seconds";
    assert!(
        text.contains(&format!("# TYPE {family} histogram")),
        "{text}"
    );
    let count = |outcome: &str, error_type: &str| {
        series_value(
            &text,
            &format!("{family}_count"),
            &[
                ("operation", "Payment.Charge"),
                ("outcome", outcome),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(count("ok", ""), Some(4.0), "{text}");
    assert_eq!(count("error", "payment_declined"), Some(2.0), "{text}");
    assert_eq!(count("panic", "panic"), Some(1.0), "{text}");
    let inf = series_value(
        &text,
        &format!("{family}_bucket"),
        &[
            ("operation", "Payment.Charge"),
            ("outcome", "ok"),
            ("le", "+Inf"),
        ],
    );
    assert_eq!(inf, Some(4.0));
    let fast = series_value(
        &text,
        &format!("{family}_bucket"),
        &[
            ("operation", "Payment.Charge"),
            ("outcome", "ok"),
            ("le", "0.001"),
        ],
    );
    assert_eq!(fast, Some(4.0), "trivial calls land in the first buckets");
    let sum = series_value(
        &text,
        &format!("{family}_sum"),
        &[("operation", "Payment.Charge"), ("outcome", "ok")],
    )
    .expect("a _sum series");
    assert!(sum > 0.0 && sum < 0.01, "sum {sum}");
    assert!(!text.contains("Payment.Refund"), "no metric unless asked");
    assert!(
        text.contains("observe_build_info{environment=\"\",service=\"metrics-test\",version=\""),
        "{text}"
    );

    observe_tests::check_with_promtool(&text);

    // Users with their own registry register observe's collector there and
    // serve classic text from their own handler.
    let registry = prometheus::Registry::new();
    registry
        .register(observe_runtime::metrics::collector())
        .expect("register observe's collector");
    let mut own = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&registry.gather(), &mut own)
        .unwrap();
    assert!(
        own.contains(
            "operation_duration_seconds_count{error_type=\"\",operation=\"Payment.Charge\",outcome=\"ok\"} 4"
        ),
        "{own}"
    );

    let (status, _, _) = http_get(addr, "/nope", &[]);
    assert_eq!(status, 404);
}
