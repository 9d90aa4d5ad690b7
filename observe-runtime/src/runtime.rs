//! `init`: the export task, the `/metrics` endpoint, the log subscriber, and
//! the guard that flushes them all on drop.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::config::{Config, ExportProtocol, InitError, SpanOutput};
use crate::span::SpanRecord;
use crate::{clock, export, logs, metrics, propagation, state};

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

enum Command {
    Flush(oneshot::Sender<()>),
    Shutdown(Duration, oneshot::Sender<()>),
}

struct Running {
    commands: mpsc::UnboundedSender<Command>,
    stop_drain: Arc<AtomicBool>,
    drainer: std::thread::JoinHandle<()>,
    runtime: tokio::runtime::Runtime,
    shutdown_timeout: Duration,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Keeps observe running; dropping it flushes every ended span (within the
/// configured shutdown timeout) and stops the background work.
#[must_use = "observe shuts down when the guard is dropped"]
pub struct Guard {
    active: bool,
    metrics_addr: Option<SocketAddr>,
}

impl Guard {
    /// The address `/metrics` is served on (useful with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("active", &self.active)
            .field("metrics_addr", &self.metrics_addr)
            .finish()
    }
}

/// `true` between a successful [`init`] and the drop of its [`Guard`].
pub fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

/// Sets up span export, metrics, JSON logs, sampling and propagation in one
/// call. Keep the returned guard alive for the life of the program.
///
/// ```no_run
/// let _guard = observe_runtime::init(
///     observe_runtime::Config::from_env().service_name("checkout"),
/// )?;
/// # Ok::<(), observe_runtime::InitError>(())
/// ```
pub fn init(config: Config) -> Result<Guard, InitError> {
    config.validate()?;
    if INITIALIZED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(InitError::AlreadyInitialized);
    }
    match start(config) {
        Ok(guard) => Ok(guard),
        Err(e) => {
            INITIALIZED.store(false, Ordering::Release);
            Err(e)
        }
    }
}

fn start(config: Config) -> Result<Guard, InitError> {
    let service = logs::ServiceIdentity {
        name: config.resolved_service_name(),
        version: config
            .service_version
            .clone()
            .unwrap_or_else(|| "unknown".into()),
        environment: config.environment.clone(),
    };
    if !matches!(config.logs, crate::LogOutput::Off) {
        logs::install(&config.logs, &config.log_filter)?;
    }
    logs::set_service(service.clone());
    if let Some(key) = &config.hash_key {
        crate::pii::set_hash_key(&key.0);
    }
    propagation::configure(&config.propagators);
    crate::baggage::set_allowlist(&config.baggage_attributes);
    if config.disabled {
        return Ok(Guard {
            active: false,
            metrics_addr: None,
        });
    }

    clock::calibrate();
    metrics::set_prefix(&config.metric_prefix);
    metrics::health()
        .build_info
        .with_label_values(&[
            service.name.as_str(),
            service.version.as_str(),
            service.environment.as_deref().unwrap_or(""),
        ])
        .set(1);
    // Creates the registry with the prefix now in force.
    let registry = metrics::registry();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("observe")
        .enable_all()
        .build()
        .map_err(|e| InitError::Runtime(e.to_string()))?;

    let resource = resource(&config, &service);
    let mut exporter = {
        let _context = runtime.enter();
        build_exporter(&config.spans)?
    };
    if let Some(exporter) = &mut exporter {
        exporter.set_resource(&resource);
    }

    let mut metrics_addr = None;
    if let Some(addr) = config.metrics_addr {
        // std's bind, not `block_on`: `init` may run inside the user's own
        // async runtime, where blocking on another runtime panics.
        let bind_error = |e: std::io::Error| InitError::MetricsBind {
            addr,
            reason: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
        };
        metrics_addr = listener.local_addr().ok();
        runtime.spawn(crate::serve::serve(listener, registry));
    }

    let (commands, receiver) = mpsc::unbounded_channel();
    let settings = Arc::new(ExportSettings {
        schedule_delay: config.schedule_delay,
        max_batch: config.max_batch,
        max_queue: config.max_queue,
        timeout: config.export_timeout,
    });
    let stop_drain = Arc::new(AtomicBool::new(false));
    let drainer = {
        let settings = Arc::clone(&settings);
        let stop = Arc::clone(&stop_drain);
        std::thread::Builder::new()
            .name("observe-drain".into())
            .spawn(move || drain_loop(settings, stop))
            .map_err(|e| InitError::Runtime(e.to_string()))?
    };
    export::set_drainer(drainer.thread().clone());
    runtime.spawn(export_loop(exporter, receiver, settings));

    let (threshold, parent_based) = config.sampler.compile();
    state::set_sampler(threshold, parent_based);
    state::install_panic_hook();
    *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running {
        commands,
        stop_drain,
        drainer,
        runtime,
        shutdown_timeout: config.shutdown_timeout,
    });
    state::set_enabled(true);
    Ok(Guard {
        active: true,
        metrics_addr,
    })
}

fn resource(config: &Config, service: &logs::ServiceIdentity) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.name", service.name.clone()),
        KeyValue::new("service.version", service.version.clone()),
        KeyValue::new("telemetry.sdk.name", "observe"),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(environment) = &service.environment {
        attributes.push(KeyValue::new("deployment.environment", environment.clone()));
        attributes.push(KeyValue::new(
            "deployment.environment.name",
            environment.clone(),
        ));
    }
    attributes.extend(
        config
            .resource_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

fn build_exporter(output: &SpanOutput) -> Result<Option<Box<dyn DynExporter>>, InitError> {
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

struct ExportSettings {
    schedule_delay: Duration,
    max_batch: usize,
    max_queue: usize,
    timeout: Duration,
}

/// Ended spans collected from the rings, waiting for the exporter. Bounded by
/// `max_queue`; what does not fit is dropped and counted.
static PENDING: Mutex<VecDeque<SpanRecord>> = Mutex::new(VecDeque::new());
/// Wakes the export task when a full batch is waiting.
static EXPORT_WAKE: Notify = Notify::const_new();

/// While spans keep arriving the rings are drained this often, so a busy
/// thread's ring does not fill between two collections.
const BUSY_INTERVAL: Duration = Duration::from_millis(1);

/// Ended spans not yet handed to the exporter.
pub(crate) fn queue_depth() -> usize {
    export::ring_depth() + PENDING.lock().unwrap_or_else(|e| e.into_inner()).len()
}

fn collect(max_queue: usize) -> usize {
    export::drain_all(
        &mut PENDING.lock().unwrap_or_else(|e| e.into_inner()),
        max_queue,
    )
}

/// Moves ended spans from the per-thread rings to the pending queue: often
/// while they keep coming, at once when a ring reaches half, and idly
/// otherwise. A thread of its own, so neither a slow export call nor the CPU
/// work of encoding a batch leaves the rings to overflow.
fn drain_loop(settings: Arc<ExportSettings>, stop: Arc<AtomicBool>) {
    let idle = settings.schedule_delay.min(Duration::from_millis(100));
    let mut wait = idle;
    while !stop.load(Ordering::Acquire) {
        export::park_drainer(wait);
        let moved = collect(settings.max_queue);
        wait = if moved > 0 { BUSY_INTERVAL } else { idle };
        let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner()).len();
        if pending >= settings.max_batch {
            EXPORT_WAKE.notify_one();
        }
    }
}

async fn export_loop(
    exporter: Option<Box<dyn DynExporter>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    settings: Arc<ExportSettings>,
) {
    loop {
        let command = tokio::select! {
            command = commands.recv() => Some(command.unwrap_or_else(|| {
                let (reply, _) = oneshot::channel();
                Command::Shutdown(Duration::ZERO, reply)
            })),
            () = EXPORT_WAKE.notified() => None,
            () = tokio::time::sleep(settings.schedule_delay) => None,
        };
        let deadline = match &command {
            Some(Command::Shutdown(timeout, _)) => Some(Instant::now() + *timeout),
            _ => None,
        };
        if command.is_some() {
            // Flush and shutdown cover every span ended before they were asked.
            collect(settings.max_queue);
        }
        export_pending(exporter.as_deref(), &settings, deadline).await;
        match command {
            None => {}
            Some(Command::Flush(reply)) => {
                let _ = reply.send(());
            }
            Some(Command::Shutdown(timeout, reply)) => {
                if let Some(exporter) = &exporter {
                    let _ = exporter.shutdown(timeout);
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

async fn export_pending(
    exporter: Option<&dyn DynExporter>,
    settings: &ExportSettings,
    deadline: Option<Instant>,
) {
    let health = metrics::health();
    loop {
        let records: Vec<SpanRecord> = {
            let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            let take = pending.len().min(settings.max_batch);
            pending.drain(..take).collect()
        };
        if records.is_empty() {
            return;
        }
        let Some(exporter) = exporter else {
            continue;
        };
        let batch: Vec<SpanData> = records.into_iter().map(export::to_span_data).collect();
        let timeout = match deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(settings.timeout),
            None => settings.timeout,
        };
        let n = batch.len() as u64;
        match tokio::time::timeout(timeout, exporter.export(batch)).await {
            Ok(Ok(())) => health.spans_exported.inc_by(n),
            Ok(Err(_)) | Err(_) => {
                health.export_errors.inc();
                health
                    .spans_dropped
                    .with_label_values(&["export_failed"])
                    .inc_by(n);
            }
        }
    }
}

/// Exports every span ended so far, on every thread, and waits for it (at most
/// `timeout`). Returns `false` on timeout or when observe is not running.
pub fn force_flush(timeout: Duration) -> bool {
    let (reply, done) = oneshot::channel();
    {
        let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = running.as_ref() else {
            return false;
        };
        if running.commands.send(Command::Flush(reply)).is_err() {
            return false;
        }
    }
    wait_for(done, timeout)
}

fn wait_for(done: oneshot::Receiver<()>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut done = done;
    loop {
        match done.try_recv() {
            Ok(()) => return true,
            Err(oneshot::error::TryRecvError::Closed) => return false,
            Err(oneshot::error::TryRecvError::Empty) => {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.active {
            INITIALIZED.store(false, Ordering::Release);
            return;
        }
        state::set_enabled(false);
        let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(running) = running {
            let (reply, done) = oneshot::channel();
            let timeout = running.shutdown_timeout;
            if running
                .commands
                .send(Command::Shutdown(timeout, reply))
                .is_ok()
            {
                wait_for(done, timeout);
            }
            running.stop_drain.store(true, Ordering::Release);
            running.drainer.thread().unpark();
            let _ = running.drainer.join();
            // Not `drop`: that blocks, and panics inside an async context.
            running.runtime.shutdown_background();
        }
        INITIALIZED.store(false, Ordering::Release);
    }
}

/// The embedded default: one readable line per span, no infrastructure.
struct ConsoleExporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl ConsoleExporter {
    fn new(out: Box<dyn Write + Send>) -> ConsoleExporter {
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
