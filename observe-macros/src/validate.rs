//! The rules arguments must follow beyond their syntax: which values are
//! allowed, what is required, and that nothing is given twice.
//!
//! Every rule reports into the same [`Errors`], so one build shows every
//! mistake.

use std::collections::BTreeSet;

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::{Ident, LitStr, Path};

use crate::args::{
    Arg, Args, Buckets, ExprArg, Field, FieldKey, Label, MetricArg, ObjectiveArg, Role, WordArg,
};
use crate::errors::{expected, Errors};
use crate::naming;
use crate::objective::{self, ValidObjective};
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
    /// `consumer` / `producer` / `server` and their arguments.
    pub(crate) messaging: Option<Messaging>,
    /// `objective(...)`: static data for the generated rules.
    pub(crate) objective: Option<ValidObjective>,
    /// Whether an `Err` or panic writes the failure log event (`log_errors`,
    /// default `true`).
    pub(crate) log_errors: bool,
}

/// A consumer, producer or server span.
pub(crate) struct Messaging {
    pub(crate) role: Role,
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
    /// `http.route`, when given as `route = "/orders/{id}"` (servers only).
    pub(crate) route: Option<LitStr>,
}

impl Messaging {
    /// Whether the expansion records attributes on the span after it
    /// starts: messaging spans always do; a server span only its route (a
    /// request's attributes are recorded as it starts).
    pub(crate) fn records(&self) -> bool {
        self.role != Role::Server || self.route.is_some()
    }

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

/// Where a consumer or server reads the sender's context from.
pub(crate) enum Source {
    None,
    Headers(syn::Expr),
    Message(syn::Expr),
    Batch(syn::Expr),
    Request(syn::Expr),
}

impl Source {
    /// Whether one message's (or request's) context and baggage are read.
    pub(crate) fn is_single(&self) -> bool {
        matches!(
            self,
            Source::Headers(_) | Source::Message(_) | Source::Request(_)
        )
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
    let mut given = Given::default();
    // In source order, so the messages come in the order the arguments are
    // written. Duplicates are reported above; the first occurrence is used.
    for arg in args.list {
        given.check(arg, cx, &mut errors);
    }
    // `kind = server` is the `server` role: it may then read its request.
    if given.role.is_none() && given.kind == Some(Some(Kind::Server)) {
        given.role = Some(Role::Server);
        given.kind_key = None;
    }
    let objective = given
        .objective
        .take()
        .and_then(|(key, value)| check_objective(key, value, &given, cx, &mut errors));
    let kind = check_role_sets_kind(&given, &mut errors);
    let messaging = check_messaging(given.role, given.exprs, given.words, &mut errors);
    let fields = given.fields.unwrap_or_default();
    let labels = match given.labels {
        Some((key, labels)) => {
            check_labels_have_metric(key, given.metric_key, &mut errors);
            valid_labels(labels, &fields, &cx.policy, &mut errors)
        }
        None => Vec::new(),
    };
    check_skip_in_impl(given.skip, cx, &mut errors);
    if !given.span && cx.default_name.is_none() && given.skip.is_none() && !args.has_unrecognised {
        errors.push(missing_span(&args.tokens, cx));
    }
    errors.finish()?;
    Ok(Observe {
        // Only reachable without a name if `span` was malformed, which
        // `errors.finish()` has already returned for, or skipped.
        name: given
            .name
            .or_else(|| cx.default_name.clone())
            .unwrap_or_else(|| LitStr::new("", Span::call_site())),
        kind: kind.unwrap_or(Kind::Internal),
        metric: given.metric.flatten(),
        fields,
        labels,
        krate: given
            .krate
            .unwrap_or_else(|| syn::parse_quote!(::observe_runtime)),
        messaging,
        objective,
        log_errors: given.log_errors.unwrap_or(true),
    })
}

/// What the arguments gave, each already checked on its own; the rules
/// between arguments run on this once every argument is in.
#[derive(Default)]
struct Given {
    /// Whether `span` appears at all, even malformed.
    span: bool,
    name: Option<LitStr>,
    /// `Some(None)` for a `kind` given but unknown.
    kind: Option<Option<Kind>>,
    kind_key: Option<Span>,
    /// `Some(None)` for a `metric` given but invalid or malformed.
    metric: Option<Option<Metric>>,
    metric_key: Option<Span>,
    fields: Option<Vec<Field>>,
    labels: Option<(Span, Vec<Label>)>,
    krate: Option<Path>,
    skip: Option<Span>,
    role: Option<Role>,
    /// The messaging arguments, all of them: their rules depend on the role.
    exprs: Vec<(Ident, ExprArg, syn::Expr)>,
    words: Vec<(Ident, WordArg, LitStr)>,
    /// `objective`, checked once the metric is known; `None` inside when
    /// malformed.
    objective: Option<(Span, Option<ObjectiveArg>)>,
    log_errors: Option<bool>,
}

impl Given {
    fn check(&mut self, arg: Arg, cx: &Context, errors: &mut Errors) {
        match arg {
            Arg::Span { name, .. } => self.check_span(name, &cx.policy, errors),
            Arg::Metric { key, value } => self.check_metric(key.span, value, &cx.policy, errors),
            Arg::Kind { key, value } => self.check_kind(key.span, value, errors),
            Arg::Role { key, role } => self.check_role(&key, role, errors),
            Arg::Fields { fields, .. } => self.check_fields(fields, &cx.policy, errors),
            Arg::Labels { key, labels } => self.check_labels(key.span, labels),
            Arg::Skip { key } => self.check_skip(key.span),
            Arg::Crate { path, .. } => self.check_crate(path),
            Arg::Expr { key, which, value } => {
                // Checked with the role, in `check_messaging`.
                if let Some(value) = value {
                    self.exprs.push((key, which, value));
                }
            }
            Arg::Word { key, which, value } => {
                if let Some(value) = value {
                    self.words.push((key, which, value));
                }
            }
            Arg::Objective { key, value } => {
                self.objective.get_or_insert((key.span, value));
            }
            Arg::LogErrors { value, .. } => {
                if let (None, Some(value)) = (self.log_errors, value) {
                    self.log_errors = Some(value.value);
                }
            }
        }
    }

    /// A later `span` is only looked at when the first was malformed, so a
    /// fixed duplicate still names the span.
    fn check_span(&mut self, name: Option<LitStr>, policy: &Policy, errors: &mut Errors) {
        self.span = true;
        if let (None, Some(name)) = (&self.name, name) {
            if let Err(message) = naming::check_span_name(&name.value(), policy) {
                errors.push(syn::Error::new(name.span(), message));
            }
            self.name = Some(name);
        }
    }

    fn check_metric(
        &mut self,
        key: Span,
        value: Option<MetricArg>,
        policy: &Policy,
        errors: &mut Errors,
    ) {
        if self.metric_key.is_none() {
            self.metric_key = Some(key);
            self.metric = value.map(|value| metric_of(value, policy, errors));
        }
    }

    /// A malformed `kind` is not counted as given: its error is enough.
    fn check_kind(&mut self, key: Span, value: Option<Ident>, errors: &mut Errors) {
        if let (None, Some(value)) = (&self.kind, value) {
            self.kind_key = Some(key);
            self.kind = Some(kind_of(&value, errors));
        }
    }

    fn check_role(&mut self, key: &Ident, role: Role, errors: &mut Errors) {
        match self.role {
            None => self.role = Some(role),
            Some(first) if first != role => errors.push(syn::Error::new(
                key.span(),
                format!(
                    "a function is one of `consumer`, `producer` or `server`: one span cannot \
                     be both a `{}` and a `{}`; split the function, or keep one of them",
                    first.name(),
                    role.name()
                ),
            )),
            Some(_) => {}
        }
    }

    fn check_fields(&mut self, fields: Vec<Field>, policy: &Policy, errors: &mut Errors) {
        if self.fields.is_none() {
            self.fields = Some(valid_fields(fields, policy, errors));
        }
    }

    /// Labels are checked once the fields are known: a key may not be both.
    fn check_labels(&mut self, key: Span, labels: Vec<Label>) {
        self.labels.get_or_insert((key, labels));
    }

    fn check_skip(&mut self, key: Span) {
        self.skip.get_or_insert(key);
    }

    fn check_crate(&mut self, path: Option<Path>) {
        if self.krate.is_none() {
            self.krate = path;
        }
    }
}

/// The span kind: a messaging role sets it, so `kind` beside one is a
/// mistake.
fn check_role_sets_kind(given: &Given, errors: &mut Errors) -> Option<Kind> {
    let Some(role) = given.role else {
        return given.kind.flatten();
    };
    if let Some(kind_key) = given.kind_key {
        errors.push(syn::Error::new(
            kind_key,
            format!(
                "`{}` already sets the span kind: remove `kind`",
                role.name()
            ),
        ));
    }
    Some(RoleRules::of(role).kind)
}

/// The objective's rules need the histogram it is measured on. A metric
/// given but invalid has its own error; the objective's threshold is then not
/// checked against it.
fn check_objective(
    key: Span,
    value: Option<ObjectiveArg>,
    given: &Given,
    cx: &Context,
    errors: &mut Errors,
) -> Option<ValidObjective> {
    let value = value?;
    let (buckets, family) = match &given.metric {
        Some(None) => return None,
        Some(Some(Metric::Latency)) => (None, None),
        Some(Some(Metric::Custom { name, buckets })) => (buckets.as_deref(), Some(name.value())),
        None => (None, None),
    };
    let histogram = objective::Histogram {
        buckets,
        family,
        function: cx.function.as_deref(),
    };
    let histogram = given.metric.is_some().then_some(&histogram);
    objective::check(key, value, histogram, errors)
}

fn check_labels_have_metric(key: Span, metric_key: Option<Span>, errors: &mut Errors) {
    if metric_key.is_none() {
        errors.push(syn::Error::new(
            key,
            "`labels` are dimensions of the latency histogram: add `metric = \"latency\"`, \
             or record the values on the span with `fields(...)`",
        ));
    }
}

fn check_skip_in_impl(skip: Option<Span>, cx: &Context, errors: &mut Errors) {
    if let Some(skip) = skip {
        if !cx.in_impl {
            errors.push(syn::Error::new(
                skip,
                "`skip` opts a method out of an `#[observe]` impl block: put `#[observe]` on the \
                 `impl`, or remove this attribute",
            ));
        }
    }
}

/// What a role allows and implies.
struct RoleRules {
    role: Role,
    kind: Kind,
    /// A messaging span: `system`, `destination` and `operation` apply.
    messaging: bool,
    /// An example span name, for messages.
    example: &'static str,
    /// `messaging.operation.type` unless `operation` says otherwise.
    default_operation: &'static str,
    /// The values `operation` takes.
    operations: &'static [&'static str],
    /// The arguments that say where a received message's context is.
    sources: &'static [ExprArg],
    /// Whether `propagation` (how the sender's trace is continued) applies.
    propagation: bool,
}

/// Every role's rules; `check_messaging` looks them up instead of branching
/// on the role, so a new role is one more row.
const ROLES: [RoleRules; 3] = [
    RoleRules {
        role: Role::Consumer,
        kind: Kind::Consumer,
        messaging: true,
        example: "Orders.Process",
        default_operation: "process",
        operations: &["process", "receive"],
        sources: &[ExprArg::Headers, ExprArg::Message, ExprArg::Messages],
        propagation: true,
    },
    RoleRules {
        role: Role::Producer,
        kind: Kind::Producer,
        messaging: true,
        example: "Orders.Publish",
        default_operation: "send",
        operations: &["send", "create"],
        sources: &[],
        propagation: false,
    },
    RoleRules {
        role: Role::Server,
        kind: Kind::Server,
        messaging: false,
        example: "Api.GetOrder",
        default_operation: "",
        operations: &[],
        sources: &[ExprArg::Headers, ExprArg::Request],
        propagation: false,
    },
];

impl RoleRules {
    fn of(role: Role) -> &'static RoleRules {
        ROLES
            .iter()
            .find(|rules| rules.role == role)
            .expect("`ROLES` has a row for every role")
    }

    /// Whether the argument is allowed with this role. `destination` is
    /// where any message goes or comes from.
    fn accepts(&self, which: ExprArg) -> bool {
        (self.messaging && which == ExprArg::Destination) || self.sources.contains(&which)
    }

    /// Whether the word is allowed with this role. `propagation` is checked
    /// further by `check_propagation_applies`.
    fn accepts_word(&self, which: WordArg) -> bool {
        match which {
            WordArg::Propagation | WordArg::System | WordArg::Operation => self.messaging,
            WordArg::Route => self.role == Role::Server,
        }
    }
}

/// `` `consumer` or `producer` ``: the roles `accepts` holds for.
fn roles_where(accepts: impl Fn(&RoleRules) -> bool) -> String {
    let names: Vec<String> = ROLES
        .iter()
        .filter(|rules| accepts(rules))
        .map(|rules| format!("`{}`", rules.role.name()))
        .collect();
    names.join(" or ")
}

/// The first role `accepts` holds for.
fn first_role_where(accepts: impl Fn(&RoleRules) -> bool) -> &'static RoleRules {
    ROLES
        .iter()
        .find(|rules| accepts(rules))
        .unwrap_or(&ROLES[0])
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
        check_without_role(&exprs, &words, errors);
        return None;
    };
    let rules = RoleRules::of(role);
    let mut messaging = Messaging {
        role,
        source: Source::None,
        link: false,
        system: None,
        destination: None,
        operation: rules.default_operation.to_owned(),
        route: None,
    };
    let mut first_source = None;
    for (key, which, value) in exprs {
        match which {
            ExprArg::Destination if !rules.accepts(which) => {
                errors.push(not_for_role(rules, &key, which.name(), |r| {
                    r.accepts(which)
                }));
            }
            ExprArg::Destination => messaging.destination = Some(value),
            _ => check_source(
                rules,
                &key,
                which,
                value,
                &mut first_source,
                &mut messaging,
                errors,
            ),
        }
    }
    let mut propagation_key = None;
    for (key, which, value) in words {
        if !rules.accepts_word(which) {
            errors.push(not_for_role(rules, &key, which.name(), |r| {
                r.accepts_word(which)
            }));
            continue;
        }
        match which {
            WordArg::Route => check_route(value, &mut messaging, errors),
            WordArg::Propagation => {
                check_propagation(&value, &mut messaging, errors);
                propagation_key = Some(key);
            }
            WordArg::System => check_system(value, &mut messaging, errors),
            WordArg::Operation => check_operation(rules, value, &mut messaging, errors),
        }
    }
    if let Some(key) = propagation_key {
        check_propagation_applies(rules, &key, &messaging.source, errors);
    }
    check_message_gives(&messaging, errors);
    Some(messaging)
}

/// An argument of another role's span.
fn not_for_role(
    rules: &RoleRules,
    key: &Ident,
    name: &str,
    accepts: impl Fn(&RoleRules) -> bool,
) -> syn::Error {
    syn::Error::new(
        key.span(),
        format!(
            "`{name}` belongs to a {} span, not a `{}` one: remove it",
            roles_where(accepts),
            rules.role.name(),
        ),
    )
}

/// Every messaging or request argument without a role is a mistake.
fn check_without_role(
    exprs: &[(Ident, ExprArg, syn::Expr)],
    words: &[(Ident, WordArg, LitStr)],
    errors: &mut Errors,
) {
    for (key, which, _) in exprs {
        let example = first_role_where(|rules| rules.accepts(*which));
        errors.push(syn::Error::new(
            key.span(),
            format!(
                "`{}` belongs to a {} span: add the role, e.g. \
                 `#[observe({}, span = \"{}\", {} = ..)]`",
                which.name(),
                roles_where(|rules| rules.accepts(*which)),
                example.role.name(),
                example.example,
                which.name(),
            ),
        ));
    }
    for (key, which, _) in words {
        errors.push(syn::Error::new(
            key.span(),
            format!(
                "`{}` belongs to a {} span: add the role",
                which.name(),
                roles_where(|rules| rules.accepts_word(*which)),
            ),
        ));
    }
}

/// `headers`, `message` or `messages`: at most one, and only where the
/// role reads a received message.
fn check_source(
    rules: &RoleRules,
    key: &Ident,
    which: ExprArg,
    value: syn::Expr,
    first_source: &mut Option<ExprArg>,
    messaging: &mut Messaging,
    errors: &mut Errors,
) {
    if !rules.sources.contains(&which) {
        let message = if rules.sources.is_empty() {
            format!(
                "`{}` reads a received message's trace context, so it belongs to a \
                 `consumer`; a producer writes its context with \
                 `observe_runtime::propagation::inject(&mut headers)`",
                which.name()
            )
        } else {
            let reads: Vec<String> = rules
                .sources
                .iter()
                .map(|source| format!("`{} = ..`", source.name()))
                .collect();
            format!(
                "`{}` belongs to a {} span; a `{}` span reads {}",
                which.name(),
                roles_where(|other| other.sources.contains(&which)),
                rules.role.name(),
                reads.join(" or "),
            )
        };
        errors.push(syn::Error::new(key.span(), message));
        return;
    }
    if let Some(first) = first_source {
        errors.push(syn::Error::new(
            key.span(),
            format!(
                "`{}` and `{}` both say where the message is: keep one",
                first.name(),
                which.name()
            ),
        ));
        return;
    }
    messaging.source = match which {
        ExprArg::Headers => Source::Headers(value),
        ExprArg::Message => Source::Message(value),
        ExprArg::Request => Source::Request(value),
        _ => Source::Batch(value),
    };
    *first_source = Some(which);
}

fn check_propagation(value: &LitStr, messaging: &mut Messaging, errors: &mut Errors) {
    let word = value.value();
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

/// `route = "/orders/{id}"`: the template the request matched, a literal so
/// `http.route` never holds a raw path.
fn check_route(value: LitStr, messaging: &mut Messaging, errors: &mut Errors) {
    let route = value.value();
    let problem = if !route.starts_with('/') {
        Some("a route template starts with `/`")
    } else if route.contains(['?', '#']) {
        Some("a route template has no query or fragment")
    } else if route.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a route template has no spaces or control characters")
    } else {
        None
    };
    match problem {
        Some(problem) => errors.push(syn::Error::new(
            value.span(),
            format!(
                "invalid route {route:?}: {problem}; write the template the request matched, \
                 e.g. `route = \"/orders/{{id}}\"`"
            ),
        )),
        None => messaging.route = Some(value),
    }
}

fn check_system(value: LitStr, messaging: &mut Messaging, errors: &mut Errors) {
    let word = value.value();
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

fn check_operation(
    rules: &RoleRules,
    value: LitStr,
    messaging: &mut Messaging,
    errors: &mut Errors,
) {
    let word = value.value();
    if rules.operations.contains(&word.as_str()) {
        messaging.operation = word;
    } else {
        errors.push(syn::Error::new(
            value.span(),
            format!(
                "unknown operation {word:?} for a {}, expected {}",
                rules.role.name(),
                expected(rules.operations)
            ),
        ));
    }
}

/// `propagation` continues one received message's trace: it needs the role
/// to read messages and a single message to read.
fn check_propagation_applies(rules: &RoleRules, key: &Ident, source: &Source, errors: &mut Errors) {
    let reason = match source {
        _ if !rules.propagation => Some(
            "`propagation` says how a consumer continues the producer's trace: it has no \
             meaning on a `producer`",
        ),
        Source::None => {
            Some("`propagation` needs the message's headers: add `headers = ..` or `message = ..`")
        }
        Source::Batch(_) => {
            Some("a batch span always links to each message's context: remove `propagation`")
        }
        _ => None,
    };
    if let Some(reason) = reason {
        errors.push(syn::Error::new(key.span(), reason));
    }
}

/// A known message already carries its system and destination.
fn check_message_gives(messaging: &Messaging, errors: &mut Errors) {
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

/// The histogram `metric` selects, if it is valid.
fn metric_of(value: MetricArg, policy: &Policy, errors: &mut Errors) -> Option<Metric> {
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

/// The labels that pass the rules; each mistake is reported.
fn valid_labels(
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

fn kind_of(value: &Ident, errors: &mut Errors) -> Option<Kind> {
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

/// The fields, marked for redaction where sensitive; each mistake is
/// reported.
fn valid_fields(mut fields: Vec<Field>, policy: &Policy, errors: &mut Errors) -> Vec<Field> {
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
/// told by the key (`user.phone = ..`) or by any identifier in the value: a
/// variable, a field, a method, or an argument of a macro
/// (`contact = customer.email.as_str()`, `note = format!("{}", email)`).
/// The expansion then also requires the value's type to be `Masked` or
/// `Hashed`, so a look-alike `mask` of one's own does not pass.
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
            let message = match untrusted_fact(&field.value) {
                Some(message) => message(&key),
                None => {
                    let value = tokens_text(&field.value);
                    format!(
                        "field `{key}` is sensitive (`{word}`) and cannot be recorded raw: write \
                         `{key} = observe_runtime::mask(&{value})` to keep its shape, or \
                         `observe_runtime::hash(&{value})` to keep it joinable"
                    )
                }
            };
            errors.push(syn::Error::new_spanned(&field.value, message));
        }
        return;
    }
    let mut found = None;
    find_sensitive(&field.value, policy, &mut found);
    if let Some(found) = found {
        field.redact = true;
        let (message, at) = match untrusted_fact(&field.value) {
            Some(message) => (message(&key), field.value.to_token_stream()),
            None => {
                let Found { place, word, .. } = &found;
                let message = format!(
                    "`{place}` is sensitive (`{word}`) and cannot be recorded raw: write \
                     `{key} = observe_runtime::mask(&{place})` or \
                     `observe_runtime::hash(&{place})`"
                );
                (message, found.at)
            }
        };
        errors.push(syn::Error::new_spanned(at, message));
    }
}

/// The methods whose result says something about a value without holding
/// it: a `bool` or a length. A list, not a pattern: `has_domain()` or
/// `is_valid()` may return anything, the value included.
const FACT_METHODS: &[&str] = &["is_empty", "len", "is_some", "is_none"];

/// A test or a count computed from a value, not the value itself:
/// `!email.is_empty()`, `a == b`, `email.len()`, a literal.
fn is_fact_about(value: &syn::Expr) -> bool {
    match value {
        // `!` is also the bitwise not of an integer, which keeps the value.
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(_),
            expr,
            ..
        }) => is_fact_about(expr),
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
        syn::Expr::MethodCall(call) => FACT_METHODS.iter().any(|method| call.method == method),
        syn::Expr::Lit(_) => true,
        syn::Expr::Cast(cast) => is_fact_about(&cast.expr),
        syn::Expr::Paren(paren) => is_fact_about(&paren.expr),
        syn::Expr::Group(group) => is_fact_about(&group.expr),
        _ => false,
    }
}

/// For a value that looks like a fact but is not one observe trusts
/// (`email.has_domain()`, `!email.is_valid()`), the message that says so.
fn untrusted_fact(value: &syn::Expr) -> Option<impl Fn(&str) -> String> {
    let call = match value {
        syn::Expr::MethodCall(call) => call,
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(_),
            expr,
            ..
        })
        | syn::Expr::Paren(syn::ExprParen { expr, .. })
        | syn::Expr::Group(syn::ExprGroup { expr, .. }) => return untrusted_fact(expr),
        _ => return None,
    };
    let method = call.method.unraw().to_string();
    let predicate = ["is_", "has_", "can_", "was_"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
        || matches!(
            method.as_str(),
            "contains" | "starts_with" | "ends_with" | "count" | "matches"
        );
    if !predicate {
        return None;
    }
    let receiver = tokens_text(&call.receiver);
    Some(move |key: &str| {
        format!(
            "`{method}()` is not a fact observe trusts, its result may hold the value: write \
             `{key} = observe_runtime::mask(&{receiver})` or `observe_runtime::hash(&{receiver})`, \
             or record `is_empty()`, `len()`, `is_some()`, `is_none()` or a comparison"
        )
    })
}

/// A sensitive identifier found in a value.
struct Found {
    /// Where the identifier ends, as written (`customer.email`), which the
    /// fix passes to `mask(&..)`.
    place: String,
    word: String,
    /// The tokens the error points at: the place, or the identifier alone.
    at: proc_macro2::TokenStream,
}

/// The first identifier in `value` that is sensitive, in `found`. Every
/// path segment, field and method name counts, and every identifier a
/// macro is given; a `mask(..)`, `hash(..)` or a fact inside is not looked
/// into, since what it returns holds no raw value.
fn find_sensitive(value: &syn::Expr, policy: &Policy, found: &mut Option<Found>) {
    if found.is_some() || is_redaction(value) || is_fact_about(value) {
        return;
    }
    match value {
        syn::Expr::Path(path) => {
            for segment in &path.path.segments {
                check_ident(&segment.ident, &path.path, policy, found);
            }
        }
        syn::Expr::Field(field) => {
            find_sensitive(&field.base, policy, found);
            if let syn::Member::Named(name) = &field.member {
                check_ident(name, field, policy, found);
            }
        }
        syn::Expr::MethodCall(call) => {
            find_sensitive(&call.receiver, policy, found);
            check_ident(&call.method, call, policy, found);
            for arg in &call.args {
                find_sensitive(arg, policy, found);
            }
        }
        syn::Expr::Call(call) => {
            find_sensitive(&call.func, policy, found);
            for arg in &call.args {
                find_sensitive(arg, policy, found);
            }
        }
        syn::Expr::Macro(mac) => find_in_macro(&mac.mac.tokens, policy, found),
        syn::Expr::Reference(reference) => find_sensitive(&reference.expr, policy, found),
        syn::Expr::Paren(paren) => find_sensitive(&paren.expr, policy, found),
        syn::Expr::Group(group) => find_sensitive(&group.expr, policy, found),
        syn::Expr::Unary(unary) => find_sensitive(&unary.expr, policy, found),
        syn::Expr::Cast(cast) => find_sensitive(&cast.expr, policy, found),
        syn::Expr::Try(try_) => find_sensitive(&try_.expr, policy, found),
        syn::Expr::Await(await_) => find_sensitive(&await_.base, policy, found),
        syn::Expr::Binary(binary) => {
            find_sensitive(&binary.left, policy, found);
            find_sensitive(&binary.right, policy, found);
        }
        syn::Expr::Index(index) => {
            find_sensitive(&index.expr, policy, found);
            find_sensitive(&index.index, policy, found);
        }
        syn::Expr::Tuple(tuple) => {
            for element in &tuple.elems {
                find_sensitive(element, policy, found);
            }
        }
        syn::Expr::Array(array) => {
            for element in &array.elems {
                find_sensitive(element, policy, found);
            }
        }
        syn::Expr::Lit(_) => {}
        // Blocks, closures, matches and the rest: every identifier in them.
        other => find_in_tokens(other.to_token_stream(), policy, found),
    }
}

/// `ident`, if it is sensitive and nothing was found before it; `place` is
/// what the fix passes to `mask(&..)`.
fn check_ident(ident: &Ident, place: &dyn ToTokens, policy: &Policy, found: &mut Option<Found>) {
    if found.is_some() {
        return;
    }
    if let Some(word) = naming::sensitive_word(&ident.unraw().to_string(), policy) {
        *found = Some(Found {
            place: tokens_text(place),
            word,
            at: place.to_token_stream(),
        });
    }
}

/// A macro's arguments: walked as expressions when they parse as a list of
/// them (`format!("{}", email)`), so a `mask(..)` among them passes; any
/// other input is searched token by token.
fn find_in_macro(tokens: &proc_macro2::TokenStream, policy: &Policy, found: &mut Option<Found>) {
    use syn::parse::Parser as _;
    let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
    match parser.parse2(tokens.clone()) {
        Ok(args) => {
            for arg in &args {
                match arg {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(format),
                        ..
                    }) => find_in_format(format, policy, found),
                    arg => find_sensitive(arg, policy, found),
                }
            }
        }
        Err(_) => find_in_tokens(tokens.clone(), policy, found),
    }
}

/// Every identifier in `tokens`, and the variables a format string names
/// inline (`"{email}"`).
fn find_in_tokens(tokens: proc_macro2::TokenStream, policy: &Policy, found: &mut Option<Found>) {
    for token in tokens {
        if found.is_some() {
            return;
        }
        match token {
            proc_macro2::TokenTree::Ident(ident) => {
                check_ident(&ident, &ident, policy, found);
            }
            proc_macro2::TokenTree::Group(group) => find_in_tokens(group.stream(), policy, found),
            proc_macro2::TokenTree::Literal(literal) => {
                if let Ok(format) = syn::parse2::<LitStr>(literal.into_token_stream()) {
                    find_in_format(&format, policy, found);
                }
            }
            proc_macro2::TokenTree::Punct(_) => {}
        }
    }
}

/// The variables a format string captures: `{email}`, `{email:?}`.
fn find_in_format(format: &LitStr, policy: &Policy, found: &mut Option<Found>) {
    let text = format.value();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let Some(close) = rest.find('}') else { return };
        let name = rest[..close].split(':').next().unwrap_or_default().trim();
        if let Some(word) = naming::sensitive_word(name, policy).filter(|_| !name.is_empty()) {
            *found = Some(Found {
                place: name.to_owned(),
                word,
                at: format.to_token_stream(),
            });
            return;
        }
        rest = &rest[close + 1..];
    }
}

/// An expression as the user would write it, for messages: `a.b.c()`.
fn tokens_text(tokens: &(impl ToTokens + ?Sized)) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
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
            errors(quote!(consumer, kind = server, span = "Orders.Process")),
            ["`consumer` already sets the span kind: remove `kind`"]
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
    fn server_arguments() {
        // `kind = server` is the `server` role, so it reads headers.
        for role in [quote!(server), quote!(kind = server)] {
            let observe = run(quote!(#role, span = "Api.GetOrder", headers = req.headers()))
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(observe.kind, Kind::Server);
            let server = observe.messaging.expect("a server span");
            assert_eq!(server.role, Role::Server);
            assert!(matches!(server.source, Source::Headers(_)));
            assert!(!server.records());
        }
        let observe = run(quote!(
            server,
            span = "Api.GetOrder",
            request = req,
            route = "/orders/{id}"
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        let server = observe.messaging.unwrap();
        assert!(matches!(server.source, Source::Request(_)));
        assert!(server.records());
        assert_eq!(server.route.unwrap().value(), "/orders/{id}");
        // A server span without a request records nothing of its own.
        let server = run(quote!(kind = server, span = "Api.Health"))
            .unwrap()
            .messaging
            .unwrap();
        assert!(matches!(server.source, Source::None));
        assert!(!server.records());
    }

    #[test]
    fn server_mistakes() {
        assert_eq!(
            errors(quote!(span = "Api.GetOrder", headers = h)),
            ["`headers` belongs to a `consumer` or `server` span: add the role, e.g. `#[observe(consumer, span = \"Orders.Process\", headers = ..)]`"]
        );
        assert_eq!(
            errors(quote!(span = "Api.GetOrder", request = req)),
            ["`request` belongs to a `server` span: add the role, e.g. `#[observe(server, span = \"Api.GetOrder\", request = ..)]`"]
        );
        assert_eq!(
            errors(quote!(span = "Api.GetOrder", route = "/orders/{id}")),
            ["`route` belongs to a `server` span: add the role"]
        );
        assert_eq!(
            errors(quote!(consumer, span = "Orders.Process", request = req)),
            ["`request` belongs to a `server` span; a `consumer` span reads `headers = ..` or `message = ..` or `messages = ..`"]
        );
        assert_eq!(
            errors(quote!(server, span = "Api.GetOrder", message = m)),
            ["`message` belongs to a `consumer` span; a `server` span reads `headers = ..` or `request = ..`"]
        );
        assert_eq!(
            errors(quote!(server, span = "Api.GetOrder", system = "kafka")),
            ["`system` belongs to a `consumer` or `producer` span, not a `server` one: remove it"]
        );
        assert_eq!(
            errors(quote!(server, span = "Api.GetOrder", destination = q)),
            ["`destination` belongs to a `consumer` or `producer` span, not a `server` one: remove it"]
        );
        assert_eq!(
            errors(quote!(consumer, span = "Orders.Process", route = "/orders")),
            ["`route` belongs to a `server` span, not a `consumer` one: remove it"]
        );
        assert_eq!(
            errors(quote!(server, kind = client, span = "Api.GetOrder")),
            ["`server` already sets the span kind: remove `kind`"]
        );
        assert_eq!(
            errors(quote!(server, consumer, span = "Api.GetOrder")),
            ["a function is one of `consumer`, `producer` or `server`: one span cannot be both a `server` and a `consumer`; split the function, or keep one of them"]
        );
        for (route, problem) in [
            ("orders/{id}", "a route template starts with `/`"),
            ("/orders?id=1", "a route template has no query or fragment"),
            (
                "/orders/ 1",
                "a route template has no spaces or control characters",
            ),
        ] {
            assert_eq!(
                errors(quote!(server, span = "Api.GetOrder", route = #route)),
                [format!(
                    "invalid route {route:?}: {problem}; write the template the request matched, e.g. `route = \"/orders/{{id}}\"`"
                )]
            );
        }
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
            ["unknown argument `name`, expected one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `server`, `headers`, `message`, `messages`, `request`, `propagation`, `system`, `destination`, `operation`, `route`, `objective`, `log_errors`"]
        );
    }

    #[test]
    fn no_missing_span_when_span_was_malformed() {
        assert_eq!(errors(quote!(span = NAME)).len(), 1);
    }

    #[test]
    fn span_naming_conventions() {
        assert!(run(quote!(span = "Payment.OrderService.CreateOrder")).is_ok());
    }

    #[test]
    fn unknown_kind() {
        assert_eq!(
            errors(quote!(span = "Test.A", kind = Server)),
            ["unknown `kind` `Server`, expected one of `internal`, `server`, `client`, `producer`, `consumer`: write `kind = server`"]
        );
    }

    #[test]
    fn duplicate_arguments() {
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
    fn every_identifier_in_a_value_is_checked() {
        let sensitive = |tokens: TokenStream| {
            let mut found = None;
            let value: syn::Expr = syn::parse2(tokens).unwrap();
            find_sensitive(&value, &Policy::default(), &mut found);
            found.map(|found| found.place)
        };
        assert_eq!(sensitive(quote!(email.clone())).as_deref(), Some("email"));
        assert_eq!(
            sensitive(quote!(customer.email.as_str())).as_deref(),
            Some("customer.email")
        );
        assert_eq!(
            sensitive(quote!(format!("{}", email))).as_deref(),
            Some("email")
        );
        assert_eq!(
            sensitive(quote!(format!("{e_mail:?}"))).as_deref(),
            Some("e_mail")
        );
        assert_eq!(
            sensitive(quote!(user.get_email())).as_deref(),
            Some("user.get_email()")
        );
        assert_eq!(
            sensitive(quote!(String::from(phone))).as_deref(),
            Some("phone")
        );
        assert_eq!(
            sensitive(quote!({
                let x = &user.iban;
                x.to_string()
            }))
            .as_deref(),
            Some("iban")
        );
        // What a redaction or a trusted fact returns holds no raw value.
        assert_eq!(sensitive(quote!(mask(&email).to_string())), None);
        assert_eq!(sensitive(quote!(format!("{}", hash(&email)))), None);
        assert_eq!(sensitive(quote!(order.items.len() + 1)), None);
        assert_eq!(sensitive(quote!(email.len() + 1)), None);
        assert_eq!(sensitive(quote!(order.id)), None);
        assert_eq!(sensitive(quote!(span.kind.to_string())), None);
    }

    #[test]
    fn only_trusted_facts() {
        let fact = |tokens: TokenStream| is_fact_about(&syn::parse2(tokens).unwrap());
        for tokens in [
            quote!(email.is_empty()),
            quote!(!email.is_empty()),
            quote!(email.len()),
            quote!(user.email.is_some()),
            quote!(email.is_none()),
            quote!(email == other),
            quote!(a.len() > 3 && b.is_empty()),
            quote!(email.len() as u64),
            quote!("literal"),
            quote!(!(email.is_empty())),
        ] {
            assert!(fact(tokens.clone()), "{tokens}");
        }
        for tokens in [
            quote!(email.has_domain()),
            quote!(email.is_valid()),
            quote!(email.contains('@')),
            quote!(email.starts_with("a")),
            quote!(!verified),
            quote!(!email.is_valid()),
            quote!(email.count()),
        ] {
            assert!(!fact(tokens.clone()), "{tokens}");
        }
    }

    #[test]
    fn sensitive_values() {
        assert_eq!(
            errors(quote!(span = "User.Notify", fields(contact = customer.email.as_str()))),
            ["`customer.email` is sensitive (`email`) and cannot be recorded raw: write `contact = observe_runtime::mask(&customer.email)` or `observe_runtime::hash(&customer.email)`"]
        );
        assert_eq!(
            errors(quote!(span = "User.Notify", fields(user.email = email.has_domain()))),
            ["`has_domain()` is not a fact observe trusts, its result may hold the value: write `user.email = observe_runtime::mask(&email)` or `observe_runtime::hash(&email)`, or record `is_empty()`, `len()`, `is_some()`, `is_none()` or a comparison"]
        );
        assert!(run(quote!(
            span = "User.Notify",
            fields(
                has_email = !email.is_empty(),
                email.length = email.len(),
                contact = mask(&email),
                zip = zip,
                shipping.method = %shipping.method,
            )
        ))
        .is_ok());
    }

    #[test]
    fn independent_mistakes_are_reported_together() {
        assert_eq!(
            errors(quote!(span = "", metric = "latncy", kind = serve, colour = red)),
            [
                "unknown argument `colour`, expected one of `span`, `metric`, `fields`, `labels`, `kind`, `skip`, `crate`, `consumer`, `producer`, `server`, `headers`, `message`, `messages`, `request`, `propagation`, `system`, `destination`, `operation`, `route`, `objective`, `log_errors`",
                "span name must not be empty: name the operation, e.g. `span = \"Order.Submit\"`",
                "unknown `metric` \"latncy\", expected `latency`, or a family of your own: `metric(name = \"checkout_duration_seconds\")`",
                "unknown `kind` `serve`, expected one of `internal`, `server`, `client`, `producer`, `consumer`",
            ]
        );
    }
}
