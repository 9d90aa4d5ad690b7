//! Configuration from code and from the standard `OTEL_*` environment.
//!
//! `Config::from_env()` reads the environment; every setter called afterwards
//! overrides what the environment said. A malformed variable does not panic:
//! it is remembered and `init` returns it as an [`InitError`] naming the
//! variable.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::core::error::InitError;
use crate::core::text::percent_decode;
use crate::edges::propagation::Propagator;
use crate::export::{
    BoxedExporter, ExportProtocol, LogExport, OtlpSettings, RequestSink, SpanOutput,
};
use crate::hot::limits::SpanLimits;
use crate::signals::log_sampling::LogSampling;
use crate::signals::logs::LogOutput;

/// Which traces are recorded and exported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// No trace (ids are still generated, so logs still correlate).
    AlwaysOff,
    /// This fraction of root traces, decided from the trace id.
    TraceIdRatio(f64),
    /// Follow the parent's decision; roots use the inner sampler.
    ParentBased(ParentBasedRoot),
}

/// The root sampler of [`Sampler::ParentBased`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParentBasedRoot {
    /// Sample every root.
    AlwaysOn,
    /// Sample no root.
    AlwaysOff,
    /// Sample this fraction of roots.
    TraceIdRatio(f64),
}

impl Sampler {
    /// `(root threshold, parent based)` as the hot path reads them.
    pub(crate) fn compile(self) -> (u64, bool) {
        use crate::hot::state::{ratio_threshold, ALWAYS};
        match self {
            Sampler::AlwaysOn => (ALWAYS, false),
            Sampler::AlwaysOff => (0, false),
            Sampler::TraceIdRatio(r) => (ratio_threshold(r), false),
            Sampler::ParentBased(ParentBasedRoot::AlwaysOn) => (ALWAYS, true),
            Sampler::ParentBased(ParentBasedRoot::AlwaysOff) => (0, true),
            Sampler::ParentBased(ParentBasedRoot::TraceIdRatio(r)) => (ratio_threshold(r), true),
        }
    }

    fn from_env(name: &str, arg: Option<&str>) -> Result<Sampler, InitError> {
        let ratio = || -> Result<f64, InitError> {
            let Some(arg) = arg else { return Ok(1.0) };
            match arg.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(InitError::invalid(
                    "OTEL_TRACES_SAMPLER_ARG",
                    arg,
                    "expected a ratio from 0.0 to 1.0",
                )),
            }
        };
        Ok(match name.trim() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(ParentBasedRoot::AlwaysOn),
            "parentbased_always_off" => Sampler::ParentBased(ParentBasedRoot::AlwaysOff),
            "parentbased_traceidratio" => {
                Sampler::ParentBased(ParentBasedRoot::TraceIdRatio(ratio()?))
            }
            other => {
                return Err(InitError::invalid(
                    "OTEL_TRACES_SAMPLER",
                    other,
                    "expected one of `always_on`, `always_off`, `traceidratio`, \
                     `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`",
                ))
            }
        })
    }
}

/// Everything `init` sets up. Start from [`Config::from_env`] (or
/// [`Config::default`] to ignore the environment) and override in code.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) spans: SpanOutput,
    /// gzip and headers for OTLP span export.
    pub(crate) otlp: OtlpSettings,
    pub(crate) sampler: Sampler,
    pub(crate) propagators: Vec<Propagator>,
    pub(crate) baggage_attributes: Vec<String>,
    pub(crate) disabled: bool,
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// `None`: on when spans are not sent over OTLP.
    pub(crate) debug_pages: Option<bool>,
    pub(crate) debug_store_bytes: usize,
    pub(crate) metric_prefix: String,
    pub(crate) logs: LogOutput,
    pub(crate) log_filter: String,
    pub(crate) log_redaction: bool,
    pub(crate) log_export: LogExport,
    /// `None`: the spans' `export_timeout`.
    pub(crate) log_export_timeout: Option<Duration>,
    pub(crate) max_log_queue: usize,
    /// Bytes the log records waiting for OTLP export may hold.
    pub(crate) max_log_queue_bytes: usize,
    /// How long a partial batch of log records waits for more.
    pub(crate) log_schedule_delay: Duration,
    /// Log records per OTLP export call, at most.
    pub(crate) max_log_batch: usize,
    pub(crate) log_sampling: Option<LogSampling>,
    pub(crate) log_failures: bool,
    pub(crate) export_timeout: Duration,
    pub(crate) schedule_delay: Duration,
    pub(crate) max_batch: usize,
    pub(crate) max_queue: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) span_limits: SpanLimits,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) hash_key: Option<HashKey>,
    pub(crate) errors: Vec<InitError>,
}

/// The secret behind [`hash`](crate::hash); never printed.
#[derive(Clone)]
pub(crate) struct HashKey(pub(crate) Vec<u8>);

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey([redacted])")
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            service_name: None,
            service_version: None,
            environment: None,
            resource_attributes: Vec::new(),
            spans: SpanOutput::Stderr,
            otlp: OtlpSettings::default(),
            sampler: Sampler::ParentBased(ParentBasedRoot::AlwaysOn),
            propagators: vec![Propagator::TraceContext, Propagator::Baggage],
            baggage_attributes: Vec::new(),
            disabled: false,
            metrics_addr: None,
            debug_pages: None,
            debug_store_bytes: crate::store::DEFAULT_CAP_BYTES,
            metric_prefix: String::new(),
            logs: LogOutput::Stdout,
            log_filter: "info".into(),
            log_redaction: true,
            log_export: LogExport::Json,
            log_export_timeout: None,
            max_log_queue: 2048,
            max_log_queue_bytes: 16 << 20,
            log_schedule_delay: Duration::from_millis(200),
            max_log_batch: 512,
            log_sampling: None,
            log_failures: true,
            export_timeout: Duration::from_secs(10),
            schedule_delay: Duration::from_millis(500),
            max_batch: 512,
            max_queue: 131_072,
            max_queue_bytes: 64 << 20,
            span_limits: SpanLimits::default(),
            shutdown_timeout: Duration::from_secs(5),
            hash_key: None,
            errors: Vec::new(),
        }
    }
}

/// Reads the environment through a function so tests need not mutate the
/// process environment.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Defaults overridden by the standard `OTEL_*` variables, `OBSERVE_*`
    /// variables and `RUST_LOG` (see the README's configuration table).
    pub fn from_env() -> Config {
        Config::from_lookup(&|name| std::env::var(name).ok())
    }

    /// As [`Config::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Config {
        let mut config = Config::default();
        let env: Env<'_> = &|name| lookup(name).filter(|v| !v.trim().is_empty());
        if let Err(e) = config.read_env(env) {
            config.errors.push(e);
        }
        config
    }

    fn read_env(&mut self, env: Env<'_>) -> Result<(), InitError> {
        let mut errors = Vec::new();
        let mut check = |r: Result<(), InitError>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        check(self.read_disabled(env));
        check(self.read_resource(env));
        check(self.read_spans(env));
        check(self.read_sampler(env));
        check(self.read_propagators(env));
        check(self.read_batch(env));
        check(self.read_limits(env));
        check(self.read_metrics(env));
        check(self.read_logs(env));
        if let Some(filter) = env("RUST_LOG") {
            self.log_filter = filter;
        }
        if let Some(v) = env("OBSERVE_LOG_REDACTION") {
            check(parse_bool("OBSERVE_LOG_REDACTION", &v).map(|on| self.log_redaction = on));
        }
        self.errors.extend(errors);
        Ok(())
    }

    fn read_disabled(&mut self, env: Env<'_>) -> Result<(), InitError> {
        if let Some(v) = env("OTEL_SDK_DISABLED") {
            self.disabled = parse_bool("OTEL_SDK_DISABLED", &v)?;
        }
        Ok(())
    }

    fn read_resource(&mut self, env: Env<'_>) -> Result<(), InitError> {
        if let Some(raw) = env("OTEL_RESOURCE_ATTRIBUTES") {
            for (key, value) in parse_resource_attributes(&raw)? {
                match key.as_str() {
                    "service.name" => self.service_name = Some(value),
                    "service.version" => self.service_version = Some(value),
                    "deployment.environment" | "deployment.environment.name" => {
                        self.environment = Some(value)
                    }
                    _ => self.resource_attributes.push((key, value)),
                }
            }
        }
        if let Some(name) = env("OTEL_SERVICE_NAME") {
            self.service_name = Some(name);
        }
        Ok(())
    }

    fn read_spans(&mut self, env: Env<'_>) -> Result<(), InitError> {
        let protocol = match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(p) => Some(parse_protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", &p)?),
            None => match env("OTEL_EXPORTER_OTLP_PROTOCOL") {
                Some(p) => Some(parse_protocol("OTEL_EXPORTER_OTLP_PROTOCOL", &p)?),
                None => None,
            },
        };
        let endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|e| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e))
            .or_else(|| {
                env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| ("OTEL_EXPORTER_OTLP_ENDPOINT", e))
            });
        if let Some((var, endpoint)) = &endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(InitError::invalid(
                    var,
                    endpoint,
                    "expected an `http://` or `https://` URL",
                ));
            }
        }
        match env("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
            None | Some("otlp") => {
                if let Some((_, endpoint)) = endpoint {
                    self.spans = SpanOutput::Otlp {
                        endpoint,
                        protocol: protocol.unwrap_or(ExportProtocol::Grpc),
                    };
                } else if let Some(path) = env("OBSERVE_SPANS_FILE") {
                    self.spans = SpanOutput::File(path.into());
                }
            }
            Some("console") => self.spans = SpanOutput::Stderr,
            Some("none") => self.spans = SpanOutput::None,
            Some(other) => {
                return Err(InitError::invalid(
                    "OTEL_TRACES_EXPORTER",
                    other,
                    "expected `otlp`, `console` or `none`",
                ))
            }
        }
        if let Some(ms) = env("OTEL_EXPORTER_OTLP_TIMEOUT") {
            self.export_timeout = parse_millis("OTEL_EXPORTER_OTLP_TIMEOUT", &ms)?;
        }
        for var in [
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        ] {
            if let Some(value) = env(var) {
                self.otlp.gzip = match value.trim() {
                    "gzip" => true,
                    "none" | "" => false,
                    _ => return Err(InitError::invalid(var, &value, "expected `gzip` or `none`")),
                };
            }
        }
        // The signal's own list is read last, so its values win.
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(raw) = env(var) {
                for (key, value) in parse_key_values(var, &raw)? {
                    self.otlp
                        .headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    self.otlp.headers.push((key, value));
                }
            }
        }
        Ok(())
    }

    /// `OTEL_LOGS_EXPORTER` and the `OTEL_EXPORTER_OTLP_LOGS_*` variables,
    /// falling back to the generic OTLP ones as the spans do (a malformed
    /// generic one is reported once, by the spans).
    fn read_logs(&mut self, env: Env<'_>) -> Result<(), InitError> {
        let protocol = match env("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL") {
            Some(p) => parse_protocol("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", &p)?,
            None => env("OTEL_EXPORTER_OTLP_PROTOCOL")
                .and_then(|p| parse_protocol("OTEL_EXPORTER_OTLP_PROTOCOL", &p).ok())
                .unwrap_or(ExportProtocol::Grpc),
        };
        // The signal's own endpoint is the full URL for HTTP (it ends in
        // `/v1/logs`); observe keeps base endpoints and appends the path.
        let endpoint = env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
            .map(|e| {
                let base = e.trim().trim_end_matches('/');
                let base = base.strip_suffix("/v1/logs").unwrap_or(base).to_owned();
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", base)
            })
            .or_else(|| {
                env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| ("OTEL_EXPORTER_OTLP_ENDPOINT", e))
            });
        if let Some((var, endpoint)) = &endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                if *var == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                    return Ok(());
                }
                return Err(InitError::invalid(
                    var,
                    endpoint,
                    "expected an `http://` or `https://` URL",
                ));
            }
        }
        match env("OTEL_LOGS_EXPORTER").as_deref().map(str::trim) {
            None | Some("otlp") => {
                if let Some((_, endpoint)) = endpoint {
                    self.log_export = LogExport::Otlp { endpoint, protocol };
                }
            }
            Some("console") => self.log_export = LogExport::Json,
            Some("none") => self.log_export = LogExport::None,
            Some(other) => {
                return Err(InitError::invalid(
                    "OTEL_LOGS_EXPORTER",
                    other,
                    "expected `otlp`, `console` or `none`",
                ))
            }
        }
        if let Some(ms) = env("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT") {
            self.log_export_timeout = Some(parse_millis("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", &ms)?);
        }
        if let Some(v) = env("OTEL_BLRP_MAX_QUEUE_SIZE") {
            self.max_log_queue = parse_positive("OTEL_BLRP_MAX_QUEUE_SIZE", &v)?;
        }
        if let Some(v) = env("OTEL_BLRP_SCHEDULE_DELAY") {
            self.log_schedule_delay = parse_millis("OTEL_BLRP_SCHEDULE_DELAY", &v)?;
        }
        if let Some(v) = env("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE") {
            self.max_log_batch = parse_positive("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", &v)?;
        }
        if let Some(v) = env("OTEL_BLRP_EXPORT_TIMEOUT") {
            // The signal's own OTLP timeout wins when both are set.
            let timeout = parse_millis("OTEL_BLRP_EXPORT_TIMEOUT", &v)?;
            self.log_export_timeout.get_or_insert(timeout);
        }
        if let Some(v) = env("OBSERVE_LOG_FAILURES") {
            self.log_failures = parse_bool("OBSERVE_LOG_FAILURES", &v)?;
        }
        if let Some(v) = env("OBSERVE_LOG_SAMPLING") {
            self.log_sampling = LogSampling::parse("OBSERVE_LOG_SAMPLING", &v)?;
        }
        Ok(())
    }

    fn read_sampler(&mut self, env: Env<'_>) -> Result<(), InitError> {
        if let Some(name) = env("OTEL_TRACES_SAMPLER") {
            self.sampler = Sampler::from_env(&name, env("OTEL_TRACES_SAMPLER_ARG").as_deref())?;
        }
        Ok(())
    }

    fn read_propagators(&mut self, env: Env<'_>) -> Result<(), InitError> {
        if let Some(list) = env("OTEL_PROPAGATORS") {
            let mut propagators = Vec::new();
            for name in list.split(',').map(str::trim) {
                match name {
                    "tracecontext" => propagators.push(Propagator::TraceContext),
                    "baggage" => propagators.push(Propagator::Baggage),
                    "none" => {}
                    other => {
                        return Err(InitError::invalid(
                            "OTEL_PROPAGATORS",
                            other,
                            "supported: `tracecontext`, `baggage`, `none`",
                        ))
                    }
                }
            }
            propagators.dedup();
            self.propagators = propagators;
        }
        if let Some(list) = env("OBSERVE_BAGGAGE_ATTRIBUTES") {
            let keys: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = keys.iter().find(|k| k.contains(char::is_whitespace)) {
                return Err(InitError::invalid(
                    "OBSERVE_BAGGAGE_ATTRIBUTES",
                    bad,
                    "a comma-separated list of baggage keys, e.g. `tenant.id,user.tier`",
                ));
            }
            self.baggage_attributes = keys;
        }
        Ok(())
    }

    /// The OpenTelemetry span limits; a `OTEL_SPAN_` variable wins over its
    /// general `OTEL_ATTRIBUTE_` spelling, as the specification says.
    fn read_limits(&mut self, env: Env<'_>) -> Result<(), InitError> {
        let read = |names: &[&'static str]| -> Result<Option<usize>, InitError> {
            for name in names {
                if let Some(v) = env(name) {
                    return v
                        .trim()
                        .parse::<usize>()
                        .map(Some)
                        .map_err(|_| InitError::invalid(name, &v, "expected a whole number"));
                }
            }
            Ok(None)
        };
        let limits = &mut self.span_limits;
        if let Some(n) = read(&[
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ])? {
            limits.attribute_value_length = n;
        }
        if let Some(n) = read(&[
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
        ])? {
            limits.attribute_count = n;
        }
        if let Some(n) = read(&["OTEL_SPAN_EVENT_COUNT_LIMIT"])? {
            limits.event_count = n;
        }
        if let Some(n) = read(&["OTEL_SPAN_LINK_COUNT_LIMIT"])? {
            limits.link_count = n;
        }
        if let Some(v) = env("OBSERVE_MAX_QUEUE_BYTES") {
            self.max_queue_bytes = parse_positive("OBSERVE_MAX_QUEUE_BYTES", &v)?;
        }
        if let Some(v) = env("OBSERVE_MAX_LOG_QUEUE_BYTES") {
            self.max_log_queue_bytes = parse_positive("OBSERVE_MAX_LOG_QUEUE_BYTES", &v)?;
        }
        Ok(())
    }

    fn read_batch(&mut self, env: Env<'_>) -> Result<(), InitError> {
        if let Some(v) = env("OTEL_BSP_SCHEDULE_DELAY") {
            self.schedule_delay = parse_millis("OTEL_BSP_SCHEDULE_DELAY", &v)?;
        }
        if let Some(v) = env("OTEL_BSP_EXPORT_TIMEOUT") {
            self.export_timeout = parse_millis("OTEL_BSP_EXPORT_TIMEOUT", &v)?;
        }
        if let Some(v) = env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            self.max_batch = parse_positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &v)?;
        }
        if let Some(v) = env("OTEL_BSP_MAX_QUEUE_SIZE") {
            self.max_queue = parse_positive("OTEL_BSP_MAX_QUEUE_SIZE", &v)?;
        }
        Ok(())
    }

    fn read_metrics(&mut self, env: Env<'_>) -> Result<(), InitError> {
        if let Some(addr) = env("OBSERVE_METRICS_ADDR") {
            self.metrics_addr = Some(addr.trim().parse().map_err(|_| {
                InitError::invalid(
                    "OBSERVE_METRICS_ADDR",
                    &addr,
                    "expected a socket address such as `127.0.0.1:9464`",
                )
            })?);
        }
        if let Some(v) = env("OBSERVE_DEBUG_PAGES") {
            self.debug_pages = Some(parse_bool("OBSERVE_DEBUG_PAGES", &v)?);
        }
        if let Some(v) = env("OBSERVE_DEBUG_STORE_BYTES") {
            self.debug_store_bytes = parse_positive("OBSERVE_DEBUG_STORE_BYTES", &v)?;
        }
        Ok(())
    }

    /// Whether the debug pages are served beside `/metrics`: as set, or
    /// else when spans do not go to an OTLP collector (the embedded
    /// default), whose own trace store serves that purpose.
    pub(crate) fn debug_pages_on(&self) -> bool {
        self.debug_pages
            .unwrap_or(!matches!(self.spans, SpanOutput::Otlp { .. }))
    }

    /// What `init` would say of these settings: every malformed variable or
    /// setting, without starting anything.
    pub fn validate(&self) -> Result<(), InitError> {
        match self.errors.as_slice() {
            [] => Ok(()),
            [one] => Err(one.clone()),
            many => Err(InitError::Many(many.to_vec())),
        }
    }

    /// `service.name`, used by spans, metrics and logs alike. Overrides
    /// `OTEL_SERVICE_NAME`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version` (e.g. `env!("CARGO_PKG_VERSION")`).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// `deployment.environment` (e.g. `production`, `staging`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// An extra resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// Export spans over OTLP to `endpoint`.
    pub fn otlp(mut self, endpoint: impl Into<String>, protocol: ExportProtocol) -> Self {
        self.spans = SpanOutput::Otlp {
            endpoint: endpoint.into(),
            protocol,
        };
        self
    }

    /// gzip the OTLP span requests (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    pub fn otlp_gzip(mut self, gzip: bool) -> Self {
        self.otlp.gzip = gzip;
        self
    }

    /// A header sent with every OTLP span request, e.g. an API key
    /// (`OTEL_EXPORTER_OTLP_HEADERS=key=value,..`).
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.headers.push((key.into(), value.into()));
        self
    }

    /// Benchmarks only, not a stable API: spans are encoded into OTLP
    /// requests as for a collector, and each request is handed to `sink`
    /// with its span count instead of being sent.
    #[doc(hidden)]
    pub fn otlp_request_sink(mut self, sink: impl Fn(&[u8], u64) + Send + Sync + 'static) -> Self {
        self.otlp.sink = Some(RequestSink(std::sync::Arc::new(sink)));
        self.spans = SpanOutput::Otlp {
            endpoint: "http://127.0.0.1:4317".into(),
            protocol: ExportProtocol::Grpc,
        };
        self
    }

    /// Where spans go; see [`SpanOutput`].
    pub fn spans(mut self, output: SpanOutput) -> Self {
        self.spans = output;
        self
    }

    /// Export spans with an OpenTelemetry `SpanExporter` of your own.
    pub fn exporter<E>(self, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        self.spans(SpanOutput::Exporter(BoxedExporter::new(exporter)))
    }

    /// Which traces are sampled.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// The propagation formats `propagation::inject` and `extract` use.
    pub fn propagators(mut self, propagators: &[Propagator]) -> Self {
        self.propagators = propagators.to_vec();
        self
    }

    /// Baggage keys whose entries are copied onto consumer spans' attributes
    /// and onto every log line written while the baggage is current (as
    /// `OBSERVE_BAGGAGE_ATTRIBUTES=tenant.id,user.tier`). Other entries
    /// stay in the baggage only.
    pub fn baggage_attributes<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.baggage_attributes = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Turns every signal off (as `OTEL_SDK_DISABLED=true`): observed
    /// functions still run and return their values.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// Whether the JSON log layer masks event fields whose key names
    /// personal data (`email`, `user.phone`, `api_key`: the words
    /// `#[observe]` checks field keys against), with
    /// [`mask`](crate::mask), counting each in
    /// `observe_log_fields_redacted_total`. On by default
    /// (`OBSERVE_LOG_REDACTION`).
    pub fn log_redaction(mut self, on: bool) -> Self {
        self.log_redaction = on;
        self
    }

    /// Where log events go: JSON lines (the default), OTLP records, or
    /// nowhere; overrides `OTEL_LOGS_EXPORTER` and the
    /// `OTEL_EXPORTER_OTLP_LOGS_*` variables. See [`LogExport`].
    pub fn log_export(mut self, export: LogExport) -> Self {
        self.log_export = export;
        self
    }

    /// Export log events over OTLP to `endpoint` (a base endpoint, as for
    /// [`Config::otlp`]), instead of writing JSON lines.
    pub fn otlp_logs(self, endpoint: impl Into<String>, protocol: ExportProtocol) -> Self {
        self.log_export(LogExport::Otlp {
            endpoint: endpoint.into(),
            protocol,
        })
    }

    /// How many log records may wait for OTLP export before new ones are
    /// dropped and counted in `observe_logs_dropped_total{reason="queue_full"}`;
    /// 2048 by default (`OTEL_BLRP_MAX_QUEUE_SIZE`).
    pub fn max_log_queue(mut self, records: usize) -> Self {
        self.max_log_queue = records.max(1);
        self
    }

    /// How many bytes the log records waiting for OTLP export may hold (their
    /// bodies, attribute keys and values, and each record's own size) before
    /// new ones are dropped and counted in
    /// `observe_logs_dropped_total{reason="queue_full"}`, so a burst of large
    /// events cannot grow memory past it; 16 MiB by default
    /// (`OBSERVE_MAX_LOG_QUEUE_BYTES`).
    pub fn max_log_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_log_queue_bytes = bytes.max(1);
        self
    }

    /// How long a partial batch of log records waits for more before it is
    /// exported; 200 ms by default (`OTEL_BLRP_SCHEDULE_DELAY`, in ms).
    pub fn log_schedule_delay(mut self, delay: Duration) -> Self {
        self.log_schedule_delay = delay;
        self
    }

    /// Log records per OTLP export call, at most; 512 by default
    /// (`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`), and never more than the queue.
    pub fn max_log_batch(mut self, records: usize) -> Self {
        self.max_log_batch = records.max(1);
        self
    }

    /// Trace-aware sampling of log events (off by default;
    /// `OBSERVE_LOG_SAMPLING`): see [`LogSampling`].
    pub fn log_sampling(mut self, sampling: LogSampling) -> Self {
        self.log_sampling = Some(sampling);
        self
    }

    /// Whether each `Err` or panic of an observed call writes one log event
    /// `observe.failure` (WARN, or ERROR for a panic) with `error.type`,
    /// `error.message`, `span.name` and the span's ids; none when the call
    /// already logged at ERROR on its thread. On by default
    /// (`OBSERVE_LOG_FAILURES`).
    pub fn log_failures(mut self, on: bool) -> Self {
        self.log_failures = on;
        self
    }

    /// Serve `/metrics` on this address.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// Serve the debug pages (`/debug/traces`, `/debug/traces/{trace_id}`,
    /// `/debug/metrics` and their JSON) beside `/metrics`, when `/metrics`
    /// is served on a loopback address. On by default unless spans go to an
    /// OTLP collector (`OBSERVE_DEBUG_PAGES`).
    pub fn debug_pages(mut self, on: bool) -> Self {
        self.debug_pages = Some(on);
        self
    }

    /// The byte cap of the trace store behind the debug pages (16 MiB by
    /// default, `OBSERVE_DEBUG_STORE_BYTES`); past it the oldest traces are
    /// evicted and counted in `observe_trace_store_evicted_total`.
    pub fn debug_store_bytes(mut self, bytes: usize) -> Self {
        self.debug_store_bytes = bytes;
        self
    }

    /// Prefix of the latency histogram family:
    /// `<prefix>_operation_duration_seconds`.
    pub fn metric_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.metric_prefix = prefix.into();
        self
    }

    /// Where JSON log lines go; [`LogOutput::Off`] installs no subscriber.
    pub fn logs(mut self, output: LogOutput) -> Self {
        self.logs = output;
        self
    }

    /// Log filter in `RUST_LOG` syntax (`info,my_crate=debug`).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = filter.into();
        self
    }

    /// How long one export call may take (for log records too, unless
    /// `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT` says otherwise).
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// How often ended spans are collected for export when idle.
    pub fn schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }

    /// How many ended spans the export queue holds; 131 072 by default
    /// (`OTEL_BSP_MAX_QUEUE_SIZE`). Past it, spans wait in their threads'
    /// rings, which may set aside as many again while the export side is
    /// late, before new ones are dropped (and counted). The default holds
    /// about 4 ms of one thread ending 30 M sampled spans a second, longer
    /// than the export core was seen to lose to the scheduler here
    /// (BENCHMARKS.md, "Steady state").
    pub fn max_queue(mut self, spans: usize) -> Self {
        self.max_queue = spans.max(1);
        self
    }

    /// How many bytes ended spans waiting for export may hold (their
    /// records and attributes) before new ones are dropped and counted as
    /// `queue_full`; 64 MiB by default (`OBSERVE_MAX_QUEUE_BYTES`). A
    /// quarter of it is for the per-thread rings, the rest for the queue and
    /// the batch out for export.
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes.max(1);
        self
    }

    /// The span limits (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
    /// `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`,
    /// `OTEL_SPAN_LINK_COUNT_LIMIT`).
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.span_limits = limits;
        self
    }

    /// The key [`hash`](crate::hash) uses for sensitive fields (overrides
    /// `OBSERVE_HASH_KEY`); keep it stable across a deployment so equal values
    /// stay joinable.
    pub fn hash_key(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.hash_key = Some(HashKey(secret.as_ref().to_vec()));
        self
    }

    /// How long dropping the [`Guard`](crate::Guard) may take to flush.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The `service.name` in force: configured, or
    /// `unknown_service:<executable>` as the OpenTelemetry spec says.
    pub(crate) fn resolved_service_name(&self) -> String {
        self.service_name.clone().unwrap_or_else(|| {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            format!("unknown_service:{exe}")
        })
    }
}

fn parse_protocol(var: &'static str, value: &str) -> Result<ExportProtocol, InitError> {
    match value.trim() {
        "grpc" => Ok(ExportProtocol::Grpc),
        "http/protobuf" => Ok(ExportProtocol::HttpProtobuf),
        other => Err(InitError::invalid(
            var,
            other,
            "expected `grpc` or `http/protobuf`",
        )),
    }
}

fn parse_bool(var: &'static str, value: &str) -> Result<bool, InitError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(InitError::invalid(var, value, "expected `true` or `false`")),
    }
}

fn parse_positive(var: &'static str, value: &str) -> Result<usize, InitError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(InitError::invalid(
            var,
            value,
            "expected a positive integer",
        )),
    }
}

fn parse_millis(var: &'static str, value: &str) -> Result<Duration, InitError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| InitError::invalid(var, value, "expected milliseconds as an integer"))
}

/// `key1=value1,key2=value2`, keys and values percent-encoded (W3C Baggage
/// octet rules, as the OpenTelemetry spec says).
pub(crate) fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, InitError> {
    parse_key_values("OTEL_RESOURCE_ATTRIBUTES", raw)
}

/// `key1=value1,key2=value2`, percent-encoded: the form of
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
fn parse_key_values(var: &'static str, raw: &str) -> Result<Vec<(String, String)>, InitError> {
    let mut out = Vec::new();
    for member in raw.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let Some((key, value)) = member.split_once('=') else {
            return Err(InitError::invalid(var, member, "expected `key=value`"));
        };
        let key = percent_decode(key.trim())
            .ok_or_else(|| InitError::invalid(var, member, "bad percent escape in the key"))?;
        let value = percent_decode(value.trim())
            .ok_or_else(|| InitError::invalid(var, member, "bad percent escape in the value"))?;
        if key.is_empty() {
            return Err(InitError::invalid(var, member, "empty key"));
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(&move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn error_vars(config: &Config) -> Vec<&'static str> {
        config
            .errors
            .iter()
            .map(|e| match e {
                InitError::Invalid { var, .. } => *var,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn reads_the_standard_variables() {
        let c = config(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.version=1.2.3,deployment.environment=prod,team=pay%20ments",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_PROPAGATORS", "tracecontext"),
            ("OBSERVE_METRICS_ADDR", "127.0.0.1:9464"),
            ("OBSERVE_BAGGAGE_ATTRIBUTES", "tenant.id, user.tier"),
        ]);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.baggage_attributes, ["tenant.id", "user.tier"]);
        assert_eq!(c.service_name.as_deref(), Some("checkout"));
        assert_eq!(c.service_version.as_deref(), Some("1.2.3"));
        assert_eq!(c.environment.as_deref(), Some("prod"));
        assert_eq!(
            c.resource_attributes,
            vec![("team".into(), "pay ments".into())]
        );
        assert!(matches!(
            &c.spans,
            SpanOutput::Otlp { endpoint, protocol: ExportProtocol::HttpProtobuf }
                if endpoint == "http://127.0.0.1:4318"
        ));
        assert_eq!(
            c.sampler,
            Sampler::ParentBased(ParentBasedRoot::TraceIdRatio(0.25))
        );
        assert_eq!(c.propagators, vec![Propagator::TraceContext]);
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn debug_pages_are_on_unless_spans_go_to_a_collector() {
        let embedded = config(&[]);
        assert!(embedded.debug_pages_on());
        assert_eq!(embedded.debug_store_bytes, 16 << 20);
        let otlp = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
        assert!(!otlp.debug_pages_on());
        let asked = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OBSERVE_DEBUG_PAGES", "true"),
            ("OBSERVE_DEBUG_STORE_BYTES", "1048576"),
        ]);
        assert!(asked.debug_pages_on());
        assert_eq!(asked.debug_store_bytes, 1 << 20);
        assert!(!config(&[("OBSERVE_DEBUG_PAGES", "false")]).debug_pages_on());
        assert!(!Config::default().debug_pages(false).debug_pages_on());
        let bad = config(&[("OBSERVE_DEBUG_STORE_BYTES", "lots")]);
        assert!(bad.validate().is_err());
    }

    #[test]
    fn code_overrides_the_environment() {
        let c = config(&[("OTEL_SERVICE_NAME", "from-env")]).service_name("from-code");
        assert_eq!(c.service_name.as_deref(), Some("from-code"));
    }

    #[test]
    fn no_endpoint_means_the_embedded_console() {
        assert!(matches!(config(&[]).spans, SpanOutput::Stderr));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let c = config(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_SDK_DISABLED", "maybe"),
        ]);
        let mut vars = error_vars(&c);
        vars.sort_unstable();
        assert_eq!(
            vars,
            [
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_RESOURCE_ATTRIBUTES",
                "OTEL_SDK_DISABLED",
                "OTEL_TRACES_SAMPLER_ARG"
            ]
        );
        let c = config(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "abc"),
        ]);
        assert_eq!(error_vars(&c), ["OTEL_TRACES_SAMPLER_ARG"]);
        let message = c.errors[0].to_string();
        assert!(
            message.contains("OTEL_TRACES_SAMPLER_ARG") && message.contains("abc"),
            "{message}"
        );
    }

    #[test]
    fn log_export_follows_the_otel_logs_variables() {
        assert_eq!(config(&[]).log_export, LogExport::Json, "lines by default");
        let generic = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")]);
        assert_eq!(
            generic.log_export,
            LogExport::Otlp {
                endpoint: "http://collector:4317".into(),
                protocol: ExportProtocol::Grpc
            }
        );
        let own = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:4318/v1/logs",
            ),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2500"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "64"),
            ("OTEL_BLRP_EXPORT_TIMEOUT", "9000"),
        ]);
        assert!(own.errors.is_empty(), "{:?}", own.errors);
        assert_eq!(
            own.log_export,
            LogExport::Otlp {
                endpoint: "http://logs:4318".into(),
                protocol: ExportProtocol::HttpProtobuf
            },
            "the signal's own variables win; its full URL becomes a base"
        );
        assert_eq!(own.log_export_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(own.max_log_queue, 100);
        assert_eq!(own.log_schedule_delay, Duration::from_millis(50));
        assert_eq!(own.max_log_batch, 64);
        let generic = config(&[("OTEL_BLRP_EXPORT_TIMEOUT", "9000")]);
        assert_eq!(
            generic.log_export_timeout,
            Some(Duration::from_millis(9000))
        );
        let bad = config(&[("OTEL_BLRP_SCHEDULE_DELAY", "soon")]);
        assert_eq!(error_vars(&bad), ["OTEL_BLRP_SCHEDULE_DELAY"]);
        let bad = config(&[("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "0")]);
        assert_eq!(error_vars(&bad), ["OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"]);
        assert!(
            matches!(own.spans, SpanOutput::Otlp { ref endpoint, .. } if endpoint == "http://collector:4317")
        );
        let console = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_LOGS_EXPORTER", "console"),
        ]);
        assert_eq!(console.log_export, LogExport::Json);
        let none = config(&[("OTEL_LOGS_EXPORTER", "none")]);
        assert_eq!(none.log_export, LogExport::None);
        let bad = config(&[
            ("OTEL_LOGS_EXPORTER", "loki"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "smoke"),
        ]);
        assert_eq!(error_vars(&bad), ["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"]);
        let bad = config(&[("OTEL_LOGS_EXPORTER", "loki")]);
        assert_eq!(error_vars(&bad), ["OTEL_LOGS_EXPORTER"]);
        let bad = config(&[
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "collector:4317"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "0"),
        ]);
        assert_eq!(error_vars(&bad), ["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"]);
        let bad = config(&[("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "soon")]);
        assert_eq!(error_vars(&bad), ["OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"]);
    }

    #[test]
    fn log_sampling_is_opt_in() {
        assert_eq!(config(&[]).log_sampling, None);
        let on = config(&[("OBSERVE_LOG_SAMPLING", "ratio=0.1,burst=50")]);
        assert_eq!(
            on.log_sampling,
            Some(LogSampling::new().ratio(0.1).burst(50))
        );
        let bad = config(&[("OBSERVE_LOG_SAMPLING", "ratio=2")]);
        assert_eq!(error_vars(&bad), ["OBSERVE_LOG_SAMPLING"]);
    }

    #[test]
    fn span_limits_come_from_the_otel_variables() {
        let c = config(&[
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "200"),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "7"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "0"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "3"),
            ("OBSERVE_MAX_QUEUE_BYTES", "1048576"),
            ("OBSERVE_MAX_LOG_QUEUE_BYTES", "65536"),
        ]);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(
            c.span_limits,
            SpanLimits {
                attribute_value_length: 200,
                attribute_count: 7,
                event_count: 0,
                link_count: 3,
            },
            "the OTEL_SPAN_ spelling wins"
        );
        assert_eq!(c.max_queue_bytes, 1 << 20);
        assert_eq!(c.max_log_queue_bytes, 1 << 16);
        assert_eq!(config(&[]).span_limits, SpanLimits::default());
        let bad = config(&[("OTEL_SPAN_LINK_COUNT_LIMIT", "many")]);
        assert_eq!(error_vars(&bad), ["OTEL_SPAN_LINK_COUNT_LIMIT"]);
    }

    #[test]
    fn otlp_compression_and_headers_come_from_the_environment() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s%3Dcret, x-tenant=acme",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Tenant=beta"),
        ]);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert!(c.otlp.gzip);
        assert_eq!(
            c.otlp.headers,
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("X-Tenant".to_owned(), "beta".to_owned())
            ]
        );
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ]);
        assert!(!c.otlp.gzip, "the signal's own setting wins");
        let c = config(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
        assert_eq!(error_vars(&c), ["OTEL_EXPORTER_OTLP_COMPRESSION"]);
        assert!(c.errors[0].to_string().contains("`gzip` or `none`"));
        let c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign")]);
        assert_eq!(error_vars(&c), ["OTEL_EXPORTER_OTLP_HEADERS"]);
    }
}
