//! The exporters ended spans can go to: OTLP (gRPC or HTTP, encoded from
//! the records by `encode` and sent by `otlp`), the readable console or file
//! output, or a `SpanExporter` of the user's own (these two get `SpanData`).

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::console::ConsoleExporter;
use super::convert::to_span_data;
use super::otlp::{OtlpExporter, OtlpSettings};
use crate::core::error::InitError;
use crate::hot::span::SpanRecord;

/// Where ended spans go.
#[derive(Clone, Debug)]
pub enum SpanOutput {
    /// OTLP to a collector.
    Otlp {
        /// Base endpoint, e.g. `http://127.0.0.1:4317` (gRPC) or
        /// `http://127.0.0.1:4318` (HTTP; `/v1/traces` is appended).
        endpoint: String,
        /// Transport.
        protocol: ExportProtocol,
    },
    /// The embedded default: one readable line per span on stderr.
    Stderr,
    /// The embedded default, appended to a file.
    File(PathBuf),
    /// A `SpanExporter` of your own (tests use the SDK's in-memory exporter).
    Exporter(BoxedExporter),
    /// Spans are not exported (ids are still generated for log correlation).
    None,
}

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportProtocol {
    /// OTLP/gRPC (`grpc`), default port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), default port 4318.
    HttpProtobuf,
}

/// A `SpanExporter` behind a pointer, so any exporter can be configured.
#[derive(Clone)]
pub struct BoxedExporter(Arc<Mutex<Option<Box<dyn DynExporter>>>>);

impl BoxedExporter {
    pub(crate) fn new<E: SpanExporter + 'static>(exporter: E) -> BoxedExporter {
        BoxedExporter(Arc::new(Mutex::new(Some(Box::new(Sdk(exporter))))))
    }

    fn take(&self) -> Option<Box<dyn DynExporter>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl fmt::Debug for BoxedExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedExporter")
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the export task hands its batches of records.
pub(crate) trait DynExporter: Send + Sync {
    /// Exports `records`; how many of them the receiver rejected (an OTLP
    /// partial success), or why none was exported.
    fn export(&self, records: Vec<SpanRecord>) -> BoxFuture<'_, Result<u64, OTelSdkError>>;
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

/// A `SpanExporter` (the console's, or the user's): it gets `SpanData`,
/// converted from the records on this path only.
struct Sdk<E>(E);

impl<E: SpanExporter + 'static> DynExporter for Sdk<E> {
    fn export(&self, records: Vec<SpanRecord>) -> BoxFuture<'_, Result<u64, OTelSdkError>> {
        let batch: Vec<SpanData> = records.into_iter().map(to_span_data).collect();
        let export = SpanExporter::export(&self.0, batch);
        Box::pin(async move { export.await.map(|()| 0) })
    }
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(&mut self.0, resource)
    }
}

pub(crate) fn build_exporter(
    output: &SpanOutput,
    otlp: &OtlpSettings,
) -> Result<Option<Box<dyn DynExporter>>, InitError> {
    let exporter: Box<dyn DynExporter> = match output {
        SpanOutput::None => return Ok(None),
        SpanOutput::Stderr => Box::new(Sdk(ConsoleExporter::new(Box::new(std::io::stderr())))),
        SpanOutput::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| InitError::Exporter(format!("{}: {e}", path.display())))?;
            Box::new(Sdk(ConsoleExporter::new(Box::new(file))))
        }
        SpanOutput::Exporter(boxed) => boxed.take().ok_or_else(|| {
            InitError::Exporter("this exporter was already used by an earlier init".into())
        })?,
        SpanOutput::Otlp { endpoint, protocol } => {
            Box::new(OtlpExporter::new(endpoint, *protocol, otlp)?)
        }
    };
    Ok(Some(exporter))
}
