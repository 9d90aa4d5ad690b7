//! The rules arguments must follow beyond their syntax: which values are
//! allowed, what is required, and that nothing is given twice.
//!
//! Every rule reports into the same [`Errors`], so one build shows every
//! mistake.

use std::collections::BTreeSet;

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::{Ident, LitStr, Path};

use crate::args::{Arg, Args, Field, FieldKey, SPAN_EXAMPLE};
use crate::errors::{expected, Errors};

/// Arguments that passed every rule, with defaults filled in.
pub(crate) struct Observe {
    /// The span name, as written.
    pub(crate) name: LitStr,
    pub(crate) kind: Kind,
    pub(crate) metric: Option<Metric>,
    pub(crate) fields: Vec<Field>,
    /// Where the runtime is: `::observe_runtime` unless `crate = path`.
    pub(crate) krate: Path,
}

/// `kind = ...`, mirroring the runtime's `SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    /// Every kind, by the word the user writes.
    const ALL: [(&'static str, Kind); 5] = [
        ("internal", Kind::Internal),
        ("server", Kind::Server),
        ("client", Kind::Client),
        ("producer", Kind::Producer),
        ("consumer", Kind::Consumer),
    ];

    /// The runtime's `SpanKind` variant.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Kind::Internal => "Internal",
            Kind::Server => "Server",
            Kind::Client => "Client",
            Kind::Producer => "Producer",
            Kind::Consumer => "Consumer",
        }
    }
}

/// `metric = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Metric {
    /// The call-latency histogram.
    Latency,
}

impl Metric {
    const ALL: [(&'static str, Metric); 1] = [("latency", Metric::Latency)];
}

/// A rule for span names: the message for a violation, if any.
type SpanNameRule = fn(&str) -> Option<String>;

/// Checked in order; the first violation is reported. Naming conventions
/// (e.g. PascalCase segments) are added here as they are decided.
const SPAN_NAME_RULES: &[SpanNameRule] = &[not_empty];

fn not_empty(name: &str) -> Option<String> {
    name.is_empty()
        .then(|| format!("span name must not be empty: name the operation, e.g. `{SPAN_EXAMPLE}`"))
}

/// Checks `args`, adding to the syntax errors already in `errors`; `Ok` only
/// when there are no errors at all.
pub(crate) fn validate(args: Args, mut errors: Errors) -> syn::Result<Observe> {
    reject_duplicate_arguments(&args.list, &mut errors);

    let mut span_given = false;
    let mut name = None;
    let mut kind = None;
    let mut metric = None;
    let mut fields = None;
    let mut krate = None;
    for arg in args.list {
        // Duplicates are reported above; the first occurrence is the one used.
        match arg {
            Arg::Span { name: value, .. } => {
                span_given = true;
                if let (None, Some(value)) = (&name, value) {
                    check_span_name(&value, &mut errors);
                    name = Some(value);
                }
            }
            Arg::Metric {
                value: Some(value), ..
            } if metric.is_none() => {
                metric = Some(check_metric(&value, &mut errors));
            }
            Arg::Kind {
                value: Some(value), ..
            } if kind.is_none() => {
                kind = Some(check_kind(&value, &mut errors));
            }
            Arg::Fields { fields: value, .. } if fields.is_none() => {
                check_fields(&value, &mut errors);
                fields = Some(value);
            }
            Arg::Crate {
                path: Some(path), ..
            } if krate.is_none() => krate = Some(path),
            _ => {}
        }
    }

    if !span_given && !args.has_unrecognised {
        errors.push(missing_span(&args.tokens));
    }
    errors.finish()?;
    Ok(Observe {
        // Only reachable without a name if `span` was malformed, which
        // `errors.finish()` has already returned for.
        name: name.ok_or_else(|| missing_span(&args.tokens))?,
        kind: kind.flatten().unwrap_or(Kind::Internal),
        metric: metric.flatten(),
        fields: fields.unwrap_or_default(),
        krate: krate.unwrap_or_else(|| syn::parse_quote!(::observe_runtime)),
    })
}

fn missing_span(args: &proc_macro2::TokenStream) -> syn::Error {
    if args.is_empty() {
        // Nothing to point at but the attribute itself.
        syn::Error::new(
            Span::call_site(),
            format!(
                "missing `span = \"...\"`: name the operation, e.g. `#[observe({SPAN_EXAMPLE})]`"
            ),
        )
    } else {
        syn::Error::new_spanned(
            args,
            format!("missing `span = \"...\"`: name the operation, e.g. `{SPAN_EXAMPLE}`"),
        )
    }
}

fn reject_duplicate_arguments(list: &[Arg], errors: &mut Errors) {
    let mut seen = BTreeSet::new();
    for arg in list {
        if !seen.insert(arg.key_name()) {
            errors.push(syn::Error::new(
                arg.key_span(),
                format!(
                    "duplicate `{}` argument: each argument may be given once",
                    arg.key_name()
                ),
            ));
        }
    }
}

fn check_span_name(name: &LitStr, errors: &mut Errors) {
    let value = name.value();
    if let Some(message) = SPAN_NAME_RULES.iter().find_map(|rule| rule(&value)) {
        errors.push(syn::Error::new(name.span(), message));
    }
}

fn check_metric(value: &LitStr, errors: &mut Errors) -> Option<Metric> {
    let word = value.value();
    let found = Metric::ALL.iter().find(|(name, _)| *name == word);
    if found.is_none() {
        let valid: Vec<&str> = Metric::ALL.iter().map(|(name, _)| *name).collect();
        errors.push(syn::Error::new(
            value.span(),
            format!("unknown `metric` {word:?}, expected {}", expected(&valid)),
        ));
    }
    found.map(|(_, metric)| *metric)
}

fn check_kind(value: &Ident, errors: &mut Errors) -> Option<Kind> {
    let word = value.unraw().to_string();
    if let Some((_, kind)) = Kind::ALL.iter().find(|(name, _)| *name == word) {
        return Some(*kind);
    }
    let valid: Vec<&str> = Kind::ALL.iter().map(|(name, _)| *name).collect();
    let mut message = format!("unknown `kind` `{word}`, expected {}", expected(&valid));
    if let Some((name, _)) = Kind::ALL
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&word))
    {
        message.push_str(&format!(": write `kind = {name}`"));
    }
    errors.push(syn::Error::new(value.span(), message));
    None
}

fn check_fields(fields: &[Field], errors: &mut Errors) {
    let mut seen = BTreeSet::new();
    for field in fields {
        let name = field.key.name();
        if name.is_empty() {
            errors.push(syn::Error::new_spanned(
                &field.key,
                "field key must not be empty",
            ));
        } else if !seen.insert(name) {
            let name = field.key.name();
            let shown = match &field.key {
                FieldKey::Dotted(_) => format!("`{name}`"),
                FieldKey::Literal(_) => format!("`{name:?}`"),
            };
            errors.push(syn::Error::new_spanned(
                &field.key,
                format!("duplicate field {shown}: each key may be recorded once"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::{quote, ToTokens as _};

    fn run(tokens: TokenStream) -> Result<Observe, Vec<String>> {
        let mut errors = Errors::default();
        let args = Args::parse(tokens, &mut errors);
        validate(args, errors).map_err(|error| error.into_iter().map(|e| e.to_string()).collect())
    }

    fn errors(tokens: TokenStream) -> Vec<String> {
        match run(tokens) {
            Ok(_) => panic!("expected errors"),
            Err(errors) => errors,
        }
    }

    #[test]
    fn defaults() {
        let observe = run(quote!(span = "Order.Submit")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(observe.name.value(), "Order.Submit");
        assert_eq!(observe.kind, Kind::Internal);
        assert_eq!(observe.metric, None);
        assert!(observe.fields.is_empty());
        assert_eq!(
            observe.krate.to_token_stream().to_string(),
            ":: observe_runtime"
        );
    }

    #[test]
    fn every_value() {
        let observe = run(quote!(
            span = "Order.Submit",
            metric = "latency",
            kind = producer,
            fields(a = 1),
            crate = facade::observe
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(observe.kind, Kind::Producer);
        assert_eq!(observe.metric, Some(Metric::Latency));
        assert_eq!(observe.fields.len(), 1);
        assert_eq!(
            observe.krate.to_token_stream().to_string(),
            "facade :: observe"
        );
        for (word, kind) in Kind::ALL {
            let word = syn::Ident::new(word, Span::call_site());
            let observe = run(quote!(span = "A", kind = #word)).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(observe.kind, kind);
        }
    }

    #[test]
    fn missing_span() {
        assert_eq!(
            errors(quote!()),
            ["missing `span = \"...\"`: name the operation, e.g. `#[observe(span = \"Order.Submit\")]`"]
        );
        assert_eq!(
            errors(quote!(metric = "latency")),
            ["missing `span = \"...\"`: name the operation, e.g. `span = \"Order.Submit\"`"]
        );
    }

    #[test]
    fn no_missing_span_when_an_argument_was_not_recognised() {
        assert_eq!(
            errors(quote!(name = "Order.Submit")),
            ["unknown argument `name`, expected one of `span`, `metric`, `fields`, `kind`, `crate`"]
        );
    }

    #[test]
    fn no_missing_span_when_span_was_malformed() {
        assert_eq!(errors(quote!(span = NAME)).len(), 1);
    }

    #[test]
    fn empty_span_name() {
        assert_eq!(
            errors(quote!(span = "")),
            ["span name must not be empty: name the operation, e.g. `span = \"Order.Submit\"`"]
        );
    }

    #[test]
    fn naming_conventions_are_not_enforced_yet() {
        assert!(run(quote!(span = "order submit!")).is_ok());
    }

    #[test]
    fn unknown_metric() {
        assert_eq!(
            errors(quote!(span = "A", metric = "latncy")),
            ["unknown `metric` \"latncy\", expected `latency`"]
        );
    }

    #[test]
    fn unknown_kind() {
        assert_eq!(
            errors(quote!(span = "A", kind = serve)),
            ["unknown `kind` `serve`, expected one of `internal`, `server`, `client`, `producer`, `consumer`"]
        );
        assert_eq!(
            errors(quote!(span = "A", kind = Server)),
            ["unknown `kind` `Server`, expected one of `internal`, `server`, `client`, `producer`, `consumer`: write `kind = server`"]
        );
    }

    #[test]
    fn duplicate_arguments() {
        assert_eq!(
            errors(quote!(span = "A", kind = server, span = "B")),
            ["duplicate `span` argument: each argument may be given once"]
        );
        assert_eq!(
            errors(quote!(span = "A", fields(a = 1), fields(b = 2))),
            ["duplicate `fields` argument: each argument may be given once"]
        );
        // A malformed duplicate is still a duplicate.
        assert_eq!(
            errors(quote!(span = "A", span = NAME)).len(),
            2,
            "the malformed value and the duplicate"
        );
    }

    #[test]
    fn duplicate_fields() {
        assert_eq!(
            errors(quote!(
                span = "A",
                fields(order.id = 1, other = 2, order.id = 3)
            )),
            ["duplicate field `order.id`: each key may be recorded once"]
        );
        assert_eq!(
            errors(quote!(span = "A", fields(order.id = 1, "order.id" = 3))),
            ["duplicate field `\"order.id\"`: each key may be recorded once"]
        );
        assert_eq!(
            errors(quote!(span = "A", fields("" = 1))),
            ["field key must not be empty"]
        );
    }

    #[test]
    fn independent_mistakes_are_reported_together() {
        assert_eq!(
            errors(quote!(span = "", metric = "latncy", kind = serve, colour = red)),
            [
                "unknown argument `colour`, expected one of `span`, `metric`, `fields`, `kind`, `crate`",
                "span name must not be empty: name the operation, e.g. `span = \"Order.Submit\"`",
                "unknown `metric` \"latncy\", expected `latency`",
                "unknown `kind` `serve`, expected one of `internal`, `server`, `client`, `producer`, `consumer`",
            ]
        );
    }
}
