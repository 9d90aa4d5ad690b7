//! HTTP: a tower layer for servers (feature `tower`, and `axum` for axum's
//! matched route), and for clients a tower layer (feature `tower`) and a
//! `reqwest-middleware` middleware (feature `reqwest`).
//!
//! # Servers
//!
//! ```no_run
//! # #[cfg(feature = "axum")] {
//! use axum::{routing::get, Router};
//! let app: Router = Router::new()
//!     .route("/orders/{id}", get(|| async { "an order" }))
//!     .layer(observe_runtime::http::ObserveLayer::new());
//! # }
//! ```
//!
//! The span is named `{method} {route}` after the route *template*
//! (`GET /orders/{id}`): axum's `MatchedPath` when present, the layer's
//! [`route_with`](ObserveLayer::route_with) function otherwise, and `{method}`
//! alone when neither names one, never the raw path. It continues the
//! request's W3C `traceparent` and `baggage` (through observe's strict
//! parser; a malformed header starts a new trace and is counted), is current
//! while the handler runs, so the handler's log lines and spans are its
//! children, and carries the stable HTTP semantic conventions:
//! `http.request.method` (`_OTHER` for a method outside the standard nine,
//! with `http.request.method_original`), `http.route`, `url.scheme`,
//! `url.path`, `server.address`, `server.port`, `network.protocol.version`,
//! `http.response.status_code`, and `user_agent.original` when asked
//! ([`user_agent`](ObserveLayer::user_agent)).
//!
//! A 5xx answer sets status ERROR and `error.type` to the status code; a 4xx
//! leaves a server span's status unset. A panicking handler answers 500 and
//! its span is ERROR with `error.type = "panic"`
//! ([`propagate_panics`](ObserveLayer::propagate_panics) lets the panic go on
//! to an outer layer instead). A request whose client goes away, so that the
//! server drops its future, ends as cancelled.
//!
//! The histogram is labelled by `http_request_method`, `http_route` (a
//! template, or empty), `http_response_status_code` and `error_type`, with
//! the semantic conventions' buckets (5 ms to 10 s) and exemplars as for
//! operations. Per request the layer does what `#[observe]` does: no
//! OpenTelemetry SDK span and no `tracing` span.
//!
//! # Clients
//!
//! A CLIENT span per outgoing request, the request's headers carrying its
//! context and the current baggage, and one observation of
//! `http_client_request_duration_seconds`: [`ObserveMiddleware`] for
//! reqwest (through `reqwest-middleware`), [`ObserveClientLayer`] for a
//! hyper-util client or any tower client service.
//!
//! The span is a child of the current span, named `{method}`, with
//! `http.request.method`, `server.address`, `server.port`, `url.full` (with
//! the user info and every query value replaced by `REDACTED`),
//! `http.response.status_code` and `network.protocol.version`. A 4xx or 5xx
//! answer sets status ERROR and `error.type` to the status code; a request
//! that got no answer, ERROR with `error.type` `timeout`, `connect` or
//! `_OTHER`. Propagation does not depend on `tracing` or its level: the
//! headers are written by observe itself.
//!
//! The histogram is labelled by `http_request_method`, `server_address`,
//! `server_port`, `http_response_status_code` and `error_type`.

// With the `http` feature alone only a request's attributes are read
// (`request.rs`); the buckets and status codes serve the layers.
#![cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]

use std::sync::OnceLock;

use ::http::{Method, Version};

#[cfg(any(feature = "tower", feature = "reqwest"))]
mod client;
mod request;
#[cfg(feature = "tower")]
mod server;

#[cfg(feature = "reqwest")]
pub use client::ObserveMiddleware;
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub use client::CLIENT_DURATION;
#[cfg(feature = "tower")]
pub use client::{ClientFuture, ObserveClientLayer, ObserveClientService};
#[cfg(feature = "tower")]
pub use server::{ObserveLayer, ObserveService, ResponseFuture, SERVER_DURATION};

/// The buckets of `http.server.request.duration` and
/// `http.client.request.duration` in the semantic conventions.
pub(crate) const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
pub(crate) const BUCKET_NANOS: [u64; 14] = [
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    75_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    750_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    7_500_000_000,
    10_000_000_000,
];

/// The methods the semantic conventions name, then `_OTHER`.
pub(crate) const METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "_OTHER",
];
pub(crate) const OTHER: usize = METHODS.len() - 1;

pub(crate) fn method_index(method: &Method) -> usize {
    METHODS[..OTHER]
        .iter()
        .position(|known| *known == method.as_str())
        .unwrap_or(OTHER)
}

/// `"100"` to `"599"`, then `""` for a request that got no answer: the
/// status code label's value set, and `error.type` of a 5xx.
pub(crate) fn status_codes() -> &'static [&'static str] {
    static CODES: OnceLock<Box<[&'static str]>> = OnceLock::new();
    CODES.get_or_init(|| {
        (100..600)
            .map(|code: u16| &*Box::leak(code.to_string().into_boxed_str()))
            .chain([""])
            .collect()
    })
}

pub(crate) fn status_index(code: u16) -> usize {
    if (100..600).contains(&code) {
        usize::from(code - 100)
    } else {
        500
    }
}

/// `network.protocol.version`.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}
