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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::core::health::count_error;
use crate::hot::baggage::{self, Baggage};
use crate::hot::context::{self, SpanContext};
use crate::hot::trace_state;

/// A W3C propagation format named in `OTEL_PROPAGATORS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    /// W3C Trace Context (`traceparent`, `tracestate`).
    TraceContext,
    /// W3C Baggage (`baggage`).
    Baggage,
}

static PROPAGATOR: RwLock<Option<Arc<TextMapCompositePropagator>>> = RwLock::new(None);
/// Whether `baggage` is read and written (`OTEL_PROPAGATORS` names it; on by
/// default). Baggage is parsed by [`crate::baggage`] itself, so the W3C
/// limits (180 members) hold rather than the SDK's smaller ones.
static BAGGAGE_ON: AtomicBool = AtomicBool::new(true);

pub(crate) fn configure(propagators: &[Propagator]) {
    BAGGAGE_ON.store(
        propagators.contains(&Propagator::Baggage),
        Ordering::Relaxed,
    );
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
        trace_state::get(context.trace_id),
    ))
}

/// The header carriers of HTTP and the message brokers, one per cargo
/// feature; each lives with the rest of its broker's code.
pub mod carriers {
    #[cfg(feature = "amqp")]
    pub use crate::edges::brokers::amqp::carrier as amqp;
    #[cfg(feature = "http")]
    pub use crate::edges::brokers::http::carrier as http;
    #[cfg(feature = "kafka")]
    pub use crate::edges::brokers::kafka::carrier as kafka;
    #[cfg(feature = "nats")]
    pub use crate::edges::brokers::nats::carrier as nats;
}

/// Writes the current observed span into outgoing headers (`traceparent`,
/// plus `tracestate` and the current [`baggage`](crate::baggage) as
/// configured). Outside an observed call it writes only the baggage, if any.
pub fn inject(carrier: &mut dyn Injector) {
    inject_context(context::current(), carrier);
}

/// Writes `context` (and the current baggage) into outgoing headers.
pub fn inject_context(context: SpanContext, carrier: &mut dyn Injector) {
    for (name, value) in inject_fields(context) {
        carrier.set(name, value);
    }
}

/// Reads the sender's span from incoming headers. A missing, malformed or
/// oversized header gives [`SpanContext::NONE`], so the next span starts a new
/// trace; a malformed one is counted in `observe_propagation_errors_total`.
pub fn extract(carrier: &dyn Extractor) -> SpanContext {
    extract_fields(extractor_fields(carrier))
}

/// Reads the sender's span and baggage from incoming headers.
pub fn extract_remote(carrier: &dyn Extractor) -> Remote {
    extract_remote_fields(extractor_fields(carrier))
}

fn extractor_fields(carrier: &dyn Extractor) -> HeaderFields {
    let mut fields = HeaderFields::default();
    for name in crate::edges::brokers::NAMES {
        if let Some(value) = carrier.get(name) {
            fields.set(name, Ok(value));
        }
    }
    fields
}

/// What a message carries from its sender: the sender's span, to continue
/// or link to, and the baggage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// The sender's span, or [`SpanContext::NONE`].
    pub context: SpanContext,
    /// The baggage, when the message had any (and baggage propagation is on).
    pub baggage: Option<Arc<Baggage>>,
}

/// The W3C Baggage limits: a header of at most 8192 bytes and 180 members.
pub const BAGGAGE_MAX_BYTES: usize = baggage::MAX_BYTES;
/// See [`BAGGAGE_MAX_BYTES`].
pub const BAGGAGE_MAX_MEMBERS: usize = baggage::MAX_MEMBERS;
/// W3C Trace Context: `tracestate` has at most 32 list members; 512 bytes is
/// the size vendors must accept.
const TRACESTATE_MAX_BYTES: usize = 512;

/// The W3C headers of one message, as text, before any interpretation.
#[derive(Default)]
pub(crate) struct HeaderFields {
    traceparent: Option<String>,
    tracestate: Option<String>,
    baggage: Option<String>,
}

impl HeaderFields {
    /// Records header `name`; `Err` is a value that was not text.
    pub(crate) fn set(&mut self, name: &str, value: Result<&str, ()>) {
        let Ok(value) = value else {
            count_error("not_utf8");
            return;
        };
        let slot = match name {
            "traceparent" => &mut self.traceparent,
            "tracestate" => &mut self.tracestate,
            "baggage" => &mut self.baggage,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }
}

impl Extractor for HeaderFields {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            // Parsed by `crate::baggage`, not by the SDK's propagator.
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        crate::edges::brokers::NAMES
            .into_iter()
            .filter(|k| self.get(k).is_some())
            .collect()
    }
}

/// Validates and interprets the headers of one message.
pub(crate) fn extract_fields(fields: HeaderFields) -> SpanContext {
    extract_remote_fields(fields).context
}

/// Validates and interprets the headers of one message, baggage included.
pub(crate) fn extract_remote_fields(mut fields: HeaderFields) -> Remote {
    let baggage = match fields.baggage.take() {
        Some(header) if BAGGAGE_ON.load(Ordering::Relaxed) => {
            Baggage::from_header(&header).map(Arc::new)
        }
        _ => None,
    };
    Remote {
        context: extract_span(fields),
        baggage,
    }
}

fn extract_span(mut fields: HeaderFields) -> SpanContext {
    if let Some(state) = &fields.tracestate {
        if state.len() > TRACESTATE_MAX_BYTES || state.split(',').count() > 32 {
            count_error("tracestate_limit");
            fields.tracestate = None;
        } else if !state
            .bytes()
            .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
        {
            // W3C tracestate is printable ASCII. A control character would be
            // passed on into the next message's headers, where a carrier may
            // reject it (async-nats panics on `\r` and `\n`).
            count_error("tracestate_invalid");
            fields.tracestate = None;
        }
    }
    let has_traceparent = fields.traceparent.is_some();
    let cx = propagator().extract(&fields);
    let span = cx.span();
    let remote = span.span_context();
    if !remote.is_valid() {
        if has_traceparent {
            count_error("traceparent_invalid");
        }
        return SpanContext::NONE;
    }
    let trace_id = u128::from_be_bytes(remote.trace_id().to_bytes());
    if *remote.trace_state() != TraceState::NONE {
        trace_state::remember(trace_id, remote.trace_state());
    }
    SpanContext {
        trace_id,
        span_id: u64::from_be_bytes(remote.span_id().to_bytes()),
        sampled: remote.is_sampled(),
        remote: true,
    }
}

/// The header fields that carry `context` and the current baggage, by W3C
/// name.
pub(crate) fn inject_fields(context: SpanContext) -> Vec<(&'static str, String)> {
    let baggage = if BAGGAGE_ON.load(Ordering::Relaxed) {
        baggage::with_current(|b| b.and_then(Baggage::to_header))
    } else {
        None
    };
    let mut fields = Vec::new();
    if context.is_valid() {
        let mut map = HashMap::new();
        propagator().inject_context(&to_otel(context), &mut map);
        fields.extend(
            ["traceparent", "tracestate"]
                .into_iter()
                .filter_map(|name| map.remove(name).map(|value| (name, value)))
                // The SDK writes an empty `tracestate` when there is none;
                // W3C allows leaving the header out, and brokers carry less.
                .filter(|(_, value)| !value.is_empty()),
        );
    }
    if let Some(baggage) = baggage {
        fields.push(("baggage", baggage));
    }
    fields
}

/// How many headers were ignored for `reason` so far.
pub fn error_count(reason: &str) -> u64 {
    crate::core::health::error_count(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn tracestate_is_passed_on_in_the_same_trace() {
        // The W3C Trace Context specification's tracestate example.
        let mut headers = HashMap::new();
        headers.insert(
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        );
        headers.insert(
            "tracestate".to_owned(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".to_owned(),
        );
        let parent = extract(&headers);
        assert!(parent.is_valid());

        // A span of this process in the same trace sends it onward unchanged.
        let child = SpanContext {
            span_id: 0x1234,
            remote: false,
            ..parent
        };
        let mut out = HashMap::new();
        inject_context(child, &mut out);
        assert_eq!(
            out["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-0000000000001234-01"
        );
        assert_eq!(out["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
        assert_eq!(
            trace_state::get(child.trace_id).header(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
            "exported spans of the trace carry it too"
        );

        // Another trace does not.
        let other = SpanContext {
            trace_id: 0x77,
            ..child
        };
        let mut out = HashMap::new();
        inject_context(other, &mut out);
        assert!(!out.contains_key("tracestate"), "{out:?}");
    }

    #[test]
    fn tracestate_with_control_characters_is_dropped_and_counted() {
        let mut headers = HashMap::new();
        headers.insert(
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203331-01".to_owned(),
        );
        headers.insert("tracestate".to_owned(), "rojo=00f0\n67aa".to_owned());
        let before = error_count("tracestate_invalid");
        let parent = extract(&headers);
        assert!(parent.is_valid(), "the traceparent is still used");
        assert_eq!(error_count("tracestate_invalid"), before + 1);
        let mut out = HashMap::new();
        inject_context(
            SpanContext {
                span_id: 0x99,
                remote: false,
                ..parent
            },
            &mut out,
        );
        assert!(!out.contains_key("tracestate"), "{out:?}");
    }

    #[test]
    fn remembered_tracestates_are_bounded() {
        let state = TraceState::from_key_value([("vendor", "v")]).unwrap();
        for trace_id in 1..=(trace_state::TRACE_STATES_MAX as u128 + 10) {
            trace_state::remember(trace_id << 64, &state);
        }
        assert!(
            trace_state::TRACE_STATE_COUNT.load(Ordering::Relaxed) <= trace_state::TRACE_STATES_MAX
        );
        assert_eq!(
            trace_state::get(1 << 64),
            TraceState::NONE,
            "the oldest went first"
        );
        assert_eq!(
            trace_state::get((trace_state::TRACE_STATES_MAX as u128 + 10) << 64).header(),
            "vendor=v"
        );
    }

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
            let before = error_count("traceparent_invalid");
            assert_eq!(extract(&headers), SpanContext::NONE, "{bad}");
            assert_eq!(
                error_count("traceparent_invalid"),
                before + 1,
                "{bad} is counted"
            );
        }
    }

    #[test]
    fn oversized_baggage_is_dropped_and_counted() {
        let big = (0..200)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let headers = HashMap::from([
            (
                "traceparent".to_owned(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            ),
            ("baggage".to_owned(), big),
        ]);
        let before = error_count("baggage_limit");
        assert!(extract(&headers).is_valid(), "the trace still continues");
        assert_eq!(error_count("baggage_limit"), before + 1);
    }

    /// W3C Trace Context, section "Examples of HTTP traceparent Headers",
    /// and W3C Baggage, section "Example": observe reads the specifications'
    /// headers, writes exactly the same strings, and OpenTelemetry's own
    /// propagators read what observe writes.
    #[test]
    fn interoperates_with_the_w3c_examples() {
        use opentelemetry::baggage::BaggageExt as _;

        for (traceparent, sampled) in [
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                true,
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                false,
            ),
        ] {
            let headers = HashMap::from([
                ("traceparent".to_owned(), traceparent.to_owned()),
                (
                    "tracestate".to_owned(),
                    "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned(),
                ),
                (
                    "baggage".to_owned(),
                    "userId=alice,serverNode=DF%2028,isProduction=false".to_owned(),
                ),
            ]);
            let remote = extract_remote(&headers);
            assert_eq!(
                remote.context.trace_id_hex(),
                "0af7651916cd43dd8448eb211c80319c"
            );
            assert_eq!(remote.context.span_id_hex(), "b7ad6b7169203331");
            assert_eq!(remote.context.sampled, sampled);
            let baggage = remote.baggage.expect("the baggage is read");
            assert_eq!(
                baggage.iter().collect::<Vec<_>>(),
                [
                    ("userId", "alice"),
                    ("serverNode", "DF 28"),
                    ("isProduction", "false")
                ]
            );

            // Written back: the same strings.
            let _current = Baggage::clone(&baggage).attach();
            let mut out = HashMap::new();
            inject_context(remote.context, &mut out);
            assert_eq!(out["traceparent"], traceparent);
            assert_eq!(
                out["baggage"],
                "userId=alice,serverNode=DF%2028,isProduction=false"
            );

            // And OpenTelemetry's propagators read them.
            let cx = TraceContextPropagator::new().extract(&out);
            let otel = cx.span().span_context().clone();
            assert_eq!(
                otel.trace_id().to_string(),
                "0af7651916cd43dd8448eb211c80319c"
            );
            assert_eq!(otel.span_id().to_string(), "b7ad6b7169203331");
            assert_eq!(otel.is_sampled(), sampled);
            let cx = BaggagePropagator::new().extract(&out);
            assert_eq!(
                cx.baggage()
                    .get("serverNode")
                    .map(|v| v.as_str().to_owned()),
                Some("DF 28".to_owned())
            );
            assert_eq!(cx.baggage().len(), 3);
        }
    }

    #[test]
    fn baggage_travels_without_a_span() {
        let _current = Baggage::new().with("tenant.id", "acme").attach();
        let mut out = HashMap::new();
        inject(&mut out);
        assert_eq!(out.get("traceparent"), None, "no span is current");
        assert_eq!(out["baggage"], "tenant.id=acme");
    }
}
