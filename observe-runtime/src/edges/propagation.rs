//! W3C Trace Context (levels 1 and 2) and W3C Baggage on message and
//! request headers, parsed and written by observe itself, per request.
//!
//! ```
//! use std::collections::HashMap;
//! let mut headers = HashMap::new();
//! observe_runtime::propagation::inject(&mut headers);
//! let parent = observe_runtime::propagation::extract(&headers);
//! assert!(!parent.is_valid()); // nothing is current outside an observed call
//! ```
//!
//! What is read:
//! - `traceparent` by its grammar (`edges/traceparent.rs`): exact
//!   field lengths, lowercase hex, version `ff` and all-zero ids refused,
//!   later versions read by their version-00 prefix. Two `traceparent`
//!   headers make the context invalid.
//! - `tracestate` by its grammar, only beside a valid `traceparent`;
//!   repeated headers are joined with `,` in order. It becomes the
//!   context's [`TraceState`]: carried with that context only, never
//!   remembered for the trace.
//! - `baggage`, repeated headers joined, by [`crate::baggage`].
//!
//! Header names match in any case. Whatever is ignored is counted in
//! `observe_propagation_errors_total{reason}`, by reason:
//!
//! | reason | what was refused | what happens |
//! |---|---|---|
//! | `traceparent_invalid` | a `traceparent` off the grammar: a field's length or digits, version `ff`, an all-zero id, text after version `00`'s flags | a new trace |
//! | `traceparent_repeated` | two `traceparent` headers | a new trace |
//! | `traceparent_too_long` | a `traceparent` over 512 bytes, not parsed | a new trace |
//! | `tracestate_invalid` | a `tracestate` member off the key or value grammar | the `tracestate` is dropped, the trace continues |
//! | `tracestate_duplicate_key` | a `tracestate` key twice | likewise |
//! | `tracestate_limit` | over 32 members (dropped), or over 512 bytes (members removed: those over 128 characters first, then from the end) | likewise, or a shorter `tracestate` |
//! | `baggage_invalid` | a baggage member off the grammar | that member is dropped |
//! | `baggage_limit` | baggage past 180 members or 8192 bytes | the members past the limit are dropped |
//! | `not_utf8`, `amqp_value_type` | a header value that is not text | the header is ignored |

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use opentelemetry::propagation::{Extractor, Injector};

use crate::core::health::count_error;
use crate::edges::messaging::Carrier;
use crate::edges::traceparent;
use crate::hot::baggage::{self, Baggage};
use crate::hot::context::{self, SpanContext, RANDOM, SAMPLED};
use crate::hot::trace_state::{self, TraceState};

/// A W3C propagation format named in `OTEL_PROPAGATORS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    /// W3C Trace Context (`traceparent`, `tracestate`).
    TraceContext,
    /// W3C Baggage (`baggage`).
    Baggage,
}

/// Whether `traceparent` and `tracestate` are read and written
/// (`OTEL_PROPAGATORS` names `tracecontext`; on by default).
static TRACE_CONTEXT_ON: AtomicBool = AtomicBool::new(true);
/// Whether `baggage` is read and written (`OTEL_PROPAGATORS` names it; on by
/// default).
static BAGGAGE_ON: AtomicBool = AtomicBool::new(true);

pub(crate) fn configure(propagators: &[Propagator]) {
    TRACE_CONTEXT_ON.store(
        propagators.contains(&Propagator::TraceContext),
        Ordering::Relaxed,
    );
    BAGGAGE_ON.store(
        propagators.contains(&Propagator::Baggage),
        Ordering::Relaxed,
    );
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
/// plus its `tracestate` and the current [`baggage`](crate::baggage) as
/// configured). Outside an observed call it writes only the baggage, if any.
pub fn inject(carrier: &mut dyn Injector) {
    inject_context(&context::current(), carrier);
}

/// Writes `context` (and the current baggage) into outgoing headers.
pub fn inject_context(context: &SpanContext, carrier: &mut dyn Injector) {
    for (name, value) in inject_fields(context) {
        carrier.set(name, value);
    }
}

/// Reads the sender's span from incoming headers: a `HashMap<String,
/// String>` or `BTreeMap` (keys in any case), any OpenTelemetry `Extractor`
/// as `&dyn Extractor`, and the broker carriers of [`carriers`]. A missing,
/// malformed or oversized header gives [`SpanContext::NONE`], so the next
/// span starts a new trace; a malformed one is counted in
/// `observe_propagation_errors_total`.
pub fn extract<C: Carrier + ?Sized>(carrier: &C) -> SpanContext {
    carrier.remote().context
}

/// Reads the sender's span and baggage from incoming headers.
pub fn extract_remote<C: Carrier + ?Sized>(carrier: &C) -> Remote {
    carrier.remote()
}

/// What a message carries from its sender: the sender's span, to continue
/// or link to, and the baggage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// The sender's span (with its `tracestate`), or [`SpanContext::NONE`].
    pub context: SpanContext,
    /// The baggage, when the message had any (and baggage propagation is on).
    pub baggage: Option<Arc<Baggage>>,
}

/// The W3C Baggage limits observe keeps: a header of at most 8192 bytes and
/// 180 members.
pub const BAGGAGE_MAX_BYTES: usize = baggage::MAX_BYTES;
/// See [`BAGGAGE_MAX_BYTES`].
pub const BAGGAGE_MAX_MEMBERS: usize = baggage::MAX_MEMBERS;

/// The W3C headers of one message, as text, before any interpretation:
/// what every carrier reads its headers into, so that validation and
/// counting happen in one place.
#[derive(Default)]
pub(crate) struct HeaderFields {
    traceparent: Traceparent,
    tracestate: Joined,
    baggage: Joined,
}

/// The `traceparent` headers seen.
#[derive(Default)]
enum Traceparent {
    #[default]
    Missing,
    One(String),
    TooLong,
    /// More than one: "Traceparent Header" defines one value, and with
    /// two there is no telling which parent is meant.
    Repeated,
}

/// A list header (`tracestate`, `baggage`) that may come in several lines,
/// joined with `,` in the order received (RFC 9110 5.3).
#[derive(Default)]
struct Joined {
    value: Option<String>,
    /// More arrived than is read at all; the rest was not kept.
    over: bool,
}

impl Joined {
    fn push(&mut self, part: &str, cap: usize) {
        let value = self.value.get_or_insert_with(String::new);
        let extra = part.len() + usize::from(!value.is_empty());
        if value.len() + extra > cap {
            self.over = true;
            return;
        }
        if !value.is_empty() {
            value.push(',');
        }
        value.push_str(part);
    }
}

impl HeaderFields {
    /// Records one header, `name` in any case; `Err` is a value that was not
    /// text. Other names are ignored.
    pub(crate) fn add(&mut self, name: &str, value: Result<&str, ()>) {
        let Some(known) = crate::edges::brokers::known(name) else {
            return;
        };
        let Ok(value) = value else {
            count_error("not_utf8");
            return;
        };
        match known {
            "traceparent" => {
                self.traceparent = match self.traceparent {
                    Traceparent::Missing if value.len() > traceparent::MAX_BYTES => {
                        Traceparent::TooLong
                    }
                    Traceparent::Missing => Traceparent::One(value.to_owned()),
                    _ => Traceparent::Repeated,
                }
            }
            "tracestate" => self.tracestate.push(value, trace_state::MAX_INPUT_BYTES),
            _ => self.baggage.push(value, baggage::MAX_INPUT_BYTES),
        }
    }
}

/// Validates and interprets the headers of one message.
// Called by the broker carriers only, each behind its feature.
#[cfg_attr(
    not(any(
        feature = "http",
        feature = "amqp",
        feature = "nats",
        feature = "kafka"
    )),
    allow(dead_code)
)]
pub(crate) fn extract_fields(fields: HeaderFields) -> SpanContext {
    extract_remote_fields(fields).context
}

/// Validates and interprets the headers of one message, baggage included.
pub(crate) fn extract_remote_fields(fields: HeaderFields) -> Remote {
    let baggage = match fields.baggage.value {
        Some(header) if BAGGAGE_ON.load(Ordering::Relaxed) => {
            if fields.baggage.over {
                count_error("baggage_limit");
            }
            Baggage::from_header(&header).map(Arc::new)
        }
        _ => None,
    };
    let context = if TRACE_CONTEXT_ON.load(Ordering::Relaxed) {
        extract_span(fields.traceparent, fields.tracestate)
    } else {
        SpanContext::NONE
    };
    Remote { context, baggage }
}

fn extract_span(traceparent: Traceparent, tracestate: Joined) -> SpanContext {
    let parent = match traceparent {
        // "Processing Model": without a `traceparent` there is nothing
        // to continue, and a `tracestate` alone is not read.
        Traceparent::Missing => return SpanContext::NONE,
        Traceparent::TooLong => Err(traceparent::Error::TooLong.reason()),
        Traceparent::Repeated => Err("traceparent_repeated"),
        Traceparent::One(value) => traceparent::parse(&value).map_err(traceparent::Error::reason),
    };
    let parent = match parent {
        Ok(parent) => parent,
        Err(reason) => {
            // "Tracestate Header": "If the vendor failed to parse
            // traceparent, it MUST NOT attempt to parse tracestate."
            count_error(reason);
            return SpanContext::NONE;
        }
    };
    let trace_state = match tracestate.value {
        None => TraceState::NONE,
        Some(_) if tracestate.over => {
            count_error("tracestate_limit");
            TraceState::NONE
        }
        Some(header) => match trace_state::parse(&header) {
            Ok((state, parsed)) => {
                if parsed.truncated {
                    count_error("tracestate_limit");
                }
                state
            }
            Err(error) => {
                count_error(error.reason());
                TraceState::NONE
            }
        },
    };
    SpanContext {
        trace_id: parent.trace_id,
        span_id: parent.parent_id,
        sampled: parent.flags & SAMPLED != 0,
        random: parent.flags & RANDOM != 0,
        remote: true,
        trace_state,
    }
}

/// The header fields that carry `context` and the current baggage, by W3C
/// name.
pub(crate) fn inject_fields(context: &SpanContext) -> Vec<(&'static str, String)> {
    let mut fields = Vec::with_capacity(3);
    if context.is_valid() && TRACE_CONTEXT_ON.load(Ordering::Relaxed) {
        fields.push((
            "traceparent",
            traceparent::format(context.trace_id, context.span_id, context.trace_flags()),
        ));
        // "tracestate Header Field Values": vendors "SHOULD avoid sending"
        // an empty `tracestate`, so
        // none is written when there is none.
        if !context.trace_state.is_empty() {
            fields.push(("tracestate", context.trace_state.header().to_owned()));
        }
    }
    if BAGGAGE_ON.load(Ordering::Relaxed) {
        if let Some(baggage) = baggage::with_current(|b| b.and_then(Baggage::to_header)) {
            fields.push(("baggage", baggage));
        }
    }
    fields
}

/// How many headers were ignored for `reason` so far.
pub fn error_count(reason: &str) -> u64 {
    crate::core::health::error_count(reason)
}

/// Keys in any case. Keys that differ only in case are read in byte order,
/// so that the outcome does not depend on the map's iteration order.
impl<S: std::hash::BuildHasher> Carrier for HashMap<String, String, S> {
    fn remote(&self) -> Remote {
        let mut found: Vec<(&String, &String)> = self
            .iter()
            .filter(|(key, _)| crate::edges::brokers::known(key).is_some())
            .collect();
        found.sort_unstable();
        let mut fields = HeaderFields::default();
        for (key, value) in found {
            fields.add(key, Ok(value));
        }
        extract_remote_fields(fields)
    }
}

/// Keys in any case, in the map's order.
impl Carrier for BTreeMap<String, String> {
    fn remote(&self) -> Remote {
        let mut fields = HeaderFields::default();
        for (key, value) in self {
            fields.add(key, Ok(value));
        }
        extract_remote_fields(fields)
    }
}

/// Any OpenTelemetry `Extractor`: its `keys()` in any case, every value of
/// each (`get_all`).
impl Carrier for dyn Extractor + '_ {
    fn remote(&self) -> Remote {
        let mut fields = HeaderFields::default();
        for key in self.keys() {
            if crate::edges::brokers::known(key).is_none() {
                continue;
            }
            for value in self.get_all(key).unwrap_or_default() {
                fields.add(key, Ok(value));
            }
        }
        extract_remote_fields(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A span of this process in `parent`'s trace.
    fn child(parent: &SpanContext) -> SpanContext {
        SpanContext {
            span_id: 0x1234,
            remote: false,
            ..parent.clone()
        }
    }

    fn injected(context: &SpanContext) -> HashMap<String, String> {
        let mut out = HashMap::new();
        inject_context(context, &mut out);
        out
    }

    #[test]
    fn tracestate_goes_with_its_context_only() {
        // The W3C Trace Context specification's tracestate example.
        let parent = extract(&headers(&[
            ("traceparent", TRACEPARENT),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ]));
        assert!(parent.is_valid());
        assert_eq!(
            parent.trace_state.header(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        );
        let out = injected(&child(&parent));
        assert_eq!(
            out["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-0000000000001234-01"
        );
        assert_eq!(out["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");

        // A later request of the same trace without a tracestate sends none:
        // nothing is remembered per trace.
        let later = extract(&headers(&[("traceparent", TRACEPARENT)]));
        assert_eq!(later.trace_id, parent.trace_id);
        assert!(!injected(&child(&later)).contains_key("tracestate"));
    }

    /// The tests that read the `tracestate_invalid` count, one at a time:
    /// the count is process-wide and the tests run in parallel.
    static TRACESTATE_INVALID: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn tracestate_with_control_characters_is_dropped_and_counted() {
        let _counter = TRACESTATE_INVALID.lock().unwrap_or_else(|e| e.into_inner());
        let before = error_count("tracestate_invalid");
        let parent = extract(&headers(&[
            ("traceparent", TRACEPARENT),
            ("tracestate", "rojo=00f0\n67aa"),
        ]));
        assert!(parent.is_valid(), "the traceparent is still used");
        assert_eq!(error_count("tracestate_invalid"), before + 1);
        assert!(!injected(&child(&parent)).contains_key("tracestate"));
    }

    #[test]
    fn tracestate_without_traceparent_is_not_read() {
        let _counter = TRACESTATE_INVALID.lock().unwrap_or_else(|e| e.into_inner());
        let before = error_count("tracestate_invalid");
        let parent = extract(&headers(&[("tracestate", "FOO=1")]));
        assert_eq!(parent, SpanContext::NONE);
        assert_eq!(
            error_count("tracestate_invalid"),
            before,
            "not parsed at all"
        );
    }

    #[test]
    fn round_trips_the_w3c_example() {
        // The example from the W3C Trace Context specification.
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = extract(&headers(&[("traceparent", incoming)]));
        assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.span_id_hex(), "00f067aa0ba902b7");
        assert!(parent.sampled && parent.remote && !parent.random);
        assert_eq!(injected(&parent)["traceparent"], incoming);
    }

    #[test]
    fn the_random_flag_is_passed_on() {
        for flags in ["00", "01", "02", "03"] {
            let incoming = format!("{}{flags}", &TRACEPARENT[..53]);
            let parent = extract(&headers(&[("traceparent", &incoming)]));
            assert_eq!(parent.random, flags == "02" || flags == "03");
            assert_eq!(injected(&child(&parent))["traceparent"][53..], flags[..]);
        }
    }

    #[test]
    fn malformed_headers_start_a_new_trace() {
        for (bad, reason) in [
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "traceparent_invalid",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "traceparent_invalid",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "traceparent_invalid",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                "traceparent_invalid",
            ),
            (
                "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "traceparent_invalid",
            ),
            ("garbage", "traceparent_invalid"),
        ] {
            let before = error_count(reason);
            assert_eq!(
                extract(&headers(&[("traceparent", bad)])),
                SpanContext::NONE,
                "{bad}"
            );
            assert_eq!(error_count(reason), before + 1, "{bad} is counted");
        }
        let long = format!("cc{}-{}", &TRACEPARENT[2..], "x".repeat(1 << 20));
        let before = error_count("traceparent_too_long");
        assert_eq!(
            extract(&headers(&[("traceparent", &long)])),
            SpanContext::NONE
        );
        assert_eq!(error_count("traceparent_too_long"), before + 1);
    }

    #[test]
    fn header_names_match_in_any_case_and_repeats_are_read() {
        let parent = extract(&headers(&[
            ("TraceParent", TRACEPARENT),
            ("TRACESTATE", "foo=1"),
        ]));
        assert!(parent.is_valid());
        assert_eq!(parent.trace_state.header(), "foo=1");

        // Two spellings of one name are two headers: two traceparents are
        // invalid, two tracestates are joined in byte order of their names.
        let before = error_count("traceparent_repeated");
        let two = extract(&headers(&[
            ("traceparent", TRACEPARENT),
            ("Traceparent", TRACEPARENT),
        ]));
        assert_eq!(two, SpanContext::NONE);
        assert_eq!(error_count("traceparent_repeated"), before + 1);
        let joined = extract(&headers(&[
            ("traceparent", TRACEPARENT),
            ("Tracestate", "a=1"),
            ("tracestate", "b=2"),
        ]));
        assert_eq!(joined.trace_state.header(), "a=1,b=2");
    }

    #[test]
    fn any_opentelemetry_extractor_can_be_read() {
        let map = headers(&[("traceparent", TRACEPARENT)]);
        let carrier: &dyn Extractor = &map;
        assert_eq!(
            extract(carrier).trace_id_hex(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }

    #[test]
    fn oversized_baggage_keeps_what_fits_and_is_counted() {
        let big = (0..200)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let before = error_count("baggage_limit");
        let remote = extract_remote(&headers(&[("traceparent", TRACEPARENT), ("baggage", &big)]));
        assert!(remote.context.is_valid(), "the trace still continues");
        assert_eq!(remote.baggage.unwrap().len(), BAGGAGE_MAX_MEMBERS);
        assert_eq!(error_count("baggage_limit"), before + 1);
    }

    /// W3C Trace Context, section "Examples of HTTP traceparent Headers",
    /// and W3C Baggage, section "Example": observe reads the specifications'
    /// headers, writes exactly the same strings, and OpenTelemetry's own
    /// propagators read what observe writes.
    #[test]
    fn interoperates_with_the_w3c_examples() {
        use opentelemetry::baggage::BaggageExt as _;
        use opentelemetry::propagation::TextMapPropagator as _;
        use opentelemetry::trace::TraceContextExt as _;
        use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

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
            let remote = extract_remote(&headers(&[
                ("traceparent", traceparent),
                ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
                (
                    "baggage",
                    "userId=alice,serverNode=DF%2028,isProduction=false",
                ),
            ]));
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
            let out = injected(&remote.context);
            assert_eq!(out["traceparent"], traceparent);
            assert_eq!(out["tracestate"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
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
            assert_eq!(
                otel.trace_state().header(),
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
            );
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
