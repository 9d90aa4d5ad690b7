//! The `tracestate` that arrived with each remote trace.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use opentelemetry::trace::TraceState;

/// The `tracestate` of each trace that arrived from another process, so that
/// what this process sends onward in the same trace, and the spans it
/// exports, carry it unchanged: W3C Trace Context asks a participant to pass
/// on the vendors' entries it does not own. Keyed by trace id, it needs no
/// plumbing through tasks and threads. Bounded: past
/// [`TRACE_STATES_MAX`] traces the oldest is forgotten.
#[derive(Default)]
struct TraceStates {
    by_trace: HashMap<u128, TraceState>,
    order: VecDeque<u128>,
}

pub(crate) const TRACE_STATES_MAX: usize = 4096;

static TRACE_STATES: Mutex<Option<TraceStates>> = Mutex::new(None);
/// How many traces have a state: `0` keeps lookups off the lock.
pub(crate) static TRACE_STATE_COUNT: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn remember(trace_id: u128, state: &TraceState) {
    let mut guard = TRACE_STATES.lock().unwrap_or_else(|e| e.into_inner());
    let states = guard.get_or_insert_with(TraceStates::default);
    if states.by_trace.insert(trace_id, state.clone()).is_none() {
        states.order.push_back(trace_id);
        while states.order.len() > TRACE_STATES_MAX {
            if let Some(oldest) = states.order.pop_front() {
                states.by_trace.remove(&oldest);
            }
        }
    }
    TRACE_STATE_COUNT.store(states.by_trace.len(), Ordering::Relaxed);
}

/// The `tracestate` that came in with `trace_id`, or none.
pub(crate) fn get(trace_id: u128) -> TraceState {
    if TRACE_STATE_COUNT.load(Ordering::Relaxed) == 0 {
        return TraceState::NONE;
    }
    TRACE_STATES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|states| states.by_trace.get(&trace_id).cloned())
        .unwrap_or(TraceState::NONE)
}
