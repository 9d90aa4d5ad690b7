//! `observe_runtime::http::ObserveLayer` on a real axum server over loopback
//! sockets: one SERVER span per request named after the route template,
//! continued from the request's `traceparent` and `baggage`, with the HTTP
//! semantic conventions; status by answer (200, 404, 500, a panic, a client
//! that goes away); the `http_server_request_duration_seconds` series with
//! templates, never raw paths, as labels; and the handler's log lines
//! carrying the request's ids.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use observe_runtime::http::ObserveLayer;
use observe_runtime::metrics::{self, Format};
use observe_tests::{attribute, http_get, Capture};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use std::net::SocketAddr;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

struct Server {
    addr: SocketAddr,
    exporter: InMemorySpanExporter,
    capture: Capture,
}

async fn order(Path(id): Path<u64>) -> String {
    tracing::info!(order.id = id, "handling the order");
    format!("order {id}")
}

async fn fail() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

async fn panics() -> &'static str {
    panic!("the handler panicked on purpose")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "too late"
}

/// One server for the whole test process, on a runtime of its own.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (exporter, capture) = observe_tests::init_for_process("http-server-test", |config| {
            config.baggage_attributes(["tenant.id"])
        });
        let addr = observe_tests::process_runtime().block_on(async {
            let app = Router::new()
                .route("/orders/{id}", get(order))
                .route("/fail", get(fail))
                .route("/panic", get(panics))
                .route("/slow", get(slow))
                .layer(ObserveLayer::new());
            observe_tests::serve(app).await
        });
        Server {
            addr,
            exporter,
            capture,
        }
    })
}

/// The one exported span whose `url.path` is `path`, waiting for it.
fn span_for(path: &str) -> SpanData {
    observe_tests::one_span(&server().exporter, path, |s| {
        attribute(s, "url.path").as_deref() == Some(path)
    })
}

fn get_path(path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http_get(server().addr, path, headers);
    (status, body)
}

#[test]
fn a_routed_request_is_one_server_span_continued_from_its_headers() {
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let (status, body) = get_path(
        "/orders/42",
        &[("traceparent", &traceparent), ("baggage", "tenant.id=acme")],
    );
    assert_eq!((status, body.as_str()), (200, "order 42"));

    let span = span_for("/orders/42");
    assert_eq!(span.name, "GET /orders/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert_eq!(span.status, Status::Unset);
    let addr = server().addr;
    let mut expected = observe_tests::order_request_attributes(addr);
    expected.extend([
        ("http.response.status_code", "200".into()),
        ("tenant.id", "acme".into()),
    ]);
    for (key, value) in expected {
        assert_eq!(attribute(&span, key), Some(value), "{key}");
    }
    // A request's span has no function of its own, and no user agent
    // unless asked.
    assert_eq!(attribute(&span, "code.function"), None);
    assert_eq!(attribute(&span, "user_agent.original"), None);

    // The handler's log line carries the request's ids and its baggage.
    let lines = server().capture.json_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "handling the order" && l["order.id"] == 42)
        .unwrap_or_else(|| panic!("the handler's line in {lines:#?}"));
    assert_eq!(line["trace_id"], TRACE_ID);
    assert_eq!(line["span_id"], span.span_context.span_id().to_string());
    assert_eq!(line["tenant.id"], "acme");
}

#[test]
fn an_absolute_form_request_is_recorded_with_its_own_scheme_and_authority() {
    // The request target names another scheme and authority than the
    // connection's (a proxy's form, or what HTTP/2 carries): they win over
    // the `Host` header.
    let (status, body) = get_path("https://shop.example:8443/orders/8443", &[]);
    assert_eq!((status, body.as_str()), (200, "order 8443"));
    let span = span_for("/orders/8443");
    assert_eq!(attribute(&span, "url.scheme").as_deref(), Some("https"));
    assert_eq!(
        attribute(&span, "server.address").as_deref(),
        Some("shop.example")
    );
    assert_eq!(attribute(&span, "server.port").as_deref(), Some("8443"));
    assert_eq!(span.name, "GET /orders/{id}");
}

#[test]
fn an_unrouted_request_is_named_by_its_method_only() {
    let (status, _) = get_path("/no/such/path/7", &[]);
    assert_eq!(status, 404);
    let span = span_for("/no/such/path/7");
    assert_eq!(span.name, "GET");
    assert_eq!(attribute(&span, "http.route"), None);
    assert_eq!(
        attribute(&span, "http.response.status_code").as_deref(),
        Some("404")
    );
    // A 4xx leaves a server span's status unset.
    assert_eq!(span.status, Status::Unset);
    // No parent in the request: a new trace.
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

#[test]
fn a_5xx_is_an_error_by_its_status_code_without_an_exception_event() {
    let (status, _) = get_path("/fail", &[]);
    assert_eq!(status, 503);
    let span = span_for("/fail");
    assert_eq!(span.name, "GET /fail");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(attribute(&span, "error.type").as_deref(), Some("503"));
    assert!(
        span.events.events.is_empty(),
        "no second error event for a 5xx: {:?}",
        span.events
    );
}

#[test]
fn a_panicking_handler_answers_500_and_its_span_is_a_panic() {
    let (status, _) = get_path("/panic", &[]);
    assert_eq!(status, 500);
    let span = span_for("/panic");
    assert_eq!(span.name, "GET /panic");
    assert_eq!(attribute(&span, "error.type").as_deref(), Some("panic"));
    assert_eq!(
        attribute(&span, "http.response.status_code").as_deref(),
        Some("500")
    );
    match &span.status {
        Status::Error { description } => {
            assert_eq!(description, "the handler panicked on purpose")
        }
        other => panic!("{other:?}"),
    }
    // The server goes on answering.
    assert_eq!(get_path("/orders/7", &[]).0, 200);
}

#[test]
fn a_request_whose_client_goes_away_ends_as_cancelled() {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(server().addr).unwrap();
    write!(
        stream,
        "GET /slow HTTP/1.1\r\nHost: {}\r\n\r\n",
        server().addr
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(stream);
    let span = span_for("/slow");
    assert_eq!(
        attribute(&span, "observe.outcome").as_deref(),
        Some("cancelled")
    );
    assert_eq!(span.status, Status::Unset);
}

#[test]
fn the_duration_histogram_is_labelled_by_templates_with_exemplars() {
    for id in [1, 2, 3] {
        assert_eq!(get_path(&format!("/orders/{id}"), &[]).0, 200);
    }
    assert_eq!(get_path("/fail", &[]).0, 503);
    let text = metrics::render();
    observe_tests::check_with_promtool(&text);
    let count = |labels: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(&format!(
                    "http_server_request_duration_seconds_count{{{labels}}} "
                ))
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no series {{{labels}}} in:\n{text}"))
    };
    assert!(
        count(
            r#"error_type="",http_request_method="GET",http_response_status_code="200",http_route="/orders/{id}""#
        ) >= 3.0
    );
    assert!(
        count(
            r#"error_type="503",http_request_method="GET",http_response_status_code="503",http_route="/fail""#
        ) >= 1.0
    );
    // Templates only: no raw path is a label value, and the operations'
    // labels are not on this family.
    for raw in ["/orders/1", "/orders/2", "/no/such/path"] {
        assert!(!text.contains(&format!("\"{raw}")), "{raw} in:\n{text}");
    }
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("http_server_request_duration_seconds")
                && l.contains("operation="))
    );
    assert!(text.contains(
        "# HELP http_server_request_duration_seconds Duration of HTTP server requests, in seconds."
    ));

    // OpenMetrics: the buckets carry exemplars of sampled requests.
    let open = metrics::render_as(Format::OpenMetrics);
    let exemplar_line = open
        .lines()
        .find(|l| {
            l.starts_with("http_server_request_duration_seconds_bucket")
                && l.contains(r#"http_route="/orders/{id}""#)
                && l.contains("# {trace_id=")
        })
        .unwrap_or_else(|| panic!("an exemplar on a /orders/{{id}} bucket:\n{open}"));
    let trace_id = exemplar_line
        .split("trace_id=\"")
        .nth(1)
        .and_then(|rest| rest.get(..32))
        .unwrap();
    // The exemplar may be a request of another test, ended just now.
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let spans = server().exporter.get_finished_spans().unwrap();
    assert!(
        spans
            .iter()
            .any(|s| s.name == "GET /orders/{id}"
                && s.span_context.trace_id().to_string() == trace_id),
        "the exemplar's trace {trace_id} was exported"
    );
}
