//! The per-crate naming policy: `[package.metadata.observe]` in the annotated
//! crate's `Cargo.toml`, on top of the built-in conventions.
//!
//! ```toml
//! [package.metadata.observe]
//! span_domains = ["Order", "Payment"]   # allowed first segments
//! min_segments = 2
//! max_segments = 3
//! metric_prefix = "shop"                # custom families start with `shop_`
//! deny_label_keys = ["tenant"]          # on top of ids, urls, users, ...
//! sensitive_keys = ["loyalty_number"]   # on top of email, phone, iban, ...
//!
//! [package.metadata.observe.allow]       # explicit exceptions
//! span_names = ["Legacy.checkout_v1"]
//! label_keys = ["region_id"]
//! sensitive_keys = ["payment.card_brand"]
//! ```
//!
//! Cargo does not rebuild a crate when only its `[package.metadata]`
//! changes, so every expansion includes the manifest's bytes in an unused
//! constant: that puts `Cargo.toml` in the crate's dep-info, and editing the
//! policy re-runs the checks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use proc_macro2::TokenStream;
use quote::quote;

use crate::rules::{self, SENSITIVE_WORDS, SPAN_EXAMPLE};

/// The conventions in force for one crate. `Default` is the built-in policy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Policy {
    /// Allowed first segments of span names; empty allows any.
    pub(crate) span_domains: Vec<String>,
    pub(crate) min_segments: usize,
    pub(crate) max_segments: usize,
    /// Custom metric families must start with `<prefix>_`.
    pub(crate) metric_prefix: Option<String>,
    /// Label keys denied on top of the unbounded ones.
    pub(crate) deny_label_keys: Vec<String>,
    /// Sensitive words on top of the built-in list.
    pub(crate) sensitive_keys: Vec<String>,
    pub(crate) allow: Exceptions,
}

/// Names accepted even though they break a rule, each listed explicitly.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Exceptions {
    pub(crate) span_names: Vec<String>,
    pub(crate) label_keys: Vec<String>,
    pub(crate) sensitive_keys: Vec<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            span_domains: Vec::new(),
            min_segments: 2,
            max_segments: 4,
            metric_prefix: None,
            deny_label_keys: Vec::new(),
            sensitive_keys: Vec::new(),
            allow: Exceptions::default(),
        }
    }
}

impl Policy {
    pub(crate) fn span_domains(&self) -> &[String] {
        &self.span_domains
    }

    pub(crate) fn segments(&self) -> (usize, usize) {
        (self.min_segments, self.max_segments)
    }

    /// "2 to 4", or "3" when both bounds are the same.
    pub(crate) fn segment_range(&self) -> String {
        if self.min_segments == self.max_segments {
            self.min_segments.to_string()
        } else {
            format!("{} to {}", self.min_segments, self.max_segments)
        }
    }

    /// A domain to show in examples: the first allowed one, or `Order`.
    pub(crate) fn example_domain(&self) -> &str {
        self.span_domains.first().map_or("Order", String::as_str)
    }

    /// A span name to show in examples, valid under this policy.
    pub(crate) fn example_span_name(&self) -> String {
        let operation = SPAN_EXAMPLE.split('.').nth(1).unwrap_or("Submit");
        let mut segments = vec![self.example_domain()];
        while segments.len() + 1 < self.min_segments {
            segments.push("Service");
        }
        segments.push(operation);
        segments.join(".")
    }

    pub(crate) fn allows_span_name(&self, name: &str) -> bool {
        self.allow.span_names.iter().any(|allowed| allowed == name)
    }

    pub(crate) fn allows_label_key(&self, key: &str) -> bool {
        self.allow.label_keys.iter().any(|allowed| allowed == key)
    }

    pub(crate) fn allows_sensitive_key(&self, key: &str) -> bool {
        self.allow
            .sensitive_keys
            .iter()
            .any(|allowed| allowed == key)
    }

    pub(crate) fn metric_prefix(&self) -> Option<&str> {
        self.metric_prefix.as_deref()
    }

    pub(crate) fn deny_label_keys(&self) -> &[String] {
        &self.deny_label_keys
    }

    /// The crate's own sensitive words, without the built-in ones.
    pub(crate) fn own_sensitive_keys(&self) -> &[String] {
        &self.sensitive_keys
    }

    /// The built-in sensitive words and the crate's own.
    pub(crate) fn sensitive_words(&self) -> Vec<String> {
        SENSITIVE_WORDS
            .iter()
            .map(|word| (*word).to_owned())
            .chain(self.sensitive_keys.iter().cloned())
            .collect()
    }
}

/// The policy of the crate being compiled, with the manifest it came from.
pub(crate) struct Loaded {
    pub(crate) policy: Policy,
    /// `Cargo.toml`, when there is one.
    pub(crate) manifest: Option<PathBuf>,
}

impl Loaded {
    /// An unused constant holding the manifest's bytes, so that cargo rebuilds
    /// the crate, and re-runs these checks, when the policy changes.
    pub(crate) fn track(&self) -> TokenStream {
        match self.manifest.as_ref().and_then(|path| path.to_str()) {
            Some(path) => quote! {
                const _: &[u8] = ::core::include_bytes!(#path);
            },
            None => TokenStream::new(),
        }
    }
}

/// A manifest, when it was last modified, and the policy it held.
type Cached = (PathBuf, Option<SystemTime>, Result<Policy, String>);

/// Reads `[package.metadata.observe]` from `$CARGO_MANIFEST_DIR/Cargo.toml`.
/// Without a manifest (an expansion outside cargo) the built-in policy
/// applies; a malformed policy is an error naming the file and the key.
pub(crate) fn load() -> Result<Loaded, String> {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return Ok(Loaded {
            policy: Policy::default(),
            manifest: None,
        });
    };
    let manifest = Path::new(&dir).join("Cargo.toml");
    let modified = std::fs::metadata(&manifest)
        .and_then(|metadata| metadata.modified())
        .ok();
    // One proc-macro process may expand many crates (rust-analyzer) and
    // expands many functions per crate: parse each manifest once per change.
    static CACHE: Mutex<Vec<Cached>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cached = cache
        .iter()
        .find(|(path, time, _)| *path == manifest && *time == modified)
        .map(|(_, _, policy)| policy.clone());
    let policy = match cached {
        Some(policy) => policy,
        None => {
            let policy = match std::fs::read_to_string(&manifest) {
                Ok(text) => parse(&text).map_err(|problem| {
                    format!(
                        "malformed `[package.metadata.observe]` in {}: {problem}",
                        manifest.display()
                    )
                }),
                Err(_) => Ok(Policy::default()),
            };
            cache.retain(|(path, _, _)| *path != manifest);
            cache.push((manifest.clone(), modified, policy.clone()));
            policy
        }
    };
    policy.map(|policy| Loaded {
        policy,
        manifest: manifest.exists().then_some(manifest),
    })
}

const KEYS: &[&str] = &[
    "span_domains",
    "min_segments",
    "max_segments",
    "metric_prefix",
    "deny_label_keys",
    "sensitive_keys",
    "allow",
];
const ALLOW_KEYS: &[&str] = &["span_names", "label_keys", "sensitive_keys"];

/// The policy in a manifest's text.
pub(crate) fn parse(manifest: &str) -> Result<Policy, String> {
    let document: toml::Table = manifest.parse().map_err(|error: toml::de::Error| {
        format!("the file is not valid TOML: {}", error.message())
    })?;
    let Some(section) = document
        .get("package")
        .and_then(|package| package.get("metadata"))
        .and_then(|metadata| metadata.get("observe"))
    else {
        return Ok(Policy::default());
    };
    let section = section
        .as_table()
        .ok_or("expected a table of settings, e.g. `span_domains = [\"Order\"]`")?;
    let mut policy = Policy::default();
    let mut problems = Vec::new();
    for (key, value) in section {
        let result = match key.as_str() {
            "span_domains" => strings(key, value).and_then(|domains| {
                for domain in &domains {
                    if rules::pascal_case(domain) != *domain
                        || !domain.starts_with(|c: char| c.is_ascii_uppercase())
                    {
                        return Err(format!(
                            "`span_domains` lists `{domain}`, which is not a PascalCase segment \
                             (e.g. `Order`)"
                        ));
                    }
                }
                policy.span_domains = domains;
                Ok(())
            }),
            "min_segments" => segments(key, value).map(|n| policy.min_segments = n),
            "max_segments" => segments(key, value).map(|n| policy.max_segments = n),
            "metric_prefix" => match value.as_str() {
                Some(prefix)
                    if prefix.starts_with(|c: char| c.is_ascii_lowercase())
                        && !prefix.ends_with('_')
                        && prefix
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
                {
                    policy.metric_prefix = Some(prefix.to_owned());
                    Ok(())
                }
                _ => Err(format!(
                    "`metric_prefix` must be a snake_case string such as `\"shop\"`, found `{}`",
                    show(value)
                )),
            },
            "deny_label_keys" => keys(key, value).map(|keys| policy.deny_label_keys = keys),
            "sensitive_keys" => keys(key, value).map(|keys| policy.sensitive_keys = keys),
            "allow" => allow(value, &mut policy.allow),
            other => Err(unknown(other, KEYS, "")),
        };
        if let Err(problem) = result {
            problems.push(problem);
        }
    }
    if policy.min_segments > policy.max_segments {
        problems.push(format!(
            "`min_segments` ({}) is more than `max_segments` ({})",
            policy.min_segments, policy.max_segments
        ));
    }
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(problems.join("; "))
    }
}

/// A value as it would be written in TOML, for messages.
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => format!("{d:?}"),
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

fn unknown(key: &str, valid: &[&str], table: &str) -> String {
    let valid: Vec<String> = valid.iter().map(|key| format!("{table}{key}")).collect();
    let valid: Vec<&str> = valid.iter().map(String::as_str).collect();
    format!(
        "unknown key `{table}{key}`, expected {}",
        crate::errors::expected(&valid)
    )
}

fn strings(key: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    let invalid = || {
        format!(
            "`{key}` must be an array of strings, found `{}`",
            show(value)
        )
    };
    value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
        .collect()
}

/// An array of lowercase keys or words (`tenant`, `payment.card_brand`).
fn keys(key: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    let keys = strings(key, value)?;
    for item in &keys {
        if rules::check_key(item, rules::KeyUse::Label).is_err() {
            return Err(format!(
                "`{key}` lists `{item}`, which is not a lowercase key such as `tenant` or \
                 `payment.card_brand`"
            ));
        }
    }
    Ok(keys)
}

fn segments(key: &str, value: &toml::Value) -> Result<usize, String> {
    match value.as_integer() {
        Some(n @ 1..=8) => Ok(n as usize),
        _ => Err(format!(
            "`{key}` must be an integer from 1 to 8, found `{}`",
            show(value)
        )),
    }
}

fn allow(value: &toml::Value, allow: &mut Exceptions) -> Result<(), String> {
    let table = value.as_table().ok_or_else(|| {
        format!(
            "`allow` must be a table such as `[package.metadata.observe.allow]`, found `{}`",
            show(value)
        )
    })?;
    for (key, value) in table {
        let list = strings(&format!("allow.{key}"), value)?;
        match key.as_str() {
            "span_names" => allow.span_names = list,
            "label_keys" => allow.label_keys = list,
            "sensitive_keys" => allow.sensitive_keys = list,
            other => return Err(unknown(other, ALLOW_KEYS, "allow.")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_section_is_the_default() {
        assert_eq!(parse("[package]\nname = \"x\"\n"), Ok(Policy::default()));
    }

    #[test]
    fn every_key() {
        let policy = parse(
            r#"
            [package.metadata.observe]
            span_domains = ["Order", "Payment"]
            min_segments = 2
            max_segments = 3
            metric_prefix = "shop"
            deny_label_keys = ["tenant"]
            sensitive_keys = ["iban"]

            [package.metadata.observe.allow]
            span_names = ["Legacy.checkout_v1"]
            label_keys = ["region_id"]
            sensitive_keys = ["payment.card_brand"]
            "#,
        )
        .unwrap();
        assert_eq!(policy.span_domains, ["Order", "Payment"]);
        assert_eq!(policy.segments(), (2, 3));
        assert_eq!(policy.metric_prefix(), Some("shop"));
        assert!(policy.allows_span_name("Legacy.checkout_v1"));
        assert!(policy.allows_label_key("region_id"));
        assert!(policy.allows_sensitive_key("payment.card_brand"));
        assert!(policy.sensitive_words().contains(&"iban".to_owned()));
    }

    #[test]
    fn sensitive_keys_are_normalised() {
        let policy = parse(
            r#"
            [package.metadata.observe]
            sensitive_keys = ["loyalty_number", "vin"]

            [package.metadata.observe.allow]
            sensitive_keys = ["payment.card_brand", "shipping.address_kind"]
            "#,
        )
        .unwrap();
        let word = |key: &str| crate::naming::sensitive_word(key, &policy);
        // The crate's words, however the key spells them.
        for key in [
            "loyalty_number",
            "member.loyalty_number",
            "member.loyaltyNumber",
            "loyaltynumber",
            "car.vin",
        ] {
            assert!(word(key).is_some(), "{key}");
        }
        // Short words match whole only, as the built-in ones do.
        assert_eq!(word("vinyl"), None);
        // The exceptions are exact keys, and only those.
        assert_eq!(word("payment.card_brand"), None);
        assert_eq!(word("shipping.address_kind"), None);
        assert_eq!(word("payment.card").as_deref(), Some("card"));
        assert_eq!(word("shipping.address").as_deref(), Some("address"));
    }

    #[test]
    fn malformed() {
        let problem =
            |text: &str| parse(&format!("[package.metadata.observe]\n{text}")).unwrap_err();
        assert_eq!(
            problem("span_domain = [\"Order\"]"),
            "unknown key `span_domain`, expected one of `span_domains`, `min_segments`, \
             `max_segments`, `metric_prefix`, `deny_label_keys`, `sensitive_keys`, `allow`"
        );
        assert_eq!(
            problem("min_segments = \"2\""),
            "`min_segments` must be an integer from 1 to 8, found `\"2\"`"
        );
        assert_eq!(
            problem("min_segments = 3\nmax_segments = 2"),
            "`min_segments` (3) is more than `max_segments` (2)"
        );
        assert_eq!(
            problem("span_domains = [\"order\"]"),
            "`span_domains` lists `order`, which is not a PascalCase segment (e.g. `Order`)"
        );
        assert_eq!(
            problem("metric_prefix = \"Shop-\""),
            "`metric_prefix` must be a snake_case string such as `\"shop\"`, found `\"Shop-\"`"
        );
        assert_eq!(
            problem("[package.metadata.observe.allow]\nspans = []"),
            "unknown key `allow.spans`, expected one of `allow.span_names`, `allow.label_keys`, \
             `allow.sensitive_keys`"
        );
        assert!(parse("[package\n")
            .unwrap_err()
            .starts_with("the file is not valid TOML"));
    }
}
