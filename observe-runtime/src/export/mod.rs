//! From ended span records to the exporter: the drain thread and the export
//! task (`pipeline`), OTLP requests encoded straight from the records
//! (`encode`) and sent over gRPC or HTTP (`otlp`), the conversion to
//! OpenTelemetry `SpanData` for the console and users' own exporters
//! (`convert`), and the exporters themselves (`exporter`, `console`); and
//! log records to OTLP through a bounded queue (`logs`).
//!
//! Everything here runs off the call path, on observe's own threads.

mod console;
mod convert;
mod encode;
mod exporter;
mod logs;
mod otlp;
mod pipeline;

pub(crate) use exporter::{build_exporter, BoxedExporter};
pub use exporter::{ExportProtocol, SpanOutput};
pub use logs::LogExport;
pub(crate) use logs::{build_log_exporter, LogSettings, QueueProcessor};
pub(crate) use otlp::{OtlpSettings, RequestSink};
pub(crate) use pipeline::{ExportSettings, Pipeline};
