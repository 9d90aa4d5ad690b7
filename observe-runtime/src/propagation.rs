//! W3C Trace Context and Baggage on message and request headers, through
//! OpenTelemetry's propagators (the formats named by `OTEL_PROPAGATORS`).
//!
//! ```
//! use std::collections::HashMap;
//! let mut headers = HashMap::new();
//! observe_runtime::propagation::inject(&mut headers);
//! let parent = observe_runtime::propagation::extract(&headers);
//! assert!(!parent.is_valid()); // nothing is current outside an observed call
//! ```

use std::sync::{Arc, RwLock};

use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::config::Propagator;
use crate::context::{self, SpanContext};

static PROPAGATOR: RwLock<Option<Arc<TextMapCompositePropagator>>> = RwLock::new(None);

pub(crate) fn configure(propagators: &[Propagator]) {
    *PROPAGATOR.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(build(propagators)));
}

fn build(propagators: &[Propagator]) -> TextMapCompositePropagator {
    let list: Vec<Box<dyn TextMapPropagator + Send + Sync>> = propagators
        .iter()
        .map(|p| -> Box<dyn TextMapPropagator + Send + Sync> {
            match p {
                Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                Propagator::Baggage => Box::new(BaggagePropagator::new()),
            }
        })
        .collect();
    TextMapCompositePropagator::new(list)
}

fn propagator() -> Arc<TextMapCompositePropagator> {
    if let Some(p) = PROPAGATOR
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        return Arc::clone(p);
    }
    let default = Arc::new(build(&[Propagator::TraceContext, Propagator::Baggage]));
    *PROPAGATOR.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&default));
    default
}

fn to_otel(context: SpanContext) -> Context {
    if !context.is_valid() {
        return Context::new();
    }
    let flags = if context.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Context::new().with_remote_span_context(OtelSpanContext::new(
        TraceId::from(context.trace_id),
        SpanId::from(context.span_id),
        flags,
        true,
        TraceState::NONE,
    ))
}

/// Writes the current observed span into outgoing headers (`traceparent`,
/// plus `tracestate` / `baggage` as configured). Outside an observed call it
/// writes nothing.
pub fn inject(carrier: &mut dyn Injector) {
    inject_context(context::current(), carrier);
}

/// Writes `context` into outgoing headers.
pub fn inject_context(context: SpanContext, carrier: &mut dyn Injector) {
    if context.is_valid() {
        propagator().inject_context(&to_otel(context), carrier);
    }
}

/// Reads the sender's span from incoming headers. A missing or malformed
/// header gives [`SpanContext::NONE`], so the next span starts a new trace.
pub fn extract(carrier: &dyn Extractor) -> SpanContext {
    let cx = propagator().extract(carrier);
    let span = cx.span();
    let remote = span.span_context();
    if !remote.is_valid() {
        return SpanContext::NONE;
    }
    SpanContext {
        trace_id: u128::from_be_bytes(remote.trace_id().to_bytes()),
        span_id: u64::from_be_bytes(remote.span_id().to_bytes()),
        sampled: remote.is_sampled(),
        remote: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn round_trips_the_w3c_example() {
        // The example from the W3C Trace Context specification.
        let mut headers = HashMap::new();
        headers.insert(
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        );
        let parent = extract(&headers);
        assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id_hex(), "00f067aa0ba902b7");
        assert!(parent.sampled && parent.remote);

        let mut out = HashMap::new();
        inject_context(parent, &mut out);
        assert_eq!(out["traceparent"], headers["traceparent"]);
    }

    #[test]
    fn malformed_headers_start_a_new_trace() {
        for bad in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "garbage",
        ] {
            let headers = HashMap::from([("traceparent".to_owned(), bad.to_owned())]);
            assert_eq!(extract(&headers), SpanContext::NONE, "{bad}");
        }
    }
}
