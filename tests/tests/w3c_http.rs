//! W3C Trace Context over a real HTTP round trip, the way the specification's
//! test harness checks a service: harness -> service -> harness callbacks.
//!
//! A test client sends exact header lines over raw TCP (repeated headers, odd
//! name casing, whitespace around values) to a service under test. The
//! service continues the trace from the request headers
//! (`carriers::http::extract`), and for each of [`CALLS`] outgoing calls runs
//! an observed client function that injects the headers
//! (`carriers::http::inject`) and POSTs to a downstream test server. The
//! downstream server records every header it receives, repeats included, and
//! each case is asserted on those: what is continued, what is restarted,
//! which `tracestate` goes on, that the flags keep the random bit, and that
//! nothing carries over from an earlier request.
//!
//! Cases are from W3C Trace Context levels 1 and 2, sections "traceparent
//! Header", "tracestate Header" and "Processing Model". Each test runs its
//! whole table and reports every failing case with the headers observed.
//! Every case has a trace id of its own, so cases and tests are independent.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use observe_runtime::propagation::carriers;
use observe_runtime::{observe, FutureExt as _};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Outgoing calls the service makes per request.
const CALLS: usize = 3;
/// The bound on every network step, on both sides.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The specification's example parent id, sent by most cases.
const PARENT_ID: &str = "1234567890123456";
/// The specification's example trace id, with the last 4 digits replaced by
/// the case's own number (`{n}` in the header templates).
const TRACE_ID: &str = "1234567890123456789012345678{n}";
/// The specification's valid example, sampled.
const TRACEPARENT: &str = "00-1234567890123456789012345678{n}-1234567890123456-01";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// What the downstream server received, by case: per call, every header as
/// (name, value), in `HeaderMap` order with repeats kept.
type Received = Arc<Mutex<HashMap<String, Vec<Vec<(String, String)>>>>>;

// ---------------------------------------------------------------------------
// The service under test.

#[observe(kind = server, span = "W3c.Handle")]
async fn handle(downstream: SocketAddr, case: String) -> Result<(), BoxError> {
    for call in 0..CALLS {
        callback(downstream, format!("/callback/{case}/{call}")).await?;
    }
    Ok(())
}

#[observe(kind = client, span = "W3c.Callback")]
async fn callback(downstream: SocketAddr, path: String) -> Result<(), BoxError> {
    let mut request = Request::post(path)
        .header(hyper::header::HOST, downstream.to_string())
        .body(Empty::<Bytes>::new())?;
    carriers::http::inject(request.headers_mut());
    let stream = bounded(TcpStream::connect(downstream)).await??;
    let (mut sender, connection) =
        bounded(hyper::client::conn::http1::handshake(TokioIo::new(stream))).await??;
    // Ends when `sender` is dropped at the end of this call.
    tokio::spawn(connection);
    let response = bounded(sender.send_request(request)).await??;
    if response.status() != StatusCode::OK {
        return Err(format!("downstream answered {}", response.status()).into());
    }
    Ok(())
}

/// `POST /case/<case>`: continues the trace of the request's headers and
/// calls back [`CALLS`] times.
async fn service(
    request: Request<Incoming>,
    downstream: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(case) = request.uri().path().strip_prefix("/case/") else {
        return Ok(reply(StatusCode::NOT_FOUND, "expected /case/<case>".into()));
    };
    let parent = carriers::http::extract(request.headers());
    Ok(
        match handle(downstream, case.to_owned())
            .with_context(parent)
            .await
        {
            Ok(()) => reply(StatusCode::OK, "done".into()),
            Err(e) => reply(StatusCode::BAD_GATEWAY, e.to_string()),
        },
    )
}

/// `POST /callback/<case>/<call>`: records the headers.
async fn downstream(
    request: Request<Incoming>,
    received: Received,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(case) = request
        .uri()
        .path()
        .strip_prefix("/callback/")
        .and_then(|rest| rest.split('/').next())
    else {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "expected /callback/<case>/<call>".into(),
        ));
    };
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    received
        .lock()
        .unwrap()
        .entry(case.to_owned())
        .or_default()
        .push(headers);
    Ok(reply(StatusCode::OK, String::new()))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

async fn bounded<F: Future>(future: F) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout(IO_TIMEOUT, future).await
}

/// Serves HTTP/1.1 on `listener` with `handler`, one task per connection.
async fn serve<H, F>(listener: std::net::TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handler))
                .await;
        });
    }
}

/// The servers and the exporter, shared by the tests of this binary: observe
/// is initialised once per process.
struct Harness {
    service: SocketAddr,
    received: Received,
    exporter: InMemorySpanExporter,
    // The servers' runtime: the tests' own runtimes end with each test.
    _runtime: tokio::runtime::Runtime,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (exporter, guard) = observe_tests::init_in_memory("w3c-http-test");
        // The guard lives as long as the test binary.
        std::mem::forget(guard);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the servers' runtime");
        // Port 0: the listener holds its port from the start, so no other
        // process can take it in between.
        let bind = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            listener.set_nonblocking(true).expect("non-blocking");
            listener
        };
        let (service_listener, downstream_listener) = (bind(), bind());
        let service_addr = service_listener.local_addr().unwrap();
        let downstream_addr = downstream_listener.local_addr().unwrap();
        let received = Received::default();
        let store = received.clone();
        runtime.spawn(serve(downstream_listener, move |request| {
            downstream(request, store.clone())
        }));
        runtime.spawn(serve(service_listener, move |request| {
            service(request, downstream_addr)
        }));
        Harness {
            service: service_addr,
            received,
            exporter,
            _runtime: runtime,
        }
    })
}

// ---------------------------------------------------------------------------
// The test client and the cases.

/// One request of the test client and what its outgoing calls must carry.
struct Case {
    name: String,
    /// Names the request's calls at the downstream server.
    key: String,
    /// Replaces `{n}` in the header templates: the case's own trace id.
    n: String,
    /// Header lines as sent, `name: value`, `{n}` still in the templates.
    headers: Vec<(String, String)>,
    /// The incoming trace goes on (`true`) or a new one starts.
    continued: bool,
    /// The `tracestate` list members that go out, in order (none: no
    /// `tracestate`, or an empty one).
    tracestate: Vec<String>,
    /// The exact trace flags that go out, where the case is about them.
    flags: Option<&'static str>,
}

fn next_number() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Case {
    fn new(name: &str, headers: &[(&str, &str)], continued: bool) -> Case {
        let number = next_number();
        assert!(number < 10_000, "`{{n}}` is 4 digits of the trace id");
        Case {
            name: name.to_owned(),
            key: number.to_string(),
            n: format!("{number:04}"),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            continued,
            tracestate: Vec::new(),
            flags: None,
        }
    }

    fn continued(name: &str, headers: &[(&str, &str)]) -> Case {
        Case::new(name, headers, true)
    }

    fn restarted(name: &str, headers: &[(&str, &str)]) -> Case {
        Case::new(name, headers, false)
    }

    fn tracestate(mut self, members: &[&str]) -> Case {
        self.tracestate = members.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    fn flags(mut self, flags: &'static str) -> Case {
        self.flags = Some(flags);
        self
    }

    /// Sends in the same trace as `other` (its `{n}` in the header templates).
    fn in_trace_of(mut self, other: &Case) -> Case {
        self.n = other.n.clone();
        self
    }

    fn sent_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{n}", &self.n)))
            .collect()
    }

    fn incoming_trace_id(&self) -> String {
        TRACE_ID.replace("{n}", &self.n)
    }
}

/// Sends `case` to the service as hand-written HTTP/1.1, so the header lines
/// go out exactly as written; returns the service's status line.
async fn send(service: SocketAddr, case: &Case) -> Result<String, BoxError> {
    let mut request = format!(
        "POST /case/{} HTTP/1.1\r\nHost: {service}\r\nContent-Length: 0\r\nConnection: close\r\n",
        case.key
    );
    for (name, value) in case.sent_headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = bounded(TcpStream::connect(service)).await??;
    bounded(stream.write_all(request.as_bytes())).await??;
    let mut response = Vec::new();
    bounded(stream.read_to_end(&mut response)).await??;
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

/// A `traceparent` as it went out, checked against the version 00 format.
#[derive(Debug)]
struct Traceparent {
    trace_id: String,
    parent_id: String,
    flags: String,
}

fn is_lower_hex(field: &str, len: usize) -> bool {
    field.len() == len
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn parse_outgoing(value: &str) -> Result<Traceparent, String> {
    let fields: Vec<&str> = value.split('-').collect();
    let [version, trace_id, parent_id, flags] = fields[..] else {
        return Err(format!("`{value}` is not version-traceid-parentid-flags"));
    };
    if version != "00" {
        return Err(format!("`{value}` is not version 00"));
    }
    if !is_lower_hex(trace_id, 32) || trace_id.bytes().all(|b| b == b'0') {
        return Err(format!(
            "`{value}`: trace id is not 32 lowercase hex, not all zero"
        ));
    }
    if !is_lower_hex(parent_id, 16) || parent_id.bytes().all(|b| b == b'0') {
        return Err(format!(
            "`{value}`: parent id is not 16 lowercase hex, not all zero"
        ));
    }
    if !is_lower_hex(flags, 2) {
        return Err(format!("`{value}`: flags are not 2 lowercase hex"));
    }
    Ok(Traceparent {
        trace_id: trace_id.to_owned(),
        parent_id: parent_id.to_owned(),
        flags: flags.to_owned(),
    })
}

fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The `tracestate` list members of one call, every `tracestate` header
/// joined in order (W3C allows splitting the list over several headers).
fn tracestate_members(headers: &[(String, String)]) -> Vec<String> {
    values(headers, "tracestate")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Trace ids a restarted trace must not have: the ones the request carried,
/// lowercased, and the 32-digit ends of a longer one.
fn sent_trace_ids(case: &Case) -> Vec<String> {
    let mut ids = vec![case.incoming_trace_id()];
    for (name, value) in case.sent_headers() {
        if !name.eq_ignore_ascii_case("traceparent") {
            continue;
        }
        if let Some(field) = value.trim().split('-').nth(1) {
            let field = field.to_ascii_lowercase();
            if field.len() >= 32 {
                ids.push(field[..32].to_owned());
                ids.push(field[field.len() - 32..].to_owned());
            }
            ids.push(field);
        }
    }
    ids
}

/// The spec's problems with what reached downstream for `case`; empty when
/// it conforms.
fn problems(case: &Case, status: &str, calls: &[Vec<(String, String)>]) -> Vec<String> {
    let mut problems = Vec::new();
    if !status.contains(" 200 ") {
        problems.push(format!("the service answered `{status}`"));
    }
    if calls.len() != CALLS {
        problems.push(format!("{} calls arrived, expected {CALLS}", calls.len()));
        return problems;
    }
    let mut parsed = Vec::new();
    for (call, headers) in calls.iter().enumerate() {
        let traceparents = values(headers, "traceparent");
        let [traceparent] = traceparents[..] else {
            problems.push(format!(
                "call {call}: {} `traceparent` headers, expected exactly one: {traceparents:?}",
                traceparents.len()
            ));
            continue;
        };
        match parse_outgoing(traceparent) {
            Ok(p) => parsed.push(p),
            Err(e) => problems.push(format!("call {call}: {e}")),
        }
        let members = tracestate_members(headers);
        if members != case.tracestate {
            problems.push(format!(
                "call {call}: tracestate {:?}, expected {:?}",
                values(headers, "tracestate"),
                case.tracestate
            ));
        }
    }
    if parsed.len() != CALLS {
        return problems;
    }
    if case.continued {
        let incoming = case.incoming_trace_id();
        for (call, p) in parsed.iter().enumerate() {
            if p.trace_id != incoming {
                problems.push(format!(
                    "call {call}: trace id {}, expected the incoming {incoming} (continued)",
                    p.trace_id
                ));
            }
        }
    } else {
        let sent = sent_trace_ids(case);
        for (call, p) in parsed.iter().enumerate() {
            if sent.contains(&p.trace_id) {
                problems.push(format!(
                    "call {call}: trace id {} came from the request; expected a new trace",
                    p.trace_id
                ));
            }
        }
        if parsed.iter().any(|p| p.trace_id != parsed[0].trace_id) {
            problems.push(format!(
                "the calls of one request are in different traces: {parsed:?}"
            ));
        }
    }
    let mut parent_ids: Vec<&str> = parsed.iter().map(|p| p.parent_id.as_str()).collect();
    parent_ids.sort_unstable();
    parent_ids.dedup();
    if parent_ids.len() != CALLS || parent_ids.contains(&PARENT_ID) {
        problems.push(format!(
            "expected a new parent id per call, not the incoming {PARENT_ID}: {parsed:?}"
        ));
    }
    if let Some(flags) = case.flags {
        for (call, p) in parsed.iter().enumerate() {
            if p.flags != flags {
                problems.push(format!("call {call}: flags {}, expected {flags}", p.flags));
            }
        }
    }
    problems
}

/// Sends `case` and returns its failures, each with the headers observed.
async fn check(case: &Case) -> Vec<String> {
    let harness = harness();
    let status = match send(harness.service, case).await {
        Ok(status) => status,
        Err(e) => return vec![format!("{}: the request failed: {e}", case.name)],
    };
    let calls = harness
        .received
        .lock()
        .unwrap()
        .get(&case.key)
        .cloned()
        .unwrap_or_default();
    let found = problems(case, &status, &calls);
    if found.is_empty() {
        return Vec::new();
    }
    let outgoing: Vec<Vec<String>> = calls
        .iter()
        .map(|headers| {
            headers
                .iter()
                .filter(|(name, _)| name == "traceparent" || name == "tracestate")
                .map(|(name, value)| format!("{name}: {value}"))
                .collect()
        })
        .collect();
    vec![format!(
        "{}\n    sent: {:?}\n    {}\n    received per call: {outgoing:?}",
        case.name,
        case.sent_headers(),
        found.join("\n    ")
    )]
}

/// Runs every case in order and fails listing each one that does not
/// conform.
async fn check_all(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        failures.extend(check(case).await);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// traceparent

#[tokio::test]
async fn a_valid_traceparent_is_continued() {
    check_all(vec![
        Case::continued("the specification's example", &[("traceparent", TRACEPARENT)])
            .flags("01"),
        Case::continued("name TraceParent", &[("TraceParent", TRACEPARENT)]),
        Case::continued("name TRACEPARENT", &[("TRACEPARENT", TRACEPARENT)]),
        Case::continued("name TrAcEpArEnT", &[("TrAcEpArEnT", TRACEPARENT)]),
        Case::continued(
            "future version cc",
            &[("traceparent", "cc-1234567890123456789012345678{n}-1234567890123456-01")],
        ),
        Case::continued(
            "future version cc with more fields",
            &[(
                "traceparent",
                "cc-1234567890123456789012345678{n}-1234567890123456-01-what-the-future-will-be-like",
            )],
        ),
        Case::continued(
            "leading space",
            &[("traceparent", " 00-1234567890123456789012345678{n}-1234567890123456-01")],
        ),
        Case::continued(
            "leading tab",
            &[("traceparent", "\t00-1234567890123456789012345678{n}-1234567890123456-01")],
        ),
        Case::continued(
            "trailing space",
            &[("traceparent", "00-1234567890123456789012345678{n}-1234567890123456-01 ")],
        ),
        Case::continued(
            "trailing tab",
            &[("traceparent", "00-1234567890123456789012345678{n}-1234567890123456-01\t")],
        ),
        Case::continued(
            "tabs and spaces on both sides",
            &[(
                "traceparent",
                "\t \t00-1234567890123456789012345678{n}-1234567890123456-01 \t ",
            )],
        ),
    ])
    .await;
}

#[tokio::test]
async fn an_invalid_traceparent_restarts_the_trace() {
    let restarted =
        |name: &str, traceparent: &str| Case::restarted(name, &[("traceparent", traceparent)]);
    check_all(vec![
        restarted(
            "version ff",
            "ff-1234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "version 0",
            "0-1234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "version 000",
            "000-1234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "version .0",
            ".0-1234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "version 0.",
            "0.-1234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "trace id of 31 digits",
            "00-123456789012345678901234567{n}-1234567890123456-01",
        ),
        restarted(
            "trace id of 33 digits",
            "00-12345678901234567890123456789{n}-1234567890123456-01",
        ),
        restarted(
            "trace id all zero",
            "00-00000000000000000000000000000000-1234567890123456-01",
        ),
        restarted(
            "trace id with .",
            "00-123456789012345678901234567.{n}-1234567890123456-01",
        ),
        restarted(
            "trace id uppercase",
            "00-ABCDEF7890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "parent id of 15 digits",
            "00-1234567890123456789012345678{n}-123456789012345-01",
        ),
        restarted(
            "parent id of 17 digits",
            "00-1234567890123456789012345678{n}-12345678901234567-01",
        ),
        restarted(
            "parent id all zero",
            "00-1234567890123456789012345678{n}-0000000000000000-01",
        ),
        restarted(
            "parent id uppercase",
            "00-1234567890123456789012345678{n}-ABCDEF7890123456-01",
        ),
        restarted(
            "flags 1",
            "00-1234567890123456789012345678{n}-1234567890123456-1",
        ),
        restarted(
            "flags 001",
            "00-1234567890123456789012345678{n}-1234567890123456-001",
        ),
        restarted(
            "flags .0",
            "00-1234567890123456789012345678{n}-1234567890123456-.0",
        ),
        restarted(
            "version 00 with a trailing .",
            "00-1234567890123456789012345678{n}-1234567890123456-01.",
        ),
        restarted(
            "version 00 with more fields",
            "00-1234567890123456789012345678{n}-1234567890123456-01-what-the-future-will-be-like",
        ),
        restarted(
            "future version cc with . after the flags",
            "cc-1234567890123456789012345678{n}-1234567890123456-01.what-the-future-will-be-like",
        ),
        restarted(
            "version +0",
            "+0-1234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "trace id +",
            "00-+234567890123456789012345678{n}-1234567890123456-01",
        ),
        restarted(
            "parent id +",
            "00-1234567890123456789012345678{n}-+234567890123456-01",
        ),
        restarted(
            "flags +1",
            "00-1234567890123456789012345678{n}-1234567890123456-+1",
        ),
        restarted("garbage", "not a traceparent"),
        Case::restarted(
            "two traceparent headers",
            &[
                (
                    "traceparent",
                    "00-1234567890123456789012345678{n}-1234567890123456-01",
                ),
                (
                    "traceparent",
                    "00-1234567890123456789012345679{n}-1234567890123456-01",
                ),
            ],
        ),
    ])
    .await;
}

// ---------------------------------------------------------------------------
// tracestate

#[tokio::test]
async fn tracestate_goes_on_with_the_trace() {
    let members32 = (0..32).map(|i| format!("k{i}=v{i}")).collect::<Vec<_>>();
    let joined32 = members32.join(",");
    let members32: Vec<&str> = members32.iter().map(String::as_str).collect();
    check_all(vec![
        Case::continued(
            "foo=1,bar=2",
            &[("traceparent", TRACEPARENT), ("tracestate", "foo=1,bar=2")],
        )
        .tracestate(&["foo=1", "bar=2"]),
        Case::continued(
            "two tracestate headers are joined in order",
            &[
                ("traceparent", TRACEPARENT),
                ("tracestate", "foo=1,bar=2"),
                ("tracestate", "rojo=1,congo=2"),
            ],
        )
        .tracestate(&["foo=1", "bar=2", "rojo=1", "congo=2"]),
        Case::continued(
            "name TraceState",
            &[("traceparent", TRACEPARENT), ("TraceState", "foo=1,bar=2")],
        )
        .tracestate(&["foo=1", "bar=2"]),
        Case::continued(
            "whitespace around list members",
            &[
                ("traceparent", TRACEPARENT),
                ("tracestate", "foo=1 \t , \t bar=2, \t baz=3"),
            ],
        )
        .tracestate(&["foo=1", "bar=2", "baz=3"]),
        Case::continued(
            "multi-tenant key",
            &[
                ("traceparent", TRACEPARENT),
                ("tracestate", "tenant@vendor=1,bar=2"),
            ],
        )
        .tracestate(&["tenant@vendor=1", "bar=2"]),
        Case::continued(
            "exactly 32 members",
            &[("traceparent", TRACEPARENT), ("tracestate", &joined32)],
        )
        .tracestate(&members32),
    ])
    .await;
}

#[tokio::test]
async fn an_invalid_tracestate_is_discarded_whole() {
    let joined33 = (0..33)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let discarded = |name: &str, tracestate: &str| {
        Case::continued(
            name,
            &[("traceparent", TRACEPARENT), ("tracestate", tracestate)],
        )
    };
    check_all(vec![
        Case::restarted(
            "tracestate without traceparent",
            &[("tracestate", "foo=1,bar=2")],
        ),
        Case::restarted(
            "tracestate with an invalid traceparent",
            &[
                (
                    "traceparent",
                    "00-1234567890123456789012345678{n}-0000000000000000-01",
                ),
                ("tracestate", "foo=1,bar=2"),
            ],
        ),
        discarded("key with @ at the end", "foo@=1,bar=2"),
        discarded("key with @ at the start", "@foo=1,bar=2"),
        discarded("key with two @", "foo@@bar=1,bar=2"),
        discarded("uppercase key", "FOO=1"),
        discarded("key with a space", "foo =1"),
        discarded("key with .", "foo.bar=1"),
        discarded("value with =", "foo=bar=baz"),
        discarded("empty value", "foo=,bar=3"),
        discarded("duplicate key", "foo=1,foo=2"),
        Case::continued(
            "duplicate key over two headers",
            &[
                ("traceparent", TRACEPARENT),
                ("tracestate", "foo=1"),
                ("tracestate", "foo=2"),
            ],
        ),
        discarded("33 members", &joined33),
    ])
    .await;
}

// ---------------------------------------------------------------------------
// trace flags (level 2: the random bit is 0x02)

#[tokio::test]
async fn flags_keep_the_random_bit() {
    // The default sampler follows a parent's decision and samples new roots.
    check_all(vec![
        Case::continued(
            "sampled and random",
            &[(
                "traceparent",
                "00-1234567890123456789012345678{n}-1234567890123456-03",
            )],
        )
        .flags("03"),
        Case::continued(
            "random, not sampled",
            &[(
                "traceparent",
                "00-1234567890123456789012345678{n}-1234567890123456-02",
            )],
        )
        .flags("02"),
        Case::continued(
            "sampled, not random",
            &[(
                "traceparent",
                "00-1234567890123456789012345678{n}-1234567890123456-01",
            )],
        )
        .flags("01"),
        Case::continued(
            "neither",
            &[(
                "traceparent",
                "00-1234567890123456789012345678{n}-1234567890123456-00",
            )],
        )
        .flags("00"),
        // Level 1, "Other Flags": vendors set the flags they do not know to 0.
        Case::continued(
            "unknown flags are not passed on",
            &[(
                "traceparent",
                "00-1234567890123456789012345678{n}-1234567890123456-f1",
            )],
        )
        .flags("01"),
        Case::restarted("a new root trace", &[]).flags("03"),
    ])
    .await;
}

// ---------------------------------------------------------------------------
// no state across requests

#[tokio::test]
async fn nothing_carries_over_from_an_earlier_request() {
    let first = Case::continued(
        "first request, with tracestate",
        &[("traceparent", TRACEPARENT), ("tracestate", "foo=1")],
    )
    .tracestate(&["foo=1"]);
    let second = Case::continued(
        "second request, same traceparent, no tracestate",
        &[("traceparent", TRACEPARENT)],
    )
    .in_trace_of(&first);
    let third = Case::continued(
        "third request, same traceparent, another tracestate",
        &[("traceparent", TRACEPARENT), ("tracestate", "bar=2")],
    )
    .in_trace_of(&first)
    .tracestate(&["bar=2"]);
    let random = Case::continued(
        "first request, random flag",
        &[(
            "traceparent",
            "00-1234567890123456789012345678{n}-1234567890123456-03",
        )],
    )
    .flags("03");
    let not_random = Case::continued(
        "second request, same trace, not random",
        &[(
            "traceparent",
            "00-1234567890123456789012345678{n}-1234567890123456-01",
        )],
    )
    .in_trace_of(&random)
    .flags("01");
    // In sequence: each later request follows an earlier one in its trace.
    check_all(vec![first, second, third, random, not_random]).await;
}

// ---------------------------------------------------------------------------
// the exported spans

fn span<'a>(spans: &'a [SpanData], span_id: &str) -> Option<&'a SpanData> {
    let span_id = SpanId::from_hex(span_id).ok()?;
    spans.iter().find(|s| s.span_context.span_id() == span_id)
}

/// Checks the exported spans of a case that went out as `calls`: a client
/// span per call, whose id is the call's parent id, in the call's trace,
/// under one server span whose parent is `remote`'s parent id, in `remote`'s
/// trace (`None`: a new root).
fn exported_problems(
    spans: &[SpanData],
    calls: &[Vec<(String, String)>],
    remote: Option<(&str, &str)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut handlers = Vec::new();
    for (call, headers) in calls.iter().enumerate() {
        let Some(outgoing) = values(headers, "traceparent")
            .first()
            .and_then(|v| parse_outgoing(v).ok())
        else {
            problems.push(format!("call {call}: no valid traceparent went out"));
            continue;
        };
        let Some(client) = span(spans, &outgoing.parent_id) else {
            problems.push(format!(
                "call {call}: no exported span has the outgoing parent id {}",
                outgoing.parent_id
            ));
            continue;
        };
        if client.name != "W3c.Callback" || client.span_kind != SpanKind::Client {
            problems.push(format!(
                "call {call}: the outgoing parent is {} ({:?}), expected the W3c.Callback client span",
                client.name, client.span_kind
            ));
        }
        let trace_id = client.span_context.trace_id().to_string();
        if trace_id != outgoing.trace_id {
            problems.push(format!(
                "call {call}: the client span is in trace {trace_id}, the call went out in {}",
                outgoing.trace_id
            ));
        }
        if let Some((incoming, _)) = remote {
            if trace_id != incoming {
                problems.push(format!(
                    "call {call}: the client span is in trace {trace_id}, expected the incoming {incoming}"
                ));
            }
        }
        handlers.push(client.parent_span_id);
    }
    handlers.dedup();
    let [handler] = handlers[..] else {
        problems.push(format!(
            "the client spans have parents {handlers:?}, expected one handler span"
        ));
        return problems;
    };
    let Some(handler) = spans.iter().find(|s| s.span_context.span_id() == handler) else {
        problems.push(format!(
            "the client spans' parent {handler} is not exported"
        ));
        return problems;
    };
    if handler.name != "W3c.Handle" || handler.span_kind != SpanKind::Server {
        problems.push(format!(
            "the client spans' parent is {} ({:?}), expected the W3c.Handle server span",
            handler.name, handler.span_kind
        ));
    }
    match remote {
        Some((_, parent)) => {
            if handler.parent_span_id.to_string() != parent || !handler.parent_span_is_remote {
                problems.push(format!(
                    "the handler span's parent is {} (remote: {}), expected the remote {parent}",
                    handler.parent_span_id, handler.parent_span_is_remote
                ));
            }
        }
        None => {
            if handler.parent_span_id != SpanId::INVALID {
                problems.push(format!(
                    "the handler span has parent {}, expected a root",
                    handler.parent_span_id
                ));
            }
        }
    }
    problems
}

#[tokio::test]
async fn exported_spans_continue_the_incoming_trace() {
    let harness = harness();
    let continued = Case::continued(
        "continued",
        &[("traceparent", TRACEPARENT), ("tracestate", "foo=1,bar=2")],
    )
    .tracestate(&["foo=1", "bar=2"]);
    let restarted = Case::restarted(
        "restarted",
        &[(
            "traceparent",
            "00-1234567890123456789012345678{n}-0000000000000000-01",
        )],
    );
    let root = Case::restarted("root", &[]);
    let incoming = continued.incoming_trace_id();
    let cases = [
        (&continued, Some((incoming.as_str(), PARENT_ID))),
        (&restarted, None),
        (&root, None),
    ];
    for (case, _) in &cases {
        let status = send(harness.service, case).await.expect("the request");
        assert!(status.contains(" 200 "), "{}: {status}", case.name);
    }
    let exporter = harness.exporter.clone();
    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();

    let mut failures = Vec::new();
    for (case, remote) in cases {
        let calls = harness
            .received
            .lock()
            .unwrap()
            .get(&case.key)
            .cloned()
            .unwrap_or_default();
        if calls.len() != CALLS {
            failures.push(format!("{}: {} calls arrived", case.name, calls.len()));
            continue;
        }
        let found = exported_problems(&spans, &calls, remote);
        if !found.is_empty() {
            failures.push(format!("{}:\n    {}", case.name, found.join("\n    ")));
        }
    }
    // Nothing else of this process joined the incoming trace.
    let incoming = TraceId::from_hex(&incoming).unwrap();
    let in_trace = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == incoming)
        .count();
    if in_trace != CALLS + 1 {
        failures.push(format!(
            "continued: {in_trace} exported spans in the incoming trace, expected {}",
            CALLS + 1
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
