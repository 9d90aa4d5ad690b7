//! Cancellation, panics across awaits, and many tasks moving between threads:
//! the current span stays consistent and every exported span has the right
//! parent.

use std::collections::HashMap;
use std::time::Duration;

use observe_runtime::{observe, SpanContext};
use observe_tests::{CompactExporter, CompactSpan};

fn recorded() -> &'static CompactExporter {
    CompactExporter::installed("reliability-test")
}

fn flushed() -> HashMap<u64, CompactSpan> {
    recorded().flushed()
}

// --- cancellation -------------------------------------------------------------

#[observe(span = "Cancel.Slow", metric = "latency")]
async fn slow() -> Result<(), std::io::Error> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

#[observe(span = "Cancel.Parent")]
async fn cancelling_parent() -> SpanContext {
    let me = observe_runtime::current();
    assert!(tokio::time::timeout(Duration::from_millis(5), slow())
        .await
        .is_err());
    assert_eq!(observe_runtime::current(), me, "restored after a timeout");
    tokio::select! {
        _ = slow() => unreachable!("slow never finishes first"),
        () = tokio::time::sleep(Duration::from_millis(5)) => {}
    }
    assert_eq!(observe_runtime::current(), me, "restored after select!");
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_future_ends_its_span_as_cancelled() {
    recorded();
    let root = cancelling_parent().await;
    assert_eq!(observe_runtime::current(), SpanContext::NONE);
    let spans = tokio::task::spawn_blocking(flushed).await.unwrap();
    let cancelled: Vec<_> = spans
        .values()
        .filter(|s| s.name == "Cancel.Slow" && s.trace_id == root.trace_id)
        .collect();
    assert_eq!(cancelled.len(), 2);
    assert!(cancelled
        .iter()
        .all(|s| s.cancelled && !s.status_error && s.parent == root.span_id));

    let text = observe_runtime::metrics::render();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("operation_duration_seconds_count")
                && l.contains("operation=\"Cancel.Slow\"")
                && l.contains("outcome=\"cancelled\"")
        })
        .unwrap_or_else(|| panic!("no cancelled series in\n{text}"));
    assert!(line.ends_with(" 2"), "{line}");
}

// --- panics across awaits -------------------------------------------------------

#[observe(span = "Panic.AcrossAwait")]
async fn panics_after_await() -> u32 {
    tokio::task::yield_now().await;
    panic!("boom after an await");
}

#[observe(span = "Panic.Next")]
async fn next_call() -> SpanContext {
    observe_runtime::current()
}

#[observe(span = "Panic.AsyncRoot")]
async fn panic_root() -> (SpanContext, SpanContext) {
    use futures::FutureExt as _;
    let me = observe_runtime::current();
    let caught = std::panic::AssertUnwindSafe(panics_after_await())
        .catch_unwind()
        .await;
    assert!(caught.is_err());
    assert_eq!(
        observe_runtime::current(),
        me,
        "no stale current span after the panic"
    );
    (me, next_call().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_across_an_await_leaves_the_context_consistent() {
    recorded();
    let (root, next) = panic_root().await;
    assert_eq!(next.trace_id, root.trace_id);
    let spans = tokio::task::spawn_blocking(flushed).await.unwrap();
    let panicked = spans
        .values()
        .find(|s| s.name == "Panic.AcrossAwait" && s.trace_id == root.trace_id)
        .expect("the panicking span is exported");
    assert!(panicked.status_error && panicked.parent == root.span_id);
    assert_eq!(
        spans[&next.span_id].parent, root.span_id,
        "the next call has the right parent"
    );
}
