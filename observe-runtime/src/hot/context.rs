//! The current observed span of this thread, and how it follows work across
//! `.await` points and into spawned tasks.
//!
//! The current span lives in a cell of the thread's `state::Local` block, plain
//! data. Entering a span swaps the cell and the guard swaps it back, so the
//! "stack" is the chain of guards on the call stack and costs no allocation.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::state;
use super::trace_state::TraceState;

/// W3C Trace Context, "Sampled flag": bit 0, the caller may have
/// recorded the trace.
pub(crate) const SAMPLED: u8 = 0x01;
/// W3C Trace Context level 2, "Random Trace ID Flag": bit 1, at
/// least the right-most 7 bytes of the trace id are random.
pub(crate) const RANDOM: u8 = 0x02;

/// The identity of a span: what logs, child spans and outgoing message headers
/// need to refer to it.
///
/// Cloning it is cheap: the ids are plain data and the
/// [`trace_state`](SpanContext::trace_state) is a reference count, or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// W3C trace id; `0` means "no trace".
    pub trace_id: u128,
    /// W3C span id; `0` means "no span".
    pub span_id: u64,
    /// Whether the trace is sampled (the span is exported).
    pub sampled: bool,
    /// W3C Trace Context level 2's random flag: the trace id's right-most 7
    /// bytes are random, so a sampler downstream may decide on them. Set on
    /// every trace observe starts, and passed on unchanged within a trace.
    pub random: bool,
    /// Whether this context came from another process (extracted from headers).
    pub remote: bool,
    /// The vendors' `tracestate` entries that came with the trace, passed on
    /// unchanged on every outgoing call in it and exported with its spans.
    pub trace_state: TraceState,
}

/// A context as the per-call path holds it: the ids and flags, plain data.
/// The `tracestate` sits beside it (in `state::Local::current_state`, in a
/// span's `extra`), since a call that does not carry one never touches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    /// [`SAMPLED`] and [`RANDOM`].
    pub(crate) flags: u8,
    pub(crate) remote: bool,
}

impl Ids {
    pub(crate) const NONE: Ids = Ids {
        trace_id: 0,
        span_id: 0,
        flags: 0,
        remote: false,
    };

    #[inline(always)]
    pub(crate) fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.trace_id != 0 && self.span_id != 0
    }

    /// The full context, with `trace_state`.
    pub(crate) fn with_state(self, trace_state: TraceState) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            sampled: self.flags & SAMPLED != 0,
            random: self.flags & RANDOM != 0,
            remote: self.remote,
            trace_state,
        }
    }
}

impl SpanContext {
    /// The empty context: no trace.
    pub const NONE: SpanContext = SpanContext {
        trace_id: 0,
        span_id: 0,
        sampled: false,
        random: false,
        remote: false,
        trace_state: TraceState::NONE,
    };

    /// `true` when this refers to a span.
    pub fn is_valid(&self) -> bool {
        self.trace_id != 0 && self.span_id != 0
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The W3C `trace-flags` byte: `0x01` sampled, `0x02` random.
    pub fn trace_flags(&self) -> u8 {
        self.flags()
    }

    fn flags(&self) -> u8 {
        (u8::from(self.sampled) * SAMPLED) | (u8::from(self.random) * RANDOM)
    }

    pub(crate) fn ids(&self) -> Ids {
        Ids {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags(),
            remote: self.remote,
        }
    }

    /// Makes this context current until the returned guard drops.
    ///
    /// Use it to continue a trace received from another process, or to run a
    /// piece of synchronous work under a context captured with [`current`].
    #[inline]
    pub fn attach(self) -> ContextGuard {
        let ids = self.ids();
        // Without a trace there is no state to pass on: the per-call path
        // relies on it (a new root span never looks at the state).
        let trace_state = if ids.trace_id == 0 {
            TraceState::NONE
        } else {
            self.trace_state
        };
        state::with_local(|l| ContextGuard {
            prev: l.current.replace(ids),
            prev_state: l.current_state.replace(trace_state.into_raw()),
            _not_send: PhantomData,
        })
    }
}

/// The context of the observed span running on this thread, or
/// [`SpanContext::NONE`] outside any observed call.
#[inline]
pub fn current() -> SpanContext {
    state::with_local(|l| {
        // SAFETY: the cell owns a reference to its state while it is set;
        // this takes one more.
        let trace_state = unsafe { TraceState::clone_raw(l.current_state.get()) };
        l.current.get().with_state(trace_state)
    })
}

/// The ids of the current context, without its `tracestate`: what logs and
/// the panic hook need.
#[inline]
pub(crate) fn current_ids() -> Ids {
    state::with_local(|l| l.current.get())
}

/// This thread's current `tracestate`, a new reference.
pub(crate) fn current_trace_state(local: &state::Local) -> TraceState {
    // SAFETY: as in `current`.
    unsafe { TraceState::clone_raw(local.current_state.get()) }
}

/// Restores the previously current context when dropped.
///
/// Not `Send`: the current context belongs to one thread.
#[must_use = "the context is current only while the guard lives"]
pub struct ContextGuard {
    prev: Ids,
    /// The previous state's reference, owned by the guard until it is put
    /// back.
    prev_state: *const (),
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        let mine = state::with_local(|l| {
            l.current.set(self.prev);
            l.current_state.replace(self.prev_state)
        });
        // SAFETY: the cell owned this reference; it is handed back once.
        drop(unsafe { TraceState::from_raw(mine) });
    }
}

/// A future that runs under a fixed context on every poll.
///
/// Built by [`FutureExt::with_context`] / [`FutureExt::with_current_context`]; this
/// is how a spawned task keeps the parent of the spans it creates.
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<F> {
    context: SpanContext,
    inner: F,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self` and `WithContext` has no `Drop` impl that could move it.
        let this = unsafe { self.get_unchecked_mut() };
        let _guard = this.context.clone().attach();
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// Carries the observe context into futures that run elsewhere.
pub trait FutureExt: Future + Sized {
    /// Runs this future under `context` on every poll.
    fn with_context(self, context: SpanContext) -> WithContext<Self> {
        WithContext {
            context,
            inner: self,
        }
    }

    /// Runs this future under the context current *now*, wherever it is
    /// polled: `tokio::spawn(child().with_current_context())`. The name is
    /// OpenTelemetry's, and no `tracing` trait has it, so importing
    /// `tracing::Instrument` cannot silently pick another method.
    fn with_current_context(self) -> WithContext<Self> {
        self.with_context(current())
    }

    /// The former name of [`with_current_context`](Self::with_current_context).
    /// With `tracing::Instrument` in scope, a call of this name may resolve
    /// to tracing's method, which carries a `tracing` span rather than this
    /// context.
    #[deprecated(
        since = "0.1.0",
        note = "use `with_current_context()`: with `tracing::Instrument` in scope, \
                `in_current_span()` may be tracing's method"
    )]
    fn in_current_span(self) -> WithContext<Self> {
        self.with_context(current())
    }
}

impl<F: Future> FutureExt for F {}

/// `tokio::spawn` that keeps the current observed span as the parent of the
/// spans the task creates, and the current [baggage](crate::baggage) current
/// in the task.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(super::baggage::WithBaggage::new(
        super::baggage::current(),
        future.with_current_context(),
    ))
}

/// `tokio::task::spawn_blocking` that keeps the current observed span as
/// the parent of the spans the closure creates, and the current
/// [baggage](crate::baggage) current while it runs.
pub fn spawn_blocking<F, T>(f: F) -> tokio::task::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let context = current();
    let baggage = super::baggage::current();
    tokio::task::spawn_blocking(move || {
        let _guard = context.attach();
        let _baggage = super::baggage::attach_arc(baggage);
        f()
    })
}

/// `std::thread::spawn` that keeps the current observed span as the parent of
/// the spans the thread creates, and the current [baggage](crate::baggage)
/// current on the thread.
pub fn spawn_thread<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let context = current();
    let baggage = super::baggage::current();
    std::thread::spawn(move || {
        let _guard = context.attach();
        let _baggage = super::baggage::attach_arc(baggage);
        f()
    })
}
