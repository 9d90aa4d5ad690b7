//! HTTP: the header carrier of `http::HeaderMap` (hyper, axum, reqwest,
//! tonic metadata through `into_headers`), behind the `http` feature.

use crate::edges::messaging::Carrier;
use crate::edges::propagation::{self, Remote};

pub mod carrier {
    //! `http::HeaderMap` (hyper, axum, reqwest, tonic metadata via `into_headers`).
    use crate::edges::brokers::NAMES;
    use crate::edges::propagation::{extract_fields, inject_fields, HeaderFields};
    use crate::hot::context::SpanContext;
    use ::http::{HeaderMap, HeaderName, HeaderValue};

    /// Writes the current span's context into outgoing HTTP headers.
    pub fn inject(headers: &mut HeaderMap) {
        inject_context(crate::hot::context::current(), headers);
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

impl Carrier for ::http::HeaderMap {
    fn remote(&self) -> Remote {
        propagation::extract_remote_fields(carrier::fields(self))
    }
}
