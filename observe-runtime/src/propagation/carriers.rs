//! Header carriers of the message brokers and HTTP, each behind its cargo
//! feature: `http` (`http::HeaderMap`), `amqp` (lapin's `FieldTable`), `nats`
//! (async-nats's `HeaderMap`), `kafka` (rdkafka's headers).
//!
//! Each carrier is read into a plain list of W3C header strings first, so that
//! validation and counting happen in one place, whatever the broker.

/// The W3C header names observe reads and writes.
pub(crate) const NAMES: [&str; 3] = ["traceparent", "tracestate", "baggage"];

#[cfg(feature = "http")]
pub mod http {
    //! `http::HeaderMap` (hyper, axum, reqwest, tonic metadata via `into_headers`).
    use super::NAMES;
    use crate::context::SpanContext;
    use crate::propagation::{extract_fields, inject_fields, HeaderFields};
    use ::http::{HeaderMap, HeaderName, HeaderValue};

    /// Writes the current span's context into outgoing HTTP headers.
    pub fn inject(headers: &mut HeaderMap) {
        inject_context(crate::context::current(), headers);
    }

    /// Writes `context` into outgoing HTTP headers.
    pub fn inject_context(context: SpanContext, headers: &mut HeaderMap) {
        for (name, value) in inject_fields(context) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }

    /// Reads the sender's span from incoming HTTP headers (names are
    /// case-insensitive in `HeaderMap`).
    pub fn extract(headers: &HeaderMap) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields(headers: &HeaderMap) -> HeaderFields {
        let mut fields = HeaderFields::default();
        for name in NAMES {
            if let Some(value) = headers.get(name) {
                fields.set(name, value.to_str().map_err(|_| ()));
            }
        }
        fields
    }
}

#[cfg(feature = "amqp")]
pub mod amqp {
    //! AMQP 0-9-1 message headers: lapin's `FieldTable`.
    use super::NAMES;
    use crate::context::SpanContext;
    use crate::propagation::{extract_fields, inject_fields, HeaderFields};
    use lapin::types::{AMQPValue, FieldTable, LongString};

    /// Writes the current span's context into outgoing message headers
    /// (`BasicProperties::with_headers`).
    pub fn inject(headers: &mut FieldTable) {
        inject_context(crate::context::current(), headers);
    }

    /// Writes `context` into outgoing message headers.
    pub fn inject_context(context: SpanContext, headers: &mut FieldTable) {
        for (name, value) in inject_fields(context) {
            headers.insert(name.into(), AMQPValue::LongString(LongString::from(value)));
        }
    }

    /// Headers of a fresh message carrying the current span's context.
    pub fn headers() -> FieldTable {
        let mut headers = FieldTable::default();
        inject(&mut headers);
        headers
    }

    /// Reads the producer's span from a delivery's headers
    /// (`delivery.properties.headers()`). Values of another AMQP type than a
    /// string, or not UTF-8, are ignored and counted.
    pub fn extract(headers: Option<&FieldTable>) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields(headers: Option<&FieldTable>) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if let Some(headers) = headers {
            for (key, value) in headers.inner() {
                let Some(name) = NAMES.iter().find(|n| key.as_str().eq_ignore_ascii_case(n)) else {
                    continue;
                };
                let text = match value {
                    AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).map_err(|_| ()),
                    AMQPValue::ShortString(s) => Ok(s.as_str()),
                    _ => {
                        crate::propagation::count_error("amqp_value_type");
                        continue;
                    }
                };
                fields.set(name, text);
            }
        }
        fields
    }
}

#[cfg(feature = "nats")]
pub mod nats {
    //! NATS message headers: async-nats's `HeaderMap`, whose lookup is
    //! case-sensitive; extraction finds `traceparent` whatever its case.
    use super::NAMES;
    use crate::context::SpanContext;
    use crate::propagation::{extract_fields, inject_fields, HeaderFields};
    use async_nats::HeaderMap;

    /// Writes the current span's context into outgoing message headers
    /// (`client.publish_with_headers`).
    pub fn inject(headers: &mut HeaderMap) {
        inject_context(crate::context::current(), headers);
    }

    /// Writes `context` into outgoing message headers.
    pub fn inject_context(context: SpanContext, headers: &mut HeaderMap) {
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

    /// Reads the publisher's span from a message's headers (`message.headers`).
    pub fn extract(headers: Option<&HeaderMap>) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields(headers: Option<&HeaderMap>) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if let Some(headers) = headers {
            for (key, values) in headers.iter() {
                let key: &str = key.as_ref();
                let Some(name) = NAMES.iter().find(|n| key.eq_ignore_ascii_case(n)) else {
                    continue;
                };
                if let Some(value) = values.first() {
                    fields.set(name, Ok(value.as_str()));
                }
            }
        }
        fields
    }
}

#[cfg(feature = "kafka")]
pub mod kafka {
    //! Kafka record headers through rdkafka: `OwnedHeaders` to inject, any
    //! `Headers` (owned or borrowed) to extract.
    use super::NAMES;
    use crate::context::SpanContext;
    use crate::propagation::{extract_fields, inject_fields, HeaderFields};
    use rdkafka::message::{Header, Headers, OwnedHeaders};

    /// `headers` plus the current span's context.
    pub fn inject(headers: OwnedHeaders) -> OwnedHeaders {
        inject_context(crate::context::current(), headers)
    }

    /// `headers` plus `context`.
    pub fn inject_context(context: SpanContext, mut headers: OwnedHeaders) -> OwnedHeaders {
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
    /// (`message.headers()`). Non-UTF-8 values are ignored and counted.
    pub fn extract<H: Headers + ?Sized>(headers: Option<&H>) -> SpanContext {
        extract_fields(fields(headers))
    }

    pub(crate) fn fields<H: Headers + ?Sized>(headers: Option<&H>) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if let Some(headers) = headers {
            for header in (0..headers.count()).filter_map(|i| headers.try_get(i)) {
                let Some(name) = NAMES.iter().find(|n| header.key.eq_ignore_ascii_case(n)) else {
                    continue;
                };
                let text = header
                    .value
                    .map_or(Ok(""), |v| std::str::from_utf8(v).map_err(|_| ()));
                fields.set(name, text);
            }
        }
        fields
    }
}
