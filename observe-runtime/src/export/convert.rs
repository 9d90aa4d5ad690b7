//! Ended span records into OpenTelemetry `SpanData`, on the export task.

use std::borrow::Cow;

use once_cell::sync::Lazy;
use opentelemetry::trace::{
    Event, Link, SpanContext as OtelSpanContext, SpanId, SpanKind as OtelKind, Status, TraceFlags,
    TraceId,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::hot::callsite::{OutcomeKind, SpanKind};
use crate::hot::context::SpanContext;
use crate::hot::span::{SpanExtra, SpanRecord};
use crate::hot::trace_state::TraceState;
use crate::hot::{clock, limits};

fn otel_kind(kind: SpanKind) -> OtelKind {
    match kind {
        SpanKind::Internal => OtelKind::Internal,
        SpanKind::Server => OtelKind::Server,
        SpanKind::Client => OtelKind::Client,
        SpanKind::Producer => OtelKind::Producer,
        SpanKind::Consumer => OtelKind::Consumer,
    }
}

static SCOPE: Lazy<InstrumentationScope> = Lazy::new(|| {
    InstrumentationScope::builder("observe")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
});

/// The OpenTelemetry form of a span's links.
fn links_of(contexts: Vec<SpanContext>, dropped: u32) -> SpanLinks {
    let mut out = SpanLinks::default();
    out.dropped_count = dropped;
    out.links = contexts
        .into_iter()
        .map(|context| {
            Link::new(
                OtelSpanContext::new(
                    TraceId::from(context.trace_id),
                    SpanId::from(context.span_id),
                    TraceFlags::new(context.trace_flags()),
                    context.remote,
                    context.trace_state.to_otel(),
                ),
                Vec::new(),
                0,
            )
        })
        .collect();
    out
}

/// The OpenTelemetry form of a record.
pub(crate) fn to_span_data(record: SpanRecord) -> SpanData {
    let callsite = record.callsite();
    let outcome = record.outcome();
    let parent_remote = record.parent_remote();
    let random = record.random();
    let (error_type, message, user_attributes, links, trace_state) = match record.extra {
        Some(extra) => {
            let SpanExtra {
                attributes,
                error_type,
                message,
                links,
                trace_state,
                dropped_attributes,
                dropped_links,
                truncated,
            } = *extra;
            let dropped = (dropped_attributes, dropped_links, truncated);
            (
                error_type,
                message,
                attributes,
                (links, dropped),
                trace_state,
            )
        }
        None => (
            "",
            None,
            Vec::new(),
            (Vec::new(), (0, 0, false)),
            TraceState::NONE,
        ),
    };
    let (links, (dropped_attributes, dropped_links, truncated)) = links;
    let end_time = clock::to_system_time(record.end);
    // The callsite's four, the user's, and one for the outcome.
    let mut attributes = Vec::with_capacity(user_attributes.len() + 5);
    attributes.extend(user_attributes);
    // A request's span (an HTTP or RPC layer's) has no function of its own.
    if !callsite.function.is_empty() {
        attributes.push(KeyValue::new("code.function", callsite.function));
        attributes.push(KeyValue::new("code.namespace", callsite.namespace));
        attributes.push(KeyValue::new("code.filepath", callsite.file));
        attributes.push(KeyValue::new("code.lineno", i64::from(callsite.line)));
    }
    if truncated {
        attributes.push(KeyValue::new("observe.truncated", true));
    }
    let mut events = SpanEvents::default();
    let status = match outcome {
        OutcomeKind::Ok => Status::Unset,
        OutcomeKind::Cancelled => {
            attributes.push(KeyValue::new("observe.outcome", "cancelled"));
            Status::Unset
        }
        OutcomeKind::Error | OutcomeKind::Panic => {
            // A status that is an error by itself (an HTTP 5xx) has no
            // message, and no exception to report beside `error.type`.
            let exception = message.is_some();
            let message: Cow<'static, str> =
                message.map_or(Cow::Borrowed(""), |m| Cow::Owned(m.into_string()));
            attributes.push(KeyValue::new("error.type", error_type));
            let exception_type = if outcome == OutcomeKind::Panic {
                "panic"
            } else {
                error_type
            };
            if exception {
                if limits::event_count() > 0 {
                    events.events.push(Event::new(
                        "exception",
                        end_time,
                        vec![
                            KeyValue::new("exception.type", exception_type),
                            KeyValue::new("exception.message", message.clone()),
                        ],
                        0,
                    ));
                } else {
                    events.dropped_count = 1;
                }
            }
            Status::Error {
                description: message,
            }
        }
    };
    SpanData {
        span_context: OtelSpanContext::new(
            TraceId::from(record.trace_id),
            SpanId::from(record.span_id),
            // Only sampled spans are recorded.
            TraceFlags::new(if random { 0x03 } else { 0x01 }),
            false,
            trace_state.to_otel(),
        ),
        parent_span_id: SpanId::from(record.parent_span_id),
        parent_span_is_remote: parent_remote,
        span_kind: otel_kind(callsite.kind),
        name: Cow::Borrowed(callsite.name),
        start_time: clock::to_system_time(record.start),
        end_time,
        attributes,
        dropped_attributes_count: dropped_attributes,
        events,
        links: links_of(links, dropped_links),
        status,
        instrumentation_scope: SCOPE.clone(),
    }
}
