//! Latency histograms, calls in flight and observe's own health metrics,
//! exposed through a `prometheus::Registry`, in the classic text format or
//! OpenMetrics.
//!
//! The histograms are summed from every thread's shards (`hot/histogram.rs`)
//! at scrape time. [`Format::OpenMetrics`] writes the sampled calls'
//! exemplars on the bucket lines, so a latency spike in Prometheus links to
//! a trace; the classic text format has no exemplars.
//!
//! ```no_run
//! // Serve observe's metrics from your own registry:
//! let registry = prometheus::Registry::new();
//! registry.register(observe_runtime::metrics::collector()).unwrap();
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use once_cell::sync::{Lazy, OnceCell};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::Registry;

use crate::core::health::{health, Health};
use crate::hot::clock;
use crate::hot::histogram::{self, Exemplar, Totals};
use crate::hot::running;

mod openmetrics;
mod saturation;

pub use saturation::watch_tokio;

pub use crate::hot::callsite::LATENCY_BUCKETS;
#[doc(hidden)]
pub use crate::hot::callsite::LATENCY_BUCKET_NANOS;

/// The name of the default latency histogram family, without the configured
/// prefix. `metric(name = "...")` names a family of its own instead.
pub const LATENCY_FAMILY: &str = "operation_duration_seconds";

const HELP: &str = "Duration of observed operations, in seconds.";

/// The name of the in-flight gauge family, without the configured prefix.
pub const IN_FLIGHT_FAMILY: &str = "operations_in_flight";

const IN_FLIGHT_HELP: &str = "Observed calls started and not yet ended, per operation.";

/// Observe's metrics as a `prometheus` collector: the latency histograms,
/// the calls in flight per operation and observe's own health counters.
pub struct ObserveCollector {
    latency: LatencyCollector,
    in_flight: InFlightCollector,
    health: Health,
}

/// The calls running now, per operation (`hot/running.rs`): each thread
/// counts its own starts, and a scrape sums them and takes the ended calls
/// off.
struct InFlightCollector {
    desc: Desc,
}

impl InFlightCollector {
    fn new(prefix: &str) -> InFlightCollector {
        let desc = Desc::new(
            prefixed(prefix, IN_FLIGHT_FAMILY),
            IN_FLIGHT_HELP.into(),
            vec!["operation".into()],
            HashMap::new(),
        )
        .expect("the in-flight family name is valid");
        InFlightCollector { desc }
    }

    /// One gauge per observed function with a metric that has been called,
    /// `0` when none is running (a function without `metric` has no
    /// series, as it has no histogram; the HTTP and RPC layers' callsites
    /// are labelled by their own conventions, and have none either);
    /// callsites that share a span name are summed.
    fn collect(&self) -> Vec<MetricFamily> {
        let mut by_name: BTreeMap<&'static str, u64> = BTreeMap::new();
        for (callsite, running) in running::in_flight() {
            if callsite
                .metric
                .is_some_and(|metric| metric.operation_labels)
            {
                *by_name.entry(callsite.name).or_default() += running;
            }
        }
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(IN_FLIGHT_HELP.into());
        family.set_field_type(MetricType::GAUGE);
        family.set_metric(
            by_name
                .into_iter()
                .map(|(name, running)| {
                    let mut metric = Metric::from_label(vec![label("operation", name)]);
                    let mut gauge = Gauge::default();
                    gauge.set_value(running as f64);
                    metric.set_gauge(gauge);
                    metric
                })
                .collect(),
        );
        vec![family]
    }
}

struct LatencyCollector {
    /// The default family's name, with the configured prefix.
    default_family: String,
    desc: Desc,
}

/// One series, summed over threads, ready to render.
struct Row {
    family: String,
    help: &'static str,
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
        histogram::snapshot()
            .into_iter()
            .map(|s| {
                let mut labels = vec![("error_type", s.error_type)];
                if s.metric.operation_labels {
                    labels.push(("operation", s.callsite.name));
                    labels.push(("outcome", s.outcome.as_str()));
                }
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
                    help: s.metric.help.unwrap_or(HELP),
                    buckets: s.metric.buckets,
                    labels,
                    totals: s.totals,
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

/// One latency series for the debug pages: its family, labels, and each
/// bucket (then `+Inf`) with its count and its latest sampled call.
pub(crate) struct LatencySeries {
    pub(crate) family: String,
    /// Non-empty labels only, in the family's order.
    pub(crate) labels: Vec<(&'static str, &'static str)>,
    /// Upper bounds in seconds; the last bucket, past them, is `+Inf`.
    pub(crate) bounds: &'static [f64],
    /// Per bucket, then `+Inf`; not cumulative.
    pub(crate) counts: Vec<u64>,
    pub(crate) exemplars: Vec<Option<ExemplarView>>,
}

/// A bucket's exemplar, as OpenMetrics writes it.
#[derive(Clone, Copy)]
pub(crate) struct ExemplarView {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) seconds: f64,
    pub(crate) time: std::time::SystemTime,
}

/// Every latency series, by family and labels.
pub(crate) fn latency_series() -> Vec<LatencySeries> {
    let mut series: Vec<LatencySeries> =
        LatencyCollector::new(PREFIX.get().map_or("", String::as_str))
            .rows()
            .into_iter()
            .map(|row| {
                let slots = row.buckets.len() + 1;
                let mut counts = row.totals.counts.clone();
                counts.resize(slots, 0);
                let mut exemplars: Vec<Option<ExemplarView>> = row
                    .totals
                    .exemplars
                    .iter()
                    .map(|e| {
                        e.map(|e| ExemplarView {
                            trace_id: e.trace_id,
                            span_id: e.span_id,
                            seconds: e.seconds(),
                            time: e.time(),
                        })
                    })
                    .collect();
                exemplars.resize(slots, None);
                LatencySeries {
                    family: row.family,
                    labels: row
                        .labels
                        .into_iter()
                        .filter(|(_, value)| !value.is_empty())
                        .collect(),
                    bounds: row.buckets,
                    counts,
                    exemplars,
                }
            })
            .collect();
    series.sort_by(|a, b| (&a.family, &a.labels).cmp(&(&b.family, &b.labels)));
    series
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
    let help = rows.first().map_or(HELP, |row| row.help);
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
    family.set_help(help.into());
    family.set_field_type(MetricType::HISTOGRAM);
    family.set_metric(metrics.into_iter().map(|(_, metric)| metric).collect());
    family
}

/// The default family's name with the prefix in force.
pub(crate) fn default_family() -> String {
    family_name(PREFIX.get().map_or("", String::as_str))
}

/// The in-flight gauge's name with the prefix in force.
pub(crate) fn in_flight_family() -> String {
    prefixed(PREFIX.get().map_or("", String::as_str), IN_FLIGHT_FAMILY)
}

fn family_name(prefix: &str) -> String {
    prefixed(prefix, LATENCY_FAMILY)
}

fn prefixed(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}_{name}")
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

impl Collector for ObserveCollector {
    fn desc(&self) -> Vec<&Desc> {
        let h = &self.health;
        let mut descs = vec![&self.latency.desc, &self.in_flight.desc];
        descs.extend(h.spans_exported.desc());
        descs.extend(h.spans_dropped.desc());
        descs.extend(h.export_errors.desc());
        descs.extend(h.queue_depth.desc());
        descs.extend(h.propagation_errors.desc());
        descs.extend(h.build_info.desc());
        descs.extend(h.console_lines_dropped.desc());
        descs.extend(h.metrics_connections_rejected.desc());
        descs.extend(h.log_fields_redacted.desc());
        descs.extend(h.logs_exported.desc());
        descs.extend(h.logs_dropped.desc());
        descs.extend(h.log_events_suppressed.desc());
        descs.extend(h.trace_store_evicted.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let h = &self.health;
        let mut families = self.latency.collect();
        families.extend(self.in_flight.collect());
        families.extend(h.spans_exported.collect());
        families.extend(h.spans_dropped.collect());
        families.extend(h.export_errors.collect());
        families.extend(h.queue_depth.collect());
        families.extend(h.propagation_errors.collect());
        families.extend(h.build_info.collect());
        families.extend(h.console_lines_dropped.collect());
        families.extend(h.metrics_connections_rejected.collect());
        families.extend(h.log_fields_redacted.collect());
        families.extend(h.logs_exported.collect());
        families.extend(h.logs_dropped.collect());
        families.extend(h.log_events_suppressed.collect());
        families.extend(h.trace_store_evicted.collect());
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
    let prefix = PREFIX.get().map_or("", String::as_str);
    Box::new(ObserveCollector {
        latency: LatencyCollector::new(prefix),
        in_flight: InFlightCollector::new(prefix),
        health: health().clone(),
    })
}

/// The registry `init` fills and the built-in `/metrics` endpoint serves:
/// observe's collector, the process collector (CPU seconds, resident memory,
/// open file descriptors; Linux), and the tokio runtimes' saturation
/// ([`watch_tokio`]). Register your own metrics here to have them served
/// too.
pub fn registry() -> &'static Registry {
    static REGISTRY: Lazy<Registry> = Lazy::new(|| {
        let registry = Registry::new();
        registry
            .register(collector())
            .expect("observe's metrics register once");
        // Saturation beside the RED metrics: the process and the watched
        // tokio runtimes.
        if let Some(process) = saturation::process() {
            registry
                .register(process)
                .expect("the process collector registers once");
        }
        registry
            .register(Box::new(saturation::TokioCollector::new()))
            .expect("the tokio collector registers once");
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
}
