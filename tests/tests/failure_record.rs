//! An observed call that ends in `Err` or a panic writes exactly one
//! `observe.failure` log event with its span's ids, unless the call logged
//! at ERROR itself or the event is turned off, globally or per function
//! (`log_errors = false`).

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use observe_runtime::{observe, Config, LogOutput};
use observe_tests::Capture;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tracing_subscriber::layer::SubscriberExt;

fn setup() -> (std::sync::MutexGuard<'static, ()>, Capture) {
    static SERIAL: Mutex<()> = Mutex::new(());
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let output = LogOutput::Writer(Arc::new(Mutex::new(capture.clone())));
        let subscriber =
            tracing_subscriber::registry().with(observe_runtime::logs::layer_with(&output));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        capture
    });
    (serial, capture.clone())
}

#[observe(span = "Failure.Charge")]
fn charge(fail: bool) -> Result<u32, std::io::Error> {
    if fail {
        return Err(std::io::Error::other("card declined"));
    }
    Ok(1)
}

#[observe(span = "Failure.Logged")]
fn logged() -> Result<(), std::io::Error> {
    tracing::error!("the user's own record");
    Err(std::io::Error::other("logged already"))
}

#[observe(span = "Failure.Async")]
async fn fetch() -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    Err(std::io::Error::other("timed out"))
}

/// Logs at ERROR, then waits once: the test polls it on one thread and
/// finishes it on another, as a multi-threaded runtime may.
#[observe(span = "Failure.Moved")]
async fn moved() -> Result<(), std::io::Error> {
    tracing::error!("the user's own record, before the await");
    let mut waited = false;
    std::future::poll_fn(|_| {
        if std::mem::replace(&mut waited, true) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    Err(std::io::Error::other("logged on another thread"))
}

#[observe(span = "Failure.Panic")]
fn explode() {
    panic!("boom");
}

/// A miss is an expected `Err`: its span is still ERROR, but it writes no
/// failure record.
#[observe(span = "Failure.Quiet", log_errors = false)]
fn lookup() -> Result<u32, std::io::Error> {
    Err(std::io::Error::other("not cached"))
}

#[observe(span = "Failure.QuietPanic", log_errors = false)]
fn explode_quietly() {
    panic!("quiet boom");
}

fn failures(capture: &Capture, start: usize) -> Vec<serde_json::Value> {
    capture
        .json_lines()
        .split_off(start)
        .into_iter()
        .filter(|l| l["message"] == "observe.failure")
        .collect()
}

#[test]
fn each_failed_call_writes_one_failure_record_with_its_ids() {
    let (_serial, capture) = setup();
    let start = capture.json_lines().len();
    let exporter = InMemorySpanExporter::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("failure-record")
            .logs(LogOutput::Off)
            .exporter(exporter.clone()),
    )
    .expect("init");
    charge(false).unwrap();
    charge(true).unwrap_err();
    logged().unwrap_err();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fetch())
        .unwrap_err();
    // Polled first on a thread of its own, finished on this one.
    let mut call = Box::pin(moved());
    let mut call = std::thread::spawn(move || {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        call
    })
    .join()
    .unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(matches!(
        call.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Err(_))
    ));
    std::panic::catch_unwind(explode).unwrap_err();
    lookup().unwrap_err();
    std::panic::catch_unwind(explode_quietly).unwrap_err();
    let spans = observe_tests::flushed(&exporter);
    drop(guard);

    let failures = failures(&capture, start);
    let names: Vec<&str> = failures
        .iter()
        .map(|l| l["span.name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Failure.Charge", "Failure.Async", "Failure.Panic"],
        "one per failed call, none for a success, a call that logged at ERROR (on \
         any thread) or a function with `log_errors = false`: {failures:#?}"
    );
    // The quiet functions' spans still fail.
    for quiet in ["Failure.Quiet", "Failure.QuietPanic"] {
        let span = spans.iter().find(|s| s.name == quiet).expect(quiet);
        assert!(
            matches!(span.status, opentelemetry::trace::Status::Error { .. }),
            "{quiet}: {:?}",
            span.status
        );
    }
    for line in &failures {
        let name = line["span.name"].as_str().unwrap();
        let failed: Vec<_> = spans
            .iter()
            .filter(|s| s.name == name && s.status != opentelemetry::trace::Status::Unset)
            .collect();
        assert_eq!(failed.len(), 1, "{name}");
        let span = failed[0];
        assert_eq!(
            line["trace_id"],
            span.span_context.trace_id().to_string().as_str()
        );
        assert_eq!(
            line["span_id"],
            span.span_context.span_id().to_string().as_str()
        );
        assert_eq!(line["target"], "observe");
    }
    assert_eq!(failures[0]["level"], "WARN");
    assert_eq!(failures[0]["error.type"], "Error");
    assert_eq!(failures[0]["error.message"], "card declined");
    assert_eq!(failures[1]["error.message"], "timed out");
    assert_eq!(failures[2]["level"], "ERROR");
    assert_eq!(failures[2]["error.type"], "panic");
    assert_eq!(failures[2]["error.message"], "boom");
}

#[test]
fn the_failure_record_can_be_turned_off() {
    let (_serial, capture) = setup();
    let start = capture.json_lines().len();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("failure-record-off")
            .logs(LogOutput::Off)
            .spans(observe_runtime::SpanOutput::None)
            .log_failures(false),
    )
    .expect("init");
    charge(true).unwrap_err();
    drop(guard);
    assert!(failures(&capture, start).is_empty());
}
