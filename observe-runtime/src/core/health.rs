//! Counters describing observe itself: spans exported and dropped, export
//! and propagation errors, the queue depth and the build info. Every layer
//! counts into these; the metrics layer exposes them.

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

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

/// Counts a header observe could not use, by reason: `traceparent_invalid`,
/// `tracestate_limit`, `tracestate_invalid`, `baggage_limit`, `baggage_invalid`, `not_utf8`,
/// `amqp_value_type`.
pub(crate) fn count_error(reason: &str) {
    health()
        .propagation_errors
        .with_label_values(&[reason])
        .inc();
}

/// How many headers were ignored for `reason` so far.
pub(crate) fn error_count(reason: &str) -> u64 {
    health()
        .propagation_errors
        .with_label_values(&[reason])
        .get()
}
