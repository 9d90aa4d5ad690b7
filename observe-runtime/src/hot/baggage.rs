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
//! The W3C limits (8192 bytes and 180 members per header) are enforced on
//! extract and on inject: baggage over them is dropped and counted in
//! `observe_propagation_errors_total{reason="baggage_limit"}`.
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
use crate::core::text::percent_decode;

/// The W3C Baggage limit on the whole header, in bytes.
pub const MAX_BYTES: usize = 8192;
/// The W3C Baggage limit on the number of list members.
pub const MAX_MEMBERS: usize = 180;

/// A set of baggage entries, in the order they were given or received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baggage {
    entries: Vec<(String, String)>,
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

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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

    /// The W3C `baggage` header value: `key=value` members joined by `,`,
    /// values percent-encoded. `None` when it would exceed the W3C limits
    /// (counted as `baggage_limit`) or there is nothing to write.
    pub fn to_header(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let mut out = String::new();
        let mut members = 0;
        for (key, value) in &self.entries {
            if !is_token(key) {
                health::count_error("baggage_invalid");
                continue;
            }
            if members > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push('=');
            encode_value(value, &mut out);
            members += 1;
        }
        if members > MAX_MEMBERS || out.len() > MAX_BYTES {
            health::count_error("baggage_limit");
            return None;
        }
        (members > 0).then_some(out)
    }

    /// Parses a W3C `baggage` header value. Members that are not
    /// `key=value` are skipped and counted (`baggage_invalid`); properties
    /// after `;` are ignored. A header over the W3C limits gives `None`
    /// (counted as `baggage_limit`).
    pub fn from_header(header: &str) -> Option<Baggage> {
        let members = header.split(',').filter(|m| !m.trim().is_empty()).count();
        if header.len() > MAX_BYTES || members > MAX_MEMBERS {
            health::count_error("baggage_limit");
            return None;
        }
        let mut baggage = Baggage::new();
        for member in header.split(',') {
            if member.trim().is_empty() {
                continue;
            }
            let pair = member.split(';').next().unwrap_or("");
            let parsed = pair.split_once('=').and_then(|(key, value)| {
                let key = key.trim();
                let value = percent_decode(value.trim())?;
                is_token(key).then(|| (key.to_owned(), value))
            });
            match parsed {
                Some((key, value)) => baggage.insert(key, value),
                None => health::count_error("baggage_invalid"),
            }
        }
        (!baggage.is_empty()).then_some(baggage)
    }
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
        let plain =
            matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E) && b != b'%';
        if plain {
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
        // Properties and optional whitespace.
        let b = Baggage::from_header(
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        )
        .expect("valid");
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [("key1", "value1"), ("key2", "value2"), ("key3", "value3")]
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
    fn limits_are_enforced_both_ways() {
        let many = (0..=MAX_MEMBERS).fold(Baggage::new(), |b, i| b.with(format!("k{i}"), "v"));
        let before = health::error_count("baggage_limit");
        assert_eq!(many.to_header(), None, "181 members are not written");
        let big = Baggage::new().with("k", "x".repeat(MAX_BYTES));
        assert_eq!(big.to_header(), None, "over 8192 bytes is not written");
        let header = (0..=MAX_MEMBERS)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(Baggage::from_header(&header), None);
        assert_eq!(health::error_count("baggage_limit"), before + 3);
        let at_limit = (0..MAX_MEMBERS).fold(Baggage::new(), |b, i| b.with(format!("k{i}"), "v"));
        let header = at_limit.to_header().expect("180 members are fine");
        assert_eq!(Baggage::from_header(&header).unwrap().len(), MAX_MEMBERS);
    }

    #[test]
    fn malformed_members_are_skipped() {
        let before = health::error_count("baggage_invalid");
        let b = Baggage::from_header("ok=1,novalue,bad key=2,pct=%zz").unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), [("ok", "1")]);
        assert_eq!(health::error_count("baggage_invalid"), before + 3);
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
