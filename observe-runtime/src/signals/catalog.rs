//! Every instrumented function in the program, known before any of them is
//! called.
//!
//! Each `#[observe]` expansion adds its callsite to a link-time list
//! ([`linkme`]'s distributed slice), so the list is complete at start-up,
//! whatever has run. Two functions with the same span name cannot be told
//! apart in a trace or a dashboard; a proc macro sees one function at a time
//! and cannot catch that reliably, so check it from one test:
//!
//! ```
//! // In a test of the program, e.g. `#[test] fn span_names_are_unique()`:
//! observe_runtime::assert_unique_span_names();
//!
//! for entry in observe_runtime::catalog() {
//!     println!("{entry}"); // Order.Submit (server, shop::orders::submit at src/orders.rs:12, ...)
//! }
//! ```
//!
//! The list holds what the linker keeps: instrumented functions in a library
//! whose code the binary never references may be left out with it.

use std::fmt;

use crate::hot::callsite::{Callsite, SpanKind};

/// Where `#[observe]` expansions register their callsites.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static CALLSITES: [&'static Callsite];

/// One instrumented function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The span name.
    pub name: &'static str,
    /// The span kind.
    pub kind: SpanKind,
    /// The function's name.
    pub function: &'static str,
    /// The module path.
    pub module: &'static str,
    /// The source file.
    pub file: &'static str,
    /// The line of the function.
    pub line: u32,
    /// The histogram family its calls are observed in, if any:
    /// `operation_duration_seconds` (with the configured prefix) or the
    /// family of `metric(name = "...")`.
    pub metric: Option<String>,
    /// The Prometheus names of its metric labels.
    pub labels: Vec<&'static str>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {}::{} at {}:{}",
            self.name,
            self.kind.as_str(),
            self.module,
            self.function,
            self.file,
            self.line
        )?;
        if let Some(metric) = &self.metric {
            write!(f, ", metric {metric}")?;
        }
        f.write_str(")")
    }
}

/// Every instrumented function in the program, sorted by span name, then
/// file and line.
pub fn catalog() -> Vec<Entry> {
    let mut entries: Vec<Entry> = CALLSITES
        .iter()
        .map(|callsite| Entry {
            name: callsite.name,
            kind: callsite.kind,
            function: callsite.function,
            module: callsite.namespace,
            file: callsite.file,
            line: callsite.line,
            metric: callsite.metric.map(|metric| match metric.family {
                Some(family) => family.to_owned(),
                None => super::metrics::default_family(),
            }),
            labels: callsite
                .metric
                .map(|metric| metric.labels.to_vec())
                .unwrap_or_default(),
        })
        .collect();
    entries.sort_by(|a, b| (a.name, a.file, a.line).cmp(&(b.name, b.file, b.line)));
    entries.dedup();
    entries
}

/// Span names given to more than one function, each with every function
/// that has it.
pub fn duplicate_span_names() -> Vec<Vec<Entry>> {
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    for entry in catalog() {
        match groups.last_mut() {
            Some(group) if group[0].name == entry.name => group.push(entry),
            _ => groups.push(vec![entry]),
        }
    }
    groups.retain(|group| group.len() > 1);
    groups
}

/// Panics, listing every location, if two functions share a span name.
#[track_caller]
pub fn assert_unique_span_names() {
    let duplicates = duplicate_span_names();
    if duplicates.is_empty() {
        return;
    }
    let mut message = String::from(
        "span names must be unique: each names one operation, so calls can be found and \
         aggregated; rename all but one with `span = \"...\"`",
    );
    for group in duplicates {
        message.push_str(&format!("\n`{}` is used by:", group[0].name));
        for entry in group {
            message.push_str(&format!(
                "\n  {}::{} at {}:{}",
                entry.module, entry.function, entry.file, entry.line
            ));
        }
    }
    panic!("{message}");
}
