//! From ended spans to the exporter.
//!
//! Each thread owns a bounded single-producer ring of ended spans. Pushing is
//! a slot write and one release store; a full ring drops the span and counts
//! it, so an observed call never waits on export. The export task drains every
//! ring, converts records to OpenTelemetry `SpanData` and hands batches to the
//! configured `SpanExporter`. A ring outlives its thread until drained, so
//! spans from short-lived threads still arrive.

use std::borrow::Cow;
use std::cell::{RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use once_cell::sync::Lazy;
use opentelemetry::trace::{
    Event, SpanContext as OtelSpanContext, SpanId, SpanKind as OtelKind, Status, TraceFlags,
    TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::clock;
use crate::span::{OutcomeKind, SpanKind, SpanRecord};

/// A thread's first ring holds this many ended spans; a full ring is replaced
/// by one twice its size, up to [`RING_MAX`], so a burst is absorbed even when
/// the drain thread gets no CPU for a while, and a quiet thread stays small.
const RING_INITIAL: usize = 256;
/// Ended spans one thread may hold before the drain thread collects them; past
/// it spans are dropped and counted.
pub(crate) const RING_MAX: usize = 16_384;

/// The drain thread; a producer unparks it when its ring reaches half.
static DRAINER: Mutex<Option<std::thread::Thread>> = Mutex::new(None);

pub(crate) fn set_drainer(thread: std::thread::Thread) {
    *DRAINER.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
}

#[cold]
fn wake_drainer() {
    if let Some(thread) = DRAINER.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        thread.unpark();
    }
}

#[repr(align(128))]
struct Padded<T>(T);

struct Ring {
    slots: Box<[UnsafeCell<MaybeUninit<SpanRecord>>]>,
    /// Next slot the consumer reads; written by the consumer only.
    head: Padded<AtomicUsize>,
    /// Next slot the producer writes; written by the producer only.
    tail: Padded<AtomicUsize>,
    /// Spans dropped because the ring was full; written by the producer only.
    dropped: Padded<AtomicU64>,
    /// Serialises consumers (the export task and `force_flush`).
    consumer: Mutex<()>,
}

// SAFETY: a slot is written only by the producer while it is outside
// `head..tail`, and read only by the consumer (under `consumer`) while it is
// inside; the release store of `tail` / `head` publishes each hand-over.
unsafe impl Send for Ring {}
unsafe impl Sync for Ring {}

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring {
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            dropped: Padded(AtomicU64::new(0)),
            consumer: Mutex::new(()),
        }
    }

    /// Producer side; called only by the owning thread. Hands the record
    /// back when the ring is full.
    #[inline]
    #[allow(clippy::result_large_err)] // handing the record back by value keeps the hot path free of allocation
    fn push(&self, record: SpanRecord) -> Result<(), SpanRecord> {
        let tail = self.tail.0.load(Ordering::Relaxed);
        let head = self.head.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) == self.slots.len() {
            return Err(record);
        }
        let slot = &self.slots[tail % self.slots.len()];
        // SAFETY: the slot is outside `head..tail`, so the consumer does not
        // touch it until the store below publishes it.
        unsafe { (*slot.get()).write(record) };
        self.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        if tail.wrapping_sub(head) == self.slots.len() / 2 {
            // Once per crossing, not per call.
            wake_drainer();
        }
        Ok(())
    }

    /// Producer side: counts a span dropped because every ring was full.
    #[cold]
    fn count_drop(&self) {
        let dropped = &self.dropped.0;
        dropped.store(dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Consumer side: moves every published record into `out`.
    fn drain_into(&self, out: &mut Vec<SpanRecord>) {
        let _consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Acquire);
        let mut at = head;
        while at != tail {
            let slot = &self.slots[at % self.slots.len()];
            // SAFETY: the slot is inside `head..tail`: initialised by the
            // producer and not yet read; advancing `head` hands it back.
            out.push(unsafe { (*slot.get()).assume_init_read() });
            at = at.wrapping_add(1);
        }
        self.head.0.store(tail, Ordering::Release);
    }

    fn len(&self) -> usize {
        let tail = self.tail.0.load(Ordering::Acquire);
        tail.wrapping_sub(self.head.0.load(Ordering::Acquire))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let mut rest = Vec::new();
        self.drain_into(&mut rest);
    }
}

/// A ring that may hold spans, with how many of its drops were already added
/// to the `observe_spans_dropped_total` counter.
type Registered = (Arc<Ring>, u64);

static RINGS: Lazy<Mutex<Vec<Registered>>> = Lazy::new(Default::default);

struct LocalRing(Arc<Ring>);

thread_local! {
    static LOCAL: RefCell<Option<LocalRing>> = const { RefCell::new(None) };
}

fn register(capacity: usize) -> LocalRing {
    let ring = Arc::new(Ring::new(capacity));
    RINGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((Arc::clone(&ring), 0));
    LocalRing(ring)
}

/// Hands an ended, sampled span to the export path. Never blocks.
#[inline]
pub(crate) fn submit(record: SpanRecord) {
    let _ = LOCAL.try_with(|local| {
        let mut local = local.borrow_mut();
        let ring = local.get_or_insert_with(|| register(RING_INITIAL));
        if let Err(record) = ring.0.push(record) {
            grow_or_drop(ring, record);
        }
    });
}

#[cold]
fn grow_or_drop(ring: &mut LocalRing, record: SpanRecord) {
    let capacity = ring.0.slots.len();
    if capacity >= RING_MAX {
        ring.0.count_drop();
        return;
    }
    // The old ring stays registered until the drain thread has emptied it.
    *ring = register(capacity * 2);
    wake_drainer();
    let _ = ring.0.push(record);
}

/// Moves every ended span out of every ring into `out`, keeping `out` within
/// `cap` (the excess is dropped and counted as `queue_full`); forgets rings
/// whose thread has exited once they are empty. Returns how many were moved.
pub(crate) fn drain_all(out: &mut VecDeque<SpanRecord>, cap: usize) -> usize {
    let mut rings = RINGS.lock().unwrap_or_else(|e| e.into_inner());
    let dropped = crate::metrics::health()
        .spans_dropped
        .with_label_values(&["queue_full"]);
    let before = out.len();
    let mut scratch = Vec::new();
    rings.retain_mut(|(ring, counted)| {
        ring.drain_into(&mut scratch);
        let total = ring.dropped.0.load(Ordering::Relaxed);
        dropped.inc_by(total - *counted);
        *counted = total;
        // The thread-local holds the other reference while its thread lives.
        Arc::strong_count(ring) > 1 || ring.len() > 0
    });
    let room = cap.saturating_sub(out.len());
    if scratch.len() > room {
        dropped.inc_by((scratch.len() - room) as u64);
        scratch.truncate(room);
    }
    out.extend(scratch);
    out.len() - before
}

/// Ended spans still in the rings.
pub(crate) fn ring_depth() -> usize {
    RINGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(ring, _)| ring.len())
        .sum()
}

fn otel_kind(kind: SpanKind) -> OtelKind {
    match kind {
        SpanKind::Internal => OtelKind::Internal,
        SpanKind::Server => OtelKind::Server,
        SpanKind::Client => OtelKind::Client,
        SpanKind::Producer => OtelKind::Producer,
        SpanKind::Consumer => OtelKind::Consumer,
    }
}

static SCOPE: Lazy<InstrumentationScope> = Lazy::new(|| {
    InstrumentationScope::builder("observe")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
});

/// The OpenTelemetry form of a record.
pub(crate) fn to_span_data(record: SpanRecord) -> SpanData {
    let SpanRecord {
        callsite,
        context,
        parent,
        start,
        end,
        outcome,
        error_type,
        message,
        mut attributes,
    } = record;
    let end_time = clock::to_system_time(end);
    attributes.reserve(5);
    attributes.push(KeyValue::new("code.function", callsite.function));
    attributes.push(KeyValue::new("code.namespace", callsite.namespace));
    attributes.push(KeyValue::new("code.filepath", callsite.file));
    attributes.push(KeyValue::new("code.lineno", i64::from(callsite.line)));
    let mut events = SpanEvents::default();
    let status = match outcome {
        OutcomeKind::Ok => Status::Unset,
        OutcomeKind::Cancelled => {
            attributes.push(KeyValue::new("observe.outcome", "cancelled"));
            Status::Unset
        }
        OutcomeKind::Error | OutcomeKind::Panic => {
            let message: Cow<'static, str> =
                message.map_or(Cow::Borrowed(""), |m| Cow::Owned(m.into_string()));
            attributes.push(KeyValue::new("error.type", error_type));
            let exception_type = if outcome == OutcomeKind::Panic {
                "panic"
            } else {
                error_type
            };
            events.events.push(Event::new(
                "exception",
                end_time,
                vec![
                    KeyValue::new("exception.type", exception_type),
                    KeyValue::new("exception.message", message.clone()),
                ],
                0,
            ));
            Status::Error {
                description: message,
            }
        }
    };
    let flags = if context.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanData {
        span_context: OtelSpanContext::new(
            TraceId::from(context.trace_id),
            SpanId::from(context.span_id),
            flags,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::from(parent.span_id),
        parent_span_is_remote: parent.remote,
        span_kind: otel_kind(callsite.kind),
        name: Cow::Borrowed(callsite.name),
        start_time: clock::to_system_time(start),
        end_time,
        attributes,
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status,
        instrumentation_scope: SCOPE.clone(),
    }
}
