//! From ended span records to the exporter: the drain thread and the export
//! task (`pipeline`), the conversion to OpenTelemetry `SpanData`
//! (`convert`), and the exporters themselves (`exporter`, `console`).
//!
//! Everything here runs off the call path, on observe's own threads.

mod console;
mod convert;
mod exporter;
mod pipeline;

pub(crate) use exporter::{build_exporter, BoxedExporter};
pub use exporter::{ExportProtocol, SpanOutput};
pub(crate) use pipeline::{ExportSettings, Pipeline};
