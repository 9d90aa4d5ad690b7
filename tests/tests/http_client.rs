//! HTTP clients and two hops over real loopback sockets: a frontend axum
//! service with `ObserveLayer` calls a backend axum service through reqwest
//! with `ObserveMiddleware`, so one trace crosses two hops with its baggage;
//! and the client span's attributes, status and histogram for answers and
//! failures, through reqwest and through hyper-util's client with
//! `ObserveClientLayer`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use observe_runtime::http::{ObserveClientLayer, ObserveLayer, ObserveMiddleware};
use observe_runtime::observe;
use observe_tests::{attribute, http_get, Capture};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tower::ServiceBuilder;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

struct Setup {
    frontend: SocketAddr,
    backend: SocketAddr,
    /// The headers every backend request arrived with.
    seen: Seen,
    exporter: InMemorySpanExporter,
    capture: Capture,
    runtime: tokio::runtime::Handle,
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ObserveMiddleware::new())
        .build()
}

async fn backend(State(seen): State<Seen>, headers: HeaderMap) -> (StatusCode, &'static str) {
    tracing::info!("in the backend");
    seen.lock().unwrap().push(
        headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    );
    (StatusCode::OK, "stock")
}

/// The frontend's handler: one call to the backend, through reqwest.
async fn frontend(State(backend): State<SocketAddr>) -> String {
    tracing::info!("in the frontend");
    let answer = client()
        .get(format!("http://{backend}/stock?sku=SKU-1"))
        .send()
        .await
        .expect("the backend answers");
    answer.text().await.unwrap()
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let (exporter, capture) = observe_tests::init_for_process("http-client-test", |config| {
            config.baggage_attributes(["tenant.id"])
        });
        let seen: Seen = Arc::default();
        let runtime = observe_tests::process_runtime();
        let backend_seen = Arc::clone(&seen);
        let (frontend, backend) = runtime.block_on(async move {
            let backend_app = Router::new()
                .route("/stock", get(backend))
                .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
                .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                .with_state(backend_seen)
                .layer(ObserveLayer::new());
            let backend_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let backend = backend_listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(backend_listener, backend_app).await });
            let frontend_app = Router::new()
                .route("/order", get(frontend))
                .with_state(backend)
                .layer(ObserveLayer::new());
            let frontend_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let frontend = frontend_listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(frontend_listener, frontend_app).await });
            (frontend, backend)
        });
        Setup {
            frontend,
            backend,
            seen,
            exporter,
            capture,
            runtime: runtime.handle().clone(),
        }
    })
}

/// Every exported span that `keep` selects, once there are `count` of them.
fn spans_where(count: usize, keep: impl Fn(&SpanData) -> bool) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        let spans: Vec<SpanData> = setup()
            .exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| keep(s))
            .collect();
        if spans.len() >= count || Instant::now() > deadline {
            assert_eq!(spans.len(), count, "{spans:#?}");
            return spans;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn in_trace(trace_id: &str) -> impl Fn(&SpanData) -> bool + '_ {
    move |s| s.span_context.trace_id().to_string() == trace_id
}

#[test]
fn one_trace_and_its_baggage_cross_two_hops() {
    let setup = setup();
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let (status, _, body) = http_get(
        setup.frontend,
        "/order",
        &[("traceparent", &traceparent), ("baggage", "tenant.id=acme")],
    );
    assert_eq!((status, body.as_str()), (200, "stock"));

    let spans = spans_where(3, in_trace(TRACE_ID));
    let named = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let front = named("GET /order");
    let client = named("GET");
    let back = named("GET /stock");
    assert_eq!(front.span_kind, SpanKind::Server);
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(back.span_kind, SpanKind::Server);
    assert_eq!(front.parent_span_id.to_string(), PARENT_ID);
    assert_eq!(client.parent_span_id, front.span_context.span_id());
    assert_eq!(back.parent_span_id, client.span_context.span_id());
    for span in [front, client, back] {
        assert_eq!(
            attribute(span, "tenant.id").as_deref(),
            Some("acme"),
            "{}",
            span.name
        );
    }

    // The client span's conventions.
    let port = setup.backend.port().to_string();
    for (key, value) in [
        ("http.request.method", "GET"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
        ("http.response.status_code", "200"),
        (
            "url.full",
            &format!("http://127.0.0.1:{port}/stock?sku=REDACTED"),
        ),
    ] {
        assert_eq!(attribute(client, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(client.status, Status::Unset);

    // What arrived at the backend: the client span as parent, the baggage.
    let seen = setup.seen.lock().unwrap();
    let headers = seen
        .iter()
        .find(|h| h.get("traceparent").is_some_and(|t| t.contains(TRACE_ID)))
        .expect("the backend got the trace");
    assert_eq!(
        headers["traceparent"],
        format!("00-{TRACE_ID}-{}-01", client.span_context.span_id())
    );
    assert_eq!(headers["baggage"], "tenant.id=acme");

    // Both handlers' log lines carry the trace and the baggage.
    let lines = setup.capture.json_lines();
    for (message, span) in [("in the frontend", front), ("in the backend", back)] {
        let line = lines
            .iter()
            .find(|l| l["message"] == message && l["trace_id"] == TRACE_ID)
            .unwrap_or_else(|| panic!("{message} in {lines:#?}"));
        assert_eq!(line["span_id"], span.span_context.span_id().to_string());
        assert_eq!(line["tenant.id"], "acme");
    }
}

#[observe(span = "Client.Fetch")]
async fn fetch(url: String) -> Result<u16, reqwest_middleware::Error> {
    Ok(client().get(url).send().await?.status().as_u16())
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    setup().runtime.block_on(future)
}

/// The client span under the observed call `parent`.
fn client_span_of(parent: &SpanData) -> SpanData {
    let trace_id = parent.span_context.trace_id().to_string();
    let client = spans_where(1, |s| {
        in_trace(&trace_id)(s) && s.span_kind == SpanKind::Client
    })
    .remove(0);
    assert_eq!(client.parent_span_id, parent.span_context.span_id());
    client
}

fn fetch_span(url_path: &str) -> SpanData {
    spans_where(1, |s| {
        s.name == "Client.Fetch"
            && setup()
                .exporter
                .get_finished_spans()
                .unwrap()
                .iter()
                .any(|c| {
                    c.parent_span_id == s.span_context.span_id()
                        && attribute(c, "url.full").is_some_and(|u| u.ends_with(url_path))
                })
    })
    .remove(0)
}

#[test]
fn a_4xx_or_5xx_answer_is_an_error_of_the_client_span() {
    let backend = setup().backend;
    for (path, code) in [("/missing", 404), ("/down", 503)] {
        assert_eq!(
            block_on(fetch(format!("http://{backend}{path}"))).unwrap(),
            code
        );
        let client = client_span_of(&fetch_span(path));
        assert!(matches!(client.status, Status::Error { .. }), "{path}");
        assert_eq!(
            attribute(&client, "error.type").as_deref(),
            Some(code.to_string().as_str())
        );
        assert!(client.events.events.is_empty(), "no exception event");
    }
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    let closed = observe_tests::free_addr();
    assert!(block_on(fetch(format!("http://{closed}/refused"))).is_err());
    let client = client_span_of(&fetch_span("/refused"));
    assert_eq!(attribute(&client, "error.type").as_deref(), Some("connect"));
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(attribute(&client, "http.response.status_code"), None);
}

#[observe(span = "Client.Tower")]
async fn through_tower(backend: SocketAddr) -> u16 {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let mut service = ServiceBuilder::new()
        .layer(ObserveClientLayer::new())
        .service(client);
    let request = hyper::Request::get(format!("http://{backend}/stock?via=tower"))
        .body(Empty::new())
        .unwrap();
    let response = tower::ServiceExt::oneshot(&mut service, request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

#[test]
fn hyper_clients_get_the_tower_layer() {
    let backend = setup().backend;
    assert_eq!(block_on(through_tower(backend)), 200);
    let parent = spans_where(1, |s| s.name == "Client.Tower").remove(0);
    let trace_id = parent.span_context.trace_id().to_string();
    let spans = spans_where(3, in_trace(&trace_id));
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    assert_eq!(client.parent_span_id, parent.span_context.span_id());
    assert_eq!(server.parent_span_id, client.span_context.span_id());
    assert_eq!(
        attribute(client, "url.full").as_deref(),
        Some(format!("http://{backend}/stock?via=REDACTED").as_str())
    );
}

#[test]
fn the_client_histogram_is_labelled_by_server_and_status() {
    let backend = setup().backend;
    assert_eq!(
        block_on(fetch(format!("http://{backend}/stock?sku=histogram"))).unwrap(),
        200
    );
    let text = observe_runtime::metrics::render();
    observe_tests::check_with_promtool(&text);
    let series = format!(
        "http_client_request_duration_seconds_count{{error_type=\"\",http_request_method=\"GET\",\
         http_response_status_code=\"200\",server_address=\"127.0.0.1\",server_port=\"{}\"}} ",
        backend.port()
    );
    assert!(
        text.lines().any(|l| l.starts_with(&series)),
        "{series} in:\n{text}"
    );
    assert!(!text.contains("sku="), "no URL in a label");
}
