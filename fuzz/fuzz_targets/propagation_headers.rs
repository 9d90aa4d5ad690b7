//! extract -> inject -> extract over arbitrary `traceparent`, `tracestate`
//! and `baggage` lines, repeated and in any case, in an `http::HeaderMap`
//! and a `HashMap`: never a panic, and the second extract equals the first
//! (context, `tracestate`, flags and baggage). The work is bounded by the
//! input's length: every header is capped before it is parsed, and `.ci/test`
//! runs this with a per-input timeout.
#![no_main]

use std::collections::HashMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use observe_runtime::baggage::Baggage;
use observe_runtime::propagation::{self, carriers, Remote};

/// The names the carriers look for, in the cases other libraries write.
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

fn round_trip(first: &Remote, again: impl Fn(&HeaderMap) -> Remote) {
    let _baggage = first.baggage.clone().map(|b| b.as_ref().clone().attach());
    let mut out = HeaderMap::new();
    carriers::http::inject_context(&first.context, &mut out);
    let second = again(&out);
    assert_eq!(second.context, first.context);
    same_or_prefix(second.baggage.as_deref(), first.baggage.as_deref());
}

fuzz_target!(|data: &[u8]| {
    // Lines of `[selector byte][value]`: the selector picks the name.
    let mut headers = HeaderMap::new();
    let mut map = HashMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some((&selector, value)) = line.split_first() else {
            continue;
        };
        let name = NAMES[usize::from(selector) % NAMES.len()];
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        // `HeaderMap` keeps names lowercase, whatever their case on the wire.
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        headers.append(header, value.clone());
        if let Ok(text) = value.to_str() {
            map.entry(name.to_owned()).or_insert_with(|| text.to_owned());
        }
    }

    let first = propagation::extract_remote(&headers);
    assert_eq!(carriers::http::extract(&headers), first.context);
    round_trip(&first, |out| propagation::extract_remote(out));

    let first = propagation::extract_remote(&map);
    round_trip(&first, |out| propagation::extract_remote(out));
});
