//! The metrics and logs signals: the Prometheus and OpenMetrics exposition
//! of the histograms and health counters (`metrics`), the JSON log layer
//! (`logs`) and its trace-aware sampling (`log_sampling`), the `tracing` spans that carry the observe context
//! (`tracing_context`) and the ids in `tracing_subscriber::fmt` lines
//! (`fmt_ids`), the link-time catalog of every callsite (`catalog`), and the
//! objectives with the rules, tests and dashboard generated from them (`slo`).
//!
//! Uses `core` and `hot`, never `export`.

pub mod catalog;
mod fmt_ids;
pub(crate) mod log_sampling;
pub mod logs;
pub mod metrics;
pub mod slo;
mod tracing_context;
