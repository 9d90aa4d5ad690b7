//! The naming conventions, as pure functions on strings: span names, attribute
//! and label keys, metric family names, and the case conversions behind the
//! suggested fixes.
//!
//! The pure rules they build on (case conversions, key spelling, word lists)
//! are in `rules`, which the policy file's checks share.
//!
//! Each check returns the message for the first rule broken, ending in the
//! fix when it is mechanical (`order.submit` -> `Order.Submit`). `validate`
//! puts the message on the offending token.

use crate::policy::Policy;
use crate::rules::{
    check_key, is_pascal_segment, pascal_case, words, KeyUse, RESERVED_LABELS,
    UNBOUNDED_LABEL_WORDS,
};

/// Suffixes Prometheus derives from a histogram or reserves for counters.
const RESERVED_METRIC_SUFFIXES: &[&str] = &["_total", "_bucket", "_count", "_sum"];

/// The default latency family, which `metric = "latency"` selects.
pub(crate) const DEFAULT_FAMILY: &str = "operation_duration_seconds";

/// The first `{...}` placeholder in `name`, braces included.
fn placeholder(name: &str) -> Option<&str> {
    let open = name.find('{')?;
    let close = open + name[open..].find('}')?;
    Some(&name[open..=close])
}

/// `name` split into segments the way the user most likely meant: at `.`, or
/// at whitespace when there is no `.` at all (`order submit`).
fn intended_segments(name: &str) -> Vec<&str> {
    if name.contains('.') {
        name.split('.').collect()
    } else {
        name.split_whitespace().collect()
    }
}

/// A corrected span name, if one can be made mechanically and it passes the
/// shape rules.
fn suggest_span_name(name: &str, policy: &Policy) -> Option<String> {
    if !name.is_ascii() {
        // Transliterating is not mechanical: `Créer` is not `CrEr`.
        return None;
    }
    let segments: Vec<String> = intended_segments(name)
        .into_iter()
        .map(pascal_case)
        .filter(|segment| !segment.is_empty())
        .collect();
    let suggestion = segments.join(".");
    (suggestion != name && span_shape(&suggestion, policy).is_ok()).then_some(suggestion)
}

/// "write `X`" when there is a mechanical fix, else "e.g. `Order.Submit`".
fn fix(suggestion: Option<String>, policy: &Policy) -> String {
    match suggestion {
        Some(name) => format!("write `{name}`"),
        None => format!("e.g. `{}`", policy.example_span_name()),
    }
}

/// Checks a span name against the conventions and the crate's policy.
pub(crate) fn check_span_name(name: &str, policy: &Policy) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "span name must not be empty: name the operation, e.g. `span = \"{}\"`",
            policy.example_span_name()
        ));
    }
    if policy.allows_span_name(name) {
        return Ok(());
    }
    span_shape(name, policy).map_err(|rule| {
        let suggestion = suggest_span_name(name, policy);
        match rule {
            ShapeError::Placeholder(placeholder) => {
                let inner = placeholder.trim_matches(|c| c == '{' || c == '}');
                let field = if inner.is_empty() { "value" } else { inner };
                format!(
                    "span name must not contain the placeholder `{placeholder}`: span names are \
                     fixed so calls can be aggregated; record `{field}` with `fields({field} = ...)`"
                )
            }
            ShapeError::NonAscii(c) => format!(
                "span name must be ASCII, found `{c}`: segments are ASCII letters and digits, {}",
                fix(suggestion, policy)
            ),
            ShapeError::Whitespace => format!(
                "span name must not contain whitespace: {}",
                fix(suggestion, policy)
            ),
            ShapeError::EmptySegment => format!(
                "span name has an empty segment: {}",
                fix(suggestion, policy)
            ),
            ShapeError::TooFew(count) => {
                let example = match name.split('.').next().map(pascal_case) {
                    Some(operation) if count == 1 && is_pascal_segment(&operation) => {
                        format!("write `<Domain>.{operation}`, e.g. `{}`", {
                            let domain = policy.example_domain();
                            format!("{domain}.{operation}")
                        })
                    }
                    _ => format!("e.g. `{}`", policy.example_span_name()),
                };
                format!(
                    "span name `{name}` has {}, expected {}: name the domain and the operation, {example}",
                    plural(count, "segment"),
                    policy.segment_range(),
                )
            }
            ShapeError::TooMany(count) => format!(
                "span name `{name}` has {}, expected {}: e.g. `Payment.OrderService.CreateOrder`",
                plural(count, "segment"),
                policy.segment_range(),
            ),
            ShapeError::NotPascal(segment) => format!(
                "span name segment `{segment}` is not PascalCase (an uppercase letter, then ASCII \
                 letters and digits): {}",
                fix(suggestion, policy)
            ),
            ShapeError::Domain(domain) => format!(
                "span domain `{domain}` is not allowed in this crate, expected {} \
                 (`span_domains` in `[package.metadata.observe]`)",
                crate::errors::expected(
                    &policy.span_domains().iter().map(String::as_str).collect::<Vec<_>>()
                ),
            ),
        }
    })
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

enum ShapeError<'a> {
    Placeholder(&'a str),
    NonAscii(char),
    Whitespace,
    EmptySegment,
    TooFew(usize),
    TooMany(usize),
    NotPascal(&'a str),
    Domain(&'a str),
}

/// The span-name rules other than emptiness and exceptions, in the order
/// their messages are most useful.
fn span_shape<'a>(name: &'a str, policy: &Policy) -> Result<(), ShapeError<'a>> {
    if let Some(placeholder) = placeholder(name) {
        return Err(ShapeError::Placeholder(placeholder));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        return Err(ShapeError::NonAscii(c));
    }
    if name.chars().any(|c| c.is_ascii_whitespace()) {
        return Err(ShapeError::Whitespace);
    }
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(ShapeError::EmptySegment);
    }
    let (min, max) = policy.segments();
    if segments.len() < min {
        return Err(ShapeError::TooFew(segments.len()));
    }
    if segments.len() > max {
        return Err(ShapeError::TooMany(segments.len()));
    }
    if let Some(segment) = segments.iter().find(|s| !is_pascal_segment(s)) {
        return Err(ShapeError::NotPascal(segment));
    }
    let domain = segments[0];
    if !policy.span_domains().is_empty() && !policy.span_domains().iter().any(|d| d == domain) {
        return Err(ShapeError::Domain(domain));
    }
    Ok(())
}

/// The word that makes `key` sensitive, if any.
pub(crate) fn sensitive_word(key: &str, policy: &Policy) -> Option<String> {
    if policy.allows_sensitive_key(key) {
        return None;
    }
    crate::key_words::matching_entry(key, &policy.sensitive_words()).cloned()
}

/// Why `key` cannot be a metric label, if it cannot: its values are
/// unbounded (ids, urls, users) or sensitive, or the name is taken.
pub(crate) fn check_label_key(key: &str, policy: &Policy) -> Result<(), String> {
    // Cardinality first: `orderId` is better told "not a label" than "write
    // `order.id`".
    if !policy.allows_label_key(key) {
        let last = words(key).pop().unwrap_or_default();
        if let Some(word) = sensitive_word(key, policy) {
            return Err(format!(
                "label key `{key}` is sensitive (`{word}`) and would put personal data in every \
                 scrape: put it on the span with `fields(...)` instead, through \
                 `observe_runtime::hash(..)`"
            ));
        }
        let unbounded = UNBOUNDED_LABEL_WORDS
            .contains(&last.as_str())
            .then(|| last.clone());
        let denied = policy
            .deny_label_keys()
            .iter()
            .find(|denied| denied.as_str() == key || **denied == last)
            .cloned();
        if let Some(word) = unbounded {
            return Err(format!(
                "label key `{key}` has unbounded values (`{word}`), and every value is a new \
                 time series: put it on the span with `fields(...)` instead"
            ));
        }
        if let Some(word) = denied {
            return Err(format!(
                "label key `{key}` is denied in this crate (`{word}` in `deny_label_keys` of \
                 `[package.metadata.observe]`): put it on the span with `fields(...)` instead"
            ));
        }
    }
    check_key(key, KeyUse::Label)?;
    let prometheus = key.replace('.', "_");
    if RESERVED_LABELS.contains(&prometheus.as_str()) {
        return Err(format!(
            "label key `{key}` is taken: the latency histogram already has `operation`, \
             `outcome` and `error_type`, and Prometheus reserves `le` and `quantile`"
        ));
    }
    Ok(())
}

/// The custom family name `name` made valid, if that is mechanical.
fn suggest_metric_name(name: &str, policy: &Policy) -> Option<String> {
    let mut words = words(name.trim_start_matches('_'));
    if words.is_empty() {
        return None;
    }
    while words.len() > 1
        && RESERVED_METRIC_SUFFIXES
            .iter()
            .any(|suffix| suffix[1..] == *words.last().unwrap_or(&String::new()))
    {
        words.pop();
    }
    const OTHER_UNITS: &[&str] = &[
        "ms",
        "millis",
        "milliseconds",
        "us",
        "micros",
        "microseconds",
        "ns",
        "nanos",
        "nanoseconds",
        "s",
        "sec",
        "secs",
        "second",
    ];
    if words.len() > 1 && OTHER_UNITS.contains(&words.last().map_or("", String::as_str)) {
        words.pop();
    }
    if words.last().map(String::as_str) != Some("seconds") {
        words.push("seconds".to_owned());
    }
    let mut suggestion = words.join("_");
    if let Some(prefix) = policy.metric_prefix() {
        if !suggestion.starts_with(&format!("{prefix}_")) {
            suggestion = format!("{prefix}_{suggestion}");
        }
    }
    (suggestion != name && check_metric_name(&suggestion, policy).is_ok()).then_some(suggestion)
}

/// Checks a custom histogram family name: the Prometheus grammar, snake_case,
/// the `_seconds` unit, no reserved suffix or prefix, the crate's prefix.
pub(crate) fn check_metric_name(name: &str, policy: &Policy) -> Result<(), String> {
    let fix = |problem: String| match suggest_metric_name(name, policy) {
        Some(suggestion) => format!("{problem}: write `{suggestion}`"),
        None => format!("{problem}: e.g. `checkout_duration_seconds`"),
    };
    if name.is_empty() {
        return Err(fix("metric name must not be empty".to_owned()));
    }
    if name.starts_with("__") {
        return Err(fix(format!(
            "metric name `{name}` starts with `__`, which Prometheus reserves for itself"
        )));
    }
    let grammar = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !grammar {
        return Err(fix(format!(
            "metric name `{name}` is not a Prometheus metric name (ASCII letters, digits and `_`, \
             not starting with a digit)"
        )));
    }
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    if !snake {
        return Err(fix(format!("metric name `{name}` is not snake_case")));
    }
    if let Some(suffix) = RESERVED_METRIC_SUFFIXES
        .iter()
        .find(|suffix| name.ends_with(*suffix))
    {
        return Err(fix(format!(
            "metric name `{name}` ends in `{suffix}`, which Prometheus derives from a histogram \
             or reserves for counters"
        )));
    }
    if !name.ends_with("_seconds") {
        return Err(fix(format!(
            "metric name `{name}` must end in its unit: a latency histogram is measured in \
             seconds, `_seconds`"
        )));
    }
    if name == DEFAULT_FAMILY || name.starts_with("observe_") {
        return Err(format!(
            "metric name `{name}` is observe's own: use `metric = \"latency\"` for \
             `{DEFAULT_FAMILY}`, or name your own family, e.g. `checkout_duration_seconds`"
        ));
    }
    if let Some(prefix) = policy.metric_prefix() {
        if !name.starts_with(&format!("{prefix}_")) {
            return Err(fix(format!(
                "metric name `{name}` must start with `{prefix}_` (`metric_prefix` in \
                 `[package.metadata.observe]`)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &str) -> Result<(), String> {
        check_span_name(name, &Policy::default())
    }

    #[test]
    fn valid_span_names() {
        for name in [
            "Order.Submit",
            "Payment.OrderService.CreateOrder",
            "A.B.C.D",
            "Api.V2",
            "OAuth2.Token",
            "HTTP.Get",
        ] {
            assert_eq!(span(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn span_name_suggestions() {
        assert_eq!(
            span("Submit").unwrap_err(),
            "span name `Submit` has 1 segment, expected 2 to 4: name the domain and the \
             operation, write `<Domain>.Submit`, e.g. `Order.Submit`"
        );
        assert_eq!(
            span("A.B.C.D.E").unwrap_err(),
            "span name `A.B.C.D.E` has 5 segments, expected 2 to 4: e.g. \
             `Payment.OrderService.CreateOrder`"
        );
        assert!(span("2Fa.Check")
            .unwrap_err()
            .ends_with("e.g. `Order.Submit`"));
    }

    #[test]
    fn label_keys() {
        let policy = Policy::default();
        assert_eq!(check_label_key("payment.method", &policy), Ok(()));
        assert_eq!(check_label_key("paid", &policy), Ok(()));
        for key in [
            "user_id",
            "request.id",
            "orderId",
            "client.ip",
            "url",
            "user",
            "session",
        ] {
            assert!(
                check_label_key(key, &policy)
                    .unwrap_err()
                    .contains("put it on the span with `fields(...)` instead"),
                "{key}"
            );
        }
        assert!(check_label_key("user.email", &policy)
            .unwrap_err()
            .contains("sensitive"));
        assert!(check_label_key("outcome", &policy)
            .unwrap_err()
            .contains("taken"));
    }

    #[test]
    fn sensitive_keys() {
        let policy = Policy::default();
        assert_eq!(
            sensitive_word("user.email", &policy).as_deref(),
            Some("email")
        );
        assert_eq!(
            sensitive_word("phone_number", &policy).as_deref(),
            Some("phone")
        );
        assert_eq!(sensitive_word("order.id", &policy), None);
        assert_eq!(sensitive_word("e_mail", &policy).as_deref(), Some("email"));
        assert_eq!(
            sensitive_word("user.mail", &policy).as_deref(),
            Some("mail")
        );
        assert_eq!(
            sensitive_word("emailaddress", &policy).as_deref(),
            Some("email")
        );
        assert_eq!(
            sensitive_word("credit_card", &policy).as_deref(),
            Some("card")
        );
        assert_eq!(
            sensitive_word("api_key", &policy).as_deref(),
            Some("apikey")
        );
        assert_eq!(
            sensitive_word("user.birth_date", &policy).as_deref(),
            Some("birth")
        );
        assert_eq!(sensitive_word("client.ip", &policy).as_deref(), Some("ip"));
        for key in [
            "zip",
            "span.kind",
            "shipping",
            "company",
            "discard_count",
            "tokenizer",
        ] {
            assert_eq!(sensitive_word(key, &policy), None, "{key}");
        }
    }

    #[test]
    fn metric_names() {
        let policy = Policy::default();
        let check = |name: &str| check_metric_name(name, &policy);
        assert_eq!(check("checkout_duration_seconds"), Ok(()));
        assert_eq!(check("http2_request_seconds"), Ok(()));
        assert!(check("__checkout_seconds")
            .unwrap_err()
            .contains("reserves"));
        assert!(check("checkout-duration")
            .unwrap_err()
            .ends_with("write `checkout_duration_seconds`"));
        assert!(check("operation_duration_seconds")
            .unwrap_err()
            .contains("observe's own"));
    }
}
