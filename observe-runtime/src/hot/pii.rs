//! Recording sensitive values without exporting them: [`mask`] keeps a
//! recognisable shape, [`hash`] a stable keyed digest.
//!
//! `#[observe]` rejects a raw value under a sensitive key (`email`, `phone`,
//! `password`, `card`, `ssn`, `token`, `secret`, `address`, and the crate's
//! own `sensitive_keys`): the value must be one of these two calls.
//!
//! ```
//! use observe_runtime::{hash, mask, observe};
//!
//! #[observe(span = "User.SignUp", fields(user.phone = mask(phone), user.email = hash(email)))]
//! fn sign_up(phone: &str, email: &str) {}
//!
//! assert_eq!(mask("13812348000").to_string(), "138****8000");
//! assert_eq!(mask("ada@example.com").to_string(), "a***@example.com");
//! ```
//!
//! # The hash key
//!
//! [`hash`] is SipHash-2-4 (128-bit output, hex) keyed with a per-deployment
//! secret, so the same value gives the same digest across processes of one
//! deployment and nobody without the key can test guesses against it (a phone
//! number has few enough possible values that an unkeyed hash is no
//! protection). The key is, in order:
//!
//! 1. [`set_hash_key`], if called before the first `hash`;
//! 2. the `OBSERVE_HASH_KEY` environment variable: a secret of at least 16
//!    characters, e.g. from `openssl rand -hex 16`;
//! 3. otherwise a random key for this process, with a warning: digests are
//!    then stable only within the process.

use std::fmt;
use std::hash::Hasher as _;

use once_cell::sync::OnceCell;
use opentelemetry::Value;
use siphasher::sip128::{Hasher128 as _, SipHasher24};

use super::sensitive::RawText;
pub(crate) use super::sensitive::REDACTED as REDACTED_TEXT;
use super::value::ToAttributeValue;

/// A value with most of its characters replaced by `*`; see [`mask`].
#[derive(Clone, PartialEq, Eq)]
pub struct Masked(String);

/// A keyed digest of a value; see [`hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct Hashed(String);

/// Keeps the shape of `value` and hides the rest, for a field whose raw value
/// must not leave the process:
///
/// - an email keeps the first character and the domain: `a***@example.com`;
/// - anything else keeps separators and the first and last few letters or
///   digits, replacing the others one for one with `*`: 11 or more keep 3 and
///   4 (`138****8000`, `411*********1111`), 7 to 10 keep 2 and 2, 4 to 6
///   keep 1 and 1, and shorter values are masked whole.
///
/// For passwords and tokens prefer [`hash`], or nothing at all: even the ends
/// of a secret are a hint.
pub fn mask<T: RawText + ?Sized>(value: &T) -> Masked {
    let text = value.raw_text();
    Masked(match text.split_once('@') {
        Some((local, domain)) if !domain.is_empty() && !domain.contains('@') => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => mask_middle(&text),
    })
}

fn mask_middle(text: &str) -> String {
    let significant = text.chars().filter(|c| c.is_alphanumeric()).count();
    let (keep_start, keep_end) = match significant {
        11.. => (3, 4),
        7..=10 => (2, 2),
        4..=6 => (1, 1),
        _ => (0, 0),
    };
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen <= keep_start || seen > significant - keep_end {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// A stable keyed digest of `value`'s raw text: 32 hex characters.
/// Equal values give equal digests under the same key, so a field can still
/// be grouped and joined on. The key is `OBSERVE_HASH_KEY`,
/// `Config::hash_key` or [`set_hash_key`]; without one, a random key per
/// process (with a warning), so digests join only within the process.
pub fn hash<T: RawText + ?Sized>(value: &T) -> Hashed {
    let (k0, k1) = *key();
    let mut hasher = SipHasher24::new_with_keys(k0, k1);
    hasher.write(value.raw_text().as_bytes());
    Hashed(format!("{:032x}", hasher.finish128().as_u128()))
}

/// Sets the key [`hash`] uses, overriding `OBSERVE_HASH_KEY`. Only the first
/// key set (or read) counts, so call it before anything is hashed; returns
/// `false` if a key was already in use.
pub fn set_hash_key(secret: &[u8]) -> bool {
    KEY.set(derive_key(secret)).is_ok()
}

static KEY: OnceCell<(u64, u64)> = OnceCell::new();

fn key() -> &'static (u64, u64) {
    KEY.get_or_init(|| match std::env::var("OBSERVE_HASH_KEY") {
        Ok(secret) if secret.len() >= 16 => derive_key(secret.as_bytes()),
        other => {
            let reason = match other {
                Ok(_) => "OBSERVE_HASH_KEY is shorter than 16 characters",
                Err(_) => "OBSERVE_HASH_KEY is not set",
            };
            tracing::warn!(
                "{reason}: observe_runtime::hash uses a random key, so digests differ between processes"
            );
            random_key()
        }
    })
}

/// A 128-bit SipHash key from a secret of any length, with a fixed
/// domain-separation key so the same secret used elsewhere gives another key.
fn derive_key(secret: &[u8]) -> (u64, u64) {
    const DOMAIN: (u64, u64) = (0x6f62_7365_7276_6521, 0x6861_7368_2d6b_6579);
    let mut hasher = SipHasher24::new_with_keys(DOMAIN.0, DOMAIN.1);
    hasher.write(secret);
    let digest = hasher.finish128();
    (digest.h1, digest.h2)
}

fn random_key() -> (u64, u64) {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher as _;
    let state = RandomState::new();
    (state.hash_one(1_u8), state.hash_one(2_u8))
}

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Hashed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Hashed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl ToAttributeValue for Masked {
    fn to_attribute_value(&self) -> Value {
        Value::String(self.0.clone().into())
    }
}

impl ToAttributeValue for Hashed {
    fn to_attribute_value(&self) -> Value {
        Value::String(self.0.clone().into())
    }
}

/// Values that are safe to record under a sensitive key. Sealed: only
/// [`Masked`] and [`Hashed`] are.
#[diagnostic::on_unimplemented(
    message = "a sensitive field must be recorded through `observe_runtime::mask(..)` or `observe_runtime::hash(..)`, found `{Self}`",
    label = "a raw value under a sensitive key",
    note = "keys containing `email`, `phone`, `password`, `card`, `ssn`, `token`, `secret` or `address` (and the crate's `sensitive_keys`) are sensitive"
)]
pub trait Redacted: sealed::Sealed {
    /// The attribute value.
    fn redacted_value(&self) -> Value;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Masked {}
    impl Sealed for super::Hashed {}
}

impl Redacted for Masked {
    fn redacted_value(&self) -> Value {
        self.to_attribute_value()
    }
}

impl Redacted for Hashed {
    fn redacted_value(&self) -> Value {
        self.to_attribute_value()
    }
}

/// `fields(sensitive.key = mask(..))`: only masked or hashed values.
#[doc(hidden)]
pub fn redacted_value<T: Redacted>(value: &T) -> Value {
    value.redacted_value()
}

/// The matcher `#[observe]` applies to field keys, compiled from its one
/// source (`observe-macros/src/key_words.rs`), so the log layer and the
/// attribute agree on every key.
#[allow(dead_code, unreachable_pub)]
mod key_words {
    observe_macros::__key_words!();
}

/// The sensitive words of each crate's `[package.metadata.observe]`
/// policy: every `#[observe]` expansion in a crate that adds words lists
/// them here at link time, so the log layer masks what the crate's spans
/// refuse.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static POLICY_SENSITIVE_KEYS: [&'static [&'static str]];

/// The built-in words, then every crate's own, once each.
fn sensitive_words() -> &'static [&'static str] {
    static WORDS: OnceCell<Vec<&'static str>> = OnceCell::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<&'static str> = key_words::SENSITIVE_WORDS.to_vec();
        for crate_words in POLICY_SENSITIVE_KEYS.iter() {
            for word in crate_words.iter() {
                if !words.contains(word) {
                    words.push(word);
                }
            }
        }
        words
    })
}

/// Whether `key` names personal data, by the rules `#[observe]` applies to
/// field keys (`key_words.rs`): split into words at `.`, `_`, `-` and case
/// changes; a word, a word without its trailing digits, or two adjacent
/// words joined (`e_mail`, `api_key`) that is a sensitive word, or a word
/// that holds one of five letters or more (`emailaddress`, `useremail`);
/// the built-in words and every crate's `sensitive_keys`.
pub(crate) fn is_sensitive_key(key: &str) -> bool {
    key_words::matching_entry(key, sensitive_words()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys_by_the_macros_rules() {
        for key in [
            "email",
            "user.email",
            "userEmail",
            "e_mail",
            "emailAddress",
            "useremail",
            "contact_phone",
            "auth_token",
            "PASSWORD",
            "card.number",
            "ssn2",
            "credit_card",
            "api.key",
        ] {
            assert!(is_sensitive_key(key), "{key}");
        }
        for key in [
            "message",
            "order.id",
            "sku",
            "zip",
            "span.kind",
            "company",
            "tier",
            "tokenizer",
            "discard",
        ] {
            assert!(!is_sensitive_key(key), "{key}");
        }
    }

    #[test]
    fn masks_keep_the_shape() {
        assert_eq!(mask("13812348000").to_string(), "138****8000");
        assert_eq!(mask(&13812348000_u64).to_string(), "138****8000");
        assert_eq!(mask("+86 138-1234-8000").to_string(), "+86 1**-****-8000");
        assert_eq!(
            mask("4111 1111 1111 1111").to_string(),
            "411* **** **** 1111"
        );
        assert_eq!(mask("ada@example.com").to_string(), "a***@example.com");
        assert_eq!(mask("@example.com").to_string(), "***@example.com");
        assert_eq!(mask("Baker St").to_string(), "Ba*** St");
        assert_eq!(mask("secret").to_string(), "s****t");
        assert_eq!(mask("abc").to_string(), "***");
        assert_eq!(mask("").to_string(), "");
        assert_eq!(mask("Zoë Müller").to_string(), "Zo* ****er");
    }

    #[test]
    fn hashes_are_keyed_and_stable() {
        let a = derive_key(b"0123456789abcdef");
        let b = derive_key(b"another secret!!");
        assert_ne!(a, b);
        let digest = |key: (u64, u64), text: &str| {
            let mut hasher = SipHasher24::new_with_keys(key.0, key.1);
            hasher.write(text.as_bytes());
            hasher.finish128().as_u128()
        };
        assert_eq!(digest(a, "13812348000"), digest(a, "13812348000"));
        assert_ne!(digest(a, "13812348000"), digest(b, "13812348000"));
        let hashed = hash("13812348000").to_string();
        assert_eq!(hashed.len(), 32);
        assert!(hashed.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash("13812348000"), hash(&13812348000_u64));
        assert_ne!(hash("13812348000"), hash("13812348001"));
    }
}
