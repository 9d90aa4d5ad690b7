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
    pub(crate) console_lines_dropped: IntCounter,
    pub(crate) metrics_connections_rejected: IntCounterVec,
    pub(crate) log_fields_redacted: IntCounter,
    pub(crate) logs_exported: IntCounter,
    pub(crate) logs_dropped: IntCounterVec,
    pub(crate) log_events_suppressed: IntCounterVec,
    pub(crate) trace_store_evicted: IntCounterVec,
}

/// Reasons a span is dropped before export: the rings or the queue were
/// full, the exporter failed or timed out, the OTLP collector rejected it
/// (a partial success), the shutdown deadline came first, or no exporter is
/// configured (`OTEL_TRACES_EXPORTER=none`).
pub(crate) const DROP_REASONS: [&str; 5] = [
    "queue_full",
    "export_failed",
    "rejected",
    "shutdown_timeout",
    "exporter_none",
];

/// Reasons a log record bound for OTLP is dropped: the queue was full (the
/// collector is slower than the program logs), the export failed or timed
/// out, or the shutdown deadline came first.
pub(crate) const LOG_DROP_REASONS: [&str; 3] = ["queue_full", "export_failed", "shutdown_timeout"];

/// What the trace store behind the debug pages let go, as `(item, reason)`.
///
/// - `byte_cap`: the oldest trace was evicted, with its spans and log lines,
///   to stay within the store's byte cap.
/// - `trace_limit`: a log line past the per-trace bound.
/// - `queue_full`: a log line that found the store's intake queue full.
pub(crate) const STORE_EVICTIONS: [(&str, &str); 4] = [
    ("span", "byte_cap"),
    ("log_line", "byte_cap"),
    ("log_line", "trace_limit"),
    ("log_line", "queue_full"),
];

/// Reasons the built-in `/metrics` server closes or refuses a connection
/// rather than its client.
///
/// - `idle_evicted`: closed while idle, to admit a new one at the cap.
/// - `limit`: refused at the cap, every open connection being busy.
/// - `header_timeout`: no complete request header within the timeout.
/// - `accept_error`: `accept` failed (most often out of file descriptors).
pub(crate) const REJECT_REASONS: [&str; 4] =
    ["idle_evicted", "limit", "header_timeout", "accept_error"];

/// Reasons an incoming trace header, or part of one, is ignored.
///
/// - `traceparent_invalid`: breaks the W3C grammar (a field's length or
///   digits, version `ff`, an all-zero id); the trace restarts.
/// - `traceparent_repeated`: two `traceparent` headers; the trace restarts.
/// - `traceparent_too_long`: over 512 bytes, not parsed; the trace restarts.
/// - `tracestate_invalid`: a member breaks the grammar; the whole
///   `tracestate` is dropped, the trace continues.
/// - `tracestate_duplicate_key`: a key appears twice; dropped likewise.
/// - `tracestate_limit`: over 32 members (dropped), or over 512 bytes
///   (members removed as W3C recommends).
/// - `baggage_limit`: members past 180 or 8192 bytes were dropped.
/// - `baggage_invalid`: a member breaks the grammar and was dropped.
/// - `not_utf8`, `amqp_value_type`: a header value that is not text.
const PROPAGATION_ERRORS: [&str; 10] = [
    "traceparent_invalid",
    "traceparent_repeated",
    "traceparent_too_long",
    "tracestate_invalid",
    "tracestate_duplicate_key",
    "tracestate_limit",
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
            console_lines_dropped: IntCounter::new(
                "observe_console_lines_dropped_total",
                "Span lines for stderr or the spans file dropped because the writer was behind.",
            )
            .expect("valid metric"),
            log_fields_redacted: IntCounter::new(
                "observe_log_fields_redacted_total",
                "Log event fields masked because they held personal data.",
            )
            .expect("valid metric"),
            logs_exported: IntCounter::new(
                "observe_logs_exported_total",
                "Log records handed to the OTLP log exporter successfully.",
            )
            .expect("valid metric"),
            logs_dropped: IntCounterVec::new(
                Opts::new(
                    "observe_logs_dropped_total",
                    "Log records bound for OTLP dropped before export, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            log_events_suppressed: IntCounterVec::new(
                Opts::new(
                    "observe_log_events_suppressed_total",
                    "Log events suppressed by log sampling, by callsite (`target file:line`).",
                ),
                &["callsite"],
            )
            .expect("valid metric"),
            metrics_connections_rejected: IntCounterVec::new(
                Opts::new(
                    "observe_metrics_connections_rejected_total",
                    "Connections to the built-in /metrics server it closed or refused, by reason.",
                ),
                &["reason"],
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
            trace_store_evicted: IntCounterVec::new(
                Opts::new(
                    "observe_trace_store_evicted_total",
                    "Spans and log lines the trace store behind the debug pages let go, \
                     by item and reason.",
                ),
                &["item", "reason"],
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
        for reason in LOG_DROP_REASONS {
            health.logs_dropped.with_label_values(&[reason]);
        }
        for reason in REJECT_REASONS {
            health
                .metrics_connections_rejected
                .with_label_values(&[reason]);
        }
        for (item, reason) in STORE_EVICTIONS {
            health
                .trace_store_evicted
                .with_label_values(&[item, reason]);
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

/// Counts a header observe could not use, by one of the reasons of
/// [`PROPAGATION_ERRORS`].
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
