//! Whether a key names personal data: the one matcher both `#[observe]`
//! (on `fields(..)` and `labels(..)` keys, at compile time) and the
//! runtime's log layer (on event fields, at run time) apply.
//!
//! This file is compiled into the macro crate as a module, and its text is
//! emitted into `observe-runtime` by `__key_words!()`, so the two cannot
//! drift apart. It therefore names nothing outside itself and `std`.

/// Words that make a key sensitive: its raw value must not be exported.
/// Words of [`CONTAINED_FROM`] letters or more are also found inside a word
/// (`useremail`); shorter ones only as a whole word, or they would catch
/// `zip`, `span`, `company` and `discard`.
pub(crate) const SENSITIVE_WORDS: &[&str] = &[
    // Contact.
    "email",
    "mail",
    "phone",
    "mobile",
    "msisdn",
    "address",
    "ip",
    "ipv4",
    "ipv6",
    // Credentials.
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "bearer",
    "authorization",
    "cookie",
    // Payment.
    "card",
    "creditcard",
    "cardnumber",
    "pan",
    "cvv",
    "cvc",
    "iban",
    // Identity.
    "ssn",
    "nationalid",
    "passport",
    "birth",
    "dob",
];

/// The length from which a sensitive word is also found inside another word:
/// `email` in `emailaddress`, but `ip` not in `zip`.
pub(crate) const CONTAINED_FROM: usize = 5;

/// Words that contain a sensitive word yet name no personal data. A
/// tokenizer is the component that splits text, not a credential; anything
/// else with `token` in it stays sensitive.
pub(crate) const LOOK_ALIKES: &[&str] = &["tokenizer"];

/// The lowercase words of a key: split at `.`, `_`, `-`, whitespace and
/// lower-to-upper case changes. `tenantId` -> `[tenant, id]`,
/// `payment.method` -> `[payment, method]`, `HTTPStatus` -> `[httpstatus]`.
pub(crate) fn words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// What a key is matched against the sensitive words by: each of its
/// [`words`], each word without its trailing digits (`ssn2`), and each pair
/// of neighbours joined, so a word split by a separator is whole again
/// (`e_mail` -> `email`, `credit_card` -> `creditcard`, `api.key` -> `apikey`).
pub(crate) fn match_candidates(key: &str) -> Vec<String> {
    let words = words(key);
    let mut candidates = Vec::new();
    for word in &words {
        candidates.push(word.clone());
        let trimmed = word.trim_end_matches(|c: char| c.is_ascii_digit());
        if !trimmed.is_empty() && trimmed != word {
            candidates.push(trimmed.to_owned());
        }
    }
    candidates.extend(words.windows(2).map(|pair| pair.concat()));
    candidates
}

/// Whether `candidate` (one of [`match_candidates`]) is the sensitive `word`,
/// or holds it inside when `word` is long enough not to be found by chance,
/// and not only as part of a [`LOOK_ALIKES`] word.
pub(crate) fn candidate_matches(candidate: &str, word: &str) -> bool {
    if candidate == word {
        return true;
    }
    word.chars().count() >= CONTAINED_FROM
        && candidate.contains(word)
        && !LOOK_ALIKES
            .iter()
            .any(|look_alike| look_alike.contains(word) && candidate.contains(look_alike))
}

/// The entry of `list` that `key` matches: the whole key, or the entry's
/// words found in the key however it is spelled. A one-word entry is matched
/// against the key's [`match_candidates`] (`e_mail`, `useremail`); a
/// several-word entry from a crate's policy (`card_brand`) also matches its
/// words in a row (`payment.card_brand`, `cardBrand`).
pub(crate) fn matching_entry<'a, S: AsRef<str>>(key: &str, list: &'a [S]) -> Option<&'a S> {
    let key_words = words(key);
    let candidates = match_candidates(key);
    list.iter().find(|entry| {
        let entry = entry.as_ref();
        let entry_words = words(entry);
        let joined = entry_words.concat();
        entry == key
            || (!joined.is_empty()
                && candidates
                    .iter()
                    .any(|candidate| candidate_matches(candidate, &joined)))
            || (entry_words.len() > 1
                && key_words
                    .windows(entry_words.len())
                    .any(|run| run == entry_words.as_slice()))
    })
}

// Compiled, and run, in both crates.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_spellings() {
        let caught = |key: &str| matching_entry(key, SENSITIVE_WORDS).is_some();
        for key in [
            "email",
            "user.email",
            "e_mail",
            "eMail",
            "E-Mail",
            "user.mail",
            "emailaddress",
            "useremail",
            "userEmail",
            "creditcard",
            "credit_card",
            "card_number",
            "api_key",
            "apiKey",
            "national_id",
            "birthdate",
            "user.birth_date",
            "date_of_birth",
            "dob",
            "mobile",
            "msisdn",
            "cvv",
            "cvc",
            "pan",
            "iban",
            "passwd",
            "pwd",
            "auth.bearer",
            "authorization",
            "http.request.header.cookie",
            "cookies",
            "client.ip",
            "ip_address",
            "client.ipv6",
            "ssn2",
            "passport.number",
            "access_token",
            "refresh_tokens",
            "client_secret",
            "shipping.address",
        ] {
            assert!(caught(key), "{key} must be caught");
        }
        // Short words only match whole: `ip` in `zip` or `shipping`, `pan`
        // in `span` or `company`, `card` in `discard`. A tokenizer splits
        // text and carries no credential.
        for key in [
            "zip",
            "zip_code",
            "span.kind",
            "shipping",
            "shipping.method",
            "company",
            "discard_count",
            "order.id",
            "tokenizer",
            "tokenizer.name",
            "recipe",
            "pipeline",
            "panel",
            "http.response.status_code",
        ] {
            assert!(!caught(key), "{key} must pass");
        }
    }

    #[test]
    fn policy_entries_of_several_words() {
        let list = ["card_brand".to_owned()];
        for key in ["payment.card_brand", "cardBrand", "order.card.brand.name"] {
            assert!(matching_entry(key, &list).is_some(), "{key}");
        }
        assert!(matching_entry("payment.brand", &list).is_none());
    }
}
