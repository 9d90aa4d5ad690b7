//! `propagation::extract` on arbitrary `traceparent`, `tracestate` and
//! `baggage` headers: never a panic; a valid context survives a round trip.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use observe_runtime::propagation;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let mut headers = HashMap::new();
    for name in ["traceparent", "tracestate", "baggage"] {
        if let Some(value) = parts.next() {
            headers.insert(name.to_owned(), value.to_owned());
        }
    }
    let context = propagation::extract(&headers);
    if context.is_valid() {
        let mut out = HashMap::new();
        propagation::inject_context(context, &mut out);
        assert_eq!(propagation::extract(&out), context);
    }
});
