//! Each thread's latency histogram shards, with their exemplars.
//!
//! An observed call writes only to a histogram shard owned by its thread (a
//! plain load and store, no lock prefix, no shared cache line). A scrape sums
//! the shards of every thread ([`snapshot`]); a thread that exits folds its
//! shards into the retired totals first, so nothing it counted is lost.
//!
//! A sampled call also leaves an exemplar in its bucket (trace id, span id,
//! duration, time), the latest per bucket winning.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use once_cell::sync::Lazy;

use super::callsite::{Callsite, Metric as MetricSpec, OutcomeKind};
use super::clock;
use super::span::SpanState;
use super::state;

/// One thread's counts for one series. Only the owning thread writes.
pub(crate) struct Shard {
    /// The callsite's buckets, bounds in raw clock ticks so the hot path
    /// compares the raw duration and converts nothing, then `+Inf` with the
    /// bound `u64::MAX`, so the search stops without a length check.
    buckets: Box<[ShardBucket]>,
    sum_ticks: AtomicU64,
}

/// One bucket of one shard: its bound, its count and its latest exemplar,
/// one cache line, so a sampled call writes a single line of the shard
/// besides the sum.
#[repr(align(64))]
struct ShardBucket {
    bound: u64,
    count: AtomicU64,
    /// The latest sampled call of the bucket, for OpenMetrics exemplars.
    exemplar: ExemplarSlot,
}

const _: () = assert!(std::mem::size_of::<ShardBucket>() == 64);

impl Shard {
    fn new(bucket_nanos: &'static [u64]) -> Shard {
        let bounds = bucket_nanos.iter().map(|&n| clock_ticks(n));
        Shard {
            buckets: bounds
                .chain([u64::MAX])
                .map(|bound| ShardBucket {
                    bound,
                    count: AtomicU64::new(0),
                    exemplar: ExemplarSlot::default(),
                })
                .collect(),
            sum_ticks: AtomicU64::new(0),
        }
    }

    /// Counts one call of `start..end` raw ticks; a sampled call also
    /// becomes its bucket's exemplar.
    #[inline(always)]
    pub(crate) fn record(&self, start: u64, end: u64, sampled: bool, trace_id: u128, span_id: u64) {
        let ticks = duration_ticks(start, end);
        let exemplar = self.count(ticks);
        if sampled {
            exemplar.write(trace_id, span_id, ticks, end);
        }
    }

    /// Counts one call of `ticks` raw ticks, and returns its bucket's
    /// exemplar slot, for the caller to write if the call is sampled.
    #[inline(always)]
    pub(crate) fn count(&self, ticks: u64) -> &ExemplarSlot {
        let mut bucket = self.buckets.as_ptr();
        // SAFETY: the last bucket's bound is `u64::MAX`, which no `ticks`
        // exceeds, so the walk stops inside the slice.
        let bucket = unsafe {
            while ticks > (*bucket).bound {
                bucket = bucket.add(1);
            }
            &*bucket
        };
        // Single writer: a load and a store, not a locked read-modify-write.
        bump(&bucket.count, 1);
        bump(&self.sum_ticks, ticks);
        &bucket.exemplar
    }

    fn add_to(&self, totals: &mut Totals) {
        totals.fit(self.buckets.len());
        for (bucket, (total, latest)) in self
            .buckets
            .iter()
            .zip(totals.counts.iter_mut().zip(&mut totals.exemplars))
        {
            *total += bucket.count.load(Ordering::Relaxed);
            if let Some(candidate) = bucket.exemplar.read() {
                if latest.is_none_or(|l| l.end < candidate.end) {
                    *latest = Some(candidate);
                }
            }
        }
        totals.sum_ticks += self.sum_ticks.load(Ordering::Relaxed);
    }
}

/// The raw ticks from `start` to `end`; `0` if the clock went backwards.
#[inline(always)]
pub(crate) fn duration_ticks(start: u64, end: u64) -> u64 {
    end.saturating_sub(start)
}

/// The largest raw tick count that is still at most `nanos` long: the bucket
/// bound the hot path compares raw durations against.
pub(crate) fn clock_ticks(nanos: u64) -> u64 {
    let mut high = nanos.max(1);
    while clock::delta_nanos(0, high) <= nanos && high < u64::MAX / 4 {
        high *= 2;
    }
    let mut low = 0;
    // Invariant: delta_nanos(0, low) <= nanos < delta_nanos(0, high).
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if clock::delta_nanos(0, mid) <= nanos {
            low = mid;
        } else {
            high = mid;
        }
    }
    low
}

#[inline]
fn bump(cell: &AtomicU64, by: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// The latest sampled observation of one bucket on one thread: a sequence
/// lock with a single writer (the owning thread), so the hot path takes no
/// lock and a scrape never sees half an exemplar.
#[derive(Default)]
pub(crate) struct ExemplarSlot {
    /// Even when stable, odd while the owner writes; `0`: never written.
    seq: AtomicU64,
    trace_high: AtomicU64,
    trace_low: AtomicU64,
    span_id: AtomicU64,
    ticks: AtomicU64,
    end: AtomicU64,
}

/// A sampled call that landed in a bucket: its trace, span and duration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    /// Duration in raw ticks.
    pub(crate) ticks: u64,
    /// Raw clock reading at the end of the call.
    pub(crate) end: u64,
}

impl Exemplar {
    /// The observed duration in seconds: the exemplar's value.
    pub(crate) fn seconds(&self) -> f64 {
        clock::delta_nanos(0, self.ticks) as f64 / 1e9
    }

    /// When the call ended.
    pub(crate) fn time(&self) -> std::time::SystemTime {
        clock::to_system_time(self.end)
    }
}

impl ExemplarSlot {
    #[inline(always)]
    pub(crate) fn write(&self, trace_id: u128, span_id: u64, ticks: u64, end: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the data, for a reader that sees
        // any of the new data.
        fence(Ordering::Release);
        self.trace_high
            .store((trace_id >> 64) as u64, Ordering::Relaxed);
        self.trace_low.store(trace_id as u64, Ordering::Relaxed);
        self.span_id.store(span_id, Ordering::Relaxed);
        self.ticks.store(ticks, Ordering::Relaxed);
        self.end.store(end, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The slot's exemplar, or `None` if it was never written (or the owner
    /// kept rewriting it through every attempt; the next scrape gets it).
    fn read(&self) -> Option<Exemplar> {
        for _ in 0..8 {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let exemplar = Exemplar {
                trace_id: u128::from(self.trace_high.load(Ordering::Relaxed)) << 64
                    | u128::from(self.trace_low.load(Ordering::Relaxed)),
                span_id: self.span_id.load(Ordering::Relaxed),
                ticks: self.ticks.load(Ordering::Relaxed),
                end: self.end.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return Some(exemplar);
            }
        }
        None
    }
}

#[derive(Clone, Default)]
pub(crate) struct Totals {
    /// Per bucket, then `+Inf`; not cumulative.
    pub(crate) counts: Vec<u64>,
    pub(crate) sum_ticks: u64,
    /// Per bucket, then `+Inf`: the latest sampled call over all threads.
    pub(crate) exemplars: Vec<Option<Exemplar>>,
}

impl Totals {
    fn fit(&mut self, slots: usize) {
        if self.counts.len() < slots {
            self.counts.resize(slots, 0);
            self.exemplars.resize(slots, None);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey {
    callsite: u32,
    labels: u32,
    outcome: OutcomeKind,
    error_type: &'static str,
}

struct Series {
    callsite: &'static Callsite,
    metric: &'static MetricSpec,
    /// Values of `metric.labels`, in order.
    label_values: Vec<&'static str>,
    retired: Totals,
    live: Vec<Arc<Shard>>,
}

static SERIES: Lazy<Mutex<HashMap<SeriesKey, Series>>> = Lazy::new(Default::default);

/// This thread's shards: successes by callsite index and label combination,
/// the rest by full key.
#[derive(Default)]
struct LocalShards {
    ok: Vec<Vec<Option<Arc<Shard>>>>,
    other: Vec<(SeriesKey, Arc<Shard>)>,
    /// By callsite index: the shard of the label combination that callsite's
    /// last successful call on this thread used. The thread's `state::Local`
    /// block points at it, so the next such call finds its shard without
    /// this `RefCell`.
    cache: Vec<ShardCache>,
}

/// One callsite's entry in a thread's shard cache.
#[derive(Clone, Copy)]
pub(crate) struct ShardCache {
    /// The label combination of `shard`; [`ShardCache::EMPTY`]'s key is no
    /// combination (those are `u32`), so one compare tells a hit.
    key: u64,
    /// When `key` is a label combination, a shard that `LocalShards::ok`
    /// keeps alive; dangling in [`ShardCache::EMPTY`], and never read then.
    /// `NonNull`, so a hit needs no null check.
    shard: NonNull<Shard>,
}

impl ShardCache {
    const EMPTY: ShardCache = ShardCache {
        key: u64::MAX,
        shard: NonNull::dangling(),
    };
}

/// The shard cached for a success of `callsite` with `labels`, without
/// borrowing `LOCAL`. With `TSC_ONLY`, looked up below the success's own
/// bound (`shards_fast_len`, `0` on a thread that does not read the TSC),
/// so one compare tells that thread from a cached shard; otherwise below
/// the cache's length. A callsite without an index yet reads an index past
/// any table's end.
#[inline(always)]
pub(crate) fn cached_shard<'a, const TSC_ONLY: bool>(
    local: &'a state::Local,
    callsite: &'static Callsite,
    labels: u32,
) -> Option<&'a Shard> {
    let index = callsite.index_if_registered() as usize;
    // `shards_fast_len` is `shards_len` or `0`.
    let len = if TSC_ONLY {
        local.shards_fast_len.get()
    } else {
        local.shards_len.get()
    };
    if index >= len {
        return None;
    }
    // SAFETY: `shards` points at `shards_len` entries of this thread's
    // `LocalShards::cache`, republished whenever that `Vec` changes and
    // cleared before it is dropped; only this thread touches either.
    let entry = unsafe { *local.shards.get().add(index) };
    if entry.key != u64::from(labels) {
        return None;
    }
    // SAFETY: a matching key means a shard of `LocalShards::ok` on this
    // thread, which lives as long as the thread's locals; that table's
    // `Drop` clears the cache before any shard goes.
    Some(unsafe { entry.shard.as_ref() })
}

impl LocalShards {
    #[inline]
    fn shard(
        &mut self,
        callsite: &'static Callsite,
        metric: &'static MetricSpec,
        key: SeriesKey,
    ) -> &Shard {
        if key.outcome == OutcomeKind::Ok {
            let slot = key.callsite as usize;
            if self.ok.len() <= slot {
                self.ok.resize_with(slot + 1, Vec::new);
            }
            let by_labels = &mut self.ok[slot];
            let combination = key.labels as usize;
            if by_labels.len() <= combination {
                by_labels.resize(combination + 1, None);
            }
            let shard =
                by_labels[combination].get_or_insert_with(|| new_shard(callsite, metric, key));
            if self.cache.len() <= slot {
                self.cache.resize(slot + 1, ShardCache::EMPTY);
            }
            self.cache[slot] = ShardCache {
                key: u64::from(key.labels),
                shard: NonNull::from(&**shard),
            };
            let (table, len) = (self.cache.as_ptr(), self.cache.len());
            state::with_local(|local| publish(local, table, len));
            shard
        } else {
            match self.other.iter().position(|(k, _)| *k == key) {
                Some(i) => &self.other[i].1,
                None => {
                    self.other.push((key, new_shard(callsite, metric, key)));
                    &self.other[self.other.len() - 1].1
                }
            }
        }
    }
}

impl Drop for LocalShards {
    fn drop(&mut self) {
        state::with_local(|local| publish(local, std::ptr::null(), 0));
        let mut series = SERIES.lock().unwrap_or_else(|e| e.into_inner());
        let ok = self.ok.iter().flatten().flatten();
        let other = self.other.iter().map(|(_, shard)| shard);
        for shard in ok.chain(other) {
            for s in series.values_mut() {
                if let Some(i) = s.live.iter().position(|l| Arc::ptr_eq(l, shard)) {
                    let retired = s.live.swap_remove(i);
                    retired.add_to(&mut s.retired);
                    break;
                }
            }
        }
    }
}

#[cold]
fn new_shard(
    callsite: &'static Callsite,
    metric: &'static MetricSpec,
    key: SeriesKey,
) -> Arc<Shard> {
    let shard = Arc::new(Shard::new(metric.bucket_nanos));
    SERIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert_with(|| Series {
            callsite,
            metric,
            label_values: callsite.label_values(key.labels),
            retired: Totals::default(),
            live: Vec::new(),
        })
        .live
        .push(Arc::clone(&shard));
    shard
}

thread_local! {
    static LOCAL: RefCell<LocalShards> = RefCell::new(LocalShards::default());
}

/// Points this thread's [`state::Local`] block at its shard cache; the
/// success's own bound is the cache's length only on a thread that has
/// decided to read the TSC.
fn publish(local: &state::Local, table: *const ShardCache, len: usize) {
    local.shards.set(table);
    local.shards_len.set(len);
    local.shards_fast_len.set(local.tsc_bound(len));
}

/// Re-reads this thread's bound for a success, after its first span
/// decided `tsc`.
pub(crate) fn republish(local: &state::Local) {
    publish(local, local.shards.get(), local.shards_len.get());
}

/// Records one ended call in its callsite's histogram: the path of errors,
/// panics, cancellations and a success whose shard is not cached.
#[inline(never)]
pub(crate) fn observe(
    callsite: &'static Callsite,
    metric: &'static MetricSpec,
    span: &SpanState,
    outcome: OutcomeKind,
    error_type: &'static str,
    end: u64,
) {
    if outcome == OutcomeKind::Ok {
        if let Some(shard) = cached_shard::<false>(state::local(), callsite, span.labels) {
            shard.record(span.start, end, span.sampled(), span.trace_id, span.span_id);
            return;
        }
    }
    let key = SeriesKey {
        callsite: callsite.index(),
        labels: span.labels,
        outcome,
        error_type,
    };
    // `try_with`: a call made while this thread's locals are being torn down
    // is not counted rather than panicking.
    let _ = LOCAL.try_with(|local| {
        local.borrow_mut().shard(callsite, metric, key).record(
            span.start,
            end,
            span.sampled(),
            span.trace_id,
            span.span_id,
        )
    });
}

/// One series summed over every thread, for the exposition.
pub(crate) struct SeriesTotals {
    pub(crate) callsite: &'static Callsite,
    pub(crate) metric: &'static MetricSpec,
    /// Values of `metric.labels`, in order.
    pub(crate) label_values: Vec<&'static str>,
    pub(crate) outcome: OutcomeKind,
    pub(crate) error_type: &'static str,
    pub(crate) totals: Totals,
}

/// Every series, summed over threads.
pub(crate) fn snapshot() -> Vec<SeriesTotals> {
    let series = SERIES.lock().unwrap_or_else(|e| e.into_inner());
    series
        .iter()
        .map(|(key, s)| {
            let mut totals = s.retired.clone();
            for shard in &s.live {
                shard.add_to(&mut totals);
            }
            SeriesTotals {
                callsite: s.callsite,
                metric: s.metric,
                label_values: s.label_values.clone(),
                outcome: key.outcome,
                error_type: key.error_type,
                totals,
            }
        })
        .collect()
}

/// Every call counted so far, by callsite index, over every series, outcome
/// and thread: the ended calls the in-flight counts subtract.
pub(crate) fn counts_by_callsite() -> Vec<u64> {
    let series = SERIES.lock().unwrap_or_else(|e| e.into_inner());
    let mut counts = Vec::new();
    for (key, s) in series.iter() {
        let index = key.callsite as usize;
        if counts.len() <= index {
            counts.resize(index + 1, 0);
        }
        let shards = s.live.iter().flat_map(|shard| shard.buckets.iter());
        let live: u64 = shards.map(|b| b.count.load(Ordering::Relaxed)).sum();
        counts[index] += s.retired.counts.iter().sum::<u64>() + live;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_bounds_hold_exactly_the_durations_within_the_bound() {
        for nanos in [1, 500_000, 1_000_000, 30_000_000_000] {
            let ticks = clock_ticks(nanos);
            assert!(clock::delta_nanos(0, ticks) <= nanos);
            assert!(clock::delta_nanos(0, ticks + 1) > nanos);
        }
    }

    #[test]
    fn an_exemplar_is_read_whole_and_the_latest_wins() {
        let slot = ExemplarSlot::default();
        assert_eq!(slot.read(), None, "never written");
        let trace_id = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10;
        slot.write(trace_id, 7, 100, 1_000);
        let read = slot.read().expect("written");
        assert_eq!((read.trace_id, read.span_id), (trace_id, 7));
        assert_eq!((read.ticks, read.end), (100, 1_000));

        let shard = Shard::new(&[1_000_000]);
        let mut totals = Totals::default();
        shard.record(0, 10, true, trace_id, 7);
        shard.record(20, 30, true, trace_id, 8);
        shard.record(40, 50, false, trace_id, 9);
        // Past the last bound: the `+Inf` bucket, found without a length.
        shard.record(0, u64::MAX, false, trace_id, 10);
        shard.add_to(&mut totals);
        assert_eq!(totals.counts, vec![3, 1]);
        let exemplar = totals.exemplars[0].expect("sampled calls leave exemplars");
        assert_eq!(exemplar.span_id, 8, "the latest sampled call wins");
        assert_eq!(totals.exemplars[1], None);
    }
}
