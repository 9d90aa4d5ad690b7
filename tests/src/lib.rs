//! Support for observe's behaviour tests: an in-process OTLP receiver (gRPC
//! and HTTP/protobuf; spans and log records), log capture, a tiny HTTP client and tool lookup.

pub mod prometheus;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

/// A span as an OTLP receiver sees it.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// OTLP `SpanKind` number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    pub status_message: String,
    pub attributes: HashMap<String, String>,
    pub resource: HashMap<String, String>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

/// A log record as an OTLP receiver sees it.
#[derive(Clone, Debug)]
pub struct ReceivedLog {
    /// Empty outside any span.
    pub trace_id: String,
    pub span_id: String,
    /// The W3C trace flags (bit 0: sampled).
    pub flags: u32,
    /// OTLP `SeverityNumber` (9 info, 13 warn, 17 error).
    pub severity_number: i32,
    pub severity_text: String,
    /// The body, when it is a string.
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub resource: HashMap<String, String>,
    /// The instrumentation scope's name (the `tracing` target).
    pub scope: String,
    pub time_unix_nano: u64,
}

fn flatten_logs(request: &ExportLogsServiceRequest) -> Vec<ReceivedLog> {
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        let resource = rl
            .resource
            .as_ref()
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        for sl in &rl.scope_logs {
            let scope = sl
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for r in &sl.log_records {
                let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => s.clone(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                out.push(ReceivedLog {
                    trace_id: hex(&r.trace_id),
                    span_id: hex(&r.span_id),
                    flags: r.flags,
                    severity_number: r.severity_number,
                    severity_text: r.severity_text.clone(),
                    body,
                    attributes: attrs(&r.attributes),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    time_unix_nano: r.time_unix_nano,
                });
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn flatten(request: &ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let status = s.status.clone().unwrap_or_default();
                out.push(ReceivedSpan {
                    name: s.name.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    kind: s.kind,
                    status_code: status.code,
                    status_message: status.message,
                    attributes: attrs(&s.attributes),
                    resource: resource.clone(),
                    start_unix_nano: s.start_time_unix_nano,
                    end_unix_nano: s.end_time_unix_nano,
                });
            }
        }
    }
    out
}

type Store = Arc<Mutex<Vec<ReceivedSpan>>>;

/// One OTLP trace request as it arrived.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// The request, decoded with opentelemetry-proto's types.
    pub request: ExportTraceServiceRequest,
    /// `grpc` or `http`.
    pub protocol: &'static str,
    /// The body came gzipped (`grpc-encoding` or `Content-Encoding`).
    pub gzip: bool,
}

/// What both listeners share: the received spans and an artificial delay
/// before each answer (to play a slow collector).
#[derive(Clone, Default)]
struct Shared {
    spans: Store,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    /// The partial success every answer carries: rejected spans, message.
    partial: Arc<Mutex<Option<(i64, String)>>>,
    /// Trace requests still to refuse, and how: an HTTP status (the gRPC
    /// side answers with the matching gRPC code).
    refuse: Arc<Mutex<(u32, u16)>>,
    /// Trace requests that arrived, refused ones included.
    attempts: Arc<std::sync::atomic::AtomicU32>,
    logs: Arc<Mutex<Vec<ReceivedLog>>>,
    delay: Arc<Mutex<Duration>>,
}

/// How long a gRPC refusal with code 429 asks the client to wait.
pub const RETRY_DELAY: Duration = Duration::from_millis(300);

impl Shared {
    /// Counts an arriving trace request; the status to refuse it with, if
    /// it is to be refused.
    fn refusal(&self) -> Option<u16> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut refuse = self.refuse.lock().unwrap();
        if refuse.0 == 0 {
            return None;
        }
        refuse.0 -= 1;
        Some(refuse.1)
    }

    async fn accept(
        &self,
        request: &ExportTraceServiceRequest,
        protocol: &'static str,
        gzip: bool,
    ) -> ExportTraceServiceResponse {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.spans.lock().unwrap().extend(flatten(request));
        self.requests.lock().unwrap().push(ReceivedRequest {
            request: request.clone(),
            protocol,
            gzip,
        });
        ExportTraceServiceResponse {
            partial_success: self.partial.lock().unwrap().clone().map(
                |(rejected_spans, error_message)| ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                },
            ),
        }
    }

    async fn accept_logs(&self, request: &ExportLogsServiceRequest) {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.logs.lock().unwrap().extend(flatten_logs(request));
    }
}

struct GrpcSink(Shared);

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match self.0.refusal() {
            None => {}
            Some(503) => return Err(tonic::Status::unavailable("refused by the test")),
            // Throttled, with a `google.rpc.RetryInfo` saying when to come back.
            Some(429) => {
                return Err(
                    <tonic::Status as tonic_types::StatusExt>::with_error_details(
                        tonic::Code::ResourceExhausted,
                        "throttled by the test",
                        tonic_types::ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
                    ),
                )
            }
            // Throttled for good: no `RetryInfo`.
            Some(430) => return Err(tonic::Status::resource_exhausted("refused by the test")),
            Some(_) => return Err(tonic::Status::invalid_argument("refused by the test")),
        }
        let gzip = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|v| v.as_bytes() == b"gzip");
        let response = self.0.accept(request.get_ref(), "grpc", gzip).await;
        Ok(tonic::Response::new(response))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.accept_logs(request.get_ref()).await;
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// An OTLP receiver on loopback, speaking OTLP/gRPC and OTLP/HTTP (protobuf)
/// on two ports, built on opentelemetry-proto's generated server types. It
/// can be stopped and started again on the same ports, and slowed down.
pub struct OtlpReceiver {
    runtime: Option<tokio::runtime::Runtime>,
    grpc: SocketAddr,
    http: SocketAddr,
    shared: Shared,
}

impl OtlpReceiver {
    /// Starts on two free loopback ports.
    pub fn start() -> OtlpReceiver {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        OtlpReceiver::start_on(loopback, loopback)
    }

    /// Starts on the given addresses (port 0 picks a free one).
    pub fn start_on(grpc: SocketAddr, http: SocketAddr) -> OtlpReceiver {
        let mut receiver = OtlpReceiver {
            runtime: None,
            grpc,
            http,
            shared: Shared::default(),
        };
        receiver.restart();
        receiver
    }

    /// Stops listening; spans sent meanwhile fail to connect.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Waits for the listeners to be dropped, so the ports are free.
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }

    /// Listens again on the same ports, keeping what was received.
    pub fn restart(&mut self) {
        self.stop();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("receiver runtime");
        let (grpc_listener, http_listener) = runtime.block_on(async {
            (
                bind_retrying(self.grpc).await,
                bind_retrying(self.http).await,
            )
        });
        self.grpc = grpc_listener.local_addr().unwrap();
        self.http = http_listener.local_addr().unwrap();
        let sink = GrpcSink(self.shared.clone());
        let logs_sink = GrpcSink(self.shared.clone());
        runtime.spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
            let _ = tonic::transport::Server::builder()
                .add_service(
                    TraceServiceServer::new(sink)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .add_service(LogsServiceServer::new(logs_sink))
                .serve_with_incoming(incoming)
                .await;
        });
        runtime.spawn(serve_http(http_listener, self.shared.clone()));
        self.runtime = Some(runtime);
    }

    /// Delays every answer by `delay` (a slow collector).
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// `http://127.0.0.1:PORT` of the gRPC listener.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// `http://127.0.0.1:PORT` of the HTTP listener (spans go to
    /// `/v1/traces`, log records to `/v1/logs`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The endpoint for `protocol`: [`OtlpReceiver::grpc_endpoint`] or
    /// [`OtlpReceiver::http_endpoint`].
    pub fn endpoint(&self, protocol: observe_runtime::ExportProtocol) -> String {
        match protocol {
            observe_runtime::ExportProtocol::Grpc => self.grpc_endpoint(),
            observe_runtime::ExportProtocol::HttpProtobuf => self.http_endpoint(),
        }
    }

    /// Every trace request received so far, as it arrived.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Answers every trace request from now on with a partial success that
    /// rejects `rejected` spans with `message` (`None`: full success).
    pub fn set_partial_success(&self, partial: Option<(i64, &str)>) {
        *self.shared.partial.lock().unwrap() = partial.map(|(n, m)| (n, m.to_owned()));
    }

    /// Refuses the next `count` trace requests with `status`: 503 (gRPC
    /// `UNAVAILABLE`), which OTLP retries; 429, throttled (gRPC
    /// `RESOURCE_EXHAUSTED` with a `RetryInfo` of [`RETRY_DELAY`], HTTP with
    /// `Retry-After` as a date two seconds on), which OTLP retries after that
    /// delay; 430 (gRPC `RESOURCE_EXHAUSTED` without `RetryInfo`), which it
    /// does not; or another (gRPC `INVALID_ARGUMENT`), which it does not.
    pub fn refuse_next(&self, count: u32, status: u16) {
        *self.shared.refuse.lock().unwrap() = (count, status);
    }

    /// Trace requests that arrived so far, refused ones included.
    pub fn attempts(&self) -> u32 {
        self.shared
            .attempts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.spans.lock().unwrap().clone()
    }

    /// Every log record received so far.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.shared.logs.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the received log records, or `timeout`.
    pub fn wait_for_logs(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedLog]) -> bool,
    ) -> Vec<ReceivedLog> {
        let deadline = Instant::now() + timeout;
        loop {
            let logs = self.logs();
            if pred(&logs) || Instant::now() >= deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `pred` holds for the received spans, or `timeout`.
    pub fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if pred(&spans) || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn bind_retrying(addr: SocketAddr) -> tokio::net::TcpListener {
    let mut last = None;
    for _ in 0..50 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr}: {last:?}");
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn gunzip(body: &[u8]) -> Option<Bytes> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .ok()?;
    Some(Bytes::from(out))
}

async fn serve_http(listener: tokio::net::TcpListener, shared: Shared) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let store = shared.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let gzip = req
                            .headers()
                            .get("content-encoding")
                            .is_some_and(|v| v.as_bytes() == b"gzip");
                        let body = req.into_body().collect().await.map(|b| b.to_bytes());
                        let body = match body {
                            Ok(body) if gzip => gunzip(&body).ok_or(()),
                            Ok(body) => Ok(body),
                            Err(_) => Err(()),
                        };
                        let mut refused = 0;
                        let (status, reply) = match (path.as_str(), body) {
                            ("/v1/traces", Ok(_))
                                if store.refusal().is_some_and(|s| {
                                    refused = s;
                                    true
                                }) =>
                            {
                                (refused, Vec::new())
                            }
                            ("/v1/traces", Ok(body)) => {
                                match ExportTraceServiceRequest::decode(body) {
                                    Ok(request) => {
                                        let response = store.accept(&request, "http", gzip).await;
                                        (200, response.encode_to_vec())
                                    }
                                    Err(_) => (400, Vec::new()),
                                }
                            }
                            ("/v1/logs", Ok(body)) => {
                                match ExportLogsServiceRequest::decode(body) {
                                    Ok(request) => {
                                        store.accept_logs(&request).await;
                                        (200, ExportLogsServiceResponse::default().encode_to_vec())
                                    }
                                    Err(_) => (400, Vec::new()),
                                }
                            }
                            _ => (404, Vec::new()),
                        };
                        let mut response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-protobuf");
                        if status == 429 {
                            // `Retry-After` as an HTTP date, two seconds on
                            // (a date has whole seconds: over one remains).
                            let after = std::time::SystemTime::now() + Duration::from_secs(2);
                            response =
                                response.header("retry-after", httpdate::fmt_http_date(after));
                        }
                        Ok::<_, std::convert::Infallible>(
                            response.body(Full::new(Bytes::from(reply))).unwrap(),
                        )
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// An exporter that keeps only what the assertions need, keyed by span id,
/// so a few hundred thousand spans fit in little memory.
#[derive(Clone, Debug, Default)]
pub struct CompactExporter {
    spans: Arc<Mutex<HashMap<u64, CompactSpan>>>,
}

/// One span as [`CompactExporter`] keeps it.
#[derive(Clone, Debug)]
pub struct CompactSpan {
    pub name: String,
    pub trace_id: u128,
    pub parent: u64,
    /// The span ended because its future was dropped.
    pub cancelled: bool,
    pub status_error: bool,
}

impl CompactExporter {
    /// Every span exported so far, after flushing what has ended.
    pub fn flushed(&self) -> HashMap<u64, CompactSpan> {
        assert!(observe_runtime::force_flush(Duration::from_secs(30)));
        self.spans.lock().unwrap().clone()
    }
}

impl opentelemetry_sdk::trace::SpanExporter for CompactExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        let mut spans = self.spans.lock().unwrap();
        for s in batch {
            let cancelled = s
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == "observe.outcome" && kv.value.as_str() == "cancelled");
            spans.insert(
                u64::from_be_bytes(s.span_context.span_id().to_bytes()),
                CompactSpan {
                    name: s.name.to_string(),
                    trace_id: u128::from_be_bytes(s.span_context.trace_id().to_bytes()),
                    parent: u64::from_be_bytes(s.parent_span_id.to_bytes()),
                    cancelled,
                    status_error: matches!(s.status, opentelemetry::trace::Status::Error { .. }),
                },
            );
        }
        Ok(())
    }
}

impl CompactExporter {
    /// One exporter per test binary, with observe initialised to export into
    /// it for the rest of the process.
    pub fn installed(service: &str) -> &'static CompactExporter {
        static INSTALLED: std::sync::OnceLock<CompactExporter> = std::sync::OnceLock::new();
        INSTALLED.get_or_init(|| {
            let exporter = CompactExporter::default();
            let guard = observe_runtime::init(
                observe_runtime::Config::default()
                    .service_name(service)
                    .logs(observe_runtime::LogOutput::Off)
                    .exporter(exporter.clone()),
            )
            .expect("init");
            // The guard lives as long as the test binary.
            std::mem::forget(guard);
            exporter
        })
    }
}

/// Fails the test unless `promtool check metrics` accepts `text`.
pub fn check_with_promtool(text: &str) {
    use std::process::{Command, Stdio};
    let promtool = require_tool(
        "promtool",
        "install Debian's `prometheus` package (`.ci/test` does)",
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Flushes every ended span and returns what `exporter` holds. Blocking: from
/// async code call it through `tokio::task::spawn_blocking`.
pub fn flushed(
    exporter: &opentelemetry_sdk::trace::InMemorySpanExporter,
) -> Vec<opentelemetry_sdk::trace::SpanData> {
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    exporter.get_finished_spans().expect("finished spans")
}

/// The exported span's attribute `key`, as text (`None` when absent).
pub fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// A `Write` that keeps everything written, for capturing log lines.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// The captured text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("log output is UTF-8")
    }

    /// The captured text as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("log output is UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A plain HTTP/1.1 GET; returns the status, headers (lowercase names) and body.
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, headers, body)
}

/// A chunked body's data (RFC 9112, section 7.1), without extensions or
/// trailers.
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = size.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).expect("chunk size");
        if size == 0 {
            break;
        }
        data.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").expect("chunk end");
    }
    data
}

/// The one span `exporter` has finished that `wanted` picks, flushing and
/// waiting up to 10 s for it; fails when there is none, or more than one.
pub fn one_span(
    exporter: &opentelemetry_sdk::trace::InMemorySpanExporter,
    what: &str,
    wanted: impl Fn(&opentelemetry_sdk::trace::SpanData) -> bool,
) -> opentelemetry_sdk::trace::SpanData {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        let spans = exporter.get_finished_spans().unwrap();
        let mut matching: Vec<_> = spans.into_iter().filter(|s| wanted(s)).collect();
        if matching.len() == 1 || Instant::now() > deadline {
            assert_eq!(matching.len(), 1, "one span for {what}: {matching:#?}");
            return matching.remove(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free loopback port.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The path of a command-line tool the test needs. A missing tool fails the
/// test with a message saying how to install it: never a silent skip.
pub fn require_tool(name: &str, install_hint: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{name}` is required by this test and was not found on PATH: {install_hint}");
}

/// Starts observe for a test: service `service_name`, no log output, spans
/// to the returned in-memory exporter. Keep the guard for as long as spans
/// should be exported.
pub fn init_in_memory(
    service_name: &str,
) -> (
    opentelemetry_sdk::trace::InMemorySpanExporter,
    observe_runtime::Guard,
) {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let guard = observe_runtime::init(
        observe_runtime::Config::default()
            .service_name(service_name)
            .logs(observe_runtime::LogOutput::Off)
            .exporter(exporter.clone()),
    )
    .expect("init");
    (exporter, guard)
}

/// Starts observe once for a whole test process: service `service_name`,
/// spans to the returned in-memory exporter, JSON log lines into the
/// returned capture, then `configure`. The guard is kept until the process
/// ends: tests that share it read their own spans after
/// `observe_runtime::force_flush`.
pub fn init_for_process(
    service_name: &str,
    configure: impl FnOnce(observe_runtime::Config) -> observe_runtime::Config,
) -> (opentelemetry_sdk::trace::InMemorySpanExporter, Capture) {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let capture = Capture::default();
    let guard = observe_runtime::init(configure(
        observe_runtime::Config::default()
            .service_name(service_name)
            .logs(observe_runtime::LogOutput::Writer(Arc::new(Mutex::new(
                capture.clone(),
            ))))
            .exporter(exporter.clone()),
    ))
    .expect("init");
    std::mem::forget(guard);
    (exporter, capture)
}

/// The HTTP server attributes a `GET /orders/42` over HTTP/1.1 to `addr`,
/// routed as `/orders/{id}`, gives its span (the layer's and
/// `#[observe(server, ..)]`'s alike), as exported.
pub fn order_request_attributes(addr: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("http.request.method", "GET".into()),
        ("http.route", "/orders/{id}".into()),
        ("url.scheme", "http".into()),
        ("url.path", "/orders/42".into()),
        ("server.address", "127.0.0.1".into()),
        ("server.port", addr.port().to_string()),
        ("network.protocol.version", "1.1".into()),
    ]
}

/// Serves `app` on a loopback port of its own from the current tokio
/// runtime, for as long as that runtime runs; its address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A two-worker tokio runtime for the whole test process: servers spawned
/// on it (`runtime.block_on(async { tokio::spawn(..) })`) outlive any one
/// test.
pub fn process_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a test runtime")
    })
}
