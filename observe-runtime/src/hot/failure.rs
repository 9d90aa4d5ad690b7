//! One log event for each observed call that ends in `Err` or a panic, so
//! an operator searching logs for a trace id finds the failure even when
//! the function logged nothing (`Config::log_failures`, on by default).
//!
//! Only the error and panic paths come here: a call that succeeds does no
//! work for it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::context::SpanContext;

static ON: AtomicBool = AtomicBool::new(true);

/// Turns the failure event on or off for every observed function.
pub(crate) fn set_enabled(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub(crate) fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Spans inside which an ERROR event was logged, by their id's low bits
/// (span ids are random): shared by every thread, so an async call that
/// logged on one worker and fails on another is still known. Two spans in
/// one slot keep only the later; the earlier's failure event is then
/// written although the user logged one (a duplicate, never a loss). Only
/// ERROR events and failures write here.
static ERROR_LOGGED: [AtomicU64; 1024] = [const { AtomicU64::new(0) }; 1024];

fn slot(span_id: u64) -> &'static AtomicU64 {
    &ERROR_LOGGED[span_id as usize % ERROR_LOGGED.len()]
}

/// The log layer saw an ERROR event inside the span `span_id`: its
/// failure needs no event of observe's own.
pub(crate) fn note_error_logged(span_id: u64) {
    if span_id != 0 {
        slot(span_id).store(span_id, Ordering::Relaxed);
    }
}

/// Writes `observe.failure` for the span `context`, at WARN for an `Err`
/// and at ERROR for a panic, with the span current so the event carries
/// its ids; nothing when the user already logged at ERROR inside it, on
/// whichever thread.
#[cold]
#[inline(never)]
pub(crate) fn record(
    context: SpanContext,
    span_name: &'static str,
    error_type: &str,
    message: &str,
    panic: bool,
) {
    let id = context.span_id;
    let logged = slot(id).compare_exchange(id, 0, Ordering::Relaxed, Ordering::Relaxed);
    if id != 0 && logged.is_ok() {
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
