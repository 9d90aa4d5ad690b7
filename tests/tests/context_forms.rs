//! The trace follows the code users write: every way a service hands work to
//! another task or thread, with observe's helpers, with `tracing`'s
//! `Instrument`, and with `#[tracing::instrument]` around and inside
//! `#[observe]`. Each test checks the exported spans: the child's trace id and
//! parent are the observed parent's. One form that does not carry the parent,
//! a bare `tokio::spawn`, is shown too, since README.md warns about it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use observe_runtime::{observe, Config, LogOutput};
use observe_tests::Capture;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tracing::Instrument as _;

/// One observe per test process, shared by the tests: each looks only at
/// the spans of its own names.
fn setup() -> &'static (InMemorySpanExporter, Capture) {
    static SETUP: OnceLock<(InMemorySpanExporter, Capture)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let capture = Capture::default();
        let guard = observe_runtime::init(
            Config::default()
                .service_name("context-forms")
                .logs(LogOutput::Writer(Arc::new(Mutex::new(capture.clone()))))
                .exporter(exporter.clone()),
        )
        .expect("init");
        // Kept for the whole process; `force_flush` exports.
        std::mem::forget(guard);
        (exporter, capture)
    })
}

/// The one exported span named `name`, after a flush.
fn span(name: &str) -> SpanData {
    let (exporter, _) = setup();
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let spans = exporter.get_finished_spans().expect("finished spans");
    let mut named: Vec<SpanData> = spans.into_iter().filter(|s| s.name == name).collect();
    assert_eq!(named.len(), 1, "one span named {name}: {named:#?}");
    named.remove(0)
}

/// `child`'s trace and parent are `parent`'s.
fn assert_child_of(child: &str, parent: &str) {
    let (child, parent) = (span(child), span(parent));
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id(),
        "{} is in {}'s trace",
        child.name,
        parent.name
    );
    assert_eq!(
        child.parent_span_id,
        parent.span_context.span_id(),
        "{}'s parent is {}",
        child.name,
        parent.name
    );
}

macro_rules! child {
    ($fn:ident, $name:literal) => {
        #[observe(span = $name)]
        async fn $fn() {
            tokio::task::yield_now().await;
            tracing::info!(concat!("inside ", $name));
        }
    };
}

child!(observe_spawn_child, "Forms.ObserveSpawn.Child");
#[observe(span = "Forms.ObserveSpawn")]
async fn observe_spawn() {
    observe_runtime::spawn(observe_spawn_child()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_runtime_spawn_keeps_the_parent() {
    setup();
    observe_spawn().await;
    assert_child_of("Forms.ObserveSpawn.Child", "Forms.ObserveSpawn");
}

child!(with_current_context_child, "Forms.WithCurrentContext.Child");
#[observe(span = "Forms.WithCurrentContext")]
async fn with_current_context() {
    // Imported here only: with `tracing::Instrument` in scope too, the
    // deprecated `in_current_span()` is ambiguous, a compile error.
    use observe_runtime::FutureExt as _;
    tokio::spawn(with_current_context_child().with_current_context())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_with_current_context_keeps_the_parent() {
    setup();
    with_current_context().await;
    assert_child_of("Forms.WithCurrentContext.Child", "Forms.WithCurrentContext");
}

child!(instrument_child, "Forms.TracingInstrument.Child");
#[observe(span = "Forms.TracingInstrument")]
async fn tracing_instrument() {
    // tracing's `Instrument`, with a span created inside the observed call.
    tokio::spawn(instrument_child().instrument(tracing::info_span!("task")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_with_tracing_instrument_keeps_the_parent() {
    setup();
    tracing_instrument().await;
    assert_child_of("Forms.TracingInstrument.Child", "Forms.TracingInstrument");
}

child!(in_current_span_child, "Forms.TracingInCurrentSpan.Child");
#[observe(span = "Forms.TracingInCurrentSpan")]
async fn tracing_in_current_span() {
    // tracing's `in_current_span()`, under a `tracing` span of the handler's.
    async {
        tokio::spawn(in_current_span_child().in_current_span())
            .await
            .unwrap();
    }
    .instrument(tracing::info_span!("handler"))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_with_tracings_in_current_span_keeps_the_parent() {
    setup();
    tracing_in_current_span().await;
    assert_child_of(
        "Forms.TracingInCurrentSpan.Child",
        "Forms.TracingInCurrentSpan",
    );
}

/// `#[tracing::instrument]` around `#[observe]`, awaited in the parent and
/// spawned with observe's helper. (An `async fn`'s `tracing` span is
/// created at its first poll, like the observed span, so a bare
/// `tokio::spawn` of it has no context to carry.)
#[tracing::instrument]
#[observe(span = "Forms.InstrumentAround.Awaited")]
async fn instrument_around_awaited() {
    tokio::task::yield_now().await;
    tracing::info!("inside Forms.InstrumentAround.Awaited");
}

#[tracing::instrument]
#[observe(span = "Forms.InstrumentAround.Spawned")]
async fn instrument_around_spawned() {
    tokio::task::yield_now().await;
}

#[observe(span = "Forms.InstrumentAround")]
async fn instrument_around() {
    instrument_around_awaited().await;
    observe_runtime::spawn(instrument_around_spawned())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_instrument_around_observe_keeps_the_parent() {
    setup();
    instrument_around().await;
    assert_child_of("Forms.InstrumentAround.Awaited", "Forms.InstrumentAround");
    assert_child_of("Forms.InstrumentAround.Spawned", "Forms.InstrumentAround");
}

/// `#[tracing::instrument]` inside `#[observe]`: the observed span is the
/// parent of what the body does, and its log lines carry its ids.
#[observe(span = "Forms.InstrumentInside")]
#[tracing::instrument]
async fn instrument_inside() {
    tracing::info!("inside Forms.InstrumentInside");
    observe_spawn_inside_child().await;
}
child!(observe_spawn_inside_child, "Forms.InstrumentInside.Child");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_instrument_inside_observe_keeps_the_span() {
    setup();
    instrument_inside().await;
    assert_child_of("Forms.InstrumentInside.Child", "Forms.InstrumentInside");
    let parent = span("Forms.InstrumentInside");
    let (_, capture) = setup();
    let line = capture
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "inside Forms.InstrumentInside")
        .expect("the line inside");
    assert_eq!(line["span_id"], parent.span_context.span_id().to_string());
    assert_eq!(line["trace_id"], parent.span_context.trace_id().to_string());
}

#[observe(span = "Forms.SpawnBlocking.Child")]
fn spawn_blocking_child() {}

#[observe(span = "Forms.SpawnBlocking")]
async fn spawn_blocking() {
    observe_runtime::spawn_blocking(spawn_blocking_child)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_runtime_spawn_blocking_keeps_the_parent() {
    setup();
    spawn_blocking().await;
    assert_child_of("Forms.SpawnBlocking.Child", "Forms.SpawnBlocking");
}

#[observe(span = "Forms.Thread.Child")]
fn thread_child() {}

#[observe(span = "Forms.Thread")]
fn thread() {
    observe_runtime::spawn_thread(thread_child).join().unwrap();
}

#[test]
fn observe_runtime_spawn_thread_keeps_the_parent() {
    setup();
    thread();
    assert_child_of("Forms.Thread.Child", "Forms.Thread");
}

child!(bare_spawn_child, "Forms.BareSpawn.Child");
#[observe(span = "Forms.BareSpawn")]
async fn bare_spawn() {
    tokio::spawn(bare_spawn_child()).await.unwrap();
}

/// What README.md warns about: a bare `tokio::spawn` of an observed future
/// starts a new trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_tokio_spawn_starts_a_new_trace() {
    setup();
    bare_spawn().await;
    let (child, parent) = (span("Forms.BareSpawn.Child"), span("Forms.BareSpawn"));
    assert_ne!(
        child.span_context.trace_id(),
        parent.span_context.trace_id()
    );
    assert_eq!(child.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}
