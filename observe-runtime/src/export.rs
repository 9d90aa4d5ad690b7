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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use once_cell::sync::Lazy;
use opentelemetry::trace::{
    Event, Link, SpanContext as OtelSpanContext, SpanId, SpanKind as OtelKind, Status, TraceFlags,
    TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::span::{OutcomeKind, SpanExtra, SpanKind, SpanRecord};
use crate::{clock, state};

/// A thread's first ring holds this many ended spans; a full ring is replaced
/// by one twice its size, up to [`RING_MAX`], so a burst is absorbed even when
/// the drain thread gets no CPU for a while, and a quiet thread stays small.
const RING_INITIAL: usize = 256;
/// Ended spans one thread may hold before the drain thread collects them; past
/// it spans are dropped and counted.
pub(crate) const RING_MAX: usize = 16_384;

/// The drain thread; a producer unparks it when its ring reaches half.
static DRAINER: Mutex<Option<std::thread::Thread>> = Mutex::new(None);
/// Set by the drain thread while it sleeps: a producer takes the `DRAINER`
/// lock and unparks only a drainer that is asleep, and the first producer to
/// clear the flag is the only one that does.
static DRAINER_PARKED: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_drainer(thread: std::thread::Thread) {
    *DRAINER.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
}

/// Called by the drain thread: sleeps until woken or `timeout`.
pub(crate) fn park_drainer(timeout: std::time::Duration) {
    DRAINER_PARKED.store(true, Ordering::SeqCst);
    std::thread::park_timeout(timeout);
    DRAINER_PARKED.store(false, Ordering::Relaxed);
}

#[cold]
#[inline(never)]
pub(crate) fn wake_drainer() {
    // A drainer that is awake collects soon anyway (it drains every
    // millisecond while spans keep arriving); a missed wake-up costs at most
    // its `timeout`.
    if DRAINER_PARKED.load(Ordering::Relaxed) && DRAINER_PARKED.swap(false, Ordering::AcqRel) {
        if let Some(thread) = DRAINER.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            thread.unpark();
        }
    }
}

#[repr(align(128))]
struct Padded<T>(T);

/// One ended span: a cache line of its own, so the producer writing a slot
/// and the drain thread reading its neighbour never share a line.
#[repr(align(64))]
struct Slot(UnsafeCell<MaybeUninit<SpanRecord>>);

const _: () = assert!(std::mem::size_of::<Slot>() == 64);

/// What only the producer writes (the drain thread reads `tail`).
struct Producer {
    /// Next slot the producer writes.
    tail: AtomicUsize,
    /// The consumer's `head` as last read: the producer reads the shared
    /// `head` only when this says the ring may be half full.
    head_seen: AtomicUsize,
}

pub(crate) struct Ring {
    slots: Box<[Slot]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
    /// Next slot the consumer reads; written by the consumer only.
    head: Padded<AtomicUsize>,
    producer: Padded<Producer>,
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
        debug_assert!(capacity.is_power_of_two());
        Ring {
            slots: (0..capacity)
                .map(|_| Slot(UnsafeCell::new(MaybeUninit::uninit())))
                .collect(),
            mask: capacity - 1,
            head: Padded(AtomicUsize::new(0)),
            producer: Padded(Producer {
                tail: AtomicUsize::new(0),
                head_seen: AtomicUsize::new(0),
            }),
            dropped: Padded(AtomicU64::new(0)),
            consumer: Mutex::new(()),
        }
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Producer side; called only by the owning thread. Writes the record in
    /// place in its slot, or hands it back when the ring is full.
    #[inline(always)]
    fn push(&self, record: SpanRecord) -> Result<(), SpanRecord> {
        let Some((tail, reaches_half)) = self.reserve() else {
            return Err(record);
        };
        self.commit(tail, record);
        if reaches_half {
            wake_drainer();
        }
        Ok(())
    }

    /// Producer side, as [`Ring::push`], building the record only when
    /// there is room for it, and leaving the wake-up to the caller.
    #[inline(always)]
    fn push_with(&self, make: impl FnOnce() -> SpanRecord) -> Pushed {
        let Some((tail, reaches_half)) = self.reserve() else {
            return Pushed::NoRoom;
        };
        self.commit(tail, make());
        if reaches_half {
            Pushed::Wake
        } else {
            Pushed::Done
        }
    }

    /// Producer side: the slot to write next, and whether writing it brings
    /// the ring to half (once per crossing, so the drain thread is woken
    /// once, not per call); `None` when the ring is full.
    #[inline(always)]
    fn reserve(&self) -> Option<(usize, bool)> {
        let producer = &self.producer.0;
        let tail = producer.tail.load(Ordering::Relaxed);
        let mut head = producer.head_seen.load(Ordering::Relaxed);
        let half = self.capacity() / 2;
        if tail.wrapping_sub(head) >= half {
            head = self.head.0.load(Ordering::Acquire);
            producer.head_seen.store(head, Ordering::Relaxed);
            if tail.wrapping_sub(head) > self.mask {
                return None;
            }
        }
        Some((tail, tail.wrapping_sub(head) == half))
    }

    /// Producer side: writes `record` into the slot [`Ring::reserve`] gave
    /// and publishes it.
    #[inline(always)]
    fn commit(&self, tail: usize, record: SpanRecord) {
        // SAFETY: `mask` is `slots.len() - 1`, so the index is in bounds;
        // the slot is outside `head..tail`, so the consumer does not touch
        // it until the store below publishes it.
        unsafe {
            let slot = self.slots.get_unchecked(tail & self.mask);
            (*slot.0.get()).write(record);
        }
        self.producer
            .0
            .tail
            .store(tail.wrapping_add(1), Ordering::Release);
    }

    /// Producer side: counts a span dropped because every ring was full.
    #[cold]
    fn count_drop(&self) {
        let dropped = &self.dropped.0;
        dropped.store(dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Consumer side: moves every published record into `out`.
    fn drain_into(&self, out: &mut impl Extend<SpanRecord>) {
        let _consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.producer.0.tail.load(Ordering::Acquire);
        let mut at = head;
        out.extend(std::iter::from_fn(|| {
            (at != tail).then(|| {
                let slot = &self.slots[at & self.mask];
                at = at.wrapping_add(1);
                // SAFETY: the slot is inside `head..tail`: initialised by the
                // producer and not yet read; advancing `head` hands it back.
                unsafe { (*slot.0.get()).assume_init_read() }
            })
        }));
        self.head.0.store(tail, Ordering::Release);
    }

    fn len(&self) -> usize {
        let tail = self.producer.0.tail.load(Ordering::Acquire);
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

/// Keeps this thread's ring alive while the thread lives; the per-call path
/// reaches the ring through the raw pointer in `state::Local`, which this
/// owner clears before it lets go of the ring.
struct RingOwner(Option<Arc<Ring>>);

impl Drop for RingOwner {
    fn drop(&mut self) {
        state::with_local(|local| local.ring.set(std::ptr::null()));
    }
}

thread_local! {
    static OWNER: RefCell<RingOwner> = const { RefCell::new(RingOwner(None)) };
}

/// Registers a new ring of `capacity` for this thread and makes it the one
/// `submit` writes to. `None` while the thread's locals are being torn down.
fn install(capacity: usize) -> Option<*const Ring> {
    OWNER
        .try_with(|owner| {
            let ring = Arc::new(Ring::new(capacity));
            RINGS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Arc::clone(&ring), 0));
            let ptr = Arc::as_ptr(&ring);
            owner.borrow_mut().0 = Some(ring);
            state::with_local(|local| local.ring.set(ptr));
            ptr
        })
        .ok()
}

/// What [`push_with`] did.
pub(crate) enum Pushed {
    /// The record is in the ring.
    Done,
    /// The record is in the ring, which just reached half: call
    /// [`wake_drainer`].
    Wake,
    /// Nothing was written: the thread has no ring yet, or it is full. The
    /// caller hands its record to [`submit`].
    NoRoom,
}

/// Writes the record `make` builds into this thread's ring, when the thread
/// has one with room; what is left to do comes back as [`Pushed`], so the
/// caller can do it in a tail call.
#[inline(always)]
pub(crate) fn push_with(local: &state::Local, make: impl FnOnce() -> SpanRecord) -> Pushed {
    let ring = local.ring.get();
    if ring.is_null() {
        return Pushed::NoRoom;
    }
    // SAFETY: as in `submit`.
    unsafe { &*ring }.push_with(make)
}

/// Hands an ended, sampled span to the export path. Never blocks.
#[inline(always)]
pub(crate) fn submit(record: SpanRecord) {
    let ring = state::with_local(|local| local.ring.get());
    if ring.is_null() {
        return submit_first(record);
    }
    // SAFETY: the pointer was set on this thread from the `Arc` that `OWNER`
    // holds, and `OWNER` clears it before releasing that `Arc`.
    let ring = unsafe { &*ring };
    if let Err(record) = ring.push(record) {
        // By capacity, not by reference: growing releases this ring.
        grow_or_drop(ring.capacity(), record);
    }
}

#[cold]
#[inline(never)]
fn submit_first(record: SpanRecord) {
    if let Some(ring) = install(RING_INITIAL) {
        // SAFETY: just installed on this thread; `OWNER` keeps it alive.
        let _ = unsafe { &*ring }.push(record);
    }
}

#[cold]
#[inline(never)]
fn grow_or_drop(capacity: usize, record: SpanRecord) {
    if capacity >= RING_MAX {
        let ring = state::with_local(|local| local.ring.get());
        // SAFETY: the full ring `submit` just used, still owned by `OWNER`.
        unsafe { (*ring).count_drop() };
        return;
    }
    // The old ring stays registered until the drain thread has emptied it.
    if let Some(ring) = install(capacity * 2) {
        wake_drainer();
        // SAFETY: as in `submit_first`.
        let _ = unsafe { &*ring }.push(record);
    }
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

/// The OpenTelemetry form of a span's links.
fn links_of(contexts: Vec<crate::context::SpanContext>) -> SpanLinks {
    let mut out = SpanLinks::default();
    out.links = contexts
        .into_iter()
        .map(|context| {
            let flags = if context.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            Link::new(
                OtelSpanContext::new(
                    TraceId::from(context.trace_id),
                    SpanId::from(context.span_id),
                    flags,
                    context.remote,
                    TraceState::NONE,
                ),
                Vec::new(),
                0,
            )
        })
        .collect();
    out
}

/// The OpenTelemetry form of a record.
pub(crate) fn to_span_data(record: SpanRecord) -> SpanData {
    let callsite = record.callsite();
    let outcome = record.outcome();
    let parent_remote = record.parent_remote();
    let (error_type, message, user_attributes, links) = match record.extra {
        Some(extra) => {
            let SpanExtra {
                attributes,
                error_type,
                message,
                links,
            } = *extra;
            (error_type, message, attributes, links)
        }
        None => ("", None, Vec::new(), Vec::new()),
    };
    let end_time = clock::to_system_time(record.end);
    // The callsite's four, the user's, and one for the outcome.
    let mut attributes = Vec::with_capacity(user_attributes.len() + 5);
    attributes.extend(user_attributes);
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
    SpanData {
        span_context: OtelSpanContext::new(
            TraceId::from(record.trace_id),
            SpanId::from(record.span_id),
            // Only sampled spans are recorded.
            TraceFlags::SAMPLED,
            false,
            crate::propagation::trace_state(record.trace_id),
        ),
        parent_span_id: SpanId::from(record.parent_span_id),
        parent_span_is_remote: parent_remote,
        span_kind: otel_kind(callsite.kind),
        name: Cow::Borrowed(callsite.name),
        start_time: clock::to_system_time(record.start),
        end_time,
        attributes,
        dropped_attributes_count: 0,
        events,
        links: links_of(links),
        status,
        instrumentation_scope: SCOPE.clone(),
    }
}
