//! The metrics and logs signals: the Prometheus and OpenMetrics exposition
//! of the histograms and health counters (`metrics`), the JSON log layer
//! (`logs`), and the link-time catalog of every callsite (`catalog`).
//!
//! Uses `core` and `hot`, never `export`.

pub mod catalog;
pub mod logs;
pub mod metrics;
