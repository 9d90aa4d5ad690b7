//! Saturation beside the RED metrics: the process (CPU seconds, resident
//! memory, open file descriptors, from the `prometheus` crate's process
//! collector on Linux) and each watched tokio runtime, from tokio's stable
//! `RuntimeMetrics`, read at scrape time so no task or call pays for them:
//!
//! - `tokio_workers{runtime}`: worker threads;
//! - `tokio_alive_tasks{runtime}`: tasks spawned and not yet finished;
//! - `tokio_global_queue_depth{runtime}`: tasks waiting in the shared queue;
//! - `tokio_worker_busy_seconds_total{runtime}`: time the workers spent
//!   polling, summed over workers; `rate(..) / tokio_workers` is the busy
//!   ratio.
//!
//! `init` watches the runtime it is called from (named `main`); any other is
//! added with [`watch_tokio`](crate::metrics::watch_tokio).

use std::sync::Mutex;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// The runtimes whose metrics are served, by name.
static RUNTIMES: Mutex<Vec<(String, tokio::runtime::Handle)>> = Mutex::new(Vec::new());

/// Serves the metrics of the runtime `handle` as `runtime="{name}"`. A
/// second runtime of the same name replaces the first.
pub fn watch_tokio(name: &str, handle: tokio::runtime::Handle) {
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    runtimes.retain(|(watched, _)| watched != name);
    runtimes.push((name.to_owned(), handle));
}

/// The tokio runtimes' families.
pub(crate) struct TokioCollector {
    descs: Vec<Desc>,
}

/// Name, help, and whether a counter.
const FAMILIES: [(&str, &str, bool); 4] = [
    (
        "tokio_workers",
        "Worker threads of the tokio runtime.",
        false,
    ),
    (
        "tokio_alive_tasks",
        "Tasks of the tokio runtime spawned and not yet finished.",
        false,
    ),
    (
        "tokio_global_queue_depth",
        "Tasks waiting in the tokio runtime's shared queue.",
        false,
    ),
    (
        "tokio_worker_busy_seconds_total",
        "Seconds the tokio runtime's workers spent polling tasks, summed over workers.",
        true,
    ),
];

impl TokioCollector {
    pub(crate) fn new() -> TokioCollector {
        let descs = FAMILIES
            .iter()
            .filter_map(|(name, help, _)| {
                Desc::new(
                    (*name).to_owned(),
                    (*help).to_owned(),
                    vec!["runtime".to_owned()],
                    Default::default(),
                )
                .ok()
            })
            .collect();
        TokioCollector { descs }
    }
}

impl Collector for TokioCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
        if runtimes.is_empty() {
            return Vec::new();
        }
        FAMILIES
            .iter()
            .enumerate()
            .map(|(index, (name, help, counter))| {
                let mut family = MetricFamily::default();
                family.set_name((*name).to_owned());
                family.set_help((*help).to_owned());
                family.set_field_type(if *counter {
                    MetricType::COUNTER
                } else {
                    MetricType::GAUGE
                });
                let metrics = runtimes
                    .iter()
                    .map(|(runtime, handle)| {
                        let value = read(index, &handle.metrics());
                        let mut metric = Metric::default();
                        let mut label = LabelPair::default();
                        label.set_name("runtime".to_owned());
                        label.set_value(runtime.clone());
                        metric.set_label(vec![label]);
                        if *counter {
                            let mut c = Counter::default();
                            c.set_value(value);
                            metric.set_counter(c);
                        } else {
                            let mut g = Gauge::default();
                            g.set_value(value);
                            metric.set_gauge(g);
                        }
                        metric
                    })
                    .collect();
                family.set_metric(metrics);
                family
            })
            .collect()
    }
}

/// The value of `FAMILIES[index]` for one runtime.
fn read(index: usize, metrics: &tokio::runtime::RuntimeMetrics) -> f64 {
    match index {
        0 => metrics.num_workers() as f64,
        1 => metrics.num_alive_tasks() as f64,
        2 => metrics.global_queue_depth() as f64,
        _ => busy_seconds(metrics),
    }
}

#[cfg(target_has_atomic = "64")]
fn busy_seconds(metrics: &tokio::runtime::RuntimeMetrics) -> f64 {
    (0..metrics.num_workers())
        .map(|worker| metrics.worker_total_busy_duration(worker).as_secs_f64())
        .sum()
}

#[cfg(not(target_has_atomic = "64"))]
fn busy_seconds(_metrics: &tokio::runtime::RuntimeMetrics) -> f64 {
    0.0
}

/// The process collector where the platform has one.
pub(crate) fn process() -> Option<Box<dyn Collector>> {
    #[cfg(target_os = "linux")]
    {
        Some(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}
