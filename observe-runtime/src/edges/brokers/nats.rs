//! NATS through async-nats, behind the `nats` feature: the `HeaderMap`
//! carrier, and what a received `Message` records on a consumer span.

use async_nats::{HeaderMap, Message};

use crate::edges::messaging::{string, Carrier, IncomingMessage};
use crate::edges::propagation::{self, Remote};
use crate::hot::span::ActiveSpan;
use crate::hot::value::attribute_value;

pub mod carrier {
    //! NATS message headers: async-nats's `HeaderMap`, whose lookup is
    //! case-sensitive; extraction finds `traceparent` whatever its case.
    use crate::edges::brokers::known;
    use crate::edges::propagation::{extract_fields, inject_fields, HeaderFields};
    use crate::hot::context::SpanContext;
    use async_nats::HeaderMap;

    /// Writes the current span's context into outgoing message headers
    /// (`client.publish_with_headers`).
    pub fn inject(headers: &mut HeaderMap) {
        inject_context(&crate::hot::context::current(), headers);
    }

    /// Writes `context` into outgoing message headers.
    pub fn inject_context(context: &SpanContext, headers: &mut HeaderMap) {
        for (name, value) in inject_fields(context) {
            // `HeaderValue::from(&str)` panics on `\r` / `\n`. None of these
            // values can hold one (the traceparent is hex, baggage is
            // percent-encoded, and extraction drops and counts such a
            // tracestate), so a failure here is only skipped.
            if let Ok(value) = value.parse::<async_nats::header::HeaderValue>() {
                headers.insert(name, value);
            }
        }
    }

    /// Headers of a fresh message carrying the current span's context.
    pub fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        inject(&mut headers);
        headers
    }

    /// Reads the publisher's span from a message's headers (`message.headers`):
    /// names in any case, every value of a repeated name in order.
    pub fn extract(headers: Option<&HeaderMap>) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields(headers: Option<&HeaderMap>) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if let Some(headers) = headers {
            for (key, values) in headers.iter() {
                let key: &str = key.as_ref();
                let Some(name) = known(key) else {
                    continue;
                };
                for value in values {
                    fields.add(name, Ok(value.as_str()));
                }
            }
        }
        fields
    }
}

impl Carrier for HeaderMap {
    fn remote(&self) -> Remote {
        propagation::extract_remote_fields(carrier::fields(Some(self)))
    }
}

impl Carrier for Message {
    fn remote(&self) -> Remote {
        self.headers.remote()
    }
}

/// `messaging.destination.name` is the subject; `messaging.message.id`
/// the JetStream `Nats-Msg-Id` header when present.
impl IncomingMessage for Message {
    fn system(&self) -> &'static str {
        "nats"
    }

    fn record(&self, span: &mut ActiveSpan) {
        span.set_attribute("messaging.destination.name", string(self.subject.as_str()));
        if let Some(id) = self
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
        {
            span.set_attribute("messaging.message.id", string(id.as_str()));
        }
        span.set_attribute(
            "messaging.message.body.size",
            attribute_value(&self.payload.len()),
        );
    }
}
