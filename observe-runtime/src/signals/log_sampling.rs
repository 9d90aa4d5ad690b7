//! Trace-aware sampling of log events, opt-in ([`LogSampling`]).
//!
//! The decision per event reads a few read-mostly atomics and this thread's
//! own table keyed by the callsite; nothing shared is written per event.
//! Suppressed events are counted on the thread, and handed to the shared
//! counter (`observe_log_events_suppressed_total{callsite}`) once per
//! interval, with one summary line.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use tracing::{Level, Metadata};

use crate::core::error::InitError;
use crate::core::health::health;
use crate::hot::clock;
use crate::hot::context::Ids;

/// Which log events are kept when a hot path logs more than the pipeline
/// should carry (`Config::log_sampling`, `OBSERVE_LOG_SAMPLING`).
///
/// - Events at or above [`always_keep`](LogSampling::always_keep) (WARN
///   by default) are always kept.
/// - Below it, an event inside a sampled trace is kept, so a sampled
///   trace keeps every line.
/// - The others are kept at [`ratio`](LogSampling::ratio), decided by
///   the trace id inside a trace (a trace's lines are kept or dropped
///   together), at random outside any trace; and of those, at most
///   [`burst`](LogSampling::burst) per callsite per
///   [`interval`](LogSampling::interval) on each thread (a token bucket),
///   so one hot line cannot flood the output.
///
/// Suppressed events are counted per callsite in
/// `observe_log_events_suppressed_total{callsite}`, and once per interval
/// the callsite's next event writes one summary line,
/// `log events suppressed by sampling`, with `callsite` and `suppressed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogSampling {
    always_keep: Level,
    ratio: f64,
    burst: u32,
    interval: Duration,
}

impl Default for LogSampling {
    /// WARN and above kept, 1 % of the rest outside sampled traces, at most
    /// 10 lines per callsite every 10 s on each thread.
    fn default() -> LogSampling {
        LogSampling {
            always_keep: Level::WARN,
            ratio: 0.01,
            burst: 10,
            interval: Duration::from_secs(10),
        }
    }
}

impl LogSampling {
    /// The defaults (see [`LogSampling::default`]).
    pub fn new() -> LogSampling {
        LogSampling::default()
    }

    /// Events at this level or more severe are always kept.
    pub fn always_keep(mut self, level: Level) -> Self {
        self.always_keep = level;
        self
    }

    /// The fraction (0.0 to 1.0, clamped) of events outside sampled traces
    /// kept, before the per-callsite limit.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    /// At most this many events outside sampled traces kept per callsite
    /// per interval, on each thread.
    pub fn burst(mut self, events: u32) -> Self {
        self.burst = events;
        self
    }

    /// The token bucket's refill period and the summaries' interval (at
    /// least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// `OBSERVE_LOG_SAMPLING`: `off`, `on` (the defaults), or
    /// comma-separated `key=value` members changing the defaults:
    /// `keep=warn` (`error`, `warn`, `info`, `debug`, `trace`),
    /// `ratio=0.01`, `burst=10`, `interval=10s` (`ms`, `s` or `m`).
    pub(crate) fn parse(var: &'static str, value: &str) -> Result<Option<LogSampling>, InitError> {
        let value = value.trim();
        match value {
            "off" => return Ok(None),
            "on" => return Ok(Some(LogSampling::default())),
            _ => {}
        }
        let mut sampling = LogSampling::default();
        for member in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let bad = |why: &str| InitError::invalid(var, member, why);
            let Some((key, arg)) = member.split_once('=') else {
                return Err(bad(
                    "expected `off`, `on`, or `keep=..`, `ratio=..`, `burst=..`, `interval=..` members",
                ));
            };
            let arg = arg.trim();
            match key.trim() {
                "keep" => {
                    sampling.always_keep = arg.parse::<Level>().map_err(|_| {
                        bad("expected a level: `error`, `warn`, `info`, `debug` or `trace`")
                    })?;
                }
                "ratio" => match arg.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => sampling.ratio = r,
                    _ => return Err(bad("expected a ratio from 0.0 to 1.0")),
                },
                "burst" => {
                    sampling.burst = arg
                        .parse::<u32>()
                        .map_err(|_| bad("expected a whole number of events"))?;
                }
                "interval" => {
                    let interval = parse_duration(arg)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("expected a duration such as `500ms`, `10s`, `1m`"))?;
                    sampling.interval = interval;
                }
                _ => {
                    return Err(bad(
                        "unknown key, expected `keep`, `ratio`, `burst` or `interval`",
                    ))
                }
            }
        }
        Ok(Some(sampling))
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The least severe level always kept, as `level_rank`.
static KEEP_RANK: AtomicU8 = AtomicU8::new(0);
/// An event is kept by ratio when its 64 random bits are below this.
static THRESHOLD: AtomicU64 = AtomicU64::new(0);
static BURST: AtomicU32 = AtomicU32::new(0);
static INTERVAL_NANOS: AtomicU64 = AtomicU64::new(0);
/// Bumped by every `configure`, so threads start their tables afresh.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// 0 for ERROR up to 4 for TRACE.
fn level_rank(level: Level) -> u8 {
    match level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// Turns sampling on with `sampling`, or off.
pub(crate) fn configure(sampling: Option<LogSampling>) {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    let Some(sampling) = sampling else {
        ENABLED.store(false, Ordering::Release);
        return;
    };
    KEEP_RANK.store(level_rank(sampling.always_keep), Ordering::Relaxed);
    let threshold = if sampling.ratio >= 1.0 {
        u64::MAX
    } else {
        (sampling.ratio * u64::MAX as f64) as u64
    };
    THRESHOLD.store(threshold, Ordering::Relaxed);
    BURST.store(sampling.burst, Ordering::Relaxed);
    INTERVAL_NANOS.store(
        u64::try_from(sampling.interval.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    ENABLED.store(true, Ordering::Release);
}

/// What the layer does with an event under sampling.
pub(crate) struct Decision {
    pub(crate) keep: bool,
    /// A summary to write first: this callsite's events suppressed on this
    /// thread since the last one.
    pub(crate) summary: Option<Summary>,
}

pub(crate) struct Summary {
    pub(crate) callsite: String,
    pub(crate) suppressed: u64,
}

/// `None` when sampling is off (one relaxed load).
#[inline]
pub(crate) fn decide(meta: &'static Metadata<'static>, ids: &Ids) -> Option<Decision> {
    if !ENABLED.load(Ordering::Acquire) {
        return None;
    }
    let keep = Decision {
        keep: true,
        summary: None,
    };
    if level_rank(*meta.level()) <= KEEP_RANK.load(Ordering::Relaxed)
        || (ids.is_valid() && ids.sampled())
    {
        return Some(keep);
    }
    Some(TABLE.with(|table| table.borrow_mut().decide(meta, ids)))
}

/// A hasher for the callsites' addresses: they are unique and aligned, so
/// a multiply spreads them well enough, at a fraction of SipHash's cost.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// One callsite's state on one thread.
struct Callsite {
    /// Tokens, in thousandths.
    tokens: u64,
    refilled: u64,
    window_start: u64,
    suppressed: u64,
}

/// This thread's callsites, and a generator for events outside any trace.
struct Table {
    generation: u32,
    callsites: HashMap<usize, Callsite, BuildHasherDefault<AddressHasher>>,
    random: u64,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        generation: u32::MAX,
        callsites: HashMap::default(),
        random: 0,
    });
}

impl Table {
    fn decide(&mut self, meta: &'static Metadata<'static>, ids: &Ids) -> Decision {
        let generation = GENERATION.load(Ordering::Relaxed);
        if self.generation != generation {
            self.generation = generation;
            self.callsites.clear();
        }
        let random = if ids.is_valid() {
            // The trace id's low bits are random (W3C level 2): the lines of
            // one unsampled trace are kept or dropped together.
            ids.trace_id as u64
        } else {
            self.next_random()
        };
        let now = clock::raw();
        let interval = INTERVAL_NANOS.load(Ordering::Relaxed);
        let burst = u64::from(BURST.load(Ordering::Relaxed)) * 1000;
        let callsite = self
            .callsites
            .entry(meta as *const Metadata<'static> as usize)
            .or_insert(Callsite {
                tokens: burst,
                refilled: now,
                window_start: now,
                suppressed: 0,
            });
        let mut keep = random < THRESHOLD.load(Ordering::Relaxed);
        if keep {
            // Refill `burst` tokens per interval, up to `burst`.
            let elapsed = clock::delta_nanos(callsite.refilled, now);
            let refill =
                (u128::from(elapsed) * u128::from(burst) / u128::from(interval.max(1))) as u64;
            if refill > 0 {
                callsite.tokens = (callsite.tokens + refill).min(burst);
                callsite.refilled = now;
            }
            keep = callsite.tokens >= 1000;
            if keep {
                callsite.tokens -= 1000;
            }
        }
        if !keep {
            callsite.suppressed += 1;
        }
        let mut summary = None;
        if callsite.suppressed > 0 && clock::delta_nanos(callsite.window_start, now) >= interval {
            let suppressed = std::mem::take(&mut callsite.suppressed);
            callsite.window_start = now;
            summary = Some(summary_of(meta, suppressed));
        }
        Decision { keep, summary }
    }

    /// xorshift64*, seeded from the thread's first use.
    fn next_random(&mut self) -> u64 {
        if self.random == 0 {
            self.random = (clock::raw() | 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        }
        let mut x = self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `target file:line`, the callsite's name in the summary and the counter.
fn callsite_name(meta: &Metadata<'_>) -> String {
    match (meta.file(), meta.line()) {
        (Some(file), Some(line)) => format!("{} {file}:{line}", meta.target()),
        _ => format!("{} {}", meta.target(), meta.name()),
    }
}

fn summary_of(meta: &Metadata<'_>, suppressed: u64) -> Summary {
    let callsite = callsite_name(meta);
    health()
        .log_events_suppressed
        .with_label_values(&[callsite.as_str()])
        .inc_by(suppressed);
    Summary {
        callsite,
        suppressed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_syntax() {
        const VAR: &str = "OBSERVE_LOG_SAMPLING";
        assert_eq!(LogSampling::parse(VAR, "off").unwrap(), None);
        assert_eq!(
            LogSampling::parse(VAR, "on").unwrap(),
            Some(LogSampling::default())
        );
        assert_eq!(
            LogSampling::parse(VAR, "keep=error, ratio=0.5,burst=3,interval=250ms").unwrap(),
            Some(
                LogSampling::new()
                    .always_keep(Level::ERROR)
                    .ratio(0.5)
                    .burst(3)
                    .interval(Duration::from_millis(250))
            )
        );
        assert_eq!(
            LogSampling::parse(VAR, "interval=2m")
                .unwrap()
                .unwrap()
                .interval,
            Duration::from_secs(120)
        );
        for bad in [
            "yes",
            "ratio=1.5",
            "ratio=x",
            "keep=loud",
            "burst=-1",
            "interval=10",
            "interval=0s",
            "interval=5h",
            "speed=3",
        ] {
            let error = LogSampling::parse(VAR, bad).unwrap_err().to_string();
            assert!(error.contains(VAR), "{bad}: {error}");
        }
    }
}
