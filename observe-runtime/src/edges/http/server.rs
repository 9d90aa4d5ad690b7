//! The server layer: see the [module](super) documentation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};

use ::http::{Method, Request, Response, Uri};

use super::request::record_request_attributes;
use super::{method_index, status_codes, status_index, BUCKETS, BUCKET_NANOS, METHODS};
use opentelemetry::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::edges::messaging::record_baggage;
use crate::edges::propagation::Remote;
use crate::hot::baggage::{self, Baggage};
use crate::hot::callsite::{leaked_value_set, Callsite, ErrorRef, Metric, Outcome, SpanKind};
use crate::hot::span::{start, start_with_parent, ActiveSpan};
use crate::hot::state;

/// The family every request is observed in.
pub const SERVER_DURATION: &str = "http_server_request_duration_seconds";

static METRIC: Metric = Metric::conventional(
    SERVER_DURATION,
    "Duration of HTTP server requests, in seconds.",
    &BUCKETS,
    &BUCKET_NANOS,
    &[
        "http_request_method",
        "http_route",
        "http_response_status_code",
    ],
);

/// One callsite per method and route template, made on the first request
/// and kept for the process: what a span and a series are named by. Past
/// this many, requests of a new route share their method's route-less one,
/// so a route function that returns raw paths cannot grow memory without
/// bound.
const MAX_ROUTES: usize = 1024;

struct Route {
    callsite: &'static Callsite,
    /// The one-value set of the `http_route` label.
    route: &'static [&'static str],
}

/// By route template (`""` for none), then by method.
type Routes = HashMap<Box<str>, [Option<&'static Route>; METHODS.len()]>;

/// Each thread's last routes, by the address of the template's text and the
/// method: axum hands every request of a route the same `MatchedPath` text,
/// so a request finds its route with no hash and no lock. A hit is checked
/// against the route's own template, so text freed and reused at the same
/// address never finds another route.
const CACHED: usize = 16;

#[derive(Clone, Copy)]
struct Cached {
    address: usize,
    method: usize,
    route: Option<&'static Route>,
}

thread_local! {
    static RECENT: [std::cell::Cell<Cached>; CACHED] = const {
        [const {
            std::cell::Cell::new(Cached {
                address: 0,
                method: 0,
                route: None,
            })
        }; CACHED]
    };
}

fn route(method: usize, template: Option<&str>) -> &'static Route {
    let key = template.unwrap_or("");
    let address = key.as_ptr() as usize;
    let slot = (address >> 3 ^ method) % CACHED;
    let recent = RECENT.try_with(|recent| recent[slot].get()).ok();
    if let Some(Cached {
        address: cached,
        method: cached_method,
        route: Some(route),
    }) = recent
    {
        if cached == address && cached_method == method && route.route[0] == key {
            return route;
        }
    }
    let route = shared_route(method, key);
    let _ = RECENT.try_with(|recent| {
        recent[slot].set(Cached {
            address,
            method,
            route: Some(route),
        });
    });
    route
}

/// The process's routes, by template and method.
fn shared_route(method: usize, key: &str) -> &'static Route {
    static ROUTES: OnceLock<RwLock<Routes>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(route) = routes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .and_then(|by_method| by_method[method])
    {
        return route;
    }
    new_route(routes, method, key)
}

#[cold]
fn new_route(routes: &RwLock<Routes>, method: usize, key: &str) -> &'static Route {
    let mut routes = routes.write().unwrap_or_else(|e| e.into_inner());
    let key = if routes.len() >= MAX_ROUTES && !routes.contains_key(key) {
        ""
    } else {
        key
    };
    let by_method = routes
        .entry(Box::from(key))
        .or_insert([None; METHODS.len()]);
    if let Some(route) = by_method[method] {
        return route;
    }
    let name = if key.is_empty() {
        METHODS[method].to_owned()
    } else {
        format!("{} {key}", METHODS[method])
    };
    let route: &'static Route = Box::leak(Box::new(Route {
        callsite: Callsite::leaked(&name, SpanKind::Server, &METRIC),
        route: leaked_value_set(key),
    }));
    by_method[method] = Some(route);
    route
}

type RouteFn = dyn Fn(&Method, &Uri) -> Option<String> + Send + Sync;

struct Options {
    route: Option<Box<RouteFn>>,
    user_agent: bool,
    propagate_panics: bool,
}

/// The tower layer: wrap a router or any `Service<http::Request<B>>` in it
/// (see the [module](super) documentation).
#[derive(Clone)]
pub struct ObserveLayer {
    options: Arc<Options>,
}

impl fmt::Debug for ObserveLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserveLayer")
            .field("route_with", &self.options.route.is_some())
            .field("user_agent", &self.options.user_agent)
            .field("propagate_panics", &self.options.propagate_panics)
            .finish()
    }
}

impl Default for ObserveLayer {
    fn default() -> Self {
        ObserveLayer::new()
    }
}

impl ObserveLayer {
    /// A layer that names spans after axum's matched route, when there is
    /// one, and records no user agent.
    pub fn new() -> Self {
        ObserveLayer {
            options: Arc::new(Options {
                route: None,
                user_agent: false,
                propagate_panics: false,
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Options)) -> Self {
        let mut options = Arc::try_unwrap(self.options).unwrap_or_else(|shared| Options {
            route: None,
            user_agent: shared.user_agent,
            propagate_panics: shared.propagate_panics,
        });
        change(&mut options);
        ObserveLayer {
            options: Arc::new(options),
        }
    }

    /// The route template of a request when the framework does not tell
    /// (axum's `MatchedPath` wins when present): return a template such as
    /// `/orders/{id}`, never the raw path, or `None` to name the span by the
    /// method alone. Every distinct value is a span name and a time series.
    pub fn route_with(
        self,
        route: impl Fn(&Method, &Uri) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.with(|options| options.route = Some(Box::new(route)))
    }

    /// Records `user_agent.original` on the span (off by default: it can
    /// identify a user's device).
    pub fn user_agent(self, on: bool) -> Self {
        self.with(|options| options.user_agent = on)
    }

    /// Lets a handler's panic unwind on to an outer layer or the server
    /// after the span recorded it, instead of answering 500 here.
    pub fn propagate_panics(self, on: bool) -> Self {
        self.with(|options| options.propagate_panics = on)
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            options: Arc::clone(&self.options),
        }
    }
}

/// A service wrapped by [`ObserveLayer`].
#[derive(Clone)]
pub struct ObserveService<S> {
    inner: S,
    options: Arc<Options>,
}

impl<S: fmt::Debug> fmt::Debug for ObserveService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserveService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for ObserveService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = state::enabled().then(|| start_request(&request, &self.options));
        ResponseFuture {
            inner: self.inner.call(request),
            started,
            propagate_panics: self.options.propagate_panics,
        }
    }
}

/// The route template of `request`: axum's matched path, else the layer's
/// function.
fn template<'a, B>(request: &'a Request<B>, options: &Options) -> Option<Cow<'a, str>> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(Cow::Borrowed(matched.as_str()));
    }
    options
        .route
        .as_ref()
        .and_then(|route| route(request.method(), request.uri()))
        .map(Cow::Owned)
}

/// What a request's answer is recorded against.
struct Started {
    span: ActiveSpan,
    baggage: Option<Arc<Baggage>>,
    method: usize,
    route: &'static Route,
}

fn start_request<B>(request: &Request<B>, options: &Options) -> Started {
    let method = method_index(request.method());
    let template = template(request, options);
    let route = route(method, template.as_deref());
    let remote: Remote = crate::edges::messaging::remote(request.headers());
    let mut span = if remote.context.is_valid() {
        start_with_parent(route.callsite, remote.context.clone())
    } else {
        start(route.callsite)
    };
    // The status is not known yet: the label says "no answer" until it is.
    set_labels(&mut span, method, route, 0);
    if span.is_recording() {
        record_request(&mut span, request, method, route, options);
        if let Some(baggage) = &remote.baggage {
            record_baggage(&mut span, baggage);
        }
    }
    Started {
        span,
        baggage: remote.baggage.or_else(baggage::current),
        method,
        route,
    }
}

fn set_labels(span: &mut ActiveSpan, method: usize, route: &'static Route, code: u16) {
    span.set_labels(&[
        (method, &METHODS),
        (0, route.route),
        (status_index(code), status_codes()),
    ]);
}

fn record_request<B>(
    span: &mut ActiveSpan,
    request: &Request<B>,
    method: usize,
    route: &Route,
    options: &Options,
) {
    if !route.route[0].is_empty() {
        span.set_attribute("http.route", Value::from(route.route[0]));
    }
    record_request_attributes(span, request, method, options.user_agent);
}

/// The response future of [`ObserveService`]: polls the handler with the
/// span and the request's baggage current, and ends the span with the
/// answer. Dropped before the answer (the client went away), it ends the
/// span as cancelled.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F> {
    inner: F,
    started: Option<Started>,
    propagate_panics: bool,
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned and never moved out; the
        // other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(started) = this.started.as_mut() else {
            return unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx);
        };
        let polled = {
            let _entered = started.span.enter();
            let _baggage = started
                .baggage
                .as_ref()
                .map(|b| baggage::attach_arc(Some(Arc::clone(b))));
            let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
            catch_unwind(AssertUnwindSafe(|| inner.poll(cx)))
        };
        let answer = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(answer)) => answer,
            Err(payload) => {
                set_status(started, 500);
                started.span.finish_panicked();
                this.started = None;
                if this.propagate_panics {
                    resume_unwind(payload);
                }
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = ::http::StatusCode::INTERNAL_SERVER_ERROR;
                return Poll::Ready(Ok(response));
            }
        };
        match &answer {
            Ok(response) => {
                let code = response.status().as_u16();
                set_status(started, code);
                if code >= 500 {
                    started
                        .span
                        .finish_error_status(status_codes()[status_index(code)]);
                } else {
                    started.span.finish(Outcome::Ok);
                }
            }
            // The service failed without an answer (a connection error, an
            // inner layer's error).
            Err(_) => started.span.finish(Outcome::Err {
                error_type: "_OTHER",
                error: ErrorRef::Display(&"the service failed without an answer"),
            }),
        }
        this.started = None;
        Poll::Ready(answer)
    }
}

fn set_status(started: &mut Started, code: u16) {
    if !started.span.is_active() {
        return;
    }
    started
        .span
        .set_attribute("http.response.status_code", Value::I64(i64::from(code)));
    set_labels(&mut started.span, started.method, started.route, code);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objectives on a route (`signals/slo`) select the family, buckets and
    /// methods the layer writes, and may not import them from here.
    #[test]
    fn route_objectives_see_the_layers_family_buckets_and_methods() {
        use crate::signals::slo::{HTTP_METHODS, HTTP_SERVER_BUCKETS, HTTP_SERVER_FAMILY};
        assert_eq!(SERVER_DURATION, HTTP_SERVER_FAMILY);
        assert_eq!(BUCKETS, HTTP_SERVER_BUCKETS);
        assert_eq!(METHODS, HTTP_METHODS);
    }

    #[test]
    fn methods_and_codes() {
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(
            METHODS[method_index(&Method::from_bytes(b"PURGE").unwrap())],
            "_OTHER"
        );
        assert_eq!(status_codes()[status_index(404)], "404");
        assert_eq!(status_codes()[status_index(599)], "599");
        assert_eq!(status_codes()[status_index(0)], "");
        assert_eq!(status_codes()[status_index(600)], "");
    }

    #[test]
    fn one_callsite_per_method_and_template() {
        let a = route(2, Some("/test-only/{id}"));
        let b = route(2, Some("/test-only/{id}"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.callsite.name, "GET /test-only/{id}");
        assert_eq!(route(6, None).callsite.name, "POST");
        // The same text at another address, and another text at the
        // address a cached route was found by, find their own routes.
        let owned = String::from("/test-only/{id}");
        assert!(std::ptr::eq(route(2, Some(&owned)), a));
        let other = String::from("/test-only/{no}");
        assert_eq!(route(2, Some(&other)).callsite.name, "GET /test-only/{no}");
        assert_eq!(route(3, Some(&owned)).callsite.name, "HEAD /test-only/{id}");
    }
}
