//! A received HTTP request's trace context and attributes: what the server
//! layer records, and what `#[observe(server, request = req, ..)]` reads.

use ::http::Request;
use opentelemetry::Value;

use super::{method_index, protocol_version, METHODS, OTHER};
use crate::edges::messaging::{Carrier, IncomingRequest};
use crate::edges::propagation::Remote;
use crate::hot::span::ActiveSpan;

impl<B> Carrier for Request<B> {
    fn remote(&self) -> Remote {
        self.headers().remote()
    }
}

impl<B> IncomingRequest for Request<B> {
    fn record(&self, span: &mut ActiveSpan) {
        record_request_attributes(span, self, method_index(self.method()), false);
    }
}

/// The stable HTTP server conventions a request itself gives:
/// `http.request.method` (and `http.request.method_original` for a method
/// outside the standard nine), `url.scheme`, `url.path`, `server.address`,
/// `server.port`, `network.protocol.version`, and `user_agent.original` when
/// `user_agent` is on. Never the query, which may carry personal data.
pub(crate) fn record_request_attributes<B>(
    span: &mut ActiveSpan,
    request: &Request<B>,
    method: usize,
    user_agent: bool,
) {
    span.set_attribute("http.request.method", Value::from(METHODS[method]));
    if method == OTHER {
        span.set_attribute(
            "http.request.method_original",
            Value::from(request.method().as_str().to_owned()),
        );
    }
    let uri = request.uri();
    // The two usual schemes are static strings; only another is copied.
    let scheme = match uri.scheme_str() {
        None | Some("http") => Value::from("http"),
        Some("https") => Value::from("https"),
        Some(other) => Value::from(other.to_owned()),
    };
    span.set_attribute("url.scheme", scheme);
    span.set_attribute("url.path", Value::from(uri.path().to_owned()));
    // HTTP/2 and absolute-form requests carry the authority in the URI;
    // HTTP/1.1 in `Host`. Borrowed: only the host is copied.
    let authority = uri.authority().map(|a| a.as_str()).or_else(|| {
        request
            .headers()
            .get(::http::header::HOST)
            .and_then(|host| host.to_str().ok())
    });
    if let Some(authority) = authority {
        let (host, port) = split_authority(authority);
        span.set_attribute("server.address", Value::from(host.to_owned()));
        if let Some(port) = port {
            span.set_attribute("server.port", Value::I64(i64::from(port)));
        }
    }
    if let Some(version) = protocol_version(request.version()) {
        span.set_attribute("network.protocol.version", Value::from(version));
    }
    if user_agent {
        if let Some(agent) = request
            .headers()
            .get(::http::header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
        {
            span.set_attribute("user_agent.original", Value::from(agent.to_owned()));
        }
    }
}

/// `host:port`, `[v6]:port` or a host alone.
fn split_authority(authority: &str) -> (&str, Option<u16>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_authority("example.com"), ("example.com", None));
        assert_eq!(split_authority("[::1]:443"), ("::1", Some(443)));
        assert_eq!(split_authority("[::1]"), ("::1", None));
        assert_eq!(split_authority("user@host:1"), ("host", Some(1)));
    }
}
