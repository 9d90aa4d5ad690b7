//! gRPC: tower layers for tonic servers and clients (feature `tonic`),
//! generic over the request and response bodies, so they fit tonic's
//! `Server::builder().layer(..)` and a `Channel` wrapped in a
//! `tower::ServiceBuilder`.
//!
//! ```text
//! tonic::transport::Server::builder().layer(observe_runtime::grpc::GrpcServerLayer::new())
//! tower::ServiceBuilder::new().layer(observe_runtime::grpc::GrpcClientLayer::new()).service(channel)
//! ```
//!
//! A generated client made `with_origin(service, uri)` lets the client span
//! carry `server.address` and `server.port` (the channel adds the origin
//! only after the layer).
//!
//! A call is one span named `{package.Service}/{Method}` (SERVER on the
//! server, continued from the request's metadata; CLIENT on the client, a
//! child of the current span, its context and baggage written into the
//! metadata), with `rpc.system = "grpc"`, `rpc.service`, `rpc.method`,
//! `server.address`, `server.port` and `rpc.grpc.status_code`. The status
//! code is read where gRPC puts it, in the trailers (or in the headers of a
//! trailers-only answer), so the span ends with the response body. A server
//! span is ERROR for the codes the semantic conventions name for servers
//! (`UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`,
//! `UNAVAILABLE`, `DATA_LOSS`); a client span for every code but `OK`.
//! `error.type` is the code's name. A body dropped before its end (the peer
//! went away) ends the span as cancelled; a panicking handler ends it as a
//! panic and unwinds on.
//!
//! Calls are observed in `rpc_server_duration_seconds` and
//! `rpc_client_duration_seconds`, labelled by `rpc_system`, `rpc_service`,
//! `rpc_method`, `rpc_grpc_status_code` and `error_type`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};

use ::http::{HeaderMap, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::edges::brokers::http::carrier;
use crate::edges::messaging::record_baggage;
use crate::hot::baggage::{self, Baggage};
use crate::hot::callsite::{leaked_value_set, Callsite, ErrorRef, Metric, Outcome, SpanKind};
use crate::hot::span::{start, start_with_parent, ActiveSpan};
use crate::hot::state;

/// Seconds, for calls from a millisecond to a minute.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];
const BUCKET_NANOS: [u64; 14] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    60_000_000_000,
];
const LABELS: [&str; 4] = [
    "rpc_system",
    "rpc_service",
    "rpc_method",
    "rpc_grpc_status_code",
];

/// The family every call a server answers is observed in.
pub const SERVER_DURATION: &str = "rpc_server_duration_seconds";
/// The family every call a client makes is observed in.
pub const CLIENT_DURATION: &str = "rpc_client_duration_seconds";

static SERVER_METRIC: Metric = Metric::conventional(
    SERVER_DURATION,
    "Duration of gRPC calls served, in seconds.",
    &BUCKETS,
    &BUCKET_NANOS,
    &LABELS,
);
static CLIENT_METRIC: Metric = Metric::conventional(
    CLIENT_DURATION,
    "Duration of gRPC calls made, in seconds.",
    &BUCKETS,
    &BUCKET_NANOS,
    &LABELS,
);

/// The gRPC status codes by number, then `""` for a call with none.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CODES: [&str; 18] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "",
];
const NO_CODE: usize = CODES.len() - 1;

/// Codes that make a server span ERROR (the semantic conventions' list).
fn server_error(code: usize) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// `grpc-status` in `headers`, if present and known.
fn status_code(headers: &HeaderMap) -> Option<usize> {
    let code: usize = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (code < CODE_NAMES.len()).then_some(code)
}

/// One callsite per side and method: what a span and a series are named by.
/// Past this many, calls of a new method share one with empty names.
const MAX_METHODS: usize = 1024;

struct Method {
    callsite: &'static Callsite,
    service: &'static [&'static str],
    method: &'static [&'static str],
}

type Methods = HashMap<Box<str>, &'static Method>;

fn method(kind: SpanKind, path: &str) -> &'static Method {
    static SERVER: OnceLock<RwLock<Methods>> = OnceLock::new();
    static CLIENT: OnceLock<RwLock<Methods>> = OnceLock::new();
    let methods = if kind == SpanKind::Server {
        SERVER.get_or_init(Default::default)
    } else {
        CLIENT.get_or_init(Default::default)
    };
    if let Some(method) = methods.read().unwrap_or_else(|e| e.into_inner()).get(path) {
        return method;
    }
    new_method(methods, kind, path)
}

#[cold]
fn new_method(methods: &RwLock<Methods>, kind: SpanKind, path: &str) -> &'static Method {
    let mut methods = methods.write().unwrap_or_else(|e| e.into_inner());
    let path = if methods.len() >= MAX_METHODS && !methods.contains_key(path) {
        ""
    } else {
        path
    };
    if let Some(method) = methods.get(path) {
        return method;
    }
    // `/package.Service/Method`.
    let (service, name) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", ""));
    let span_name = if service.is_empty() {
        "grpc".to_owned()
    } else {
        format!("{service}/{name}")
    };
    let metric = if kind == SpanKind::Server {
        &SERVER_METRIC
    } else {
        &CLIENT_METRIC
    };
    let method: &'static Method = Box::leak(Box::new(Method {
        callsite: Callsite::leaked(&span_name, kind, metric),
        service: leaked_value_set(service),
        method: leaked_value_set(name),
    }));
    methods.insert(Box::from(path), method);
    method
}

/// A call's span, from the request to the end of the response body.
struct RpcSpan {
    span: ActiveSpan,
    method: &'static Method,
    baggage: Option<Arc<Baggage>>,
}

impl RpcSpan {
    fn start(kind: SpanKind, uri: &Uri, headers: &mut HeaderMap) -> Option<RpcSpan> {
        if !state::enabled() {
            return None;
        }
        let method = method(kind, uri.path());
        let (mut span, baggage) = if kind == SpanKind::Server {
            let remote = crate::edges::messaging::remote(&*headers);
            let mut span = if remote.context.is_valid() {
                start_with_parent(method.callsite, remote.context.clone())
            } else {
                start(method.callsite)
            };
            if let Some(baggage) = &remote.baggage {
                if span.is_recording() {
                    record_baggage(&mut span, baggage);
                }
            }
            (span, remote.baggage.or_else(baggage::current))
        } else {
            let span = start(method.callsite);
            carrier::inject_context(&span.context(), headers);
            (span, None)
        };
        set_labels(&mut span, method, NO_CODE);
        if span.is_recording() {
            span.set_attribute("rpc.system", Value::from("grpc"));
            span.set_attribute("rpc.service", Value::from(method.service[0]));
            span.set_attribute("rpc.method", Value::from(method.method[0]));
            if let Some(host) = uri.host() {
                span.set_attribute("server.address", Value::from(host.to_owned()));
            }
            if let Some(port) = uri.port_u16() {
                span.set_attribute("server.port", Value::I64(i64::from(port)));
            }
        }
        Some(RpcSpan {
            span,
            method,
            baggage,
        })
    }

    /// Ends the span with the call's status code (`None`: the answer had
    /// none, a protocol error, taken as `UNKNOWN`).
    fn end(mut self, code: Option<usize>) {
        let code = code.unwrap_or(2);
        if self.span.is_active() {
            set_labels(&mut self.span, self.method, code);
            self.span
                .set_attribute("rpc.grpc.status_code", Value::I64(code as i64));
        }
        let error = match self.method.callsite.kind {
            SpanKind::Server => server_error(code),
            _ => code != 0,
        };
        if error {
            self.span.finish_error_status(CODE_NAMES[code]);
        } else {
            self.span.finish(Outcome::Ok);
        }
    }

    /// Ends the span of a call that got no answer (a transport error).
    fn failed(mut self, error: &dyn fmt::Display) {
        self.span.finish(Outcome::Err {
            error_type: "_OTHER",
            error: ErrorRef::Display(error),
        });
    }
}

fn set_labels(span: &mut ActiveSpan, method: &'static Method, code: usize) {
    span.set_labels(&[
        (0, &["grpc"]),
        (0, method.service),
        (0, method.method),
        (code, &CODES),
    ]);
}

/// A response body that ends its call's span at its trailers, or at its end.
/// Dropped before either, it ends the span as cancelled.
pub struct GrpcBody<B> {
    inner: B,
    call: Option<RpcSpan>,
}

impl<B: fmt::Debug> fmt::Debug for GrpcBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for GrpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        // SAFETY: `inner` is structurally pinned and never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let polled = unsafe { Pin::new_unchecked(&mut this.inner) }.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(call) = this.call.take() {
                        call.end(status_code(trailers));
                    }
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                if let Some(call) = this.call.take() {
                    call.end(None);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response future of both layers: polls the inner service with the
/// span current (and, on a server, the request's baggage), then hands the
/// span to the body.
#[must_use = "futures do nothing unless polled"]
pub struct GrpcFuture<F> {
    inner: F,
    call: Option<RpcSpan>,
}

impl<F, B, E> Future for GrpcFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = Result<Response<GrpcBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned and never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let polled = {
            let _entered = this.call.as_ref().and_then(|call| call.span.enter());
            let _baggage = this
                .call
                .as_ref()
                .and_then(|call| call.baggage.as_ref())
                .map(|b| baggage::attach_arc(Some(Arc::clone(b))));
            let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
            catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
        };
        let answer = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(answer)) => answer,
            Err(payload) => {
                if let Some(mut call) = this.call.take() {
                    call.span.finish_panicked();
                }
                resume_unwind(payload);
            }
        };
        let mut call = this.call.take();
        Poll::Ready(match answer {
            Ok(response) => {
                // A trailers-only answer (an immediate error) has its
                // status in the headers.
                if let Some(code) = status_code(response.headers()) {
                    if let Some(call) = call.take() {
                        call.end(Some(code));
                    }
                }
                Ok(response.map(|inner| GrpcBody { inner, call }))
            }
            Err(error) => {
                if let Some(call) = call {
                    call.failed(&error);
                }
                Err(error)
            }
        })
    }
}

/// The server layer: `tonic::transport::Server::builder().layer(GrpcServerLayer::new())`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcServerLayer {
    _private: (),
}

impl GrpcServerLayer {
    /// The layer.
    pub fn new() -> Self {
        GrpcServerLayer::default()
    }
}

/// The client layer, around a tonic `Channel` (or any gRPC client service).
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcClientLayer {
    _private: (),
}

impl GrpcClientLayer {
    /// The layer.
    pub fn new() -> Self {
        GrpcClientLayer::default()
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcService {
            inner,
            kind: SpanKind::Server,
        }
    }
}

impl<S> Layer<S> for GrpcClientLayer {
    type Service = GrpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcService {
            inner,
            kind: SpanKind::Client,
        }
    }
}

/// A service wrapped by [`GrpcServerLayer`] or [`GrpcClientLayer`].
#[derive(Clone, Debug)]
pub struct GrpcService<S> {
    inner: S,
    kind: SpanKind,
}

impl<S, B, ResBody> Service<Request<B>> for GrpcService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
{
    type Response = Response<GrpcBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let uri = request.uri().clone();
        let call = RpcSpan::start(self.kind, &uri, request.headers_mut());
        GrpcFuture {
            inner: self.inner.call(request),
            call,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_by_their_path() {
        let method = method(SpanKind::Server, "/shop.Stock/Reserve");
        assert_eq!(method.callsite.name, "shop.Stock/Reserve");
        assert_eq!(method.service, ["shop.Stock"]);
        assert_eq!(method.method, ["Reserve"]);
        assert!(std::ptr::eq(
            method,
            super::method(SpanKind::Server, "/shop.Stock/Reserve")
        ));
        assert_eq!(super::method(SpanKind::Client, "/").callsite.name, "grpc");
    }

    #[test]
    fn status_codes_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(status_code(&headers), None);
        headers.insert("grpc-status", "14".parse().unwrap());
        assert_eq!(status_code(&headers), Some(14));
        assert_eq!(CODE_NAMES[14], "UNAVAILABLE");
        headers.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(status_code(&headers), None);
        assert!(server_error(14) && !server_error(5) && !server_error(0));
    }
}
