//! Latency histograms and observe's own health metrics, exposed through a
//! `prometheus::Registry`.
//!
//! An observed call writes only to a histogram shard owned by its thread (a
//! plain load and store, no lock prefix, no shared cache line). A scrape sums
//! the shards of every thread; a thread that exits folds its shards into the
//! retired totals first, so nothing it counted is lost.
//!
//! ```no_run
//! // Serve observe's metrics from your own registry:
//! let registry = prometheus::Registry::new();
//! registry.register(observe_runtime::metrics::collector()).unwrap();
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use once_cell::sync::{Lazy, OnceCell};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::clock;
use crate::context::SpanContext;
use crate::span::{Callsite, Metric as MetricSpec, OutcomeKind};

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
struct Shard {
    /// The callsite's bucket bounds in nanoseconds; `counts` has one more
    /// slot, for `+Inf`.
    bounds: &'static [u64],
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Shard {
    fn new(bounds: &'static [u64]) -> Shard {
        Shard {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    #[inline]
    fn record(&self, nanos: u64) {
        let slot = self
            .bounds
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(self.bounds.len());
        // Single writer: a load and a store, not a locked read-modify-write.
        bump(&self.counts[slot], 1);
        bump(&self.sum_nanos, nanos);
    }

    fn add_to(&self, totals: &mut Totals) {
        if totals.counts.len() < self.counts.len() {
            totals.counts.resize(self.counts.len(), 0);
        }
        for (total, count) in totals.counts.iter_mut().zip(&self.counts[..]) {
            *total += count.load(Ordering::Relaxed);
        }
        totals.sum_nanos += self.sum_nanos.load(Ordering::Relaxed);
    }
}

#[inline]
fn bump(cell: &AtomicU64, by: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

#[derive(Clone, Default)]
struct Totals {
    /// Per bucket, then `+Inf`; not cumulative.
    counts: Vec<u64>,
    sum_nanos: u64,
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
            by_labels[combination].get_or_insert_with(|| new_shard(callsite, metric, key))
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

/// Records one call in its callsite's histogram.
#[inline]
#[allow(clippy::too_many_arguments)] // everything the span knows at its end, passed by value
pub(crate) fn observe(
    callsite: &'static Callsite,
    metric: &'static MetricSpec,
    labels: u32,
    outcome: OutcomeKind,
    error_type: &'static str,
    start: u64,
    end: u64,
    _context: SpanContext,
) {
    let key = SeriesKey {
        callsite: callsite.index(),
        labels,
        outcome,
        error_type,
    };
    let nanos = clock::delta_nanos(start, end);
    // `try_with`: a call made while this thread's locals are being torn down
    // is not counted rather than panicking.
    let _ = LOCAL.try_with(|local| {
        local
            .borrow_mut()
            .shard(callsite, metric, key)
            .record(nanos)
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

    /// One histogram family per distinct family name; within a family every
    /// series has the union of the family's label names, empty where its
    /// callsite has no such label (Prometheus reads an empty label as absent).
    fn collect(&self) -> Vec<MetricFamily> {
        let series = SERIES.lock().unwrap_or_else(|e| e.into_inner());
        let rows: Vec<Row> = series
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
            .collect();
        drop(series);

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
    histogram.set_sample_sum(totals.sum_nanos as f64 / 1e9);
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
    pub(crate) build_info: IntGaugeVec,
}

impl Health {
    fn new() -> Health {
        Health {
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
            build_info: IntGaugeVec::new(
                Opts::new("observe_build_info", "The instrumented service; always 1."),
                &["service_name", "service_version", "deployment_environment"],
            )
            .expect("valid metric"),
        }
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

/// [`registry`] in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&registry().gather(), &mut out)
        .expect("text encoding into a String cannot fail");
    out
}
