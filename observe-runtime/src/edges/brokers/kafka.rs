//! Kafka through rdkafka, behind the `kafka` feature: the header carrier, and
//! what a received message records on a consumer span.

use opentelemetry::Value;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Message, OwnedHeaders, OwnedMessage};

use crate::edges::messaging::{string, Carrier, IncomingMessage};
use crate::edges::propagation::{self, Remote};
use crate::hot::span::ActiveSpan;
use crate::hot::value::attribute_value;

pub mod carrier {
    //! Kafka record headers through rdkafka: `OwnedHeaders` to inject, any
    //! `Headers` (owned or borrowed) to extract.
    use crate::edges::brokers::known;
    use crate::edges::propagation::{extract_fields, inject_fields, HeaderFields};
    use crate::hot::context::SpanContext;
    use rdkafka::message::{Header, Headers, OwnedHeaders};

    /// `headers` plus the current span's context.
    pub fn inject(headers: OwnedHeaders) -> OwnedHeaders {
        inject_context(&crate::hot::context::current(), headers)
    }

    /// `headers` plus `context`.
    pub fn inject_context(context: &SpanContext, mut headers: OwnedHeaders) -> OwnedHeaders {
        for (name, value) in inject_fields(context) {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_str()),
            });
        }
        headers
    }

    /// Headers of a fresh record carrying the current span's context.
    pub fn headers() -> OwnedHeaders {
        inject(OwnedHeaders::new())
    }

    /// Reads the producer's span from a record's headers
    /// (`message.headers()`), every header in order and names in any case
    /// (Kafka allows a key more than once). Non-UTF-8 values are ignored
    /// and counted.
    pub fn extract<H: Headers + ?Sized>(headers: Option<&H>) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields<H: Headers + ?Sized>(headers: Option<&H>) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if let Some(headers) = headers {
            for header in (0..headers.count()).filter_map(|i| headers.try_get(i)) {
                let Some(name) = known(header.key) else {
                    continue;
                };
                let text = header
                    .value
                    .map_or(Ok(""), |v| std::str::from_utf8(v).map_err(|_| ()));
                fields.add(name, text);
            }
        }
        fields
    }
}

impl Carrier for OwnedHeaders {
    fn remote(&self) -> Remote {
        propagation::extract_remote_fields(carrier::fields(Some(self)))
    }
}

impl Carrier for BorrowedHeaders {
    fn remote(&self) -> Remote {
        propagation::extract_remote_fields(carrier::fields(Some(self)))
    }
}

fn record<M: Message>(message: &M, span: &mut ActiveSpan) {
    span.set_attribute("messaging.destination.name", string(message.topic()));
    span.set_attribute(
        "messaging.destination.partition.id",
        string(message.partition().to_string()),
    );
    span.set_attribute("messaging.kafka.offset", Value::I64(message.offset()));
    if let Some(key) = message.key() {
        if let Ok(key) = std::str::from_utf8(key) {
            span.set_attribute("messaging.kafka.message.key", string(key));
        }
    }
    if let Some(payload) = message.payload() {
        span.set_attribute(
            "messaging.message.body.size",
            attribute_value(&payload.len()),
        );
    }
}

impl Carrier for BorrowedMessage<'_> {
    fn remote(&self) -> Remote {
        self.headers().remote()
    }
}

impl IncomingMessage for BorrowedMessage<'_> {
    fn system(&self) -> &'static str {
        "kafka"
    }

    fn record(&self, span: &mut ActiveSpan) {
        record(self, span);
    }
}

impl Carrier for OwnedMessage {
    fn remote(&self) -> Remote {
        self.headers().remote()
    }
}

impl IncomingMessage for OwnedMessage {
    fn system(&self) -> &'static str {
        "kafka"
    }

    fn record(&self, span: &mut ActiveSpan) {
        record(self, span);
    }
}
