//! The debug pages over HTTP, fed by real observed calls: the trace store
//! assembles traces whose spans end on several threads in any order,
//! attaches each log line to the span it was written in, and the pages and
//! their JSON show them, escaped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use observe_runtime::observe;
use observe_tests::{free_addr, http_get, init_for_process, Capture};
use serde_json::Value;

fn pages() -> (SocketAddr, &'static Capture) {
    static STARTED: OnceLock<(SocketAddr, Capture)> = OnceLock::new();
    let (addr, capture) = STARTED.get_or_init(|| {
        let addr = free_addr();
        let (_exporter, capture) =
            init_for_process("debug-pages", |config| config.metrics_addr(addr));
        (addr, capture)
    });
    (*addr, capture)
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, headers, body) = http_get(addr, path, &[]);
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"))
}

#[observe(span = "Shelf.Pick", fields(shelf = shelf))]
fn pick(shelf: u32) {
    tracing::info!(shelf, "picking from shelf");
    std::thread::sleep(Duration::from_millis(2));
}

#[observe(span = "Parcel.Pack")]
fn pack(parcel: u32) {
    // Children on threads of their own: their spans end, and reach the
    // drain thread through their own rings, before this one's.
    let pickers: Vec<_> = (0..3)
        .map(|shelf| observe_runtime::spawn_thread(move || pick(parcel * 10 + shelf)))
        .collect();
    for picker in pickers {
        picker.join().unwrap();
    }
    tracing::warn!(parcel, "packed <b>fragile</b> & heavy");
}

#[test]
fn a_trace_from_several_threads_is_assembled_with_its_log_lines() {
    let (addr, capture) = pages();
    let trace_id = {
        // No span is current here: `pack` is the root.
        pack(7);
        // The trace of the `pack` call just made, from its warning line.
        let lines = capture.json_lines();
        let line = lines
            .iter()
            .rev()
            .find(|l| l["message"] == "packed <b>fragile</b> & heavy" && l["parcel"] == 7)
            .expect("the warning line");
        line["trace_id"].as_str().unwrap().to_owned()
    };
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));

    let trace = get_json(addr, &format!("/debug/traces/{trace_id}.json"));
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 4, "{trace:#}");
    let root = spans.iter().find(|s| s["name"] == "Parcel.Pack").unwrap();
    assert_eq!(root["parent_span_id"], Value::Null);
    let root_id = root["span_id"].as_str().unwrap();
    let picks: Vec<&Value> = spans.iter().filter(|s| s["name"] == "Shelf.Pick").collect();
    assert_eq!(picks.len(), 3);
    for pick in &picks {
        assert_eq!(pick["parent_span_id"], root_id, "{pick:#}");
        assert_eq!(pick["trace_id"], trace_id.as_str());
    }
    let shelves: Vec<&str> = picks
        .iter()
        .map(|p| p["attributes"]["shelf"].as_str().unwrap())
        .collect();
    assert!(
        ["70", "71", "72"].iter().all(|s| shelves.contains(s)),
        "{shelves:?}"
    );

    // Each log line sits with the span it was written in, as the JSON log
    // layer wrote it.
    let logs = trace["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 4, "{trace:#}");
    let written: HashMap<String, String> = capture
        .json_lines()
        .into_iter()
        .filter(|l| l["trace_id"] == trace_id.as_str())
        .map(|l| {
            (
                l["message"].as_str().unwrap().to_owned() + &l["shelf"].to_string(),
                l["span_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for log in logs {
        let line = &log["line"];
        let key = line["message"].as_str().unwrap().to_owned() + &line["shelf"].to_string();
        assert_eq!(log["span_id"], written[&key].as_str(), "{log:#}");
    }
    let warning = logs
        .iter()
        .find(|l| l["level"] == "WARN")
        .expect("the warning");
    assert_eq!(warning["span_id"], root_id);
    for log in logs.iter().filter(|l| l["level"] == "INFO") {
        let pick = picks
            .iter()
            .find(|p| p["span_id"] == log["span_id"])
            .expect("an INFO line belongs to a pick");
        assert_eq!(
            pick["attributes"]["shelf"].as_str().unwrap(),
            log["line"]["shelf"].to_string()
        );
    }

    // The page: children nested under the root, the markup of the log
    // line escaped.
    let (status, headers, page) = http_get(addr, &format!("/debug/traces/{trace_id}"), &[]);
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let root_item = format!("<li class=\"span\" id=\"span-{root_id}\"");
    let root_at = page.find(&root_item).expect("the root's item");
    for pick in &picks {
        let at = page
            .find(&format!(
                "id=\"span-{}\"",
                pick["span_id"].as_str().unwrap()
            ))
            .unwrap();
        assert!(at > root_at);
        assert!(page[root_at..at].contains("<ul class=\"children\">"));
    }
    assert!(page.contains("packed &lt;b&gt;fragile&lt;/b&gt; &amp; heavy"));
    assert!(!page.contains("<b>fragile</b>"));
}

#[test]
fn span_names_are_counted_by_latency_bucket_and_errors() {
    #[observe(span = "Quote.Fetch", fields(vendor = vendor))]
    fn fetch(slow: bool, vendor: &str) -> Result<(), std::io::Error> {
        if slow {
            std::thread::sleep(Duration::from_millis(15));
            return Err(std::io::Error::other("upstream <timeout>"));
        }
        Ok(())
    }
    let (addr, _) = pages();
    for _ in 0..5 {
        fetch(false, "acme").unwrap();
    }
    fetch(true, "<b title=\"x\">acme</b>").unwrap_err();
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));

    let summary = get_json(addr, "/debug/traces.json");
    assert_eq!(summary["buckets"].as_array().unwrap().len(), 8);
    let fetch = summary["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Quote.Fetch")
        .expect("Quote.Fetch is listed");
    let latency: u64 = fetch["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(latency, 5);
    assert_eq!(fetch["errors"], 1);

    let errors = get_json(addr, "/debug/traces.json?name=Quote.Fetch&bucket=errors");
    let samples = errors["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0]["status"], "error");
    assert_eq!(samples[0]["status_message"], "upstream <timeout>");
    assert_eq!(samples[0]["events"][0]["name"], "exception");

    let (_, _, page) = http_get(addr, "/debug/traces?name=Quote.Fetch&bucket=errors", &[]);
    assert!(page.contains("upstream &lt;timeout&gt;"), "{page}");
    let trace = samples[0]["trace_id"].as_str().unwrap();
    assert!(page.contains(&format!("href=\"/debug/traces/{trace}#span-")));

    // An attribute value with markup is shown as text, as exported.
    assert_eq!(
        samples[0]["attributes"]["vendor"],
        "<b title=\"x\">acme</b>"
    );
    let (_, _, page) = http_get(addr, &format!("/debug/traces/{trace}"), &[]);
    assert!(
        page.contains("&lt;b title=&quot;x&quot;&gt;acme&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b title"));
}

#[test]
fn the_store_counts_what_it_lets_go_from_zero() {
    let (addr, _) = pages();
    let (_, _, metrics) = http_get(addr, "/metrics", &[]);
    for (item, reason) in [
        ("span", "byte_cap"),
        ("log_line", "byte_cap"),
        ("log_line", "trace_limit"),
        ("log_line", "queue_full"),
    ] {
        let series =
            format!("observe_trace_store_evicted_total{{item=\"{item}\",reason=\"{reason}\"}}");
        assert!(metrics.contains(&series), "{series} missing:\n{metrics}");
    }
}

#[test]
fn a_trace_not_in_the_store_and_a_bad_id_say_so() {
    let (addr, _) = pages();
    let (status, _, body) = http_get(addr, "/debug/traces/0af7651916cd43dd8448eb211c80319c", &[]);
    assert_eq!(status, 404);
    assert!(body.contains("does not hold this trace"));
    let (status, _, body) = http_get(addr, "/debug/traces/%3Cscript%3E", &[]);
    assert_eq!(status, 400);
    assert!(body.contains("is not 32 hex digits"));
}
