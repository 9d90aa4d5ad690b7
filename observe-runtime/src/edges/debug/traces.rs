//! `/debug/traces` (span names by latency bucket and errors, with the kept
//! samples of one) and `/debug/traces/{trace_id}` (the waterfall, with the
//! trace's log lines beside the spans they were written in), and their JSON.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::html::{self, escape, query_value};
use crate::signals::logs::LINE_KEYS;
use crate::store::traces::{
    LogLine, NameSummary, Samples, Span, Text, Trace, BUCKETS, BUCKET_NAMES,
};
use crate::store::{self};

/// Which samples the summary page shows below its table.
pub(super) struct Selection {
    pub(super) name: String,
    pub(super) which: Samples,
}

impl Selection {
    /// From `name=..&bucket=<0-7|errors>`; `None` when either is missing or
    /// the bucket is not one.
    pub(super) fn from_query(params: &HashMap<String, String>) -> Option<Selection> {
        let name = params.get("name")?.clone();
        let which = match params.get("bucket")?.as_str() {
            "errors" => Samples::Errors,
            n => Samples::Latency(n.parse().ok().filter(|b| *b < BUCKETS)?),
        };
        Some(Selection { name, which })
    }

    fn describe(&self) -> String {
        match self.which {
            Samples::Latency(b) => format!("latency {}", BUCKET_NAMES[b]),
            Samples::Errors => "errors".into(),
        }
    }
}

fn summary() -> (Vec<NameSummary>, usize, usize) {
    store::summary().unwrap_or_default()
}

fn samples(selection: &Selection) -> Vec<Span> {
    store::with_store(|s| s.samples(&selection.name, selection.which)).unwrap_or_default()
}

/// The `/debug/traces` page.
pub(super) fn summary_html(selection: Option<&Selection>) -> String {
    let (names, bytes, cap) = summary();
    let mut body = format!(
        "<h1>Traces</h1><p class=\"muted\">Spans by name: the calls running now, \
         and the ended spans counted by latency \
         (as zPages' tracez buckets them) and by errors since the process started. \
         Each count links to the samples kept now: the latest 16 of each bucket, with \
         their traces. The store holds {} KiB of its {} KiB.</p>\
         <input id=\"filter\" placeholder=\"filter span names\" aria-label=\"filter span names\">",
        bytes / 1024,
        cap / 1024
    );
    body.push_str(
        "<table id=\"span-names\" data-filterable><thead><tr>\
         <th class=\"name\">span name</th><th>kind</th><th>running</th>",
    );
    for name in BUCKET_NAMES {
        let _ = write!(body, "<th>{}</th>", escape(name));
    }
    body.push_str("<th>errors</th></tr></thead><tbody>");
    for entry in &names {
        let name = escape(entry.name);
        let _ = write!(
            body,
            "<tr data-name=\"{name}\"><td class=\"name\">{name}</td><td>{}</td>\
             <td class=\"running{}\">{}</td>",
            escape(entry.kind),
            if entry.running == 0 { " zero" } else { "" },
            entry.running
        );
        let link = |bucket: &str, count: u64, kept: usize| -> String {
            if count == 0 {
                return "<td class=\"zero\">0</td>".into();
            }
            format!(
                "<td><a class=\"bucket\" data-bucket=\"{bucket}\" title=\"{kept} kept\" \
                 href=\"/debug/traces?name={}&amp;bucket={bucket}#samples\">{count}</a></td>",
                query_value(entry.name)
            )
        };
        for b in 0..BUCKETS {
            body.push_str(&link(&b.to_string(), entry.counts[b], entry.kept[b]));
        }
        body.push_str(&link("errors", entry.errors, entry.kept_errors));
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table>");
    if names.is_empty() {
        body.push_str("<p class=\"muted\">No span has ended yet.</p>");
    }
    if let Some(selection) = selection {
        let spans = samples(selection);
        let _ = write!(
            body,
            "<h2 id=\"samples\">Samples of <code>{}</code>, {}</h2>",
            escape(&selection.name),
            escape(&selection.describe())
        );
        body.push_str(
            "<table id=\"sample-list\"><thead><tr><th class=\"name\">trace</th>\
             <th class=\"name\">span</th><th>started</th><th>duration</th><th class=\"name\">status</th>\
             </tr></thead><tbody>",
        );
        for span in &spans {
            let trace = html::trace_id(span.trace_id);
            let id = html::span_id(span.span_id);
            let _ = write!(
                body,
                "<tr><td class=\"name\"><a class=\"trace-link\" \
                 href=\"/debug/traces/{trace}#span-{id}\"><code>{trace}</code></a></td>\
                 <td class=\"name\"><code>{id}</code></td><td>{}</td><td>{}</td><td class=\"name\">{}</td></tr>",
                escape(&html::time(span.start_unix_nanos)),
                escape(&html::duration(span.duration_nanos)),
                status_html(span),
            );
        }
        body.push_str("</tbody></table>");
        if spans.is_empty() {
            body.push_str("<p class=\"muted\">No sample is kept for this selection.</p>");
        }
    }
    html::page("Traces", &body)
}

fn status_html(span: &Span) -> String {
    if span.outcome.is_error() {
        let message = span.status_message.as_deref().unwrap_or("");
        format!(
            "<span class=\"error\">{}</span> {}",
            escape(span.outcome.as_str()),
            escape(message)
        )
    } else {
        escape(span.outcome.as_str())
    }
}

/// `/debug/traces.json`: the summary, and the selection's samples.
pub(super) fn summary_json(selection: Option<&Selection>) -> Value {
    let (names, bytes, cap) = summary();
    let names: Vec<Value> = names
        .iter()
        .map(|entry| {
            json!({
                "name": entry.name,
                "kind": entry.kind,
                "latency": entry.counts,
                "errors": entry.errors,
                "kept": entry.kept,
                "kept_errors": entry.kept_errors,
                "running": entry.running,
            })
        })
        .collect();
    let mut out = json!({
        "buckets": BUCKET_NAMES,
        "spans": names,
        "store_bytes": bytes,
        "store_cap_bytes": cap,
    });
    if let Some(selection) = selection {
        out["samples"] = samples(selection).iter().map(span_json).collect();
    }
    out
}

fn pairs_json(pairs: &[(Text, Text)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<String, Value>>(),
    )
}

fn span_json(span: &Span) -> Value {
    json!({
        "trace_id": html::trace_id(span.trace_id),
        "span_id": html::span_id(span.span_id),
        "parent_span_id": (span.parent_span_id != 0).then(|| html::span_id(span.parent_span_id)),
        "parent_remote": span.parent_remote,
        "name": span.name,
        "kind": span.kind,
        "start_unix_nanos": span.start_unix_nanos,
        "duration_nanos": span.duration_nanos,
        "status": if span.outcome.is_error() { "error" } else { "unset" },
        "outcome": span.outcome.as_str(),
        "status_message": span.status_message,
        "attributes": pairs_json(&span.exported_attributes()),
        "events": span.events.iter().map(|e| json!({
            "name": e.name,
            "unix_nanos": e.unix_nanos,
            "attributes": pairs_json(&e.attributes),
        })).collect::<Vec<_>>(),
        "links": span.links.iter().map(|(t, s)| json!({
            "trace_id": html::trace_id(*t),
            "span_id": html::span_id(*s),
        })).collect::<Vec<_>>(),
    })
}

/// A log line's JSON object, as the log layer wrote it.
fn log_fields(line: &LogLine) -> Map<String, Value> {
    match serde_json::from_str::<Value>(&line.line) {
        Ok(Value::Object(fields)) => fields,
        _ => {
            let mut fields = Map::new();
            fields.insert("message".into(), Value::String(line.line.clone()));
            fields
        }
    }
}

fn log_json(line: &LogLine) -> Value {
    json!({
        "span_id": html::span_id(line.span_id),
        "unix_nanos": line.unix_nanos,
        "level": line.level,
        "line": Value::Object(log_fields(line)),
    })
}

pub(super) fn parse_trace_id(text: &str) -> Option<u128> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok().filter(|id| *id != 0)
}

fn trace(trace_id: u128) -> Option<Trace> {
    store::with_store(|s| s.trace(trace_id)).flatten()
}

/// `/debug/traces/{trace_id}.json`; `None` when the store holds no such trace.
pub(super) fn trace_json(trace_id: u128) -> Option<Value> {
    let trace = trace(trace_id)?;
    Some(json!({
        "trace_id": html::trace_id(trace_id),
        "spans": trace.spans.iter().map(span_json).collect::<Vec<_>>(),
        "logs": trace.logs.iter().map(log_json).collect::<Vec<_>>(),
        "logs_dropped": trace.logs_dropped,
    }))
}

fn log_item(line: &LogLine) -> String {
    let fields = log_fields(line);
    let text = |key: &str| match fields.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let mut extra = String::new();
    for (key, value) in &fields {
        if LINE_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(
            extra,
            " <span class=\"field\"><span class=\"muted\">{}=</span>{}</span>",
            escape(key),
            escape(&value)
        );
    }
    format!(
        "<li class=\"log level-{level}\" data-span-id=\"{span}\"><span class=\"muted\">{time}</span> \
         <span class=\"level\">{level}</span> <span class=\"message\">{message}</span>{extra}</li>",
        level = escape(line.level),
        span = html::span_id(line.span_id),
        time = escape(&html::time(line.unix_nanos)),
        message = escape(&text("message")),
    )
}

fn attributes_table(span: &Span) -> String {
    let mut rows = String::new();
    let mut row = |kind: &str, key: &str, value: &str| {
        let _ = write!(
            rows,
            "<tr><td class=\"muted\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
            escape(kind),
            escape(key),
            escape(value)
        );
    };
    row("span", "span_id", &html::span_id(span.span_id));
    if span.parent_span_id != 0 {
        let remote = if span.parent_remote { " (remote)" } else { "" };
        row(
            "span",
            "parent_span_id",
            &format!("{}{remote}", html::span_id(span.parent_span_id)),
        );
    }
    row("span", "start", &html::time(span.start_unix_nanos));
    row(
        "span",
        "status",
        if span.outcome.is_error() {
            "ERROR"
        } else {
            "UNSET"
        },
    );
    if let Some(message) = &span.status_message {
        row("span", "status.message", message);
    }
    let attributes = span.exported_attributes();
    for (key, value) in &attributes {
        row("attribute", key, value);
    }
    for event in &span.events {
        let attributes: Vec<String> = event
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        row(
            "event",
            event.name,
            &format!("{} {}", html::time(event.unix_nanos), attributes.join(" ")),
        );
    }
    for (trace, span) in &span.links {
        row(
            "link",
            "context",
            &format!("{} / {}", html::trace_id(*trace), html::span_id(*span)),
        );
    }
    format!(
        "<details class=\"attrs\"><summary>{} attributes, {} events, {} links</summary>\
         <table>{rows}</table></details>",
        attributes.len(),
        span.events.len(),
        span.links.len()
    )
}

/// The spans of `trace` as nested lists: each span's children under it,
/// sorted by start; spans whose parent is not here (the root, a remote
/// parent, a parent not ended yet) at the top level.
fn waterfall(trace: &Trace, out: &mut String) {
    let ids: HashSet<u64> = trace.spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<u64, Vec<&Span>> = HashMap::new();
    let mut roots: Vec<&Span> = Vec::new();
    for span in &trace.spans {
        if span.parent_span_id != 0 && ids.contains(&span.parent_span_id) {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    let mut logs: HashMap<u64, Vec<&LogLine>> = HashMap::new();
    for line in &trace.logs {
        logs.entry(line.span_id).or_default().push(line);
    }
    let start = trace
        .spans
        .iter()
        .map(|s| s.start_unix_nanos)
        .min()
        .unwrap_or(0);
    let end = trace
        .spans
        .iter()
        .map(|s| s.start_unix_nanos + s.duration_nanos)
        .max()
        .unwrap_or(start);
    let total = (end - start).max(1) as f64;

    enum Step<'a> {
        Open(&'a Span, usize),
        Close,
    }
    let mut visited: HashSet<u64> = HashSet::new();
    out.push_str("<ul class=\"waterfall\">");
    // Spans caught in a parent cycle (malformed input) are shown as roots.
    let leftover: Vec<&Span> = {
        let mut reachable: HashSet<u64> = HashSet::new();
        let mut stack: Vec<&Span> = roots.clone();
        while let Some(span) = stack.pop() {
            if reachable.insert(span.span_id) {
                stack.extend(children.get(&span.span_id).into_iter().flatten());
            }
        }
        trace
            .spans
            .iter()
            .filter(|s| !reachable.contains(&s.span_id))
            .collect()
    };
    let mut stack: Vec<Step<'_>> = roots
        .iter()
        .chain(leftover.iter())
        .rev()
        .map(|s| Step::Open(s, 0))
        .collect();
    while let Some(step) = stack.pop() {
        let (span, depth) = match step {
            Step::Close => {
                out.push_str("</ul></li>");
                continue;
            }
            Step::Open(span, depth) => (span, depth),
        };
        if !visited.insert(span.span_id) {
            continue;
        }
        let id = html::span_id(span.span_id);
        let left = (span.start_unix_nanos.saturating_sub(start)) as f64 / total * 100.0;
        let width = span.duration_nanos as f64 / total * 100.0;
        let error = span.outcome.is_error();
        let _ = write!(
            out,
            "<li class=\"span\" id=\"span-{id}\" data-span-id=\"{id}\" data-parent-id=\"{parent}\" \
             data-name=\"{name}\" data-status=\"{status}\" style=\"--depth:{depth}\"><div class=\"row\">\
             <div class=\"label\"><span class=\"name\">{name}</span><span class=\"kind\">{kind}</span>\
             <span class=\"dur\">{dur}</span>{flag}</div>\
             <div class=\"track\" title=\"{dur}\"><div class=\"bar{bar}\" style=\"left:{left:.3}%;width:{width:.3}%\">\
             </div></div></div>",
            parent = if span.parent_span_id == 0 {
                String::new()
            } else {
                html::span_id(span.parent_span_id)
            },
            name = escape(span.name),
            kind = escape(span.kind),
            status = if error { "error" } else { "unset" },
            flag = if error {
                format!(" {}", status_html(span))
            } else {
                String::new()
            },
            dur = escape(&html::duration(span.duration_nanos)),
            bar = if error { " err" } else { "" },
        );
        out.push_str(&attributes_table(span));
        if let Some(lines) = logs.get(&span.span_id) {
            out.push_str("<ul class=\"logs\">");
            for line in lines {
                out.push_str(&log_item(line));
            }
            out.push_str("</ul>");
        }
        out.push_str("<ul class=\"children\">");
        stack.push(Step::Close);
        let mut kids: Vec<&Span> = children.get(&span.span_id).cloned().unwrap_or_default();
        kids.sort_by_key(|s| (s.start_unix_nanos, s.span_id));
        stack.extend(kids.into_iter().rev().map(|kid| Step::Open(kid, depth + 1)));
    }
    out.push_str("</ul>");
}

/// The `/debug/traces/{trace_id}` page; `None` when the store holds no such
/// trace.
pub(super) fn trace_html(trace_id: u128) -> Option<String> {
    let trace = trace(trace_id)?;
    let id = html::trace_id(trace_id);
    let mut body = format!(
        "<h1>Trace <code id=\"trace-id\">{id}</code></h1><p class=\"muted\">{} spans, {} log lines{}. \
         <a href=\"/debug/traces/{id}.json\">JSON</a></p>",
        trace.spans.len(),
        trace.logs.len(),
        if trace.logs_dropped > 0 {
            format!(" ({} more not kept)", trace.logs_dropped)
        } else {
            String::new()
        }
    );
    waterfall(&trace, &mut body);
    body.push_str("<h2>Log lines, in time order</h2>");
    if trace.logs.is_empty() {
        body.push_str("<p class=\"muted\">No log line was written in this trace.</p>");
    } else {
        body.push_str("<ul class=\"logs\" id=\"trace-logs\">");
        for line in &trace.logs {
            let item = log_item(line);
            // Each line links to the span it was written in.
            let span = html::span_id(line.span_id);
            let _ = write!(
                body,
                "{} <a class=\"muted\" href=\"#span-{span}\">in span {span}</a></li>",
                item.trim_end_matches("</li>")
            );
        }
        body.push_str("</ul>");
    }
    Some(html::page(&format!("Trace {id}"), &body))
}

/// The page for a trace the store does not hold.
pub(super) fn missing_html(trace_id: &str) -> String {
    html::page(
        "Trace not found",
        &format!(
            "<h1>Trace <code>{}</code></h1><p>The store does not hold this trace: it was \
             not sampled, it has not been exported yet (reload in a moment), or it was \
             evicted (<code>observe_trace_store_evicted_total</code>).</p>",
            escape(trace_id)
        ),
    )
}
