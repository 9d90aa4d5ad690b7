//! Trace-aware sampling of log events, opt-in ([`LogSampling`]).
//!
//! The decision per event reads a few read-mostly atomics and this thread's
//! own table keyed by the callsite; nothing shared is written per event, and
//! an event the ratio suppresses reads no clock. Suppressed events are
//! counted on the thread, and handed to the shared counter
//! (`observe_log_events_suppressed_total{callsite}`) once per interval, with
//! one summary line, at the thread's first event after a tick of a coarse
//! clock (a thread that bumps a counter every sixteenth of the interval).
//! A thread that exits hands what it counted since to the counter at once,
//! and its summary lines to the next thread that logs.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
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
/// one summary line per callsite, `log events suppressed by sampling`, with
/// `callsite` and `suppressed`, is written before the next event on the
/// thread that suppressed them (of any callsite, kept or not), at most a
/// sixteenth of the interval (and 250 ms) after the interval ends. What a
/// thread suppressed before it exits is counted as it exits, and its
/// summary lines come before the next event of any thread (unless sampling
/// was reconfigured meanwhile).
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
/// A coarse clock: bumped by the ticker thread every sixteenth of the
/// interval (and by `configure`). A thread reads the TSC and looks for
/// summaries due only at its first event after a tick, so a suppressed
/// event reads no clock.
static TICK: AtomicU64 = AtomicU64::new(0);
/// Set when the ticker thread could not be started: every event then looks
/// for summaries due, reading the TSC.
static NO_TICKER: AtomicBool = AtomicBool::new(false);

/// Summaries of threads that exited, with the [`GENERATION`] they were
/// counted under, for the next thread that logs to write.
static ORPHANS: Mutex<Vec<(u32, Summary)>> = Mutex::new(Vec::new());
/// Whether [`ORPHANS`] holds any: a thread looks at the lock only then.
static ORPHANED: AtomicBool = AtomicBool::new(false);

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
        TICK.fetch_add(1, Ordering::Release);
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
    // Every thread passes through `Table::on_tick` at its next event, and
    // sees the new generation there.
    TICK.fetch_add(1, Ordering::Release);
    start_ticker();
}

/// The ticker's period: a sixteenth of the interval, from 1 ms to 250 ms,
/// so a summary comes at most that late.
fn tick_period() -> Duration {
    let interval = Duration::from_nanos(INTERVAL_NANOS.load(Ordering::Relaxed));
    (interval / 16).clamp(Duration::from_millis(1), Duration::from_millis(250))
}

/// Starts the ticker thread once, or wakes it: it bumps [`TICK`] while
/// sampling is on and parks while it is off.
fn start_ticker() {
    static TICKER: OnceLock<Option<Thread>> = OnceLock::new();
    let ticker = TICKER.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("observe-log-sampling".into())
            .spawn(|| loop {
                if ENABLED.load(Ordering::Acquire) {
                    std::thread::sleep(tick_period());
                    TICK.fetch_add(1, Ordering::Release);
                } else {
                    std::thread::park();
                }
            });
        match spawned {
            Ok(handle) => Some(handle.thread().clone()),
            Err(_) => {
                NO_TICKER.store(true, Ordering::Relaxed);
                None
            }
        }
    });
    if let Some(thread) = ticker {
        thread.unpark();
    }
}

/// What the layer does with an event under sampling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// Write the event.
    pub(crate) keep: bool,
    /// Write the summaries of [`take_summaries`] first.
    pub(crate) summaries: bool,
}

impl Verdict {
    const KEEP: Verdict = Verdict {
        keep: true,
        summaries: false,
    };
    const DROP: Verdict = Verdict {
        keep: false,
        summaries: false,
    };
}

/// A callsite's events suppressed on this thread since its last summary.
pub(crate) struct Summary {
    pub(crate) callsite: String,
    pub(crate) suppressed: u64,
}

/// Whether to write the event, and whether summaries are waiting on this
/// thread. With sampling off, one load and `keep`.
#[inline]
pub(crate) fn decide(meta: &'static Metadata<'static>, ids: &Ids) -> Verdict {
    if !ENABLED.load(Ordering::Acquire) {
        return Verdict::KEEP;
    }
    if *meta.level() <= keep_level() || (ids.is_valid() && ids.sampled()) {
        // Kept; a tick still makes this event write the summaries due on
        // this thread, whichever callsite they count.
        return table().borrow_mut().kept();
    }
    table().borrow_mut().decide(meta, ids)
}

/// This thread's [`Table`].
///
/// Only the address is taken inside `LocalKey::with`, as `state::local`
/// does: a closure that small is always inlined, so the access is an
/// offset from the thread pointer rather than an out-of-line `with` and an
/// indirect call to the key's accessor.
#[inline(always)]
fn table() -> &'static RefCell<Table> {
    let table: *const RefCell<Table> = TABLE.with(|table| table as *const RefCell<Table>);
    // SAFETY: `TABLE` is `const`-initialised and has no destructor, so its
    // storage is valid for as long as this thread runs, and the reference
    // cannot leave the thread: `RefCell` is not `Sync`, so `&RefCell` is not
    // `Send`.
    unsafe { &*table }
}

/// The least severe level always kept (a load and an index, where a match
/// on the level would be a jump table).
#[inline(always)]
fn keep_level() -> Level {
    const LEVELS: [Level; 5] = [
        Level::ERROR,
        Level::WARN,
        Level::INFO,
        Level::DEBUG,
        Level::TRACE,
    ];
    LEVELS[usize::from(KEEP_RANK.load(Ordering::Relaxed)).min(4)]
}

/// The summaries a [`Verdict`] announced, oldest first.
pub(crate) fn take_summaries() -> Vec<Summary> {
    std::mem::take(&mut *table().borrow_mut().summaries)
}

/// One callsite's state on one thread.
struct Callsite {
    meta: &'static Metadata<'static>,
    /// Tokens, in thousandths.
    tokens: u64,
    /// Raw clock readings.
    refilled: u64,
    window_start: u64,
    suppressed: u64,
}

/// This thread's callsites, by the address of their metadata in an open
/// addressing table (a multiply and one compare on a hit, where a
/// `HashMap` probes a group of control bytes), and a generator for events
/// outside any trace.
///
/// The vectors are `ManuallyDrop` so that the thread-local has no
/// destructor, and its access compiles to an offset from the thread
/// pointer rather than a call; [`Owner`] frees them when the thread ends.
struct Table {
    generation: u32,
    /// The [`TICK`] this thread last looked for summaries at.
    tick: u64,
    /// A power of two long, or empty; at most half full.
    slots: ManuallyDrop<Vec<Option<Callsite>>>,
    len: usize,
    random: u64,
    summaries: ManuallyDrop<Vec<Summary>>,
}

thread_local! {
    static TABLE: RefCell<Table> = const {
        RefCell::new(Table {
            generation: u32::MAX,
            tick: u64::MAX,
            slots: ManuallyDrop::new(Vec::new()),
            len: 0,
            random: 0,
            summaries: ManuallyDrop::new(Vec::new()),
        })
    };
    /// Registered when the table first allocates; frees it when the thread
    /// ends.
    static OWNER: Owner = const { Owner };
}

struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = TABLE.try_with(|table| {
            if let Ok(mut table) = table.try_borrow_mut() {
                let table = &mut *table;
                let slots = std::mem::take(&mut *table.slots);
                let mut left = std::mem::take(&mut *table.summaries);
                // Counted now, so no suppressed event leaves uncounted with
                // its thread.
                for callsite in slots.into_iter().flatten() {
                    if callsite.suppressed > 0 {
                        left.push(summary_of(callsite.meta, callsite.suppressed));
                    }
                }
                table.len = 0;
                if !left.is_empty() {
                    adopt_orphans(table.generation, left);
                }
            }
        });
    }
}

/// Hands the summaries of an exiting thread to the next thread that logs:
/// [`Table::on_tick`] takes them, and the tick is bumped so that it runs at
/// that thread's next event.
#[cold]
fn adopt_orphans(generation: u32, summaries: Vec<Summary>) {
    let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
    orphans.extend(summaries.into_iter().map(|summary| (generation, summary)));
    ORPHANED.store(true, Ordering::Release);
    TICK.fetch_add(1, Ordering::Release);
}

/// Where the search for `meta` starts in a table of `2^bits` slots: a
/// Fibonacci hash of its address (unique and aligned, so the high bits of
/// the product spread them).
#[inline(always)]
fn home(meta: &'static Metadata<'static>, mask: usize) -> usize {
    let address = meta as *const Metadata<'static> as u64;
    let spread = address.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (spread >> 32) as usize & mask
}

impl Table {
    /// An event kept whatever the sampling.
    #[inline(always)]
    fn kept(&mut self) -> Verdict {
        if self.tick != TICK.load(Ordering::Relaxed) {
            return self.on_tick(None);
        }
        Verdict::KEEP
    }

    /// An event below the always-kept level, outside any sampled trace.
    #[inline(always)]
    fn decide(&mut self, meta: &'static Metadata<'static>, ids: &Ids) -> Verdict {
        if self.tick != TICK.load(Ordering::Relaxed) {
            return self.on_tick(Some((meta, ids)));
        }
        self.count(meta, ids)
    }

    /// [`Table::decide`] past the tick: by ratio, then by the callsite's
    /// token bucket; a suppressed event is counted.
    #[inline(always)]
    fn count(&mut self, meta: &'static Metadata<'static>, ids: &Ids) -> Verdict {
        let random = if ids.is_valid() {
            // The trace id's low bits are random (W3C level 2): the lines of
            // one unsampled trace are kept or dropped together.
            ids.trace_id as u64
        } else {
            self.next_random()
        };
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = home(meta, mask);
        loop {
            match self.slots.get_mut(i) {
                Some(Some(callsite)) if std::ptr::eq(callsite.meta, meta) => {
                    if random >= THRESHOLD.load(Ordering::Relaxed) {
                        callsite.suppressed += 1;
                        return Verdict::DROP;
                    }
                    return self.take_token(i);
                }
                Some(Some(_)) => i = (i + 1) & mask,
                // An empty slot, or no table yet.
                _ => return self.insert(meta, random),
            }
        }
    }

    /// This callsite's first event on this thread (or since `configure`).
    #[cold]
    fn insert(&mut self, meta: &'static Metadata<'static>, random: u64) -> Verdict {
        if (self.len + 1) * 2 > self.slots.len() {
            // Past the end of the thread (an event from another
            // thread-local's destructor) nothing would free a new table:
            // such an event is kept.
            if OWNER.try_with(|_| ()).is_err() {
                return Verdict::KEEP;
            }
            self.grow();
        }
        let now = clock::raw();
        let burst = u64::from(BURST.load(Ordering::Relaxed)) * 1000;
        let mask = self.slots.len() - 1;
        let mut i = home(meta, mask);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(Callsite {
            meta,
            tokens: burst,
            refilled: now,
            window_start: now,
            suppressed: 0,
        });
        self.len += 1;
        if random >= THRESHOLD.load(Ordering::Relaxed) {
            if let Some(callsite) = &mut self.slots[i] {
                callsite.suppressed += 1;
            }
            return Verdict::DROP;
        }
        self.take_token(i)
    }

    fn grow(&mut self) {
        let slots = std::mem::take(&mut *self.slots);
        let len = (slots.len() * 2).max(16);
        self.slots.resize_with(len, || None);
        let mask = len - 1;
        for callsite in slots.into_iter().flatten() {
            let mut i = home(callsite.meta, mask);
            while self.slots[i].is_some() {
                i = (i + 1) & mask;
            }
            self.slots[i] = Some(callsite);
        }
    }

    /// An event the ratio kept: it is written if the callsite's token
    /// bucket has a token, else counted; and the callsite's summary is
    /// written when due, since the clock was read anyway.
    fn take_token(&mut self, i: usize) -> Verdict {
        let Some(callsite) = &mut self.slots[i] else {
            return Verdict::DROP;
        };
        let now = clock::raw();
        let interval = INTERVAL_NANOS.load(Ordering::Relaxed);
        let burst = u64::from(BURST.load(Ordering::Relaxed)) * 1000;
        // Refill `burst` tokens per interval, up to `burst`.
        let elapsed = clock::delta_nanos(callsite.refilled, now);
        let refill = (u128::from(elapsed) * u128::from(burst) / u128::from(interval.max(1))) as u64;
        if refill > 0 {
            callsite.tokens = (callsite.tokens + refill).min(burst);
            callsite.refilled = now;
        }
        let keep = callsite.tokens >= 1000;
        if keep {
            callsite.tokens -= 1000;
        } else {
            callsite.suppressed += 1;
        }
        let summaries =
            callsite.suppressed > 0 && clock::delta_nanos(callsite.window_start, now) >= interval;
        if summaries {
            let suppressed = std::mem::take(&mut callsite.suppressed);
            callsite.window_start = now;
            let summary = summary_of(callsite.meta, suppressed);
            self.summaries.push(summary);
        }
        Verdict { keep, summaries }
    }

    /// The first event on this thread since a tick: starts afresh after
    /// `configure`, decides `event` (the sampled one, if any), then writes
    /// the summary of every callsite whose interval has passed, so a
    /// callsite's count does not wait for its own next event.
    #[cold]
    #[inline(never)]
    fn on_tick(&mut self, event: Option<(&'static Metadata<'static>, &Ids)>) -> Verdict {
        let generation = GENERATION.load(Ordering::Relaxed);
        if self.generation != generation {
            self.generation = generation;
            // Suppressed under the configuration before: counted, with no
            // line under this one.
            for callsite in self.slots.iter().flatten() {
                if callsite.suppressed > 0 {
                    summary_of(callsite.meta, callsite.suppressed);
                }
            }
            self.slots.clear();
            self.len = 0;
            self.summaries.clear();
        }
        // Without a ticker, every event looks (a TSC read per event).
        self.tick = if NO_TICKER.load(Ordering::Relaxed) {
            u64::MAX
        } else {
            TICK.load(Ordering::Acquire)
        };
        // Counted first, so that the summaries include it.
        let mut verdict = match event {
            Some((meta, ids)) => self.count(meta, ids),
            None => Verdict::KEEP,
        };
        if ORPHANED.load(Ordering::Acquire) {
            self.take_orphans(generation);
        }
        let now = clock::raw();
        let interval = INTERVAL_NANOS.load(Ordering::Relaxed);
        for callsite in self.slots.iter_mut().flatten() {
            if callsite.suppressed > 0 && clock::delta_nanos(callsite.window_start, now) >= interval
            {
                let suppressed = std::mem::take(&mut callsite.suppressed);
                callsite.window_start = now;
                self.summaries.push(summary_of(callsite.meta, suppressed));
            }
        }
        verdict.summaries |= !self.summaries.is_empty();
        verdict
    }

    /// The summaries exited threads left under this configuration (those of
    /// an earlier one are counted already and let go).
    fn take_orphans(&mut self, generation: u32) {
        let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
        ORPHANED.store(false, Ordering::Relaxed);
        for (counted_under, summary) in orphans.drain(..) {
            if counted_under == generation {
                self.summaries.push(summary);
            }
        }
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
