//! The embedded default: one readable line per ended span, on stderr or
//! appended to a file.
//!
//! The lines are written by a thread of their own through a bounded buffer:
//! a stderr nobody reads, or a slow disk, holds up only that thread. When
//! the buffer is full, lines are dropped and counted in
//! `observe_console_lines_dropped_total`; export never waits for them.

use std::fmt;
use std::io::Write;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::core::health::health;

/// Lines the writer may be behind before new ones are dropped: a few
/// seconds of a busy service, a few MB at most.
const BUFFER_LINES: usize = 8192;

/// The embedded default: one readable line per span, no infrastructure.
pub(crate) struct ConsoleExporter {
    /// `None` once shut down.
    lines: Mutex<Option<SyncSender<String>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl ConsoleExporter {
    pub(crate) fn new(out: Box<dyn Write + Send>) -> ConsoleExporter {
        let (lines, queued) = mpsc::sync_channel(BUFFER_LINES);
        let writer = std::thread::Builder::new()
            .name("observe-console".into())
            .spawn(move || write_lines(out, queued))
            .ok();
        ConsoleExporter {
            lines: Mutex::new(writer.is_some().then_some(lines)),
            writer: Mutex::new(writer),
        }
    }
}

/// The writer thread: whatever is queued, in one write, until the exporter
/// is shut down and the queue is empty. A failed write loses those lines
/// and is counted; the next ones are still tried.
fn write_lines(mut out: Box<dyn Write + Send>, queued: mpsc::Receiver<String>) {
    let mut text = String::new();
    while let Ok(first) = queued.recv() {
        text.clear();
        text.push_str(&first);
        let mut lines = 1_u64;
        for more in queued.try_iter().take(BUFFER_LINES) {
            text.push_str(&more);
            lines += 1;
        }
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            health().console_lines_dropped.inc_by(lines);
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
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let Some(lines) = lines.as_ref() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let mut dropped = 0;
        for span in &batch {
            let mut line = console_line(span);
            line.push('\n');
            match lines.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => dropped += 1,
            }
        }
        if dropped > 0 {
            health().console_lines_dropped.inc_by(dropped);
        }
        // The spans reached their destination's buffer, or were counted.
        Ok(())
    }

    /// Lets the writer finish what is queued, within `timeout`.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        drop(self.lines.lock().unwrap_or_else(|e| e.into_inner()).take());
        let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        while !writer.is_finished() {
            if Instant::now() >= deadline {
                // Still blocked on its output: it is left to finish alone.
                return Err(OTelSdkError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = writer.join();
        Ok(())
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
