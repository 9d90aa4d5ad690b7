//! JSON log lines that carry the ids of the observed span they were written in.
//!
//! `init` installs a subscriber with this layer unless `LogOutput::Off`. To
//! keep a subscriber of your own, either add [`layer`] to it for observe's
//! JSON lines:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::registry().with(observe_runtime::logs::layer());
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! ```
//!
//! or keep your own `tracing_subscriber::fmt` output, with the ids added by
//! [`with_trace_ids`], and [`context_layer`] so that `tracing` spans carry
//! the observe context across tasks:
//!
//! ```no_run
//! use tracing_subscriber::fmt;
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::registry()
//!     .with(observe_runtime::logs::context_layer())
//!     .with(fmt::layer().event_format(observe_runtime::logs::with_trace_ids(fmt::format())));
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! ```
//!
//! A line inside an observed call:
//!
//! ```text
//! {"timestamp":"2026-11-21T22:47:22.123456Z","level":"INFO","target":"checkout","message":"reserving",
//!  "sku":"A-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","sampled":true,
//!  "service.name":"checkout","service.version":"1.0.0","deployment.environment":"dev"}
//! ```
//!
//! Outside any observed call `trace_id`, `span_id` and `sampled` are absent.
//! While [baggage](crate::baggage) is current, its entries on the allowlist
//! (`OBSERVE_BAGGAGE_ATTRIBUTES`) are added under their own keys.
//!
//! With OTLP log export ([`LogExport::Otlp`](crate::LogExport),
//! `OTEL_LOGS_EXPORTER=otlp`) the same layer sends each event as an OTLP
//! log record instead of a line: the ids in the record's `trace_id`,
//! `span_id` and `flags`, the level as severity, the message as body, the
//! other fields (masked alike) and the allowlisted baggage as attributes,
//! the `tracing` target as the scope name, and the service identity in the
//! resource the spans carry.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry_sdk::logs::SdkLogger;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::core::error::InitError;
use crate::core::health::health;
use crate::core::text::rfc3339;
use crate::hot::baggage;
use crate::hot::context;
use crate::hot::failure;
use crate::hot::pii;
use crate::signals::log_sampling::{self, Summary};
use crate::store;

pub use super::fmt_ids::{with_trace_ids, TraceIds};
pub use super::tracing_context::{context_layer, ContextLayer};

/// Where JSON log lines go.
#[derive(Clone)]
pub enum LogOutput {
    /// Standard output (the default).
    Stdout,
    /// Standard error.
    Stderr,
    /// A writer of your own; each line is written with one `write_all`.
    Writer(Arc<Mutex<dyn Write + Send>>),
    /// No subscriber is installed: bring your own and add
    /// [`logs::layer`](crate::logs::layer) to it.
    Off,
}

impl fmt::Debug for LogOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogOutput::Stdout => "Stdout",
            LogOutput::Stderr => "Stderr",
            LogOutput::Writer(_) => "Writer",
            LogOutput::Off => "Off",
        })
    }
}

/// The service fields every line carries.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceIdentity {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) environment: Option<String>,
}

static SERVICE: RwLock<Option<Arc<ServiceIdentity>>> = RwLock::new(None);

pub(crate) fn set_service(service: ServiceIdentity) {
    *SERVICE.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(service));
}

fn service() -> Option<Arc<ServiceIdentity>> {
    SERVICE.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// What the layer does with an event: set by `init` from the
/// configured [`LogExport`](crate::LogExport).
pub(crate) enum Destination {
    /// A JSON line on the layer's output.
    Json,
    /// A record to this logger, whose processor queues it for OTLP.
    Otlp(SdkLogger),
    /// Nothing.
    Nothing,
}

static DESTINATION: RwLock<Destination> = RwLock::new(Destination::Json);

pub(crate) fn set_destination(destination: Destination) {
    *DESTINATION.write().unwrap_or_else(|e| e.into_inner()) = destination;
}

thread_local! {
    /// Set on observe's own threads: an event written there (by the OTLP
    /// client's dependencies, say) becomes a line, never a record, so
    /// exporting records cannot feed itself.
    static OBSERVE_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of observe's own.
pub(crate) fn mark_observe_thread() {
    OBSERVE_THREAD.with(|t| t.set(true));
}

enum Sink {
    Stdout,
    Stderr,
    Writer(Arc<Mutex<dyn Write + Send>>),
}

/// The `tracing` layer that prints JSON lines with trace correlation, and
/// carries the observe context through `tracing` spans as
/// [`context_layer`] does (add one of the two, not both).
pub struct JsonLayer {
    sink: Sink,
    context: ContextLayer,
}

impl fmt::Debug for JsonLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonLayer")
    }
}

/// The JSON layer writing to standard output.
pub fn layer() -> JsonLayer {
    JsonLayer {
        sink: Sink::Stdout,
        context: ContextLayer::default(),
    }
}

/// The JSON layer writing to `output` (`LogOutput::Off` writes to stdout).
pub fn layer_with(output: &LogOutput) -> JsonLayer {
    let sink = match output {
        LogOutput::Stdout | LogOutput::Off => Sink::Stdout,
        LogOutput::Stderr => Sink::Stderr,
        LogOutput::Writer(w) => Sink::Writer(Arc::clone(w)),
    };
    JsonLayer {
        sink,
        context: ContextLayer::default(),
    }
}

pub(crate) fn install(output: &LogOutput, filter: &str) -> Result<(), InitError> {
    let targets = Targets::from_str(filter).map_err(|_| {
        InitError::invalid("RUST_LOG", filter, "expected `level` or `target=level,...`")
    })?;
    let subscriber = tracing_subscriber::registry().with(layer_with(output).with_filter(targets));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| InitError::SubscriberExists)
}

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.context.new_span(id, &ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.context.enter(id, &ctx);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        self.context.exit(id);
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let ids = context::current_ids();
        if *event.metadata().level() == tracing::Level::ERROR && ids.is_valid() {
            failure::note_error_logged(ids.span_id);
        }
        let verdict = log_sampling::decide(event.metadata(), &ids);
        if !verdict.keep && !verdict.summaries {
            return;
        }
        let summaries = if verdict.summaries {
            log_sampling::take_summaries()
        } else {
            Vec::new()
        };
        let destination = DESTINATION.read().unwrap_or_else(|e| e.into_inner());
        let otlp = match &*destination {
            Destination::Nothing => return,
            Destination::Otlp(logger) if !OBSERVE_THREAD.with(Cell::get) => Some(logger),
            Destination::Json | Destination::Otlp(_) => None,
        };
        for summary in &summaries {
            match otlp {
                Some(logger) => emit_summary(logger, summary),
                None => self.write_line(render_summary(summary)),
            }
        }
        if verdict.keep {
            // The debug pages' store keeps the lines of sampled traces.
            let stored = store::is_on() && ids.is_valid() && ids.sampled();
            let level = event.metadata().level().as_str();
            match otlp {
                Some(logger) => {
                    emit(logger, event);
                    if stored {
                        store::offer_log(ids.trace_id, ids.span_id, level, &render(event));
                    }
                }
                None => {
                    let line = render(event);
                    if stored {
                        store::offer_log(ids.trace_id, ids.span_id, level, &line);
                    }
                    self.write_line(line);
                }
            }
        }
    }
}

impl JsonLayer {
    fn write_line(&self, line: String) {
        let _ = match &self.sink {
            Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            Sink::Writer(w) => w
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(line.as_bytes()),
        };
    }
}

/// An event as an OTLP log record, handed to `logger`'s queue.
fn emit(logger: &SdkLogger, event: &Event<'_>) {
    let meta = event.metadata();
    let mut record = logger.create_log_record();
    record.set_timestamp(SystemTime::now());
    let (number, text) = severity(*meta.level());
    record.set_severity_number(number);
    record.set_severity_text(text);
    record.set_target(meta.target());
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    if let Some(Value::String(message)) = fields.remove("message") {
        record.set_body(AnyValue::String(message.into()));
    }
    for (key, value) in fields.0 {
        match key {
            Cow::Borrowed(key) => record.add_attribute(key, any_value(value)),
            Cow::Owned(key) => record.add_attribute(key, any_value(value)),
        }
    }
    baggage::with_current(|baggage| {
        if let Some(baggage) = baggage {
            baggage::allowlisted(baggage, |key, value| {
                record.add_attribute(key.to_owned(), value.to_owned());
            });
        }
    });
    let current = context::current_ids();
    if current.is_valid() {
        record.set_trace_context(
            TraceId::from(current.trace_id),
            SpanId::from(current.span_id),
            Some(TraceFlags::new(current.flags)),
        );
    }
    logger.emit(record);
}

const SUMMARY_MESSAGE: &str = "log events suppressed by sampling";

/// The summary of a callsite's suppressed events, as a record.
fn emit_summary(logger: &SdkLogger, summary: &Summary) {
    let mut record = logger.create_log_record();
    record.set_timestamp(SystemTime::now());
    record.set_severity_number(Severity::Info);
    record.set_severity_text("INFO");
    record.set_target("observe");
    record.set_body(AnyValue::String(SUMMARY_MESSAGE.into()));
    record.add_attribute("callsite", summary.callsite.clone());
    record.add_attribute("suppressed", summary.suppressed as i64);
    logger.emit(record);
}

/// The summary of a callsite's suppressed events, as a line.
fn render_summary(summary: &Summary) -> String {
    let mut object = Map::new();
    object.insert(
        "timestamp".into(),
        Value::String(rfc3339(SystemTime::now())),
    );
    object.insert("level".into(), Value::String("INFO".into()));
    object.insert("target".into(), Value::String("observe".into()));
    object.insert("message".into(), Value::String(SUMMARY_MESSAGE.into()));
    object.insert("callsite".into(), Value::String(summary.callsite.clone()));
    object.insert("suppressed".into(), Value::from(summary.suppressed));
    add_service(&mut object);
    let mut line = Value::Object(object).to_string();
    line.push('\n');
    line
}

fn add_service(object: &mut Map<String, Value>) {
    if let Some(service) = service() {
        object.insert("service.name".into(), Value::String(service.name.clone()));
        object.insert(
            "service.version".into(),
            Value::String(service.version.clone()),
        );
        if let Some(environment) = &service.environment {
            object.insert(
                "deployment.environment".into(),
                Value::String(environment.clone()),
            );
        }
    }
}

/// The OpenTelemetry severity of a `tracing` level (the first number of
/// each range, as the logs data model maps them).
fn severity(level: tracing::Level) -> (Severity, &'static str) {
    match level {
        tracing::Level::TRACE => (Severity::Trace, "TRACE"),
        tracing::Level::DEBUG => (Severity::Debug, "DEBUG"),
        tracing::Level::INFO => (Severity::Info, "INFO"),
        tracing::Level::WARN => (Severity::Warn, "WARN"),
        tracing::Level::ERROR => (Severity::Error, "ERROR"),
    }
}

/// A field's value as the JSON line has it, as an attribute value.
fn any_value(value: Value) -> AnyValue {
    match value {
        Value::Bool(b) => AnyValue::Boolean(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => AnyValue::Int(i),
            // A u64 past i64::MAX keeps its digits.
            _ if n.is_u64() => AnyValue::String(n.to_string().into()),
            (None, Some(f)) => AnyValue::Double(f),
            (None, None) => AnyValue::String(n.to_string().into()),
        },
        Value::String(s) => AnyValue::String(s.into()),
        other => AnyValue::String(other.to_string().into()),
    }
}

fn render(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let message = fields
        .remove("message")
        .unwrap_or(Value::String(String::new()));
    // Allowlisted baggage entries (one thread-local load when there is
    // none); an entry replaces an event field of its name.
    baggage::with_current(|baggage| {
        if let Some(baggage) = baggage {
            baggage::allowlisted(baggage, |key, value| {
                fields.insert(Cow::Owned(key.to_owned()), Value::String(value.to_owned()));
            });
        }
    });
    // Written straight into the line, in this order; a field named like one
    // of observe's keys is left out, so a line never has a key twice.
    let mut line = Vec::with_capacity(256);
    line.extend_from_slice(b"{\"timestamp\":\"");
    line.extend_from_slice(rfc3339(SystemTime::now()).as_bytes());
    line.extend_from_slice(b"\",\"level\":\"");
    line.extend_from_slice(meta.level().as_str().as_bytes());
    line.extend_from_slice(b"\",\"target\":");
    json_str(&mut line, meta.target());
    line.extend_from_slice(b",\"message\":");
    json(&mut line, &message);
    for (key, value) in &fields.0 {
        if !LINE_KEYS.contains(&key.as_ref()) {
            line.push(b',');
            json_str(&mut line, key);
            line.push(b':');
            json(&mut line, value);
        }
    }
    // The ids only: a log line does not need the context's `tracestate`.
    let current = context::current_ids();
    if current.is_valid() {
        let _ = write!(
            line,
            ",\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\",\"sampled\":{}",
            current.trace_id,
            current.span_id,
            current.sampled()
        );
    }
    if let Some(service) = service() {
        line.extend_from_slice(b",\"service.name\":");
        json_str(&mut line, &service.name);
        line.extend_from_slice(b",\"service.version\":");
        json_str(&mut line, &service.version);
        if let Some(environment) = &service.environment {
            line.extend_from_slice(b",\"deployment.environment\":");
            json_str(&mut line, environment);
        }
    }
    line.extend_from_slice(b"}\n");
    // Only `serde_json`'s output and `str`s were written.
    String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The keys observe writes on every line (the debug pages leave them out of
/// the fields they show beside a message).
pub(crate) const LINE_KEYS: [&str; 10] = [
    "timestamp",
    "level",
    "target",
    "message",
    "trace_id",
    "span_id",
    "sampled",
    "service.name",
    "service.version",
    "deployment.environment",
];

/// `text` as a JSON string, appended to `line`.
fn json_str(line: &mut Vec<u8>, text: &str) {
    // Writing to a `Vec` cannot fail.
    let _ = serde_json::to_writer(line, text);
}

/// `value` as JSON, appended to `line`.
fn json(line: &mut Vec<u8>, value: &Value) {
    // Writing to a `Vec` cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(line, value);
}

/// An event's fields in the order recorded, by name: a name recorded
/// again keeps its place and takes the new value, as a map would. A line
/// has a handful of fields, so a scan beats hashing each name into a map
/// and allocating it as a key.
#[derive(Default)]
struct JsonFields(Vec<(Cow<'static, str>, Value)>);

/// Masks the values of event fields that hold personal data (on by
/// default; `Config::log_redaction`).
static REDACTION: AtomicBool = AtomicBool::new(true);

pub(crate) fn set_redaction(on: bool) {
    REDACTION.store(on, Ordering::Relaxed);
}

impl JsonFields {
    fn insert(&mut self, key: Cow<'static, str>, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value under `key`, taken out; the last field takes its place.
    fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(i).1)
    }

    /// A text value, masked when its key names personal data; a marked
    /// type's `[REDACTED]` is counted as masked too.
    fn text(&mut self, field: &Field, text: String) {
        let name = field.name();
        let value = if text == pii::REDACTED_TEXT {
            redacted();
            text
        } else if sensitive(name) {
            redacted();
            pii::mask(text.as_str()).to_string()
        } else {
            text
        };
        self.insert(Cow::Borrowed(name), Value::String(value));
    }

    /// A number, masked like text under a key that names personal data (a
    /// phone number in a `u64`).
    fn number(&mut self, field: &Field, value: impl Into<Value> + fmt::Display) {
        if sensitive(field.name()) {
            redacted();
            let masked = pii::mask(value.to_string().as_str()).to_string();
            self.insert(Cow::Borrowed(field.name()), Value::String(masked));
        } else {
            self.insert(Cow::Borrowed(field.name()), value.into());
        }
    }
}

/// Whether the value under `name` is masked: never the message, which has
/// no key to go by (a marked type in it prints `[REDACTED]` by itself).
fn sensitive(name: &'static str) -> bool {
    name != "message" && REDACTION.load(Ordering::Relaxed) && sensitive_key(name)
}

/// [`pii::is_sensitive_key`], decided once per field name: names are the
/// callsites' `&'static str`s, so the set is as small as the program's
/// log statements, and a line pays one lookup per field.
fn sensitive_key(name: &'static str) -> bool {
    static DECIDED: RwLock<Option<HashMap<&'static str, bool>>> = RwLock::new(None);
    if let Some(&sensitive) = DECIDED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|decided| decided.get(name))
    {
        return sensitive;
    }
    let sensitive = pii::is_sensitive_key(name);
    DECIDED
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(name, sensitive);
    sensitive
}

fn redacted() {
    health().log_fields_redacted.inc();
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field, value);
    }
    // A bool cannot carry personal data (`email_verified = true`).
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(Cow::Borrowed(field.name()), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_utc_timestamps() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_301_242_123_456);
        assert_eq!(rfc3339(t), "2026-11-21T22:47:22.123456Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
    }

    /// A field recorded twice is written once, with its last value, and the
    /// message is not repeated among the fields.
    #[test]
    fn a_line_has_each_key_once() {
        let capture = Arc::new(Mutex::new(Vec::<u8>::new()));
        let output = LogOutput::Writer(capture.clone());
        let subscriber = tracing_subscriber::registry().with(layer_with(&output));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(sku = "A-1", qty = 1, qty = 2, "reserving");
        });
        let line = String::from_utf8(capture.lock().unwrap().clone()).unwrap();
        assert_eq!(line.matches("\"qty\":").count(), 1, "{line}");
        assert_eq!(line.matches("\"message\":").count(), 1, "{line}");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["qty"], 2, "{line}");
        assert_eq!(value["sku"], "A-1", "{line}");
        assert_eq!(value["message"], "reserving", "{line}");
    }
}
