//! The client layer and middleware: see the [module](super) documentation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

use ::http::{HeaderMap, Method, Uri, Version};
use opentelemetry::Value;

use super::{
    method_index, protocol_version, status_codes, status_index, BUCKETS, BUCKET_NANOS, METHODS,
    OTHER,
};
use crate::edges::brokers::http::carrier;
use crate::edges::messaging::record_baggage;
use crate::hot::callsite::{leaked_value_set, Callsite, Metric, Outcome, SpanKind};
use crate::hot::span::{start, ActiveSpan};
use crate::hot::state;

/// The family every outgoing request is observed in.
pub const CLIENT_DURATION: &str = "http_client_request_duration_seconds";

static METRIC: Metric = Metric::conventional(
    CLIENT_DURATION,
    "Duration of HTTP client requests, in seconds.",
    &BUCKETS,
    &BUCKET_NANOS,
    &[
        "http_request_method",
        "server_address",
        "server_port",
        "http_response_status_code",
    ],
);

/// Past this many servers, requests to a new one share a callsite whose
/// address and port labels are empty.
const MAX_SERVERS: usize = 1024;

struct Server {
    callsite: &'static Callsite,
    /// The one-value sets of the `server_address` and `server_port` labels.
    address: &'static [&'static str],
    port: &'static [&'static str],
}

/// By address, then port, then method.
type Servers = HashMap<Box<str>, Vec<(u16, [Option<&'static Server>; METHODS.len()])>>;

fn server(method: usize, address: &str, port: u16) -> &'static Server {
    static SERVERS: OnceLock<RwLock<Servers>> = OnceLock::new();
    let servers = SERVERS.get_or_init(Default::default);
    if let Some(server) = servers
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(address)
        .and_then(|ports| ports.iter().find(|(p, _)| *p == port))
        .and_then(|(_, by_method)| by_method[method])
    {
        return server;
    }
    new_server(servers, method, address, port)
}

#[cold]
fn new_server(
    servers: &RwLock<Servers>,
    method: usize,
    address: &str,
    port: u16,
) -> &'static Server {
    let mut servers = servers.write().unwrap_or_else(|e| e.into_inner());
    let known: usize = servers.values().map(Vec::len).sum();
    let seen = servers
        .get(address)
        .is_some_and(|ports| ports.iter().any(|(p, _)| *p == port));
    let (address, port) = if known >= MAX_SERVERS && !seen {
        ("", 0)
    } else {
        (address, port)
    };
    let ports = servers.entry(Box::from(address)).or_default();
    let at = match ports.iter().position(|(p, _)| *p == port) {
        Some(at) => at,
        None => {
            ports.push((port, [None; METHODS.len()]));
            ports.len() - 1
        }
    };
    if let Some(server) = ports[at].1[method] {
        return server;
    }
    let server: &'static Server = Box::leak(Box::new(Server {
        callsite: Callsite::leaked(METHODS[method], SpanKind::Client, &METRIC),
        port: leaked_value_set(&if port == 0 {
            String::new()
        } else {
            port.to_string()
        }),
        address: leaked_value_set(address),
    }));
    ports[at].1[method] = Some(server);
    server
}

/// An outgoing request's span, between the request and its answer.
pub(crate) struct ClientSpan {
    span: ActiveSpan,
    method: usize,
    server: &'static Server,
}

impl fmt::Debug for ClientSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSpan")
            .field("name", &self.server.callsite.name)
            .finish_non_exhaustive()
    }
}

/// Starts the span of a request to `uri` and writes its context and the
/// current baggage into `headers`; `None` when observe is not initialised.
pub(crate) fn start_client(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &mut HeaderMap,
) -> Option<ClientSpan> {
    if !state::enabled() {
        return None;
    }
    let method_index = method_index(method);
    let https = uri.scheme_str() == Some("https");
    let address = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let server = server(method_index, address, port);
    let mut span = start(server.callsite);
    set_labels(&mut span, method_index, server, 0);
    if span.is_recording() {
        span.set_attribute("http.request.method", Value::from(METHODS[method_index]));
        if method_index == OTHER {
            span.set_attribute(
                "http.request.method_original",
                Value::from(method.as_str().to_owned()),
            );
        }
        span.set_attribute("server.address", Value::from(address.to_owned()));
        span.set_attribute("server.port", Value::I64(i64::from(port)));
        span.set_attribute("url.full", Value::from(redacted_url(uri)));
        if let Some(version) = protocol_version(version) {
            span.set_attribute("network.protocol.version", Value::from(version));
        }
        // The allowlisted baggage the request carries, as on a producer.
        crate::hot::baggage::with_current(|baggage| {
            if let Some(baggage) = baggage {
                record_baggage(&mut span, baggage);
            }
        });
    }
    carrier::inject_context(&span.context(), headers);
    Some(ClientSpan {
        span,
        method: method_index,
        server,
    })
}

fn set_labels(span: &mut ActiveSpan, method: usize, server: &'static Server, code: u16) {
    span.set_labels(&[
        (method, &METHODS),
        (0, server.address),
        (0, server.port),
        (status_index(code), status_codes()),
    ]);
}

impl ClientSpan {
    /// Ends the span with the answer's status code.
    pub(crate) fn answered(mut self, code: u16) {
        if self.span.is_active() {
            self.span
                .set_attribute("http.response.status_code", Value::I64(i64::from(code)));
            set_labels(&mut self.span, self.method, self.server, code);
        }
        if code >= 400 {
            self.span
                .finish_error_status(status_codes()[status_index(code)]);
        } else {
            self.span.finish(Outcome::Ok);
        }
    }

    /// Ends the span of a request that got no answer.
    pub(crate) fn failed(mut self, error_type: &'static str, error: &dyn fmt::Display) {
        self.span.finish(Outcome::Err {
            error_type,
            error: crate::hot::callsite::ErrorRef::Display(error),
        });
    }
}

/// `uri` with the user info and every query value replaced by `REDACTED`:
/// `https://REDACTED:REDACTED@host/p?token=REDACTED`.
fn redacted_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let authority = authority.as_str();
        match authority.rsplit_once('@') {
            Some((user_info, host)) => {
                url.push_str(if user_info.contains(':') {
                    "REDACTED:REDACTED@"
                } else {
                    "REDACTED@"
                });
                url.push_str(host);
            }
            None => url.push_str(authority),
        }
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}=REDACTED"),
                None => pair.to_owned(),
            })
            .collect();
        url.push_str(&pairs.join("&"));
    }
    url
}

#[cfg(feature = "tower")]
pub use tower_client::{ClientFuture, ObserveClientLayer, ObserveClientService};

#[cfg(feature = "tower")]
mod tower_client {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use ::http::{Request, Response};
    use tower_layer::Layer;
    use tower_service::Service;

    /// The tower layer for HTTP clients (a hyper-util `Client`, or any
    /// `Service<http::Request<B>>`): a CLIENT span per request and its
    /// context in the request's headers.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct ObserveClientLayer {
        _private: (),
    }

    impl ObserveClientLayer {
        /// The layer.
        pub fn new() -> Self {
            ObserveClientLayer::default()
        }
    }

    impl<S> Layer<S> for ObserveClientLayer {
        type Service = ObserveClientService<S>;

        fn layer(&self, inner: S) -> Self::Service {
            ObserveClientService { inner }
        }
    }

    /// A client service wrapped by [`ObserveClientLayer`].
    #[derive(Clone, Debug)]
    pub struct ObserveClientService<S> {
        inner: S,
    }

    impl<S, B, R> Service<Request<B>> for ObserveClientService<S>
    where
        S: Service<Request<B>, Response = Response<R>>,
        S::Error: fmt::Display,
    {
        type Response = Response<R>;
        type Error = S::Error;
        type Future = ClientFuture<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, mut request: Request<B>) -> Self::Future {
            let (method, uri, version) = (
                request.method().clone(),
                request.uri().clone(),
                request.version(),
            );
            let span = start_client(&method, &uri, version, request.headers_mut());
            ClientFuture {
                inner: self.inner.call(request),
                span,
            }
        }
    }

    /// The response future of [`ObserveClientService`]. Dropped before the
    /// answer, it ends the span as cancelled.
    #[must_use = "futures do nothing unless polled"]
    pub struct ClientFuture<F> {
        inner: F,
        span: Option<ClientSpan>,
    }

    impl<F, R, E> Future for ClientFuture<F>
    where
        F: Future<Output = Result<Response<R>, E>>,
        E: fmt::Display,
    {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            // SAFETY: `inner` is structurally pinned and never moved out.
            let this = unsafe { self.get_unchecked_mut() };
            let answer = match unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(answer) => answer,
            };
            if let Some(span) = this.span.take() {
                match &answer {
                    Ok(response) => span.answered(response.status().as_u16()),
                    Err(error) => span.failed("_OTHER", error),
                }
            }
            Poll::Ready(answer)
        }
    }
}

#[cfg(feature = "reqwest")]
pub use reqwest_client::ObserveMiddleware;

#[cfg(feature = "reqwest")]
mod reqwest_client {
    use super::*;
    use reqwest_middleware::{Middleware, Next};

    /// The `reqwest-middleware` middleware: a CLIENT span per request and
    /// its context in the request's headers.
    ///
    /// ```no_run
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(observe_runtime::http::ObserveMiddleware::new())
    ///     .build();
    /// ```
    #[derive(Clone, Copy, Debug, Default)]
    pub struct ObserveMiddleware {
        _private: (),
    }

    impl ObserveMiddleware {
        /// The middleware.
        pub fn new() -> Self {
            ObserveMiddleware::default()
        }
    }

    #[async_trait::async_trait]
    impl Middleware for ObserveMiddleware {
        async fn handle(
            &self,
            mut request: reqwest::Request,
            extensions: &mut ::http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let uri: Option<Uri> = request.url().as_str().parse().ok();
            let span = match uri {
                Some(uri) => start_client(
                    &request.method().clone(),
                    &uri,
                    request.version(),
                    request.headers_mut(),
                ),
                None => None,
            };
            let answer = next.run(request, extensions).await;
            if let Some(span) = span {
                match &answer {
                    Ok(response) => span.answered(response.status().as_u16()),
                    Err(error) => span.failed(error_type(error), error),
                }
            }
            answer
        }
    }

    fn error_type(error: &reqwest_middleware::Error) -> &'static str {
        match error {
            reqwest_middleware::Error::Reqwest(error) if error.is_timeout() => "timeout",
            reqwest_middleware::Error::Reqwest(error) if error.is_connect() => "connect",
            _ => "_OTHER",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let uri: Uri = "https://user:pw@shop.example:8443/orders?id=42&token=abc&flag"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_url(&uri),
            "https://REDACTED:REDACTED@shop.example:8443/orders?id=REDACTED&token=REDACTED&flag"
        );
        let uri: Uri = "http://127.0.0.1:9000/a".parse().unwrap();
        assert_eq!(redacted_url(&uri), "http://127.0.0.1:9000/a");
    }
}
