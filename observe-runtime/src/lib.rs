//! observe: one attribute gives a function a span, a latency histogram and
//! correlated logs.
//!
//! ```no_run
//! use observe_runtime::{observe, Config};
//!
//! #[derive(Debug)]
//! struct OrderError;
//! impl std::fmt::Display for OrderError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("out of stock")
//!     }
//! }
//!
//! #[observe(span = "Order.Submit", metric = "latency", fields(order.id = id))]
//! fn submit(id: u64) -> Result<u64, OrderError> {
//!     tracing::info!("submitting");
//!     if id % 7 == 0 { Err(OrderError) } else { Ok(id) }
//! }
//!
//! fn main() -> Result<(), observe_runtime::InitError> {
//!     let _guard = observe_runtime::init(Config::from_env().service_name("checkout"))?;
//!     let _ = submit(42);
//!     Ok(())
//! }
//! ```
//!
//! See the crate README for the signals each call produces and the
//! configuration table.
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

pub mod baggage;
pub mod catalog;
mod clock;
mod config;
pub mod context;
mod export;
mod ids;
mod label;
pub mod logs;
pub mod messaging;
pub mod metrics;
mod pii;
pub mod propagation;
mod runtime;
mod serve;
mod span;
mod state;

pub use catalog::{assert_unique_span_names, catalog};
pub use config::{
    Config, ExportProtocol, InitError, LogOutput, ParentBasedRoot, Propagator, Sampler, SpanOutput,
};
pub use context::{current, spawn, spawn_thread, FutureExt, SpanContext};
pub use label::LabelValue;
pub use observe_macros::{observe, LabelValue};
pub use pii::{hash, mask, set_hash_key, Hashed, Masked, Redacted};
pub use runtime::{force_flush, init, is_initialized, Guard};
pub use span::{OutcomeKind, SpanKind};

/// Gives an error a low-cardinality `error.type`.
///
/// By default an `Err(e)` is reported with the short name of `e`'s type
/// (`OrderError`). Implement this trait to report per value instead, so an
/// enum can tell `validation` from `database`:
///
/// ```
/// enum OrderError { OutOfStock, Declined }
/// impl observe_runtime::ErrorType for OrderError {
///     fn error_type(&self) -> &'static str {
///         match self {
///             OrderError::OutOfStock => "out_of_stock",
///             OrderError::Declined => "payment_declined",
///         }
///     }
/// }
/// ```
///
/// The value is a metric label: keep the set of values small and fixed.
pub trait ErrorType {
    /// The `error.type` of this error value.
    fn error_type(&self) -> &'static str;
}

/// What the expansion of `#[observe]` calls.
///
/// **Not a stable API**: it changes with the macro, in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::baggage::WithBaggage;
    pub use crate::catalog::CALLSITES;
    pub use crate::label::{label_slot, LabelSlot, LabelValue};
    pub use crate::messaging::{
        baggage_of, enter_baggage, record_current_baggage, record_message, remote, start_batch,
        start_consumer,
    };
    pub use crate::metrics::{LATENCY_BUCKETS, LATENCY_BUCKET_NANOS};
    pub use crate::pii::redacted_value;
    pub use crate::span::{
        attribute_value, debug_value, display_value, start, start_entered, start_with_parent,
        ActiveSpan, Callsite, Classify, ClassifyDebug, ClassifyDisplay, ClassifyErrorType,
        ClassifyOther, ErrorRef, Instrumented, Metric, Outcome, SpanKind,
    };
    pub use linkme;
    pub use opentelemetry::Value;
}
