//! The per-crate naming policy: `[package.metadata.observe]` in the annotated
//! crate's `Cargo.toml`, on top of the built-in conventions.

use crate::naming::{SENSITIVE_WORDS, SPAN_EXAMPLE};

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

    /// The built-in sensitive words and the crate's own.
    pub(crate) fn sensitive_words(&self) -> Vec<String> {
        SENSITIVE_WORDS
            .iter()
            .map(|word| (*word).to_owned())
            .chain(self.sensitive_keys.iter().cloned())
            .collect()
    }
}
