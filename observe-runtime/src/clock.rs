//! Raw clock ticks on the hot path, converted to durations and wall-clock time
//! off it.
//!
//! `quanta` reads the TSC where it is invariant (~7 ns here) and falls back to
//! the monotonic clock elsewhere; `Instant::now()` costs ~18 ns on this machine.

use std::time::{Duration, SystemTime};

use once_cell::sync::Lazy;

static CLOCK: Lazy<quanta::Clock> = Lazy::new(quanta::Clock::new);

/// Wall-clock anchor taken once, so raw ticks can become `SystemTime`s.
static ANCHOR: Lazy<(SystemTime, u64)> = Lazy::new(|| (SystemTime::now(), CLOCK.raw()));

/// Calibrates the clock and takes the wall-clock anchor (done at `init`, so
/// the first observed call does not pay for it).
pub(crate) fn calibrate() {
    Lazy::force(&ANCHOR);
}

/// Raw ticks; only differences between two readings mean anything.
#[inline]
pub(crate) fn raw() -> u64 {
    CLOCK.raw()
}

/// Nanoseconds between two raw readings.
#[inline]
pub(crate) fn delta_nanos(start: u64, end: u64) -> u64 {
    CLOCK.delta_as_nanos(start, end)
}

/// The wall-clock time of a raw reading.
pub(crate) fn to_system_time(raw: u64) -> SystemTime {
    let (wall, anchor) = *ANCHOR;
    if raw >= anchor {
        wall + Duration::from_nanos(CLOCK.delta_as_nanos(anchor, raw))
    } else {
        wall - Duration::from_nanos(CLOCK.delta_as_nanos(raw, anchor))
    }
}
