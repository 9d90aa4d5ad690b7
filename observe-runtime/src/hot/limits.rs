//! The OpenTelemetry span limits, applied where a sampled span records its
//! data, so that what waits for export is bounded in bytes, not only in
//! spans: `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` (and its `OTEL_SPAN_`
//! spelling), `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` (and `OTEL_ATTRIBUTE_COUNT_LIMIT`),
//! `OTEL_SPAN_EVENT_COUNT_LIMIT` and `OTEL_SPAN_LINK_COUNT_LIMIT`.
//!
//! A span that lost anything to them carries `observe.truncated = true`, and
//! its export says how many attributes and links were dropped.

use std::sync::atomic::{AtomicUsize, Ordering};

use opentelemetry::{Array, StringValue, Value};

/// The limits a sampled span's data is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// The longest string attribute value, in bytes; longer values (and
    /// error messages) are cut at a UTF-8 boundary. OpenTelemetry's default
    /// is no limit; observe's is 4 096, so one `fields(body = ..)` cannot
    /// hold megabytes per span while export is behind.
    pub attribute_value_length: usize,
    /// Attributes per span (128, OpenTelemetry's default).
    pub attribute_count: usize,
    /// Events per span (128): observe records one, the exception of an
    /// error or panic, and none with a limit of 0.
    pub event_count: usize,
    /// Links per span (128).
    pub link_count: usize,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            attribute_value_length: 4096,
            attribute_count: 128,
            event_count: 128,
            link_count: 128,
        }
    }
}

static VALUE_LENGTH: AtomicUsize = AtomicUsize::new(4096);
static ATTRIBUTE_COUNT: AtomicUsize = AtomicUsize::new(128);
static EVENT_COUNT: AtomicUsize = AtomicUsize::new(128);
static LINK_COUNT: AtomicUsize = AtomicUsize::new(128);

pub(crate) fn set(limits: SpanLimits) {
    VALUE_LENGTH.store(limits.attribute_value_length, Ordering::Relaxed);
    ATTRIBUTE_COUNT.store(limits.attribute_count, Ordering::Relaxed);
    EVENT_COUNT.store(limits.event_count, Ordering::Relaxed);
    LINK_COUNT.store(limits.link_count, Ordering::Relaxed);
}

pub(crate) fn attribute_count() -> usize {
    ATTRIBUTE_COUNT.load(Ordering::Relaxed)
}

pub(crate) fn event_count() -> usize {
    EVENT_COUNT.load(Ordering::Relaxed)
}

pub(crate) fn link_count() -> usize {
    LINK_COUNT.load(Ordering::Relaxed)
}

/// `text` cut to at most `max` bytes, at a UTF-8 boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An error message within the value length limit; `true` when it was cut.
pub(crate) fn message(message: Box<str>) -> (Box<str>, bool) {
    let max = VALUE_LENGTH.load(Ordering::Relaxed);
    if message.len() <= max {
        (message, false)
    } else {
        (cut(&message, max).into(), true)
    }
}

/// `value` within the value length limit (strings, and each string of a
/// string array); `true` when it was cut.
pub(crate) fn value(value: Value) -> (Value, bool) {
    let max = VALUE_LENGTH.load(Ordering::Relaxed);
    match value {
        Value::String(s) if s.as_str().len() > max => {
            (Value::String(cut(s.as_str(), max).to_owned().into()), true)
        }
        Value::Array(Array::String(strings)) if strings.iter().any(|s| s.as_str().len() > max) => {
            let strings: Vec<StringValue> = strings
                .iter()
                .map(|s| cut(s.as_str(), max).to_owned().into())
                .collect();
            (Value::Array(Array::String(strings)), true)
        }
        other => (other, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_utf8_boundaries() {
        assert_eq!(cut("hello", 10), "hello");
        assert_eq!(cut("hello", 3), "hel");
        // "é" is two bytes: a cut inside it keeps the byte before.
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
        assert_eq!(cut("€€", 4), "€");
    }
}
