//! Exported spans for every supported function shape: names, kinds, parents,
//! status and attributes, read back from the SDK's in-memory exporter after
//! they went through observe's export path.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use observe_runtime::{observe, SpanContext};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let (exporter, guard) = observe_tests::init_in_memory("spans-test");
        // The guard lives for the whole test binary.
        std::mem::forget(guard);
        exporter
    })
}

/// Every exported span of the trace `root` belongs to, keyed by name.
fn trace_of(root: SpanContext) -> HashMap<String, SpanData> {
    assert!(root.is_valid(), "the call ran outside any span");
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let spans = exporter().get_finished_spans().expect("finished spans");
    spans
        .into_iter()
        .filter(|s| u128::from_be_bytes(s.span_context.trace_id().to_bytes()) == root.trace_id)
        .map(|s| (s.name.to_string(), s))
        .collect()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn is_child(child: &SpanData, parent: &SpanData) -> bool {
    child.parent_span_id == parent.span_context.span_id()
        && child.span_context.trace_id() == parent.span_context.trace_id()
}

#[derive(Debug)]
enum OrderError {
    OutOfStock,
    Declined,
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::OutOfStock => f.write_str("sku A-1 is out of stock"),
            OrderError::Declined => f.write_str("card declined"),
        }
    }
}

impl observe_runtime::ErrorType for OrderError {
    fn error_type(&self) -> &'static str {
        match self {
            OrderError::OutOfStock => "out_of_stock",
            OrderError::Declined => "payment_declined",
        }
    }
}

// --- sync parent and child, fields, Err with ErrorType ----------------------

#[observe(span = "Sync.Root", fields(order.id = id, item_count = items.len()))]
fn sync_root(id: u64, items: &[&str]) -> (SpanContext, Result<(), OrderError>) {
    let child = sync_child(items.is_empty());
    (observe_runtime::current(), child)
}

#[observe(span = "Sync.Child", kind = client)]
fn sync_child(fail: bool) -> Result<(), OrderError> {
    if fail {
        return Err(OrderError::OutOfStock);
    }
    Ok(())
}

#[test]
fn sync_call_tree_with_fields_and_error_status() {
    exporter();
    let (root, child_result) = sync_root(7, &[]);
    assert!(child_result.is_err());
    let spans = trace_of(root);
    let parent = &spans["Sync.Root"];
    let child = &spans["Sync.Child"];
    assert!(is_child(child, parent));
    assert_eq!(parent.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(parent.span_kind, SpanKind::Internal);
    assert_eq!(child.span_kind, SpanKind::Client);
    assert_eq!(attr(parent, "order.id"), Some(&Value::I64(7)));
    assert_eq!(attr(parent, "item_count"), Some(&Value::I64(0)));
    assert_eq!(
        attr(parent, "code.function").map(|v| v.as_str()),
        Some("sync_root".into())
    );
    assert_eq!(
        parent.status,
        Status::Unset,
        "success leaves the status unset"
    );
    assert_eq!(
        child.status,
        Status::Error {
            description: "sku A-1 is out of stock".into()
        }
    );
    assert_eq!(
        attr(child, "error.type").map(|v| v.as_str()),
        Some("out_of_stock".into())
    );
    let exception = child
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("an exception event");
    let event_attr = |k: &str| {
        exception
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert_eq!(
        event_attr("exception.type").as_deref(),
        Some("out_of_stock")
    );
    assert_eq!(
        event_attr("exception.message").as_deref(),
        Some("sku A-1 is out of stock")
    );
    assert!(parent.start_time <= child.start_time && child.end_time <= parent.end_time);
}

// --- Err through aliases ------------------------------------------------------

#[observe(span = "Alias.Io")]
fn io_alias(fail: bool) -> std::io::Result<u8> {
    if fail {
        Err(std::io::Error::other("disk full"))
    } else {
        Ok(1)
    }
}

#[observe(span = "Alias.Anyhow")]
fn anyhow_alias() -> anyhow::Result<u8> {
    let n: u8 = "x".parse()?;
    Ok(n)
}

#[observe(span = "Alias.Root")]
fn alias_root() -> SpanContext {
    let _ = io_alias(true);
    let _ = anyhow_alias();
    observe_runtime::current()
}

#[test]
fn errors_are_recognised_through_result_aliases() {
    exporter();
    let spans = trace_of(alias_root());
    let io = &spans["Alias.Io"];
    assert_eq!(
        io.status,
        Status::Error {
            description: "disk full".into()
        }
    );
    assert_eq!(
        attr(io, "error.type").map(|v| v.as_str()),
        Some("Error".into())
    );
    let anyhow = &spans["Alias.Anyhow"];
    assert!(
        matches!(&anyhow.status, Status::Error { description } if description.contains("invalid digit"))
    );
    assert_eq!(spans["Alias.Root"].status, Status::Unset);
}

// --- async fn, across awaits and a spawned task -------------------------------

#[observe(span = "Async.Root", kind = server)]
async fn async_root() -> SpanContext {
    tokio::task::yield_now().await;
    let me = observe_runtime::current();
    async_child().await.unwrap();
    observe_runtime::spawn(async { async_child().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        observe_runtime::current(),
        me,
        "the current span survives awaits"
    );
    me
}

#[observe(span = "Async.Child")]
async fn async_child() -> Result<u32, OrderError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_spans_keep_their_parent_across_awaits_and_spawn() {
    exporter();
    let root = async_root().await;
    assert_eq!(observe_runtime::current(), SpanContext::NONE);
    let exported = tokio::task::spawn_blocking(move || {
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        exporter().get_finished_spans().unwrap()
    })
    .await
    .unwrap();
    let in_trace: Vec<&SpanData> = exported
        .iter()
        .filter(|s| u128::from_be_bytes(s.span_context.trace_id().to_bytes()) == root.trace_id)
        .collect();
    let parent = in_trace.iter().find(|s| s.name == "Async.Root").unwrap();
    let children: Vec<_> = in_trace
        .iter()
        .filter(|s| s.name == "Async.Child")
        .collect();
    assert_eq!(children.len(), 2, "one awaited, one spawned");
    assert!(children.iter().all(|c| is_child(c, parent)));
    assert_eq!(parent.span_kind, SpanKind::Server);
    assert!(children
        .iter()
        .all(|c| { c.end_time.duration_since(c.start_time).unwrap() >= Duration::from_millis(2) }));
}

// --- methods, generics, impl Future, async-trait ------------------------------

struct Inventory {
    reserved: Vec<String>,
}

impl Inventory {
    #[observe(span = "Inventory.Reserve", fields(sku = sku))]
    fn reserve(&mut self, sku: &str) -> &mut Vec<String> {
        self.reserved.push(sku.to_owned());
        &mut self.reserved
    }

    #[observe(span = "Inventory.Count")]
    fn count(&self) -> usize {
        self.reserved.len()
    }

    #[observe(span = "Inventory.Close")]
    fn close(self) -> usize {
        self.reserved.len()
    }
}

#[observe(span = "Generic.Largest")]
fn largest<T>(items: &[T]) -> Option<&T>
where
    T: Ord,
{
    items.iter().max()
}

#[observe(span = "Future.Returned")]
fn returns_future(n: u32) -> impl std::future::Future<Output = Result<u32, OrderError>> {
    async move {
        tokio::task::yield_now().await;
        if n == 0 {
            Err(OrderError::Declined)
        } else {
            Ok(n)
        }
    }
}

#[async_trait::async_trait]
trait Payment {
    async fn charge(&self, cents: u64) -> Result<u64, OrderError>;
}

struct Card {
    limit: u64,
}

#[async_trait::async_trait]
impl Payment for Card {
    #[observe(span = "Payment.Charge", kind = client, fields(limit = self.limit))]
    async fn charge(&self, cents: u64) -> Result<u64, OrderError> {
        tokio::task::yield_now().await;
        if cents > self.limit {
            Err(OrderError::Declined)
        } else {
            Ok(cents)
        }
    }
}

#[observe(span = "Shapes.Root")]
async fn shapes_root() -> SpanContext {
    let mut inventory = Inventory { reserved: vec![] };
    inventory.reserve("A-1").push("A-2".into());
    assert_eq!(inventory.count(), 2);
    assert_eq!(inventory.close(), 2);
    assert_eq!(largest(&[3, 9, 4]), Some(&9));
    assert_eq!(
        returns_future(0).await.unwrap_err().to_string(),
        "card declined"
    );
    let card: Box<dyn Payment + Send + Sync> = Box::new(Card { limit: 100 });
    assert!(card.charge(500).await.is_err());
    observe_runtime::current()
}

#[tokio::test]
async fn methods_generics_impl_future_and_async_trait() {
    exporter();
    let root = shapes_root().await;
    let spans = tokio::task::spawn_blocking(move || trace_of(root))
        .await
        .unwrap();
    let parent = &spans["Shapes.Root"];
    for name in [
        "Inventory.Reserve",
        "Inventory.Count",
        "Inventory.Close",
        "Generic.Largest",
        "Future.Returned",
        "Payment.Charge",
    ] {
        let span = spans
            .get(name)
            .unwrap_or_else(|| panic!("{name} not exported"));
        assert!(is_child(span, parent), "{name} is a child of Shapes.Root");
    }
    assert_eq!(
        attr(&spans["Inventory.Reserve"], "sku").map(|v| v.as_str()),
        Some("A-1".into())
    );
    let future = &spans["Future.Returned"];
    assert_eq!(
        attr(future, "error.type").map(|v| v.as_str()),
        Some("payment_declined".into())
    );
    let charge = &spans["Payment.Charge"];
    assert_eq!(charge.span_kind, SpanKind::Client);
    assert_eq!(attr(charge, "limit"), Some(&Value::I64(100)));
    assert_eq!(
        attr(charge, "error.type").map(|v| v.as_str()),
        Some("payment_declined".into())
    );
}

// --- panics -------------------------------------------------------------------

#[observe(span = "Panic.Inner")]
fn panics(message: &str) -> u32 {
    panic!("{message}");
}

#[observe(span = "Panic.Outer")]
fn catches() -> (SpanContext, String) {
    let me = observe_runtime::current();
    let caught = std::panic::catch_unwind(|| panics("inventory corrupted")).unwrap_err();
    assert_eq!(
        observe_runtime::current(),
        me,
        "the panicking span is no longer current"
    );
    let after = after_panic();
    assert_eq!(after.trace_id, me.trace_id);
    (
        me,
        caught.downcast_ref::<String>().cloned().unwrap_or_default(),
    )
}

#[observe(span = "Panic.After")]
fn after_panic() -> SpanContext {
    observe_runtime::current()
}

#[test]
fn a_panic_is_recorded_and_unwinds_unchanged() {
    exporter();
    let (root, message) = catches();
    assert_eq!(message, "inventory corrupted", "the payload is the user's");
    let spans = trace_of(root);
    let inner = &spans["Panic.Inner"];
    assert_eq!(
        inner.status,
        Status::Error {
            description: "inventory corrupted".into()
        }
    );
    assert_eq!(
        attr(inner, "error.type").map(|v| v.as_str()),
        Some("panic".into())
    );
    assert!(is_child(inner, &spans["Panic.Outer"]));
    assert!(
        is_child(&spans["Panic.After"], &spans["Panic.Outer"]),
        "right parent after a caught panic"
    );
}

// --- threads ------------------------------------------------------------------

#[observe(span = "Thread.Root")]
fn thread_root() -> SpanContext {
    observe_runtime::spawn_thread(after_panic).join().unwrap();
    observe_runtime::current()
}

#[test]
fn spans_from_a_finished_thread_arrive_with_their_parent() {
    exporter();
    let spans = trace_of(thread_root());
    assert!(is_child(&spans["Panic.After"], &spans["Thread.Root"]));
}

#[observe(span = "Current.Child")]
fn current_child(fail: bool) -> Result<SpanContext, OrderError> {
    let me = observe_runtime::current();
    if fail {
        return Err(OrderError::OutOfStock);
    }
    Ok(me)
}

#[observe(span = "Current.Root")]
fn current_root() -> SpanContext {
    let me = observe_runtime::current();
    let child = current_child(false).expect("succeeds");
    assert_eq!(child.trace_id, me.trace_id);
    assert_ne!(child.span_id, me.span_id);
    assert_eq!(
        observe_runtime::current(),
        me,
        "back to the root after a success"
    );
    assert!(current_child(true).is_err());
    assert_eq!(
        observe_runtime::current(),
        me,
        "back to the root after an `Err`"
    );
    me
}

#[test]
fn a_synchronous_span_puts_back_exactly_the_context_it_replaced() {
    exporter();
    assert_eq!(observe_runtime::current(), SpanContext::NONE);
    let root = current_root();
    assert!(root.is_valid());
    assert!(root.random, "observe's trace ids are random, and say so");
    assert_eq!(
        observe_runtime::current(),
        SpanContext::NONE,
        "no trace after the root"
    );

    // Under a remote parent, the remote flag, the sampling decision, the
    // random flag and the tracestate come back as they were; the child
    // keeps the random flag and the tracestate.
    let remote = SpanContext {
        trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        span_id: 0x00f0_67aa_0ba9_02b7,
        sampled: true,
        random: true,
        remote: true,
        trace_state: observe_runtime::TraceState::parse("rojo=00f067aa0ba902b7").unwrap(),
    };
    {
        let _attached = remote.clone().attach();
        let child = current_child(false).expect("succeeds");
        assert_eq!(child.trace_id, remote.trace_id);
        assert!(!child.remote && child.sampled && child.random);
        assert_eq!(child.trace_state, remote.trace_state);
        assert_eq!(observe_runtime::current(), remote);
        // Exported with the trace's tracestate and both flags.
        let exported = &trace_of(child.clone())["Current.Child"];
        assert_eq!(
            exported.span_context.trace_state().header(),
            "rojo=00f067aa0ba902b7"
        );
        assert_eq!(exported.span_context.trace_flags().to_u8(), 0x03);
        assert!(exported.parent_span_is_remote);
    }
    let unsampled = SpanContext {
        sampled: false,
        random: false,
        trace_state: observe_runtime::TraceState::NONE,
        ..remote
    };
    {
        let _attached = unsampled.clone().attach();
        let child = current_child(false).expect("succeeds");
        assert!(!child.sampled && !child.random);
        assert!(child.trace_state.is_empty());
        assert_eq!(observe_runtime::current(), unsampled);
    }
    assert_eq!(observe_runtime::current(), SpanContext::NONE);
}
