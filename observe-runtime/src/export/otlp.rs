//! OTLP export of span records encoded by `encode`: over gRPC with a tonic
//! client whose codec passes the encoded request through, or over HTTP with
//! reqwest posting it as `application/x-protobuf` to `/v1/traces`.
//!
//! What users of an OTLP exporter rely on is kept: retries with exponential
//! backoff and jitter on the codes OTLP calls retryable (gRPC `UNAVAILABLE`,
//! `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`,
//! and `RESOURCE_EXHAUSTED` when its `google.rpc.RetryInfo` says when, whose
//! delay is honoured; HTTP 429, 502, 503 and 504, with `Retry-After` in
//! seconds or as an HTTP date), gzip, headers, and
//! partial success: spans the collector rejects are counted as dropped
//! (`rejected`) and its message is logged once. The export call's timeout is
//! the pipeline's, around every attempt and wait.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use opentelemetry::{Key, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::Resource;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use super::encode::Encoder;
use super::exporter::{BoxFuture, DynExporter, ExportProtocol};
use crate::core::error::InitError;
use crate::hot::span::SpanRecord;

const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// How many times a failed export is tried again, and the waits between:
/// OTLP's recommended policy, as opentelemetry-otlp's.
const MAX_RETRIES: u32 = 3;
const INITIAL_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER_NANOS: u32 = 100_000_000;
/// The longest `Retry-After` honoured; the pipeline's timeout cuts in first
/// anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// What the OTLP transports are told besides the endpoint.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtlpSettings {
    /// gzip request bodies (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    pub(crate) gzip: bool,
    /// Sent with every request (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub(crate) headers: Vec<(String, String)>,
    /// Takes the encoded requests instead of a transport (benchmarks).
    pub(crate) sink: Option<RequestSink>,
}

/// A function handed each encoded request and its span count, in place of
/// a transport: what the benchmarks measure export with, up to the bytes.
#[derive(Clone)]
pub(crate) struct RequestSink(pub(crate) Arc<SinkFn>);

type SinkFn = dyn Fn(&[u8], u64) + Send + Sync;

impl std::fmt::Debug for RequestSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestSink")
    }
}

/// Spans to an OTLP collector, encoded from their records.
pub(crate) struct OtlpExporter {
    /// Locked once per batch, by the export task alone.
    encoder: Mutex<Encoder>,
    transport: Transport,
    rejection_logged: AtomicBool,
}

enum Transport {
    Sink(RequestSink),
    Grpc {
        client: tonic::client::Grpc<tonic::transport::Channel>,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
        gzip: bool,
    },
}

/// What one attempt came to.
enum Attempt {
    /// The collector took the request; its response body.
    Sent(Bytes),
    /// Worth trying again, after the collector's wait if it named one.
    Retry(Option<Duration>, String),
    Failed(String),
}

impl OtlpExporter {
    /// An exporter to `endpoint` (a base URL; `/v1/traces` is appended for
    /// HTTP). Called inside observe's runtime, which the gRPC channel's
    /// worker runs on; it connects on the first export.
    pub(crate) fn new(
        endpoint: &str,
        protocol: ExportProtocol,
        settings: &OtlpSettings,
    ) -> Result<OtlpExporter, InitError> {
        let transport = match protocol {
            _ if settings.sink.is_some() => {
                Transport::Sink(settings.sink.clone().expect("checked"))
            }
            ExportProtocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
                    .map_err(|e| InitError::Exporter(format!("{endpoint}: {e}")))?
                    .connect_lazy();
                let mut client = tonic::client::Grpc::new(channel);
                if settings.gzip {
                    client = client
                        .send_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Gzip);
                }
                let mut metadata = MetadataMap::new();
                for (key, value) in &settings.headers {
                    let name = MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
                        .map_err(|_| bad_header(key))?;
                    let value =
                        MetadataValue::try_from(value.as_str()).map_err(|_| bad_header(key))?;
                    metadata.insert(name, value);
                }
                Transport::Grpc { client, metadata }
            }
            ExportProtocol::HttpProtobuf => {
                let mut headers = reqwest::header::HeaderMap::new();
                for (key, value) in &settings.headers {
                    let name = reqwest::header::HeaderName::from_bytes(key.as_bytes())
                        .map_err(|_| bad_header(key))?;
                    let value = reqwest::header::HeaderValue::from_str(value)
                        .map_err(|_| bad_header(key))?;
                    headers.insert(name, value);
                }
                headers.insert(
                    reqwest::header::CONTENT_TYPE,
                    reqwest::header::HeaderValue::from_static("application/x-protobuf"),
                );
                if settings.gzip {
                    headers.insert(
                        reqwest::header::CONTENT_ENCODING,
                        reqwest::header::HeaderValue::from_static("gzip"),
                    );
                }
                let client = reqwest::Client::builder()
                    .build()
                    .map_err(|e| InitError::Exporter(e.to_string()))?;
                Transport::Http {
                    client,
                    url: format!("{}/v1/traces", endpoint.trim_end_matches('/')),
                    headers,
                    gzip: settings.gzip,
                }
            }
        };
        Ok(OtlpExporter {
            encoder: Mutex::new(Encoder::new(std::iter::empty::<(&Key, &Value)>())),
            transport,
            rejection_logged: AtomicBool::new(false),
        })
    }

    /// The request for `records`, which it empties.
    pub(crate) fn encode(&self, records: &mut Vec<SpanRecord>) -> Bytes {
        self.encoder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .encode(records)
    }

    /// Sends one request, trying again on what OTLP calls retryable; how
    /// many spans the collector rejected.
    async fn send(&self, request: Bytes) -> Result<u64, OTelSdkError> {
        let body = match &self.transport {
            Transport::Http { gzip: true, .. } => gzip(&request)?,
            _ => request,
        };
        let mut delay = INITIAL_DELAY;
        let mut retries = 0;
        loop {
            let attempt = match &self.transport {
                Transport::Grpc { client, metadata } => {
                    send_grpc(client.clone(), metadata, body.clone()).await
                }
                Transport::Http {
                    client,
                    url,
                    headers,
                    ..
                } => send_http(client, url, headers, body.clone()).await,
                Transport::Sink(_) => Attempt::Sent(Bytes::new()),
            };
            match attempt {
                Attempt::Sent(response) => return Ok(self.rejected(response)),
                Attempt::Retry(after, _) if retries < MAX_RETRIES => {
                    let wait = after.unwrap_or_else(|| delay + jitter());
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(MAX_DELAY);
                    retries += 1;
                }
                Attempt::Retry(_, error) | Attempt::Failed(error) => {
                    return Err(OTelSdkError::InternalFailure(error))
                }
            }
        }
    }

    /// The rejected spans of a partial success, whose message is logged the
    /// first time.
    fn rejected(&self, response: Bytes) -> u64 {
        let Ok(response) = ExportTraceServiceResponse::decode(response) else {
            return 0;
        };
        let Some(partial) = response.partial_success else {
            return 0;
        };
        let rejected = u64::try_from(partial.rejected_spans).unwrap_or(0);
        if (rejected > 0 || !partial.error_message.is_empty())
            && !self.rejection_logged.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                rejected,
                "the OTLP collector rejected spans (counted in observe_spans_dropped_total{{reason=\"rejected\"}}; logged once): {}",
                partial.error_message
            );
        }
        rejected
    }
}

impl DynExporter for OtlpExporter {
    fn export(&self, mut records: Vec<SpanRecord>) -> BoxFuture<'_, Result<u64, OTelSdkError>> {
        let spans = records.len() as u64;
        let request = self.encode(&mut records);
        if let Transport::Sink(sink) = &self.transport {
            (sink.0)(&request, spans);
            return Box::pin(std::future::ready(Ok(0)));
        }
        Box::pin(self.send(request))
    }

    fn shutdown(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.encoder
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .set_resource(resource.iter());
    }
}

fn bad_header(key: &str) -> InitError {
    InitError::Exporter(format!(
        "OTLP header `{key}` is not a valid HTTP header name and value"
    ))
}

fn gzip(body: &[u8]) -> Result<Bytes, OTelSdkError> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map(Bytes::from)
        .map_err(|e| OTelSdkError::InternalFailure(format!("gzip: {e}")))
}

/// Up to 100 ms, from the clock's low bits: enough to spread the retries of
/// processes that failed together.
fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Duration::from_nanos(u64::from(nanos % MAX_JITTER_NANOS))
}

async fn send_grpc(
    mut client: tonic::client::Grpc<tonic::transport::Channel>,
    metadata: &MetadataMap,
    body: Bytes,
) -> Attempt {
    if let Err(e) = client.ready().await {
        return Attempt::Retry(None, format!("gRPC channel: {e}"));
    }
    let mut request = tonic::Request::new(body);
    *request.metadata_mut() = metadata.clone();
    match client
        .unary(request, PathAndQuery::from_static(GRPC_PATH), RawCodec)
        .await
    {
        Ok(response) => Attempt::Sent(response.into_inner()),
        Err(status) => {
            let error = format!("gRPC {:?}: {}", status.code(), status.message());
            match status.code() {
                tonic::Code::Unavailable
                | tonic::Code::Cancelled
                | tonic::Code::DeadlineExceeded
                | tonic::Code::Aborted
                | tonic::Code::OutOfRange
                | tonic::Code::DataLoss => Attempt::Retry(retry_delay(&status), error),
                // Retryable only when the collector says when it will have
                // recovered (OTLP/gRPC's throttling).
                tonic::Code::ResourceExhausted => match retry_delay(&status) {
                    Some(delay) => Attempt::Retry(Some(delay), error),
                    None => Attempt::Failed(error),
                },
                _ => Attempt::Failed(error),
            }
        }
    }
}

async fn send_http(
    client: &reqwest::Client,
    url: &str,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
) -> Attempt {
    let response = match client
        .post(url)
        .headers(headers.clone())
        .body(body)
        .send()
        .await
    {
        Ok(response) => response,
        // No answer at all (refused, reset): worth another try.
        Err(e) => return Attempt::Retry(None, format!("HTTP: {e}")),
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        return match response.bytes().await {
            Ok(body) => Attempt::Sent(body),
            Err(_) => Attempt::Sent(Bytes::new()),
        };
    }
    let error = format!("HTTP {status}");
    match status {
        429 | 503 => {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, std::time::SystemTime::now()));
            Attempt::Retry(after, error)
        }
        502 | 504 => Attempt::Retry(None, error),
        _ => Attempt::Failed(error),
    }
}

/// `Retry-After`: seconds, or an HTTP date (RFC 9110, section 10.2.3);
/// a date in the past means now. At most [`MAX_RETRY_AFTER`].
fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    let after = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or_default(),
    };
    Some(after.min(MAX_RETRY_AFTER))
}

/// The delay a gRPC status's `google.rpc.RetryInfo` detail asks for, at
/// most [`MAX_RETRY_AFTER`].
fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    use tonic_types::StatusExt as _;
    let delay = status.get_details_retry_info()?.retry_delay?;
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The request is encoded already; the codec passes its bytes through, and
/// hands back the response's.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put(dst, item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:39 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: now"
        );
        assert_eq!(retry_after("9999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", SystemTime::now()), None);
    }

    fn status_with_delay(code: tonic::Code, delay: Option<Duration>) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt as _};
        match delay {
            Some(delay) => tonic::Status::with_error_details(
                code,
                "slow down",
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            None => tonic::Status::new(code, "slow down"),
        }
    }

    #[test]
    fn a_retry_info_detail_gives_the_delay() {
        let status = status_with_delay(
            tonic::Code::ResourceExhausted,
            Some(Duration::from_millis(1_500)),
        );
        assert_eq!(retry_delay(&status), Some(Duration::from_millis(1_500)));
        let status = status_with_delay(tonic::Code::ResourceExhausted, None);
        assert_eq!(retry_delay(&status), None);
        assert_eq!(retry_delay(&tonic::Status::unavailable("no details")), None);
        let status =
            status_with_delay(tonic::Code::Unavailable, Some(Duration::from_secs(100_000)));
        assert_eq!(retry_delay(&status), Some(MAX_RETRY_AFTER));
    }
}
