use super::traces::{
    bucket_of, LogLine, Outcome, Samples, Span, Store, LOG_LINES_PER_TRACE, SAMPLES_PER_BUCKET,
};

fn span(trace_id: u128, span_id: u64, parent: u64, name: &'static str, micros: u64) -> Span {
    Span {
        trace_id,
        span_id,
        parent_span_id: parent,
        parent_remote: false,
        name,
        kind: "internal",
        start_unix_nanos: 1_000_000 * span_id,
        duration_nanos: micros * 1_000,
        outcome: Outcome::Ok,
        status_message: None,
        error_type: "",
        attributes: vec![("order.id".into(), format!("o-{span_id}").into())],
        code: None,
        truncated: false,
        events: Vec::new(),
        links: Vec::new(),
    }
}

fn log(trace_id: u128, span_id: u64, at: u64, message: &str) -> LogLine {
    LogLine {
        trace_id,
        span_id,
        unix_nanos: at,
        level: "INFO",
        line: format!("{{\"message\":\"{message}\"}}"),
    }
}

const MIB: usize = 1 << 20;

#[test]
fn buckets_follow_tracez() {
    assert_eq!(bucket_of(0), 0);
    assert_eq!(bucket_of(9_999), 0);
    assert_eq!(bucket_of(10_000), 1);
    assert_eq!(bucket_of(999_999), 2);
    assert_eq!(bucket_of(1_000_000), 3);
    assert_eq!(bucket_of(150_000_000), 5);
    assert_eq!(bucket_of(10_000_000_000), 7);
    assert_eq!(bucket_of(u64::MAX), 7);
}

#[test]
fn spans_are_counted_by_bucket_and_errors_kept_apart() {
    let mut store = Store::new(MIB);
    store.add_span(span(1, 1, 0, "Order.Submit", 5));
    store.add_span(span(2, 2, 0, "Order.Submit", 50_000));
    let mut failed = span(3, 3, 0, "Order.Submit", 50_000);
    failed.outcome = Outcome::Error;
    failed.status_message = Some("card declined".into());
    store.add_span(failed);
    let summary = store.summary();
    assert_eq!(summary.len(), 1);
    let submit = &summary[0];
    assert_eq!(submit.name, "Order.Submit");
    assert_eq!(submit.counts, [1, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(submit.errors, 1);
    assert_eq!(submit.kept_errors, 1);
    let errors = store.samples("Order.Submit", Samples::Errors);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].status_message.as_deref(), Some("card declined"));
    let slow = store.samples("Order.Submit", Samples::Latency(4));
    assert_eq!(slow.iter().map(|s| s.span_id).collect::<Vec<_>>(), [2]);
}

#[test]
fn each_bucket_keeps_its_newest_samples_and_their_traces_only() {
    let mut store = Store::new(64 * MIB);
    let n = SAMPLES_PER_BUCKET as u64 + 5;
    for i in 1..=n {
        store.add_span(span(u128::from(i), i, 0, "Cart.Add", 2));
    }
    // A rare slow one stays, however many fast ones come after it.
    store.add_span(span(1000, 1000, 0, "Cart.Add", 2_000_000));
    for i in n + 1..=2 * n {
        store.add_span(span(u128::from(i), i, 0, "Cart.Add", 2));
    }
    let fast = store.samples("Cart.Add", Samples::Latency(0));
    assert_eq!(fast.len(), SAMPLES_PER_BUCKET);
    assert_eq!(fast[0].span_id, 2 * n, "newest first");
    assert_eq!(store.summary()[0].counts[0], 2 * n);
    // Traces whose samples rotated out are gone; the slow one is kept.
    assert!(store.trace(1).is_none());
    assert!(store.trace(u128::from(2 * n)).is_some());
    assert!(store.trace(1000).is_some());
    assert_eq!(store.evicted().spans, 0, "rotation is not eviction");
}

#[test]
fn the_byte_cap_evicts_the_oldest_traces_and_counts_them() {
    let cap = 16 * 1024;
    let mut store = Store::new(cap);
    for i in 1..=200_u64 {
        // A name each, so the rings keep everything and only the cap bounds it.
        let name: &'static str = Box::leak(format!("Op{i}").into_boxed_str());
        let mut s = span(u128::from(i), i, 0, name, 2);
        s.attributes
            .push(("payload".into(), "x".repeat(200).into()));
        store.add_span(s);
        store.add_log(log(u128::from(i), i, i, "working"));
        assert!(store.bytes() <= cap, "{} bytes over the cap", store.bytes());
    }
    let evicted = store.evicted();
    assert!(evicted.spans > 100, "{evicted:?}");
    assert_eq!(evicted.spans, evicted.log_lines);
    assert!(store.trace(1).is_none(), "the oldest went first");
    let newest = store.trace(200).expect("the newest is kept");
    assert_eq!(newest.spans.len(), 1);
    assert_eq!(newest.logs.len(), 1);
    // Samples of evicted traces are not offered.
    assert!(store.samples("Op1", Samples::Latency(0)).is_empty());
    assert_eq!(store.summary()[0].counts[0], 1, "counts stay");
}

#[test]
fn a_trace_is_assembled_whatever_order_its_spans_arrive_in() {
    let mut store = Store::new(MIB);
    // Children end (and arrive) before their parent, a grandchild first.
    store.add_span(span(7, 4, 3, "Stock.Check", 100));
    store.add_log(log(7, 4, 40, "checking stock"));
    store.add_span(span(7, 3, 1, "Cart.Load", 300));
    store.add_span(span(7, 2, 1, "Price.Quote", 200));
    store.add_log(log(7, 1, 10, "submitting"));
    store.add_span(span(7, 1, 0, "Order.Submit", 1_000));
    store.add_log(log(7, 2, 20, "quoting"));
    let trace = store.trace(7).unwrap();
    // By start time, so the root comes first.
    let ids: Vec<(u64, u64)> = trace
        .spans
        .iter()
        .map(|s| (s.span_id, s.parent_span_id))
        .collect();
    assert_eq!(ids, [(1, 0), (2, 1), (3, 1), (4, 3)]);
    let logs: Vec<(u64, &str)> = trace
        .logs
        .iter()
        .map(|l| (l.span_id, l.line.as_str()))
        .collect();
    assert_eq!(
        logs,
        [
            (1, "{\"message\":\"submitting\"}"),
            (2, "{\"message\":\"quoting\"}"),
            (4, "{\"message\":\"checking stock\"}"),
        ]
    );
}

#[test]
fn log_lines_are_bounded_per_trace() {
    let mut store = Store::new(64 * MIB);
    store.add_span(span(9, 1, 0, "Batch.Run", 10));
    for i in 0..LOG_LINES_PER_TRACE as u64 + 10 {
        store.add_log(log(9, 1, i, "row"));
    }
    let trace = store.trace(9).unwrap();
    assert_eq!(trace.logs.len(), LOG_LINES_PER_TRACE);
    assert_eq!(trace.logs_dropped, 10);
    assert_eq!(store.evicted().trace_limit, 10);
}

#[test]
fn lines_of_a_trace_arrive_before_its_spans() {
    let mut store = Store::new(MIB);
    store.add_log(log(5, 2, 1, "early"));
    assert!(store.samples("Late.Op", Samples::Latency(0)).is_empty());
    store.add_span(span(5, 2, 0, "Late.Op", 1));
    let trace = store.trace(5).unwrap();
    assert_eq!(trace.logs.len(), 1);
    assert_eq!(trace.logs[0].span_id, 2);
}
