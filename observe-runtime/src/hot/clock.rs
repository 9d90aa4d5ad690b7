//! Raw clock ticks on the hot path, converted to durations and wall-clock time
//! off it.
//!
//! `quanta` picks the source and calibrates it: the TSC where it is invariant,
//! the monotonic clock elsewhere. `quanta::Clock::raw` is an out-of-line call
//! behind a lazy static, so where quanta reads the TSC the hot path reads it
//! itself with an inlined `rdtsc` (the same value quanta would return), and
//! keeps quanta for the conversions. `Instant::now()` costs ~25 ns here, a TSC
//! read ~10 ns.

use std::time::{Duration, SystemTime};

use once_cell::sync::Lazy;

use super::state;

static CLOCK: Lazy<quanta::Clock> = Lazy::new(quanta::Clock::new);

/// Wall-clock anchor taken once, so raw ticks can become `SystemTime`s.
static ANCHOR: Lazy<(SystemTime, u64)> = Lazy::new(|| (SystemTime::now(), CLOCK.raw()));

/// [`ANCHOR`] in nanoseconds since the Unix epoch, for the OTLP encoder.
static ANCHOR_NANOS: Lazy<(u64, u64)> = Lazy::new(|| {
    let (wall, raw) = *ANCHOR;
    let since_epoch = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (
        u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
        raw,
    )
});

/// Calibrates the clock and takes the wall-clock anchor (done at `init`, so
/// the first observed call does not pay for it), and decides whether the hot
/// path may read the TSC itself.
pub(crate) fn calibrate() {
    Lazy::force(&ANCHOR);
    // Once: threads keep a copy of the decision (`state::Local::tsc`).
    static DECIDED: std::sync::Once = std::sync::Once::new();
    DECIDED.call_once(|| state::set_direct_tsc(quanta_reads_tsc()));
}

/// Whether `quanta::Clock::raw` returns the TSC: its reading falls between
/// two `rdtsc`s, every time. A monotonic clock in nanoseconds never does.
#[cfg(target_arch = "x86_64")]
fn quanta_reads_tsc() -> bool {
    (0..3).all(|_| {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no side effects.
        let before = unsafe { core::arch::x86_64::_rdtsc() };
        let raw = CLOCK.raw();
        // SAFETY: as above.
        let after = unsafe { core::arch::x86_64::_rdtsc() };
        before <= raw && raw <= after
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn quanta_reads_tsc() -> bool {
    false
}

/// Raw ticks; only differences between two readings mean anything.
#[inline(always)]
pub(crate) fn raw() -> u64 {
    raw_with(state::hot())
}

/// Raw ticks, with the switches already at hand.
#[inline(always)]
pub(crate) fn raw_with(hot: &state::Hot) -> u64 {
    if hot.direct_tsc() {
        return tsc();
    }
    raw_portable()
}

/// The TSC, for a path that has checked `Hot::direct_tsc` already.
#[inline(always)]
pub(crate) fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `rdtsc` exists on every x86_64 CPU and has no side effects;
    // quanta found the TSC invariant and reads it the same way.
    return unsafe { core::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    raw_portable()
}

#[inline(never)]
fn raw_portable() -> u64 {
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

/// Raw readings to Unix nanoseconds, for the OTLP encoder: the anchor
/// copied once, and quanta's scaling (a multiply and a shift by the shift
/// its calibration chose) as one multiply by a factor in 24.40 fixed point
/// and a constant shift, which gives the same nanoseconds to the unit.
pub(crate) struct UnixClock {
    wall: u64,
    anchor: u64,
    /// Nanoseconds per tick, times 2^40.
    scale: u64,
    /// quanta's clock, when the factor above does not reproduce it (a
    /// calibration shift past 40 bits, which quanta does not choose in
    /// practice).
    fallback: Option<quanta::Clock>,
}

/// The fixed-point shift of [`UnixClock::scale`].
const SCALE_SHIFT: u32 = 40;

impl UnixClock {
    pub(crate) fn new() -> UnixClock {
        let (wall, anchor) = *ANCHOR_NANOS;
        // quanta scales a delta d to `(d * factor) >> shift`; for a shift
        // up to 40 this is `(d * (factor << (40 - shift))) >> 40`, and
        // `factor << (40 - shift)` is what it gives for d = 2^40 (the plain
        // monotonic clock gives 2^40 itself: a factor of one).
        let scale = CLOCK.delta_as_nanos(0, 1 << SCALE_SHIFT);
        let probes = [
            1,
            999,
            1 << 20,
            (1 << 32) + 12_345,
            3_000_000_000_017,
            u64::MAX / 3,
        ];
        let exact = probes
            .iter()
            .all(|&d| scaled(d, scale) == CLOCK.delta_as_nanos(0, d));
        UnixClock {
            wall,
            anchor,
            scale,
            fallback: (!exact).then(|| CLOCK.clone()),
        }
    }

    /// Nanoseconds for `delta` ticks, as `delta_nanos` gives them.
    #[inline(always)]
    fn nanos(&self, delta: u64) -> u64 {
        match &self.fallback {
            None => scaled(delta, self.scale),
            Some(clock) => clock.delta_as_nanos(0, delta),
        }
    }

    /// The wall-clock time of a raw reading, in nanoseconds since the Unix
    /// epoch: what [`to_system_time`] gives, to the nanosecond.
    #[inline(always)]
    pub(crate) fn unix_nanos(&self, raw: u64) -> u64 {
        if raw >= self.anchor {
            self.wall.saturating_add(self.nanos(raw - self.anchor))
        } else {
            self.wall.saturating_sub(self.nanos(self.anchor - raw))
        }
    }
}

#[inline(always)]
fn scaled(delta: u64, scale: u64) -> u64 {
    ((u128::from(delta) * u128::from(scale)) >> SCALE_SHIFT) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn raw_readings_advance_and_convert() {
        super::calibrate();
        let start = super::raw();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let end = super::raw();
        let nanos = super::delta_nanos(start, end);
        assert!(nanos >= 2_000_000, "{nanos} ns for a 2 ms sleep");
        let wall = super::to_system_time(end)
            .duration_since(super::to_system_time(start))
            .expect("later reading, later time");
        assert!(wall >= std::time::Duration::from_millis(2));
    }

    /// The encoder's conversion gives the nanoseconds `to_system_time`
    /// gives, before and after the anchor, near it and far from it.
    #[test]
    fn unix_nanos_agree_with_to_system_time() {
        super::calibrate();
        let clock = super::UnixClock::new();
        let (_, anchor) = *super::ANCHOR;
        let now = super::raw();
        let readings = [
            anchor,
            anchor + 1,
            anchor - 1,
            now,
            now + 123_456_789,
            anchor.saturating_sub(987_654_321_012),
            now + (1 << 45),
        ];
        for raw in readings {
            let expected = super::to_system_time(raw)
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_nanos() as u64;
            assert_eq!(clock.unix_nanos(raw), expected, "reading {raw}");
        }
    }
}
