//! The Prometheus rule file, written by hand: its YAML is a fixed shape of
//! plain keys and single-quoted strings, which needs no YAML library.

use std::fmt::Write as _;
use std::time::Duration;

use super::burn::{self, BurnAlert};
use super::{promql_string, Resolved, Sli, SliKind};

/// The recording rule of an objective's error ratio over one window.
pub(crate) fn record_name(range: Duration) -> String {
    format!("slo:error_ratio:rate{}", burn::promql_duration(range))
}

/// The alert name of each of the workbook's alerts, in `burn::ALERTS` order.
pub(crate) const ALERT_NAMES: [&str; 4] = [
    "SLOPageFastBurn",
    "SLOPageSlowBurn",
    "SLOTicketFastBurn",
    "SLOTicketSlowBurn",
];

/// One alert on observe's own health: a counter's rate over 5 minutes above
/// `per_second`, for `for_`.
pub(crate) struct HealthAlert {
    pub(crate) name: &'static str,
    pub(crate) counter: &'static str,
    pub(crate) per_second: f64,
    pub(crate) for_: Duration,
    pub(crate) summary: &'static str,
}

pub(crate) const HEALTH_RANGE: Duration = Duration::from_secs(300);

pub(crate) const HEALTH_ALERTS: [HealthAlert; 3] = [
    HealthAlert {
        name: "ObserveSpansDropped",
        counter: "observe_spans_dropped_total",
        per_second: 1.0,
        for_: Duration::from_secs(600),
        summary: "observe drops spans: the export queue is full or the exporter is too slow, \
                  so traces have holes",
    },
    HealthAlert {
        name: "ObserveExportErrors",
        counter: "observe_export_errors_total",
        per_second: 0.1,
        for_: Duration::from_secs(600),
        summary: "observe cannot export spans: check the collector endpoint and its logs",
    },
    HealthAlert {
        name: "ObservePropagationErrors",
        counter: "observe_propagation_errors_total",
        per_second: 1.0,
        for_: Duration::from_secs(600),
        summary: "incoming trace context is malformed: a caller sends bad traceparent, \
                  tracestate or baggage headers, and its traces are cut here",
    },
];

impl HealthAlert {
    pub(crate) fn expr(&self) -> String {
        format!(
            "sum(rate({}[{}])) > {}",
            self.counter,
            burn::promql_duration(HEALTH_RANGE),
            self.per_second
        )
    }
}

/// The windows an objective's error ratio is recorded over: the workbook's,
/// scaled to its window. (The whole window is left to the dashboard: a
/// recording rule over it would cost every evaluation a month of samples.)
pub(crate) fn ranges(objective: &Resolved) -> Vec<Duration> {
    let mut ranges: Vec<Duration> = burn::RATE_WINDOWS
        .iter()
        .map(|window| burn::scale(*window, objective.window))
        .collect();
    ranges.dedup();
    ranges
}

/// The error ratio of `sli` over `range`.
pub(crate) fn ratio_expr(objective: &Resolved, sli: &Sli, range: Duration) -> String {
    let family = &objective.family;
    let calls = objective.calls.selector();
    let bad = objective.calls.bad_matcher();
    let range = burn::promql_duration(range);
    let total = format!("sum(rate({family}_count{{{calls}}}[{range}]))");
    match sli.kind {
        SliKind::Availability => {
            format!("(sum(rate({family}_count{{{calls},{bad}}}[{range}])) or vector(0)) / {total}")
        }
        SliKind::Latency(bound) => format!(
            "({total} - sum(rate({family}_bucket{{{calls},{}}}[{range}]))) / {total}",
            le_matcher(bound)
        ),
    }
}

/// The matcher of the bucket whose upper bound is `bound`: observe writes
/// `le` as Rust prints the number (`1`, `0.25`, `0.00005`), and Prometheus 3
/// rewrites it on ingestion as OpenMetrics spells floats (`1.0`, `0.25`,
/// `5e-05`); Prometheus 2 keeps it as written. Where the two differ, both
/// match, so the rules hold on either.
pub(crate) fn le_matcher(bound: f64) -> String {
    let written = bound.to_string();
    let normalized = openmetrics_float(bound);
    if written == normalized {
        format!("le={}", promql_string(&written))
    } else {
        // `[.]` rather than a backslash, which a PromQL string would need
        // doubled.
        let escape = |s: &str| s.replace('.', "[.]").replace('+', "[+]");
        format!("le=~\"{}|{}\"", escape(&written), escape(&normalized))
    }
}

/// `bound` as Prometheus 3 normalizes a bucket bound: Go's shortest `%g`
/// (an exponent for numbers below 1e-4 and from 1e6 on, written with a sign
/// and at least two digits), with `.0` added to a whole number.
fn openmetrics_float(bound: f64) -> String {
    if bound == 0.0 {
        return "0.0".to_owned();
    }
    // Rust's shortest round-trip digits, in scientific form: `2.5e-1`.
    let scientific = format!("{bound:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i32 = exponent.parse().expect("a decimal exponent");
    let go = if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        bound.to_string()
    };
    if go.contains(['e', '.']) {
        go
    } else {
        format!("{go}.0")
    }
}

/// The selector of an SLI's recording rules.
fn sli_selector(objective: &Resolved, sli: &Sli) -> String {
    format!(
        "slo={},sli={}",
        promql_string(&objective.name),
        promql_string(sli.kind.as_str())
    )
}

/// The threshold of `alert` for `sli`, without representation noise.
pub(crate) fn threshold(alert: &BurnAlert, sli: &Sli) -> f64 {
    (alert.threshold(sli.target) * 1e12).round() / 1e12
}

pub(crate) fn alert_expr(objective: &Resolved, sli: &Sli, alert: &BurnAlert) -> String {
    let selector = sli_selector(objective, sli);
    let threshold = threshold(alert, sli);
    let long = record_name(burn::scale(alert.long, objective.window));
    let short = record_name(burn::scale(alert.short, objective.window));
    format!("{long}{{{selector}}} > {threshold} and {short}{{{selector}}} > {threshold}")
}

/// The labels of an alert, as (name, value), in the order written.
pub(crate) fn alert_labels(
    objective: &Resolved,
    sli: &Sli,
    alert: &BurnAlert,
) -> Vec<(&'static str, String)> {
    vec![
        ("severity", alert.severity.as_str().to_owned()),
        ("slo", objective.name.clone()),
        ("sli", sli.kind.as_str().to_owned()),
        ("burn_rate", format!("{}", alert.burn_rate)),
        (
            "long_window",
            burn::promql_duration(burn::scale(alert.long, objective.window)),
        ),
        (
            "short_window",
            burn::promql_duration(burn::scale(alert.short, objective.window)),
        ),
    ]
}

/// The PromQL that finds the exemplars of the bad calls: traces of failed
/// calls, or of every call the objective counts (the slow ones are those
/// whose exemplar value is above the bound).
pub(crate) fn exemplar_query(objective: &Resolved, sli: &Sli) -> String {
    let family = &objective.family;
    let calls = objective.calls.selector();
    match sli.kind {
        SliKind::Availability => {
            format!(
                "{family}_bucket{{{calls},{}}}",
                objective.calls.bad_matcher()
            )
        }
        SliKind::Latency(_) => format!("{family}_bucket{{{calls}}}"),
    }
}

/// The annotations of an alert, as (name, value).
pub(crate) fn alert_annotations(
    objective: &Resolved,
    sli: &Sli,
    alert: &BurnAlert,
) -> Vec<(&'static str, String)> {
    let budget = burn::budget(sli.target) * 100.0;
    let bad = match sli.kind {
        SliKind::Availability => objective.calls.failing().to_owned(),
        SliKind::Latency(bound) => {
            format!("{} take longer than {bound}s", objective.calls.noun())
        }
    };
    let exhaustion = burn::promql_duration(Duration::from_secs(
        alert.time_to_exhaustion(objective.window).as_secs(),
    ));
    let spent = (alert.budget_spent(objective.window) * 1e4).round() / 1e2;
    vec![
        (
            "summary",
            format!(
                "{} {}: the error budget burns {}x too fast",
                objective.name,
                sli.kind.as_str(),
                alert.burn_rate
            ),
        ),
        (
            "description",
            format!(
                "{bad} {}x faster than the {} objective allows ({} of {} over {}); {}% of \
                 the budget is gone, and at this rate all of it is gone in {exhaustion}.",
                alert.burn_rate,
                format_percent(sli.target),
                format_percent(budget),
                objective.calls.noun(),
                burn::promql_duration(objective.window),
                spent,
            ),
        ),
        ("exemplars", exemplar_query(objective, sli)),
    ]
}

fn format_percent(value: f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    format!("{rounded}%")
}

/// A YAML single-quoted scalar.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The name of an objective's rule group.
pub(crate) fn group_name(objective: &Resolved) -> String {
    format!("slo:{}", objective.name)
}

pub(crate) fn rule_file(objectives: &[Resolved]) -> String {
    let mut out = String::new();
    out.push_str(
        "# Generated by observe_runtime::slo from the program's objectives: regenerate, do \
         not edit.\n",
    );
    out.push_str("groups:\n");
    for objective in objectives {
        // Recording rules and the alerts that read them share a group, so an
        // alert sees the ratios of the same evaluation.
        let _ = writeln!(out, "  - name: {}", quote(&group_name(objective)));
        out.push_str("    rules:\n");
        for sli in &objective.slis {
            for range in ranges(objective) {
                let _ = writeln!(out, "      - record: {}", record_name(range));
                let _ = writeln!(
                    out,
                    "        expr: {}",
                    quote(&ratio_expr(objective, sli, range))
                );
                out.push_str("        labels:\n");
                let _ = writeln!(out, "          slo: {}", quote(&objective.name));
                let _ = writeln!(out, "          sli: {}", sli.kind.as_str());
            }
        }
        for sli in &objective.slis {
            for (alert, name) in burn::ALERTS.iter().zip(ALERT_NAMES) {
                let _ = writeln!(out, "      - alert: {name}");
                let _ = writeln!(
                    out,
                    "        expr: {}",
                    quote(&alert_expr(objective, sli, alert))
                );
                out.push_str("        labels:\n");
                for (key, value) in alert_labels(objective, sli, alert) {
                    let _ = writeln!(out, "          {key}: {}", quote(&value));
                }
                out.push_str("        annotations:\n");
                for (key, value) in alert_annotations(objective, sli, alert) {
                    let _ = writeln!(out, "          {key}: {}", quote(&value));
                }
            }
        }
    }
    out.push_str("  - name: 'observe:health'\n");
    out.push_str("    rules:\n");
    for alert in &HEALTH_ALERTS {
        let _ = writeln!(out, "      - alert: {}", alert.name);
        let _ = writeln!(out, "        expr: {}", quote(&alert.expr()));
        let _ = writeln!(out, "        for: {}", burn::promql_duration(alert.for_));
        out.push_str("        labels:\n");
        out.push_str("          severity: 'ticket'\n");
        out.push_str("        annotations:\n");
        let _ = writeln!(out, "          summary: {}", quote(alert.summary));
    }
    out
}

/// Every expression of the rule file.
pub(crate) fn expressions(objectives: &[Resolved]) -> Vec<String> {
    let mut all = Vec::new();
    for objective in objectives {
        for sli in &objective.slis {
            for range in ranges(objective) {
                all.push(ratio_expr(objective, sli, range));
            }
            for alert in &burn::ALERTS {
                all.push(alert_expr(objective, sli, alert));
            }
            all.push(exemplar_query(objective, sli));
        }
    }
    all.extend(HEALTH_ALERTS.iter().map(HealthAlert::expr));
    all
}

#[cfg(test)]
mod le_tests {
    use super::*;

    #[test]
    fn bucket_bounds_match_as_written_and_as_prometheus_3_spells_them() {
        assert_eq!(openmetrics_float(1.0), "1.0");
        assert_eq!(openmetrics_float(30.0), "30.0");
        assert_eq!(openmetrics_float(0.25), "0.25");
        assert_eq!(openmetrics_float(0.0005), "0.0005");
        assert_eq!(openmetrics_float(0.00005), "5e-05");
        assert_eq!(openmetrics_float(2_500_000.0), "2.5e+06");
        assert_eq!(le_matcher(0.25), "le=\"0.25\"");
        assert_eq!(le_matcher(1.0), "le=~\"1|1[.]0\"");
        assert_eq!(le_matcher(0.00005), "le=~\"0[.]00005|5e-05\"");
        assert_eq!(le_matcher(2_500_000.0), "le=~\"2500000|2[.]5e[+]06\"");
    }
}
