//! The static data of one annotated function (its callsite), and the plain
//! types that describe a call's kind and outcome. The expansion of
//! `#[observe]` builds these in `static`s; nothing here touches per-thread
//! state.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use once_cell::sync::OnceCell;

/// Upper bounds of the default latency buckets, in seconds: three per decade
/// from 0.5 ms to 30 s, so the 1 ms, 10 ms, 100 ms, 1 s and 10 s regimes fall
/// in buckets of their own.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// [`LATENCY_BUCKETS`] in nanoseconds.
#[doc(hidden)]
pub const LATENCY_BUCKET_NANOS: [u64; 15] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// What a span represents, as in OpenTelemetry's `SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// An operation inside the application (the default).
    Internal,
    /// Handles a request from a remote client.
    Server,
    /// Sends a request to a remote server.
    Client,
    /// Publishes a message.
    Producer,
    /// Processes a received message.
    Consumer,
}

impl SpanKind {
    /// The lowercase name used in logs and the console output.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// Everything known about one annotated function at compile time, stored in a
/// `static` next to it.
///
/// Aligned to 16 so that a span record keeps four flags in the low bits of
/// its pointer to the callsite.
#[repr(align(16))]
pub struct Callsite {
    /// The span name, exactly as written in `span = "..."`.
    pub name: &'static str,
    /// The span kind.
    pub kind: SpanKind,
    /// `code.function`: the function's name.
    pub function: &'static str,
    /// `code.namespace`: the module path.
    pub namespace: &'static str,
    /// `code.filepath`.
    pub file: &'static str,
    /// `code.lineno`.
    pub line: u32,
    /// The histogram calls are observed in, if any.
    pub metric: Option<&'static Metric>,
    /// Whether an `Err` or panic writes the failure log event
    /// (`#[observe(log_errors = false)]` turns it off).
    pub(crate) log_failures: bool,
    /// Dense index (1-based) assigned on first use; [`UNREGISTERED`] until
    /// then.
    index: AtomicU32,
    /// The value set of each label, in `Metric::labels` order; set by the
    /// first call, since only the call knows the values' types.
    pub(crate) label_sets: OnceCell<Box<[&'static [&'static str]]>>,
}

/// The latency histogram of one callsite: its family, buckets and labels.
#[derive(Debug)]
pub struct Metric {
    /// The family name; `None` for the default family,
    /// `[<prefix>_]operation_duration_seconds`.
    pub family: Option<&'static str>,
    /// Bucket upper bounds, in seconds, strictly increasing.
    pub buckets: &'static [f64],
    /// The same bounds in nanoseconds, which the hot path compares against.
    pub bucket_nanos: &'static [u64],
    /// Prometheus label names from `labels(...)` (`payment_method`).
    pub labels: &'static [&'static str],
    /// Whether the series carry `operation` and `outcome` (an observed
    /// function's family); an HTTP or RPC family is labelled by its own
    /// semantic conventions instead, and keeps only `error_type`.
    pub operation_labels: bool,
    /// The family's `# HELP` text, when it is not the operations' one.
    pub help: Option<&'static str>,
}

impl Metric {
    /// The default family and its buckets, with `labels`.
    pub const fn latency(labels: &'static [&'static str]) -> Metric {
        Metric {
            family: None,
            buckets: &LATENCY_BUCKETS,
            bucket_nanos: &LATENCY_BUCKET_NANOS,
            labels,
            operation_labels: true,
            help: None,
        }
    }

    /// A custom family. The macro has checked the name and the buckets.
    pub const fn custom(
        family: &'static str,
        buckets: &'static [f64],
        bucket_nanos: &'static [u64],
        labels: &'static [&'static str],
    ) -> Metric {
        Metric {
            family: Some(family),
            buckets,
            bucket_nanos,
            labels,
            operation_labels: true,
            help: None,
        }
    }

    /// A family of a protocol's semantic conventions (HTTP, RPC): series
    /// labelled by `labels` and `error_type` only.
    #[cfg(any(feature = "tower", feature = "reqwest", feature = "tonic"))]
    pub(crate) const fn conventional(
        family: &'static str,
        help: &'static str,
        buckets: &'static [f64],
        bucket_nanos: &'static [u64],
        labels: &'static [&'static str],
    ) -> Metric {
        Metric {
            family: Some(family),
            buckets,
            bucket_nanos,
            labels,
            operation_labels: false,
            help: Some(help),
        }
    }
}

/// What the HTTP and gRPC layers name a request's span and series by: a
/// callsite made on the first request of a route, server or method, leaked
/// and kept for the process (the layers cap how many).
#[cfg(any(feature = "tower", feature = "reqwest", feature = "tonic"))]
impl Callsite {
    pub(crate) fn leaked(name: &str, kind: SpanKind, metric: &'static Metric) -> &'static Callsite {
        Box::leak(Box::new(Callsite::new(
            Box::leak(Box::<str>::from(name)),
            kind,
            "",
            module_path!(),
            "",
            0,
            Some(metric),
        )))
    }
}

/// The one-value set of a label whose value is fixed per callsite (a route,
/// a server, a method), leaked with it.
#[cfg(any(feature = "tower", feature = "reqwest", feature = "tonic"))]
pub(crate) fn leaked_value_set(value: &str) -> &'static [&'static str] {
    Box::leak(Box::new([&*Box::leak(Box::<str>::from(value))]))
}

impl Callsite {
    /// Used by the expansion of `#[observe]` only.
    pub const fn new(
        name: &'static str,
        kind: SpanKind,
        function: &'static str,
        namespace: &'static str,
        file: &'static str,
        line: u32,
        metric: Option<&'static Metric>,
    ) -> Callsite {
        Callsite {
            name,
            kind,
            function,
            namespace,
            file,
            line,
            metric,
            log_failures: true,
            index: AtomicU32::new(UNREGISTERED),
            label_sets: OnceCell::new(),
        }
    }

    /// `#[observe(log_errors = false)]`: no failure log event for this
    /// function's `Err` or panic. Used by the expansion only.
    pub const fn without_failure_log(mut self) -> Callsite {
        self.log_failures = false;
        self
    }

    /// The callsite's dense index (1-based), registering it on first use.
    #[inline]
    pub(crate) fn index(&'static self) -> u32 {
        match self.index.load(Ordering::Acquire) {
            UNREGISTERED => register_callsite(self, &self.index),
            index => index,
        }
    }

    /// The callsite's dense index, or [`UNREGISTERED`] before its first use:
    /// one plain load, for the per-thread tables indexed by callsite, which
    /// compare it with their length, and so send an unregistered callsite
    /// down their slow path with the same compare.
    #[inline(always)]
    pub(crate) fn index_if_registered(&self) -> u32 {
        self.index.load(Ordering::Relaxed)
    }

    /// The label values of the label combination `combination`, in
    /// `Metric::labels` order.
    pub(crate) fn label_values(&self, combination: u32) -> Vec<&'static str> {
        let Some(sets) = self.label_sets.get() else {
            return Vec::new();
        };
        let mut rest = combination as usize;
        let mut values: Vec<&'static str> = sets
            .iter()
            .rev()
            .map(|set| {
                let len = set.len().max(1);
                let value = set.get(rest % len).copied().unwrap_or("");
                rest /= len;
                value
            })
            .collect();
        values.reverse();
        values
    }
}

impl fmt::Debug for Callsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callsite")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("function", &self.function)
            .field("namespace", &self.namespace)
            .field("file", &self.file)
            .field("line", &self.line)
            .field("metric", &self.metric)
            .finish_non_exhaustive()
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// Returned normally (including any non-`Result` value, and `Ok`).
    Ok = 0,
    /// Returned `Err`.
    Error = 1,
    /// Panicked.
    Panic = 2,
    /// The future was dropped before it completed.
    Cancelled = 3,
}

impl OutcomeKind {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Error => "error",
            OutcomeKind::Panic => "panic",
            OutcomeKind::Cancelled => "cancelled",
        }
    }
}

/// The result of a call as seen by observe: borrowed, so classifying an `Ok`
/// costs nothing and an error is formatted only when its span is exported.
pub enum Outcome<'a> {
    /// Success.
    Ok,
    /// `Err(e)`: the low-cardinality type name and the error itself.
    Err {
        /// `error.type`.
        error_type: &'static str,
        /// The error, for the status description and `exception.message`.
        error: ErrorRef<'a>,
    },
}

/// A borrowed error, formatted with `Display` when it has it, `Debug` otherwise.
pub enum ErrorRef<'a> {
    /// Formatted with `Display`.
    Display(&'a dyn fmt::Display),
    /// Formatted with `Debug`.
    Debug(&'a dyn fmt::Debug),
}

impl fmt::Display for ErrorRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorRef::Display(e) => fmt::Display::fmt(e, f),
            ErrorRef::Debug(e) => fmt::Debug::fmt(e, f),
        }
    }
}

/// The final path segment of a type name, without generic arguments:
/// `checkout::OrderError` -> `OrderError`, `std::io::error::Error` -> `Error`.
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let base = match full.find('<') {
        Some(generics) => &full[..generics],
        None => full,
    };
    match base.rfind("::") {
        Some(sep) => &base[sep + 2..],
        None => base,
    }
}

/// Gives an error a low-cardinality `error.type`.
///
/// By default an `Err(e)` is reported with the short name of `e`'s type
/// (`OrderError`). Implement this trait to report per value instead, so an
/// enum can tell `validation` from `database`:
///
/// ```
/// enum OrderError { OutOfStock, Declined }
/// impl observe_runtime::ErrorType for OrderError {
///     fn error_type(&self) -> &'static str {
///         match self {
///             OrderError::OutOfStock => "out_of_stock",
///             OrderError::Declined => "payment_declined",
///         }
///     }
/// }
/// ```
///
/// The value is a metric label: keep the set of values small and fixed.
pub trait ErrorType {
    /// The `error.type` of this error value.
    fn error_type(&self) -> &'static str;
}

/// A callsite's index before its first use: larger than any table.
const UNREGISTERED: u32 = u32::MAX;

static CALLSITES: Mutex<Vec<&'static Callsite>> = Mutex::new(Vec::new());

fn callsites() -> std::sync::MutexGuard<'static, Vec<&'static Callsite>> {
    CALLSITES.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many callsites have an index: the largest index given.
pub(crate) fn registered() -> usize {
    callsites().len()
}

/// Every callsite with an index, in index order (index 1 first).
pub(crate) fn all() -> Vec<&'static Callsite> {
    callsites().clone()
}

/// Gives `callsite` its dense index; runs once per callsite.
#[cold]
pub(crate) fn register_callsite(callsite: &'static Callsite, index: &AtomicU32) -> u32 {
    let mut all = callsites();
    match index.load(Ordering::Acquire) {
        UNREGISTERED => {
            all.push(callsite);
            let assigned = u32::try_from(all.len())
                .ok()
                .filter(|&i| i != UNREGISTERED)
                .expect("fewer than 2^32 - 1 callsites");
            index.store(assigned, Ordering::Release);
            assigned
        }
        assigned => assigned,
    }
}
