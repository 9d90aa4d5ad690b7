//! The syntax of `#[observe(...)]`: arguments parsed into a typed list that
//! keeps the user's tokens (and so their spans) for error reporting.
//!
//! Only the *form* of each argument is checked here (a string literal where a
//! string literal belongs, a path where a path belongs). Which values are
//! allowed, and how many times a key may appear, is `validate`'s job.
//!
//! Parsing recovers at the next top-level comma after a mistake, so every
//! malformed argument is reported in the same build.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::parse::{ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{token, Expr, Ident, Lit, LitStr, Path, Token};

use crate::errors::Errors;
use crate::rules::{closest, SPAN_EXAMPLE};

/// The argument keywords that are not Rust keywords.
pub(crate) mod kw {
    syn::custom_keyword!(span);
    syn::custom_keyword!(metric);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(kind);
    syn::custom_keyword!(labels);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(name);
    syn::custom_keyword!(buckets);
    syn::custom_keyword!(consumer);
    syn::custom_keyword!(producer);
    syn::custom_keyword!(server);
    syn::custom_keyword!(request);
    syn::custom_keyword!(route);
    syn::custom_keyword!(headers);
    syn::custom_keyword!(message);
    syn::custom_keyword!(messages);
    syn::custom_keyword!(propagation);
    syn::custom_keyword!(system);
    syn::custom_keyword!(destination);
    syn::custom_keyword!(operation);
    syn::custom_keyword!(objective);
    syn::custom_keyword!(log_errors);
}

/// Every argument key, in the order the docs list them.
pub(crate) const ARGUMENTS: &[&str] = &[
    "span",
    "metric",
    "fields",
    "labels",
    "kind",
    "skip",
    "crate",
    "consumer",
    "producer",
    "server",
    "headers",
    "message",
    "messages",
    "request",
    "propagation",
    "system",
    "destination",
    "operation",
    "route",
    "objective",
    "log_errors",
];

/// The parsed argument list.
pub(crate) struct Args {
    /// Arguments with a known key, in source order. A value is `None` when it
    /// was malformed (that error is already reported); the key is kept so
    /// cardinality rules still see it.
    pub(crate) list: Vec<Arg>,
    /// Whether some argument was not recognised at all: it may be the
    /// misspelled `span`, so "missing `span`" would only add noise.
    pub(crate) has_unrecognised: bool,
    /// The whole argument list, to point at when a required argument is missing.
    pub(crate) tokens: TokenStream,
}

/// One `key = value` (or `fields(...)`) argument.
pub(crate) enum Arg {
    Span {
        key: kw::span,
        name: Option<LitStr>,
    },
    Metric {
        key: kw::metric,
        value: Option<MetricArg>,
    },
    Fields {
        key: kw::fields,
        fields: Vec<Field>,
    },
    Labels {
        key: kw::labels,
        labels: Vec<Label>,
    },
    Skip {
        key: kw::skip,
    },
    Kind {
        key: kw::kind,
        value: Option<Ident>,
    },
    Crate {
        key: Token![crate],
        path: Option<Path>,
    },
    /// `consumer` / `producer`: a messaging span; `server`: a received
    /// request's span.
    Role {
        key: Ident,
        role: Role,
    },
    /// `headers = expr`, `message = expr`, `messages = expr`,
    /// `request = expr`, `destination = expr`.
    Expr {
        key: Ident,
        which: ExprArg,
        value: Option<Expr>,
    },
    /// `propagation = "link"`, `system = "rabbitmq"`, `operation = "receive"`,
    /// `route = "/orders/{id}"`.
    Word {
        key: Ident,
        which: WordArg,
        value: Option<LitStr>,
    },
    /// `objective(success = "99.9%", latency = "300ms", ...)`.
    Objective {
        key: kw::objective,
        value: Option<ObjectiveArg>,
    },
    /// `log_errors = false`: no failure log event for this function.
    LogErrors {
        key: kw::log_errors,
        value: Option<syn::LitBool>,
    },
}

/// `objective(success = "99.9%", latency = "300ms", latency_target = "99%",
/// window = "30d")`: each value as written, checked by `validate`.
pub(crate) struct ObjectiveArg {
    /// The parentheses, to point at when no target is given.
    pub(crate) parens: Span,
    pub(crate) success: Option<LitStr>,
    pub(crate) latency: Option<LitStr>,
    pub(crate) latency_target: Option<LitStr>,
    pub(crate) window: Option<LitStr>,
}

/// The keys of `objective(...)`, in the order the docs list them.
pub(crate) const OBJECTIVE_KEYS: &[&str] = &["success", "latency", "latency_target", "window"];

/// Which side of a queue a function is on, or that it serves a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Consumer,
    Producer,
    Server,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Consumer => "consumer",
            Role::Producer => "producer",
            Role::Server => "server",
        }
    }
}

/// The messaging arguments whose value is an expression over the arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExprArg {
    Headers,
    Message,
    Messages,
    Request,
    Destination,
}

impl ExprArg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExprArg::Headers => "headers",
            ExprArg::Message => "message",
            ExprArg::Messages => "messages",
            ExprArg::Request => "request",
            ExprArg::Destination => "destination",
        }
    }

    fn example(self) -> &'static str {
        match self {
            ExprArg::Headers => "headers = delivery.properties.headers()",
            ExprArg::Message => "message = delivery",
            ExprArg::Messages => "messages = batch",
            ExprArg::Request => "request = req",
            ExprArg::Destination => "destination = queue",
        }
    }
}

/// The messaging arguments whose value is a string literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WordArg {
    Propagation,
    System,
    Operation,
    Route,
}

impl WordArg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            WordArg::Propagation => "propagation",
            WordArg::System => "system",
            WordArg::Operation => "operation",
            WordArg::Route => "route",
        }
    }

    fn example(self) -> &'static str {
        match self {
            WordArg::Propagation => "propagation = \"link\"",
            WordArg::System => "system = \"rabbitmq\"",
            WordArg::Operation => "operation = \"receive\"",
            WordArg::Route => "route = \"/orders/{id}\"",
        }
    }
}

impl Arg {
    /// The key as written, for messages.
    pub(crate) fn key_name(&self) -> &'static str {
        match self {
            Arg::Span { .. } => "span",
            Arg::Metric { .. } => "metric",
            Arg::Fields { .. } => "fields",
            Arg::Labels { .. } => "labels",
            Arg::Skip { .. } => "skip",
            Arg::Kind { .. } => "kind",
            Arg::Crate { .. } => "crate",
            Arg::Role { role, .. } => role.name(),
            Arg::Expr { which, .. } => which.name(),
            Arg::Word { which, .. } => which.name(),
            Arg::Objective { .. } => "objective",
            Arg::LogErrors { .. } => "log_errors",
        }
    }

    pub(crate) fn key_span(&self) -> Span {
        match self {
            Arg::Span { key, .. } => key.span,
            Arg::Metric { key, .. } => key.span,
            Arg::Fields { key, .. } => key.span,
            Arg::Labels { key, .. } => key.span,
            Arg::Skip { key } => key.span,
            Arg::Kind { key, .. } => key.span,
            Arg::Crate { key, .. } => key.span,
            Arg::Objective { key, .. } => key.span,
            Arg::LogErrors { key, .. } => key.span,
            Arg::Role { key, .. } | Arg::Expr { key, .. } | Arg::Word { key, .. } => key.span(),
        }
    }
}

/// `metric = "latency"` or `metric(name = "...", buckets = [...])`.
pub(crate) enum MetricArg {
    Named(LitStr),
    Custom(CustomMetric),
}

/// `metric(name = "checkout_duration_seconds", buckets = [0.005, 0.5])`.
pub(crate) struct CustomMetric {
    /// The parentheses, to point at when `name` is missing.
    pub(crate) parens: Span,
    pub(crate) name: Option<LitStr>,
    pub(crate) buckets: Option<Buckets>,
}

/// `buckets = [...]`: number literals, in seconds.
pub(crate) struct Buckets {
    pub(crate) brackets: Span,
    pub(crate) bounds: Vec<Bound>,
}

/// One bucket bound as written, and its value.
pub(crate) struct Bound {
    pub(crate) tokens: TokenStream,
    pub(crate) value: f64,
}

/// One entry of `labels(...)`: `key = "literal"` or `key = expression`.
pub(crate) struct Label {
    pub(crate) key: FieldKey,
    pub(crate) value: Expr,
}

/// One entry of `fields(...)`: `key = value`, `key = %value` or `key = ?value`.
pub(crate) struct Field {
    pub(crate) key: FieldKey,
    pub(crate) format: FieldFormat,
    pub(crate) value: Expr,
    /// Set by `validate` for a sensitive key: the value must be `Masked` or
    /// `Hashed`.
    pub(crate) redact: bool,
}

/// A field key: `order.id` (identifiers joined by `.`) or `"order.id"`.
pub(crate) enum FieldKey {
    Dotted(Punctuated<Ident, Token![.]>),
    Literal(LitStr),
}

impl FieldKey {
    /// The attribute key recorded on the span.
    pub(crate) fn name(&self) -> String {
        match self {
            FieldKey::Dotted(segments) => segments
                .iter()
                .map(|segment| segment.unraw().to_string())
                .collect::<Vec<_>>()
                .join("."),
            FieldKey::Literal(literal) => literal.value(),
        }
    }

    pub(crate) fn span(&self) -> Span {
        match self {
            FieldKey::Dotted(segments) => segments.span(),
            FieldKey::Literal(literal) => literal.span(),
        }
    }
}

impl ToTokens for FieldKey {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            FieldKey::Dotted(segments) => segments.to_tokens(tokens),
            FieldKey::Literal(literal) => literal.to_tokens(tokens),
        }
    }
}

/// How a field value becomes an attribute value.
pub(crate) enum FieldFormat {
    /// `key = value`: the value's own attribute type (string, integer, ...).
    Value,
    /// `key = %value`: formatted with `Display`.
    Display,
    /// `key = ?value`: formatted with `Debug`.
    Debug,
}

impl Args {
    /// Parses `tokens`, pushing every syntax mistake into `errors` and keeping
    /// what could be parsed.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut has_unrecognised = false;
        let parser = |input: ParseStream<'_>| Ok(parse_list(input, errors, &mut has_unrecognised));
        // `parse_list` consumes every token, so this only fails if it has a bug;
        // report that rather than panic.
        let list = parser.parse2(tokens.clone()).unwrap_or_else(|error| {
            errors.push(error);
            Vec::new()
        });
        Args {
            list,
            has_unrecognised,
            tokens,
        }
    }
}

fn parse_list(
    input: ParseStream<'_>,
    errors: &mut Errors,
    has_unrecognised: &mut bool,
) -> Vec<Arg> {
    let parsed = parse_separated(input, errors, parse_arg);
    *has_unrecognised = parsed.iter().any(Option::is_none);
    parsed.into_iter().flatten().collect()
}

/// Comma-separated items, each parsed by `parse_one`. A mistake in one item
/// (or a missing comma) is reported and parsing resumes at the next
/// top-level comma, so every malformed item shows up in the same build.
fn parse_separated<T>(
    input: ParseStream<'_>,
    errors: &mut Errors,
    mut parse_one: impl FnMut(ParseStream<'_>, &mut Errors) -> syn::Result<T>,
) -> Vec<T> {
    let mut items = Vec::new();
    while !input.is_empty() {
        match parse_one(input, errors) {
            Ok(item) => items.push(item),
            Err(error) => {
                errors.push(error);
                skip_to_comma(input);
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            errors.push(error);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    items
}

/// One argument; `Ok(None)` for an unrecognised one (already reported).
fn parse_arg(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Arg>> {
    let arg = if input.peek(kw::span) {
        let key: kw::span = input.parse()?;
        let name = recover(input, errors, |input| parse_span_name(key.span, input));
        Arg::Span { key, name }
    } else if input.peek(kw::metric) {
        let key: kw::metric = input.parse()?;
        let value = recover(input, errors, |input| parse_metric(key.span, input));
        Arg::Metric { key, value }
    } else if input.peek(kw::log_errors) {
        let key: kw::log_errors = input.parse()?;
        let value = recover(input, errors, |input| parse_log_errors(key.span, input));
        Arg::LogErrors { key, value }
    } else if input.peek(kw::objective) {
        let key: kw::objective = input.parse()?;
        let value = recover(input, errors, |input| parse_objective(key.span, input));
        Arg::Objective { key, value }
    } else if input.peek(kw::fields) {
        let key: kw::fields = input.parse()?;
        // Not `recover`: mistakes inside the list are reported (and
        // recovered from) field by field.
        let fields = parse_fields(key.span, input, errors).unwrap_or_else(|error| {
            errors.push(error);
            skip_to_comma(input);
            Vec::new()
        });
        Arg::Fields { key, fields }
    } else if input.peek(kw::labels) {
        let key: kw::labels = input.parse()?;
        let labels = parse_labels(key.span, input, errors).unwrap_or_else(|error| {
            errors.push(error);
            skip_to_comma(input);
            Vec::new()
        });
        Arg::Labels { key, labels }
    } else if input.peek(kw::skip) {
        let key: kw::skip = input.parse()?;
        if !at_value_end(input) {
            return Err(syn::Error::new(
                key.span,
                "`skip` takes no value: write `#[observe(skip)]`",
            ));
        }
        Arg::Skip { key }
    } else if input.peek(kw::kind) {
        let key: kw::kind = input.parse()?;
        let value = recover(input, errors, |input| parse_kind(key.span, input));
        Arg::Kind { key, value }
    } else if input.peek(Token![crate]) {
        let key: Token![crate] = input.parse()?;
        let path = recover(input, errors, |input| parse_crate(key.span, input));
        Arg::Crate { key, path }
    } else if input.peek(kw::consumer) || input.peek(kw::producer) || input.peek(kw::server) {
        let key = Ident::parse_any(input)?;
        let role = if key == "consumer" {
            Role::Consumer
        } else if key == "producer" {
            Role::Producer
        } else {
            Role::Server
        };
        if !at_value_end(input) {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`{0}` takes no value: write `#[observe({0}, span = \"...\")]`",
                    role.name()
                ),
            ));
        }
        Arg::Role { key, role }
    } else if let Some(which) = expr_arg(input) {
        let key = Ident::parse_any(input)?;
        let value = recover(input, errors, |input| {
            parse_expr_value(key.span(), input, which.example())
        });
        Arg::Expr { key, which, value }
    } else if let Some(which) = word_arg(input) {
        let key = Ident::parse_any(input)?;
        let value = recover(input, errors, |input| {
            parse_word_value(key.span(), input, which.name(), which.example())
        });
        Arg::Word { key, which, value }
    } else {
        errors.push(unrecognised(input));
        skip_to_comma(input);
        return Ok(None);
    };
    Ok(Some(arg))
}

fn expr_arg(input: ParseStream<'_>) -> Option<ExprArg> {
    if input.peek(kw::headers) {
        Some(ExprArg::Headers)
    } else if input.peek(kw::messages) {
        Some(ExprArg::Messages)
    } else if input.peek(kw::message) {
        Some(ExprArg::Message)
    } else if input.peek(kw::request) {
        Some(ExprArg::Request)
    } else if input.peek(kw::destination) {
        Some(ExprArg::Destination)
    } else {
        None
    }
}

fn word_arg(input: ParseStream<'_>) -> Option<WordArg> {
    if input.peek(kw::propagation) {
        Some(WordArg::Propagation)
    } else if input.peek(kw::system) {
        Some(WordArg::System)
    } else if input.peek(kw::operation) {
        Some(WordArg::Operation)
    } else if input.peek(kw::route) {
        Some(WordArg::Route)
    } else {
        None
    }
}

/// `= true` or `= false`.
fn parse_log_errors(key: Span, input: ParseStream<'_>) -> syn::Result<syn::LitBool> {
    const EXAMPLE: &str = "log_errors = false";
    let eq = parse_eq(input, key, EXAMPLE)?;
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing value: write `{EXAMPLE}`"),
        ));
    }
    if input.peek(syn::LitBool) {
        return input.parse();
    }
    let value: proc_macro2::TokenTree = input.parse()?;
    Err(syn::Error::new(
        value.span(),
        format!("`log_errors` takes `true` or `false`: write `{EXAMPLE}`"),
    ))
}

/// `= expression`.
fn parse_expr_value(key: Span, input: ParseStream<'_>, example: &str) -> syn::Result<Expr> {
    let eq = parse_eq(input, key, example)?;
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing value: write `{example}`"),
        ));
    }
    input.parse()
}

/// `= "literal"`.
fn parse_word_value(
    key: Span,
    input: ParseStream<'_>,
    name: &str,
    example: &str,
) -> syn::Result<LitStr> {
    let eq = parse_eq(input, key, example)?;
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing value: write `{example}`"),
        ));
    }
    let value: Expr = input.parse()?;
    match string_literal(&value) {
        Some(literal) => Ok(literal.clone()),
        None => Err(syn::Error::new_spanned(
            &value,
            format!("`{name}` takes a string literal: write `{example}`"),
        )),
    }
}

/// Runs `parse`; on error, reports it and skips the rest of the argument.
fn recover<T>(
    input: ParseStream<'_>,
    errors: &mut Errors,
    parse: impl FnOnce(ParseStream<'_>) -> syn::Result<T>,
) -> Option<T> {
    match parse(input) {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error);
            skip_to_comma(input);
            None
        }
    }
}

/// Consumes tokens up to (not including) the next top-level comma.
fn skip_to_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn at_value_end(input: ParseStream<'_>) -> bool {
    input.is_empty() || input.peek(Token![,])
}

/// `=` after `key`, or an error on the key showing the whole argument.
fn parse_eq(input: ParseStream<'_>, key: Span, example: &str) -> syn::Result<Token![=]> {
    if input.peek(Token![=]) {
        input.parse()
    } else {
        Err(syn::Error::new(key, format!("expected `{example}`")))
    }
}

fn parse_span_name(key: Span, input: ParseStream<'_>) -> syn::Result<LitStr> {
    let example = format!("span = \"{SPAN_EXAMPLE}\"");
    let eq = parse_eq(input, key, &example)?;
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing span name: write `{example}`"),
        ));
    }
    let value: Expr = input.parse()?;
    match string_literal(&value) {
        Some(name) => Ok(name.clone()),
        None => Err(syn::Error::new_spanned(
            &value,
            format!(
                "span name must be a string literal, found {}: span names are fixed at \
                 compile time so they can be aggregated; write `{example}` and record \
                 varying values with `fields(...)`",
                describe(&value)
            ),
        )),
    }
}

fn parse_metric(key: Span, input: ParseStream<'_>) -> syn::Result<MetricArg> {
    const EXAMPLE: &str = "metric = \"latency\"";
    if input.peek(token::Paren) {
        return parse_custom_metric(input).map(MetricArg::Custom);
    }
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key,
            format!(
                "expected `{EXAMPLE}` or `metric(name = \"checkout_duration_seconds\", buckets = [..])`"
            ),
        ));
    }
    let eq: Token![=] = input.parse()?;
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing metric: write `{EXAMPLE}`"),
        ));
    }
    let value: Expr = input.parse()?;
    match string_literal(&value) {
        Some(metric) => Ok(MetricArg::Named(metric.clone())),
        None => Err(syn::Error::new_spanned(
            &value,
            format!("metric must be a string literal: write `{EXAMPLE}`"),
        )),
    }
}

fn parse_custom_metric(input: ParseStream<'_>) -> syn::Result<CustomMetric> {
    let content;
    let parens = syn::parenthesized!(content in input);
    let mut metric = CustomMetric {
        parens: parens.span.join(),
        name: None,
        buckets: None,
    };
    let mut errors = Errors::default();
    parse_separated(&content, &mut errors, |content, _| {
        if content.peek(kw::name) {
            let key: kw::name = content.parse()?;
            parse_metric_name(content).and_then(|name| match metric.name.replace(name) {
                Some(_) => Err(syn::Error::new(
                    key.span,
                    "duplicate `name` in `metric(...)`",
                )),
                None => Ok(()),
            })
        } else if content.peek(kw::buckets) {
            let key: kw::buckets = content.parse()?;
            parse_buckets(content).and_then(|buckets| match metric.buckets.replace(buckets) {
                Some(_) => Err(syn::Error::new(
                    key.span,
                    "duplicate `buckets` in `metric(...)`",
                )),
                None => Ok(()),
            })
        } else {
            Err(match content.fork().call(Ident::parse_any) {
                Ok(ident) => syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown `metric` argument `{}`, expected one of `name`, `buckets`",
                        ident.unraw()
                    ),
                ),
                Err(_) => content.error("expected `name = \"...\"` or `buckets = [...]`"),
            })
        }
    });
    errors.finish()?;
    Ok(metric)
}

fn parse_objective(key: Span, input: ParseStream<'_>) -> syn::Result<ObjectiveArg> {
    const EXAMPLE: &str =
        "objective(success = \"99.9%\", latency = \"300ms\", latency_target = \"99%\")";
    if !input.peek(token::Paren) {
        return Err(syn::Error::new(key, format!("expected `{EXAMPLE}`")));
    }
    let content;
    let parens = syn::parenthesized!(content in input);
    let mut objective = ObjectiveArg {
        parens: parens.span.join(),
        success: None,
        latency: None,
        latency_target: None,
        window: None,
    };
    let mut errors = Errors::default();
    parse_separated(&content, &mut errors, |content, _| {
        let key = match content.fork().call(Ident::parse_any) {
            Ok(key) => key,
            Err(_) => {
                return Err(content.error(format!(
                    "expected one of {}: e.g. `{EXAMPLE}`",
                    crate::errors::expected(OBJECTIVE_KEYS)
                )))
            }
        };
        let word = key.unraw().to_string();
        let (slot, example) = match word.as_str() {
            "success" => (&mut objective.success, "success = \"99.9%\""),
            "latency" => (&mut objective.latency, "latency = \"300ms\""),
            "latency_target" => (&mut objective.latency_target, "latency_target = \"99%\""),
            "window" => (&mut objective.window, "window = \"30d\""),
            _ => {
                let mut message = format!(
                    "unknown `objective` argument `{word}`, expected {}",
                    crate::errors::expected(OBJECTIVE_KEYS)
                );
                if let Some(known) = closest(&word, OBJECTIVE_KEYS) {
                    message.push_str(&format!("\nhelp: did you mean `{known}`?"));
                }
                return Err(syn::Error::new(key.span(), message));
            }
        };
        content.call(Ident::parse_any)?;
        let value = parse_word_value(key.span(), content, &word, example)?;
        match slot.replace(value) {
            Some(_) => Err(syn::Error::new(
                key.span(),
                format!("duplicate `{word}` in `objective(...)`"),
            )),
            None => Ok(()),
        }
    });
    errors.finish()?;
    Ok(objective)
}

fn parse_metric_name(input: ParseStream<'_>) -> syn::Result<LitStr> {
    const EXAMPLE: &str = "name = \"checkout_duration_seconds\"";
    if !input.peek(Token![=]) {
        return Err(input.error(format!("expected `{EXAMPLE}`")));
    }
    input.parse::<Token![=]>()?;
    let value: Expr = input.parse()?;
    match string_literal(&value) {
        Some(name) => Ok(name.clone()),
        None => Err(syn::Error::new_spanned(
            &value,
            format!("metric name must be a string literal: write `{EXAMPLE}`"),
        )),
    }
}

fn parse_buckets(input: ParseStream<'_>) -> syn::Result<Buckets> {
    const EXAMPLE: &str = "buckets = [0.005, 0.05, 0.5, 5.0]";
    if !input.peek(Token![=]) {
        return Err(input.error(format!("expected `{EXAMPLE}`")));
    }
    input.parse::<Token![=]>()?;
    if !input.peek(token::Bracket) {
        let value: Expr = input.parse()?;
        return Err(syn::Error::new_spanned(
            &value,
            format!("buckets must be a list of number literals: write `{EXAMPLE}`"),
        ));
    }
    let content;
    let brackets = syn::bracketed!(content in input);
    let values = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
    let mut errors = Errors::default();
    let mut bounds = Vec::new();
    for value in values {
        match number_literal(&value) {
            Some(number) => bounds.push(Bound {
                tokens: value.to_token_stream(),
                value: number,
            }),
            None => errors.push(syn::Error::new_spanned(
                &value,
                "bucket bounds must be number literals, in seconds: computed bounds cannot be \
                 checked at compile time",
            )),
        }
    }
    errors.finish()?;
    Ok(Buckets {
        brackets: brackets.span.join(),
        bounds,
    })
}

/// The value of an integer or float literal, negated under a unary `-`.
fn number_literal(value: &Expr) -> Option<f64> {
    match value {
        Expr::Lit(syn::ExprLit { lit, attrs }) if attrs.is_empty() => match lit {
            Lit::Float(float) => float.base10_parse().ok(),
            Lit::Int(int) => int.base10_parse::<u64>().ok().map(|n| n as f64),
            _ => None,
        },
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => number_literal(expr).map(|n| -n),
        Expr::Group(group) => number_literal(&group.expr),
        _ => None,
    }
}

fn parse_labels(key: Span, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Vec<Label>> {
    if !input.peek(token::Paren) {
        return Err(syn::Error::new(key, "expected `labels(key = value, ...)`"));
    }
    let content;
    syn::parenthesized!(content in input);
    Ok(parse_separated(&content, errors, |input, _| {
        parse_label(input)
    }))
}

fn parse_label(input: ParseStream<'_>) -> syn::Result<Label> {
    let key = parse_key(input, "label")?;
    let eq: Token![=] = input.parse()?;
    if input.peek(Token![%]) || input.peek(Token![?]) {
        return Err(input.error(
            "labels take a string literal or a `LabelValue` value, not a formatted one: a \
             formatted value is unbounded, put it on the span with `fields(...)` instead",
        ));
    }
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing value for label `{}`", key.name()),
        ));
    }
    let value = input.parse()?;
    Ok(Label { key, value })
}

/// A `fields` or `labels` key and the `=` after it.
fn parse_key(input: ParseStream<'_>, what: &str) -> syn::Result<FieldKey> {
    let key = if input.peek(LitStr) {
        FieldKey::Literal(input.parse()?)
    } else if input.peek(Ident::peek_any) {
        let mut segments = Punctuated::new();
        segments.push_value(Ident::parse_any(input)?);
        while input.peek(Token![.]) {
            segments.push_punct(input.parse()?);
            segments.push_value(Ident::parse_any(input).map_err(|error| {
                syn::Error::new(
                    error.span(),
                    format!("expected an identifier after `.`: {what} keys look like `order.id`"),
                )
            })?);
        }
        FieldKey::Dotted(segments)
    } else {
        return Err(input.error(format!(
            "expected a {what} key: `order.id = value` or `\"order.id\" = value`"
        )));
    };
    if !input.peek(Token![=]) {
        let name = key.name();
        return Err(syn::Error::new_spanned(
            &key,
            format!("expected `=` after {what} `{name}`: write `{name} = value`"),
        ));
    }
    Ok(key)
}

fn parse_fields(key: Span, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Vec<Field>> {
    if !input.peek(token::Paren) {
        return Err(syn::Error::new(key, "expected `fields(key = value, ...)`"));
    }
    let content;
    syn::parenthesized!(content in input);
    Ok(parse_separated(&content, errors, |input, _| {
        parse_field(input)
    }))
}

fn parse_field(input: ParseStream<'_>) -> syn::Result<Field> {
    let key = parse_key(input, "field")?;
    let eq: Token![=] = input.parse()?;
    let format = if input.peek(Token![%]) {
        input.parse::<Token![%]>()?;
        FieldFormat::Display
    } else if input.peek(Token![?]) {
        input.parse::<Token![?]>()?;
        FieldFormat::Debug
    } else {
        FieldFormat::Value
    };
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing value for field `{}`", key.name()),
        ));
    }
    let value = input.parse()?;
    Ok(Field {
        key,
        format,
        value,
        redact: false,
    })
}

fn parse_kind(key: Span, input: ParseStream<'_>) -> syn::Result<Ident> {
    const EXAMPLE: &str = "kind = server";
    let eq = parse_eq(input, key, EXAMPLE)?;
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let suggestion = match syn::parse_str::<Ident>(&literal.value()) {
            Ok(word) => format!("kind = {word}"),
            Err(_) => EXAMPLE.to_owned(),
        };
        return Err(syn::Error::new(
            literal.span(),
            format!("`kind` takes a bare word, not a string: write `{suggestion}`"),
        ));
    }
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing kind: write `{EXAMPLE}`"),
        ));
    }
    let value: Expr = input.parse()?;
    match &value {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => {
            if let Some(word) = path.path.get_ident() {
                return Ok(word.clone());
            }
        }
        _ => {}
    }
    Err(syn::Error::new_spanned(
        &value,
        format!("expected a kind, e.g. `{EXAMPLE}`"),
    ))
}

fn parse_crate(key: Span, input: ParseStream<'_>) -> syn::Result<Path> {
    const EXAMPLE: &str = "crate = my_facade::observe";
    let eq = parse_eq(input, key, EXAMPLE)?;
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return Err(syn::Error::new(
            literal.span(),
            format!(
                "`crate` takes a path, not a string: write `crate = {}`",
                literal.value()
            ),
        ));
    }
    if at_value_end(input) {
        return Err(syn::Error::new(
            eq.span,
            format!("missing path: write `{EXAMPLE}`"),
        ));
    }
    Path::parse_mod_style(input).map_err(|error| {
        syn::Error::new(error.span(), format!("expected a path, e.g. `{EXAMPLE}`"))
    })
}

/// The error for something that is not a known argument.
fn unrecognised(input: ParseStream<'_>) -> syn::Error {
    let valid = crate::errors::expected(ARGUMENTS);
    if input.peek(LitStr) {
        if let Ok(literal) = input.fork().parse::<LitStr>() {
            return syn::Error::new(
                literal.span(),
                format!("arguments are named: write `span = {}`", literal.token()),
            );
        }
    }
    match input.fork().call(Ident::parse_any) {
        Ok(ident) => {
            let word = ident.unraw().to_string();
            let mut message = format!("unknown argument `{word}`, expected {valid}");
            if let Some(known) = closest(&word, ARGUMENTS) {
                // A line of its own, as rustc shows its own suggestions.
                message.push_str(&format!("\nhelp: did you mean `{known}`?"));
            }
            syn::Error::new(ident.span(), message)
        }
        Err(_) => input.error(format!("expected an argument: {valid}")),
    }
}

/// The string literal `value` is, looking through the invisible groups a
/// `macro_rules!` wrapper adds around `$name:expr`.
fn string_literal(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(literal),
            attrs,
        }) if attrs.is_empty() => Some(literal),
        Expr::Group(group) => string_literal(&group.expr),
        _ => None,
    }
}

/// "found ..." wording for a value that should have been a string literal.
fn describe(value: &Expr) -> String {
    match value {
        Expr::Lit(literal) => match &literal.lit {
            Lit::Int(_) => "an integer literal".to_owned(),
            Lit::Float(_) => "a float literal".to_owned(),
            Lit::Bool(_) => "a boolean".to_owned(),
            Lit::Char(_) => "a character literal".to_owned(),
            Lit::Byte(_) => "a byte literal".to_owned(),
            Lit::ByteStr(_) => "a byte string literal".to_owned(),
            Lit::CStr(_) => "a C string literal".to_owned(),
            _ => "a literal".to_owned(),
        },
        Expr::Path(path) if path.qself.is_none() => format!(
            "`{}`, a variable or constant",
            path.path.to_token_stream().to_string().replace(' ', "")
        ),
        Expr::Group(group) => describe(&group.expr),
        _ => "an expression".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let args = Args::parse(tokens, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    fn messages(tokens: TokenStream) -> Vec<String> {
        parse(tokens).1
    }

    #[test]
    fn parses_every_argument() {
        let (args, errors) = parse(quote! {
            span = "Order.Submit",
            metric = "latency",
            fields(order.id = order.id, item_count = items.len(), customer = %order.customer, debug = ?thing, "http.method" = method),
            kind = server,
            crate = ::my_facade::observe,
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!args.has_unrecognised);
        let keys: Vec<&str> = args.list.iter().map(Arg::key_name).collect();
        assert_eq!(keys, ["span", "metric", "fields", "kind", "crate"]);
        match &args.list[0] {
            Arg::Span {
                name: Some(name), ..
            } => assert_eq!(name.value(), "Order.Submit"),
            _ => panic!("span"),
        }
        match &args.list[1] {
            Arg::Metric {
                value: Some(value), ..
            } => assert!(matches!(value, MetricArg::Named(v) if v.value() == "latency")),
            _ => panic!("metric"),
        }
        match &args.list[2] {
            Arg::Fields { fields, .. } => {
                let summary: Vec<(String, &str, String)> = fields
                    .iter()
                    .map(|f| {
                        let format = match f.format {
                            FieldFormat::Value => "value",
                            FieldFormat::Display => "display",
                            FieldFormat::Debug => "debug",
                        };
                        (f.key.name(), format, f.value.to_token_stream().to_string())
                    })
                    .collect();
                assert_eq!(
                    summary,
                    [
                        ("order.id".to_owned(), "value", "order . id".to_owned()),
                        (
                            "item_count".to_owned(),
                            "value",
                            "items . len ()".to_owned()
                        ),
                        (
                            "customer".to_owned(),
                            "display",
                            "order . customer".to_owned()
                        ),
                        ("debug".to_owned(), "debug", "thing".to_owned()),
                        ("http.method".to_owned(), "value", "method".to_owned()),
                    ]
                );
            }
            _ => panic!("fields"),
        }
        match &args.list[3] {
            Arg::Kind {
                value: Some(value), ..
            } => assert_eq!(value, "server"),
            _ => panic!("kind"),
        }
        match &args.list[4] {
            Arg::Crate {
                path: Some(path), ..
            } => {
                assert_eq!(
                    path.to_token_stream().to_string(),
                    ":: my_facade :: observe"
                );
            }
            _ => panic!("crate"),
        }
    }

    #[test]
    fn accepts_trailing_commas_and_keyword_segments() {
        let (args, errors) = parse(quote!(span = "Test.A", fields(r#type = 1, order.type = 2,),));
        assert!(errors.is_empty(), "{errors:?}");
        match &args.list[1] {
            Arg::Fields { fields, .. } => {
                let names: Vec<String> = fields.iter().map(|f| f.key.name()).collect();
                assert_eq!(names, ["type", "order.type"]);
            }
            _ => panic!("fields"),
        }
    }

    #[test]
    fn accepts_crate_relative_path() {
        let (args, errors) = parse(quote!(span = "Test.A", crate = crate::observe));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(&args.list[1], Arg::Crate { path: Some(_), .. }));
    }

    #[test]
    fn span_name_must_be_a_literal() {
        let variable = messages(quote!(span = NAME));
        assert!(
            variable[0].starts_with(
                "span name must be a string literal, found `NAME`, a variable or constant: "
            ),
            "{variable:?}"
        );
        let path = messages(quote!(span = names::SUBMIT));
        assert!(
            path[0].contains("found `names::SUBMIT`, a variable"),
            "{path:?}"
        );
        let integer = messages(quote!(span = 5));
        assert!(
            integer[0].contains("found an integer literal"),
            "{integer:?}"
        );
    }

    #[test]
    fn malformed_value_keeps_the_key() {
        let (args, errors) = parse(quote!(span = NAME));
        assert_eq!(errors.len(), 1);
        assert!(matches!(&args.list[..], [Arg::Span { name: None, .. }]));
    }

    #[test]
    fn missing_equals_or_value() {
        assert_eq!(
            messages(quote!(span)),
            ["expected `span = \"Order.Submit\"`"]
        );
        assert_eq!(
            messages(quote!(span =)),
            ["missing span name: write `span = \"Order.Submit\"`"]
        );
        assert_eq!(
            messages(quote!(span = , kind = server)),
            ["missing span name: write `span = \"Order.Submit\"`"]
        );
        assert_eq!(
            messages(quote!(metric)),
            ["expected `metric = \"latency\"` or `metric(name = \"checkout_duration_seconds\", buckets = [..])`"]
        );
        assert_eq!(
            messages(quote!(metric = latency)),
            ["metric must be a string literal: write `metric = \"latency\"`"]
        );
    }

    #[test]
    fn unknown_arguments() {
        let (args, errors) = parse(quote!(name = "Order.Submit", span = "Test.A"));
        assert_eq!(
            errors,
            ["unknown argument `name`, expected one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `server`, `headers`, `message`, `messages`, `request`, `propagation`, `system`, `destination`, `operation`, `route`, `objective`, `log_errors`"]
        );
        assert!(args.has_unrecognised);
        assert_eq!(
            args.list.len(),
            1,
            "parsing recovers after the unknown argument"
        );

        assert_eq!(
            messages(quote!(metirc = "latency")),
            ["unknown argument `metirc`, expected one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `server`, `headers`, `message`, `messages`, `request`, `propagation`, `system`, `destination`, `operation`, `route`, `objective`, `log_errors`\nhelp: did you mean `metric`?"]
        );
        assert_eq!(
            messages(quote!("Order.Submit")),
            ["arguments are named: write `span = \"Order.Submit\"`"]
        );
        assert_eq!(
            messages(quote!(42)),
            ["expected an argument: one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `server`, `headers`, `message`, `messages`, `request`, `propagation`, `system`, `destination`, `operation`, `route`, `objective`, `log_errors`"]
        );
    }

    #[test]
    fn kind_forms() {
        assert_eq!(
            messages(quote!(kind = "server")),
            ["`kind` takes a bare word, not a string: write `kind = server`"]
        );
        assert_eq!(
            messages(quote!(kind = "not a word")),
            ["`kind` takes a bare word, not a string: write `kind = server`"]
        );
        assert_eq!(
            messages(quote!(kind = SpanKind::Server)),
            ["expected a kind, e.g. `kind = server`"]
        );
        let (args, errors) = parse(quote!(kind = consumer));
        assert!(errors.is_empty());
        assert!(matches!(&args.list[..], [Arg::Kind { value: Some(_), .. }]));
    }

    #[test]
    fn crate_forms() {
        assert_eq!(
            messages(quote!(crate = "my_facade::observe")),
            ["`crate` takes a path, not a string: write `crate = my_facade::observe`"]
        );
        assert_eq!(
            messages(quote!(crate = 5)),
            ["expected a path, e.g. `crate = my_facade::observe`"]
        );
    }

    #[test]
    fn field_forms() {
        assert_eq!(
            messages(quote!(fields = (a = 1))),
            ["expected `fields(key = value, ...)`"]
        );
        assert_eq!(
            messages(quote!(fields(order.id))),
            ["expected `=` after field `order.id`: write `order.id = value`"]
        );
        assert_eq!(
            messages(quote!(fields(order. = 1))),
            ["expected an identifier after `.`: field keys look like `order.id`"]
        );
        assert_eq!(
            messages(quote!(fields(a = ))),
            ["missing value for field `a`"]
        );
        assert_eq!(
            messages(quote!(fields(5 = 1))),
            ["expected a field key: `order.id = value` or `\"order.id\" = value`"]
        );
    }

    #[test]
    fn reports_every_mistake_and_keeps_going() {
        let (args, errors) = parse(quote! {
            span = NAME,
            spam = 1,
            fields(a, b = 2, c = %),
            kind = "server",
            metric = "latency",
        });
        assert_eq!(errors.len(), 5, "{errors:?}");
        let keys: Vec<&str> = args.list.iter().map(Arg::key_name).collect();
        assert_eq!(keys, ["span", "fields", "kind", "metric"]);
        match &args.list[1] {
            Arg::Fields { fields, .. } => assert_eq!(fields.len(), 1, "only `b` is well formed"),
            _ => panic!("fields"),
        }
    }

    #[test]
    fn missing_comma() {
        assert_eq!(
            messages(quote!(span = "Test.A" kind = server)),
            ["expected `,`"]
        );
    }

    #[test]
    fn closures_and_generics_in_values_do_not_split_arguments() {
        let (args, errors) = parse(quote!(
            span = "Test.A",
            fields(a = f::<u8, u16>(), b = (|x, y| x + y)(1, 2))
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.list.len(), 2);
    }
}
