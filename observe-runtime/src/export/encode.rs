//! Ended span records encoded straight into an OTLP
//! `ExportTraceServiceRequest` (`opentelemetry/proto/collector/trace/v1`),
//! with prost's wire-format helpers over the OTLP schema.
//!
//! What never changes for a callsite (its span name, kind and `code.*`
//! attributes) is encoded the first time the export side sees the callsite,
//! in a table indexed by the callsite's dense index, and copied after that.
//! The resource and the scope are encoded once, when the exporter is set up.
//! A span with no attributes and no error is a few copies into a buffer the
//! encoder keeps: no lock, no allocation.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use opentelemetry::{Array, Key, KeyValue, Value};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

use crate::hot::callsite::{Callsite, OutcomeKind, SpanKind};
use crate::hot::context::SpanContext;
use crate::hot::span::{SpanExtra, SpanRecord};
use crate::hot::{clock, limits};

/// Field numbers of the OTLP messages written here.
mod tag {
    // ExportTraceServiceRequest
    pub(super) const RESOURCE_SPANS: u32 = 1;
    // ResourceSpans
    pub(super) const RESOURCE: u32 = 1;
    pub(super) const SCOPE_SPANS: u32 = 2;
    // ScopeSpans
    pub(super) const SCOPE: u32 = 1;
    pub(super) const SPANS: u32 = 2;
    // Resource
    pub(super) const RESOURCE_ATTRIBUTES: u32 = 1;
    // InstrumentationScope
    pub(super) const SCOPE_NAME: u32 = 1;
    pub(super) const SCOPE_VERSION: u32 = 2;
    // Span
    pub(super) const TRACE_ID: u32 = 1;
    pub(super) const SPAN_ID: u32 = 2;
    pub(super) const TRACE_STATE: u32 = 3;
    pub(super) const PARENT_SPAN_ID: u32 = 4;
    pub(super) const NAME: u32 = 5;
    pub(super) const KIND: u32 = 6;
    pub(super) const START_TIME: u32 = 7;
    pub(super) const END_TIME: u32 = 8;
    pub(super) const ATTRIBUTES: u32 = 9;
    pub(super) const DROPPED_ATTRIBUTES: u32 = 10;
    pub(super) const EVENTS: u32 = 11;
    pub(super) const DROPPED_EVENTS: u32 = 12;
    pub(super) const LINKS: u32 = 13;
    pub(super) const DROPPED_LINKS: u32 = 14;
    pub(super) const STATUS: u32 = 15;
    pub(super) const FLAGS: u32 = 16;
    // Event
    pub(super) const EVENT_TIME: u32 = 1;
    pub(super) const EVENT_NAME: u32 = 2;
    pub(super) const EVENT_ATTRIBUTES: u32 = 3;
    // Link
    pub(super) const LINK_TRACE_ID: u32 = 1;
    pub(super) const LINK_SPAN_ID: u32 = 2;
    pub(super) const LINK_TRACE_STATE: u32 = 3;
    pub(super) const LINK_FLAGS: u32 = 6;
    // Status
    pub(super) const STATUS_MESSAGE: u32 = 2;
    pub(super) const STATUS_CODE: u32 = 3;
    // KeyValue
    pub(super) const KEY: u32 = 1;
    pub(super) const VALUE: u32 = 2;
    // AnyValue
    pub(super) const STRING_VALUE: u32 = 1;
    pub(super) const BOOL_VALUE: u32 = 2;
    pub(super) const INT_VALUE: u32 = 3;
    pub(super) const DOUBLE_VALUE: u32 = 4;
    pub(super) const ARRAY_VALUE: u32 = 5;
    // ArrayValue
    pub(super) const ARRAY_VALUES: u32 = 1;
}

/// `SpanFlags`: the W3C flags in bits 0-7, "whether the parent is remote is
/// known" in bit 8, and "it is remote" in bit 9.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// The key of `Span.flags` (field 16, fixed32): two bytes.
const FLAGS_KEY: [u8; 2] = [(tag::FLAGS << 3 | 5) as u8 | 0x80, (tag::FLAGS >> 4) as u8];

/// The one-byte key of field `tag` (below 16).
const fn key(tag: u32, wire: WireType) -> u8 {
    (tag << 3) as u8 | wire as u8
}

/// Writes into room the request buffer has reserved for it, by plain
/// stores and without a capacity check per field: a span is written in one
/// go once its length is known.
struct Cursor(*mut u8);

impl Cursor {
    /// # Safety
    /// The room written by this and the calls below is reserved.
    #[inline(always)]
    unsafe fn byte(&mut self, byte: u8) {
        self.0.write(byte);
        self.0 = self.0.add(1);
    }

    /// # Safety
    /// As [`Cursor::byte`].
    #[inline(always)]
    unsafe fn varint(&mut self, mut value: u64) {
        // A span's length takes two bytes but for the smallest and the
        // largest spans: one store, no loop.
        if (0x80..0x4000).contains(&value) {
            self.array([value as u8 | 0x80, (value >> 7) as u8]);
            return;
        }
        while value >= 0x80 {
            self.byte(value as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    /// # Safety
    /// As [`Cursor::byte`].
    #[inline(always)]
    unsafe fn array<const M: usize>(&mut self, array: [u8; M]) {
        self.0.cast::<[u8; M]>().write_unaligned(array);
        self.0 = self.0.add(M);
    }

    /// # Safety
    /// As [`Cursor::byte`].
    #[inline(always)]
    unsafe fn slice(&mut self, bytes: &[u8]) {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0, bytes.len());
        self.0 = self.0.add(bytes.len());
    }
}

/// `Status.code` for an error.
const STATUS_ERROR: u64 = 2;

/// A record's length-delimited field of `len` bytes, with its key and length.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_header(tag: u32, len: usize, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

fn put_bytes(tag: u32, bytes: &[u8], buf: &mut impl BufMut) {
    put_header(tag, bytes.len(), buf);
    buf.put_slice(bytes);
}

fn put_varint(tag: u32, value: u64, buf: &mut impl BufMut) {
    encode_key(tag, WireType::Varint, buf);
    encode_varint(value, buf);
}

fn put_fixed32(tag: u32, value: u32, buf: &mut impl BufMut) {
    encode_key(tag, WireType::ThirtyTwoBit, buf);
    buf.put_u32_le(value);
}

fn put_fixed64(tag: u32, value: u64, buf: &mut impl BufMut) {
    encode_key(tag, WireType::SixtyFourBit, buf);
    buf.put_u64_le(value);
}

/// The encoded length of an `AnyValue` holding `value`.
fn any_value_len(value: &Value) -> usize {
    match value {
        Value::Bool(_) => key_len(tag::BOOL_VALUE) + 1,
        Value::I64(i) => key_len(tag::INT_VALUE) + encoded_len_varint(*i as u64),
        Value::F64(_) => key_len(tag::DOUBLE_VALUE) + 8,
        Value::String(s) => delimited_len(tag::STRING_VALUE, s.as_str().len()),
        Value::Array(array) => delimited_len(tag::ARRAY_VALUE, array_len(array)),
        // A kind of value newer than this encoder: an empty `AnyValue`.
        _ => 0,
    }
}

/// The encoded length of an `ArrayValue` holding `array`.
fn array_len(array: &Array) -> usize {
    let element = |len: usize| delimited_len(tag::ARRAY_VALUES, len);
    match array {
        Array::Bool(values) => values.len() * element(key_len(tag::BOOL_VALUE) + 1),
        Array::I64(values) => values
            .iter()
            .map(|i| element(key_len(tag::INT_VALUE) + encoded_len_varint(*i as u64)))
            .sum(),
        Array::F64(values) => values.len() * element(key_len(tag::DOUBLE_VALUE) + 8),
        Array::String(values) => values
            .iter()
            .map(|s| element(delimited_len(tag::STRING_VALUE, s.as_str().len())))
            .sum(),
        _ => 0,
    }
}

fn put_any_value(value: &Value, buf: &mut impl BufMut) {
    match value {
        Value::Bool(b) => put_varint(tag::BOOL_VALUE, u64::from(*b), buf),
        Value::I64(i) => put_varint(tag::INT_VALUE, *i as u64, buf),
        Value::F64(f) => {
            encode_key(tag::DOUBLE_VALUE, WireType::SixtyFourBit, buf);
            buf.put_f64_le(*f);
        }
        Value::String(s) => put_bytes(tag::STRING_VALUE, s.as_str().as_bytes(), buf),
        Value::Array(array) => {
            put_header(tag::ARRAY_VALUE, array_len(array), buf);
            put_array(array, buf);
        }
        _ => {}
    }
}

fn put_array(array: &Array, buf: &mut impl BufMut) {
    match array {
        Array::Bool(values) => {
            for b in values {
                put_header(tag::ARRAY_VALUES, key_len(tag::BOOL_VALUE) + 1, buf);
                put_varint(tag::BOOL_VALUE, u64::from(*b), buf);
            }
        }
        Array::I64(values) => {
            for i in values {
                let len = key_len(tag::INT_VALUE) + encoded_len_varint(*i as u64);
                put_header(tag::ARRAY_VALUES, len, buf);
                put_varint(tag::INT_VALUE, *i as u64, buf);
            }
        }
        Array::F64(values) => {
            for f in values {
                put_header(tag::ARRAY_VALUES, key_len(tag::DOUBLE_VALUE) + 8, buf);
                encode_key(tag::DOUBLE_VALUE, WireType::SixtyFourBit, buf);
                buf.put_f64_le(*f);
            }
        }
        Array::String(values) => {
            for s in values {
                let len = delimited_len(tag::STRING_VALUE, s.as_str().len());
                put_header(tag::ARRAY_VALUES, len, buf);
                put_bytes(tag::STRING_VALUE, s.as_str().as_bytes(), buf);
            }
        }
        _ => {}
    }
}

/// A `KeyValue` as field `tag` of its message.
fn put_attribute(tag: u32, key: &str, value: &Value, buf: &mut impl BufMut) {
    let value_len = any_value_len(value);
    let len = delimited_len(tag::KEY, key.len()) + delimited_len(tag::VALUE, value_len);
    put_header(tag, len, buf);
    put_bytes(tag::KEY, key.as_bytes(), buf);
    put_header(tag::VALUE, value_len, buf);
    put_any_value(value, buf);
}

/// A string-valued `KeyValue`, without building a `Value`.
fn put_str_attribute(tag: u32, key: &str, value: &str, buf: &mut impl BufMut) {
    let value_len = delimited_len(tag::STRING_VALUE, value.len());
    let len = delimited_len(tag::KEY, key.len()) + delimited_len(tag::VALUE, value_len);
    put_header(tag, len, buf);
    put_bytes(tag::KEY, key.as_bytes(), buf);
    put_header(tag::VALUE, value_len, buf);
    put_bytes(tag::STRING_VALUE, value.as_bytes(), buf);
}

fn kind_number(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The `Span` fields every span of `callsite` shares: its name, kind and
/// `code.*` attributes.
fn callsite_bytes(callsite: &Callsite) -> Box<[u8]> {
    let mut out = Vec::with_capacity(64 + callsite.name.len() + callsite.file.len());
    put_bytes(tag::NAME, callsite.name.as_bytes(), &mut out);
    put_varint(tag::KIND, kind_number(callsite.kind), &mut out);
    // A request's span (an HTTP or RPC layer's) has no function of its own.
    if !callsite.function.is_empty() {
        put_str_attribute(
            tag::ATTRIBUTES,
            "code.function",
            callsite.function,
            &mut out,
        );
        put_str_attribute(
            tag::ATTRIBUTES,
            "code.namespace",
            callsite.namespace,
            &mut out,
        );
        put_str_attribute(tag::ATTRIBUTES, "code.filepath", callsite.file, &mut out);
        put_attribute(
            tag::ATTRIBUTES,
            "code.lineno",
            &Value::I64(i64::from(callsite.line)),
            &mut out,
        );
    }
    out.into_boxed_slice()
}

/// The most bytes the request's header (its `ResourceSpans` and `ScopeSpans`
/// keys and lengths, the resource and the scope) can take before the spans.
fn header_room(resource: &[u8], scope: &[u8]) -> usize {
    2 * (1 + 10) + resource.len() + scope.len()
}

/// A length-delimited field's key and length, and how many bytes they take.
fn header_bytes(tag: u32, len: usize) -> ([u8; 11], usize) {
    let mut bytes = [0u8; 11];
    let mut rest = &mut bytes[..];
    put_header(tag, len, &mut rest);
    let used = 11 - rest.len();
    (bytes, used)
}

/// Encodes batches of records into `ExportTraceServiceRequest` bytes.
pub(crate) struct Encoder {
    /// Per callsite, by its dense index: [`callsite_bytes`], filled on first
    /// sight.
    callsites: Vec<Option<Box<[u8]>>>,
    /// The `resource` field of `ResourceSpans`, key and length included.
    resource: Vec<u8>,
    /// The `scope` field of `ScopeSpans`, key and length included.
    scope: Vec<u8>,
    /// The request being written; its allocation is used again once the
    /// transport lets go of the previous request.
    out: BytesMut,
    /// The variable part of a span that carries more than ids and times.
    scratch: Vec<u8>,
    /// Raw clock readings to Unix nanoseconds, without a lazy static's
    /// check per reading.
    clock: clock::UnixClock,
}

impl Encoder {
    /// An encoder for spans of `resource`, in observe's scope.
    pub(crate) fn new<'a>(resource: impl IntoIterator<Item = (&'a Key, &'a Value)>) -> Encoder {
        let mut attributes = Vec::new();
        for (key, value) in resource {
            put_attribute(
                tag::RESOURCE_ATTRIBUTES,
                key.as_str(),
                value,
                &mut attributes,
            );
        }
        let mut resource = Vec::new();
        put_bytes(tag::RESOURCE, &attributes, &mut resource);
        let mut fields = Vec::new();
        put_bytes(tag::SCOPE_NAME, b"observe", &mut fields);
        put_bytes(
            tag::SCOPE_VERSION,
            env!("CARGO_PKG_VERSION").as_bytes(),
            &mut fields,
        );
        let mut scope = Vec::new();
        put_bytes(tag::SCOPE, &fields, &mut scope);
        Encoder {
            callsites: Vec::new(),
            resource,
            scope,
            out: BytesMut::new(),
            scratch: Vec::new(),
            clock: clock::UnixClock::new(),
        }
    }

    /// Sets the resource the spans are reported for.
    pub(crate) fn set_resource<'a>(
        &mut self,
        resource: impl IntoIterator<Item = (&'a Key, &'a Value)>,
    ) {
        let fresh = Encoder::new(resource);
        self.resource = fresh.resource;
    }

    /// One `ExportTraceServiceRequest` holding every record of `records`,
    /// which it empties.
    pub(crate) fn encode(&mut self, records: &mut Vec<SpanRecord>) -> Bytes {
        let room = header_room(&self.resource, &self.scope);
        // Ids, times, flags, the parent and the keys: about 80 bytes, and the
        // callsite's share, which `reserve` below grows into as needed.
        self.out.reserve(room + records.len() * 192);
        // Room for the header, whose lengths are known once the spans are
        // written.
        self.out.put_bytes(0, room);
        // Each record is moved out and let go as it is written: only what
        // its `extra` holds needs freeing, behind one test written here, so
        // the drop of a plain record is not left to the inliner's choice
        // (once out of line, it cost 13 instructions per span).
        for mut record in records.drain(..) {
            self.span(&record);
            if let Some(extra) = record.extra.take() {
                drop_extra(extra);
            }
            // Nothing left that owns memory.
            std::mem::forget(record);
        }
        let spans_len = self.out.len() - room;
        let scope_spans_len = self.scope.len() + spans_len;
        let resource_spans_len =
            self.resource.len() + delimited_len(tag::SCOPE_SPANS, scope_spans_len);
        let (outer, outer_len) = header_bytes(tag::RESOURCE_SPANS, resource_spans_len);
        let (inner, inner_len) = header_bytes(tag::SCOPE_SPANS, scope_spans_len);
        let parts = [
            &outer[..outer_len],
            &self.resource[..],
            &inner[..inner_len],
            &self.scope[..],
        ];
        // The header goes right before the spans; the room left in front of
        // it is cut off.
        let start = room - parts.iter().map(|part| part.len()).sum::<usize>();
        let mut at = start;
        for part in parts {
            self.out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        let mut request = self.out.split();
        request.advance(start);
        request.freeze()
    }

    #[inline(always)]
    fn span(&mut self, record: &SpanRecord) {
        let callsite = record.callsite();
        let outcome = record.outcome();
        let Encoder {
            callsites,
            out,
            scratch,
            clock,
            ..
        } = self;
        let start = clock.unix_nanos(record.start);
        let end = clock.unix_nanos(record.end);
        let variable: &[u8] = if record.extra.is_some() || outcome != OutcomeKind::Ok {
            scratch.clear();
            put_variable(record.extra.as_deref(), outcome, end, scratch);
            scratch
        } else {
            &[]
        };
        let shared = shared_fields(callsites, callsite);
        let parent = record.parent_span_id != 0;
        // An error writes its status with the variable part; any other
        // outcome an unset one (as other OTLP exporters write it).
        let status = !is_error(outcome);

        // The ids (trace, span and parent, each with its key and length),
        // the times with their keys, the flags with theirs, the status.
        let len = if parent { 38 } else { 28 }
            + shared.len()
            + 24
            + if status { 2 } else { 0 }
            + variable.len();
        // And before it all the span's key and its length's varint (at most
        // ten bytes).
        out.reserve(11 + len);
        let flags = if record.random() { 0x03 } else { 0x01 }
            | HAS_IS_REMOTE
            | if record.parent_remote() { IS_REMOTE } else { 0 };
        // SAFETY: `reserve` made room for the key, the varint and `len`
        // bytes, and `set_len` covers exactly the bytes written.
        unsafe {
            let base = out.as_mut_ptr().add(out.len());
            let mut at = Cursor(base);
            at.byte(key(tag::SPANS, WireType::LengthDelimited));
            at.varint(len as u64);
            at.array([key(tag::TRACE_ID, WireType::LengthDelimited), 16]);
            at.array(record.trace_id.to_be_bytes());
            at.array([key(tag::SPAN_ID, WireType::LengthDelimited), 8]);
            at.array(record.span_id.to_be_bytes());
            if parent {
                at.array([key(tag::PARENT_SPAN_ID, WireType::LengthDelimited), 8]);
                at.array(record.parent_span_id.to_be_bytes());
            }
            at.slice(shared);
            at.byte(key(tag::START_TIME, WireType::SixtyFourBit));
            at.array(start.to_le_bytes());
            at.byte(key(tag::END_TIME, WireType::SixtyFourBit));
            at.array(end.to_le_bytes());
            at.array(FLAGS_KEY);
            at.array(flags.to_le_bytes());
            if status {
                at.array([key(tag::STATUS, WireType::LengthDelimited), 0]);
            }
            if !variable.is_empty() {
                at.slice(variable);
            }
            let written = at.0.offset_from(base) as usize;
            debug_assert!(written <= 11 + len);
            out.set_len(out.len() + written);
        }
    }
}

/// The callsite's shared fields, encoded on first sight.
fn shared_fields<'a>(
    table: &'a mut Vec<Option<Box<[u8]>>>,
    callsite: &'static Callsite,
) -> &'a [u8] {
    let index = callsite.index() as usize;
    if index >= table.len() {
        table.resize(index + 1, None);
    }
    table[index].get_or_insert_with(|| callsite_bytes(callsite))
}

fn is_error(outcome: OutcomeKind) -> bool {
    matches!(outcome, OutcomeKind::Error | OutcomeKind::Panic)
}

/// What a span carries beyond its ids, times and callsite: its trace's
/// `tracestate`, attributes, the outcome's attributes, event and status, and
/// links.
/// Frees what a record's `extra` held (attributes, a message, links), out
/// of the encoding loop.
#[cold]
#[inline(never)]
fn drop_extra(extra: Box<SpanExtra>) {
    drop(extra);
}

fn put_variable(extra: Option<&SpanExtra>, outcome: OutcomeKind, end: u64, buf: &mut Vec<u8>) {
    static NONE: SpanExtra = SpanExtra::EMPTY;
    let extra = extra.unwrap_or(&NONE);
    if !extra.trace_state.is_empty() {
        put_bytes(tag::TRACE_STATE, extra.trace_state.header().as_bytes(), buf);
    }
    for KeyValue { key, value, .. } in &extra.attributes {
        put_attribute(tag::ATTRIBUTES, key.as_str(), value, buf);
    }
    if extra.truncated {
        put_attribute(
            tag::ATTRIBUTES,
            "observe.truncated",
            &Value::Bool(true),
            buf,
        );
    }
    if extra.dropped_attributes > 0 {
        put_varint(
            tag::DROPPED_ATTRIBUTES,
            u64::from(extra.dropped_attributes),
            buf,
        );
    }
    match outcome {
        OutcomeKind::Ok => {}
        OutcomeKind::Cancelled => {
            put_str_attribute(tag::ATTRIBUTES, "observe.outcome", "cancelled", buf);
        }
        OutcomeKind::Error | OutcomeKind::Panic => {
            put_str_attribute(tag::ATTRIBUTES, "error.type", extra.error_type, buf);
            // A status that is an error by itself (an HTTP 5xx) has no
            // message, and no exception to report beside `error.type`.
            let message = extra.message.as_deref();
            if let Some(message) = message {
                if limits::event_count() > 0 {
                    let exception_type = if outcome == OutcomeKind::Panic {
                        "panic"
                    } else {
                        extra.error_type
                    };
                    put_exception(end, exception_type, message, buf);
                } else {
                    put_varint(tag::DROPPED_EVENTS, 1, buf);
                }
            }
            let message = message.unwrap_or("");
            let len = if message.is_empty() {
                0
            } else {
                delimited_len(tag::STATUS_MESSAGE, message.len())
            } + key_len(tag::STATUS_CODE)
                + 1;
            put_header(tag::STATUS, len, buf);
            if !message.is_empty() {
                put_bytes(tag::STATUS_MESSAGE, message.as_bytes(), buf);
            }
            put_varint(tag::STATUS_CODE, STATUS_ERROR, buf);
        }
    }
    for link in &extra.links {
        put_link(link, buf);
    }
    if extra.dropped_links > 0 {
        put_varint(tag::DROPPED_LINKS, u64::from(extra.dropped_links), buf);
    }
}

/// The `exception` event of an error or a panic.
fn put_exception(time: u64, exception_type: &str, message: &str, buf: &mut Vec<u8>) {
    let attribute_len = |key: &str, value: &str| {
        let value_len = delimited_len(tag::STRING_VALUE, value.len());
        delimited_len(
            tag::EVENT_ATTRIBUTES,
            delimited_len(tag::KEY, key.len()) + delimited_len(tag::VALUE, value_len),
        )
    };
    let len = key_len(tag::EVENT_TIME)
        + 8
        + delimited_len(tag::EVENT_NAME, "exception".len())
        + attribute_len("exception.type", exception_type)
        + attribute_len("exception.message", message);
    put_header(tag::EVENTS, len, buf);
    put_fixed64(tag::EVENT_TIME, time, buf);
    put_bytes(tag::EVENT_NAME, b"exception", buf);
    put_str_attribute(tag::EVENT_ATTRIBUTES, "exception.type", exception_type, buf);
    put_str_attribute(tag::EVENT_ATTRIBUTES, "exception.message", message, buf);
}

fn put_link(link: &SpanContext, buf: &mut Vec<u8>) {
    let state = link.trace_state.header();
    let state_len = if state.is_empty() {
        0
    } else {
        delimited_len(tag::LINK_TRACE_STATE, state.len())
    };
    let len = delimited_len(tag::LINK_TRACE_ID, 16)
        + delimited_len(tag::LINK_SPAN_ID, 8)
        + state_len
        + key_len(tag::LINK_FLAGS)
        + 4;
    put_header(tag::LINKS, len, buf);
    put_bytes(tag::LINK_TRACE_ID, &link.trace_id.to_be_bytes(), buf);
    put_bytes(tag::LINK_SPAN_ID, &link.span_id.to_be_bytes(), buf);
    if !state.is_empty() {
        put_bytes(tag::LINK_TRACE_STATE, state.as_bytes(), buf);
    }
    let flags =
        u32::from(link.trace_flags()) | HAS_IS_REMOTE | if link.remote { IS_REMOTE } else { 0 };
    put_fixed32(tag::LINK_FLAGS, flags, buf);
}

#[cfg(test)]
mod tests {
    use opentelemetry::{Array, Key, KeyValue, Value};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue};
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{Span, Status};
    use prost::Message;

    use super::Encoder;
    use crate::export::convert::to_span_data;
    use crate::hot::callsite::{Callsite, OutcomeKind, SpanKind};
    use crate::hot::clock;
    use crate::hot::context::SpanContext;
    use crate::hot::span::{SpanExtra, SpanRecord};
    use crate::hot::trace_state::TraceState;

    static SUBMIT: Callsite = Callsite::new(
        "Order.Submit",
        SpanKind::Internal,
        "submit",
        "shop::orders",
        "src/orders.rs",
        42,
        None,
    );
    /// An HTTP layer's span: no function, so no `code.*` attributes.
    static ROUTE: Callsite =
        Callsite::new("GET /orders/{id}", SpanKind::Server, "", "", "", 0, None);

    const TRACE: u128 = 0x0af7651916cd43dd8448eb211c80319c;

    fn string(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Any::StringValue(s.into())),
        })
    }

    fn kv(key: &str, value: Option<AnyValue>) -> ProtoKeyValue {
        ProtoKeyValue {
            key: key.into(),
            value,
            ..Default::default()
        }
    }

    fn unix_nanos(raw: u64) -> u64 {
        clock::to_system_time(raw)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    /// The records under test: built twice, once for the encoder and once
    /// for the `SpanData` path it must agree with.
    fn records(start: u64, end: u64) -> Vec<SpanRecord> {
        let state = TraceState::parse("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7").unwrap();
        let attributes = SpanExtra {
            attributes: vec![
                KeyValue::new("order.id", "A-17"),
                KeyValue::new("order.items", 3_i64),
                KeyValue::new("order.total", 12.5),
                KeyValue::new("order.gift", true),
                KeyValue::new(
                    "order.tags",
                    Value::Array(Array::String(vec!["a".into(), "b".into()])),
                ),
                KeyValue::new("order.sizes", Value::Array(Array::I64(vec![1, -2]))),
            ],
            dropped_attributes: 2,
            truncated: true,
            ..SpanExtra::EMPTY
        };
        let error = SpanExtra {
            error_type: "payment_declined",
            message: Some("card declined".into()),
            ..SpanExtra::EMPTY
        };
        let panic = SpanExtra {
            error_type: "panic",
            message: Some("index out of bounds".into()),
            ..SpanExtra::EMPTY
        };
        let http_error = SpanExtra {
            error_type: "500",
            ..SpanExtra::EMPTY
        };
        let remote = SpanExtra {
            trace_state: state.clone(),
            links: vec![
                SpanContext {
                    trace_id: 7,
                    span_id: 8,
                    sampled: true,
                    random: true,
                    remote: true,
                    trace_state: state.clone(),
                },
                SpanContext {
                    trace_id: 9,
                    span_id: 10,
                    sampled: false,
                    random: false,
                    remote: false,
                    trace_state: TraceState::NONE,
                },
            ],
            dropped_links: 1,
            ..SpanExtra::EMPTY
        };
        let record = |callsite, outcome, flags, parent, extra: Option<SpanExtra>| {
            SpanRecord::new(
                callsite,
                outcome,
                flags,
                (TRACE, 0x1000 + parent, parent),
                start,
                end,
                extra.map(Box::new),
            )
        };
        vec![
            // A root span with nothing but its callsite's data.
            record(&SUBMIT, OutcomeKind::Ok, (false, false), 0, None),
            record(&SUBMIT, OutcomeKind::Ok, (false, true), 1, Some(attributes)),
            record(&SUBMIT, OutcomeKind::Error, (false, true), 2, Some(error)),
            record(&SUBMIT, OutcomeKind::Panic, (false, true), 3, Some(panic)),
            record(&SUBMIT, OutcomeKind::Cancelled, (false, true), 4, None),
            record(
                &ROUTE,
                OutcomeKind::Error,
                (false, true),
                5,
                Some(http_error),
            ),
            record(&ROUTE, OutcomeKind::Ok, (true, true), 6, Some(remote)),
        ]
    }

    fn sorted(mut span: Span) -> Span {
        span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        span
    }

    fn decode(start: u64, end: u64) -> ExportTraceServiceRequest {
        let resource = [
            (Key::new("service.name"), Value::from("checkout")),
            (Key::new("service.instance"), Value::I64(3)),
        ];
        let mut encoder = Encoder::new(resource.iter().map(|(k, v)| (k, v)));
        let mut batch = records(start, end);
        let bytes = encoder.encode(&mut batch);
        assert!(batch.is_empty());
        ExportTraceServiceRequest::decode(bytes).expect("a valid ExportTraceServiceRequest")
    }

    #[test]
    fn every_field_decodes_with_opentelemetry_proto() {
        clock::calibrate();
        let start = clock::raw();
        let end = start + 1_000_000;
        let request = decode(start, end);
        assert_eq!(request.resource_spans.len(), 1);
        let resource_spans = &request.resource_spans[0];
        let resource = resource_spans.resource.as_ref().unwrap();
        assert_eq!(
            resource.attributes,
            vec![
                kv("service.name", string("checkout")),
                kv(
                    "service.instance",
                    Some(AnyValue {
                        value: Some(Any::IntValue(3))
                    })
                ),
            ]
        );
        assert_eq!(resource_spans.scope_spans.len(), 1);
        let scope_spans = &resource_spans.scope_spans[0];
        let scope = scope_spans.scope.as_ref().unwrap();
        assert_eq!(scope.name, "observe");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
        let spans = &scope_spans.spans;
        assert_eq!(spans.len(), 7);

        let (start_nanos, end_nanos) = (unix_nanos(start), unix_nanos(end));
        let code = vec![
            kv("code.function", string("submit")),
            kv("code.namespace", string("shop::orders")),
            kv("code.filepath", string("src/orders.rs")),
            kv(
                "code.lineno",
                Some(AnyValue {
                    value: Some(Any::IntValue(42)),
                }),
            ),
        ];
        let base = Span {
            trace_id: TRACE.to_be_bytes().to_vec(),
            span_id: 0x1000_u64.to_be_bytes().to_vec(),
            trace_state: String::new(),
            parent_span_id: Vec::new(),
            flags: 0x101,
            name: "Order.Submit".into(),
            kind: 1,
            start_time_unix_nano: start_nanos,
            end_time_unix_nano: end_nanos,
            attributes: code.clone(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Some(Status::default()),
        };
        // A root span, from an unsampled-random trace id.
        assert_eq!(spans[0], base);

        // Attributes of every kind, some dropped and one truncated.
        let mut with_attributes = code.clone();
        with_attributes.extend([
            kv("order.id", string("A-17")),
            kv(
                "order.items",
                Some(AnyValue {
                    value: Some(Any::IntValue(3)),
                }),
            ),
            kv(
                "order.total",
                Some(AnyValue {
                    value: Some(Any::DoubleValue(12.5)),
                }),
            ),
            kv(
                "order.gift",
                Some(AnyValue {
                    value: Some(Any::BoolValue(true)),
                }),
            ),
            kv(
                "order.tags",
                Some(AnyValue {
                    value: Some(Any::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue {
                            values: vec![string("a").unwrap(), string("b").unwrap()],
                        },
                    )),
                }),
            ),
            kv(
                "order.sizes",
                Some(AnyValue {
                    value: Some(Any::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue {
                            values: vec![
                                AnyValue {
                                    value: Some(Any::IntValue(1)),
                                },
                                AnyValue {
                                    value: Some(Any::IntValue(-2)),
                                },
                            ],
                        },
                    )),
                }),
            ),
            kv(
                "observe.truncated",
                Some(AnyValue {
                    value: Some(Any::BoolValue(true)),
                }),
            ),
        ]);
        let child = Span {
            span_id: 0x1001_u64.to_be_bytes().to_vec(),
            parent_span_id: 1_u64.to_be_bytes().to_vec(),
            flags: 0x103,
            ..base.clone()
        };
        assert_eq!(
            spans[1],
            Span {
                attributes: with_attributes,
                dropped_attributes_count: 2,
                ..child.clone()
            }
        );

        // An error: `error.type`, the exception event, an error status.
        let exception = |exception_type: &str, message: &str| Event {
            time_unix_nano: end_nanos,
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", string(exception_type)),
                kv("exception.message", string(message)),
            ],
            dropped_attributes_count: 0,
        };
        let error_status = |message: &str| {
            Some(Status {
                message: message.into(),
                code: 2,
            })
        };
        let with = |extra: &[ProtoKeyValue]| {
            let mut attributes = code.clone();
            attributes.extend_from_slice(extra);
            attributes
        };
        let ids = |n: u64| Span {
            span_id: (0x1000 + n).to_be_bytes().to_vec(),
            parent_span_id: n.to_be_bytes().to_vec(),
            ..child.clone()
        };
        assert_eq!(
            spans[2],
            Span {
                attributes: with(&[kv("error.type", string("payment_declined"))]),
                events: vec![exception("payment_declined", "card declined")],
                status: error_status("card declined"),
                ..ids(2)
            }
        );
        // A panic's exception type is `panic`.
        assert_eq!(
            spans[3],
            Span {
                attributes: with(&[kv("error.type", string("panic"))]),
                events: vec![exception("panic", "index out of bounds")],
                status: error_status("index out of bounds"),
                ..ids(3)
            }
        );
        // A dropped future.
        assert_eq!(
            spans[4],
            Span {
                attributes: with(&[kv("observe.outcome", string("cancelled"))]),
                ..ids(4)
            }
        );
        // A request's span: a server kind, no `code.*`, an error status
        // without message or event.
        let route = Span {
            name: "GET /orders/{id}".into(),
            kind: 2,
            attributes: Vec::new(),
            ..ids(5)
        };
        assert_eq!(
            spans[5],
            Span {
                attributes: vec![kv("error.type", string("500"))],
                status: error_status(""),
                ..route.clone()
            }
        );
        // A remote parent, the trace's `tracestate`, links.
        let state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
        assert_eq!(
            spans[6],
            Span {
                span_id: 0x1006_u64.to_be_bytes().to_vec(),
                parent_span_id: 6_u64.to_be_bytes().to_vec(),
                trace_state: state.into(),
                flags: 0x303,
                links: vec![
                    Link {
                        trace_id: 7_u128.to_be_bytes().to_vec(),
                        span_id: 8_u64.to_be_bytes().to_vec(),
                        trace_state: state.into(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                        flags: 0x303,
                    },
                    Link {
                        trace_id: 9_u128.to_be_bytes().to_vec(),
                        span_id: 10_u64.to_be_bytes().to_vec(),
                        trace_state: String::new(),
                        attributes: Vec::new(),
                        dropped_attributes_count: 0,
                        flags: 0x100,
                    },
                ],
                dropped_links_count: 1,
                status: Some(Status::default()),
                ..route
            }
        );
    }

    /// The encoder writes what the SDK's own OTLP conversion of the same
    /// span's `SpanData` gives, attribute order aside.
    #[test]
    fn agrees_with_the_sdk_conversion() {
        clock::calibrate();
        let start = clock::raw();
        let end = start + 5_000;
        let request = decode(start, end);
        let ours = &request.resource_spans[0].scope_spans[0].spans;
        let theirs: Vec<Span> = records(start, end)
            .into_iter()
            .map(|record| Span::from(to_span_data(record)))
            .collect();
        assert_eq!(ours.len(), theirs.len());
        for (ours, theirs) in ours.iter().zip(theirs) {
            assert_eq!(sorted(ours.clone()), sorted(theirs));
        }
    }

    /// A callsite with long `code.*` values (a length of two varint bytes)
    /// encodes as the SDK's conversion does.
    #[test]
    fn a_long_callsite_agrees_with_the_sdk_conversion() {
        static LONG: Callsite = Callsite::new(
            "Order.Submit",
            SpanKind::Client,
            "submit_an_order_with_a_rather_long_function_name",
            "shop::orders::submission::handlers::with::a::deeply::nested::module::path::that::goes::on",
            "src/orders/submission/handlers/with/a/deeply/nested/module/path/that/goes/on/and/on/and/on/until/it/is/longer/than/the/room/of/the/fast/path.rs",
            4242,
            None,
        );
        clock::calibrate();
        let start = clock::raw();
        let make = || {
            vec![
                SpanRecord::new(
                    &LONG,
                    OutcomeKind::Ok,
                    (false, true),
                    (TRACE, 1, 0),
                    start,
                    start + 9,
                    None,
                ),
                SpanRecord::new(
                    &LONG,
                    OutcomeKind::Error,
                    (true, true),
                    (TRACE, 2, 1),
                    start,
                    start + 9,
                    Some(Box::new(SpanExtra {
                        error_type: "timeout",
                        message: Some("took too long".into()),
                        ..SpanExtra::EMPTY
                    })),
                ),
            ]
        };
        let mut encoder = Encoder::new(std::iter::empty::<(&Key, &Value)>());
        let bytes = encoder.encode(&mut make());
        let request = ExportTraceServiceRequest::decode(bytes).unwrap();
        let ours = &request.resource_spans[0].scope_spans[0].spans;
        assert!(super::callsite_bytes(&LONG).len() > 256);
        let theirs: Vec<Span> = make()
            .into_iter()
            .map(|record| Span::from(to_span_data(record)))
            .collect();
        assert_eq!(ours.len(), 2);
        for (ours, theirs) in ours.iter().zip(theirs) {
            assert_eq!(sorted(ours.clone()), sorted(theirs));
        }
    }

    /// A batch's buffer is used again once the previous request is gone.
    #[test]
    fn the_request_buffer_is_reused() {
        let mut encoder = Encoder::new(std::iter::empty::<(&Key, &Value)>());
        let batch = || {
            (0..64)
                .map(|i| {
                    SpanRecord::new(
                        &SUBMIT,
                        OutcomeKind::Ok,
                        (false, true),
                        (1, i + 1, 0),
                        0,
                        0,
                        None,
                    )
                })
                .collect::<Vec<_>>()
        };
        let first = encoder.encode(&mut batch());
        let address = first.as_ptr() as usize;
        let len = first.len();
        drop(first);
        let second = encoder.encode(&mut batch());
        assert_eq!(second.len(), len);
        let offset = (second.as_ptr() as usize).wrapping_sub(address);
        assert!(offset < 64, "a new allocation for the second batch");
    }
}
