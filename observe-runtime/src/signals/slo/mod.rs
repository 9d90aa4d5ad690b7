//! Service level objectives, declared beside the code they measure, and the
//! Prometheus rules, `promtool` tests and Grafana dashboard generated from
//! them.
//!
//! An objective on one function is an argument of `#[observe]`, checked at
//! compile time against the function's histogram and listed at link time:
//!
//! ```
//! use observe_runtime::observe;
//!
//! #[observe(span = "Checkout.Pay", metric = "latency",
//!           objective(success = "99.9%", latency = "250ms", latency_target = "99%"))]
//! fn pay(amount: u64) -> Result<(), String> { Ok(()) }
//!
//! let yaml = observe_runtime::slo::rules();
//! assert!(yaml.contains("slo: 'Checkout.Pay'"));
//! ```
//!
//! An objective over several operations is built in code and added to the
//! ones the program declares:
//!
//! ```
//! # use observe_runtime::observe;
//! # #[observe(span = "Checkout.Submit", metric = "latency")]
//! # fn submit() {}
//! # #[observe(span = "Checkout.Confirm", metric = "latency")]
//! # fn confirm() {}
//! use observe_runtime::slo::{Objective, Rules};
//!
//! let rules = Rules::from_catalog().objective(
//!     Objective::new("checkout")
//!         .operations(["Checkout.Submit", "Checkout.Confirm"])
//!         .success(99.5),
//! );
//! let yaml = rules.rules().expect("the operations exist and have a histogram");
//! assert!(yaml.contains("slo: 'checkout'"));
//! ```
//!
//! A route of the HTTP server layer (`http::ObserveLayer`) is named by its
//! template, since the layer makes a route's series on its first request
//! rather than at link time. Its requests are read from
//! `http_server_request_duration_seconds`: a 5xx answer, a panic, or an
//! error of the service instead of an answer is a failure, a 4xx is not, and
//! a latency threshold must be one of the layer's buckets (5 ms to 10 s):
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::slo::{Objective, Rules};
//!
//! let rules = Rules::new().objective(
//!     Objective::new("orders-api")
//!         .http_route("/orders/{id}")
//!         .http_method("GET")
//!         .success(99.9)
//!         .latency(Duration::from_millis(250), 99.0),
//! );
//! let yaml = rules.rules().expect("250 ms is one of the layer's buckets");
//! assert!(yaml.contains(r#"http_route="/orders/{id}",http_request_method="GET",error_type!="""#));
//! ```
//!
//! An objective counts the calls of operations or the requests of a route,
//! never both.
//!
//! The error ratio of each objective is recorded over the workbook's windows
//! (5m, 30m, 1h, 2h, 6h, 1d and 3d); the alerts are
//! the workbook's multiwindow, multi-burn-rate alerts ([`burn::ALERTS`]). An
//! SLO window other than 30 days scales every alert window by the same
//! factor, so each alert still fires after the same share of the budget is
//! spent.

pub mod burn;
mod calls;
mod dashboard;
mod promtool;
mod rules;

use std::fmt;
use std::time::Duration;

use crate::hot::callsite::Callsite;
use crate::signals::catalog::CALLSITES;
pub(crate) use calls::{Calls, HTTP_METHODS, HTTP_SERVER_BUCKETS, HTTP_SERVER_FAMILY};

/// Where `#[observe(objective(...))]` expansions register their objectives.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static OBJECTIVES: [CallsiteObjective];

/// The objective of one annotated function, as the expansion writes it.
#[doc(hidden)]
#[derive(Debug)]
pub struct CallsiteObjective {
    /// The function's callsite; its span name names the objective.
    pub callsite: &'static Callsite,
    /// The success target, in percent.
    pub success: Option<f64>,
    /// The latency threshold in seconds (a bucket bound) and its target in
    /// percent.
    pub latency: Option<(f64, f64)>,
    /// The SLO window, in seconds.
    pub window_seconds: u64,
}

/// A service level objective over one or more operations, or over one
/// route of the HTTP server layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    name: String,
    operations: Vec<String>,
    route: Option<String>,
    method: Option<String>,
    success: Option<f64>,
    latency: Option<(Duration, f64)>,
    window: Duration,
}

impl Objective {
    /// An objective named `name` (the `slo` label of its rules and alerts),
    /// over a 30 day window and no operations or route yet.
    pub fn new(name: impl Into<String>) -> Objective {
        Objective {
            name: name.into(),
            operations: Vec::new(),
            route: None,
            method: None,
            success: None,
            latency: None,
            window: burn::REFERENCE_WINDOW,
        }
    }

    /// The operations (span names) it is measured on; their calls are
    /// counted together.
    pub fn operations<S: Into<String>>(mut self, operations: impl IntoIterator<Item = S>) -> Self {
        self.operations = operations.into_iter().map(Into::into).collect();
        self
    }

    /// The route template of the HTTP server layer it is measured on
    /// (`"/orders/{id}"`, the `http_route` label), instead of operations:
    /// the layer makes a route's series on its first request, so the
    /// template is named here rather than found at link time.
    pub fn http_route(mut self, template: impl Into<String>) -> Self {
        self.route = Some(template.into());
        self
    }

    /// With [`http_route`](Self::http_route), only the requests of this
    /// method (`"GET"`; the layer labels a method outside the standard nine
    /// `_OTHER`); every method of the route otherwise.
    pub fn http_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// The share of calls, in percent, that must not fail: an operation's
    /// `Err` or panic; for a route, a 5xx answer, a panic, or an error of
    /// the service instead of an answer (a 4xx is the client's mistake and
    /// counts as good, as does a request its client gave up on).
    pub fn success(mut self, percent: f64) -> Self {
        self.success = Some(percent);
        self
    }

    /// The share of calls, in percent, that must take at most `threshold`,
    /// which must be a bucket boundary of every operation's histogram (of
    /// the HTTP layer's, 5 ms to 10 s, for a route).
    pub fn latency(mut self, threshold: Duration, percent: f64) -> Self {
        self.latency = Some((threshold, percent));
        self
    }

    /// The SLO window (30 days unless set), at least an hour.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The name, the `slo` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SLO window.
    pub fn slo_window(&self) -> Duration {
        self.window
    }

    fn from_callsite(objective: &CallsiteObjective) -> Objective {
        Objective {
            name: objective.callsite.name.to_owned(),
            operations: vec![objective.callsite.name.to_owned()],
            route: None,
            method: None,
            success: objective.success,
            latency: objective
                .latency
                .map(|(threshold, percent)| (Duration::from_secs_f64(threshold), percent)),
            window: Duration::from_secs(objective.window_seconds),
        }
    }
}

/// Why rules could not be generated for an objective.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SloError {
    objective: String,
    message: String,
}

impl SloError {
    fn new(objective: &str, message: impl Into<String>) -> SloError {
        SloError {
            objective: objective.to_owned(),
            message: message.into(),
        }
    }

    /// The objective at fault.
    pub fn objective(&self) -> &str {
        &self.objective
    }
}

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "objective `{}`: {}", self.objective, self.message)
    }
}

impl std::error::Error for SloError {}

/// Every objective the program declares with `#[observe(objective(...))]`,
/// sorted by name; one per name.
pub fn objectives() -> Vec<Objective> {
    let mut all: Vec<Objective> = OBJECTIVES.iter().map(Objective::from_callsite).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.dedup_by(|a, b| a.name == b.name);
    all
}

/// The Prometheus rule file (YAML) for every objective the program declares,
/// and the alerts on observe's own health.
pub fn rules() -> String {
    // The macro has checked every declared objective; what is left to fail
    // (an operation without its histogram) cannot happen for them.
    Rules::from_catalog()
        .rules()
        .unwrap_or_else(|error| format!("# {error}\n"))
}

/// A set of objectives, and what is generated from them.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    objectives: Vec<Objective>,
}

impl Rules {
    /// No objectives yet.
    pub fn new() -> Rules {
        Rules::default()
    }

    /// The objectives the program declares with `#[observe]`.
    pub fn from_catalog() -> Rules {
        Rules {
            objectives: objectives(),
        }
    }

    /// Adds an objective.
    pub fn objective(mut self, objective: Objective) -> Rules {
        self.objectives.push(objective);
        self
    }

    /// The objectives, as given.
    pub fn objectives(&self) -> &[Objective] {
        &self.objectives
    }

    /// The Prometheus rule file: recording rules, burn-rate alerts, and the
    /// alerts on observe's own health.
    pub fn rules(&self) -> Result<String, SloError> {
        Ok(rules::rule_file(&self.resolve()?))
    }

    /// A `promtool test rules` file for the rule file at `rule_file` (a path
    /// relative to the test file): a quiet baseline that fires nothing, and
    /// a burst per alert that fires it when the burn-rate arithmetic says it
    /// must.
    pub fn promtool_tests(&self, rule_file: &str) -> Result<String, SloError> {
        Ok(promtool::test_file(rule_file, &self.resolve()?))
    }

    /// A Grafana dashboard (JSON): RED panels per operation and per route an
    /// objective names, burn rates and error budgets per objective,
    /// observe's health, and deployments.
    pub fn dashboard(&self) -> Result<String, SloError> {
        Ok(dashboard::dashboard(&self.resolve()?))
    }

    /// Every PromQL expression of the rule file and the dashboard, the
    /// dashboard's Grafana variables replaced by durations, so each can be
    /// sent to Prometheus as is.
    pub fn expressions(&self) -> Result<Vec<String>, SloError> {
        let resolved = self.resolve()?;
        let mut all = rules::expressions(&resolved);
        all.extend(dashboard::expressions(&resolved));
        Ok(all)
    }

    fn resolve(&self) -> Result<Vec<Resolved>, SloError> {
        let mut resolved: Vec<Resolved> = Vec::new();
        for objective in &self.objectives {
            if resolved.iter().any(|r| r.name == objective.name) {
                return Err(SloError::new(
                    &objective.name,
                    "two objectives have this name; give each its own",
                ));
            }
            resolved.push(resolve(objective)?);
        }
        Ok(resolved)
    }
}

/// An objective checked against the catalog: its histogram family and one
/// SLI per target.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) name: String,
    pub(crate) calls: Calls,
    pub(crate) family: String,
    pub(crate) slis: Vec<Sli>,
    pub(crate) window: Duration,
}

/// One indicator: which calls are bad, and the share that must be good.
#[derive(Clone, Debug)]
pub(crate) struct Sli {
    pub(crate) kind: SliKind,
    /// In percent.
    pub(crate) target: f64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum SliKind {
    /// Bad: calls that returned `Err` or panicked (requests answered 5xx,
    /// or not at all).
    Availability,
    /// Bad: calls slower than the bound, in seconds.
    Latency(f64),
}

impl SliKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SliKind::Availability => "availability",
            SliKind::Latency(_) => "latency",
        }
    }
}

fn check_target(name: &str, what: &str, percent: f64) -> Result<f64, SloError> {
    if percent > 0.0 && percent < 100.0 {
        Ok(percent)
    } else {
        Err(SloError::new(
            name,
            format!(
                "the {what} target must be above 0% and below 100%, found {percent}%: a target \
                 of 100% leaves no error budget to alert on"
            ),
        ))
    }
}

fn resolve(objective: &Objective) -> Result<Resolved, SloError> {
    let name = objective.name.as_str();
    if name.is_empty() {
        return Err(SloError::new(name, "the name is empty"));
    }
    if objective.window < Duration::from_secs(3_600) {
        return Err(SloError::new(
            name,
            format!(
                "the window must be at least an hour, found {}",
                burn::promql_duration(objective.window)
            ),
        ));
    }
    let mut slis = Vec::new();
    if let Some(percent) = objective.success {
        slis.push(Sli {
            kind: SliKind::Availability,
            target: check_target(name, "success", percent)?,
        });
    }
    let (calls, family, latency_bound) = match &objective.route {
        Some(_) if !objective.operations.is_empty() => {
            return Err(SloError::new(
                name,
                "it names both operations and an HTTP route: an objective counts the calls of \
                 one or the other, so make two objectives",
            ))
        }
        Some(route) => resolve_route(objective, route)?,
        None => resolve_operations(objective)?,
    };
    if let (Some((_, percent)), Some(bound)) = (objective.latency, latency_bound) {
        slis.push(Sli {
            kind: SliKind::Latency(bound),
            target: check_target(name, "latency", percent)?,
        });
    }
    if slis.is_empty() {
        return Err(SloError::new(
            name,
            "no target: set `.success(99.9)`, `.latency(threshold, 99.0)`, or both",
        ));
    }
    Ok(Resolved {
        name: name.to_owned(),
        calls,
        family,
        slis,
        window: objective.window,
    })
}

/// The calls, family and latency bound of an objective over operations,
/// checked against the catalog.
fn resolve_operations(objective: &Objective) -> Result<(Calls, String, Option<f64>), SloError> {
    let name = objective.name.as_str();
    if objective.method.is_some() {
        return Err(SloError::new(
            name,
            "it names an HTTP method but no route: add `.http_route(\"/template\")`",
        ));
    }
    if objective.operations.is_empty() {
        return Err(SloError::new(
            name,
            "no operations: name the span names it is measured on with `.operations([..])`, \
             or a route of the HTTP layer with `.http_route(..)`",
        ));
    }
    let mut family: Option<String> = None;
    let mut latency_bound = None;
    for operation in &objective.operations {
        let callsites: Vec<&Callsite> = CALLSITES
            .iter()
            .copied()
            .filter(|callsite| callsite.name == operation)
            .collect();
        if callsites.is_empty() {
            return Err(SloError::new(
                name,
                format!("no `#[observe]` function has the span name `{operation}`"),
            ));
        }
        for callsite in callsites {
            let Some(metric) = callsite.metric else {
                return Err(SloError::new(
                    name,
                    format!(
                        "`{operation}` has no histogram: add `metric = \"latency\"` to its \
                         `#[observe]`"
                    ),
                ));
            };
            let this_family = match metric.family {
                Some(family) => family.to_owned(),
                None => super::metrics::default_family(),
            };
            match &family {
                Some(family) if *family != this_family => {
                    return Err(SloError::new(
                        name,
                        format!(
                            "its operations are observed in different histograms (`{family}` \
                             and `{this_family}`); an objective counts calls of one family"
                        ),
                    ))
                }
                _ => family = Some(this_family),
            }
            if let Some((threshold, _)) = objective.latency {
                let bound = bucket_bound(
                    name,
                    threshold,
                    metric.buckets,
                    &format!("`{operation}`'s histogram"),
                    "add it with `metric(name = .., buckets = [..])` on the function",
                )?;
                latency_bound = Some(bound);
            }
        }
    }
    Ok((
        Calls::Operations(objective.operations.clone()),
        family.unwrap_or_default(),
        latency_bound,
    ))
}

/// The calls, family and latency bound of an objective over a route of the
/// HTTP server layer.
fn resolve_route(
    objective: &Objective,
    route: &str,
) -> Result<(Calls, String, Option<f64>), SloError> {
    let name = objective.name.as_str();
    if route.is_empty() {
        return Err(SloError::new(
            name,
            "the HTTP route is empty: name its template, as the router declares it \
             (`/orders/{id}`)",
        ));
    }
    if let Some(method) = &objective.method {
        if !HTTP_METHODS.contains(&method.as_str()) {
            return Err(SloError::new(
                name,
                format!(
                    "`{method}` is not a value of `http_request_method`: use one of {} (the \
                     layer labels every other method `_OTHER`)",
                    HTTP_METHODS.join(", ")
                ),
            ));
        }
    }
    let latency_bound = match objective.latency {
        Some((threshold, _)) => Some(bucket_bound(
            name,
            threshold,
            &HTTP_SERVER_BUCKETS,
            &format!("the HTTP server histogram (`{HTTP_SERVER_FAMILY}`)"),
            "the HTTP layer keeps the semantic conventions' buckets",
        )?),
        None => None,
    };
    Ok((
        Calls::Route {
            route: route.to_owned(),
            method: objective.method.clone(),
        },
        HTTP_SERVER_FAMILY.to_owned(),
        latency_bound,
    ))
}

/// The bucket bound equal to `threshold` (to the nanosecond), or an error
/// naming the nearest bounds.
fn bucket_bound(
    name: &str,
    threshold: Duration,
    buckets: &[f64],
    histogram: &str,
    fix: &str,
) -> Result<f64, SloError> {
    let nanos = |seconds: f64| (seconds * 1e9).round() as u128;
    if let Some(bound) = buckets.iter().find(|b| nanos(**b) == threshold.as_nanos()) {
        return Ok(*bound);
    }
    let seconds = threshold.as_secs_f64();
    let below = buckets.iter().rev().find(|b| **b < seconds);
    let above = buckets.iter().find(|b| **b > seconds);
    let nearest: Vec<String> = below
        .into_iter()
        .chain(above)
        .map(|b| format!("{b}s"))
        .collect();
    Err(SloError::new(
        name,
        format!(
            "the latency threshold {seconds}s is not a bucket boundary of {histogram} \
             (nearest: {}); use one, or {fix}",
            nearest.join(", ")
        ),
    ))
}

/// `s` as a PromQL string literal.
pub(crate) fn promql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The route objective the unit tests share: `GET /orders/{id}`, 99.9 %
/// successful, 99 % within 250 ms.
#[cfg(test)]
pub(crate) fn orders_api_route() -> Objective {
    Objective::new("orders-api")
        .http_route("/orders/{id}")
        .http_method("GET")
        .success(99.9)
        .latency(Duration::from_millis(250), 99.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_to_the_nanosecond() {
        let buckets = [0.1, 0.25, 0.5];
        assert_eq!(
            bucket_bound(
                "x",
                Duration::from_millis(250),
                &buckets,
                "`A`'s histogram",
                "add one"
            ),
            Ok(0.25)
        );
        let error = bucket_bound(
            "x",
            Duration::from_millis(300),
            &buckets,
            "`A`'s histogram",
            "add one",
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("nearest: 0.25s, 0.5s"),
            "{error}"
        );
    }

    #[test]
    fn bad_objectives_are_errors() {
        let unknown = Rules::new()
            .objective(Objective::new("x").operations(["No.Such"]).success(99.0))
            .rules()
            .unwrap_err();
        assert!(
            unknown.to_string().contains("no `#[observe]` function"),
            "{unknown}"
        );
        let no_ops = Rules::new()
            .objective(Objective::new("x").success(99.0))
            .rules()
            .unwrap_err();
        assert!(no_ops.to_string().contains("no operations"), "{no_ops}");
        assert!(check_target("x", "success", 100.0).is_err());
        assert!(check_target("x", "success", 0.0).is_err());
        assert_eq!(check_target("x", "success", 99.9), Ok(99.9));
    }

    fn error(objective: Objective) -> String {
        Rules::new()
            .objective(objective)
            .rules()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_route_objective_counts_the_routes_requests() {
        let rules = Rules::new().objective(orders_api_route());
        let resolved = rules.resolve().unwrap();
        assert_eq!(resolved[0].family, "http_server_request_duration_seconds");
        assert!(matches!(resolved[0].slis[1].kind, SliKind::Latency(b) if b == 0.25));
        let expressions = rules.expressions().unwrap();
        let selector = "http_route=\"/orders/{id}\",http_request_method=\"GET\"";
        assert!(
            expressions.contains(&format!(
                "(sum(rate(http_server_request_duration_seconds_count{{{selector},error_type!=\"\"}}[5m])) \
                 or vector(0)) / sum(rate(http_server_request_duration_seconds_count{{{selector}}}[5m]))"
            )),
            "{expressions:#?}"
        );
        assert!(
            expressions.contains(&format!(
                "(sum(rate(http_server_request_duration_seconds_count{{{selector}}}[1h])) - \
                 sum(rate(http_server_request_duration_seconds_bucket{{{selector},le=\"0.25\"}}[1h]))) \
                 / sum(rate(http_server_request_duration_seconds_count{{{selector}}}[1h]))"
            )),
            "{expressions:#?}"
        );
        assert!(
            !expressions.iter().any(
                |e| e.contains("outcome") && e.contains("http_server_request_duration_seconds")
            ),
            "{expressions:#?}"
        );
    }

    #[test]
    fn bad_route_objectives_are_errors() {
        let both = error(
            Objective::new("x")
                .operations(["A"])
                .http_route("/a")
                .success(99.0),
        );
        assert!(both.contains("both operations and an HTTP route"), "{both}");
        let method_alone = error(Objective::new("x").http_method("GET").success(99.0));
        assert!(
            method_alone.contains("HTTP method but no route"),
            "{method_alone}"
        );
        let method = error(
            Objective::new("x")
                .http_route("/a")
                .http_method("get")
                .success(99.0),
        );
        assert!(method.contains("`get` is not a value"), "{method}");
        let empty = error(Objective::new("x").http_route("").success(99.0));
        assert!(empty.contains("the HTTP route is empty"), "{empty}");
        let threshold = error(
            Objective::new("x")
                .http_route("/a")
                .latency(Duration::from_millis(300), 99.0),
        );
        assert!(
            threshold.contains(
                "not a bucket boundary of the HTTP server histogram \
                 (`http_server_request_duration_seconds`) (nearest: 0.25s, 0.5s)"
            ),
            "{threshold}"
        );
        let target = error(Objective::new("x").http_route("/a").success(100.0));
        assert!(target.contains("below 100%"), "{target}");
    }
}
