//! W3C Baggage: key-value pairs that travel with a trace across processes.
//!
//! Baggage arrives in the `baggage` header of a consumed message (with
//! `#[observe(consumer, headers = ..)]` or `message = ..`) and is current for
//! the duration of the observed call; [`crate::propagation::inject`] writes
//! the current baggage into outgoing headers, so it follows the trace through
//! the next hop. Entries on the configured allowlist
//! ([`crate::Config::baggage_attributes`], `OBSERVE_BAGGAGE_ATTRIBUTES`) are
//! also copied onto the consumer span's attributes and onto every JSON log
//! line written while the baggage is current.
//!
//! ```
//! use observe_runtime::baggage::{self, Baggage};
//! let _guard = Baggage::new().with("tenant.id", "acme").attach();
//! assert_eq!(baggage::current().unwrap().get("tenant.id"), Some("acme"));
//! ```
//!
//! The limits (8192 bytes and 180 members per header) are kept on extract
//! and on inject: the members past them are dropped, from the end, and
//! counted in `observe_propagation_errors_total{reason="baggage_limit"}`.
//! Member properties (`k=v;p1;p2=x`) are kept and passed on.
//!
//! Nothing here is on the path of a call without baggage: reading the current
//! baggage is one thread-local load that finds `None`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use crate::core::health;

/// The limit observe keeps on the whole header, in bytes: W3C Baggage,
/// "Limits", has a platform propagate at least 8192.
pub const MAX_BYTES: usize = 8192;
/// The limit on list members: the grammar's `0*179( OWS "," OWS list-member )`,
/// above the 64 that "Limits" asks every platform to propagate.
pub const MAX_MEMBERS: usize = 180;
/// The most input read at all, over every `baggage` header of a message:
/// twice the limit, for optional white space and members that are dropped.
pub(crate) const MAX_INPUT_BYTES: usize = 2 * MAX_BYTES;

/// A set of baggage entries, in the order they were given or received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baggage {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    /// The member's properties as received, `;`-separated without white
    /// space (`p1;k=v`): opaque to the specification, passed on unchanged.
    properties: Option<Box<str>>,
}

impl Baggage {
    /// Empty baggage.
    pub fn new() -> Baggage {
        Baggage::default()
    }

    /// This baggage with `key` set to `value` (replacing an earlier value).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Baggage {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value`, replacing an earlier value and its properties.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.insert_entry(key.into(), value.into(), None);
    }

    /// Sets `key` to `value` with W3C member `properties` (`;`-separated
    /// `key` or `key=value` items, as in `"p1;k=v"`), replacing an earlier
    /// entry. Properties that break the grammar are not written (and are
    /// counted as `baggage_invalid` when the header is written).
    pub fn insert_with_properties(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        properties: impl Into<String>,
    ) {
        let properties = properties.into();
        let properties = (!properties.is_empty()).then(|| properties.into_boxed_str());
        self.insert_entry(key.into(), value.into(), properties);
    }

    fn insert_entry(&mut self, key: String, value: String, properties: Option<Box<str>>) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => {
                entry.value = value;
                entry.properties = properties;
            }
            None => self.entries.push(Entry {
                key,
                value,
                properties,
            }),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// The properties of `key`'s member, as received (`"p1;k=v"`).
    pub fn properties(&self, key: &str) -> Option<&str> {
        self.entry(key).and_then(|e| e.properties.as_deref())
    }

    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes this baggage current on this thread until the guard drops.
    pub fn attach(self) -> BaggageGuard {
        attach_arc(Some(Arc::new(self)))
    }

    /// The W3C `baggage` header value: `key=value;properties` members joined
    /// by `,`, values percent-encoded. Members past the limits (180 members,
    /// 8192 bytes) are left out, from the end, and counted as
    /// `baggage_limit`; a key that is not a `token` is left out and counted
    /// as `baggage_invalid`. `None` when nothing is left to write.
    pub fn to_header(&self) -> Option<String> {
        let mut out = String::new();
        let mut members = 0;
        let mut member = String::new();
        for entry in &self.entries {
            if !is_token(&entry.key) {
                health::count_error("baggage_invalid");
                continue;
            }
            member.clear();
            member.push_str(&entry.key);
            member.push('=');
            encode_value(&entry.value, &mut member);
            if let Some(properties) = &entry.properties {
                match normalize_properties(properties) {
                    Some(properties) => {
                        member.push(';');
                        member.push_str(&properties);
                    }
                    None => health::count_error("baggage_invalid"),
                }
            }
            let len = out.len() + usize::from(members > 0) + member.len();
            if members == MAX_MEMBERS || len > MAX_BYTES {
                // W3C Baggage, "Mutating baggage": over the limits a
                // platform "MAY drop or truncate certain baggage entries in
                // any order"; observe keeps the first ones, whole.
                health::count_error("baggage_limit");
                break;
            }
            if members > 0 {
                out.push(',');
            }
            out.push_str(&member);
            members += 1;
        }
        (members > 0).then_some(out)
    }

    /// Parses a W3C `baggage` header value (several headers joined by `,`),
    /// by the grammar of W3C Baggage, "Definition":
    ///
    /// ```text
    /// baggage-string = list-member 0*179( OWS "," OWS list-member )
    /// list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
    /// property       = key OWS "=" OWS value / key OWS
    /// key            = token
    /// value          = *baggage-octet
    /// ```
    ///
    /// Values are percent-decoded; bytes that are not UTF-8 become U+FFFD,
    /// as "value" requires. A member that breaks the grammar is skipped and
    /// counted (`baggage_invalid`; "Mutating baggage" lets a platform remove
    /// it). Members past 180, or past 8192 bytes, are dropped and counted
    /// (`baggage_limit`). `None` when no member is left.
    pub fn from_header(header: &str) -> Option<Baggage> {
        let mut baggage = Baggage::new();
        let (mut members, mut bytes) = (0_usize, 0_usize);
        for member in header.split(',') {
            let member = trim_ows(member);
            if member.is_empty() {
                continue;
            }
            bytes += member.len() + usize::from(members > 0);
            if members == MAX_MEMBERS || bytes > MAX_BYTES {
                health::count_error("baggage_limit");
                break;
            }
            members += 1;
            match parse_member(member) {
                Some((key, value, properties)) => baggage.insert_entry(key, value, properties),
                None => health::count_error("baggage_invalid"),
            }
        }
        (!baggage.is_empty()).then_some(baggage)
    }
}

/// OWS, RFC 7230 3.2.3: spaces and horizontal tabs.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `key OWS "=" OWS value *( OWS ";" OWS property )`.
fn parse_member(member: &str) -> Option<(String, String, Option<Box<str>>)> {
    let (pair, properties) = match member.split_once(';') {
        Some((pair, properties)) => (pair, Some(properties)),
        None => (member, None),
    };
    let (key, value) = pair.split_once('=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let properties = match properties {
        Some(properties) => Some(normalize_properties(properties)?.into_boxed_str()),
        None => None,
    };
    Some((key.to_owned(), percent_decode_lossy(value), properties))
}

/// Properties as `;`-separated `key` or `key=value` items, white space
/// removed; `None` when one breaks the grammar.
fn normalize_properties(properties: &str) -> Option<String> {
    let mut out = String::with_capacity(properties.len());
    for property in properties.split(';') {
        let property = trim_ows(property);
        if !out.is_empty() {
            out.push(';');
        }
        match property.split_once('=') {
            Some((key, value)) => {
                let (key, value) = (trim_ows(key), trim_ows(value));
                if !is_token(key) || !value.bytes().all(is_baggage_octet) {
                    return None;
                }
                out.push_str(key);
                out.push('=');
                out.push_str(value);
            }
            None if is_token(property) => out.push_str(property),
            None => return None,
        }
    }
    Some(out)
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`: printable
/// ASCII without space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Percent-decodes a baggage value. A `%` not followed by two hex digits is
/// kept as it is (the URL standard's percent-decode does so), and decoded
/// bytes that are not UTF-8 become U+FFFD: W3C Baggage, "value": "When
/// decoding the value, percent-encoded octet sequences that do not match the
/// UTF-8 encoding scheme MUST be replaced with the replacement code point".
fn percent_decode_lossy(value: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 7230 `token`: the characters a baggage key may have.
fn is_token(key: &str) -> bool {
    !key.is_empty()
        && key.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// W3C `baggage-octet`: printable ASCII without space, `"`, `,`, `;`, `\`.
/// Everything else, and `%` itself, is percent-encoded.
fn encode_value(value: &str, out: &mut String) {
    for b in value.bytes() {
        if is_baggage_octet(b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Baggage>>> = const { RefCell::new(None) };
}

/// The baggage current on this thread, if any.
pub fn current() -> Option<Arc<Baggage>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Runs `f` with the current baggage, without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Baggage>) -> R) -> R {
    let mut f = Some(f);
    let result = CURRENT.try_with(|c| {
        let current = c.borrow();
        (f.take().expect("called once"))(current.as_deref())
    });
    match result {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called"))(None),
    }
}

pub(crate) fn attach_arc(baggage: Option<Arc<Baggage>>) -> BaggageGuard {
    let prev = CURRENT.try_with(|c| c.replace(baggage)).ok().flatten();
    BaggageGuard {
        prev,
        _not_send: PhantomData,
    }
}

/// Restores the previously current baggage when dropped.
#[must_use = "the baggage is current only while the guard lives"]
pub struct BaggageGuard {
    prev: Option<Arc<Baggage>>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for BaggageGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| c.replace(prev));
    }
}

/// A future that runs with fixed baggage current on every poll.
#[must_use = "futures do nothing unless polled"]
pub struct WithBaggage<F> {
    baggage: Option<Arc<Baggage>>,
    inner: F,
}

impl<F> WithBaggage<F> {
    /// Runs `inner` with `baggage` current (with `None`, as it is).
    pub fn new(baggage: Option<Arc<Baggage>>, inner: F) -> Self {
        WithBaggage { baggage, inner }
    }
}

impl<F: Future> Future for WithBaggage<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let _guard = this
            .baggage
            .as_ref()
            .map(|baggage| attach_arc(Some(Arc::clone(baggage))));
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// Carries baggage into futures.
pub trait BaggageFutureExt: Future + Sized {
    /// Runs this future with `baggage` current on every poll.
    fn with_baggage(self, baggage: Baggage) -> WithBaggage<Self> {
        WithBaggage::new(Some(Arc::new(baggage)), self)
    }

    /// Runs this future with the baggage current *now*, wherever it is polled.
    fn with_current_baggage(self) -> WithBaggage<Self> {
        WithBaggage::new(current(), self)
    }
}

impl<F: Future> BaggageFutureExt for F {}

/// Baggage keys copied onto span attributes and log lines.
/// Interned (leaked once per key), since span attribute keys are `'static`.
static ALLOWLIST: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

pub(crate) fn set_allowlist(keys: &[String]) {
    let mut allow = ALLOWLIST.write().unwrap_or_else(|e| e.into_inner());
    let interned: Vec<&'static str> = keys
        .iter()
        .map(|key| match allow.iter().find(|k| **k == key.as_str()) {
            Some(known) => *known,
            None => Box::leak(key.clone().into_boxed_str()),
        })
        .collect();
    *allow = interned;
}

/// The allowlisted entries of `baggage`, in allowlist order.
pub(crate) fn allowlisted(baggage: &Baggage, mut f: impl FnMut(&'static str, &str)) {
    let allow = ALLOWLIST.read().unwrap_or_else(|e| e.into_inner());
    for key in allow.iter() {
        if let Some(value) = baggage.get(key) {
            f(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Option<String> {
        current().and_then(|b| b.get("tenant.id").map(str::to_owned))
    }

    #[test]
    fn spawned_threads_and_tasks_keep_the_baggage() {
        let _guard = Baggage::new().with("tenant.id", "acme").attach();
        let thread = crate::hot::context::spawn_thread(tenant);
        assert_eq!(thread.join().unwrap().as_deref(), Some("acme"));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        // Spawned from this thread, polled on the runtime's worker.
        let task = {
            let _enter = runtime.enter();
            crate::hot::context::spawn(async { tenant() })
        };
        assert_eq!(
            runtime.block_on(task).unwrap().as_deref(),
            Some("acme"),
            "the task sees the baggage of the code that spawned it"
        );
        let plain = runtime.block_on(async { tokio::spawn(async { tenant() }).await.unwrap() });
        assert_eq!(plain, None, "a plain tokio::spawn on a worker has none");
    }

    #[test]
    fn reads_the_w3c_examples() {
        // W3C Baggage, section "Example".
        let b = Baggage::from_header("userId=alice,serverNode=DF%2028,isProduction=false")
            .expect("valid");
        assert_eq!(b.get("userId"), Some("alice"));
        assert_eq!(b.get("serverNode"), Some("DF 28"));
        assert_eq!(b.get("isProduction"), Some("false"));
        // Properties and optional white space.
        let b = Baggage::from_header(
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        )
        .expect("valid");
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [("key1", "value1"), ("key2", "value2"), ("key3", "value3")]
        );
        assert_eq!(b.properties("key1"), Some("property1;property2"));
        assert_eq!(b.properties("key2"), None);
        assert_eq!(b.properties("key3"), Some("propertyKey=propertyValue"));
        // "Values and names might begin and end with spaces."
        let b = Baggage::from_header("userId =   alice,serverNode = DF%2028, isProduction = false")
            .unwrap();
        assert_eq!(b.get("userId"), Some("alice"));
        assert_eq!(b.get("isProduction"), Some("false"));
    }

    #[test]
    fn properties_are_passed_on() {
        let b = Baggage::from_header("k=v;p1;p2 = x , other=1").unwrap();
        assert_eq!(b.to_header().as_deref(), Some("k=v;p1;p2=x,other=1"));
        let mut b = Baggage::new();
        b.insert_with_properties("k", "v", "p1;p2=x");
        assert_eq!(b.to_header().as_deref(), Some("k=v;p1;p2=x"));
        b.insert("k", "w");
        assert_eq!(
            b.properties("k"),
            None,
            "a new value replaces the properties"
        );
    }

    #[test]
    fn writes_the_w3c_example() {
        let b = Baggage::new()
            .with("userId", "alice")
            .with("serverNode", "DF 28")
            .with("isProduction", "false");
        assert_eq!(
            b.to_header().as_deref(),
            Some("userId=alice,serverNode=DF%2028,isProduction=false")
        );
        // A value with the separators survives a round trip.
        let odd = Baggage::new().with("k", "a,b;c=d %e\"ü");
        let header = odd.to_header().unwrap();
        assert_eq!(Baggage::from_header(&header), Some(odd));
    }

    #[test]
    fn bytes_that_are_not_utf8_become_the_replacement_character() {
        let b = Baggage::from_header("k=a%FFb,j=%E2%82,ok=%E2%82%AC,pct=100%,raw=%zz").unwrap();
        assert_eq!(b.get("k"), Some("a\u{fffd}b"));
        assert_eq!(b.get("j"), Some("\u{fffd}"));
        assert_eq!(b.get("ok"), Some("\u{20ac}"));
        assert_eq!(b.get("pct"), Some("100%"), "a lone % is kept");
        assert_eq!(b.get("raw"), Some("%zz"));
    }

    #[test]
    fn limits_keep_the_first_members() {
        let many = (0..=MAX_MEMBERS).fold(Baggage::new(), |b, i| b.with(format!("k{i}"), "v"));
        let before = health::error_count("baggage_limit");
        let written = many.to_header().unwrap();
        assert_eq!(
            written.split(',').count(),
            MAX_MEMBERS,
            "181 members: 180 written"
        );
        assert!(written.starts_with("k0=v,"));
        let big = Baggage::new()
            .with("a", "1")
            .with("k", "x".repeat(MAX_BYTES));
        assert_eq!(
            big.to_header().as_deref(),
            Some("a=1"),
            "the member over 8192 bytes is not"
        );
        let header = (0..=MAX_MEMBERS)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(Baggage::from_header(&header).unwrap().len(), MAX_MEMBERS);
        assert_eq!(health::error_count("baggage_limit"), before + 3);
        let at_limit = (0..MAX_MEMBERS).fold(Baggage::new(), |b, i| b.with(format!("k{i}"), "v"));
        let header = at_limit.to_header().expect("180 members are fine");
        assert_eq!(Baggage::from_header(&header).unwrap().len(), MAX_MEMBERS);
        assert_eq!(health::error_count("baggage_limit"), before + 3);
    }

    #[test]
    fn malformed_members_are_skipped() {
        let before = health::error_count("baggage_invalid");
        let b = Baggage::from_header(
            "ok=1,novalue,bad key=2,sp=a b,q=\"x\",bs=a\\b,prop=1;bad prop,=empty,,empty=",
        )
        .unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), [("ok", "1"), ("empty", "")]);
        assert_eq!(health::error_count("baggage_invalid"), before + 7);
    }

    #[test]
    fn current_follows_the_guard() {
        assert!(current().is_none());
        {
            let _outer = Baggage::new().with("a", "1").attach();
            {
                let _inner = Baggage::new().with("a", "2").attach();
                assert_eq!(current().unwrap().get("a"), Some("2"));
            }
            assert_eq!(current().unwrap().get("a"), Some("1"));
        }
        assert!(current().is_none());
    }
}
