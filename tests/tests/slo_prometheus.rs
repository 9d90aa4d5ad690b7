//! The generated rules in a real Prometheus server (Debian's `prometheus`):
//! it loads the rule file `slo::rules()` writes for an objective declared
//! with `#[observe(objective(..))]`, scrapes the observed program's
//! `/metrics`, and, while every call fails, shows the page alert pending or
//! firing in `/api/v1/alerts`. Every PromQL expression of the rules and of
//! the dashboard is then evaluated through `/api/v1/query` and must parse
//! and run.
//!
//! The objective's window is one day, so the generator scales the
//! workbook's alert windows by 1/30: the fast-burn page looks at 10 s and
//! 2 min instead of 5 min and 1 h. Nothing else is changed for the test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observe_runtime::slo::{burn, Rules};
use observe_runtime::{observe, Config, LogOutput, SpanOutput};
use observe_tests::free_addr;
use observe_tests::prometheus::Prometheus;

#[observe(
    span = "SloLive.Pay",
    metric = "latency",
    objective(success = "99.9%", window = "1d")
)]
fn pay(fail: bool) -> Result<(), std::io::Error> {
    if fail {
        Err(std::io::Error::other("card declined"))
    } else {
        Ok(())
    }
}

/// Calls `pay` from a thread of its own until stopped (or for at most
/// three minutes), 50 calls every 100 ms, each failing when `fail` is set.
fn caller(fail: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut calls = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            for _ in 0..50 {
                let _ = pay(fail.load(Ordering::Relaxed));
                calls += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        calls
    })
}

/// The alerts Prometheus holds, as (name, slo, state).
fn alerts(prometheus: &Prometheus) -> Option<Vec<(String, String, String)>> {
    let data = prometheus.api("/api/v1/alerts", &[])?;
    Some(
        data["alerts"]
            .as_array()?
            .iter()
            .map(|alert| {
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
                (
                    text(&alert["labels"]["alertname"]),
                    text(&alert["labels"]["slo"]),
                    text(&alert["state"]),
                )
            })
            .collect(),
    )
}

#[test]
fn a_fast_burn_pages_in_prometheus_and_every_expression_evaluates() {
    let metrics = free_addr();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("slo-live")
            .logs(LogOutput::Off)
            .spans(SpanOutput::None)
            .log_failures(false)
            .metrics_addr(metrics),
    )
    .expect("init");

    let rules = Rules::from_catalog();
    let yaml = rules.rules().expect("the objective resolves");
    let page = burn::ALERTS[0];
    let window = Duration::from_secs(86_400);
    let (long, short) = (
        burn::promql_duration(burn::scale(page.long, window)),
        burn::promql_duration(burn::scale(page.short, window)),
    );
    assert_eq!((long.as_str(), short.as_str()), ("2m", "10s"));
    assert!(
        yaml.contains(&format!("[{short}]")),
        "the rules record the scaled window:\n{yaml}"
    );

    // A quiet start: successful calls only, scraped and evaluated.
    let fail = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = caller(fail.clone(), stop.clone());
    let prometheus = Prometheus::with_rules(metrics, &yaml);
    prometheus.wait_for_scrapes(3);
    let rule_groups = prometheus.wait_for("the rules loaded", |p| {
        let data = p.api("/api/v1/rules", &[])?;
        let groups = data["groups"].as_array()?.len();
        (groups > 0).then_some(groups)
    });
    assert!(
        rule_groups >= 2,
        "the objective's groups and observe's health"
    );
    let quiet = alerts(&prometheus).expect("alerts");
    assert!(
        !quiet.iter().any(|(_, slo, _)| slo == "SloLive.Pay"),
        "no alert while every call succeeds: {quiet:?}"
    );

    // Every call fails: the budget of 0.1 % burns at 1000x, past 14.4x in
    // both page windows within seconds.
    fail.store(true, Ordering::Relaxed);
    let paged = prometheus.wait_for_at_most(Duration::from_secs(120), "the page alert", |p| {
        alerts(p)?.into_iter().find(|(name, slo, state)| {
            name == "SLOPageFastBurn"
                && slo == "SloLive.Pay"
                && (state == "pending" || state == "firing")
        })
    });
    eprintln!("alert {paged:?}");

    // Every expression of the rules and the dashboard parses and runs.
    let expressions = rules.expressions().expect("expressions");
    assert!(expressions.len() > 10, "{expressions:#?}");
    for expression in &expressions {
        let answer = prometheus
            .answer("/api/v1/query", &[("query", expression)])
            .unwrap_or_else(|| panic!("no answer for {expression}"));
        assert_eq!(
            answer["status"], "success",
            "Prometheus refused {expression}: {answer}"
        );
    }
    // The error ratio the page alert reads is recorded, and near 1.
    let ratio = prometheus.wait_for("a recorded error ratio", |p| {
        let data = p.api(
            "/api/v1/query",
            &[(
                "query",
                "max({__name__=~\"slo:.*error.*ratio.*\", slo=\"SloLive.Pay\"})",
            )],
        )?;
        let value: f64 = data["result"][0]["value"][1].as_str()?.parse().ok()?;
        (value > 0.5).then_some(value)
    });
    assert!(ratio <= 1.0, "{ratio}");

    stop.store(true, Ordering::Relaxed);
    let made = calls.join().unwrap();
    assert!(made > 0);
    drop(guard);
}
