//! The Grafana dashboard: per operation, and per route an objective names,
//! its rate, errors and duration (with exemplars), per objective its burn
//! rates and remaining budget, the calls in flight, the process's and
//! tokio's saturation, observe's health, and an annotation at every
//! deployment.

use serde_json::{json, Value};

use super::burn;
use super::rules::{record_name, HEALTH_ALERTS};
use super::{Calls, Resolved};
use crate::signals::catalog::catalog;

/// Grafana variables, and the duration they stand for when an expression is
/// checked against Prometheus directly.
const VARIABLES: [(&str, &str); 2] = [("$__rate_interval", "5m"), ("$__interval", "1m")];

/// An expression and its legend.
type Target = (&'static str, &'static str);

struct Panel {
    title: String,
    unit: &'static str,
    exemplars: bool,
    targets: Vec<(String, String)>,
}

/// The median and 99th percentile of the calls `selector` picks out of
/// `family`, with exemplars.
fn duration_panel(name: &str, family: &str, selector: &str) -> Panel {
    Panel {
        title: format!("{name}: duration"),
        unit: "s",
        exemplars: true,
        targets: ["0.5", "0.99"]
            .into_iter()
            .map(|quantile| {
                (
                    format!(
                        "histogram_quantile({quantile}, sum by (le) (rate({family}_bucket{{{selector}}}[$__rate_interval])))"
                    ),
                    format!("p{}", &quantile[2..]),
                )
            })
            .collect(),
    }
}

/// The panels, in order.
fn panels(objectives: &[Resolved]) -> Vec<Panel> {
    let mut panels = Vec::new();
    for entry in catalog() {
        let Some(family) = entry.metric else { continue };
        let operation = super::promql_string(entry.name);
        let selector = format!("operation={operation}");
        panels.push(Panel {
            title: format!("{}: calls per second", entry.name),
            unit: "reqps",
            exemplars: false,
            targets: vec![(
                format!("sum by (outcome) (rate({family}_count{{{selector}}}[$__rate_interval]))"),
                "{{outcome}}".to_owned(),
            )],
        });
        panels.push(Panel {
            title: format!("{}: errors per second", entry.name),
            unit: "reqps",
            exemplars: false,
            targets: vec![(
                format!(
                    "sum by (error_type) (rate({family}_count{{{selector},outcome!=\"ok\"}}[$__rate_interval]))"
                ),
                "{{error_type}}".to_owned(),
            )],
        });
        panels.push(duration_panel(entry.name, &family, &selector));
    }
    // The HTTP layer's routes are made on their first request, so the
    // catalog does not list them: those the objectives name get their panels.
    for objective in objectives {
        let Calls::Route { route, method } = &objective.calls else {
            continue;
        };
        let family = &objective.family;
        let selector = objective.calls.selector();
        let route = match method {
            Some(method) => format!("{method} {route}"),
            None => route.clone(),
        };
        panels.push(Panel {
            title: format!("{route}: requests per second"),
            unit: "reqps",
            exemplars: false,
            targets: vec![(
                format!(
                    "sum by (http_response_status_code) (rate({family}_count{{{selector}}}[$__rate_interval]))"
                ),
                "{{http_response_status_code}}".to_owned(),
            )],
        });
        panels.push(Panel {
            title: format!("{route}: failed requests per second"),
            unit: "reqps",
            exemplars: false,
            targets: vec![(
                format!(
                    "sum by (error_type) (rate({family}_count{{{selector},{}}}[$__rate_interval]))",
                    objective.calls.bad_matcher()
                ),
                "{{error_type}}".to_owned(),
            )],
        });
        panels.push(duration_panel(&route, family, &selector));
    }
    for objective in objectives {
        for sli in &objective.slis {
            let selector = format!(
                "slo={},sli={}",
                super::promql_string(&objective.name),
                super::promql_string(sli.kind.as_str())
            );
            let budget = burn::budget(sli.target);
            panels.push(Panel {
                title: format!("{} {}: burn rate", objective.name, sli.kind.as_str()),
                unit: "short",
                exemplars: false,
                targets: burn::ALERTS
                    .iter()
                    .flat_map(|alert| [alert.long, alert.short])
                    .map(|window| burn::scale(window, objective.window))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|range| {
                        (
                            format!("{}{{{selector}}} / {budget}", record_name(range)),
                            burn::promql_duration(range),
                        )
                    })
                    .collect(),
            });
            panels.push(Panel {
                title: format!(
                    "{} {}: error budget left over {}",
                    objective.name,
                    sli.kind.as_str(),
                    burn::promql_duration(objective.window)
                ),
                unit: "percentunit",
                exemplars: false,
                targets: vec![(
                    format!(
                        "1 - ({}) / {budget}",
                        super::rules::ratio_expr(objective, sli, objective.window)
                    ),
                    "budget left".to_owned(),
                )],
            });
        }
    }
    // Saturation: the observed calls running, the process and the tokio
    // runtimes (`hot/running.rs`, `signals/metrics/saturation.rs`).
    panels.push(Panel {
        title: "operations: calls in flight".to_owned(),
        unit: "short",
        exemplars: false,
        targets: vec![(
            format!(
                "sum by (operation) ({})",
                crate::signals::metrics::in_flight_family()
            ),
            "{{operation}}".to_owned(),
        )],
    });
    let saturation: [(&str, &str, Vec<Target>); 5] = [
        (
            "process: CPU seconds per second",
            "short",
            vec![(
                "sum by (instance) (rate(process_cpu_seconds_total[$__rate_interval]))",
                "{{instance}}",
            )],
        ),
        (
            "process: resident memory",
            "bytes",
            vec![("process_resident_memory_bytes", "{{instance}}")],
        ),
        (
            "process: open file descriptors",
            "short",
            vec![
                ("process_open_fds", "open {{instance}}"),
                ("process_max_fds", "limit {{instance}}"),
            ],
        ),
        (
            "tokio: busy ratio of the workers",
            "percentunit",
            vec![(
                "sum by (instance, runtime) (rate(tokio_worker_busy_seconds_total[$__rate_interval])) \
                 / sum by (instance, runtime) (tokio_workers)",
                "{{runtime}} {{instance}}",
            )],
        ),
        (
            "tokio: alive tasks and the shared queue",
            "short",
            vec![
                ("sum by (instance, runtime) (tokio_alive_tasks)", "alive {{runtime}}"),
                (
                    "sum by (instance, runtime) (tokio_global_queue_depth)",
                    "queued {{runtime}}",
                ),
            ],
        ),
    ];
    for (title, unit, targets) in saturation {
        panels.push(Panel {
            title: title.to_owned(),
            unit,
            exemplars: false,
            targets: targets
                .into_iter()
                .map(|(expr, legend)| (expr.to_owned(), legend.to_owned()))
                .collect(),
        });
    }
    panels.push(Panel {
        title: "observe: dropped spans, export and propagation errors".to_owned(),
        unit: "short",
        exemplars: false,
        targets: HEALTH_ALERTS
            .iter()
            .map(|alert| {
                (
                    format!("sum(rate({}[$__rate_interval]))", alert.counter),
                    alert.counter.to_owned(),
                )
            })
            .collect(),
    });
    panels
}

/// Where `observe_build_info` shows a version it did not show a moment ago.
const DEPLOYMENTS: &str = "group by (service, version) (observe_build_info) unless group by \
                           (service, version) (observe_build_info offset $__interval)";

pub(crate) fn dashboard(objectives: &[Resolved]) -> String {
    let prometheus = json!({"type": "prometheus", "uid": "${prometheus}"});
    let panels: Vec<Value> = panels(objectives)
        .into_iter()
        .enumerate()
        .map(|(index, panel)| {
            let targets: Vec<Value> = panel
                .targets
                .iter()
                .enumerate()
                .map(|(n, (expr, legend))| {
                    json!({
                        "datasource": prometheus,
                        "expr": expr,
                        "legendFormat": legend,
                        "exemplar": panel.exemplars,
                        "refId": char::from(b'A' + (n % 26) as u8).to_string(),
                    })
                })
                .collect();
            json!({
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "datasource": prometheus,
                "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": (index / 3) * 8},
                "fieldConfig": {
                    "defaults": {
                        "unit": panel.unit,
                        // An exemplar's `trace_id` opens the trace.
                        "links": [{
                            "title": "Open trace",
                            "url": "/explore?left={\"datasource\":\"${traces}\",\"queries\":[{\"query\":\"${__value.raw}\"}]}",
                        }],
                    },
                    "overrides": [],
                },
                "targets": targets,
            })
        })
        .collect();
    let dashboard = json!({
        "title": "observe: operations and objectives",
        "uid": "observe-slo",
        "schemaVersion": 39,
        "tags": ["observe"],
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "prometheus", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
            {"name": "traces", "type": "datasource", "query": "tempo", "label": "Traces"},
        ]},
        "annotations": {"list": [{
            "name": "Deployments",
            "datasource": prometheus,
            "enable": true,
            "expr": DEPLOYMENTS,
            "step": "60s",
            "titleFormat": "{{service}} {{version}}",
            "iconColor": "blue",
        }]},
        "panels": panels,
    });
    serde_json::to_string_pretty(&dashboard).unwrap_or_default()
}

/// Every expression of the dashboard, its Grafana variables replaced.
pub(crate) fn expressions(objectives: &[Resolved]) -> Vec<String> {
    let mut all: Vec<String> = panels(objectives)
        .into_iter()
        .flat_map(|panel| panel.targets.into_iter().map(|(expr, _)| expr))
        .collect();
    all.push(DEPLOYMENTS.to_owned());
    all.into_iter()
        .map(|mut expr| {
            for (variable, value) in VARIABLES {
                expr = expr.replace(variable, value);
            }
            expr
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{orders_api_route, Rules};
    use serde_json::Value;

    /// The panel titled `title`, and its targets' expressions and whether
    /// they ask for exemplars.
    fn panel(dashboard: &Value, title: &str) -> Vec<(String, bool)> {
        let panels = dashboard["panels"].as_array().unwrap();
        let panel = panels
            .iter()
            .find(|panel| panel["title"] == title)
            .unwrap_or_else(|| panic!("no panel `{title}` in {dashboard:#}"));
        panel["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["expr"].as_str().unwrap().to_owned(),
                    t["exemplar"] == true,
                )
            })
            .collect()
    }

    #[test]
    fn a_route_objective_gets_red_panels_for_its_route() {
        let rules = Rules::new().objective(orders_api_route());
        let dashboard: Value = serde_json::from_str(&rules.dashboard().unwrap()).unwrap();
        let selector = "http_route=\"/orders/{id}\",http_request_method=\"GET\"";
        assert_eq!(
            panel(&dashboard, "GET /orders/{id}: requests per second"),
            [(
                format!(
                    "sum by (http_response_status_code) (rate(\
                     http_server_request_duration_seconds_count{{{selector}}}[$__rate_interval]))"
                ),
                false
            )]
        );
        assert_eq!(
            panel(&dashboard, "GET /orders/{id}: failed requests per second"),
            [(
                format!(
                    "sum by (error_type) (rate(http_server_request_duration_seconds_count\
                     {{{selector},error_type!=\"\"}}[$__rate_interval]))"
                ),
                false
            )]
        );
        let duration = panel(&dashboard, "GET /orders/{id}: duration");
        assert_eq!(duration.len(), 2);
        assert!(
            duration.iter().all(|(expr, exemplars)| *exemplars
                && expr.contains(&format!(
                    "http_server_request_duration_seconds_bucket{{{selector}}}"
                ))),
            "{duration:?}"
        );
        // And the objective's own burn-rate and budget panels.
        panel(&dashboard, "orders-api availability: burn rate");
        panel(&dashboard, "orders-api latency: error budget left over 30d");
        // Saturation: the observed calls running, per operation.
        assert_eq!(
            panel(&dashboard, "operations: calls in flight"),
            [(
                "sum by (operation) (operations_in_flight)".to_owned(),
                false
            )]
        );
    }
}
