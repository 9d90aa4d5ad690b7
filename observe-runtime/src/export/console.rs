//! The embedded default: one readable line per ended span, on stderr or
//! appended to a file.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// The embedded default: one readable line per span, no infrastructure.
pub(crate) struct ConsoleExporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl ConsoleExporter {
    pub(crate) fn new(out: Box<dyn Write + Send>) -> ConsoleExporter {
        ConsoleExporter {
            out: Mutex::new(out),
        }
    }
}

impl fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleExporter")
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut text = String::new();
        for span in &batch {
            text.push_str(&console_line(span));
            text.push('\n');
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))
    }
}

/// `span Order.Submit 1.234ms ERROR trace_id=… span_id=… parent_id=… kind=internal key=value…`
pub(crate) fn console_line(span: &SpanData) -> String {
    use opentelemetry::trace::Status;
    use std::fmt::Write as _;
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let status = match &span.status {
        Status::Error { .. } => "ERROR",
        _ => "ok",
    };
    let mut line = format!(
        "span {} {:.3}ms {} trace_id={} span_id={}",
        span.name,
        duration.as_secs_f64() * 1e3,
        status,
        span.span_context.trace_id(),
        span.span_context.span_id(),
    );
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        let _ = write!(line, " parent_id={}", span.parent_span_id);
    }
    let _ = write!(line, " kind={:?}", span.span_kind);
    for kv in &span.attributes {
        if kv.key.as_str().starts_with("code.") {
            continue;
        }
        let _ = write!(line, " {}={}", kv.key, kv.value);
    }
    if let Status::Error { description } = &span.status {
        let _ = write!(line, " message={description:?}");
    }
    line
}
