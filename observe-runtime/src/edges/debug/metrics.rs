//! `/debug/metrics`: each latency family with its series and buckets, every
//! exemplar a link to its trace's page; and its JSON.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::html::{self, escape};
use crate::signals::metrics::{latency_series, LatencySeries};

fn bound(series: &LatencySeries, slot: usize) -> String {
    match series.bounds.get(slot) {
        Some(bound) => format!("{bound}"),
        None => "+Inf".into(),
    }
}

fn labels_text(series: &LatencySeries) -> String {
    let pairs: Vec<String> = series
        .labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{value}\""))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// The `/debug/metrics` page.
pub(super) fn page() -> String {
    let all = latency_series();
    let mut body = String::from(
        "<h1>Latency</h1><p class=\"muted\">Every latency histogram, summed over \
         threads. Each bucket's exemplar is its latest sampled call: follow it to the \
         trace and the trace's log lines.</p>",
    );
    if all.is_empty() {
        body.push_str("<p class=\"muted\">No observed call has ended yet.</p>");
    }
    let mut family: Option<&str> = None;
    for series in &all {
        if family != Some(series.family.as_str()) {
            family = Some(series.family.as_str());
            let _ = write!(body, "<h2 class=\"family\">{}</h2>", escape(&series.family));
        }
        let total: u64 = series.counts.iter().sum();
        let _ = write!(
            body,
            "<table class=\"series\" data-family=\"{family}\" data-labels=\"{labels}\">\
             <caption class=\"name\"><code>{labels}</code> <span class=\"muted\">{total} calls</span></caption>\
             <thead><tr><th>le (s)</th><th>count</th><th>cumulative</th>\
             <th class=\"name\">exemplar</th></tr></thead><tbody>",
            family = escape(&series.family),
            labels = escape(&labels_text(series)),
        );
        let mut cumulative = 0;
        for (slot, count) in series.counts.iter().enumerate() {
            cumulative += count;
            let le = bound(series, slot);
            let exemplar = match series.exemplars.get(slot).copied().flatten() {
                Some(e) => {
                    let trace = html::trace_id(e.trace_id);
                    let span = html::span_id(e.span_id);
                    format!(
                        "<a class=\"exemplar\" data-trace-id=\"{trace}\" data-le=\"{le}\" \
                         href=\"/debug/traces/{trace}#span-{span}\"><code>{trace}</code></a> \
                         <span class=\"muted\">{} at {}</span>",
                        escape(&html::duration((e.seconds * 1e9) as u64)),
                        escape(&crate::core::text::rfc3339(e.time)),
                        le = escape(&le),
                    )
                }
                None => String::new(),
            };
            let _ = write!(
                body,
                "<tr data-le=\"{le}\"><td>{le}</td><td{zero}>{count}</td><td>{cumulative}</td>\
                 <td class=\"name\">{exemplar}</td></tr>",
                le = escape(&le),
                zero = if *count == 0 { " class=\"zero\"" } else { "" },
            );
        }
        body.push_str("</tbody></table>");
    }
    html::page("Latency", &body)
}

/// `/debug/metrics.json`.
pub(super) fn json() -> Value {
    let series: Vec<Value> = latency_series()
        .iter()
        .map(|series| {
            let buckets: Vec<Value> = series
                .counts
                .iter()
                .enumerate()
                .map(|(slot, count)| {
                    let exemplar = series.exemplars.get(slot).copied().flatten().map(|e| {
                        json!({
                            "trace_id": html::trace_id(e.trace_id),
                            "span_id": html::span_id(e.span_id),
                            "seconds": e.seconds,
                            "time": crate::core::text::rfc3339(e.time),
                        })
                    });
                    json!({ "le": bound(series, slot), "count": count, "exemplar": exemplar })
                })
                .collect();
            json!({
                "family": series.family,
                "labels": series.labels.iter().map(|(n, v)| ((*n).to_owned(), Value::String((*v).to_owned()))).collect::<serde_json::Map<String, Value>>(),
                "buckets": buckets,
            })
        })
        .collect();
    json!({ "series": series })
}
