//! The rules arguments must follow beyond their syntax: which values are
//! allowed, what is required, and that nothing is given twice.
//!
//! Every rule reports into the same [`Errors`], so one build shows every
//! mistake.

use std::collections::BTreeSet;

use proc_macro2::Span;
use quote::ToTokens as _;
use syn::ext::IdentExt as _;
use syn::{Ident, LitStr, Path};

use crate::args::{Arg, Args, Buckets, ExprArg, Field, FieldKey, Label, MetricArg, Role, WordArg};
use crate::errors::{expected, Errors};
use crate::naming;
use crate::policy::Policy;
use crate::rules::{self, KeyUse};

/// What the rules need to know beyond the arguments.
#[derive(Default)]
pub(crate) struct Context {
    /// The crate's naming policy.
    pub(crate) policy: Policy,
    /// The annotated function's name, to suggest a span name from.
    pub(crate) function: Option<String>,
    /// Whether the function is a method (has a `self` receiver).
    pub(crate) is_method: bool,
    /// The span name when `span` is not given: `Type.Method`, for methods of
    /// an `#[observe]` impl block.
    pub(crate) default_name: Option<LitStr>,
    /// Whether the attribute is on a method of an `#[observe]` impl block,
    /// where `skip` is allowed.
    pub(crate) in_impl: bool,
    /// Tokens that make cargo rebuild the crate when its policy changes.
    pub(crate) track: proc_macro2::TokenStream,
}

/// Arguments that passed every rule, with defaults filled in.
pub(crate) struct Observe {
    /// The span name, as written.
    pub(crate) name: LitStr,
    pub(crate) kind: Kind,
    pub(crate) metric: Option<Metric>,
    pub(crate) fields: Vec<Field>,
    /// Metric labels, in the order written.
    pub(crate) labels: Vec<ValidLabel>,
    /// Where the runtime is: `::observe_runtime` unless `crate = path`.
    pub(crate) krate: Path,
    /// `consumer` / `producer` and their arguments.
    pub(crate) messaging: Option<Messaging>,
}

/// A consumer or producer span.
pub(crate) struct Messaging {
    /// Where the sender's context comes from (consumers only).
    pub(crate) source: Source,
    /// `propagation = "link"`: a new trace linked to the sender's span.
    pub(crate) link: bool,
    /// `messaging.system`, when given as `system = "..."`.
    pub(crate) system: Option<LitStr>,
    /// `messaging.destination.name`, when given as `destination = expr`.
    pub(crate) destination: Option<syn::Expr>,
    /// `messaging.operation.type`.
    pub(crate) operation: String,
}

impl Messaging {
    /// `messaging.operation.name`: the system's own word for the operation.
    pub(crate) fn operation_name(&self) -> String {
        let system = self.system.as_ref().map(LitStr::value);
        match (self.operation.as_str(), system.as_deref()) {
            ("send", Some("rabbitmq" | "nats")) => "publish".to_owned(),
            ("send", Some("kafka")) => "send".to_owned(),
            (operation, _) => operation.to_owned(),
        }
    }
}

/// Where a consumer reads the sender's context from.
pub(crate) enum Source {
    None,
    Headers(syn::Expr),
    Message(syn::Expr),
    Batch(syn::Expr),
}

impl Source {
    /// Whether one message's context and baggage are read.
    pub(crate) fn is_single(&self) -> bool {
        matches!(self, Source::Headers(_) | Source::Message(_))
    }
}

/// `messaging.system` values of the OpenTelemetry semantic conventions.
const SYSTEMS: &[&str] = &[
    "rabbitmq",
    "kafka",
    "nats",
    "activemq",
    "aws_sqs",
    "aws_sns",
    "eventgrid",
    "eventhubs",
    "servicebus",
    "gcp_pubsub",
    "jms",
    "pulsar",
    "rocketmq",
    "redis",
];

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

/// The histogram a call is observed in.
#[derive(Clone)]
pub(crate) enum Metric {
    /// `metric = "latency"`: the default family and buckets.
    Latency,
    /// `metric(name = "...", buckets = [...])`.
    Custom {
        name: LitStr,
        /// Bucket bounds in seconds; `None` for the default buckets.
        buckets: Option<Vec<f64>>,
    },
}

impl Metric {
    const NAMED: [(&'static str, Metric); 1] = [("latency", Metric::Latency)];
}

/// A label that passed the rules.
pub(crate) struct ValidLabel {
    /// The key as written, recorded on the span too (`payment.method`).
    pub(crate) key: FieldKey,
    /// The Prometheus label name (`payment_method`).
    pub(crate) prometheus: String,
    pub(crate) value: syn::Expr,
}

/// Checks `args`, adding to the syntax errors already in `errors`; `Ok` only
/// when there are no errors at all.
pub(crate) fn validate(args: Args, mut errors: Errors, cx: &Context) -> syn::Result<Observe> {
    reject_duplicate_arguments(&args.list, &mut errors);

    let mut span_given = false;
    let mut name = None;
    let mut kind = None;
    let mut metric = None;
    let mut metric_key = None;
    let mut fields = None;
    let mut labels = None;
    let mut krate = None;
    let mut skip = None;
    let mut role: Option<(Span, Role)> = None;
    let mut kind_key = None;
    let mut exprs: Vec<(Ident, ExprArg, syn::Expr)> = Vec::new();
    let mut words: Vec<(Ident, WordArg, LitStr)> = Vec::new();
    for arg in args.list {
        // Duplicates are reported above; the first occurrence is the one used.
        match arg {
            Arg::Span { name: value, .. } => {
                span_given = true;
                if let (None, Some(value)) = (&name, value) {
                    check_span_name(&value, &cx.policy, &mut errors);
                    name = Some(value);
                }
            }
            Arg::Metric { key, value } if metric_key.is_none() => {
                metric_key = Some(key.span);
                metric = value.map(|value| check_metric(value, &cx.policy, &mut errors));
            }
            Arg::Kind {
                key,
                value: Some(value),
            } if kind.is_none() => {
                kind_key = Some(key.span);
                kind = Some(check_kind(&value, &mut errors));
            }
            Arg::Role { key, role: value } => match role {
                None => role = Some((key.span(), value)),
                Some((_, first)) if first != value => errors.push(syn::Error::new(
                    key.span(),
                    "a function is either a `consumer` or a `producer`: one span cannot be both; \
                     split the function, or keep one of them",
                )),
                Some(_) => {}
            },
            Arg::Expr {
                key,
                which,
                value: Some(value),
            } => exprs.push((key, which, value)),
            Arg::Word {
                key,
                which,
                value: Some(value),
            } => words.push((key, which, value)),
            Arg::Fields { fields: value, .. } if fields.is_none() => {
                fields = Some(check_fields(value, &cx.policy, &mut errors));
            }
            Arg::Labels { key, labels: value } if labels.is_none() => {
                labels = Some((key.span, value));
            }
            Arg::Skip { key } if skip.is_none() => skip = Some(key.span),
            Arg::Crate {
                path: Some(path), ..
            } if krate.is_none() => krate = Some(path),
            _ => {}
        }
    }
    if let (Some((role_key, role)), Some(kind_key)) = (role, kind_key) {
        errors.push(syn::Error::new(
            kind_key,
            format!(
                "`{}` already sets the span kind: remove `kind`",
                role.name()
            ),
        ));
        let _ = role_key;
    }
    if let Some((_, role)) = role {
        kind = Some(Some(match role {
            Role::Consumer => Kind::Consumer,
            Role::Producer => Kind::Producer,
        }));
    }
    let messaging = check_messaging(role.map(|(_, r)| r), exprs, words, &mut errors);
    let fields = fields.unwrap_or_default();
    let labels = match labels {
        Some((key, labels)) => {
            if metric_key.is_none() {
                errors.push(syn::Error::new(
                    key,
                    "`labels` are dimensions of the latency histogram: add `metric = \"latency\"`, \
                     or record the values on the span with `fields(...)`",
                ));
            }
            check_labels(labels, &fields, &cx.policy, &mut errors)
        }
        None => Vec::new(),
    };

    if let Some(skip) = skip {
        if !cx.in_impl {
            errors.push(syn::Error::new(
                skip,
                "`skip` opts a method out of an `#[observe]` impl block: put `#[observe]` on the \
                 `impl`, or remove this attribute",
            ));
        }
    }
    if !span_given && cx.default_name.is_none() && skip.is_none() && !args.has_unrecognised {
        errors.push(missing_span(&args.tokens, cx));
    }
    errors.finish()?;
    Ok(Observe {
        // Only reachable without a name if `span` was malformed, which
        // `errors.finish()` has already returned for, or skipped.
        name: name
            .or_else(|| cx.default_name.clone())
            .unwrap_or_else(|| LitStr::new("", Span::call_site())),
        kind: kind.flatten().unwrap_or(Kind::Internal),
        metric: metric.flatten(),
        fields,
        labels,
        krate: krate.unwrap_or_else(|| syn::parse_quote!(::observe_runtime)),
        messaging,
    })
}

/// The rules of the messaging arguments: what needs `consumer` or
/// `producer`, which sources exclude each other, and the allowed words.
fn check_messaging(
    role: Option<Role>,
    exprs: Vec<(Ident, ExprArg, syn::Expr)>,
    words: Vec<(Ident, WordArg, LitStr)>,
    errors: &mut Errors,
) -> Option<Messaging> {
    let Some(role) = role else {
        for (key, which, _) in &exprs {
            let needs = if *which == ExprArg::Destination {
                "add `consumer` or `producer`"
            } else {
                "add `consumer`"
            };
            errors.push(syn::Error::new(
                key.span(),
                format!(
                    "`{}` belongs to a messaging span: {needs}, e.g. \
                     `#[observe(consumer, span = \"Orders.Process\", {} = ..)]`",
                    which.name(),
                    which.name(),
                ),
            ));
        }
        for (key, which, _) in &words {
            errors.push(syn::Error::new(
                key.span(),
                format!(
                    "`{}` belongs to a messaging span: add `consumer` or `producer`",
                    which.name()
                ),
            ));
        }
        return None;
    };
    let mut messaging = Messaging {
        source: Source::None,
        link: false,
        system: None,
        destination: None,
        operation: match role {
            Role::Consumer => "process".to_owned(),
            Role::Producer => "send".to_owned(),
        },
    };
    let mut source_key: Option<(Ident, ExprArg)> = None;
    for (key, which, value) in exprs {
        if which == ExprArg::Destination {
            messaging.destination = Some(value);
            continue;
        }
        if role == Role::Producer {
            errors.push(syn::Error::new(
                key.span(),
                format!(
                    "`{}` reads a received message's trace context, so it belongs to a \
                     `consumer`; a producer writes its context with \
                     `observe_runtime::propagation::inject(&mut headers)`",
                    which.name()
                ),
            ));
            continue;
        }
        if let Some((first, first_which)) = &source_key {
            let _ = first;
            errors.push(syn::Error::new(
                key.span(),
                format!(
                    "`{}` and `{}` both say where the message is: keep one",
                    first_which.name(),
                    which.name()
                ),
            ));
            continue;
        }
        messaging.source = match which {
            ExprArg::Headers => Source::Headers(value),
            ExprArg::Message => Source::Message(value),
            _ => Source::Batch(value),
        };
        source_key = Some((key, which));
    }
    let mut propagation_key = None;
    for (key, which, value) in words {
        let word = value.value();
        match which {
            WordArg::Propagation => {
                propagation_key = Some(key.clone());
                match word.as_str() {
                    "parent" => messaging.link = false,
                    "link" => messaging.link = true,
                    _ => errors.push(syn::Error::new(
                        value.span(),
                        format!(
                            "unknown propagation {word:?}, expected `\"parent\"` (continue the \
                             producer's trace, the default) or `\"link\"` (a new trace linked \
                             to the producer's span)"
                        ),
                    )),
                }
            }
            WordArg::System => {
                if !SYSTEMS.contains(&word.as_str()) {
                    errors.push(syn::Error::new(
                        value.span(),
                        format!(
                            "unknown messaging system {word:?}: `messaging.system` takes a \
                             value of the OpenTelemetry semantic conventions, {}",
                            expected(SYSTEMS)
                        ),
                    ));
                }
                messaging.system = Some(value);
            }
            WordArg::Operation => {
                let allowed: &[&str] = match role {
                    Role::Consumer => &["process", "receive"],
                    Role::Producer => &["send", "create"],
                };
                if allowed.contains(&word.as_str()) {
                    messaging.operation = word;
                } else {
                    errors.push(syn::Error::new(
                        value.span(),
                        format!(
                            "unknown operation {word:?} for a {}, expected {}",
                            role.name(),
                            expected(allowed)
                        ),
                    ));
                }
            }
        }
    }
    if let Some(key) = propagation_key {
        let reason = match (&messaging.source, role) {
            (_, Role::Producer) => Some(
                "`propagation` says how a consumer continues the producer's trace: it has no \
                 meaning on a `producer`",
            ),
            (Source::None, _) => Some(
                "`propagation` needs the message's headers: add `headers = ..` or `message = ..`",
            ),
            (Source::Batch(_), _) => {
                Some("a batch span always links to each message's context: remove `propagation`")
            }
            _ => None,
        };
        if let Some(reason) = reason {
            errors.push(syn::Error::new(key.span(), reason));
        }
    }
    if let Source::Message(_) = &messaging.source {
        let given = messaging
            .system
            .as_ref()
            .map(|s| ("system", s.span()))
            .or_else(|| {
                messaging
                    .destination
                    .as_ref()
                    .map(|d| ("destination", syn::spanned::Spanned::span(d)))
            });
        if let Some((name, span)) = given {
            errors.push(syn::Error::new(
                span,
                format!("`message` already gives `{name}`: remove it"),
            ));
        }
    }
    Some(messaging)
}

fn missing_span(args: &proc_macro2::TokenStream, cx: &Context) -> syn::Error {
    let operation = cx
        .function
        .as_deref()
        .map(rules::pascal_case)
        .filter(|operation| operation.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or_else(|| "Submit".to_owned());
    let example = format!("span = \"{}.{operation}\"", cx.policy.example_domain());
    let example = if args.is_empty() {
        format!("#[observe({example})]")
    } else {
        example
    };
    let mut message = format!(
        "missing `span = \"...\"`: name the operation `<Domain>.{operation}`, e.g. `{example}`"
    );
    if cx.is_method {
        message.push_str(
            ", or put `#[observe]` on the `impl` block to name every method `Type.Method`",
        );
    }
    if args.is_empty() {
        // Nothing to point at but the attribute itself.
        syn::Error::new(Span::call_site(), message)
    } else {
        syn::Error::new_spanned(args, message)
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

fn check_span_name(name: &LitStr, policy: &Policy, errors: &mut Errors) {
    if let Err(message) = naming::check_span_name(&name.value(), policy) {
        errors.push(syn::Error::new(name.span(), message));
    }
}

fn check_metric(value: MetricArg, policy: &Policy, errors: &mut Errors) -> Option<Metric> {
    let custom = match value {
        MetricArg::Named(value) => {
            let word = value.value();
            let found = Metric::NAMED.iter().find(|(name, _)| *name == word);
            if found.is_none() {
                let valid: Vec<&str> = Metric::NAMED.iter().map(|(name, _)| *name).collect();
                errors.push(syn::Error::new(
                    value.span(),
                    format!(
                        "unknown `metric` {word:?}, expected {}, or a family of your own: \
                         `metric(name = \"checkout_duration_seconds\")`",
                        expected(&valid)
                    ),
                ));
            }
            return found.map(|(_, metric)| metric.clone());
        }
        MetricArg::Custom(custom) => custom,
    };
    let mut valid = true;
    match &custom.name {
        Some(name) => {
            if let Err(message) = naming::check_metric_name(&name.value(), policy) {
                errors.push(syn::Error::new(name.span(), message));
                valid = false;
            }
        }
        None => {
            errors.push(syn::Error::new(
                custom.parens,
                "missing `name`: write `metric(name = \"checkout_duration_seconds\")`, or \
                 `metric = \"latency\"` for the default family",
            ));
            valid = false;
        }
    }
    let buckets = custom.buckets.map(|buckets| check_buckets(buckets, errors));
    match (valid, custom.name, buckets) {
        (true, Some(name), None) => Some(Metric::Custom {
            name,
            buckets: None,
        }),
        (true, Some(name), Some(Some(buckets))) => Some(Metric::Custom {
            name,
            buckets: Some(buckets),
        }),
        _ => None,
    }
}

/// The bounds, if they are positive, finite, strictly increasing and at
/// least a nanosecond apart (the resolution calls are measured in).
fn check_buckets(buckets: Buckets, errors: &mut Errors) -> Option<Vec<f64>> {
    if buckets.bounds.is_empty() {
        errors.push(syn::Error::new(
            buckets.brackets,
            "buckets must not be empty: e.g. `buckets = [0.005, 0.05, 0.5, 5.0]`",
        ));
        return None;
    }
    let mut valid = true;
    let mut previous: Option<(f64, String)> = None;
    for bound in &buckets.bounds {
        let value = bound.value;
        let written = bound.tokens.to_string().replace(' ', "");
        let problem = if !value.is_finite() {
            Some("bucket bounds must be finite: the `+Inf` bucket is always there".to_owned())
        } else if value <= 0.0 {
            Some(format!(
                "bucket bounds must be positive: a call takes more than `0` seconds, found \
                 `{written}`"
            ))
        } else if value < 1e-9 {
            Some(format!(
                "bucket bound `{written}` is below a nanosecond, the resolution calls are \
                 measured in"
            ))
        } else if value > 1e9 {
            Some(format!(
                "bucket bound `{written}` is over 30 years: write it in seconds"
            ))
        } else {
            match &previous {
                Some((previous, shown)) if (value * 1e9).round() <= (previous * 1e9).round() => {
                    Some(format!(
                        "buckets must be strictly increasing: `{written}` follows `{shown}`"
                    ))
                }
                _ => None,
            }
        };
        if let Some(problem) = problem {
            errors.push(syn::Error::new_spanned(&bound.tokens, problem));
            valid = false;
        }
        if value.is_finite() && previous.as_ref().is_none_or(|(p, _)| value > *p) {
            previous = Some((value, written));
        }
    }
    valid.then(|| buckets.bounds.iter().map(|bound| bound.value).collect())
}

fn check_labels(
    labels: Vec<Label>,
    fields: &[Field],
    policy: &Policy,
    errors: &mut Errors,
) -> Vec<ValidLabel> {
    let mut seen = BTreeSet::new();
    let mut valid = Vec::new();
    for label in labels {
        let name = label.key.name();
        let prometheus = name.replace('.', "_");
        if let Err(message) = naming::check_label_key(&name, policy) {
            errors.push(syn::Error::new_spanned(&label.key, message));
        } else if !seen.insert(prometheus.clone()) {
            errors.push(syn::Error::new_spanned(
                &label.key,
                format!(
                    "duplicate label `{name}`: each label may be given once (`.` and `_` are the \
                     same in Prometheus, `{prometheus}`)"
                ),
            ));
        } else if fields.iter().any(|field| field.key.name() == name) {
            errors.push(syn::Error::new_spanned(
                &label.key,
                format!(
                    "`{name}` is both a field and a label: labels are recorded on the span too, \
                     remove it from `fields(...)`"
                ),
            ));
        } else {
            valid.push(ValidLabel {
                key: label.key,
                prometheus,
                value: label.value,
            });
        }
    }
    valid
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

fn check_fields(mut fields: Vec<Field>, policy: &Policy, errors: &mut Errors) -> Vec<Field> {
    let mut seen = BTreeSet::new();
    for field in &mut fields {
        let name = field.key.name();
        if name.is_empty() {
            errors.push(syn::Error::new_spanned(
                &field.key,
                "field key must not be empty",
            ));
        } else if !seen.insert(name.clone()) {
            let shown = match &field.key {
                FieldKey::Dotted(_) => format!("`{name}`"),
                FieldKey::Literal(_) => format!("`{name:?}`"),
            };
            errors.push(syn::Error::new_spanned(
                &field.key,
                format!("duplicate field {shown}: each key may be recorded once"),
            ));
        } else if let Err(message) = rules::check_key(&name, KeyUse::Field) {
            errors.push(syn::Error::new_spanned(&field.key, message));
        } else {
            check_sensitive(field, policy, errors);
        }
    }
    fields
}

/// A sensitive value must go through `mask(..)` or `hash(..)`. Sensitive is
/// told by the key (`user.phone = ..`) or, for a plain variable or field
/// access, by the value (`contact = user.phone`). The expansion then also
/// requires the value's type to be `Masked` or `Hashed`, so a look-alike
/// `mask` of one's own does not pass.
fn check_sensitive(field: &mut Field, policy: &Policy, errors: &mut Errors) {
    let key = field.key.name();
    if policy.allows_sensitive_key(&key) {
        return;
    }
    if is_fact_about(&field.value) {
        return;
    }
    if let Some(word) = naming::sensitive_word(&key, policy) {
        field.redact = true;
        if !is_redaction(&field.value) {
            let value = field.value.to_token_stream().to_string().replace(' ', "");
            errors.push(syn::Error::new_spanned(
                &field.value,
                format!(
                    "field `{key}` is sensitive (`{word}`) and cannot be recorded raw: write \
                     `{key} = observe_runtime::mask(&{value})` to keep its shape, or \
                     `observe_runtime::hash(&{value})` to keep it joinable"
                ),
            ));
        }
        return;
    }
    if let Some(path) = plain_place(&field.value) {
        let last = path.rsplit('.').next().unwrap_or_default();
        if let Some(word) = naming::sensitive_word(last, policy) {
            field.redact = true;
            errors.push(syn::Error::new_spanned(
                &field.value,
                format!(
                    "`{path}` is sensitive (`{word}`) and cannot be recorded raw: write \
                     `{key} = observe_runtime::mask(&{path})` or `observe_runtime::hash(&{path})`"
                ),
            ));
        }
    }
}

/// A test or a count computed from a value, not the value itself:
/// `!email.is_empty()`, `a == b`, `email.len()`, a literal.
fn is_fact_about(value: &syn::Expr) -> bool {
    match value {
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(_),
            ..
        }) => true,
        syn::Expr::Binary(binary) => matches!(
            binary.op,
            syn::BinOp::Eq(_)
                | syn::BinOp::Ne(_)
                | syn::BinOp::Lt(_)
                | syn::BinOp::Le(_)
                | syn::BinOp::Gt(_)
                | syn::BinOp::Ge(_)
                | syn::BinOp::And(_)
                | syn::BinOp::Or(_)
        ),
        syn::Expr::MethodCall(call) => {
            let method = call.method.to_string();
            method.starts_with("is_")
                || method.starts_with("has_")
                || matches!(
                    method.as_str(),
                    "len" | "count" | "contains" | "starts_with" | "ends_with"
                )
        }
        syn::Expr::Lit(_) => true,
        syn::Expr::Paren(paren) => is_fact_about(&paren.expr),
        syn::Expr::Group(group) => is_fact_about(&group.expr),
        _ => false,
    }
}

/// `mask(..)` or `hash(..)`, by any path (`observe_runtime::mask(..)`).
fn is_redaction(value: &syn::Expr) -> bool {
    match value {
        syn::Expr::Call(call) => match &*call.func {
            syn::Expr::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "mask" || segment.ident == "hash"),
            _ => false,
        },
        syn::Expr::Paren(paren) => is_redaction(&paren.expr),
        syn::Expr::Group(group) => is_redaction(&group.expr),
        _ => false,
    }
}

/// `user.phone`, `phone`, `&self.email`: a variable or field access, written
/// out as `a.b.c`.
fn plain_place(value: &syn::Expr) -> Option<String> {
    match value {
        syn::Expr::Path(path) if path.qself.is_none() => {
            path.path.get_ident().map(|ident| ident.unraw().to_string())
        }
        syn::Expr::Field(field) => {
            let base = plain_place(&field.base)?;
            match &field.member {
                syn::Member::Named(name) => Some(format!("{base}.{}", name.unraw())),
                syn::Member::Unnamed(_) => None,
            }
        }
        syn::Expr::Reference(reference) => plain_place(&reference.expr),
        syn::Expr::Paren(paren) => plain_place(&paren.expr),
        syn::Expr::Group(group) => plain_place(&group.expr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn run(tokens: TokenStream) -> Result<Observe, Vec<String>> {
        let mut errors = Errors::default();
        let args = Args::parse(tokens, &mut errors);
        validate(args, errors, &Context::default())
            .map_err(|error| error.into_iter().map(|e| e.to_string()).collect())
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
        assert!(observe.metric.is_none());
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
        assert!(matches!(observe.metric, Some(Metric::Latency)));
        assert_eq!(observe.fields.len(), 1);
        assert_eq!(
            observe.krate.to_token_stream().to_string(),
            "facade :: observe"
        );
        for (word, kind) in Kind::ALL {
            let word = syn::Ident::new(word, Span::call_site());
            let observe =
                run(quote!(span = "Test.A", kind = #word)).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(observe.kind, kind);
        }
    }

    #[test]
    fn messaging_arguments() {
        let observe = run(quote!(
            consumer,
            span = "Orders.Process",
            headers = delivery.properties.headers(),
            propagation = "link",
            system = "rabbitmq",
            destination = queue,
            operation = "receive"
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(observe.kind, Kind::Consumer);
        let messaging = observe.messaging.expect("a messaging span");
        assert!(messaging.link);
        assert!(matches!(messaging.source, Source::Headers(_)));
        assert_eq!(messaging.operation, "receive");
        assert_eq!(messaging.operation_name(), "receive");

        let observe = run(quote!(producer, span = "Orders.Publish", system = "kafka"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(observe.kind, Kind::Producer);
        let messaging = observe.messaging.unwrap();
        assert_eq!(messaging.operation, "send");
        assert_eq!(messaging.operation_name(), "send");
        let observe = run(quote!(producer, span = "Orders.Publish", system = "nats")).unwrap();
        assert_eq!(observe.messaging.unwrap().operation_name(), "publish");

        let observe = run(quote!(consumer, span = "Orders.Settle", messages = batch)).unwrap();
        assert!(matches!(
            observe.messaging.unwrap().source,
            Source::Batch(_)
        ));
        assert!(run(quote!(span = "Orders.Process"))
            .unwrap()
            .messaging
            .is_none());
    }

    #[test]
    fn messaging_mistakes() {
        assert_eq!(
            errors(quote!(span = "Orders.Process", headers = h)),
            ["`headers` belongs to a messaging span: add `consumer`, e.g. `#[observe(consumer, span = \"Orders.Process\", headers = ..)]`"]
        );
        assert_eq!(
            errors(quote!(consumer, producer, span = "Orders.Process")),
            ["a function is either a `consumer` or a `producer`: one span cannot be both; split the function, or keep one of them"]
        );
        assert_eq!(
            errors(quote!(consumer, span = "Orders.Process", headers = h, propagation = "child")),
            ["unknown propagation \"child\", expected `\"parent\"` (continue the producer's trace, the default) or `\"link\"` (a new trace linked to the producer's span)"]
        );
        assert_eq!(
            errors(quote!(
                consumer,
                span = "Orders.Process",
                propagation = "link"
            )),
            ["`propagation` needs the message's headers: add `headers = ..` or `message = ..`"]
        );
        assert_eq!(
            errors(quote!(
                consumer,
                span = "Orders.Process",
                headers = h,
                message = m
            )),
            ["`headers` and `message` both say where the message is: keep one"]
        );
        assert_eq!(
            errors(quote!(producer, span = "Orders.Publish", headers = h)),
            ["`headers` reads a received message's trace context, so it belongs to a `consumer`; a producer writes its context with `observe_runtime::propagation::inject(&mut headers)`"]
        );
        assert_eq!(
            errors(quote!(consumer, kind = server, span = "Orders.Process")),
            ["`consumer` already sets the span kind: remove `kind`"]
        );
        assert_eq!(
            errors(quote!(consumer, span = "Orders.Process", system = "rabbit")).len(),
            1
        );
        assert_eq!(
            errors(quote!(
                consumer,
                span = "Orders.Process",
                message = m,
                system = "nats"
            )),
            ["`message` already gives `system`: remove it"]
        );
        assert_eq!(
            errors(quote!(
                consumer,
                span = "Orders.Process",
                messages = b,
                propagation = "link"
            )),
            ["a batch span always links to each message's context: remove `propagation`"]
        );
        assert_eq!(
            errors(quote!(consumer = true, span = "Orders.Process")),
            ["`consumer` takes no value: write `#[observe(consumer, span = \"...\")]`"]
        );
    }

    #[test]
    fn missing_span() {
        assert_eq!(
            errors(quote!()),
            ["missing `span = \"...\"`: name the operation `<Domain>.Submit`, e.g. `#[observe(span = \"Order.Submit\")]`"]
        );
        assert_eq!(
            errors(quote!(metric = "latency")),
            ["missing `span = \"...\"`: name the operation `<Domain>.Submit`, e.g. `span = \"Order.Submit\"`"]
        );
    }

    #[test]
    fn no_missing_span_when_an_argument_was_not_recognised() {
        assert_eq!(
            errors(quote!(name = "Order.Submit")),
            ["unknown argument `name`, expected one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `headers`, `message`, `messages`, `propagation`, `system`, `destination`, `operation`"]
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
    fn span_naming_conventions() {
        assert_eq!(
            errors(quote!(span = "order.submit")),
            [
                "span name segment `order` is not PascalCase (an uppercase letter, then ASCII \
              letters and digits): write `Order.Submit`"
            ]
        );
        assert!(run(quote!(span = "Payment.OrderService.CreateOrder")).is_ok());
    }

    #[test]
    fn missing_span_suggests_a_name() {
        let cx = Context {
            function: Some("submit_order".into()),
            is_method: true,
            ..Context::default()
        };
        let mut errors = Errors::default();
        let args = Args::parse(quote!(kind = server), &mut errors);
        let messages: Vec<String> = validate(args, errors, &cx)
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default();
        assert_eq!(
            messages,
            [
                "missing `span = \"...\"`: name the operation `<Domain>.SubmitOrder`, e.g. \
              `span = \"Order.SubmitOrder\"`, or put `#[observe]` on the `impl` block to name \
              every method `Type.Method`"
            ]
        );
    }

    #[test]
    fn field_key_conventions() {
        assert_eq!(
            errors(quote!(
                span = "A.B",
                fields(tenantId = 1, "Order.Id" = 2, ok.key = 3)
            )),
            [
                "field key `tenantId` is not lowercase snake_case: keys are lowercase snake_case \
                 segments joined by `.`, write `tenant.id`",
                "field key `Order.Id` has the segment `Order`, which does not start with a \
                 lowercase letter: keys are lowercase snake_case segments joined by `.`, write \
                 `order.id`",
            ]
        );
    }

    #[test]
    fn unknown_metric() {
        assert_eq!(
            errors(quote!(span = "Test.A", metric = "latncy")),
            ["unknown `metric` \"latncy\", expected `latency`, or a family of your own: `metric(name = \"checkout_duration_seconds\")`"]
        );
    }

    #[test]
    fn unknown_kind() {
        assert_eq!(
            errors(quote!(span = "Test.A", kind = serve)),
            ["unknown `kind` `serve`, expected one of `internal`, `server`, `client`, `producer`, `consumer`"]
        );
        assert_eq!(
            errors(quote!(span = "Test.A", kind = Server)),
            ["unknown `kind` `Server`, expected one of `internal`, `server`, `client`, `producer`, `consumer`: write `kind = server`"]
        );
    }

    #[test]
    fn duplicate_arguments() {
        assert_eq!(
            errors(quote!(span = "Test.A", kind = server, span = "Test.B")),
            ["duplicate `span` argument: each argument may be given once"]
        );
        assert_eq!(
            errors(quote!(span = "Test.A", fields(a = 1), fields(b = 2))),
            ["duplicate `fields` argument: each argument may be given once"]
        );
        // A malformed duplicate is still a duplicate.
        assert_eq!(
            errors(quote!(span = "Test.A", span = NAME)).len(),
            2,
            "the malformed value and the duplicate"
        );
    }

    #[test]
    fn duplicate_fields() {
        assert_eq!(
            errors(quote!(
                span = "Test.A",
                fields(order.id = 1, other = 2, order.id = 3)
            )),
            ["duplicate field `order.id`: each key may be recorded once"]
        );
        assert_eq!(
            errors(quote!(
                span = "Test.A",
                fields(order.id = 1, "order.id" = 3)
            )),
            ["duplicate field `\"order.id\"`: each key may be recorded once"]
        );
        assert_eq!(
            errors(quote!(span = "Test.A", fields("" = 1))),
            ["field key must not be empty"]
        );
    }

    #[test]
    fn independent_mistakes_are_reported_together() {
        assert_eq!(
            errors(quote!(span = "", metric = "latncy", kind = serve, colour = red)),
            [
                "unknown argument `colour`, expected one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `headers`, `message`, `messages`, `propagation`, `system`, `destination`, `operation`",
                "span name must not be empty: name the operation, e.g. `span = \"Order.Submit\"`",
                "unknown `metric` \"latncy\", expected `latency`, or a family of your own: `metric(name = \"checkout_duration_seconds\")`",
                "unknown `kind` `serve`, expected one of `internal`, `server`, `client`, `producer`, `consumer`",
            ]
        );
    }
}
