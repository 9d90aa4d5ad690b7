//! One log event for each observed call that ends in `Err` or a panic, so
//! an operator searching logs for a trace id finds the failure even when
//! the function logged nothing (`Config::log_failures`, on by default).
//!
//! Only the error and panic paths come here: a call that succeeds does no
//! work for it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use super::context::SpanContext;

static ON: AtomicBool = AtomicBool::new(true);

/// Turns the failure event on or off for every observed function.
pub(crate) fn set_enabled(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

thread_local! {
    /// The span id current when this thread last logged at ERROR.
    static ERROR_LOGGED: Cell<u64> = const { Cell::new(0) };
}

/// The log layer saw an ERROR event inside the span `span_id`: its
/// failure needs no event of observe's own.
pub(crate) fn note_error_logged(span_id: u64) {
    let _ = ERROR_LOGGED.try_with(|logged| logged.set(span_id));
}

/// Writes `observe.failure` for the span `context`, at WARN for an `Err`
/// and at ERROR for a panic, with the span current so the event carries
/// its ids; nothing when the user already logged at ERROR inside it (on
/// this thread).
#[cold]
#[inline(never)]
pub(crate) fn record(
    context: SpanContext,
    span_name: &'static str,
    error_type: &str,
    message: &str,
    panic: bool,
) {
    let logged = ERROR_LOGGED
        .try_with(|logged| logged.replace(0))
        .unwrap_or(0);
    if logged == context.span_id {
        return;
    }
    let _current = context.attach();
    if panic {
        tracing::error!(
            target: "observe",
            { "error.type" = error_type, "error.message" = message, "span.name" = span_name },
            "observe.failure"
        );
    } else {
        tracing::warn!(
            target: "observe",
            { "error.type" = error_type, "error.message" = message, "span.name" = span_name },
            "observe.failure"
        );
    }
}
