//! The pure naming rules both the attribute's checks and the policy file's
//! checks need: case conversions, key spelling, the built-in word lists and
//! the example span name. Nothing here knows about a crate's policy, so
//! `naming` and `policy` can both build on it without importing each other.

/// What a good span name looks like, quoted in messages.
pub(crate) const SPAN_EXAMPLE: &str = "Order.Submit";

pub(crate) use crate::key_words::{words, SENSITIVE_WORDS};

/// Last words of a label key whose values are unbounded by nature.
pub(crate) const UNBOUNDED_LABEL_WORDS: &[&str] = &[
    "id", "uuid", "guid", "email", "phone", "ip", "url", "path", "query", "user", "session",
    "token",
];

/// Label names the latency histogram already has, plus Prometheus' own.
pub(crate) const RESERVED_LABELS: &[&str] =
    &["operation", "outcome", "error_type", "le", "quantile"];

/// Keys observe records itself on every span; a field with one of these
/// names would be silently overwritten or duplicated.
const RESERVED_ATTRIBUTE_PREFIXES: &[&str] = &["code.", "exception.", "observe."];
const RESERVED_ATTRIBUTE_KEYS: &[&str] = &["error.type"];

/// `word` with its first letter upper-cased and every other character kept;
/// words are split at any character that is not an ASCII letter or digit.
/// `submit_order` -> `SubmitOrder`, `createOrder` -> `CreateOrder`.
pub(crate) fn pascal_case(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

pub(crate) fn is_pascal_segment(segment: &str) -> bool {
    let mut chars = segment.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// What a key is for, in messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUse {
    /// `fields(...)`: a span attribute.
    Field,
    /// `labels(...)`: a metric label.
    Label,
}

impl KeyUse {
    fn noun(self) -> &'static str {
        match self {
            KeyUse::Field => "field key",
            KeyUse::Label => "label key",
        }
    }
}

/// The OpenTelemetry spelling of `key`: lowercase snake_case segments joined
/// by `.`, with a camelCase `Id` made its own segment (`tenantId` ->
/// `tenant.id`).
pub(crate) fn suggest_key(key: &str) -> Option<String> {
    let segments: Vec<String> = key
        .split('.')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let camel_id = segment.ends_with("Id") || segment.ends_with("ID");
            let mut words = words(segment);
            if camel_id && words.len() > 1 && words.last().is_some_and(|w| w == "id") {
                words.pop();
                format!("{}.id", words.join("_"))
            } else {
                words.join("_")
            }
        })
        .filter(|segment| !segment.is_empty())
        .collect();
    let suggestion = segments.join(".");
    (suggestion != key && key_shape(&suggestion).is_ok()).then_some(suggestion)
}

fn key_shape(key: &str) -> Result<(), String> {
    if key.split('.').any(str::is_empty) {
        return Err("has an empty segment".to_owned());
    }
    for segment in key.split('.') {
        if !segment.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(format!(
                "has the segment `{segment}`, which does not start with a lowercase letter"
            ));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(if c.is_ascii_uppercase() {
                "is not lowercase snake_case".to_owned()
            } else {
                format!("contains `{}`", c.escape_default())
            });
        }
    }
    Ok(())
}

/// Checks the spelling of a `fields` or `labels` key: lowercase
/// dot-namespaced snake_case (`order.id`, `payment.method`).
pub(crate) fn check_key(key: &str, use_: KeyUse) -> Result<(), String> {
    key_shape(key).map_err(|problem| {
        let noun = use_.noun();
        match suggest_key(key) {
            Some(suggestion) => format!(
                "{noun} `{key}` {problem}: keys are lowercase snake_case segments joined by `.`, \
                 write `{suggestion}`"
            ),
            None => format!(
                "{noun} `{key}` {problem}: keys are lowercase snake_case segments joined by `.`, \
                 e.g. `order.id`"
            ),
        }
    })?;
    if use_ == KeyUse::Field {
        let reserved = RESERVED_ATTRIBUTE_KEYS.contains(&key)
            || RESERVED_ATTRIBUTE_PREFIXES
                .iter()
                .any(|prefix| key.starts_with(prefix));
        if reserved {
            return Err(format!(
                "field key `{key}` is recorded by observe itself: choose another name"
            ));
        }
    }
    Ok(())
}

/// The number of single-character insertions, deletions, substitutions and
/// swaps of neighbours that turn `a` into `b`: a swap counts once, so
/// `metirc` is one edit from `metric`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the usual table: a swap looks two rows back.
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

/// The candidate `word` is most likely a misspelling of: the closest, if it
/// is within a third of the word's length (at least one edit), so short
/// unrelated words are not "corrected".
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = word.chars().count().max(3) / 3;
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(pascal_case("submit_order"), "SubmitOrder");
        assert_eq!(pascal_case("createOrder"), "CreateOrder");
        assert_eq!(pascal_case("v2"), "V2");
        assert_eq!(words("tenantId"), ["tenant", "id"]);
        assert_eq!(words("payment.method_type"), ["payment", "method", "type"]);
        assert_eq!(words("user2Email"), ["user2", "email"]);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("metric", "metric"), 0);
        assert_eq!(edit_distance("metirc", "metric"), 1);
        assert_eq!(edit_distance("feilds", "fields"), 1);
        assert_eq!(edit_distance("spn", "span"), 1);
        assert_eq!(edit_distance("", "kind"), 4);
        assert_eq!(edit_distance("level", "labels"), 3);
    }

    #[test]
    fn closest_candidate() {
        let candidates = ["span", "metric", "fields", "labels", "kind"];
        assert_eq!(closest("metirc", &candidates), Some("metric"));
        assert_eq!(closest("lables", &candidates), Some("labels"));
        assert_eq!(closest("knid", &candidates), Some("kind"));
        assert_eq!(closest("level", &candidates), None);
        assert_eq!(closest("name", &candidates), None);
    }

    #[test]
    fn keys() {
        assert_eq!(check_key("order.id", KeyUse::Field), Ok(()));
        assert_eq!(
            check_key("http.response.status_code", KeyUse::Field),
            Ok(())
        );
        assert_eq!(check_key("v2.item_count", KeyUse::Field), Ok(()));
        assert_eq!(suggest_key("itemCount").as_deref(), Some("item_count"));
        assert_eq!(suggest_key("HTTP.Method").as_deref(), Some("http.method"));
        assert_eq!(suggest_key("http-method").as_deref(), Some("http_method"));
        assert_eq!(suggest_key("order..id").as_deref(), Some("order.id"));
        assert!(check_key("error.type", KeyUse::Field)
            .unwrap_err()
            .contains("recorded by observe itself"));
        assert_eq!(check_key("error.type", KeyUse::Label), Ok(()));
    }
}
