//! The store itself, plain data: ended spans per span name in bounded rings
//! by latency bucket, error samples apart, the traces those samples belong
//! to with their log lines, and a byte cap over all of it.
//!
//! A trace is kept while one of its spans is among the samples of its
//! name's ring; when the last one rotates out, the trace goes with it. The
//! byte cap evicts the oldest trace first, and counts what it evicted.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Text the store keeps: borrowed when it is the callsite's own, so an
/// ordinary span costs no allocation beyond its trace's.
pub(crate) type Text = Cow<'static, str>;

/// The lower bounds of the latency buckets, in nanoseconds, as zPages'
/// tracez has them: 0, 10 µs, 100 µs, 1 ms, 10 ms, 100 ms, 1 s, 10 s.
pub(crate) const BUCKET_FLOORS_NANOS: [u64; BUCKETS] = [
    0,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// The buckets' names, for the pages and the JSON.
pub(crate) const BUCKET_NAMES: [&str; BUCKETS] = [
    ">=0s", ">=10us", ">=100us", ">=1ms", ">=10ms", ">=100ms", ">=1s", ">=10s",
];

pub(crate) const BUCKETS: usize = 8;

/// Samples kept per span name in each latency bucket, and among its errors.
pub(crate) const SAMPLES_PER_BUCKET: usize = 16;

/// Log lines kept per trace; later ones are counted and let go.
pub(crate) const LOG_LINES_PER_TRACE: usize = 256;

/// The latency bucket of a duration.
pub(crate) fn bucket_of(duration_nanos: u64) -> usize {
    BUCKET_FLOORS_NANOS
        .iter()
        .rposition(|floor| duration_nanos >= *floor)
        .unwrap_or(0)
}

/// How a span ended, as exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    Panic,
    Cancelled,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The exported status is ERROR.
    pub(crate) fn is_error(self) -> bool {
        matches!(self, Outcome::Error | Outcome::Panic)
    }
}

/// A span event (today the `exception` of an error or a panic).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Event {
    pub(crate) name: &'static str,
    pub(crate) unix_nanos: u64,
    pub(crate) attributes: Vec<(Text, Text)>,
}

/// The function a span was recorded in: its `code.*` attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Code {
    pub(crate) function: &'static str,
    pub(crate) namespace: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
}

/// An ended span, as it was exported.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Span {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    /// `0` for a root span.
    pub(crate) parent_span_id: u64,
    pub(crate) parent_remote: bool,
    pub(crate) name: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) start_unix_nanos: u64,
    pub(crate) duration_nanos: u64,
    pub(crate) outcome: Outcome,
    /// The status description of an error or a panic.
    pub(crate) status_message: Option<String>,
    /// `error.type`, for an error or a panic.
    pub(crate) error_type: &'static str,
    /// The attributes recorded by the call (`fields(..)`, labels, a
    /// request's conventions); [`Span::exported_attributes`] adds the rest.
    pub(crate) attributes: Vec<(Text, Text)>,
    /// `None` for a request's span, which has no function of its own.
    pub(crate) code: Option<Code>,
    /// Something was cut or left out by the span limits.
    pub(crate) truncated: bool,
    pub(crate) events: Vec<Event>,
    /// Linked contexts: trace id and span id.
    pub(crate) links: Vec<(u128, u64)>,
}

impl Span {
    /// The span's attributes as they are exported: the call's own, then
    /// `observe.truncated`, `code.*`, `observe.outcome` and `error.type`
    /// (as `export/convert.rs` adds them).
    pub(crate) fn exported_attributes(&self) -> Vec<(Text, Text)> {
        let mut out = self.attributes.clone();
        if self.truncated {
            out.push(("observe.truncated".into(), "true".into()));
        }
        if let Some(code) = self.code {
            out.push(("code.function".into(), code.function.into()));
            out.push(("code.namespace".into(), code.namespace.into()));
            out.push(("code.filepath".into(), code.file.into()));
            out.push(("code.lineno".into(), code.line.to_string().into()));
        }
        match self.outcome {
            Outcome::Ok => {}
            Outcome::Cancelled => out.push(("observe.outcome".into(), "cancelled".into())),
            Outcome::Error | Outcome::Panic => {
                out.push(("error.type".into(), self.error_type.into()));
            }
        }
        out
    }

    fn bytes(&self) -> usize {
        let pairs = |pairs: &[(Text, Text)]| -> usize {
            pairs
                .iter()
                .map(|(k, v)| std::mem::size_of::<(String, String)>() + k.len() + v.len())
                .sum()
        };
        std::mem::size_of::<Span>()
            + pairs(&self.attributes)
            + self.status_message.as_ref().map_or(0, String::len)
            + self
                .events
                .iter()
                .map(|e| std::mem::size_of::<Event>() + pairs(&e.attributes))
                .sum::<usize>()
            + self.links.len() * std::mem::size_of::<(u128, u64)>()
    }
}

/// A log line written inside a span of a sampled trace: the JSON line as
/// the log layer rendered it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogLine {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) unix_nanos: u64,
    pub(crate) level: &'static str,
    pub(crate) line: String,
}

impl LogLine {
    fn bytes(&self) -> usize {
        std::mem::size_of::<LogLine>() + self.line.len()
    }
}

/// One trace: its spans in arrival order, and its log lines.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trace {
    pub(crate) spans: Vec<Span>,
    pub(crate) logs: Vec<LogLine>,
    /// Log lines past [`LOG_LINES_PER_TRACE`].
    pub(crate) logs_dropped: u64,
}

struct Kept {
    trace: Trace,
    bytes: usize,
    /// How many of its spans are in a name's sample ring.
    sampled: usize,
    /// Its place in `Store::arrival`.
    generation: u64,
}

#[derive(Clone, Copy)]
struct SampleRef {
    trace_id: u128,
    span_id: u64,
}

#[derive(Default)]
struct Name {
    kind: &'static str,
    counts: [u64; BUCKETS],
    errors: u64,
    latency: [VecDeque<SampleRef>; BUCKETS],
    error_samples: VecDeque<SampleRef>,
}

/// Trace ids are random in all 16 bytes: their halves folded are hash
/// enough, without SipHash's cost on every span.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `u128` keys; FNV-1a for completeness.
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u128(&mut self, id: u128) {
        self.0 = (id as u64) ^ ((id >> 64) as u64);
    }
}

/// Which samples of a span name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Samples {
    /// Spans that did not fail, in a latency bucket.
    Latency(usize),
    /// Spans whose status is ERROR.
    Errors,
}

/// A span name's counts, for the summary page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameSummary {
    pub(crate) name: &'static str,
    pub(crate) kind: &'static str,
    /// Spans that did not fail, by latency bucket, since the store started.
    pub(crate) counts: [u64; BUCKETS],
    pub(crate) errors: u64,
    /// Samples kept now, by latency bucket.
    pub(crate) kept: [usize; BUCKETS],
    pub(crate) kept_errors: usize,
    /// Calls started and not yet ended now, sampled or not (zPages'
    /// "running"); filled in by [`super::summary`].
    pub(crate) running: u64,
}

/// What the store let go so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Evicted {
    /// Spans evicted with their trace to stay within the byte cap.
    pub(crate) spans: u64,
    /// Log lines evicted with their trace to stay within the byte cap.
    pub(crate) log_lines: u64,
    /// Log lines past a trace's bound.
    pub(crate) trace_limit: u64,
}

pub(crate) struct Store {
    cap: usize,
    bytes: usize,
    traces: HashMap<u128, Kept, BuildHasherDefault<IdHasher>>,
    /// Trace ids with their generation, oldest first: the byte cap's
    /// eviction order. Entries of traces gone already are skipped.
    arrival: VecDeque<(u128, u64)>,
    next_generation: u64,
    names: BTreeMap<&'static str, Name>,
    evicted: Evicted,
}

impl Store {
    /// An empty store that holds at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> Store {
        Store {
            cap,
            bytes: 0,
            traces: HashMap::default(),
            arrival: VecDeque::new(),
            next_generation: 0,
            names: BTreeMap::new(),
            evicted: Evicted::default(),
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn evicted(&self) -> Evicted {
        self.evicted
    }

    fn trace_entry(&mut self, trace_id: u128) -> &mut Kept {
        let generation = &mut self.next_generation;
        let arrival = &mut self.arrival;
        self.traces.entry(trace_id).or_insert_with(|| {
            *generation += 1;
            arrival.push_back((trace_id, *generation));
            Kept {
                trace: Trace::default(),
                bytes: 0,
                sampled: 0,
                generation: *generation,
            }
        })
    }

    /// Adds an ended span: counted under its name and bucket, kept as a
    /// sample, and put in its trace, in whatever order its trace's spans
    /// arrive.
    pub(crate) fn add_span(&mut self, span: Span) {
        let bytes = span.bytes();
        let sample = SampleRef {
            trace_id: span.trace_id,
            span_id: span.span_id,
        };
        let name = self.names.entry(span.name).or_default();
        name.kind = span.kind;
        let ring = if span.outcome.is_error() {
            name.errors += 1;
            &mut name.error_samples
        } else {
            let bucket = bucket_of(span.duration_nanos);
            name.counts[bucket] += 1;
            &mut name.latency[bucket]
        };
        ring.push_back(sample);
        let rotated = if ring.len() > SAMPLES_PER_BUCKET {
            ring.pop_front()
        } else {
            None
        };
        let kept = self.trace_entry(span.trace_id);
        kept.trace.spans.push(span);
        kept.bytes += bytes;
        kept.sampled += 1;
        self.bytes += bytes;
        if let Some(rotated) = rotated {
            self.release(rotated);
        }
        self.enforce_cap();
    }

    /// Adds a log line to its trace, within the per-trace bound.
    pub(crate) fn add_log(&mut self, line: LogLine) {
        let bytes = line.bytes();
        let kept = self.trace_entry(line.trace_id);
        if kept.trace.logs.len() >= LOG_LINES_PER_TRACE {
            kept.trace.logs_dropped += 1;
            self.evicted.trace_limit += 1;
            return;
        }
        kept.trace.logs.push(line);
        kept.bytes += bytes;
        self.bytes += bytes;
        self.enforce_cap();
    }

    /// A sample left its ring: its trace goes when it has no sample left.
    fn release(&mut self, sample: SampleRef) {
        let Some(kept) = self.traces.get_mut(&sample.trace_id) else {
            // Evicted by the byte cap already.
            return;
        };
        kept.sampled = kept.sampled.saturating_sub(1);
        if kept.sampled == 0 {
            if let Some(kept) = self.traces.remove(&sample.trace_id) {
                self.bytes -= kept.bytes;
            }
            self.compact_arrival();
        }
    }

    /// Evicts the oldest traces until the store is within its cap.
    fn enforce_cap(&mut self) {
        while self.bytes > self.cap {
            let Some((trace_id, generation)) = self.arrival.pop_front() else {
                break;
            };
            let current = self
                .traces
                .get(&trace_id)
                .is_some_and(|kept| kept.generation == generation);
            if !current {
                continue;
            }
            if let Some(kept) = self.traces.remove(&trace_id) {
                self.bytes -= kept.bytes;
                self.evicted.spans += kept.trace.spans.len() as u64;
                self.evicted.log_lines += kept.trace.logs.len() as u64;
            }
        }
    }

    /// Drops the eviction order's entries of traces gone, once they are
    /// as many as the traces kept.
    fn compact_arrival(&mut self) {
        if self.arrival.len() > 2 * self.traces.len() + 1024 {
            let traces = &self.traces;
            self.arrival.retain(|(trace_id, generation)| {
                traces
                    .get(trace_id)
                    .is_some_and(|kept| kept.generation == *generation)
            });
        }
    }

    /// Every span name with its counts, by name.
    pub(crate) fn summary(&self) -> Vec<NameSummary> {
        self.names
            .iter()
            .map(|(name, entry)| NameSummary {
                name,
                kind: entry.kind,
                counts: entry.counts,
                errors: entry.errors,
                kept: std::array::from_fn(|b| self.present(&entry.latency[b]).count()),
                kept_errors: self.present(&entry.error_samples).count(),
                running: 0,
            })
            .collect()
    }

    fn present<'a>(&'a self, ring: &'a VecDeque<SampleRef>) -> impl Iterator<Item = &'a Span> {
        ring.iter().rev().filter_map(|sample| {
            self.traces
                .get(&sample.trace_id)?
                .trace
                .spans
                .iter()
                .find(|span| span.span_id == sample.span_id)
        })
    }

    /// The kept samples of `name`, newest first.
    pub(crate) fn samples(&self, name: &str, which: Samples) -> Vec<Span> {
        let Some(entry) = self.names.get(name) else {
            return Vec::new();
        };
        let ring = match which {
            Samples::Latency(bucket) => match entry.latency.get(bucket) {
                Some(ring) => ring,
                None => return Vec::new(),
            },
            Samples::Errors => &entry.error_samples,
        };
        self.present(ring).cloned().collect()
    }

    /// A kept trace: its spans by start time, its log lines by time.
    pub(crate) fn trace(&self, trace_id: u128) -> Option<Trace> {
        let mut trace = self.traces.get(&trace_id)?.trace.clone();
        trace
            .spans
            .sort_by_key(|span| (span.start_unix_nanos, span.span_id));
        trace.logs.sort_by_key(|line| line.unix_nanos);
        Some(trace)
    }
}
