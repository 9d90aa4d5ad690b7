//! W3C `tracestate`: the vendors' entries that travel with a trace context.
//!
//! A [`TraceState`] belongs to one context, as its ids do: it is parsed from
//! one request's headers, carried by the [`SpanContext`](super::context::SpanContext)
//! through tasks and threads, written on that request's outgoing calls and
//! exported with its spans. Nothing is kept per trace or per process, so one
//! request's state never reaches another's calls.
//!
//! The grammar and limits are those of W3C Trace Context (levels 1 and 2),
//! section "Tracestate Header"; the section of each rule is cited, by its
//! title, where it is enforced.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// W3C Trace Context, "tracestate Header Field Values": "There can be a
/// maximum of 32 list-members in a list."
pub(crate) const MAX_MEMBERS: usize = 32;
/// "tracestate Limits": "Vendors SHOULD propagate at least 512 characters of
/// a combined header." observe propagates exactly that much, truncated as
/// that section recommends.
pub(crate) const MAX_BYTES: usize = 512;
/// "tracestate Limits": when truncating, "entries larger than 128 characters
/// long SHOULD be removed first".
const LONG_ENTRY: usize = 128;
/// The longest input parsed at all: 32 members of the longest key (256) and
/// value (256), their separators, and as much again for optional white space
/// and empty members. Anything longer is not a list a participant sent on
/// purpose and is dropped before it is read.
pub(crate) const MAX_INPUT_BYTES: usize = 2 * (MAX_MEMBERS * (256 + 1 + 256 + 1));

/// The `tracestate` of a context: a validated list of `key=value` members,
/// in the order received, or none.
///
/// Cloning it is a reference count; an absent state is a null pointer and
/// costs nothing to carry.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<Shared>>);

struct Shared {
    /// The members joined by `,`, without white space or empty members.
    header: Box<str>,
    /// The same list as OpenTelemetry's type, built once for all the spans
    /// that export it.
    otel: OnceLock<opentelemetry::trace::TraceState>,
}

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
    }
}

impl Eq for Shared {}

impl std::hash::Hash for Shared {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.header.hash(state);
    }
}

/// Why a `tracestate` was not used: the reason it is counted under in
/// `observe_propagation_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceStateError {
    /// A list member breaks the grammar of "Key" or "Value".
    Invalid,
    /// Two list members have the same key ("Combined Header Value": "Only
    /// one entry per key is allowed").
    DuplicateKey,
    /// More than 32 list members, or an input too long to be a list.
    Limit,
}

impl TraceStateError {
    /// The `reason` label it is counted under.
    pub fn reason(self) -> &'static str {
        match self {
            TraceStateError::Invalid => "tracestate_invalid",
            TraceStateError::DuplicateKey => "tracestate_duplicate_key",
            TraceStateError::Limit => "tracestate_limit",
        }
    }
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::Invalid => "a tracestate member breaks the W3C grammar",
            TraceStateError::DuplicateKey => "a tracestate key appears twice",
            TraceStateError::Limit => "tracestate has more than 32 members",
        })
    }
}

impl std::error::Error for TraceStateError {}

/// What parsing did beyond accepting the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Members were removed to fit [`MAX_BYTES`].
    pub(crate) truncated: bool,
}

impl TraceState {
    /// No `tracestate`.
    pub const NONE: TraceState = TraceState(None);

    /// Parses a `tracestate` header value (several headers joined by `,`,
    /// as HTTP combines them). An empty list gives [`TraceState::NONE`].
    ///
    /// A list with any invalid member, a repeated key or more than 32
    /// members is rejected whole: the "Processing Model" lets a vendor
    /// discard a `tracestate` it cannot parse, and discarding only the bad
    /// member would pass on a list its sender did not write. A list longer
    /// than 512 bytes is truncated as "tracestate Limits" recommends.
    pub fn parse(header: &str) -> Result<TraceState, TraceStateError> {
        parse(header).map(|(state, _)| state)
    }

    /// The list as a `tracestate` header value; empty when there is none.
    pub fn header(&self) -> &str {
        self.0.as_ref().map_or("", |s| &s.header)
    }

    /// `true` when there is no list.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.header()
            .split(',')
            .filter_map(|member| member.split_once('='))
    }

    /// The list as OpenTelemetry's `TraceState`, for export.
    pub(crate) fn to_otel(&self) -> opentelemetry::trace::TraceState {
        match &self.0 {
            None => opentelemetry::trace::TraceState::NONE,
            Some(shared) => shared
                .otel
                .get_or_init(|| {
                    opentelemetry::trace::TraceState::from_key_value(self.iter())
                        .unwrap_or_default()
                })
                .clone(),
        }
    }

    pub(crate) fn into_raw(self) -> *const () {
        match self.0 {
            Some(shared) => Arc::into_raw(shared).cast(),
            None => std::ptr::null(),
        }
    }

    /// # Safety
    ///
    /// `raw` is null or came from [`TraceState::into_raw`] and its reference
    /// has not been given back yet; this takes it over.
    pub(crate) unsafe fn from_raw(raw: *const ()) -> TraceState {
        if raw.is_null() {
            TraceState(None)
        } else {
            TraceState(Some(unsafe { Arc::from_raw(raw.cast::<Shared>()) }))
        }
    }

    /// A new reference to the state behind `raw`, which stays owned where
    /// it is.
    ///
    /// # Safety
    ///
    /// `raw` is null or a live pointer from [`TraceState::into_raw`].
    pub(crate) unsafe fn clone_raw(raw: *const ()) -> TraceState {
        if raw.is_null() {
            TraceState(None)
        } else {
            unsafe { Arc::increment_strong_count(raw.cast::<Shared>()) };
            unsafe { TraceState::from_raw(raw) }
        }
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.header())
    }
}

/// OWS, RFC 7230 3.2.3: spaces and horizontal tabs.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// W3C Trace Context, "Key" (the simple and the multi-tenant forms):
///
/// ```text
/// key = simple-key / multi-tenant-key
/// simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
/// multi-tenant-key = tenant-id "@" system-id
/// tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
/// system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
/// ```
fn valid_key(key: &str) -> bool {
    fn rest(b: u8) -> bool {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
    }
    let bytes = key.as_bytes();
    match key.split_once('@') {
        None => {
            (1..=256).contains(&bytes.len())
                && bytes[0].is_ascii_lowercase()
                && bytes[1..].iter().all(|&b| rest(b))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t[1..].iter().all(|&b| rest(b))
                && (1..=14).contains(&s.len())
                && s[0].is_ascii_lowercase()
                && s[1..].iter().all(|&b| rest(b))
        }
    }
}

/// W3C Trace Context, "Value":
///
/// ```text
/// value    = 0*255(chr) nblk-chr
/// nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
/// chr      = %x20 / nblk-chr
/// ```
fn valid_value(value: &str) -> bool {
    fn nblk(b: u8) -> bool {
        matches!(b, 0x21..=0x2B | 0x2D..=0x3C | 0x3E..=0x7E)
    }
    let bytes = value.as_bytes();
    match bytes.split_last() {
        Some((&last, rest)) => {
            bytes.len() <= 256 && nblk(last) && rest.iter().all(|&b| b == 0x20 || nblk(b))
        }
        None => false,
    }
}

/// W3C Trace Context, "list":
///
/// ```text
/// list        = list-member 0*31( OWS "," OWS list-member )
/// list-member = (key "=" value) / OWS
/// ```
///
/// Empty and white-space-only members are allowed and skipped: "tracestate
/// Header Field Values" says so, since joining several `tracestate` headers
/// makes them. They do not count toward the 32.
pub(crate) fn parse(input: &str) -> Result<(TraceState, Parsed), TraceStateError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(TraceStateError::Limit);
    }
    let mut members: Vec<&str> = Vec::new();
    for member in input.split(',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        let Some((key, value)) = member.split_once('=') else {
            return Err(TraceStateError::Invalid);
        };
        if !valid_key(key) || !valid_value(value) {
            return Err(TraceStateError::Invalid);
        }
        if members.len() == MAX_MEMBERS {
            return Err(TraceStateError::Limit);
        }
        if members
            .iter()
            .any(|m| m.split_once('=').map(|(k, _)| k) == Some(key))
        {
            return Err(TraceStateError::DuplicateKey);
        }
        members.push(member);
    }
    let mut parsed = Parsed::default();
    let joined_len = |members: &[&str]| -> usize {
        members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1)
    };
    if joined_len(&members) > MAX_BYTES {
        // "tracestate Limits": "the vendor MUST truncate whole entries.
        // Entries larger than 128 characters long SHOULD be removed first.
        // Then entries SHOULD be removed starting from the end of
        // tracestate." Whole entries only,
        // and only while the list is still over the limit.
        parsed.truncated = true;
        while joined_len(&members) > MAX_BYTES {
            match members.iter().position(|m| m.len() > LONG_ENTRY) {
                Some(long) => {
                    members.remove(long);
                }
                None => {
                    members.pop();
                }
            }
        }
    }
    if members.is_empty() {
        return Ok((TraceState::NONE, parsed));
    }
    let state = TraceState(Some(Arc::new(Shared {
        header: members.join(",").into_boxed_str(),
        otel: OnceLock::new(),
    })));
    Ok((state, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(input: &str) -> Result<String, TraceStateError> {
        TraceState::parse(input).map(|s| s.header().to_owned())
    }

    #[test]
    fn keeps_valid_lists_in_order_without_white_space() {
        assert_eq!(
            header("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7").unwrap(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
        );
        assert_eq!(
            header("foo=1 \t , \t bar=2, \t baz=3").unwrap(),
            "foo=1,bar=2,baz=3"
        );
        assert_eq!(header("foo=1,,").unwrap(), "foo=1");
        assert_eq!(header(",foo=1").unwrap(), "foo=1");
        assert_eq!(header("").unwrap(), "");
        assert!(TraceState::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn accepts_every_character_the_grammar_allows() {
        let simple = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let tenant = format!("{simple}@a-z0-9_-*/");
        let value: String = (0x20u8..=0x7e)
            .filter(|&b| b != b',' && b != b'=')
            .map(char::from)
            .collect();
        for key in [simple.to_owned(), tenant] {
            let state = TraceState::parse(&format!("{key}={value}")).unwrap();
            assert_eq!(state.get(&key), Some(value.as_str()));
        }
    }

    #[test]
    fn rejects_the_whole_list_for_one_bad_member() {
        for bad in [
            "foo@=1,bar=2",
            "@foo=1,bar=2",
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "foo=bar=baz",
            "foo=,bar=3",
            "foo",
            "foo=a\tb",
            "foo=1 2\u{7f}",
            "foo=\u{e9}",
            "1foo=1",
        ] {
            assert_eq!(header(bad), Err(TraceStateError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn key_lengths_follow_the_grammar() {
        assert!(header(&format!("{}=1", "z".repeat(256))).is_ok());
        assert!(header(&format!("{}=1", "z".repeat(257))).is_err());
        assert!(header(&format!("{}@{}=1", "t".repeat(241), "v".repeat(14))).is_ok());
        assert!(header(&format!("{}@v=1", "t".repeat(242))).is_err());
        assert!(header(&format!("t@{}=1", "v".repeat(15))).is_err());
        assert!(
            header("0tenant@vendor=1").is_ok(),
            "a tenant id may start with a digit"
        );
        assert!(header("tenant@0vendor=1").is_err(), "a system id may not");
    }

    #[test]
    fn value_lengths_follow_the_grammar() {
        assert!(header(&format!("k={}", "v".repeat(256))).is_ok());
        assert!(header(&format!("k={}", "v".repeat(257))).is_err());
        assert_eq!(header("k= v").unwrap(), "k= v", "inner spaces are kept");
    }

    #[test]
    fn duplicate_keys_reject_the_list() {
        assert_eq!(header("foo=1,foo=1"), Err(TraceStateError::DuplicateKey));
        assert_eq!(
            header("foo=1,bar=2,foo=2"),
            Err(TraceStateError::DuplicateKey)
        );
    }

    #[test]
    fn at_most_32_members_and_empty_members_do_not_count() {
        let list = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",,")
        };
        let state = TraceState::parse(&list(32)).unwrap();
        assert_eq!(state.iter().count(), 32);
        assert_eq!(state.get("bar01"), Some("01"));
        assert_eq!(header(&list(33)), Err(TraceStateError::Limit));
        assert_eq!(
            header(&" ,".repeat(MAX_INPUT_BYTES)),
            Err(TraceStateError::Limit)
        );
    }

    #[test]
    fn lists_over_512_bytes_lose_long_entries_first_then_from_the_end() {
        let long = format!("long={}", "x".repeat(200));
        let small: Vec<String> = (0..20)
            .map(|i| format!("v{i:02}={}", "y".repeat(20)))
            .collect();
        let input = format!("{long},{}", small.join(","));
        let (state, parsed) = parse(&input).unwrap();
        assert!(parsed.truncated);
        assert!(state.get("long").is_none(), "the entry over 128 went first");
        assert!(state.header().len() <= MAX_BYTES);
        assert!(
            state.header().starts_with("v00="),
            "then entries from the end"
        );
        let kept = state.iter().count();
        assert_eq!(state.header(), small[..kept].join(","));

        let (fits, parsed) = parse(&format!("long={}", "x".repeat(250))).unwrap();
        assert!(!parsed.truncated, "a long entry in a short list stays");
        assert_eq!(fits.iter().count(), 1);
    }

    #[test]
    fn raw_pointers_keep_the_count() {
        let state = TraceState::parse("a=1").unwrap();
        let raw = state.clone().into_raw();
        let copy = unsafe { TraceState::clone_raw(raw) };
        assert_eq!(copy, state);
        let back = unsafe { TraceState::from_raw(raw) };
        assert_eq!(back.header(), "a=1");
        drop((back, copy));
        assert_eq!(state.to_otel().header(), "a=1");
        assert!(TraceState::NONE.into_raw().is_null());
    }
}
