//! Message consumers and producers: what `#[observe(consumer, ..)]` and
//! `#[observe(producer, ..)]` call.
//!
//! - [`Carrier`]: headers a sender's trace context and baggage can be read
//!   from (`headers = ..`): `HashMap<String, String>`, and behind their
//!   features `http::HeaderMap`, lapin's `FieldTable`, async-nats's
//!   `HeaderMap` and rdkafka's headers, also inside `Option` or behind a
//!   reference.
//! - [`IncomingMessage`]: a received message that knows its headers and its
//!   messaging attributes (`message = ..`): lapin's `Delivery`, async-nats's
//!   `Message`, rdkafka's `BorrowedMessage` and `OwnedMessage`.
//! - [`Batch`]: many messages or header maps (`messages = ..`): one span,
//!   one link per message.
//! - [`IncomingRequest`]: a received request (`#[observe(server, request =
//!   ..)]`): `http::Request<B>` behind the `http` feature.
//!
//! The attributes follow the OpenTelemetry messaging semantic conventions:
//! `messaging.system`, `messaging.destination.name`,
//! `messaging.operation.type`, `messaging.operation.name`,
//! `messaging.message.id`, `messaging.destination.partition.id`,
//! `messaging.kafka.offset`, `messaging.rabbitmq.destination.routing_key`,
//! `messaging.batch.message_count`.

use std::sync::Arc;

use opentelemetry::Value;

use crate::edges::propagation::Remote;
use crate::hot::baggage::{self, Baggage};
use crate::hot::callsite::Callsite;
use crate::hot::span::{start_with_parent, ActiveSpan};

/// Headers a sender's trace context and baggage can be read from.
///
/// Malformed headers give an empty [`Remote`] and are counted in
/// `observe_propagation_errors_total`; reading never panics.
pub trait Carrier {
    /// The sender's span and baggage.
    fn remote(&self) -> Remote;
}

impl<T: Carrier + ?Sized> Carrier for &T {
    fn remote(&self) -> Remote {
        (**self).remote()
    }
}

impl<T: Carrier> Carrier for Option<T> {
    fn remote(&self) -> Remote {
        self.as_ref().map(Carrier::remote).unwrap_or_default()
    }
}

/// A received message: its headers and its messaging attributes.
#[diagnostic::on_unimplemented(
    message = "`message = ..` needs a received message observe knows, found `{Self}`",
    label = "not a known message type",
    note = "messages: lapin's `Delivery` (feature `amqp`), async-nats's `Message` (`nats`), rdkafka's `BorrowedMessage` and `OwnedMessage` (`kafka`); for other types write `headers = ..` with `system = \"..\"` and `destination = ..`"
)]
pub trait IncomingMessage: Carrier {
    /// `messaging.system`: `rabbitmq`, `nats`, `kafka`.
    fn system(&self) -> &'static str;

    /// Records `messaging.destination.name` and what else the message has
    /// (message id, partition, offset) on `span`.
    fn record(&self, span: &mut ActiveSpan);
}

impl<T: IncomingMessage + ?Sized> IncomingMessage for &T {
    fn system(&self) -> &'static str {
        (**self).system()
    }

    fn record(&self, span: &mut ActiveSpan) {
        (**self).record(span);
    }
}

/// A received request: its headers and its attributes
/// (`#[observe(server, request = ..)]`).
#[diagnostic::on_unimplemented(
    message = "`request = ..` needs a received request observe knows, found `{Self}`",
    label = "not a known request type",
    note = "requests: `http::Request<B>` (feature `http` of observe-runtime), as axum, hyper and tonic hand it to a service; for other types write `headers = ..`"
)]
pub trait IncomingRequest: Carrier {
    /// Records the request's attributes (for HTTP: `http.request.method`,
    /// `url.scheme`, `url.path`, `server.address`, `server.port`,
    /// `network.protocol.version`) on `span`.
    fn record(&self, span: &mut ActiveSpan);
}

impl<T: IncomingRequest + ?Sized> IncomingRequest for &T {
    fn record(&self, span: &mut ActiveSpan) {
        (**self).record(span);
    }
}

/// Many messages or header maps handled by one call.
#[diagnostic::on_unimplemented(
    message = "`messages = ..` needs a slice, array, `Vec` or `VecDeque` of messages or header maps, found `{Self}`",
    label = "not a batch of messages"
)]
pub trait Batch {
    /// Calls `f` with each message's carrier, in order.
    fn each(&self, f: &mut dyn FnMut(&dyn Carrier));
}

impl<T: Carrier> Batch for [T] {
    fn each(&self, f: &mut dyn FnMut(&dyn Carrier)) {
        for item in self {
            f(item);
        }
    }
}

impl<T: Carrier, const N: usize> Batch for [T; N] {
    fn each(&self, f: &mut dyn FnMut(&dyn Carrier)) {
        self.as_slice().each(f);
    }
}

impl<T: Carrier> Batch for Vec<T> {
    fn each(&self, f: &mut dyn FnMut(&dyn Carrier)) {
        self.as_slice().each(f);
    }
}

impl<T: Carrier> Batch for std::collections::VecDeque<T> {
    fn each(&self, f: &mut dyn FnMut(&dyn Carrier)) {
        for item in self {
            f(item);
        }
    }
}

impl<T: Batch + ?Sized> Batch for &T {
    fn each(&self, f: &mut dyn FnMut(&dyn Carrier)) {
        (**self).each(f);
    }
}

/// `headers = ..` / `message = ..`: what the message carries.
#[doc(hidden)]
pub fn remote<C: Carrier + ?Sized>(carrier: &C) -> Remote {
    if !crate::hot::state::enabled() {
        return Remote::default();
    }
    carrier.remote()
}

/// Starts a consumer span: a child of the sender's span (`link == false`)
/// or, with `propagation = "link"`, a span of a new trace (or of the current
/// local one) linked to the sender's span. Without a valid sender context
/// the span is a child of the current span, as any other.
///
/// Allowlisted baggage entries become attributes.
#[doc(hidden)]
pub fn start_consumer(callsite: &'static Callsite, remote: &Remote, link: bool) -> ActiveSpan {
    let mut span = if remote.context.is_valid() && !link {
        start_with_parent(callsite, remote.context.clone())
    } else {
        let mut span = crate::hot::span::start(callsite);
        span.add_link(remote.context.clone());
        span
    };
    if let Some(baggage) = &remote.baggage {
        if span.is_recording() {
            record_baggage(&mut span, baggage);
        }
    }
    span
}

/// Starts a span for a batch: a child of the current span, with a link to
/// each message's context, and `messaging.batch.message_count`.
#[doc(hidden)]
pub fn start_batch<B: Batch + ?Sized>(callsite: &'static Callsite, batch: &B) -> ActiveSpan {
    let mut span = crate::hot::span::start(callsite);
    if span.is_recording() {
        let mut count = 0_i64;
        batch.each(&mut |carrier| {
            count += 1;
            span.add_link(carrier.remote().context);
        });
        span.set_attribute("messaging.batch.message_count", Value::I64(count));
    }
    span
}

/// Producers and batch consumers: the allowlisted entries of the baggage
/// current where the span starts become attributes, as the message's do on a
/// consumer span.
#[doc(hidden)]
pub fn record_current_baggage(span: &mut ActiveSpan) {
    if span.is_recording() {
        baggage::with_current(|current| {
            if let Some(current) = current {
                record_baggage(span, current);
            }
        });
    }
}

pub(crate) fn record_baggage(span: &mut ActiveSpan, baggage: &Baggage) {
    baggage::allowlisted(baggage, |key, value| {
        span.set_attribute(key, Value::String(value.to_owned().into()));
    });
}

/// `message = ..`: `messaging.system` and the message's own attributes.
#[doc(hidden)]
pub fn record_message<M: IncomingMessage + ?Sized>(span: &mut ActiveSpan, message: &M) {
    if span.is_recording() {
        span.set_attribute("messaging.system", Value::from(message.system()));
        message.record(span);
    }
}

/// `#[observe(server, request = ..)]`: a server span, the child of the
/// request's remote span when it has a valid one, with the request's
/// attributes and allowlisted baggage; and the baggage the handler runs with.
#[doc(hidden)]
pub fn start_request<R: IncomingRequest + ?Sized>(
    callsite: &'static Callsite,
    request: &R,
) -> (ActiveSpan, Option<Arc<Baggage>>) {
    let remote = self::remote(request);
    let mut span = start_consumer(callsite, &remote, false);
    if span.is_recording() {
        request.record(&mut span);
    }
    (span, remote.baggage)
}

/// The baggage an async consumer's body runs with: the message's.
#[doc(hidden)]
pub fn baggage_of(remote: &Remote) -> Option<Arc<Baggage>> {
    remote.baggage.clone()
}

/// Makes the message's baggage current for a synchronous consumer.
#[doc(hidden)]
pub fn enter_baggage(baggage: Option<Arc<Baggage>>) -> Option<baggage::BaggageGuard> {
    baggage.map(|b| baggage::attach_arc(Some(b)))
}

#[cfg(any(feature = "amqp", feature = "nats", feature = "kafka"))]
pub(crate) fn string(value: impl Into<String>) -> Value {
    Value::String(value.into().into())
}
