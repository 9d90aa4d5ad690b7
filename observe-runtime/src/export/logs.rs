//! Log records to OTLP: a `LogProcessor` whose `emit` only tries to put the
//! record in a bounded queue, and an export task on observe's runtime that
//! batches the queue and hands the batches to opentelemetry-otlp's log
//! exporter.
//!
//! The caller never waits: a full queue, by records or by bytes, drops the
//! record and counts it in `observe_logs_dropped_total{reason="queue_full"}`. Every record taken
//! into the queue is accounted for, as exported
//! (`observe_logs_exported_total`) or dropped by reason (`export_failed`,
//! `shutdown_timeout`).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::InstrumentationScope;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::Resource;
use tokio::sync::{mpsc, oneshot};

use super::exporter::ExportProtocol;
use crate::core::error::InitError;
use crate::core::health::health;

/// Where log records go: JSON lines, OTLP, or nowhere
/// (`OTEL_LOGS_EXPORTER`: `console`, `otlp`, `none`).
///
/// One destination per record, so a log agent tailing stdout and a
/// collector never receive the same record twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogExport {
    /// JSON lines on the [`LogOutput`](crate::LogOutput) (the default).
    #[default]
    Json,
    /// OTLP log records to a collector; no JSON lines are written.
    Otlp {
        /// Base endpoint, e.g. `http://127.0.0.1:4317` (gRPC) or
        /// `http://127.0.0.1:4318` (HTTP; `/v1/logs` is appended).
        endpoint: String,
        /// Transport.
        protocol: ExportProtocol,
    },
    /// Events are neither written nor exported (`tracing` spans still
    /// carry the trace).
    None,
}

/// The settings of the log export task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogSettings {
    /// Records waiting for export before new ones are dropped.
    pub(crate) max_queue: usize,
    /// What they may hold, by [`record_bytes`], queued and in the batch out
    /// for export.
    pub(crate) max_queue_bytes: usize,
    pub(crate) max_batch: usize,
    /// How long a partial batch waits for more records.
    pub(crate) schedule_delay: Duration,
    /// One export call's limit.
    pub(crate) timeout: Duration,
}

/// The scope records are exported under; a record's `target` (the
/// `tracing` target) replaces its name, as OpenTelemetry's tracing
/// appender does.
fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("observe")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

fn count_dropped(reason: &str, records: u64) {
    if records > 0 {
        health()
            .logs_dropped
            .with_label_values(&[reason])
            .inc_by(records);
    }
}

enum Command {
    Flush(oneshot::Sender<()>),
    Shutdown(Instant, oneshot::Sender<()>),
}

/// Records taken from the queue whose export has not returned, and whether
/// shutdown has made its final count: whoever comes last under the lock
/// counts them (as in the span pipeline).
#[derive(Default)]
struct InFlight {
    records: u64,
    finished: bool,
}

/// The queue's sending end, as the logger provider's processor.
pub(crate) struct QueueProcessor {
    records: mpsc::Sender<SdkLogRecord>,
    commands: mpsc::UnboundedSender<Command>,
    in_flight: Arc<Mutex<InFlight>>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<SdkLogRecord>>>>,
    /// What the queued records and the batch out for export hold.
    held: Arc<AtomicUsize>,
    max_queue_bytes: usize,
}

/// What a record holds, roughly: its own size, its body and its
/// attributes' keys and values. The queue's byte cap counts this.
pub(crate) fn record_bytes(record: &SdkLogRecord) -> usize {
    std::mem::size_of::<SdkLogRecord>()
        + record.body().map_or(0, any_value_bytes)
        + record
            .attributes_iter()
            .map(|(key, value)| key.as_str().len() + any_value_bytes(value))
            .sum::<usize>()
}

fn any_value_bytes(value: &opentelemetry::logs::AnyValue) -> usize {
    use opentelemetry::logs::AnyValue;
    match value {
        AnyValue::String(s) => s.as_str().len(),
        AnyValue::Bytes(b) => b.len(),
        AnyValue::ListAny(list) => list.iter().map(any_value_bytes).sum(),
        AnyValue::Map(map) => map
            .iter()
            .map(|(key, value)| key.as_str().len() + any_value_bytes(value))
            .sum(),
        _ => std::mem::size_of::<AnyValue>(),
    }
}

impl fmt::Debug for QueueProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueProcessor")
    }
}

/// Builds opentelemetry-otlp's log exporter for `endpoint`; call inside
/// observe's runtime (tonic needs its reactor).
pub(crate) fn build_log_exporter(
    endpoint: &str,
    protocol: ExportProtocol,
    timeout: Duration,
) -> Result<opentelemetry_otlp::LogExporter, InitError> {
    let built = match protocol {
        ExportProtocol::Grpc => opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.to_owned())
            .with_timeout(timeout)
            .build(),
        ExportProtocol::HttpProtobuf => opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/logs", endpoint.trim_end_matches('/')))
            .with_headers(Default::default())
            .with_timeout(timeout)
            .build(),
    };
    built.map_err(|e| InitError::Exporter(format!("OTLP logs: {e}")))
}

impl QueueProcessor {
    /// Starts the export task on `runtime`, sending to `exporter`.
    pub(crate) fn start<E>(
        runtime: &tokio::runtime::Runtime,
        mut exporter: E,
        resource: &Resource,
        settings: LogSettings,
    ) -> QueueProcessor
    where
        E: LogExporter + 'static,
    {
        exporter.set_resource(resource);
        let (records, receiver) = mpsc::channel(settings.max_queue.max(1));
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let in_flight = Arc::new(Mutex::new(InFlight::default()));
        // The task takes the receiver from here; shutdown's final count
        // finds it here when the task never got to it.
        let receiver = Arc::new(Mutex::new(Some(receiver)));
        let held = Arc::new(AtomicUsize::new(0));
        runtime.spawn(export_loop(
            exporter,
            Arc::clone(&receiver),
            command_receiver,
            Arc::clone(&in_flight),
            Arc::clone(&held),
            settings,
        ));
        QueueProcessor {
            records,
            commands,
            in_flight,
            receiver,
            held,
            max_queue_bytes: settings.max_queue_bytes,
        }
    }

    fn ask(&self, command: impl FnOnce(oneshot::Sender<()>) -> Command, until: Instant) -> bool {
        let (reply, done) = oneshot::channel();
        if self.commands.send(command(reply)).is_err() {
            return false;
        }
        wait_for(done, until)
    }
}

fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    in_flight.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogProcessor for QueueProcessor {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        let bytes = record_bytes(record);
        if self.held.fetch_add(bytes, Ordering::Relaxed) + bytes > self.max_queue_bytes {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
            count_dropped("queue_full", 1);
            return;
        }
        let refused = match self.records.try_send(record.clone()) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => "queue_full",
            // Closed: shut down, its count made; a late record is lost the
            // same way as one the deadline left.
            Err(mpsc::error::TrySendError::Closed(_)) => "shutdown_timeout",
        };
        self.held.fetch_sub(bytes, Ordering::Relaxed);
        count_dropped(refused, 1);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(Duration::from_secs(5))
            .then_some(())
            .ok_or(OTelSdkError::Timeout(Duration::from_secs(5)))
    }

    /// Exports what is queued within `timeout`; counts what is left as
    /// `shutdown_timeout`.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let done = self.ask(|reply| Command::Shutdown(deadline, reply), deadline);
        // The final count: what the task had out, and what it never took.
        let mut flight = lock(&self.in_flight);
        if flight.finished {
            return Ok(());
        }
        flight.finished = true;
        let mut left = std::mem::take(&mut flight.records);
        if let Some(receiver) = self
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            receiver.close();
            while receiver.try_recv().is_ok() {
                left += 1;
            }
        }
        self.held.store(0, Ordering::Relaxed);
        count_dropped("shutdown_timeout", left);
        if done && left == 0 {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }
}

impl QueueProcessor {
    /// Exports every record queued so far and waits for it, at most
    /// `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.ask(Command::Flush, Instant::now() + timeout)
    }
}

async fn export_loop<E: LogExporter>(
    exporter: E,
    receiver: Arc<Mutex<Option<mpsc::Receiver<SdkLogRecord>>>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    in_flight: Arc<Mutex<InFlight>>,
    held: Arc<AtomicUsize>,
    settings: LogSettings,
) {
    let Some(mut records) = receiver.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let scope = scope();
    let mut batch: Vec<SdkLogRecord> = Vec::with_capacity(settings.max_batch);
    loop {
        // A batch: the first record, then more until it is full or the
        // schedule delay has passed; or a command, which ends the wait.
        let mut command = None;
        tokio::select! {
            received = commands.recv() => command = Some(received),
            n = records.recv_many(&mut batch, settings.max_batch) => {
                if n == 0 {
                    return;
                }
                let until = tokio::time::Instant::now() + settings.schedule_delay;
                while batch.len() < settings.max_batch {
                    let room = settings.max_batch - batch.len();
                    tokio::select! {
                        received = commands.recv() => {
                            command = Some(received);
                            break;
                        }
                        more = tokio::time::timeout_at(until, records.recv_many(&mut batch, room)) => {
                            if !matches!(more, Ok(n) if n > 0) {
                                break;
                            }
                        }
                    }
                }
            }
        }
        let deadline = match &command {
            Some(Some(Command::Shutdown(deadline, _))) => Some(*deadline),
            _ => None,
        };
        if command.is_some() {
            // Flush and shutdown cover every record queued before they
            // were asked.
            while let Ok(record) = records.try_recv() {
                batch.push(record);
            }
        }
        let mut start = 0;
        while start < batch.len() {
            let end = batch.len().min(start + settings.max_batch);
            if let Err(uncounted) = export(
                &exporter,
                &batch[start..end],
                &scope,
                &in_flight,
                &settings,
                deadline,
            )
            .await
            {
                // Shutdown's final count has been made without what is
                // still queued here: count it, and refuse what comes next.
                records.close();
                let mut left = uncounted + (batch.len() - end) as u64;
                while records.try_recv().is_ok() {
                    left += 1;
                }
                count_dropped("shutdown_timeout", left);
                return;
            }
            start = end;
        }
        // Exported or dropped and counted: the queue's bytes are free.
        let freed: usize = batch.iter().map(record_bytes).sum();
        held.fetch_sub(freed.min(held.load(Ordering::Relaxed)), Ordering::Relaxed);
        batch.clear();
        match command {
            None => {}
            Some(Some(Command::Flush(reply))) => {
                let _ = reply.send(());
            }
            Some(Some(Command::Shutdown(deadline, reply))) => {
                let _ = exporter
                    .shutdown_with_timeout(deadline.saturating_duration_since(Instant::now()));
                // Put the receiver back for the final count of anything
                // queued since.
                *receiver.lock().unwrap_or_else(|e| e.into_inner()) = Some(records);
                let _ = reply.send(());
                return;
            }
            // Every sender is gone: the processor was dropped.
            Some(None) => return,
        }
    }
}

/// Exports one batch. Once shutdown has made its final count, `Err` with
/// how many of these records it did not count.
async fn export<E: LogExporter>(
    exporter: &E,
    records: &[SdkLogRecord],
    scope: &InstrumentationScope,
    in_flight: &Mutex<InFlight>,
    settings: &LogSettings,
    deadline: Option<Instant>,
) -> Result<(), u64> {
    let n = records.len() as u64;
    {
        let mut flight = lock(in_flight);
        if flight.finished {
            return Err(n);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            count_dropped("shutdown_timeout", n);
            return Ok(());
        }
        flight.records = n;
    }
    let timeout = match deadline {
        Some(d) => d
            .saturating_duration_since(Instant::now())
            .min(settings.timeout),
        None => settings.timeout,
    };
    let pairs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
        records.iter().map(|r| (r, scope)).collect();
    let result = tokio::time::timeout(timeout, exporter.export(LogBatch::new(&pairs))).await;
    let mut flight = lock(in_flight);
    if flight.finished {
        // Counted in flight by the final count.
        return Err(0);
    }
    flight.records = 0;
    match result {
        Ok(Ok(())) => health().logs_exported.inc_by(n),
        Ok(Err(_)) | Err(_) => {
            health().export_errors.inc();
            count_dropped("export_failed", n);
        }
    }
    Ok(())
}

fn wait_for(mut done: oneshot::Receiver<()>, until: Instant) -> bool {
    loop {
        match done.try_recv() {
            Ok(()) => return true,
            Err(oneshot::error::TryRecvError::Closed) => return false,
            Err(oneshot::error::TryRecvError::Empty) => {
                if Instant::now() >= until {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
