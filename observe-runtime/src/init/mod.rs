//! The top layer: `init` wires every layer below from one [`Config`], and
//! the [`Guard`] flushes and stops them all on drop.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::Resource;

use crate::core::error::InitError;
use crate::core::health::health;
use crate::edges::{propagation, serve};
use crate::export::{
    build_exporter, build_log_exporter, ExportSettings, LogExport, LogSettings, Pipeline,
    QueueProcessor,
};
use crate::hot::{baggage, clock, failure, limits, pii, state};
use crate::signals::{log_sampling, logs, metrics};
use crate::store;

pub(crate) mod config;
pub(crate) mod signal;

use config::Config;

struct Running {
    pipeline: Pipeline,
    /// Present with OTLP log export; its processor is observe's log queue.
    logger_provider: Option<SdkLoggerProvider>,
    /// On a thread of its own, so scrapes and export never wait on each
    /// other.
    metrics_server: Option<serve::MetricsServer>,
    runtime: tokio::runtime::Runtime,
    shutdown_timeout: Duration,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Keeps observe running; dropping it flushes every ended span (within the
/// configured shutdown timeout) and stops the background work.
///
/// After the drop every ended span is accounted for: exported
/// (`observe_spans_exported_total`) or dropped by reason
/// (`observe_spans_dropped_total{reason}`: `queue_full`, `export_failed`,
/// `rejected`, `shutdown_timeout`, `exporter_none`). When any span was lost, the drop
/// writes the counts on one warning line to stderr, so a process that is
/// never scraped shows them too. A process stopped by SIGTERM drops its
/// guard only if it handles the signal: see [`shutdown_signal`](crate::shutdown_signal).
#[must_use = "observe shuts down when the guard is dropped"]
pub struct Guard {
    active: bool,
    metrics_addr: Option<SocketAddr>,
    pages_addr: Option<SocketAddr>,
}

impl Guard {
    /// The address `/metrics` is served on (useful with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address the debug pages are served on, beside `/metrics`, when
    /// they are on: `http://{addr}/debug/metrics` is where to start.
    pub fn debug_pages_addr(&self) -> Option<SocketAddr> {
        self.pages_addr
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("active", &self.active)
            .field("metrics_addr", &self.metrics_addr)
            .field("pages_addr", &self.pages_addr)
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
            store::stop();
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
    if !matches!(config.logs, logs::LogOutput::Off) {
        logs::install(&config.logs, &config.log_filter)?;
    }
    logs::set_service(service.clone());
    // The runtime `init` is called from is the program's: its saturation is
    // served beside the RED metrics.
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        metrics::watch_tokio("main", handle);
    }
    logs::set_redaction(config.log_redaction);
    log_sampling::configure(config.log_sampling);
    failure::set_enabled(config.log_failures);
    logs::set_destination(match config.log_export {
        LogExport::None => logs::Destination::Nothing,
        // OTLP once its queue runs, below.
        LogExport::Json | LogExport::Otlp { .. } => logs::Destination::Json,
    });
    if let Some(key) = &config.hash_key {
        pii::set_hash_key(&key.0);
    }
    propagation::configure(&config.propagators);
    baggage::set_allowlist(&config.baggage_attributes);
    if config.disabled {
        return Ok(Guard {
            active: false,
            metrics_addr: None,
            pages_addr: None,
        });
    }

    clock::calibrate();
    metrics::set_prefix(&config.metric_prefix);
    health()
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
        .on_thread_start(logs::mark_observe_thread)
        .enable_all()
        .build()
        .map_err(|e| InitError::Runtime(e.to_string()))?;

    let resource = resource(&config, &service);
    let mut exporter = {
        let _context = runtime.enter();
        build_exporter(&config.spans, &config.otlp)?
    };
    if let Some(exporter) = &mut exporter {
        exporter.set_resource(&resource);
    }

    let mut metrics_addr = None;
    let mut metrics_server = None;
    let mut pages_addr = None;
    if let Some(addr) = config.metrics_addr {
        // The pages show span attributes and log lines: never beyond
        // loopback, where `/metrics` alone may be served.
        let pages = config.debug_pages_on() && !serve::is_exposed(addr);
        if config.debug_pages_on() && !pages {
            tracing::warn!(
                "the debug pages are served on loopback only; /metrics is on {addr}, so they are off"
            );
        }
        // std's bind, not `block_on`: `init` may run inside the user's own
        // async runtime, where blocking on another runtime panics.
        let bind_error = |e: std::io::Error| InitError::MetricsBind {
            addr,
            reason: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        metrics_addr = listener.local_addr().ok();
        metrics_server =
            Some(serve::MetricsServer::start(listener, registry, pages).map_err(bind_error)?);
        if pages {
            store::start(config.debug_store_bytes);
            pages_addr = metrics_addr;
        }
        if serve::is_exposed(addr) {
            tracing::warn!(
                "/metrics is served on {addr}, beyond loopback, with no authentication: \
                 anyone who can reach the port reads every metric"
            );
        }
    }

    let pipeline = Pipeline::start(
        &runtime,
        exporter,
        ExportSettings {
            schedule_delay: config.schedule_delay,
            max_batch: config.max_batch,
            max_queue: config.max_queue,
            max_queue_bytes: config.max_queue_bytes,
            timeout: config.export_timeout,
        },
    )?;

    let logger_provider = match &config.log_export {
        LogExport::Otlp { endpoint, protocol } => {
            let timeout = config.log_export_timeout.unwrap_or(config.export_timeout);
            let exporter = {
                let _context = runtime.enter();
                build_log_exporter(endpoint, *protocol, timeout)?
            };
            let queue = QueueProcessor::start(
                &runtime,
                exporter,
                &resource,
                LogSettings {
                    max_queue: config.max_log_queue,
                    max_queue_bytes: config.max_log_queue_bytes,
                    max_batch: config.max_log_batch.min(config.max_log_queue),
                    schedule_delay: config.log_schedule_delay,
                    timeout,
                },
            );
            let provider = SdkLoggerProvider::builder()
                .with_log_processor(queue)
                .build();
            logs::set_destination(logs::Destination::Otlp(provider.logger("observe")));
            Some(provider)
        }
        LogExport::Json | LogExport::None => None,
    };

    limits::set(config.span_limits);
    let (threshold, parent_based) = config.sampler.compile();
    state::set_sampler(threshold, parent_based);
    state::install_panic_hook();
    *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running {
        pipeline,
        logger_provider,
        metrics_server,
        runtime,
        shutdown_timeout: config.shutdown_timeout,
    });
    state::set_enabled(true);
    Ok(Guard {
        active: true,
        metrics_addr,
        pages_addr,
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

/// One warning line on stderr when spans were lost in this process's life
/// (spans not exported because no exporter is configured do not count as
/// lost). Written with `eprintln!`: the log subscriber may be gone by now.
fn report_losses() {
    let health = health();
    let dropped: Vec<(&str, u64)> = crate::core::health::DROP_REASONS
        .iter()
        .map(|reason| {
            (
                *reason,
                health.spans_dropped.with_label_values(&[reason]).get(),
            )
        })
        .collect();
    let lost: u64 = dropped
        .iter()
        .filter(|(reason, _)| *reason != "exporter_none")
        .map(|(_, n)| n)
        .sum();
    report_lost_logs();
    if lost == 0 {
        return;
    }
    let by_reason: Vec<String> = dropped
        .iter()
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect();
    eprintln!(
        "observe: WARN {lost} spans were not exported ({}); {} were",
        by_reason.join(" "),
        health.spans_exported.get()
    );
}

/// The log records bound for OTLP that were lost, on one line.
fn report_lost_logs() {
    let health = health();
    let dropped: Vec<String> = crate::core::health::LOG_DROP_REASONS
        .iter()
        .map(|reason| {
            let n = health.logs_dropped.with_label_values(&[reason]).get();
            format!("{reason}={n}")
        })
        .collect();
    let lost: u64 = crate::core::health::LOG_DROP_REASONS
        .iter()
        .map(|reason| health.logs_dropped.with_label_values(&[reason]).get())
        .sum();
    if lost > 0 {
        eprintln!(
            "observe: WARN {lost} log records were not exported ({}); {} were",
            dropped.join(" "),
            health.logs_exported.get()
        );
    }
}

/// Exports every span ended so far, on every thread, and every log record
/// queued for OTLP, and waits for it (at most `timeout` for the spans, and
/// at most 5 s for the records). Returns `false` on timeout or when
/// observe is not running.
pub fn force_flush(timeout: Duration) -> bool {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    match running.as_ref() {
        Some(running) => {
            let spans = running.pipeline.flush(timeout);
            let logs = running
                .logger_provider
                .as_ref()
                .is_none_or(|provider| provider.force_flush().is_ok());
            spans && logs
        }
        None => false,
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
            // Events from now on are lines again; the queue's records are
            // exported beside the spans, within the same timeout.
            logs::set_destination(logs::Destination::Json);
            let timeout = running.shutdown_timeout;
            let logger_provider = running.logger_provider;
            std::thread::scope(|scope| {
                if let Some(provider) = &logger_provider {
                    scope.spawn(move || provider.shutdown_with_timeout(timeout));
                }
                running.pipeline.shutdown(timeout);
            });
            drop(running.metrics_server);
            store::stop();
            // Not `drop`: that blocks, and panics inside an async context.
            running.runtime.shutdown_background();
            report_losses();
        }
        INITIALIZED.store(false, Ordering::Release);
    }
}
