//! Each thread's ring of ended, sampled spans.
//!
//! Each thread owns a bounded single-producer ring of ended spans. Pushing is
//! a slot write and one release store; a full ring drops the span and counts
//! it, so an observed call never waits on export. The drain thread (in
//! `export/`), and the export task between batches, empty every ring. A
//! ring outlives its thread until drained, so spans from short-lived threads
//! still arrive.
//!
//! No step of a producer takes a lock another thread may hold: a new ring
//! is published on a lock-free list the drain side adopts, and a thread
//! whose ring is full while the export side is late (its threads
//! descheduled, or its queue full) sets the ring aside for it and carries
//! on in a fresh one, within a budget of spare slots.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use once_cell::sync::Lazy;

use super::span::SpanRecord;
use super::state;
use crate::core::health::health;
use sync::{AtomicU64, AtomicUsize, SlotCell};

/// The ring's own synchronisation, from std, or from loom when the ring's
/// tests run under its model checker (`RUSTFLAGS="--cfg observe_loom"`, see
/// `.ci/test`): the only code that changes between the two.
#[cfg(not(observe_loom))]
mod sync {
    pub(super) use std::sync::atomic::{AtomicU64, AtomicUsize};
    pub(super) use std::sync::Mutex;

    /// A slot's storage.
    pub(super) struct SlotCell<T>(std::cell::UnsafeCell<T>);

    impl<T> SlotCell<T> {
        pub(super) fn new(value: T) -> SlotCell<T> {
            SlotCell(std::cell::UnsafeCell::new(value))
        }

        /// # Safety
        /// No other access to this cell while `f` runs.
        #[inline(always)]
        pub(super) unsafe fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(observe_loom)]
mod sync {
    pub(super) use loom::sync::atomic::{AtomicU64, AtomicUsize};
    pub(super) use loom::sync::Mutex;

    /// A slot's storage, whose accesses loom checks for races.
    pub(super) struct SlotCell<T>(loom::cell::UnsafeCell<T>);

    impl<T> SlotCell<T> {
        pub(super) fn new(value: T) -> SlotCell<T> {
            SlotCell(loom::cell::UnsafeCell::new(value))
        }

        /// # Safety
        /// No other access to this cell while `f` runs.
        pub(super) unsafe fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            self.0.with_mut(f)
        }
    }
}

/// A thread's first ring holds this many ended spans; a full ring is replaced
/// by one twice its size, up to [`RING_MAX`], so a burst is absorbed even when
/// the drain thread gets no CPU for a while, and a quiet thread stays small.
const RING_INITIAL: usize = 256;
/// Ended spans one thread may hold before the drain thread collects them; past
/// it spans are dropped and counted.
pub(crate) const RING_MAX: usize = 16_384;

/// Bytes the records in every ring hold beyond their slots (attribute
/// values, error messages, links; [`SpanRecord::held_bytes`]), and the most
/// they may hold: a share of the export side's byte cap, so a burst of
/// large spans cannot fill 16 384 slots per thread with them.
static HELD: ByteBudget = ByteBudget::new(16 << 20);

/// A count of bytes held against a cap. std's atomics even under loom: the
/// ring's model-checked tests do not reach it.
struct ByteBudget {
    held: std::sync::atomic::AtomicUsize,
    cap: std::sync::atomic::AtomicUsize,
}

impl ByteBudget {
    const fn new(cap: usize) -> ByteBudget {
        ByteBudget {
            held: std::sync::atomic::AtomicUsize::new(0),
            cap: std::sync::atomic::AtomicUsize::new(cap),
        }
    }

    /// Takes `bytes`; `false`, taking nothing, when they do not fit.
    fn charge(&self, bytes: usize) -> bool {
        let cap = self.cap.load(Ordering::Relaxed);
        // Once full it stays so for a while: no write to find that out.
        if self.held.load(Ordering::Relaxed) + bytes > cap {
            return false;
        }
        let held = self.held.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if held <= cap {
            return true;
        }
        self.held.fetch_sub(bytes, Ordering::Relaxed);
        false
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

/// Sets the bytes the rings may hold together (the pipeline's share of
/// `max_queue_bytes`).
pub(crate) fn set_byte_cap(bytes: usize) {
    HELD.cap.store(bytes, Ordering::Relaxed);
}

/// Takes `bytes` from the rings' budget; `false`, with the span counted as
/// `queue_full`, when they do not fit.
#[cold]
#[inline(never)]
fn charge(bytes: usize) -> bool {
    if HELD.charge(bytes) {
        return true;
    }
    static QUEUE_FULL: Lazy<prometheus::IntCounter> =
        Lazy::new(|| health().spans_dropped.with_label_values(&["queue_full"]));
    QUEUE_FULL.inc();
    false
}

/// Gives back to the rings' budget what records that left them held.
fn release(bytes: usize) {
    HELD.release(bytes);
}

/// Slots of rings set aside by their thread for the drain side
/// ([`grow_or_drop`]), and the most they may hold together: the export
/// queue's `max_queue` while a pipeline runs ([`set_spare_cap`]), none
/// otherwise. Counted in slots, by the same budget type.
static SPARE: ByteBudget = ByteBudget::new(0);

/// Sets the slots the rings set aside may hold together.
pub(crate) fn set_spare_cap(slots: usize) {
    SPARE.cap.store(slots, Ordering::Relaxed);
}

/// The drain thread; a producer unparks it when its ring reaches half.
static DRAINER: Mutex<Option<std::thread::Thread>> = Mutex::new(None);
/// Set by the drain thread while it sleeps: a producer takes the `DRAINER`
/// lock and unparks only a drainer that is asleep, and the first producer to
/// clear the flag is the only one that does.
static DRAINER_PARKED: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_drainer(thread: std::thread::Thread) {
    *DRAINER.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
}

/// Called by the drain thread: sleeps until woken or `timeout`, unless a
/// ring is half full already.
pub(crate) fn park_drainer(timeout: std::time::Duration) {
    DRAINER_PARKED.store(true, Ordering::SeqCst);
    // A ring that reached half while the drainer was awake sent no
    // wake-up; sleeping through the timeout would let a busy thread fill it.
    // The fence pairs with `wake_drainer`'s: either the producer sees the
    // flag and wakes the drainer, or the drainer sees the ring's length.
    std::sync::atomic::fence(Ordering::SeqCst);
    if !any_ring_half_full() {
        std::thread::park_timeout(timeout);
    }
    DRAINER_PARKED.store(false, Ordering::Relaxed);
}

fn any_ring_half_full() -> bool {
    rings()
        .iter()
        .any(|(ring, _)| ring.len() >= ring.capacity() / 2)
}

#[cold]
#[inline(never)]
pub(crate) fn wake_drainer() {
    // A drainer that is awake checks the rings before it sleeps
    // (`park_drainer`), after this fence orders the ring's new length
    // before the flag's read.
    std::sync::atomic::fence(Ordering::SeqCst);
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
struct Slot<T>(SlotCell<MaybeUninit<T>>);

#[cfg(not(observe_loom))]
const _: () = assert!(std::mem::size_of::<Slot<SpanRecord>>() == 64);

/// What only the producer writes (the drain thread reads `tail`).
struct Producer {
    /// Next slot the producer writes.
    tail: AtomicUsize,
    /// The consumer's `head` as last read: the producer reads the shared
    /// `head` only when this says the ring may be half full.
    head_seen: AtomicUsize,
}

/// A bounded single-producer ring; its records are ended spans, except in
/// its own tests.
pub(crate) struct Ring<T = SpanRecord> {
    slots: Box<[Slot<T>]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
    /// Next slot the consumer reads; written by the consumer only.
    head: Padded<AtomicUsize>,
    producer: Padded<Producer>,
    /// Spans dropped because the ring was full; written by the producer only.
    dropped: Padded<AtomicU64>,
    /// Serialises consumers (the export task and `force_flush`).
    consumer: sync::Mutex<()>,
    /// The slots this ring holds of [`SPARE`]'s budget, once its thread set
    /// it aside; given back when it is dropped. std's atomic even under
    /// loom, like the budget.
    spare: std::sync::atomic::AtomicUsize,
}

// SAFETY: a slot is written only by the producer while it is outside
// `head..tail`, and read only by the consumer (under `consumer`) while it is
// inside; the release store of `tail` / `head` publishes each hand-over.
unsafe impl<T: Send> Send for Ring<T> {}
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    fn new(capacity: usize) -> Ring<T> {
        debug_assert!(capacity.is_power_of_two());
        Ring {
            slots: (0..capacity)
                .map(|_| Slot(SlotCell::new(MaybeUninit::uninit())))
                .collect(),
            mask: capacity - 1,
            head: Padded(AtomicUsize::new(0)),
            producer: Padded(Producer {
                tail: AtomicUsize::new(0),
                head_seen: AtomicUsize::new(0),
            }),
            dropped: Padded(AtomicU64::new(0)),
            consumer: sync::Mutex::new(()),
            spare: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Producer side; called only by the owning thread. Writes the record in
    /// place in its slot, or hands it back when the ring is full.
    #[inline(always)]
    fn push(&self, record: T) -> Result<(), T> {
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
    fn push_with(&self, make: impl FnOnce() -> T) -> Pushed {
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
    fn commit(&self, tail: usize, record: T) {
        // SAFETY: `mask` is `slots.len() - 1`, so the index is in bounds;
        // the slot is outside `head..tail`, so the consumer does not touch
        // it until the store below publishes it.
        unsafe {
            let slot = self.slots.get_unchecked(tail & self.mask);
            slot.0.with_mut(|slot| (*slot).write(record));
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

    /// Consumer side: moves up to `max` published records, oldest first,
    /// to the end of `out`; how many it moved.
    fn drain_into(&self, out: &mut Vec<T>, max: usize) -> usize {
        let _consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.producer.0.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(max);
        out.reserve(n);
        let len = out.len();
        // Each slot copied straight into the room `reserve` made: no
        // capacity check or iterator step per record.
        let to = out.as_mut_ptr();
        for i in 0..n {
            // SAFETY: `mask` is `slots.len() - 1`, so the index is in
            // bounds; the slot is inside `head..tail`: initialised by the
            // producer and not yet read, and advancing `head` below hands it
            // back. `reserve` made room for `n` records after `len`.
            unsafe {
                let slot = self.slots.get_unchecked(head.wrapping_add(i) & self.mask);
                slot.0
                    .with_mut(|slot| to.add(len + i).write((*slot).assume_init_read()));
            }
        }
        // SAFETY: the `n` records after `len` were written above.
        unsafe { out.set_len(len + n) };
        self.head.0.store(head.wrapping_add(n), Ordering::Release);
        n
    }

    fn len(&self) -> usize {
        let tail = self.producer.0.tail.load(Ordering::Acquire);
        tail.wrapping_sub(self.head.0.load(Ordering::Acquire))
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let mut rest = Vec::new();
        self.drain_into(&mut rest, usize::MAX);
        SPARE.release(*self.spare.get_mut());
    }
}

/// A ring that may hold spans, with how many of its drops were already added
/// to the `observe_spans_dropped_total` counter.
type Registered = (Arc<Ring>, u64);

static RINGS: Lazy<Mutex<Vec<Registered>>> = Lazy::new(Default::default);

/// A ring installed since the drain side last looked: a node of a
/// lock-free stack, so that a producer registers a ring without the
/// `RINGS` lock, which a descheduled drain thread may hold.
struct Installed {
    ring: Arc<Ring>,
    next: *mut Installed,
}

static INSTALLED: AtomicPtr<Installed> = AtomicPtr::new(std::ptr::null_mut());

/// Puts `ring` on the [`INSTALLED`] stack.
fn publish(ring: Arc<Ring>) {
    let node = Box::into_raw(Box::new(Installed {
        ring,
        next: std::ptr::null_mut(),
    }));
    let mut head = INSTALLED.load(Ordering::Relaxed);
    loop {
        // SAFETY: `node` is not shared until the exchange below succeeds.
        unsafe { (*node).next = head };
        match INSTALLED.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Moves the rings published since the last call to the end of `rings`,
/// oldest first, so a thread's full ring still comes before the one that
/// took over from it. The whole stack is taken at once, so no node is read
/// while another thread could free it.
fn adopt(rings: &mut Vec<Registered>) {
    let mut node = INSTALLED.swap(std::ptr::null_mut(), Ordering::Acquire);
    if node.is_null() {
        return;
    }
    let from = rings.len();
    while !node.is_null() {
        // SAFETY: each node was leaked by `publish`, and the swap above made
        // this thread the only one to see it.
        let installed = unsafe { Box::from_raw(node) };
        node = installed.next;
        rings.push((installed.ring, 0));
    }
    rings[from..].reverse();
}

/// Every registered ring, the newly published ones included.
fn rings() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    let mut rings = RINGS.lock().unwrap_or_else(|e| e.into_inner());
    adopt(&mut rings);
    rings
}

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
/// `submit` writes to, without waiting for any lock. `None` while the
/// thread's locals are being torn down.
fn install(capacity: usize) -> Option<*const Ring> {
    OWNER
        .try_with(|owner| {
            let ring = Arc::new(Ring::new(capacity));
            publish(Arc::clone(&ring));
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
    let held = record.held_bytes();
    if held > 0 && !charge(held) {
        return;
    }
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
    match install(RING_INITIAL) {
        // SAFETY: just installed on this thread; `OWNER` keeps it alive.
        Some(ring) => {
            let _ = unsafe { &*ring }.push(record);
        }
        // The thread is exiting and its locals are gone.
        None => release(record.held_bytes()),
    }
}

/// What a thread whose ring is full at [`RING_MAX`] runs first: set by the
/// export side (`export/pipeline.rs`) to move what the rings hold into its
/// queue, without waiting for a lock; whether it moved anything.
static OVERFLOW: OnceLock<fn() -> bool> = OnceLock::new();

pub(crate) fn set_overflow(collect: fn() -> bool) {
    let _ = OVERFLOW.set(collect);
}

#[cold]
#[inline(never)]
fn grow_or_drop(capacity: usize, record: SpanRecord) {
    if capacity >= RING_MAX {
        let ring = state::with_local(|local| local.ring.get());
        // SAFETY: the full ring `submit` just used, still owned by `OWNER`.
        let ring = unsafe { &*ring };
        // The drain thread is late: collect the rings here, once, and try
        // again.
        let record = match OVERFLOW.get() {
            Some(collect) if collect() => match ring.push(record) {
                Ok(()) => return,
                Err(record) => record,
            },
            _ => record,
        };
        // Nothing moved: the export side's lock is held (by a thread the
        // scheduler may have stopped) or its queue is full. The full ring is
        // set aside for the drain side and a fresh one takes over, while the
        // spare budget lasts; only then is the span dropped.
        if SPARE.charge(capacity) {
            ring.spare.store(capacity, Ordering::Relaxed);
            if let Some(fresh) = install(capacity) {
                wake_drainer();
                // SAFETY: as in `submit_first`.
                let _ = unsafe { &*fresh }.push(record);
                return;
            }
            ring.spare.store(0, Ordering::Relaxed);
            SPARE.release(capacity);
        }
        ring.count_drop();
        release(record.held_bytes());
        return;
    }
    // The old ring stays registered until the drain thread has emptied it.
    match install(capacity * 2) {
        Some(ring) => {
            wake_drainer();
            // SAFETY: as in `submit_first`.
            let _ = unsafe { &*ring }.push(record);
        }
        None => release(record.held_bytes()),
    }
}

/// Ended spans moved out of the rings together, in order, and what they
/// hold in bytes ([`SpanRecord::bytes`]): one batch for the exporter.
#[derive(Default)]
pub(crate) struct Chunk {
    pub(crate) records: Vec<SpanRecord>,
    pub(crate) bytes: usize,
}

impl Chunk {
    /// Takes the newest record out; the export queue's byte cap lets go of
    /// it.
    pub(crate) fn pop(&mut self) -> Option<SpanRecord> {
        let record = self.records.pop()?;
        self.bytes -= record.bytes();
        Some(record)
    }
}

/// What [`drain_all`] kept.
pub(crate) struct Drained {
    pub(crate) records: usize,
    /// What the records kept hold, by [`SpanRecord::bytes`].
    pub(crate) bytes: usize,
}

/// Moves ended spans out of the rings, oldest ring first, to the end of
/// `out`: into its last chunk until that holds `chunk` records, then into
/// new ones, so the records are copied once on their way to the exporter,
/// which takes a chunk as its batch. At most `room` records move; the rest
/// wait in their rings for the next round (a thread whose ring is full
/// meanwhile sets it aside or drops, and counts). Forgets rings whose
/// thread has exited once they are empty.
pub(crate) fn drain_all(out: &mut VecDeque<Chunk>, chunk: usize, room: usize) -> Drained {
    drain_locked(&mut rings(), out, chunk, room)
}

/// [`drain_all`] unless another thread holds the rings' list: `None` then,
/// without waiting.
pub(crate) fn try_drain_all(
    out: &mut VecDeque<Chunk>,
    chunk: usize,
    room: usize,
) -> Option<Drained> {
    let mut rings = match RINGS.try_lock() {
        Ok(rings) => rings,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return None,
    };
    adopt(&mut rings);
    Some(drain_locked(&mut rings, out, chunk, room))
}

fn drain_locked(
    rings: &mut Vec<Registered>,
    out: &mut VecDeque<Chunk>,
    chunk: usize,
    room: usize,
) -> Drained {
    let chunk = chunk.max(1);
    let dropped = health().spans_dropped.with_label_values(&["queue_full"]);
    let mut kept = 0;
    let mut released = 0;
    let mut bytes = 0;
    rings.retain_mut(|(ring, counted)| {
        // What the ring holds now; what its thread pushes meanwhile waits
        // for the next round.
        let mut left = ring.len();
        while left > 0 && kept < room {
            if out.back().is_none_or(|last| last.records.len() >= chunk) {
                out.push_back(Chunk {
                    records: Vec::with_capacity(chunk.min(4096)),
                    bytes: 0,
                });
            }
            let last = out.back_mut().expect("pushed above");
            let from = last.records.len();
            let moved =
                ring.drain_into(&mut last.records, (chunk - from).min(room - kept).min(left));
            kept += moved;
            left -= moved;
            // One pass over what arrived: the bytes the rings' budget gets
            // back and the bytes the chunk holds.
            let (mut held, mut plain) = (0, 0);
            for record in &last.records[from..] {
                match record.held_bytes() {
                    0 => plain += 1,
                    bytes => held += bytes,
                }
            }
            released += held;
            // A record that holds nothing beyond its slot counts its slot.
            let arrived = held + plain * std::mem::size_of::<SpanRecord>();
            last.bytes += arrived;
            bytes += arrived;
        }
        fold_drops(ring, counted, &dropped);
        // The thread-local holds the other reference while its thread lives.
        Arc::strong_count(ring) > 1 || ring.len() > 0
    });
    release(released);
    Drained {
        records: kept,
        bytes,
    }
}

/// Adds what `ring` dropped since the last time to the `queue_full` counter.
fn fold_drops(ring: &Ring, counted: &mut u64, queue_full: &prometheus::IntCounter) {
    let total = ring.dropped.0.load(Ordering::Relaxed);
    queue_full.inc_by(total - *counted);
    *counted = total;
}

/// Adds the spans every ring dropped to `observe_spans_dropped_total`, as
/// a collection does on its way: for the rounds in which the drain thread
/// leaves the rings to fill.
pub(crate) fn count_drops() {
    let queue_full = health().spans_dropped.with_label_values(&["queue_full"]);
    for (ring, counted) in rings().iter_mut() {
        fold_drops(ring, counted, &queue_full);
    }
}

/// Ended spans still in the rings.
pub(crate) fn ring_depth() -> usize {
    rings().iter().map(|(ring, _)| ring.len()).sum()
}

#[cfg(all(test, not(observe_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_byte_budget_refuses_what_does_not_fit_and_takes_back_what_leaves() {
        let budget = ByteBudget::new(10_000);
        assert!(budget.charge(8_192));
        assert!(!budget.charge(8_192), "a second 8 KiB span is over the cap");
        assert!(budget.charge(1_808), "exactly up to the cap");
        assert!(!budget.charge(1));
        budget.release(8_192);
        assert!(budget.charge(8_192), "room again once the first left");
        assert_eq!(budget.held.load(Ordering::Relaxed), 10_000);
    }
    use crate::hot::callsite::{Callsite, OutcomeKind, SpanKind};

    static CALLSITE: Callsite = Callsite::new(
        "Test.Ring",
        SpanKind::Internal,
        "ring_test",
        "observe_runtime::hot::ring::tests",
        file!(),
        line!(),
        None,
    );

    /// A record this test can tell apart from any other test's: its trace
    /// id names the test, its span id the record's order.
    fn record(test: u128, n: u64) -> SpanRecord {
        SpanRecord::new(
            &CALLSITE,
            OutcomeKind::Ok,
            (false, false),
            (test, n, 0),
            0,
            0,
            None,
        )
    }

    /// Drains every ring until `want` records of `test` have arrived (or
    /// the rings are empty), keeping only that test's, in arrival order.
    fn drain_test(test: u128, want: usize) -> Vec<u64> {
        let mut seen = Vec::new();
        for _ in 0..1_000 {
            let mut out = VecDeque::new();
            drain_all(&mut out, 512, usize::MAX);
            seen.extend(
                out.into_iter()
                    .flat_map(|chunk| chunk.records)
                    .filter(|r| r.trace_id == test)
                    .map(|r| r.span_id),
            );
            if seen.len() >= want {
                break;
            }
            std::thread::yield_now();
        }
        seen
    }

    #[test]
    fn a_producer_and_a_consumer_on_two_threads_hand_over_every_record_in_order() {
        const N: u64 = 200_000;
        let ring: Arc<Ring<Box<u64>>> = Arc::new(Ring::new(64));
        let producer = {
            let ring = Arc::clone(&ring);
            std::thread::spawn(move || {
                let mut full = 0u64;
                for n in 0..N {
                    // Boxed, so a record read twice or never is a double
                    // free or a leak, not a silent duplicate.
                    let mut record = Box::new(n);
                    while let Err(back) = ring.push(record) {
                        record = back;
                        full += 1;
                        std::thread::yield_now();
                    }
                }
                full
            })
        };
        let mut received = Vec::with_capacity(N as usize);
        while received.len() < N as usize {
            ring.drain_into(&mut received, usize::MAX);
            std::hint::spin_loop();
        }
        let full = producer.join().expect("the producer ends");
        assert!(
            received.iter().map(|b| **b).eq(0..N),
            "every record once, in order"
        );
        assert_eq!(ring.len(), 0);
        // A 64-slot ring cannot hold 200 000 records: the producer met a
        // full ring and got its record back each time.
        assert!(full > 0);
    }

    #[test]
    fn a_full_ring_hands_the_record_back_and_a_drain_makes_room() {
        let ring: Ring<u32> = Ring::new(8);
        for n in 0..8 {
            assert!(ring.push(n).is_ok());
        }
        assert_eq!(ring.push(8), Err(8), "full: the record comes back");
        assert_eq!(ring.len(), 8);
        let mut out = Vec::new();
        ring.drain_into(&mut out, usize::MAX);
        assert_eq!(out, (0..8).collect::<Vec<_>>());
        assert!(ring.push(9).is_ok(), "drained: room again");
    }

    #[test]
    fn a_ring_reports_reaching_half_once_per_crossing() {
        let ring: Ring<u32> = Ring::new(8);
        let pushed: Vec<bool> = (0..8)
            .map(|n| matches!(ring.push_with(|| n), Pushed::Wake))
            .collect();
        assert_eq!(
            pushed,
            [false, false, false, false, true, false, false, false]
        );
        assert!(matches!(ring.push_with(|| 9), Pushed::NoRoom));
    }

    /// The tests that go through the process-wide ring registry take turns,
    /// so one's drain does not empty the other's rings mid-burst.
    static REGISTRY: Mutex<()> = Mutex::new(());

    #[test]
    fn a_burst_grows_the_ring_then_drops_and_counts_past_the_cap() {
        const TEST: u128 = 0x5249_4e47_0001;
        let _turn = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        // Each full ring stays registered while a ring twice its size takes
        // over, up to the cap: together they hold this many.
        let held: u64 =
            std::iter::successors(Some(RING_INITIAL), |&c| (c < RING_MAX).then_some(c * 2))
                .map(|c| c as u64)
                .sum();
        let extra = 100;
        let queue_full = health().spans_dropped.with_label_values(&["queue_full"]);
        let before = queue_full.get();
        // A thread of its own, so its ring starts at the smallest size.
        std::thread::spawn(move || {
            for n in 0..held + extra {
                submit(record(TEST, n));
            }
            let ring = state::with_local(|local| local.ring.get());
            // SAFETY: this thread's ring, alive while the thread runs.
            assert_eq!(unsafe { (*ring).capacity() }, RING_MAX, "grown to the cap");
        })
        .join()
        .expect("the burst ends");
        let seen = drain_test(TEST, held as usize);
        assert!(
            seen.iter().copied().eq(0..held),
            "every record that fitted arrives, in order"
        );
        assert_eq!(queue_full.get() - before, extra, "the rest is counted");
    }

    #[test]
    fn a_full_ring_at_its_largest_is_collected_by_its_own_thread_before_any_drop() {
        const TEST: u128 = 0x5249_4e47_0004;
        static ACTIVE: AtomicBool = AtomicBool::new(false);
        static COLLECTED: Mutex<VecDeque<Chunk>> = Mutex::new(VecDeque::new());
        /// The export side's part, as `export/pipeline.rs` plays it: the
        /// rings into a queue, never waiting for their lock.
        fn collect_for_test() -> bool {
            if !ACTIVE.load(Ordering::Acquire) {
                return false;
            }
            let mut queue = COLLECTED.lock().unwrap_or_else(|e| e.into_inner());
            try_drain_all(&mut queue, 512, usize::MAX).is_some_and(|d| d.records > 0)
        }
        let _turn = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        // No pipeline runs in this process's tests: the collector is this.
        set_overflow(collect_for_test);
        let held: u64 =
            std::iter::successors(Some(RING_INITIAL), |&c| (c < RING_MAX).then_some(c * 2))
                .map(|c| c as u64)
                .sum();
        // Past what the rings hold: the thread collects once its largest
        // ring is full, and nothing is dropped.
        let calls = held + 3 * RING_MAX as u64;
        let queue_full = health().spans_dropped.with_label_values(&["queue_full"]);
        let before = queue_full.get();
        ACTIVE.store(true, Ordering::Release);
        std::thread::spawn(move || {
            for n in 0..calls {
                submit(record(TEST, n));
            }
        })
        .join()
        .expect("the burst ends");
        ACTIVE.store(false, Ordering::Release);
        let mut seen: Vec<u64> = std::mem::take(&mut *COLLECTED.lock().unwrap())
            .into_iter()
            .flat_map(|chunk| chunk.records)
            .filter(|r| r.trace_id == TEST)
            .map(|r| r.span_id)
            .collect();
        assert!(seen.len() >= RING_MAX, "collected by the calling thread");
        let left = calls as usize - seen.len();
        seen.extend(drain_test(TEST, left));
        assert!(seen.iter().copied().eq(0..calls), "every record, in order");
        assert_eq!(queue_full.get() - before, 0, "nothing dropped");
    }

    #[test]
    fn a_full_ring_that_cannot_be_collected_is_set_aside_within_the_spare_budget() {
        const TEST: u128 = 0x5249_4e47_0005;
        let _turn = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        // Room for two rings at their largest; no collector answers (none
        // is set, or the other test's is inactive), as when the export
        // side's lock is held by a descheduled thread.
        set_spare_cap(2 * RING_MAX);
        let held: u64 =
            std::iter::successors(Some(RING_INITIAL), |&c| (c < RING_MAX).then_some(c * 2))
                .map(|c| c as u64)
                .sum();
        let fits = held + 2 * RING_MAX as u64;
        let extra = 100;
        let queue_full = health().spans_dropped.with_label_values(&["queue_full"]);
        let before = queue_full.get();
        std::thread::spawn(move || {
            for n in 0..fits + extra {
                submit(record(TEST, n));
            }
        })
        .join()
        .expect("the burst ends");
        set_spare_cap(0);
        let seen = drain_test(TEST, fits as usize);
        assert!(
            seen.iter().copied().eq(0..fits),
            "every record the rings set aside held arrives, in order"
        );
        assert_eq!(queue_full.get() - before, extra, "past the budget, counted");
        assert_eq!(
            SPARE.held.load(Ordering::Relaxed),
            0,
            "drained, the rings set aside give their slots back"
        );
    }

    #[test]
    fn drained_records_come_in_chunks_of_the_batch_size_and_past_the_room_wait_in_their_ring() {
        const TEST: u128 = 0x5249_4e47_0003;
        let _turn = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let queue_full = health().spans_dropped.with_label_values(&["queue_full"]);
        std::thread::spawn(|| {
            for n in 0..1_000 {
                submit(record(TEST, n));
            }
        })
        .join()
        .expect("the producer ends");
        let before = queue_full.get();
        // A partly filled chunk from an earlier round is filled up first.
        let mut out = VecDeque::from([Chunk {
            records: vec![record(TEST, 5_000)],
            bytes: 64,
        }]);
        let drained = drain_all(&mut out, 300, 700);
        let lens: Vec<usize> = out.iter().map(|chunk| chunk.records.len()).collect();
        assert_eq!(lens, [300, 300, 101]);
        assert_eq!(drained.records, 700);
        let ours: Vec<u64> = out
            .iter()
            .flat_map(|chunk| &chunk.records)
            .map(|r| r.span_id)
            .collect();
        assert_eq!(ours[0], 5_000);
        assert!(
            ours[1..].iter().copied().eq(0..700),
            "oldest first, in order"
        );
        for chunk in &out {
            assert_eq!(
                chunk.bytes,
                chunk.records.iter().map(SpanRecord::bytes).sum::<usize>()
            );
        }
        assert_eq!(
            drained.bytes,
            700 * std::mem::size_of::<SpanRecord>(),
            "the bytes of what arrived"
        );
        assert_eq!(queue_full.get() - before, 0, "nothing dropped");
        assert!(
            drain_test(TEST, 300).into_iter().eq(700..1_000),
            "the newest, past the room, come in the next round"
        );
    }

    #[test]
    fn a_thread_that_ends_before_its_ring_is_drained_loses_nothing() {
        const TEST: u128 = 0x5249_4e47_0002;
        let _turn = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for n in 0..100 {
                        submit(record(TEST, t * 1_000 + n));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a producer ends");
        }
        // Every producer has exited, and its thread-local owner with it.
        let mut seen = drain_test(TEST, 400);
        seen.sort_unstable();
        let expected: Vec<u64> = (0..4u64)
            .flat_map(|t| (0..100).map(move |n| t * 1_000 + n))
            .collect();
        assert_eq!(seen, expected);
        // Drained and ownerless, the rings are forgotten.
        let mut out = VecDeque::new();
        drain_all(&mut out, 512, usize::MAX);
        let rings = rings();
        assert!(rings.iter().all(|(ring, _)| Arc::strong_count(ring) > 1));
    }
}

/// The ring's hand-over under loom's model checker, which explores every
/// interleaving of the producer and the consumer and checks each slot
/// access for races: `RUSTFLAGS="--cfg observe_loom" cargo test -p
/// observe-runtime --lib --release loom` (`.ci/test` runs it).
#[cfg(all(test, observe_loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn loom_every_record_is_handed_over_once_in_order() {
        loom::model(|| {
            let ring: Arc<Ring<Box<u32>>> = Arc::new(Ring::new(2));
            let producer = {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for n in 0..3 {
                        if let Err(back) = ring.push(Box::new(n)) {
                            kept.push(*back);
                        }
                    }
                    kept
                })
            };
            let mut received = Vec::new();
            ring.drain_into(&mut received, usize::MAX);
            let kept = producer.join().unwrap();
            ring.drain_into(&mut received, usize::MAX);
            let mut all: Vec<u32> = received.iter().map(|b| **b).collect();
            // What was handed back for want of room is what did not arrive.
            all.extend(kept);
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2]);
            assert!(received.windows(2).all(|w| w[0] < w[1]), "in order");
        });
    }

    #[test]
    fn loom_a_ring_dropped_with_records_drops_each_once() {
        loom::model(|| {
            let ring: Arc<Ring<Box<u32>>> = Arc::new(Ring::new(2));
            let producer = {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || {
                    let _ = ring.push(Box::new(1));
                    let _ = ring.push(Box::new(2));
                })
            };
            let mut received = Vec::new();
            ring.drain_into(&mut received, usize::MAX);
            producer.join().unwrap();
            // The rest is dropped with the ring; a double read would free a
            // box twice.
            drop(ring);
        });
    }
}
