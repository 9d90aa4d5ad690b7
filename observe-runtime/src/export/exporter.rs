//! The exporters ended spans can go to: OTLP (gRPC or HTTP), the readable
//! console or file output, or a `SpanExporter` of the user's own.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::console::ConsoleExporter;
use crate::core::error::InitError;

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
        BoxedExporter(Arc::new(Mutex::new(Some(Box::new(exporter)))))
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

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe face of `SpanExporter`.
pub(crate) trait DynExporter: Send + Sync {
    fn export(&self, batch: Vec<SpanData>) -> BoxFuture<'_, OTelSdkResult>;
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

impl<E: SpanExporter + 'static> DynExporter for E {
    fn export(&self, batch: Vec<SpanData>) -> BoxFuture<'_, OTelSdkResult> {
        Box::pin(SpanExporter::export(self, batch))
    }
    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        self.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(self, resource)
    }
}

pub(crate) fn build_exporter(
    output: &SpanOutput,
) -> Result<Option<Box<dyn DynExporter>>, InitError> {
    let exporter: Box<dyn DynExporter> = match output {
        SpanOutput::None => return Ok(None),
        SpanOutput::Stderr => Box::new(ConsoleExporter::new(Box::new(std::io::stderr()))),
        SpanOutput::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| InitError::Exporter(format!("{}: {e}", path.display())))?;
            Box::new(ConsoleExporter::new(Box::new(file)))
        }
        SpanOutput::Exporter(boxed) => boxed.take().ok_or_else(|| {
            InitError::Exporter("this exporter was already used by an earlier init".into())
        })?,
        SpanOutput::Otlp { endpoint, protocol } => {
            let built = match protocol {
                ExportProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint.clone())
                    .build(),
                ExportProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                    .with_headers(Default::default())
                    .build(),
            };
            Box::new(built.map_err(|e| InitError::Exporter(e.to_string()))?)
        }
    };
    Ok(Some(exporter))
}
