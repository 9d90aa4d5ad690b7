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

/// The identity of a span: what logs, child spans and outgoing message headers
/// need to refer to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// W3C trace id; `0` means "no trace".
    pub trace_id: u128,
    /// W3C span id; `0` means "no span".
    pub span_id: u64,
    /// Whether the trace is sampled (the span is exported).
    pub sampled: bool,
    /// Whether this context came from another process (extracted from headers).
    pub remote: bool,
}

impl SpanContext {
    /// The empty context: no trace.
    pub const NONE: SpanContext = SpanContext {
        trace_id: 0,
        span_id: 0,
        sampled: false,
        remote: false,
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

    /// Makes this context current until the returned guard drops.
    ///
    /// Use it to continue a trace received from another process, or to run a
    /// piece of synchronous work under a context captured with [`current`].
    #[inline]
    pub fn attach(self) -> ContextGuard {
        ContextGuard {
            prev: state::with_local(|l| l.current.replace(self)),
            _not_send: PhantomData,
        }
    }
}

/// The context of the observed span running on this thread, or
/// [`SpanContext::NONE`] outside any observed call.
#[inline]
pub fn current() -> SpanContext {
    state::with_local(|l| l.current.get())
}

/// Restores the previously current context when dropped.
///
/// Not `Send`: the current context belongs to one thread.
#[must_use = "the context is current only while the guard lives"]
pub struct ContextGuard {
    prev: SpanContext,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        state::with_local(|l| l.current.set(self.prev));
    }
}

/// A future that runs under a fixed context on every poll.
///
/// Built by [`FutureExt::with_context`] / [`FutureExt::in_current_span`]; this
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
        let _guard = this.context.attach();
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

    /// Runs this future under the context current *now*, wherever it is polled.
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
        future.in_current_span(),
    ))
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
