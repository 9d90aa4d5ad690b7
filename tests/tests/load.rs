//! Many tokio tasks on a multi-thread runtime, spans moving between threads
//! across awaits: every exported span has the right parent, and whatever
//! overload dropped is counted.

use std::collections::HashMap;

use observe_runtime::{observe, SpanContext};
use observe_tests::{CompactExporter, CompactSpan};

fn recorded() -> &'static CompactExporter {
    CompactExporter::installed("load-test")
}

fn flushed() -> HashMap<u64, CompactSpan> {
    recorded().flushed()
}

// --- many tasks, spans moving between threads -------------------------------------

const TASKS: usize = 1_000;
const CHILDREN: usize = 199;

#[observe(span = "Load.Child")]
async fn load_child(i: usize) -> usize {
    if i % 3 == 0 {
        tokio::task::yield_now().await;
    }
    i
}

#[observe(span = "Load.Root")]
async fn load_root() -> SpanContext {
    let me = observe_runtime::current();
    for i in 0..CHILDREN {
        load_child(i).await;
        tokio::task::yield_now().await;
        assert_eq!(observe_runtime::current(), me);
    }
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_keeps_its_parent_under_concurrency() {
    recorded();
    let handles: Vec<_> = (0..TASKS).map(|_| tokio::spawn(load_root())).collect();
    let mut roots = HashMap::new();
    for handle in handles {
        let root = handle.await.unwrap();
        roots.insert(root.span_id, root.trace_id);
    }
    assert_eq!(roots.len(), TASKS);
    let spans = tokio::task::spawn_blocking(flushed).await.unwrap();
    let mut children = 0;
    for (span_id, span) in &spans {
        match span.name.as_str() {
            "Load.Child" => {
                children += 1;
                let parent_trace = roots.get(&span.parent).unwrap_or_else(|| {
                    panic!("Load.Child {span_id:016x} has a parent that is no Load.Root")
                });
                assert_eq!(*parent_trace, span.trace_id);
            }
            "Load.Root" => assert!(roots.contains_key(span_id) && span.parent == 0),
            _ => {}
        }
    }
    // Under overload spans may be dropped, but never silently.
    let exported = children + spans.values().filter(|s| s.name == "Load.Root").count();
    let dropped = dropped_total();
    assert!(
        exported as u64 + dropped >= (TASKS * (CHILDREN + 1)) as u64,
        "{exported} exported + {dropped} counted as dropped < {} ended",
        TASKS * (CHILDREN + 1)
    );
    assert!(children > 0);
}

fn dropped_total() -> u64 {
    observe_runtime::metrics::render()
        .lines()
        .filter(|l| l.starts_with("observe_spans_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
