//! The AMQP (lapin `FieldTable`) and NATS (async-nats `HeaderMap`) carriers'
//! extraction on arbitrary header names, value types and bytes: never a
//! panic; what was read (context, tracestate, baggage) is read again after
//! a round trip through the same carrier.
#![no_main]

use std::str::FromStr;

use async_nats::header::{HeaderName, HeaderValue};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use libfuzzer_sys::fuzz_target;
use observe_runtime::baggage::Baggage;
use observe_runtime::messaging::Carrier;
use observe_runtime::propagation::carriers::{amqp, nats};

/// Header names the carriers look for, in the cases other libraries write.
const NAMES: [&str; 6] = [
    "traceparent",
    "TraceParent",
    "tracestate",
    "TRACESTATE",
    "baggage",
    "Baggage",
];

/// The baggage read back is the baggage sent, or its first members when
/// re-encoding made it longer than the limits (a lone `%` or a U+FFFD grows
/// when percent-encoded).
fn same_or_prefix(back: Option<&Baggage>, sent: Option<&Baggage>) {
    let entries = |b: Option<&Baggage>| -> Vec<(String, String, Option<String>)> {
        b.map(|b| {
            b.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned(), b.properties(k).map(str::to_owned)))
                .collect()
        })
        .unwrap_or_default()
    };
    let (back, sent) = (entries(back), entries(sent));
    assert!(back.len() <= sent.len() && back[..] == sent[..back.len()], "{back:?} {sent:?}");
}

/// A `ShortString` holds at most 255 bytes (lapin panics on more).
fn short(mut text: String) -> ShortString {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    ShortString::from(text)
}

fuzz_target!(|data: &[u8]| {
    // Records separated by 0xFF: [selector byte][name or value bytes].
    let mut table = FieldTable::default();
    let mut headers = async_nats::HeaderMap::new();
    for record in data.split(|b| *b == 0xFF) {
        let Some((&selector, rest)) = record.split_first() else {
            continue;
        };
        let name = match selector % 8 {
            n @ 0..=5 => NAMES[n as usize].to_owned(),
            // An arbitrary name: `name=value`.
            _ => match rest.iter().position(|b| *b == b'=') {
                Some(at) => String::from_utf8_lossy(&rest[..at]).into_owned(),
                None => continue,
            },
        };
        let value = match rest.iter().position(|b| *b == b'=') {
            Some(at) if selector % 8 >= 6 => &rest[at + 1..],
            _ => rest,
        };
        let amqp_value = match selector / 8 % 4 {
            0 => AMQPValue::LongString(LongString::from(value.to_vec())),
            1 => AMQPValue::ShortString(short(String::from_utf8_lossy(value).into_owned())),
            2 => AMQPValue::LongInt(i32::from(selector)),
            _ => AMQPValue::Boolean(value.is_empty()),
        };
        table.insert(short(name.clone()), amqp_value);
        if let (Ok(name), Ok(text)) = (HeaderName::from_str(&name), std::str::from_utf8(value)) {
            if let Ok(value) = HeaderValue::from_str(text) {
                headers.append(name, value);
            }
        }
    }

    let from_amqp = Some(&table).remote();
    assert_eq!(amqp::extract(Some(&table)), from_amqp.context);
    {
        // Only this message's baggage is current while it is written.
        let _baggage = from_amqp
            .baggage
            .clone()
            .map(|b| b.as_ref().clone().attach());
        let mut out = FieldTable::default();
        amqp::inject_context(&from_amqp.context, &mut out);
        let back = out.remote();
        assert_eq!(back.context, from_amqp.context);
        same_or_prefix(back.baggage.as_deref(), from_amqp.baggage.as_deref());
    }

    let from_nats = Some(&headers).remote();
    assert_eq!(nats::extract(Some(&headers)), from_nats.context);
    {
        // Only this message's baggage is current while it is written.
        let _baggage = from_nats
            .baggage
            .clone()
            .map(|b| b.as_ref().clone().attach());
        let mut out = async_nats::HeaderMap::new();
        nats::inject_context(&from_nats.context, &mut out);
        let back = out.remote();
        assert_eq!(back.context, from_nats.context);
        same_or_prefix(back.baggage.as_deref(), from_nats.baggage.as_deref());
    }
});
