//! The collector is down at start, goes down mid-run, comes back, and is
//! slow: observed calls keep returning, what cannot be exported is dropped and
//! counted, export resumes when the collector returns, and shutdown with a
//! dead collector returns within its timeout.

use std::time::{Duration, Instant};

use observe_runtime::{observe, Config, ExportProtocol, LogOutput};
use observe_tests::{free_addr, OtlpReceiver};

/// Each test initialises observe afresh in this process: they take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[observe(span = "Fault.Work", metric = "latency")]
fn work(i: u32) -> Result<u32, std::io::Error> {
    Ok(i)
}

#[observe(span = "Fault.Recovered")]
fn recovered(i: u32) -> u32 {
    i
}

fn health(name: &str) -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

fn config(endpoint: String) -> Config {
    Config::default()
        .service_name("faults-test")
        .logs(LogOutput::Off)
        .otlp(endpoint, ExportProtocol::Grpc)
        .export_timeout(Duration::from_millis(500))
        .schedule_delay(Duration::from_millis(50))
        .shutdown_timeout(Duration::from_secs(2))
}

#[test]
fn collector_down_then_back() {
    let _serial = serial();
    let grpc = free_addr();
    let guard = observe_runtime::init(config(format!("http://{grpc}"))).expect("init");
    // The counters are the process's: another test may have run first.
    let errors_at_start = health("observe_export_errors_total");
    let failed_at_start = health("observe_spans_dropped_total{reason=\"export_failed\"}");

    // Down at start: every call returns; failed exports are counted.
    for i in 0..2_000 {
        assert_eq!(work(i).unwrap(), i);
    }
    observe_runtime::force_flush(Duration::from_secs(10));
    assert!(
        health("observe_export_errors_total") > errors_at_start,
        "failed exports are counted"
    );
    assert!(
        health("observe_spans_dropped_total{reason=\"export_failed\"}") - failed_at_start >= 2_000,
        "spans lost to the outage are counted"
    );

    // Back: export resumes without a restart of the application.
    let mut receiver = OtlpReceiver::start_on(grpc, free_addr());
    let arrived = |n: usize| {
        move |spans: &[observe_tests::ReceivedSpan]| {
            spans.iter().filter(|s| s.name == "Fault.Recovered").count() >= n
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !arrived(1)(&receiver.spans()) && Instant::now() < deadline {
        recovered(0);
        observe_runtime::force_flush(Duration::from_secs(5));
    }
    assert!(
        arrived(1)(&receiver.spans()),
        "export resumed after the collector came back"
    );

    // Down mid-run, then back again.
    receiver.stop();
    let errors_before = health("observe_export_errors_total");
    for i in 0..500 {
        work(i).unwrap();
    }
    observe_runtime::force_flush(Duration::from_secs(10));
    assert!(health("observe_export_errors_total") > errors_before);
    receiver.restart();
    let before = receiver
        .spans()
        .iter()
        .filter(|s| s.name == "Fault.Recovered")
        .count();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !arrived(before + 1)(&receiver.spans()) && Instant::now() < deadline {
        recovered(1);
        observe_runtime::force_flush(Duration::from_secs(5));
    }
    assert!(
        arrived(before + 1)(&receiver.spans()),
        "export resumed a second time"
    );

    // Slow collector: the export timeout is honoured, memory stays bounded.
    receiver.set_delay(Duration::from_secs(3));
    let errors_before = health("observe_export_errors_total");
    for i in 0..1_000 {
        work(i).unwrap();
    }
    let started = Instant::now();
    observe_runtime::force_flush(Duration::from_secs(10));
    assert!(
        health("observe_export_errors_total") > errors_before,
        "a slow export times out"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the flush gave up after the 500 ms export timeout, not the collector's 3 s"
    );
    assert!(health("observe_span_queue_depth") <= 32_768);

    // Shutdown with a dead collector returns within its timeout.
    receiver.stop();
    for i in 0..100 {
        work(i).unwrap();
    }
    let started = Instant::now();
    drop(guard);
    assert!(
        started.elapsed() < Duration::from_secs(2) + Duration::from_secs(1),
        "shutdown took {:?} with a 2 s timeout",
        started.elapsed()
    );
}

#[test]
fn bounded_queue_with_a_stalled_exporter() {
    let _serial = serial();
    let receiver = OtlpReceiver::start();
    receiver.set_delay(Duration::from_secs(30));
    let guard = observe_runtime::init(
        config(receiver.grpc_endpoint())
            .max_queue(1_000)
            .export_timeout(Duration::from_secs(30)),
    )
    .expect("init");
    let dropped_before = health("observe_spans_dropped_total{reason=\"queue_full\"}");
    for i in 0..100_000 {
        work(i).unwrap();
    }
    // Let the drain thread move what it can.
    std::thread::sleep(Duration::from_millis(300));
    let depth = health("observe_span_queue_depth");
    assert!(
        depth <= 1_000 + 16_384 * 2,
        "queue depth {depth} is bounded"
    );
    let dropped = health("observe_spans_dropped_total{reason=\"queue_full\"}") - dropped_before;
    assert!(dropped > 0, "the overflow is counted");
    let started = Instant::now();
    drop(guard);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "shutdown is bounded by its timeout"
    );
}
