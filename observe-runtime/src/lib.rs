// The crate documentation is README.md, so its examples (the Quickstart
// first) are compiled and run as doctests, and `cargo doc` shows what the
// repository shows. The messaging example needs the `amqp` feature, which
// `cargo test --workspace --doc` (in `.ci/test`) turns on.
#![doc = include_str!("../../README.md")]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

// The layers, bottom to top; each uses only the layers listed before it
// (ARCHITECTURE.md; `tests/tests/layering.rs` checks it). `export` and
// `signals` do not use each other.
mod core;
mod edges;
mod export;
mod hot;
mod init;
mod signals;
mod store;

#[cfg(feature = "tonic")]
pub use edges::grpc;
#[cfg(feature = "http")]
pub use edges::http;
pub use edges::{messaging, propagation};
pub use hot::{baggage, context};
pub use signals::{catalog, logs, metrics, slo};

pub use edges::propagation::Propagator;
pub use export::{ExportProtocol, LogExport, SpanOutput};
pub use hot::callsite::{ErrorType, OutcomeKind, SpanKind};
pub use hot::context::{current, spawn, spawn_blocking, spawn_thread, FutureExt, SpanContext};
pub use hot::label::LabelValue;
pub use hot::limits::SpanLimits;
pub use hot::pii::{hash, mask, set_hash_key, Hashed, Masked, Redacted};
pub use hot::sensitive::{RawText, Sensitive};
pub use observe_macros::Sensitive;

/// Personal data: types marked [`Sensitive`], the marked types observe
/// ships, and [`mask`] and [`hash`], the only ways a marked value, or a
/// value under a sensitive key, reaches telemetry.
pub mod pii {
    pub use crate::hot::pii::{hash, mask, set_hash_key, Hashed, Masked, Redacted};
    #[doc(inline)]
    pub use crate::hot::sensitive::*;
}
pub use hot::trace_state::{TraceState, TraceStateError};
pub use init::config::{Config, ParentBasedRoot, Sampler};
pub use init::signal::{shutdown_signal, Signal};
pub use init::{force_flush, init, is_initialized, Guard};
pub use observe_macros::{observe, LabelValue};
pub use signals::catalog::{assert_unique_span_names, catalog};
pub use signals::log_sampling::LogSampling;
pub use signals::logs::LogOutput;

pub use crate::core::error::InitError;

/// The `prometheus` crate observe's registry is built with: register your
/// own metrics through this path, so they share its version.
///
/// ```
/// use observe_runtime::prometheus::IntCounter;
/// let refunds = IntCounter::new("refunds_total", "Refunds issued.").unwrap();
/// observe_runtime::metrics::registry()
///     .register(Box::new(refunds.clone()))
///     .unwrap();
/// refunds.inc();
/// assert!(observe_runtime::metrics::render().contains("refunds_total 1"));
/// ```
#[doc(no_inline)]
pub use prometheus;

/// What the expansion of `#[observe]` calls.
///
/// **Not a stable API**: it changes with the macro, in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::edges::messaging::{
        baggage_of, enter_baggage, record_current_baggage, record_message, remote, start_batch,
        start_consumer, start_request,
    };
    pub use crate::hot::baggage::WithBaggage;
    pub use crate::hot::callsite::{
        Callsite, ErrorRef, Metric, Outcome, SpanKind, LATENCY_BUCKETS, LATENCY_BUCKET_NANOS,
    };
    pub use crate::hot::label::{label_slot, LabelSlot, LabelValue};
    pub use crate::hot::pii::{redacted_value, POLICY_SENSITIVE_KEYS};
    pub use crate::hot::sensitive::{
        fmt_redacted, not_sensitive, Probe, ProbeMarked, ProbeUnmarked,
    };
    pub use crate::hot::span::{start, start_entered, start_with_parent, ActiveSpan, Instrumented};
    pub use crate::hot::value::{
        attribute_value, debug_value, display_value, Classify, ClassifyDebug, ClassifyDisplay,
        ClassifyErrorType, ClassifyOther,
    };
    pub use crate::signals::catalog::CALLSITES;
    pub use crate::signals::slo::{CallsiteObjective, OBJECTIVES};
    pub use linkme;
    pub use opentelemetry::Value;
}
