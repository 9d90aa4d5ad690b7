//! A service for the W3C Trace Context test harness, instrumented with observe.
//!
//! The harness (`test/test.py` in the w3c/trace-context repository) POSTs a
//! JSON list to this service, each element naming a callback:
//! `[{"url": "http://127.0.0.1:7777/callback", "arguments": [...]}, ...]`.
//! For each element in order, the service POSTs `arguments` (as JSON) to
//! `url`, in the trace the harness's request carried, so the harness can read
//! what `traceparent` and `tracestate` went out. The request's trace is
//! continued with `propagation::carriers::http::extract`, every callback is
//! an observed client span, and its headers come from
//! `propagation::carriers::http::inject`. The answer is 200 once every
//! callback answered.
//!
//! ```text
//! cargo run -p observe-examples --features http --example w3c_service
//! # then, in the harness's test/ folder:
//! python test.py http://127.0.0.1:5000/test
//! ```
//!
//! Listens on `127.0.0.1:${PORT:-5000}`, path `/test`, until Ctrl-C. Spans
//! print to stderr; set `OTEL_EXPORTER_OTLP_ENDPOINT` to send them to a
//! collector. A request this service cannot serve gets a 4xx answer saying
//! why (wrong path or method, a body that is not the harness's JSON), and a
//! callback that fails gets a 502 naming it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use observe_runtime::propagation::carriers;
use observe_runtime::{observe, Config, ErrorType, FutureExt as _};
use serde_json::Value;

/// The bound on each callback's connect, and on its answer.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The harness's requests are a few hundred bytes.
const MAX_BODY_BYTES: usize = 1 << 20;

/// One element of the harness's list.
struct Callback {
    url: Uri,
    arguments: Value,
}

/// Reads the harness's body: a JSON list of `{"url": .., "arguments": ..}`.
fn parse_callbacks(body: &[u8]) -> Result<Vec<Callback>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Array(elements) = value else {
        return Err("the body is not a JSON list".into());
    };
    elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let Value::Object(mut fields) = element else {
                return Err(format!("element {i} is not an object"));
            };
            let url = match fields.get("url") {
                Some(Value::String(url)) => url
                    .parse::<Uri>()
                    .map_err(|e| format!("element {i}: `url` {url:?} is not a URL: {e}"))?,
                _ => return Err(format!("element {i} has no string `url`")),
            };
            if url.scheme_str() != Some("http") || url.host().is_none() {
                return Err(format!("element {i}: `url` {url} is not an http:// URL"));
            }
            let arguments = fields
                .remove("arguments")
                .unwrap_or(Value::Array(Vec::new()));
            Ok(Callback { url, arguments })
        })
        .collect()
}

/// Why a callback failed.
#[derive(Debug)]
enum CallbackError {
    Connect(std::io::Error),
    Http(hyper::Error),
    Request(hyper::http::Error),
    Timeout,
    Status(StatusCode),
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallbackError::Connect(e) => write!(f, "cannot connect: {e}"),
            CallbackError::Http(e) => write!(f, "HTTP error: {e}"),
            CallbackError::Request(e) => write!(f, "cannot build the request: {e}"),
            CallbackError::Timeout => write!(f, "no answer within {CALLBACK_TIMEOUT:?}"),
            CallbackError::Status(status) => write!(f, "answered {status}"),
        }
    }
}

impl std::error::Error for CallbackError {}

impl ErrorType for CallbackError {
    fn error_type(&self) -> &'static str {
        match self {
            CallbackError::Connect(_) => "connect",
            CallbackError::Http(_) => "http",
            CallbackError::Request(_) => "request",
            CallbackError::Timeout => "timeout",
            CallbackError::Status(_) => "status",
        }
    }
}

async fn bounded<T, E>(
    future: impl std::future::Future<Output = Result<T, E>>,
    error: impl FnOnce(E) -> CallbackError,
) -> Result<T, CallbackError> {
    match tokio::time::timeout(CALLBACK_TIMEOUT, future).await {
        Ok(result) => result.map_err(error),
        Err(_) => Err(CallbackError::Timeout),
    }
}

/// POSTs `arguments` to `url` with the current span's W3C headers.
#[observe(kind = client, span = "W3c.Callback", fields(url.full = %url))]
async fn callback(url: &Uri, arguments: &Value) -> Result<(), CallbackError> {
    let host = url.host().unwrap_or_default();
    let port = url.port_u16().unwrap_or(80);
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let authority = url.authority().map_or(host, |a| a.as_str());
    let mut request = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(arguments.to_string())))
        .map_err(CallbackError::Request)?;
    carriers::http::inject(request.headers_mut());

    let stream = bounded(
        tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)),
        CallbackError::Connect,
    )
    .await?;
    let (mut sender, connection) = bounded(
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        CallbackError::Http,
    )
    .await?;
    // Drives the connection; it ends when `sender` is dropped below.
    tokio::spawn(connection);
    let response = bounded(sender.send_request(request), CallbackError::Http).await?;
    if !response.status().is_success() {
        return Err(CallbackError::Status(response.status()));
    }
    Ok(())
}

/// Which callback of the list failed, and why.
#[derive(Debug)]
struct Failed {
    index: usize,
    url: Uri,
    error: CallbackError,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "callback {} to {}: {}", self.index, self.url, self.error)
    }
}

impl std::error::Error for Failed {}

impl ErrorType for Failed {
    fn error_type(&self) -> &'static str {
        self.error.error_type()
    }
}

/// Calls back each element of the harness's list, in order.
#[observe(kind = server, span = "W3c.Test")]
async fn run(callbacks: Vec<Callback>) -> Result<(), Failed> {
    for (index, Callback { url, arguments }) in callbacks.into_iter().enumerate() {
        if let Err(error) = callback(&url, &arguments).await {
            return Err(Failed { index, url, error });
        }
    }
    Ok(())
}

async fn serve(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/test" {
        return Ok(reply(StatusCode::NOT_FOUND, "the harness's path is /test"));
    }
    if request.method() != Method::POST {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST the harness's JSON list to /test",
        ));
    }
    let parent = carriers::http::extract(request.headers());
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            let message = format!("cannot read the body (at most {MAX_BODY_BYTES} bytes): {e}");
            return Ok(reply(StatusCode::BAD_REQUEST, &message));
        }
    };
    let callbacks = match parse_callbacks(&body) {
        Ok(callbacks) => callbacks,
        Err(message) => return Ok(reply(StatusCode::BAD_REQUEST, &message)),
    };
    Ok(match run(callbacks).with_context(parent).await {
        Ok(()) => reply(StatusCode::OK, "ok"),
        Err(failed) => reply(StatusCode::BAD_GATEWAY, &failed.to_string()),
    })
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|e| format!("PORT={port:?} is not a port number: {e}"))?,
        Err(_) => 5000,
    };
    let guard = observe_runtime::init(Config::from_env().service_name("w3c-service"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    eprintln!("listening on http://{addr}/test; Ctrl-C to stop");
    loop {
        let accepted = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(serve))
                .await
            {
                eprintln!("connection error: {e}");
            }
        });
    }
    drop(guard); // flushes every span
    Ok(())
}
