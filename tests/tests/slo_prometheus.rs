//! The generated rules in a real Prometheus server (Debian's `prometheus`):
//! it loads the rule file generated for an objective declared with
//! `#[observe(objective(..))]` and one on a route of an axum server behind
//! `ObserveLayer`, scrapes the observed program's `/metrics`, and, while
//! every call fails and every request of the route answers 500, shows each
//! objective's page alert pending or firing in `/api/v1/alerts`. Every PromQL expression of the rules and of
//! the dashboard is then evaluated through `/api/v1/query` and must parse
//! and run.
//!
//! The objective's window is one day, so the generator scales the
//! workbook's alert windows by 1/30: the fast-burn page looks at 10 s and
//! 2 min instead of 5 min and 1 h. Nothing else is changed for the test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use observe_runtime::http::ObserveLayer;
use observe_runtime::slo::{burn, Objective, Rules};
use observe_runtime::{observe, Config, LogOutput, SpanOutput};
use observe_tests::prometheus::Prometheus;
use observe_tests::{free_addr, http_get};

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

/// An axum server on a runtime of its own, behind the HTTP layer, whose
/// `/orders/{id}` answers 500 while `fail` is set; its address.
fn server(fail: Arc<AtomicBool>) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async move {
        let order = move || {
            let fail = fail.load(Ordering::Relaxed);
            async move {
                if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        };
        let app = Router::new()
            .route("/orders/{id}", get(order))
            .layer(ObserveLayer::new());
        observe_tests::serve(app).await
    });
    (addr, runtime)
}

/// Requests `/orders/{n}` from a thread of its own until stopped (or for at
/// most three minutes), 10 every 100 ms; returns the answers' status codes
/// seen.
fn requester(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<u16>> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut codes = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            for _ in 0..10 {
                n += 1;
                let (status, _, _) = http_get(addr, &format!("/orders/{n}"), &[]);
                if !codes.contains(&status) {
                    codes.push(status);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        codes
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

    let rules = Rules::from_catalog().objective(
        Objective::new("orders-api")
            .http_route("/orders/{id}")
            .success(99.9)
            .window(Duration::from_secs(86_400)),
    );
    let yaml = rules.rules().expect("the objectives resolve");
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
    let (addr, runtime) = server(fail.clone());
    let requests = requester(addr, stop.clone());
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
        !quiet
            .iter()
            .any(|(_, slo, _)| slo == "SloLive.Pay" || slo == "orders-api"),
        "no alert while every call succeeds: {quiet:?}"
    );

    // Every call fails and every request answers 500: the budget of 0.1 %
    // burns at 1000x, past 14.4x in both page windows within seconds.
    fail.store(true, Ordering::Relaxed);
    for objective in ["SloLive.Pay", "orders-api"] {
        let paged = prometheus.wait_for_at_most(Duration::from_secs(120), "the page alert", |p| {
            alerts(p)?.into_iter().find(|(name, slo, state)| {
                name == "SLOPageFastBurn"
                    && slo == objective
                    && (state == "pending" || state == "firing")
            })
        });
        eprintln!("alert {paged:?}");
    }

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
    // The calls in flight, scraped: one caller thread has at most one.
    let in_flight = prometheus.wait_for("the in-flight gauge scraped", |p| {
        let query = "operations_in_flight{operation=\"SloLive.Pay\"}";
        let data = p.api("/api/v1/query", &[("query", query)])?;
        data["result"][0]["value"][1].as_str()?.parse::<f64>().ok()
    });
    assert!((0.0..=1.0).contains(&in_flight), "{in_flight}");
    // The error ratio each page alert reads is recorded, and near 1.
    for objective in ["SloLive.Pay", "orders-api"] {
        let query = format!("max({{__name__=~\"slo:.*error.*ratio.*\", slo=\"{objective}\"}})");
        let ratio = prometheus.wait_for("a recorded error ratio", |p| {
            let data = p.api("/api/v1/query", &[("query", &query)])?;
            let value: f64 = data["result"][0]["value"][1].as_str()?.parse().ok()?;
            (value > 0.5).then_some(value)
        });
        assert!(ratio <= 1.0, "{objective}: {ratio}");
    }

    stop.store(true, Ordering::Relaxed);
    let made = calls.join().unwrap();
    assert!(made > 0);
    let mut codes = requests.join().unwrap();
    codes.sort_unstable();
    assert_eq!(codes, [200, 500], "the route answered both ways");
    drop(runtime);
    drop(guard);
}
