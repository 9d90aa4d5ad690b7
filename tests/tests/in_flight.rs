//! The calls running now, per operation: `operations_in_flight` on
//! `/metrics` for the functions with a metric, and the `running` counts of
//! `/debug/traces` for every span name. Each thread counts the calls it
//! starts; a call that ends, whichever way and on whichever thread, is no
//! longer counted.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use observe_runtime::observe;
use observe_tests::{free_addr, http_get, init_for_process};
use serde_json::Value;
use tokio::sync::watch;

fn served() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let addr = free_addr();
        init_for_process("in-flight-test", |config| config.metrics_addr(addr));
        addr
    })
}

/// The gauge of `operation` on `/metrics`, `None` when it has no series.
fn gauge(addr: SocketAddr, operation: &str) -> Option<f64> {
    let (status, _, text) = http_get(addr, "/metrics", &[]);
    assert_eq!(status, 200);
    let series = format!("operations_in_flight{{operation=\"{operation}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.parse().unwrap())
}

/// The `running` count of `name` on `/debug/traces.json` (0 when the page
/// has no row for it).
fn running_on_page(addr: SocketAddr, name: &str) -> u64 {
    let (status, _, body) = http_get(addr, "/debug/traces.json", &[]);
    assert_eq!(status, 200, "{body}");
    let summary: Value = serde_json::from_str(&body).unwrap();
    summary["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name)
        .map_or(0, |entry| entry["running"].as_u64().unwrap())
}

/// Waits until the gauge of `operation` reads `expected` (the calls get
/// there at their own pace), and returns what it read last.
fn wait_for_gauge(addr: SocketAddr, operation: &str, expected: f64) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = gauge(addr, operation);
        if read == Some(expected) || Instant::now() > deadline {
            return read;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[derive(Debug)]
struct OutOfStock;

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of stock")
    }
}

/// Waits for the gate, moving between the runtime's workers on the way,
/// then ends as `how` says.
#[observe(span = "Stock.Reserve", metric = "latency")]
async fn reserve(mut gate: watch::Receiver<bool>, how: u32) -> Result<(), OutOfStock> {
    let _ = gate.wait_for(|open| *open).await;
    tokio::task::yield_now().await;
    match how {
        0 => Ok(()),
        1 => Err(OutOfStock),
        _ => panic!("reservation {how} panicked"),
    }
}

#[test]
fn async_calls_are_running_until_they_end_whichever_way() {
    let addr = served();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (open, gate) = watch::channel(false);
    // Three succeed, two fail, two panic, and two are cancelled: nine calls.
    let tasks: Vec<_> = [0, 0, 0, 1, 1, 2, 2]
        .into_iter()
        .map(|how| runtime.spawn(reserve(gate.clone(), how)))
        .collect();
    let cancelled: Vec<_> = (0..2)
        .map(|_| {
            let gate = gate.clone();
            runtime.spawn(async move {
                tokio::time::timeout(Duration::from_secs(60), reserve(gate, 0)).await
            })
        })
        .collect();

    assert_eq!(wait_for_gauge(addr, "Stock.Reserve", 9.0), Some(9.0));
    assert_eq!(running_on_page(addr, "Stock.Reserve"), 9);

    for task in cancelled {
        task.abort();
    }
    open.send(true).unwrap();
    let ended = runtime.block_on(async {
        let mut ended = Vec::new();
        for task in tasks {
            ended.push(task.await.map_err(|e| e.is_panic()));
        }
        ended
    });
    assert_eq!(ended.iter().filter(|e| matches!(e, Ok(Ok(())))).count(), 3);
    assert_eq!(ended.iter().filter(|e| matches!(e, Ok(Err(_)))).count(), 2);
    assert_eq!(ended.iter().filter(|e| matches!(e, Err(true))).count(), 2);

    assert_eq!(wait_for_gauge(addr, "Stock.Reserve", 0.0), Some(0.0));
    assert_eq!(running_on_page(addr, "Stock.Reserve"), 0);
    // Every call is in the histogram: what the gauge takes off.
    let (_, _, text) = http_get(addr, "/metrics", &[]);
    let count: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("operation_duration_seconds_count{")
                && l.contains("operation=\"Stock.Reserve\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(count, 9.0, "{text}");
}

/// A span with no histogram: its end is counted by the thread it ends on.
#[observe(span = "Label.Print")]
fn print_label(started: &Barrier, release: &Barrier) {
    started.wait();
    release.wait();
}

#[observe(span = "Label.Load")]
fn load_labels() {}

/// A thread that calls `print_label` after a call of its own, so that the
/// call takes the path every call but a thread's first takes.
fn printer(started: &Arc<Barrier>, release: &Arc<Barrier>) -> std::thread::JoinHandle<()> {
    let (started, release) = (Arc::clone(started), Arc::clone(release));
    std::thread::spawn(move || {
        load_labels();
        print_label(&started, &release);
    })
}

#[test]
fn calls_without_a_histogram_are_running_on_the_page_only() {
    let addr = served();
    const THREADS: usize = 4;
    let started = Arc::new(Barrier::new(THREADS + 1));
    let release = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS).map(|_| printer(&started, &release)).collect();
    // Every thread is inside the call.
    started.wait();
    assert_eq!(running_on_page(addr, "Label.Print"), THREADS as u64);
    // No metric unless asked: no gauge either.
    assert_eq!(gauge(addr, "Label.Print"), None);
    release.wait();
    for thread in threads {
        thread.join().unwrap();
    }
    // The threads have ended, and their tables with them: the counts stay.
    assert_eq!(running_on_page(addr, "Label.Print"), 0);

    // A second round on new threads starts from zero.
    let started = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let thread = printer(&started, &release);
    started.wait();
    assert_eq!(running_on_page(addr, "Label.Print"), 1);
    release.wait();
    thread.join().unwrap();
    assert_eq!(running_on_page(addr, "Label.Print"), 0);
}

#[observe(span = "Label.Check", metric = "latency")]
fn check_label() {}

#[test]
fn the_gauge_family_is_described_and_promtool_accepts_it() {
    let addr = served();
    check_label();
    let (_, _, text) = http_get(addr, "/metrics", &[]);
    assert!(text.contains("# TYPE operations_in_flight gauge"), "{text}");
    assert!(text.contains(
        "# HELP operations_in_flight Observed calls started and not yet ended, per operation."
    ));
    assert_eq!(gauge(addr, "Label.Check"), Some(0.0), "{text}");
    observe_tests::check_with_promtool(&text);
}
