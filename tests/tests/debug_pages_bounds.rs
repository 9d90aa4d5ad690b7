//! The trace store's bounds in a running program: log lines past a trace's
//! bound, traces past the byte cap, and a line longer than the cap offered
//! to the store's queue are let go and counted in
//! `observe_trace_store_evicted_total`, and the store stays within its cap.

use std::time::Duration;

use observe_runtime::observe;
use observe_tests::{free_addr, http_get, init_for_process};
use serde_json::Value;

const CAP: usize = 128 * 1024;

#[observe(span = "Batch.Import")]
fn import(rows: u32) {
    for row in 0..rows {
        tracing::info!(row, "imported");
    }
}

#[observe(span = "Report.Build")]
fn build(report: u32) {
    let page = "x".repeat(1000);
    for part in 0..20 {
        tracing::info!(report, part, page, "rendered");
    }
}

#[observe(span = "State.Dump")]
fn dump(bytes: usize) {
    let state = "s".repeat(bytes);
    tracing::info!(state, "dumped");
}

fn evicted(metrics: &str, item: &str, reason: &str) -> u64 {
    let series =
        format!("observe_trace_store_evicted_total{{item=\"{item}\",reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in\n{metrics}"))
        .trim()
        .parse()
        .unwrap()
}

fn json(addr: std::net::SocketAddr, path: &str) -> Value {
    let (status, _, body) = http_get(addr, path, &[]);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn lines_past_a_trace_bound_and_traces_past_the_cap_are_counted() {
    let addr = free_addr();
    let (_exporter, capture) = init_for_process("debug-bounds", |c| {
        c.metrics_addr(addr).debug_store_bytes(CAP)
    });

    import(300);
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let trace_id = capture
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "imported")
        .expect("an import line")["trace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trace = json(addr, &format!("/debug/traces/{trace_id}.json"));
    assert_eq!(trace["logs"].as_array().unwrap().len(), 256);
    assert_eq!(trace["logs_dropped"], 44);
    let (_, _, metrics) = http_get(addr, "/metrics", &[]);
    assert_eq!(evicted(&metrics, "log_line", "trace_limit"), 44);
    assert_eq!(evicted(&metrics, "span", "byte_cap"), 0);

    // 40 traces of 20 KB of lines each: the name's ring keeps 16 of them,
    // more than the cap holds.
    for report in 0..40 {
        build(report);
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    }
    let summary = json(addr, "/debug/traces.json");
    let bytes = summary["store_bytes"].as_u64().unwrap();
    assert!(bytes <= CAP as u64, "{bytes} bytes held, over the cap");
    assert_eq!(summary["store_cap_bytes"], CAP);
    let (_, _, metrics) = http_get(addr, "/metrics", &[]);
    let spans = evicted(&metrics, "span", "byte_cap");
    let lines = evicted(&metrics, "log_line", "byte_cap");
    assert!(spans >= 1, "no span evicted");
    // The import trace went first, with its 256 lines; each report trace
    // evicted took its 20.
    assert_eq!(lines, 256 + 20 * (spans - 1), "{spans} spans evicted");
    let (status, _, _) = http_get(addr, &format!("/debug/traces/{trace_id}.json"), &[]);
    assert_eq!(status, 404, "the oldest trace was evicted");
    // Counts stay, whatever was evicted.
    let report = summary["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Report.Build")
        .unwrap();
    let counted: u64 = report["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 40);

    // A line longer than the whole cap never waits for the store: it is let
    // go at once and counted.
    let full_before = evicted(&metrics, "log_line", "queue_full");
    dump(CAP + 1);
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let _ = json(addr, "/debug/traces.json");
    let (_, _, metrics) = http_get(addr, "/metrics", &[]);
    assert_eq!(evicted(&metrics, "log_line", "queue_full") - full_before, 1);
    let summary = json(addr, "/debug/traces.json");
    assert!(summary["store_bytes"].as_u64().unwrap() <= CAP as u64);
}
