//! HTTP: the header carrier of `http::HeaderMap` (hyper, axum, reqwest,
//! tonic metadata through `into_headers`), behind the `http` feature.

use crate::edges::messaging::Carrier;
use crate::edges::propagation::Remote;

pub mod carrier {
    //! `http::HeaderMap` (hyper, axum, reqwest, tonic metadata via `into_headers`).
    use crate::edges::brokers::NAMES;
    use crate::edges::propagation::{
        extract_fields, extract_remote_fields, inject_fields, HeaderFields, Remote,
    };
    use crate::hot::context::SpanContext;
    use ::http::{HeaderMap, HeaderName, HeaderValue};

    /// Writes the current span's context into outgoing HTTP headers.
    pub fn inject(headers: &mut HeaderMap) {
        inject_context(&crate::hot::context::current(), headers);
    }

    /// Writes `context` into outgoing HTTP headers, replacing any W3C
    /// headers already there: a `tracestate` or `baggage` left from another
    /// context would otherwise travel with this one.
    pub fn inject_context(context: &SpanContext, headers: &mut HeaderMap) {
        for header in &HEADER_NAMES {
            headers.remove(header);
        }
        for (name, value) in inject_fields(context) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                let header = NAMES.iter().position(|known| *known == name).map_or_else(
                    || HeaderName::from_static(name),
                    |at| HEADER_NAMES[at].clone(),
                );
                headers.insert(header, value);
            }
        }
    }

    /// Headers of a fresh request carrying the current span's context.
    pub fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        inject(&mut headers);
        headers
    }

    /// Reads the sender's span from incoming HTTP headers. Every line of a
    /// repeated header is read (`HeaderMap::get_all`): `tracestate` and
    /// `baggage` lines are joined, two `traceparent` lines are invalid.
    pub fn extract(headers: &HeaderMap) -> SpanContext {
        extract_fields(fields(headers))
    }

    /// The sender's span and baggage.
    pub fn extract_remote(headers: &HeaderMap) -> Remote {
        extract_remote_fields(fields(headers))
    }

    /// [`NAMES`] as `HeaderName`s, so a lookup hashes the name without
    /// parsing it again on every request.
    const HEADER_NAMES: [HeaderName; 3] = [
        HeaderName::from_static(NAMES[0]),
        HeaderName::from_static(NAMES[1]),
        HeaderName::from_static(NAMES[2]),
    ];

    pub(crate) fn fields(headers: &HeaderMap) -> HeaderFields {
        let mut fields = HeaderFields::default();
        if headers.is_empty() {
            return fields;
        }
        for (name, header) in NAMES.into_iter().zip(&HEADER_NAMES) {
            for value in headers.get_all(header) {
                // UTF-8 rather than `to_str`'s visible ASCII: a value with
                // other bytes is then refused by its own grammar, and
                // counted under that header's reason.
                fields.add(name, std::str::from_utf8(value.as_bytes()).map_err(|_| ()));
            }
        }
        fields
    }
}

impl Carrier for ::http::HeaderMap {
    fn remote(&self) -> Remote {
        carrier::extract_remote(self)
    }
}
