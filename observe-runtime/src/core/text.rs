//! Small text helpers shared by the configuration parser and the W3C header
//! parsers.

/// Percent-decodes `s`; `None` when a `%` is not followed by two hex digits
/// or the result is not UTF-8. Shared by `OTEL_RESOURCE_ATTRIBUTES` and W3C
/// Baggage values.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
