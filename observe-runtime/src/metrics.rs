//! Latency histograms and observe's own health metrics, exposed through a
//! `prometheus::Registry`.
//!
//! An observed call writes only to a histogram shard owned by its thread (a
//! plain load and store, no lock prefix, no shared cache line). A scrape sums
//! the shards of every thread; a thread that exits folds its shards into the
//! retired totals first, so nothing it counted is lost.
//!
//! A sampled call also leaves an exemplar in its bucket (trace id, span id,
//! duration, time), the latest per bucket winning. [`Format::OpenMetrics`]
//! writes them on the bucket lines, so a latency spike in Prometheus links to
//! a trace; the classic text format has no exemplars.
//!
//! ```no_run
//! // Serve observe's metrics from your own registry:
//! let registry = prometheus::Registry::new();
//! registry.register(observe_runtime::metrics::collector()).unwrap();
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use once_cell::sync::{Lazy, OnceCell};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::clock;
use crate::span::{Callsite, Metric as MetricSpec, OutcomeKind, SpanState};
use crate::state;

mod openmetrics;

/// Upper bounds of the default latency buckets, in seconds: three per decade
/// from 0.5 ms to 30 s, so the 1 ms, 10 ms, 100 ms, 1 s and 10 s regimes fall
/// in buckets of their own.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// [`LATENCY_BUCKETS`] in nanoseconds.
#[doc(hidden)]
pub const LATENCY_BUCKET_NANOS: [u64; 15] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// The name of the default latency histogram family, without the configured
/// prefix. `metric(name = "...")` names a family of its own instead.
pub const LATENCY_FAMILY: &str = "operation_duration_seconds";

const HELP: &str = "Duration of observed operations, in seconds.";

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
fn clock_ticks(nanos: u64) -> u64 {
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
    ticks: u64,
    /// Raw clock reading at the end of the call.
    end: u64,
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
struct Totals {
    /// Per bucket, then `+Inf`; not cumulative.
    counts: Vec<u64>,
    sum_ticks: u64,
    /// Per bucket, then `+Inf`: the latest sampled call over all threads.
    exemplars: Vec<Option<Exemplar>>,
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
/// borrowing `LOCAL`. A callsite without an index yet reads index 0, whose
/// entry is always empty.
#[inline(always)]
pub(crate) fn cached_shard<'a>(
    local: &'a state::Local,
    callsite: &'static Callsite,
    labels: u32,
) -> Option<&'a Shard> {
    let index = callsite.index_if_registered() as usize;
    if index >= local.shards_len.get() {
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
            state::with_local(|local| {
                local.shards.set(table);
                local.shards_len.set(len);
            });
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
        state::with_local(|local| {
            local.shards.set(std::ptr::null());
            local.shards_len.set(0);
        });
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
        if let Some(shard) = cached_shard(state::local(), callsite, span.labels) {
            shard.record(span.start, end, span.sampled, span.trace_id, span.span_id);
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
            span.sampled,
            span.trace_id,
            span.span_id,
        )
    });
}

/// Observe's metrics as a `prometheus` collector: the latency histograms and
/// observe's own health counters.
pub struct ObserveCollector {
    latency: LatencyCollector,
    health: Health,
}

struct LatencyCollector {
    /// The default family's name, with the configured prefix.
    default_family: String,
    desc: Desc,
}

/// One series, summed over threads, ready to render.
struct Row {
    family: String,
    buckets: &'static [f64],
    labels: Vec<(&'static str, &'static str)>,
    totals: Totals,
}

impl LatencyCollector {
    fn new(prefix: &str) -> LatencyCollector {
        let default_family = family_name(prefix);
        let desc = Desc::new(
            default_family.clone(),
            HELP.into(),
            vec!["operation".into(), "outcome".into(), "error_type".into()],
            HashMap::new(),
        )
        .expect("the latency family name is valid");
        LatencyCollector {
            default_family,
            desc,
        }
    }

    /// Every series, summed over threads.
    fn rows(&self) -> Vec<Row> {
        let series = SERIES.lock().unwrap_or_else(|e| e.into_inner());
        series
            .iter()
            .map(|(key, s)| {
                let mut totals = s.retired.clone();
                for shard in &s.live {
                    shard.add_to(&mut totals);
                }
                let mut labels = vec![
                    ("error_type", key.error_type),
                    ("operation", s.callsite.name),
                    ("outcome", key.outcome.as_str()),
                ];
                labels.extend(
                    s.metric
                        .labels
                        .iter()
                        .copied()
                        .zip(s.label_values.iter().copied()),
                );
                Row {
                    family: s
                        .metric
                        .family
                        .map_or_else(|| self.default_family.clone(), str::to_owned),
                    buckets: s.metric.buckets,
                    labels,
                    totals,
                }
            })
            .collect()
    }

    /// One histogram family per distinct family name; within a family every
    /// series has the union of the family's label names, empty where its
    /// callsite has no such label (Prometheus reads an empty label as absent).
    fn collect(&self) -> Vec<MetricFamily> {
        let rows = self.rows();
        let mut families: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for row in rows {
            families.entry(row.family.clone()).or_default().push(row);
        }
        if !families.contains_key(&self.default_family) {
            // The default family is described, so it is always exposed.
            families.insert(self.default_family.clone(), Vec::new());
        }
        families
            .into_iter()
            .map(|(name, rows)| family(name, rows))
            .collect()
    }
}

/// The exemplars of observe's histogram series, keyed the way the
/// OpenMetrics writer finds a series: family name and its non-empty labels.
pub(crate) type ExemplarIndex = HashMap<SeriesId, Vec<Option<Exemplar>>>;

/// A histogram series: its family and its non-empty labels, sorted by name.
pub(crate) type SeriesId = (String, Vec<(String, String)>);

pub(crate) fn series_id<'a>(
    family: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> SeriesId {
    let mut labels: Vec<(String, String)> = labels
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    labels.sort();
    (family.to_owned(), labels)
}

fn exemplar_index() -> ExemplarIndex {
    LatencyCollector::new(PREFIX.get().map_or("", String::as_str))
        .rows()
        .into_iter()
        .filter(|row| row.totals.exemplars.iter().any(Option::is_some))
        .map(|row| {
            (
                series_id(&row.family, row.labels.iter().copied()),
                row.totals.exemplars,
            )
        })
        .collect()
}

fn family(name: String, rows: Vec<Row>) -> MetricFamily {
    let names: BTreeSet<&'static str> = rows
        .iter()
        .flat_map(|row| row.labels.iter().map(|(name, _)| *name))
        .collect();
    let mut metrics: Vec<(Vec<(&'static str, &'static str)>, Metric)> = rows
        .into_iter()
        .map(|row| {
            let pairs: Vec<(&'static str, &'static str)> = names
                .iter()
                .map(|name| {
                    let value = row
                        .labels
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or("", |(_, v)| *v);
                    (*name, value)
                })
                .collect();
            let mut metric = Metric::from_label(pairs.iter().map(|(n, v)| label(n, v)).collect());
            metric.set_histogram(histogram(row.buckets, &row.totals));
            (pairs, metric)
        })
        .collect();
    metrics.sort_by(|a, b| a.0.cmp(&b.0));

    let mut family = MetricFamily::default();
    family.set_name(name);
    family.set_help(HELP.into());
    family.set_field_type(MetricType::HISTOGRAM);
    family.set_metric(metrics.into_iter().map(|(_, metric)| metric).collect());
    family
}

/// The default family's name with the prefix in force.
pub(crate) fn default_family() -> String {
    family_name(PREFIX.get().map_or("", String::as_str))
}

fn family_name(prefix: &str) -> String {
    if prefix.is_empty() {
        LATENCY_FAMILY.to_owned()
    } else {
        format!("{prefix}_{LATENCY_FAMILY}")
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn histogram(bounds: &[f64], totals: &Totals) -> Histogram {
    let mut cumulative = 0;
    let buckets = bounds
        .iter()
        .enumerate()
        .map(|(i, &bound)| {
            cumulative += totals.counts.get(i).copied().unwrap_or(0);
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(bound);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect();
    let overflow = totals.counts.get(bounds.len()).copied().unwrap_or(0);
    let mut histogram = Histogram::default();
    histogram.set_sample_count(cumulative + overflow);
    histogram.set_sample_sum(clock::delta_nanos(0, totals.sum_ticks) as f64 / 1e9);
    histogram.set_bucket(buckets);
    histogram
}

/// Counters describing observe itself.
#[derive(Clone)]
pub(crate) struct Health {
    pub(crate) spans_exported: IntCounter,
    pub(crate) spans_dropped: IntCounterVec,
    pub(crate) export_errors: IntCounter,
    pub(crate) queue_depth: IntGauge,
    pub(crate) propagation_errors: IntCounterVec,
    pub(crate) build_info: IntGaugeVec,
}

/// Reasons a span is dropped before export.
const DROP_REASONS: [&str; 2] = ["queue_full", "export_failed"];

/// Reasons an incoming trace header is ignored.
const PROPAGATION_ERRORS: [&str; 7] = [
    "traceparent_invalid",
    "tracestate_limit",
    "tracestate_invalid",
    "baggage_limit",
    "baggage_invalid",
    "not_utf8",
    "amqp_value_type",
];

impl Health {
    fn new() -> Health {
        let health = Health {
            spans_exported: IntCounter::new(
                "observe_spans_exported_total",
                "Spans handed to the exporter successfully.",
            )
            .expect("valid metric"),
            spans_dropped: IntCounterVec::new(
                Opts::new(
                    "observe_spans_dropped_total",
                    "Spans dropped before export, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            export_errors: IntCounter::new(
                "observe_export_errors_total",
                "Export calls that failed or timed out.",
            )
            .expect("valid metric"),
            queue_depth: IntGauge::new(
                "observe_span_queue_depth",
                "Ended spans waiting for export.",
            )
            .expect("valid metric"),
            propagation_errors: IntCounterVec::new(
                Opts::new(
                    "observe_propagation_errors_total",
                    "Incoming trace headers that were ignored, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            build_info: IntGaugeVec::new(
                Opts::new(
                    "observe_build_info",
                    "The instrumented service and its version; always 1.",
                ),
                &["service", "version", "environment"],
            )
            .expect("valid metric"),
        };
        // Every known reason is exposed from the start, at zero, so a rate()
        // over it has a baseline and an alert on it has a series to watch.
        for reason in DROP_REASONS {
            health.spans_dropped.with_label_values(&[reason]);
        }
        for reason in PROPAGATION_ERRORS {
            health.propagation_errors.with_label_values(&[reason]);
        }
        health
    }
}

pub(crate) fn health() -> &'static Health {
    static HEALTH: Lazy<Health> = Lazy::new(Health::new);
    &HEALTH
}

impl Collector for ObserveCollector {
    fn desc(&self) -> Vec<&Desc> {
        let h = &self.health;
        let mut descs = vec![&self.latency.desc];
        descs.extend(h.spans_exported.desc());
        descs.extend(h.spans_dropped.desc());
        descs.extend(h.export_errors.desc());
        descs.extend(h.queue_depth.desc());
        descs.extend(h.propagation_errors.desc());
        descs.extend(h.build_info.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let h = &self.health;
        h.queue_depth.set(crate::runtime::queue_depth() as i64);
        let mut families = self.latency.collect();
        families.extend(h.spans_exported.collect());
        families.extend(h.spans_dropped.collect());
        families.extend(h.export_errors.collect());
        families.extend(h.queue_depth.collect());
        families.extend(h.propagation_errors.collect());
        families.extend(h.build_info.collect());
        families
    }
}

static PREFIX: OnceCell<String> = OnceCell::new();

pub(crate) fn set_prefix(prefix: &str) {
    let _ = PREFIX.set(prefix.to_owned());
}

/// observe's metrics as a collector to register in your own
/// `prometheus::Registry`.
pub fn collector() -> Box<dyn Collector> {
    Box::new(ObserveCollector {
        latency: LatencyCollector::new(PREFIX.get().map_or("", String::as_str)),
        health: health().clone(),
    })
}

/// The registry `init` fills and the built-in `/metrics` endpoint serves.
/// Register your own metrics here to have them served too.
pub fn registry() -> &'static Registry {
    static REGISTRY: Lazy<Registry> = Lazy::new(|| {
        let registry = Registry::new();
        registry
            .register(collector())
            .expect("observe's metrics register once");
        registry
    });
    &REGISTRY
}

/// [`registry`] in the classic Prometheus text format.
pub fn render() -> String {
    render_as(Format::Prometheus)
}

/// [`registry`] in `format`.
pub fn render_as(format: Format) -> String {
    encode(&registry().gather(), format)
}

/// Metric families gathered from any `prometheus::Registry` in `format`.
/// In OpenMetrics, observe's latency buckets carry their `trace_id`
/// exemplars, so a handler of your own serves them too:
///
/// ```no_run
/// use observe_runtime::metrics::{self, Format};
/// # let registry = prometheus::Registry::new();
/// # let accept: Option<&str> = None;
/// let format = Format::negotiate(accept);
/// let body = metrics::encode(&registry.gather(), format);
/// // respond with `Content-Type: format.content_type()` and `body`
/// ```
pub fn encode(families: &[MetricFamily], format: Format) -> String {
    match format {
        Format::Prometheus => {
            let mut out = String::new();
            prometheus::TextEncoder::new()
                .encode_utf8(families, &mut out)
                .expect("text encoding into a String cannot fail");
            out
        }
        Format::OpenMetrics => openmetrics::encode(families, &exemplar_index()),
    }
}

/// The exposition formats `/metrics` serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The classic Prometheus text format, version 0.0.4: no exemplars.
    Prometheus,
    /// OpenMetrics 1.0 text, with `trace_id` exemplars on latency buckets.
    OpenMetrics,
}

impl Format {
    /// The format an HTTP `Accept` header asks for: OpenMetrics when the
    /// client ranks it at least as high as the classic text (Prometheus
    /// does), the classic text otherwise and when there is no header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let mut openmetrics = 0.0f32;
        let mut classic = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut quality = 1.0f32;
            let mut version = None;
            for param in parts {
                let Some((name, value)) = param.split_once('=') else {
                    continue;
                };
                match name.trim().to_ascii_lowercase().as_str() {
                    "q" => quality = value.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(value.trim().trim_matches('"').to_owned()),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0" | "0.0.1")) =>
                {
                    openmetrics = openmetrics.max(quality);
                }
                "text/plain" | "text/*" | "*/*" => classic = classic.max(quality),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= classic {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_classic_text() {
        assert_eq!(Format::negotiate(Some(PROMETHEUS_2)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some(PROMETHEUS_3)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("text/plain, application/openmetrics-text;q=0.5")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=2.0.0")),
            Format::Prometheus,
            "an OpenMetrics version observe does not write"
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=garbage")),
            Format::Prometheus
        );
    }

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
