//! The per-call path: the start and end of a span, which the expansion of
//! `#[observe]` calls.
//!
//! Nothing here creates an OpenTelemetry SDK span or a `tracing` span. A call
//! reads static callsite data and per-thread state only; a sampled span's
//! record is encoded into OTLP (or turned into `SpanData` for the console or
//! a user's exporter) later, on the export thread.

use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use opentelemetry::{KeyValue, Value};

use super::callsite::{Callsite, ErrorRef, Outcome, OutcomeKind};
use super::context::{self, ContextGuard, Ids, SpanContext, RANDOM, SAMPLED};
use super::histogram::{self, ExemplarSlot};
use super::label::LabelSlot;
use super::limits;
use super::trace_state::TraceState;
use super::{clock, failure, ids, ring, running, state};

/// A span being recorded: created when an observed call starts, finished when
/// it returns, panics or is cancelled.
///
/// When the runtime is not initialised it holds nothing and every method is a
/// branch on `None`, inlined into the caller: `#[observe]` before `init` costs
/// the relaxed load of `state::enabled()` and that branch.
pub struct ActiveSpan {
    inner: Option<SpanState>,
}

/// What a running span needs at its end: 64 bytes, so the `ActiveSpan` on the
/// caller's stack fits one cache line. The parent is kept as its span id and
/// flags only: its trace id is the span's own, or `0` for a root span, so an
/// entered span can put its parent back as the current context without
/// storing it.
///
/// `repr(C)`, in the order of [`SpanRecord`]: a sampled span's first 48
/// bytes become its record's by a straight copy. The trace's `tracestate`,
/// when it has one, is in `extra`.
#[repr(C)]
pub(crate) struct SpanState {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
    pub(crate) start: u64,
    /// Attributes from `fields(...)` and labels, allocated only for a
    /// sampled span that records any; and the `tracestate` of a trace that
    /// has one.
    pub(crate) extra: Option<Box<SpanExtra>>,
    pub(crate) callsite: &'static Callsite,
    /// The label combination, a mixed-radix number over the label sets.
    pub(crate) labels: u32,
    /// The parent's W3C flags ([`SAMPLED`], [`RANDOM`]).
    pub(crate) parent_flags: u8,
    pub(crate) parent_remote: bool,
    /// The span's own W3C flags: sampled, and the trace's random flag.
    pub(crate) flags: u8,
    pub(crate) entered: Entered,
}

/// Whether a span made itself current when it started ([`start_entered`]),
/// and so restores its parent as the current context when it ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entered {
    /// Not current, or current only through `enter` guards.
    No,
    /// Current since it started; the parent had no trace id.
    OverNoTrace,
    /// Current since it started; the parent is in the span's trace.
    OverParent,
}

const _: () = assert!(std::mem::size_of::<SpanState>() == 64);

/// The rarely present parts of a span, behind one pointer: attributes from
/// `fields(...)` and labels, what an error or a panic records, and the
/// trace's `tracestate`.
#[derive(Default)]
pub(crate) struct SpanExtra {
    /// The `tracestate` of the span's trace, as it arrived with the remote
    /// parent: what `enter` makes current with the span, and what is
    /// exported with it.
    pub(crate) trace_state: TraceState,
    pub(crate) attributes: Vec<KeyValue>,
    /// `error.type`, for `Error` and `Panic`.
    pub(crate) error_type: &'static str,
    /// The status description, for `Error` and `Panic`.
    pub(crate) message: Option<Box<str>>,
    /// Contexts this span is linked to (a message's producer, each message
    /// of a batch).
    pub(crate) links: Vec<SpanContext>,
    /// Attributes and links left out by the span limits.
    pub(crate) dropped_attributes: u32,
    pub(crate) dropped_links: u32,
    /// Something was cut or left out by the span limits.
    pub(crate) truncated: bool,
}

impl SpanExtra {
    /// Nothing beyond the record's own fields.
    pub(crate) const EMPTY: SpanExtra = SpanExtra {
        trace_state: TraceState::NONE,
        attributes: Vec::new(),
        error_type: "",
        message: None,
        links: Vec::new(),
        dropped_attributes: 0,
        dropped_links: 0,
        truncated: false,
    };
}

impl Entered {
    /// How a span entered over `parent` ends.
    #[inline(always)]
    fn over(parent: Ids) -> Entered {
        if parent.trace_id != 0 {
            Entered::OverParent
        } else {
            Entered::OverNoTrace
        }
    }
}

impl SpanState {
    #[inline(always)]
    fn new(
        callsite: &'static Callsite,
        parent: Ids,
        (trace_id, span_id, flags): (u128, u64, u8),
        start: u64,
        entered: Entered,
    ) -> SpanState {
        SpanState {
            callsite,
            trace_id,
            span_id,
            parent_span_id: parent.span_id,
            start,
            extra: None,
            labels: 0,
            flags,
            parent_remote: parent.remote,
            parent_flags: parent.flags,
            entered,
        }
    }

    /// Whether the span is exported.
    #[inline(always)]
    pub(crate) fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    #[inline(always)]
    fn ids(&self) -> Ids {
        Ids {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags,
            remote: false,
        }
    }

    /// The `tracestate` of the span's trace: in `extra` for a span that is
    /// not entered (it makes its state current on each `enter`); for an
    /// entered span, the thread's current one, which stays the span's trace's
    /// while the span is current.
    fn trace_state(&self) -> TraceState {
        match &self.extra {
            Some(extra) if !extra.trace_state.is_empty() => extra.trace_state.clone(),
            _ if self.entered != Entered::No => state::with_local(|local| {
                if local.current.get().trace_id == self.trace_id {
                    context::current_trace_state(local)
                } else {
                    TraceState::NONE
                }
            }),
            _ => TraceState::NONE,
        }
    }

    /// An entered span about to be exported takes its trace's `tracestate`
    /// from the thread, where its parent, back in place, holds it.
    #[inline(always)]
    fn keep_entered_trace_state(&mut self, local: &state::Local) {
        if self.entered != Entered::No && !local.current_state.get().is_null() {
            keep_trace_state_of(self, local);
        }
    }

    #[inline]
    fn context(&self) -> SpanContext {
        self.ids().with_state(self.trace_state())
    }

    /// The span's ring record, ended at `end` with `outcome`.
    #[inline(always)]
    fn record(&self, outcome: OutcomeKind, end: u64, extra: Option<Box<SpanExtra>>) -> SpanRecord {
        SpanRecord::new(
            self.callsite,
            outcome,
            (self.parent_remote, self.flags & RANDOM != 0),
            (self.trace_id, self.span_id, self.parent_span_id),
            self.start,
            end,
            extra,
        )
    }

    /// Puts the parent back as the current context if the span made itself
    /// current when it started. Over a parent of its own trace, only the
    /// span id and flags are written: while the span runs, the current
    /// context's trace is the span's, which is the parent's.
    #[inline(always)]
    fn restore_parent(&self, local: &state::Local) {
        match self.entered {
            Entered::No => {}
            Entered::OverParent => {
                let current = local.current.as_ptr();
                // SAFETY: this thread's cell, and no reference into it is
                // alive (`Cell` hands none out).
                unsafe {
                    (*current).span_id = self.parent_span_id;
                    (*current).flags = self.parent_flags;
                    (*current).remote = self.parent_remote;
                }
            }
            Entered::OverNoTrace => local.current.set(Ids {
                trace_id: 0,
                span_id: self.parent_span_id,
                flags: self.parent_flags,
                remote: self.parent_remote,
            }),
        }
    }
}

/// A finished, sampled span waiting for export: 64 bytes, one ring slot,
/// written in place by the calling thread. What only errors, panics,
/// `fields(...)` and a `tracestate` have is behind `extra`; the outcome, the
/// parent's remote flag and the trace's random flag ride in the low bits of
/// the callsite pointer.
///
/// `repr(C)`, in the order of [`SpanState`]'s first 48 bytes.
#[repr(C)]
pub(crate) struct SpanRecord {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    /// `0` for a root span.
    pub(crate) parent_span_id: u64,
    pub(crate) start: u64,
    pub(crate) extra: Option<Box<SpanExtra>>,
    /// The callsite's address, with the outcome in bits 0-1, "the parent
    /// is remote" in bit 2 and "the trace id is random" in bit 3 (a
    /// `Callsite` is aligned to 16).
    tagged: *const Callsite,
    pub(crate) end: u64,
}

const _: () = assert!(std::mem::align_of::<Callsite>() >= 16);
const _: () = assert!(std::mem::size_of::<SpanRecord>() == 64);

// SAFETY: `tagged` points to a `'static` `Callsite`, which is `Sync`; the rest
// is owned data.
unsafe impl Send for SpanRecord {}

const TAG_MASK: usize = 0b1111;
const REMOTE_PARENT: usize = 0b100;
const RANDOM_TRACE: usize = 0b1000;

impl SpanRecord {
    #[inline(always)]
    pub(crate) fn new(
        callsite: &'static Callsite,
        outcome: OutcomeKind,
        (parent_remote, random): (bool, bool),
        ids: (u128, u64, u64),
        start: u64,
        end: u64,
        extra: Option<Box<SpanExtra>>,
    ) -> SpanRecord {
        let tag = outcome as usize
            | if parent_remote { REMOTE_PARENT } else { 0 }
            | if random { RANDOM_TRACE } else { 0 };
        let (trace_id, span_id, parent_span_id) = ids;
        SpanRecord {
            tagged: (callsite as *const Callsite).map_addr(|addr| addr | tag),
            trace_id,
            span_id,
            parent_span_id,
            start,
            end,
            extra,
        }
    }

    pub(crate) fn callsite(&self) -> &'static Callsite {
        // SAFETY: `tagged` is a `&'static Callsite` with tag bits set in its
        // alignment's low bits; clearing them gives back the reference.
        unsafe { &*self.tagged.map_addr(|addr| addr & !TAG_MASK) }
    }

    pub(crate) fn outcome(&self) -> OutcomeKind {
        match self.tagged.addr() & 0b11 {
            0 => OutcomeKind::Ok,
            1 => OutcomeKind::Error,
            2 => OutcomeKind::Panic,
            _ => OutcomeKind::Cancelled,
        }
    }

    pub(crate) fn parent_remote(&self) -> bool {
        self.tagged.addr() & REMOTE_PARENT != 0
    }

    /// Whether the trace id is random (W3C level 2's random flag).
    pub(crate) fn random(&self) -> bool {
        self.tagged.addr() & RANDOM_TRACE != 0
    }

    /// [`SpanRecord::bytes`] for a record that holds anything on the heap,
    /// 0 for one that is all in its ring slot.
    pub(crate) fn held_bytes(&self) -> usize {
        if self.extra.is_none() {
            0
        } else {
            self.bytes()
        }
    }

    /// What the record holds, in bytes: its slot and what `extra` owns
    /// (attribute strings, the message, links), for the export queue's byte
    /// cap. The `tracestate`, shared by the spans of a request, is not
    /// counted per span.
    pub(crate) fn bytes(&self) -> usize {
        let Some(extra) = &self.extra else {
            return std::mem::size_of::<SpanRecord>();
        };
        let value_bytes = |value: &Value| match value {
            Value::String(s) => s.as_str().len(),
            Value::Array(opentelemetry::Array::String(strings)) => {
                strings.iter().map(|s| s.as_str().len()).sum()
            }
            _ => 0,
        };
        let attributes: usize = extra
            .attributes
            .iter()
            .map(|kv| {
                std::mem::size_of::<KeyValue>() + kv.key.as_str().len() + value_bytes(&kv.value)
            })
            .sum();
        std::mem::size_of::<SpanRecord>()
            + std::mem::size_of::<SpanExtra>()
            + attributes
            + extra.message.as_ref().map_or(0, |m| m.len())
            + extra.links.len() * std::mem::size_of::<SpanContext>()
    }
}

/// Starts a span for `callsite` as a child of the current span (or a new root).
#[inline(always)]
pub fn start(callsite: &'static Callsite) -> ActiveSpan {
    if !state::enabled() {
        return ActiveSpan { inner: None };
    }
    start_in_current(callsite)
}

/// Starts a span for `callsite` as a child of the current span and makes it
/// the current span until it ends, in the same thread-local access: what a
/// synchronous observed call does. Its end (or its drop, on a panic) puts the
/// parent back.
#[inline(always)]
pub fn start_entered(callsite: &'static Callsite) -> ActiveSpan {
    if !state::enabled() {
        return ActiveSpan { inner: None };
    }
    let mut span = MaybeUninit::uninit();
    start_entered_in_current(callsite, &mut span);
    // SAFETY: `start_entered_in_current` and `start_entered_slow` write the
    // whole span on every path, and always an active one: telling the
    // compiler so drops the observed function's `is_active` check.
    unsafe {
        let span: ActiveSpan = span.assume_init();
        std::hint::assert_unchecked(span.inner.is_some());
        span
    }
}

/// Starts a span for `callsite` as a child of `parent` (used for remote parents
/// extracted from message headers).
#[inline]
pub fn start_with_parent(callsite: &'static Callsite, parent: SpanContext) -> ActiveSpan {
    if !state::enabled() {
        return ActiveSpan { inner: None };
    }
    state::with_local(|local| {
        let mut state = start_in(callsite, parent.ids(), local, Entered::No);
        if !parent.trace_state.is_empty() && parent.trace_id != 0 {
            carry_trace_state(&mut state, parent.trace_state);
        }
        ActiveSpan { inner: Some(state) }
    })
}

/// The current span, the ids and the clock, with one thread-local access.
#[inline(never)]
fn start_in_current(callsite: &'static Callsite) -> ActiveSpan {
    state::with_local(|local| {
        let mut state = start_in(callsite, local.current.get(), local, Entered::No);
        if !local.current_state.get().is_null() {
            carry_trace_state(&mut state, context::current_trace_state(local));
        }
        ActiveSpan { inner: Some(state) }
    })
}

/// Keeps the trace's `tracestate` with a span whose trace has one: only
/// such spans pay for it.
#[cold]
#[inline(never)]
fn carry_trace_state(state: &mut SpanState, trace_state: TraceState) {
    state.extra.get_or_insert_with(Box::default).trace_state = trace_state;
}

#[cold]
#[inline(never)]
fn keep_trace_state_of(state: &mut SpanState, local: &state::Local) {
    if local.current.get().trace_id == state.trace_id {
        carry_trace_state(state, context::current_trace_state(local));
    }
}

/// A synchronous call's start: ids, sampling, the clock, and the span made
/// current. Written into the caller's frame through `out` rather than
/// returned, so that anything rare (the thread's first id, a clock other
/// than the TSC) leaves through a tail call to [`start_entered_slow`] and the
/// common case spills nothing.
#[inline(never)]
fn start_entered_in_current(callsite: &'static Callsite, out: &mut MaybeUninit<ActiveSpan>) {
    let local = state::local();
    // One compare for the thread's first span (its bound is `0` until then)
    // and for a callsite the thread's running table does not hold yet.
    let index = callsite.index_if_registered() as usize;
    if index >= local.started_fast_len.get() {
        return start_entered_slow(callsite, out);
    }
    // SAFETY: `started_fast_len` is `started_len` or `0`.
    unsafe { running::bump_unchecked(local, index, 1) };
    let hot = state::hot();
    let rng = local.rng.get();
    // Only the parent's trace id before the ids are drawn, the rest after:
    // fewer values held across the multiplications, so no register has to
    // be saved.
    // SAFETY: this thread's cell; no reference into it is alive.
    let parent_trace_id = unsafe { (*local.current.as_ptr()).trace_id };
    let (rng, ids) = if parent_trace_id != 0 {
        child_or_root(hot, local.current.get(), rng)
    } else {
        child_or_root(hot, Ids::NONE, rng)
    };
    local.rng.set(rng);
    let parent = local.current.get();
    let state = SpanState::new(callsite, parent, ids, 0, Entered::over(parent));
    // The ids only: within the parent's trace the current `tracestate`
    // stays as it is (and is the span's, read at its end if it is
    // exported), and a root span has none.
    local.current.set(state.ids());
    let span = out.write(ActiveSpan { inner: Some(state) });
    // The clock last, after everything else is stored: the measured time
    // leaves out the start's own work, and the state is not held in
    // registers across `rdtsc` (which would need callee-saved ones).
    if let Some(state) = &mut span.inner {
        state.start = clock::tsc();
    }
}

/// [`start_entered_in_current`] for the thread's first synchronous span
/// (the generator is seeded then, and the clock decision copied) and for a
/// clock that is not the TSC.
#[cold]
#[inline(never)]
fn start_entered_slow(callsite: &'static Callsite, out: &mut MaybeUninit<ActiveSpan>) {
    let local = state::local();
    take_clock_decision(local, state::hot());
    let parent = local.current.get();
    let state = start_in(callsite, parent, local, Entered::over(parent));
    local.current.set(state.ids());
    out.write(ActiveSpan { inner: Some(state) });
}

/// Copies the process's "the hot path reads the TSC" into this thread's
/// block (a clock other than the TSC leaves it `false`, and every call on
/// the portable path), with the synchronous start's and the success's
/// bounds that depend on it.
#[cold]
#[inline(never)]
fn take_clock_decision(local: &state::Local, hot: &state::Hot) {
    local.tsc.set(hot.direct_tsc());
    running::republish(local);
    histogram::republish(local);
}

#[inline(always)]
fn start_in(
    callsite: &'static Callsite,
    parent: Ids,
    local: &state::Local,
    entered: Entered,
) -> SpanState {
    let hot = state::hot();
    if !local.tsc.get() && hot.direct_tsc() {
        // The thread's first span of any kind takes the clock decision, so
        // that a thread running only futures ends them on `finish_ok`'s
        // path too, not the portable one.
        take_clock_decision(local, hot);
    }
    running::started(local, callsite);
    let (rng, ids) = child_or_root(hot, parent, ids::seeded(local));
    local.rng.set(rng);
    SpanState::new(callsite, parent, ids, clock::raw_with(hot), entered)
}

/// A new span's trace id, span id and flags, as a child of `parent` or,
/// when it has no trace, as a new root; and the id generator's next state.
///
/// A child keeps the parent's random flag: W3C Trace Context level 2,
/// "Random Trace ID Flag", has it propagated unchanged within a trace. A
/// root sets it, since observe's trace ids are random in all 16 bytes.
#[inline(always)]
fn child_or_root(hot: &state::Hot, parent: Ids, rng: u64) -> (u64, (u128, u64, u8)) {
    if parent.trace_id != 0 {
        let (rng, span_id) = ids::span_id_from(rng);
        (rng, (parent.trace_id, span_id, hot.child_flags(parent)))
    } else {
        let (rng, trace_id, span_id) = ids::root_ids_from(rng);
        let flags = u8::from(hot.sample_root(trace_id)) | RANDOM;
        (rng, (trace_id, span_id, flags))
    }
}

impl ActiveSpan {
    /// `true` when the span will be exported, so its attributes are worth
    /// computing.
    #[inline]
    pub fn is_recording(&self) -> bool {
        matches!(&self.inner, Some(s) if s.sampled())
    }

    /// The span's context, or [`SpanContext::NONE`] when the runtime is off.
    #[inline]
    pub fn context(&self) -> SpanContext {
        self.inner
            .as_ref()
            .map_or(SpanContext::NONE, SpanState::context)
    }

    /// Records an attribute (only kept when the span is recording), within
    /// the span limits: past the attribute count it is left out, and a
    /// string longer than the value length limit is cut.
    pub fn set_attribute(&mut self, key: &'static str, value: Value) {
        if let Some(state) = &mut self.inner {
            if state.sampled() {
                let extra = state.extra.get_or_insert_with(Box::default);
                if extra.attributes.len() >= limits::attribute_count() {
                    extra.dropped_attributes += 1;
                    extra.truncated = true;
                    return;
                }
                let (value, cut) = limits::value(value);
                extra.truncated |= cut;
                extra.attributes.push(KeyValue::new(key, value));
            }
        }
    }

    /// Links this span to `context` (only kept when the span is recording
    /// and `context` is valid).
    pub fn add_link(&mut self, context: SpanContext) {
        if let Some(state) = &mut self.inner {
            if state.sampled() && context.is_valid() {
                let extra = state.extra.get_or_insert_with(Box::default);
                if extra.links.len() >= limits::link_count() {
                    extra.dropped_links += 1;
                    extra.truncated = true;
                    return;
                }
                extra.links.push(context);
            }
        }
    }

    /// `true` when the runtime is on, so labels are worth computing.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.inner.is_some()
    }

    /// Sets the call's metric labels: one `(index, value set)` per label, in
    /// the order of `Metric::labels`.
    #[inline]
    pub fn set_labels(&mut self, labels: &[LabelSlot]) {
        if let Some(state) = &mut self.inner {
            let callsite = state.callsite;
            callsite
                .label_sets
                .get_or_init(|| labels.iter().map(|(_, set)| *set).collect());
            let combination = labels.iter().fold(0_usize, |acc, (index, set)| {
                acc.wrapping_mul(set.len()).wrapping_add(*index)
            });
            state.labels = u32::try_from(combination).unwrap_or(u32::MAX);
        }
    }

    /// Makes this span current on this thread until the guard drops.
    #[inline]
    pub fn enter(&self) -> Option<ContextGuard> {
        self.inner.as_ref().map(|s| s.context().attach())
    }

    /// Ends the span with the call's outcome and observes the histogram.
    ///
    /// A success is one out-of-line call: the clock, the parent put back,
    /// the histogram shard found through the thread's cache, and a sampled
    /// span's ring record. Errors, panics and every first time are further
    /// out of line.
    /// Takes `&mut self` rather than `self`, so the state is read where the
    /// caller's frame holds it instead of being copied; the span is empty
    /// afterwards and its `Drop` does nothing.
    #[inline(always)]
    pub fn finish(&mut self, outcome: Outcome<'_>) {
        if let Some(state) = &mut self.inner {
            match outcome {
                Outcome::Ok => finish_ok(state),
                Outcome::Err { error_type, error } => finish_err(state, error_type, error),
            }
            // `end` moved `extra` out: nothing is left to drop.
            std::mem::forget(self.inner.take());
        }
    }
}

/// A success: one call per observed function, with the clock, the parent
/// put back and the histogram inside it.
///
/// Out of line on purpose. Inlining it and the start into every observed
/// function took 4 to 8 ns off a sampled call but doubled the optimised
/// build time of a crate with 500 observed functions and added 1 ns before
/// `init` (BENCHMARKS.md, "Inlining the success path").
///
/// Whatever comes after the histogram, or instead of its cached shard, is a
/// tail call, so the unsampled path spills nothing and saves only the
/// registers its own work needs (one, with rustc 1.95).
#[inline(never)]
fn finish_ok(state: &mut SpanState) {
    let local = state::local();
    let end = clock::tsc();
    state.restore_parent(local);
    // A callsite without a histogram never has a cached shard, and a thread
    // whose clock is not the TSC finds none, so one lookup tells all three
    // apart.
    let Some(shard) = histogram::cached_shard::<true>(local, state.callsite, state.labels) else {
        return finish_ok_uncached(state, end);
    };
    let exemplar = shard.count(histogram::duration_ticks(state.start, end));
    if state.sampled() {
        // The exemplar is written there too: what only a sampled call
        // holds stays out of this function's registers.
        return submit_ok(state, end, Some(exemplar));
    }
    if state.extra.is_some() {
        // An unsampled span's `extra` holds only its trace's `tracestate`.
        discard_extra(state);
    }
}

#[cold]
#[inline(never)]
fn discard_extra(state: &mut SpanState) {
    state.extra = None;
}

/// [`finish_ok`] after the parent is back, when the histogram's shard is not
/// in the thread's cache: every success of a callsite without a histogram
/// (its end is counted for the calls in flight instead), a callsite's
/// first success on this thread, or a new label combination, and every
/// success on a thread whose clock is not the TSC.
#[inline(never)]
fn finish_ok_uncached(state: &mut SpanState, end: u64) {
    // `finish_ok` read the TSC; elsewhere on x86_64 the clock is another
    // one (on other targets `clock::tsc` read that one already).
    let end = if cfg!(target_arch = "x86_64") && !state::local().tsc.get() {
        clock::raw()
    } else {
        end
    };
    if state.callsite.metric.is_some() {
        return end_after_parent(state, OutcomeKind::Ok, "", None, end);
    }
    running::ended_unmeasured(state::local(), state.callsite);
    if state.sampled() {
        return submit_ok(state, end, None);
    }
    if state.extra.is_some() {
        discard_extra(state);
    }
}

/// A sampled success: its histogram bucket's exemplar, and its record,
/// written into the thread's export ring in place. A thread without a ring
/// yet, a full ring and waking the drain thread are tail calls, so this
/// spills nothing either.
#[inline(never)]
fn submit_ok(state: &mut SpanState, end: u64, exemplar: Option<&ExemplarSlot>) {
    if let Some(exemplar) = exemplar {
        let ticks = histogram::duration_ticks(state.start, end);
        exemplar.write(state.trace_id, state.span_id, ticks, end);
    }
    let local = state::local();
    // One test for both: neither pointer is set on the common path.
    let extra = state
        .extra
        .as_deref()
        .map_or(0, |extra| extra as *const SpanExtra as usize);
    if (local.current_state.get() as usize) | extra != 0 {
        // A trace with a `tracestate`: it goes into the record, out of line.
        // Attributes: their bytes count against the rings' byte cap.
        return submit_ok_slow(state, end);
    }
    // `extra` is `None` here: a span with attributes took the slow path.
    let pushed = ring::push_with(local, || state.record(OutcomeKind::Ok, end, None));
    match pushed {
        ring::Pushed::Done => {}
        ring::Pushed::Wake => ring::wake_drainer(),
        ring::Pushed::NoRoom => submit_ok_slow(state, end),
    }
}

/// [`submit_ok`] for a thread without a ring, or with a full one, for a
/// span in a trace with a `tracestate`, and for one with attributes.
#[cold]
#[inline(never)]
fn submit_ok_slow(state: &mut SpanState, end: u64) {
    state.keep_entered_trace_state(state::local());
    let extra = state.extra.take();
    ring::submit(state.record(OutcomeKind::Ok, end, extra));
}

#[cold]
#[inline(never)]
fn finish_err(state: &mut SpanState, error_type: &'static str, error: ErrorRef<'_>) {
    let failure = state.callsite.log_failures && failure::enabled();
    let message = (failure || state.sampled()).then(|| error.to_string());
    if let (true, Some(message)) = (failure, &message) {
        failure::record(
            state.context(),
            state.callsite.name,
            error_type,
            message,
            false,
        );
    }
    let message = message
        .filter(|_| state.sampled())
        .map(String::into_boxed_str);
    end(state, OutcomeKind::Error, error_type, message);
}

impl ActiveSpan {
    /// Ends the span as an error that is a status by itself, such as an
    /// HTTP 5xx answer: ERROR with `error_type`, no message and no
    /// exception event.
    #[cfg(any(feature = "tower", feature = "reqwest", feature = "tonic"))]
    pub(crate) fn finish_error_status(&mut self, error_type: &'static str) {
        if let Some(state) = &mut self.inner {
            end(state, OutcomeKind::Error, error_type, None);
            std::mem::forget(self.inner.take());
        }
    }

    /// Ends the span as panicked once the panic was caught: outside the
    /// unwinding, so `Drop` would take it for a cancellation. The message is
    /// the one the panic hook kept.
    #[cfg(any(feature = "tower", feature = "tonic"))]
    pub(crate) fn finish_panicked(&mut self) {
        if let Some(state) = &mut self.inner {
            end_panicked(state);
            std::mem::forget(self.inner.take());
        }
    }
}

impl Drop for ActiveSpan {
    #[inline(always)]
    fn drop(&mut self) {
        // Reached only when `finish` was not called: the call unwound or its
        // future was dropped before completing.
        if let Some(state) = &mut self.inner {
            end_unfinished(state);
        }
    }
}

#[cold]
#[inline(never)]
fn end_unfinished(state: &mut SpanState) {
    if std::thread::panicking() {
        end_panicked(state);
    } else {
        end(state, OutcomeKind::Cancelled, "", None);
    }
}

/// A panic's end, while unwinding or once caught: the failure record and
/// the span with the message the panic hook kept.
#[cold]
fn end_panicked(state: &mut SpanState) {
    let failure = state.callsite.log_failures && failure::enabled();
    let message = (failure || state.sampled()).then(panic_message);
    if let (true, Some(message)) = (failure, &message) {
        failure::record(state.context(), state.callsite.name, "panic", message, true);
    }
    let message = message.filter(|_| state.sampled());
    end(state, OutcomeKind::Panic, "panic", message);
}

fn panic_message() -> Box<str> {
    state::take_panic_message()
        .unwrap_or_else(|| "panicked".into())
        .into_boxed_str()
}

/// Ends the span: the clock, the parent put back as the current context if
/// the span was entered, the histogram, and the ring if sampled. Only the
/// state's `extra` is moved out; the caller forgets the rest.
#[inline(always)]
fn end(
    state: &mut SpanState,
    outcome: OutcomeKind,
    error_type: &'static str,
    message: Option<Box<str>>,
) {
    let end = clock::raw();
    state.restore_parent(state::local());
    end_after_parent(state, outcome, error_type, message, end);
}

/// [`end`] once the clock is read and the parent is back.
#[inline(always)]
fn end_after_parent(
    state: &mut SpanState,
    outcome: OutcomeKind,
    error_type: &'static str,
    message: Option<Box<str>>,
    end: u64,
) {
    let callsite = state.callsite;
    if let Some(metric) = callsite.metric {
        histogram::observe(callsite, metric, state, outcome, error_type, end);
    } else {
        running::ended_unmeasured(state::local(), callsite);
    }
    if !state.sampled() {
        state.extra = None;
        return;
    }
    state.keep_entered_trace_state(state::local());
    let mut extra = state.extra.take();
    if !error_type.is_empty() || message.is_some() {
        let extra = extra.get_or_insert_with(Box::default);
        extra.error_type = error_type;
        extra.message = message.map(|message| {
            let (message, cut) = limits::message(message);
            extra.truncated |= cut;
            message
        });
    }
    ring::submit(state.record(outcome, end, extra));
}

/// Polls a future with its span current on every poll, and hands the span back
/// with the output so the caller can classify the output where its type is
/// known.
///
/// Dropped before completion, it ends the span as `cancelled` (or `panic` while
/// unwinding).
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    span: Option<ActiveSpan>,
    inner: F,
}

impl<F: Future> Instrumented<F> {
    /// Wraps `inner`.
    pub fn new(span: ActiveSpan, inner: F) -> Self {
        Instrumented {
            span: Some(span),
            inner,
        }
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = (F::Output, ActiveSpan);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `span` is
        // not pinned (it is moved out once, on completion).
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.span.as_ref().and_then(ActiveSpan::enter);
        match unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx) {
            Poll::Ready(output) => {
                let span = this.span.take().unwrap_or(ActiveSpan { inner: None });
                Poll::Ready((output, span))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hot::callsite::{Metric, SpanKind};
    use crate::hot::running;

    static METRIC: Metric = Metric::latency(&[]);
    static PORTABLE: Callsite = Callsite::new(
        "Span.Portable",
        SpanKind::Internal,
        "portable",
        "observe_runtime::hot::span::tests",
        file!(),
        line!(),
        Some(&METRIC),
    );

    /// The successes `callsite`'s histogram counted, over every thread, and
    /// the sum of their durations in nanoseconds.
    fn successes(callsite: &'static Callsite) -> (u64, u64) {
        histogram::snapshot()
            .iter()
            .filter(|s| std::ptr::eq(s.callsite, callsite) && s.outcome == OutcomeKind::Ok)
            .fold((0, 0), |(calls, nanos), s| {
                (
                    calls + s.totals.counts.iter().sum::<u64>(),
                    nanos + clock::delta_nanos(0, s.totals.sum_ticks),
                )
            })
    }

    /// A thread that decided not to read the TSC (the process's clock is
    /// another one) finds no cached shard on the success's one compare and
    /// ends on the other clock: every call counted once, with its duration,
    /// and none left running.
    #[test]
    fn a_thread_whose_clock_is_not_the_tsc_ends_its_successes_on_the_other_clock() {
        state::set_enabled(true);
        let direct = state::hot().direct_tsc();
        state::set_direct_tsc(false);
        std::thread::spawn(|| {
            for _ in 0..3 {
                let mut span = start_entered(&PORTABLE);
                std::thread::sleep(std::time::Duration::from_millis(2));
                span.finish(Outcome::Ok);
            }
            let local = state::local();
            assert!(!local.tsc.get(), "the thread took the portable clock");
            assert_eq!(local.shards_fast_len.get(), 0, "no success's fast path");
            assert!(local.shards_len.get() > 0, "its shards are cached");
            assert_eq!(local.current.get().trace_id, 0, "each parent put back");
        })
        .join()
        .expect("the calls end");
        state::set_direct_tsc(direct);
        let (calls, nanos) = successes(&PORTABLE);
        assert_eq!(calls, 3);
        assert!(
            (6_000_000..6_000_000_000).contains(&nanos),
            "three sleeps of 2 ms took {nanos} ns"
        );
        let running = running::in_flight()
            .into_iter()
            .find(|(callsite, _)| std::ptr::eq(*callsite, &PORTABLE))
            .map_or(0, |(_, n)| n);
        assert_eq!(running, 0, "every start ended");
    }
}
