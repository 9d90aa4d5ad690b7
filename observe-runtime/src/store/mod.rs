//! The in-process trace store behind the debug pages (`/debug/traces`):
//! ended spans by name and latency bucket, error samples, and the log lines
//! of each kept trace, within a byte cap (`traces`); beside them, the calls
//! of each name running now ([`summary`]).
//!
//! Fed off the call path only: the export task hands it each batch of
//! ended span records ([`record_spans`]) before converting them, and the
//! JSON log layer offers it the lines of sampled traces through a bounded
//! queue that never makes the writer wait ([`offer_log`]; at most 4 096
//! lines and the cap's worth of bytes); the store takes
//! them in when the next batch comes or a page is read. Until `init` turns
//! it on ([`start`]) each entry point is one relaxed load.
//!
//! Uses `core` and `hot`; `export` and `signals` feed it, `edges` reads it.

pub(crate) mod traces;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::UNIX_EPOCH;

use opentelemetry::Value;

use crate::core::health::health;
use crate::hot::callsite::OutcomeKind;
use crate::hot::span::SpanRecord;
use crate::hot::{clock, limits, running};
use traces::{Code, Event, Evicted, LogLine, NameSummary, Outcome, Span, Store};

/// The default byte cap (`OBSERVE_DEBUG_STORE_BYTES`).
pub(crate) const DEFAULT_CAP_BYTES: usize = 16 << 20;

/// Log lines waiting for the store before new ones are let go.
const LOG_QUEUE: usize = 4096;

/// The bytes of the log lines waiting, at most the store's cap: however long
/// the lines, what waits and what is kept stay within twice the cap.
static LOG_QUEUE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LOG_QUEUE_CAP_BYTES: AtomicUsize = AtomicUsize::new(0);

static ON: AtomicBool = AtomicBool::new(false);
static STORE: Mutex<Option<Store>> = Mutex::new(None);
static LOG_SENDER: RwLock<Option<SyncSender<LogLine>>> = RwLock::new(None);
static LOG_RECEIVER: Mutex<Option<Receiver<LogLine>>> = Mutex::new(None);

/// Turns the store on, empty, holding at most `cap_bytes`.
pub(crate) fn start(cap_bytes: usize) {
    let (sender, receiver) = mpsc::sync_channel(LOG_QUEUE);
    LOG_QUEUE_BYTES.store(0, Ordering::Relaxed);
    LOG_QUEUE_CAP_BYTES.store(cap_bytes, Ordering::Relaxed);
    *LOG_RECEIVER.lock().unwrap_or_else(|e| e.into_inner()) = Some(receiver);
    *LOG_SENDER.write().unwrap_or_else(|e| e.into_inner()) = Some(sender);
    *STORE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Store::new(cap_bytes));
    ON.store(true, Ordering::Release);
}

/// Turns the store off and lets go of what it holds.
pub(crate) fn stop() {
    ON.store(false, Ordering::Release);
    *LOG_SENDER.write().unwrap_or_else(|e| e.into_inner()) = None;
    *LOG_RECEIVER.lock().unwrap_or_else(|e| e.into_inner()) = None;
    *STORE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Whether the store takes spans and log lines.
#[inline]
pub(crate) fn is_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Offers a log line written in a sampled span. Never waits: a full queue
/// lets the line go and counts it.
pub(crate) fn offer_log(trace_id: u128, span_id: u64, level: &'static str, line: &str) {
    let sender = LOG_SENDER.read().unwrap_or_else(|e| e.into_inner());
    let Some(sender) = sender.as_ref() else {
        return;
    };
    let line = line.trim_end();
    let queued = LOG_QUEUE_BYTES.fetch_add(line.len(), Ordering::Relaxed);
    if queued + line.len() > LOG_QUEUE_CAP_BYTES.load(Ordering::Relaxed) {
        LOG_QUEUE_BYTES.fetch_sub(line.len(), Ordering::Relaxed);
        health()
            .trace_store_evicted
            .with_label_values(&["log_line", "queue_full"])
            .inc();
        return;
    }
    let unix_nanos = unix_nanos(std::time::SystemTime::now());
    let line = LogLine {
        trace_id,
        span_id,
        unix_nanos,
        level,
        line: line.to_owned(),
    };
    match sender.try_send(line) {
        Ok(()) => {}
        Err(TrySendError::Full(line)) => {
            LOG_QUEUE_BYTES.fetch_sub(line.line.len(), Ordering::Relaxed);
            health()
                .trace_store_evicted
                .with_label_values(&["log_line", "queue_full"])
                .inc();
        }
        Err(TrySendError::Disconnected(line)) => {
            LOG_QUEUE_BYTES.fetch_sub(line.line.len(), Ordering::Relaxed);
        }
    }
}

/// Adds a batch of ended span records, on the export task.
pub(crate) fn record_spans(records: &[SpanRecord]) {
    if !is_on() {
        return;
    }
    let spans: Vec<Span> = records.iter().map(span_of).collect();
    with_store(|store| {
        for span in spans {
            store.add_span(span);
        }
    });
}

/// Every span name the store holds and every one with calls running now,
/// by name: the ended spans' counts, and the calls running
/// (`hot/running.rs`, counted on the call path for sampled and unsampled
/// calls alike); with the store's size and cap. `None` when the store is
/// off.
pub(crate) fn summary() -> Option<(Vec<NameSummary>, usize, usize)> {
    let mut running: BTreeMap<&'static str, (&'static str, u64)> = BTreeMap::new();
    for (callsite, calls) in running::in_flight() {
        let entry = running
            .entry(callsite.name)
            .or_insert((callsite.kind.as_str(), 0));
        entry.1 += calls;
    }
    with_store(|store| {
        let mut names = store.summary();
        for entry in &mut names {
            if let Some((_, calls)) = running.remove(entry.name) {
                entry.running = calls;
            }
        }
        names.extend(
            running
                .into_iter()
                .filter(|(_, (_, calls))| *calls > 0)
                .map(|(name, (kind, calls))| NameSummary {
                    name,
                    kind,
                    counts: [0; traces::BUCKETS],
                    errors: 0,
                    kept: [0; traces::BUCKETS],
                    kept_errors: 0,
                    running: calls,
                }),
        );
        names.sort_by_key(|entry| entry.name);
        (names, store.bytes(), store.cap())
    })
}

/// Runs `f` on the store, once it has taken in the log lines waiting;
/// `None` when the store is off.
pub(crate) fn with_store<T>(f: impl FnOnce(&mut Store) -> T) -> Option<T> {
    let mut store = lock();
    let store = store.as_mut()?;
    let before = store.evicted();
    if let Some(receiver) = LOG_RECEIVER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        while let Ok(line) = receiver.try_recv() {
            LOG_QUEUE_BYTES.fetch_sub(line.line.len(), Ordering::Relaxed);
            store.add_log(line);
        }
    }
    let out = f(store);
    count_evictions(before, store.evicted());
    Some(out)
}

fn lock() -> MutexGuard<'static, Option<Store>> {
    STORE.lock().unwrap_or_else(|e| e.into_inner())
}

fn count_evictions(before: Evicted, after: Evicted) {
    let evicted = &health().trace_store_evicted;
    for (item, reason, n) in [
        ("span", "byte_cap", after.spans - before.spans),
        ("log_line", "byte_cap", after.log_lines - before.log_lines),
        (
            "log_line",
            "trace_limit",
            after.trace_limit - before.trace_limit,
        ),
    ] {
        if n > 0 {
            evicted.with_label_values(&[item, reason]).inc_by(n);
        }
    }
}

fn unix_nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn text(value: &Value) -> Cow<'static, str> {
    Cow::Owned(value.as_str().into_owned())
}

/// A record as the store keeps it: what it is exported with, the
/// callsite's parts borrowed.
fn span_of(record: &SpanRecord) -> Span {
    let callsite = record.callsite();
    let start = unix_nanos(clock::to_system_time(record.start));
    let duration_nanos = clock::delta_nanos(record.start, record.end);
    let outcome = match record.outcome() {
        OutcomeKind::Ok => Outcome::Ok,
        OutcomeKind::Error => Outcome::Error,
        OutcomeKind::Panic => Outcome::Panic,
        OutcomeKind::Cancelled => Outcome::Cancelled,
    };
    let mut span = Span {
        trace_id: record.trace_id,
        span_id: record.span_id,
        parent_span_id: record.parent_span_id,
        parent_remote: record.parent_remote(),
        name: callsite.name,
        kind: callsite.kind.as_str(),
        start_unix_nanos: start,
        duration_nanos,
        outcome,
        status_message: None,
        error_type: "",
        attributes: Vec::new(),
        code: (!callsite.function.is_empty()).then_some(Code {
            function: callsite.function,
            namespace: callsite.namespace,
            file: callsite.file,
            line: callsite.line,
        }),
        truncated: false,
        events: Vec::new(),
        links: Vec::new(),
    };
    if let Some(extra) = &record.extra {
        span.attributes = extra
            .attributes
            .iter()
            .map(|kv| (Cow::Owned(kv.key.as_str().to_owned()), text(&kv.value)))
            .collect();
        span.status_message = extra.message.as_deref().map(str::to_owned);
        span.links = extra
            .links
            .iter()
            .map(|c| (c.trace_id, c.span_id))
            .collect();
        span.error_type = extra.error_type;
        span.truncated = extra.truncated;
    }
    if let (true, Some(message)) = (outcome.is_error(), &span.status_message) {
        if limits::event_count() > 0 {
            let exception_type = if outcome == Outcome::Panic {
                "panic"
            } else {
                span.error_type
            };
            span.events.push(Event {
                name: "exception",
                unix_nanos: start + duration_nanos,
                attributes: vec![
                    ("exception.type".into(), exception_type.into()),
                    ("exception.message".into(), message.clone().into()),
                ],
            });
        }
    }
    span
}

#[cfg(test)]
mod tests;
