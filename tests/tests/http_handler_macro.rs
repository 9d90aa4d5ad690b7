//! Handlers instrumented one by one, without the layer:
//! `#[observe(server, span = .., request = req, route = ..)]` and
//! `#[observe(kind = server, span = .., headers = ..)]` on axum handlers over
//! real loopback sockets. Each request is one SERVER span named by the
//! literal, continued from the request's `traceparent` and `baggage`, with
//! the HTTP attributes the request gives and `http.route` only from the
//! literal template; status ERROR on `Err`; the handler's log lines carry
//! the span's ids; the operation histogram counts each outcome.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use observe_runtime::metrics::{self, Format};
use observe_runtime::observe;
use observe_tests::{attribute, http_get, Capture};
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

#[derive(Debug)]
struct OrderMissing;

impl std::fmt::Display for OrderMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such order")
    }
}

impl std::error::Error for OrderMissing {}

impl IntoResponse for OrderMissing {
    fn into_response(self) -> Response {
        (StatusCode::NOT_FOUND, self.to_string()).into_response()
    }
}

#[observe(
    server,
    span = "Api.GetOrder",
    request = req,
    route = "/orders/{id}",
    metric = "latency"
)]
async fn get_order(req: Request) -> Result<String, OrderMissing> {
    let id = req.uri().path().rsplit('/').next().unwrap_or_default();
    tracing::info!(order.id = id, "looking the order up");
    tokio::task::yield_now().await;
    if id == "0" {
        Err(OrderMissing)
    } else {
        Ok(format!("order {id}"))
    }
}

#[observe(kind = server, span = "Api.Ping", headers = headers)]
async fn ping(headers: HeaderMap) -> &'static str {
    tracing::info!(headers = headers.len(), "pinged");
    "pong"
}

struct Server {
    addr: SocketAddr,
    exporter: InMemorySpanExporter,
    capture: Capture,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (exporter, capture) =
            observe_tests::init_for_process("http-handler-macro-test", |config| {
                config.baggage_attributes(["tenant.id"])
            });
        let addr = observe_tests::process_runtime().block_on(async {
            let app = Router::new()
                .route("/orders/{id}", get(get_order))
                .route("/ping", get(ping));
            observe_tests::serve(app).await
        });
        Server {
            addr,
            exporter,
            capture,
        }
    })
}

/// The one exported span matching `wanted`, waiting for it.
fn span_where(what: &str, wanted: impl Fn(&SpanData) -> bool) -> SpanData {
    observe_tests::one_span(&server().exporter, what, wanted)
}

#[test]
fn a_request_argument_gives_a_server_span_continued_from_its_headers() {
    let addr = server().addr;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let (status, _, body) = http_get(
        addr,
        "/orders/42",
        &[("traceparent", &traceparent), ("baggage", "tenant.id=acme")],
    );
    assert_eq!((status, body.as_str()), (200, "order 42"));

    let span = span_where("/orders/42", |s| {
        attribute(s, "url.path").as_deref() == Some("/orders/42")
    });
    assert_eq!(span.name, "Api.GetOrder");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert!(span.parent_span_is_remote);
    assert_eq!(span.status, Status::Unset);
    let mut expected = observe_tests::order_request_attributes(addr);
    expected.extend([
        ("tenant.id", "acme".into()),
        ("code.function", "get_order".into()),
    ]);
    for (key, value) in expected {
        assert_eq!(attribute(&span, key), Some(value), "{key}");
    }

    // The handler's log line carries the span's ids and the baggage.
    let lines = server().capture.json_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "looking the order up" && l["order.id"] == "42")
        .unwrap_or_else(|| panic!("the handler's line in {lines:#?}"));
    assert_eq!(line["trace_id"], TRACE_ID);
    assert_eq!(line["span_id"], span.span_context.span_id().to_string());
    assert_eq!(line["tenant.id"], "acme");
}

#[test]
fn an_err_from_the_handler_is_an_error_span_and_an_error_outcome() {
    let (status, _, _) = http_get(server().addr, "/orders/0", &[]);
    assert_eq!(status, 404);
    let span = span_where("/orders/0", |s| {
        attribute(s, "url.path").as_deref() == Some("/orders/0")
    });
    assert_eq!(span.name, "Api.GetOrder");
    assert!(
        matches!(&span.status, Status::Error { description } if description == "no such order"),
        "{:?}",
        span.status
    );
    assert_eq!(
        attribute(&span, "error.type").as_deref(),
        Some("OrderMissing")
    );
    // No request headers: a new trace.
    assert_eq!(span.parent_span_id, SpanId::INVALID);

    let text = metrics::render_as(Format::Prometheus);
    let errors = text
        .lines()
        .find(|l| {
            l.starts_with("operation_duration_seconds_count{")
                && l.contains("operation=\"Api.GetOrder\"")
                && l.contains("outcome=\"error\"")
        })
        .unwrap_or_else(|| panic!("the error series in\n{text}"));
    assert!(errors.ends_with(" 1"), "one failed request: {errors}");
    // The route is a span attribute, never a label of the operation's series.
    assert!(
        !text.contains("/orders/0"),
        "no raw path in the metrics:\n{text}"
    );
}

#[test]
fn headers_with_kind_server_continue_the_callers_trace() {
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let (status, _, body) = http_get(server().addr, "/ping", &[("traceparent", &traceparent)]);
    assert_eq!((status, body.as_str()), (200, "pong"));
    let span = span_where("Api.Ping", |s| s.name == "Api.Ping");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    // Only headers: no request attributes, and no route unless written.
    assert_eq!(attribute(&span, "http.route"), None);
    assert_eq!(attribute(&span, "url.path"), None);
    let lines = server().capture.json_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "pinged")
        .unwrap_or_else(|| panic!("the handler's line in {lines:#?}"));
    assert_eq!(line["span_id"], span.span_context.span_id().to_string());
}
