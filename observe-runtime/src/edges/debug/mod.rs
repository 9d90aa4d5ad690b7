//! The debug pages, served by the built-in server beside `/metrics` when
//! it listens on loopback: the metric -> trace -> log path with no
//! infrastructure.
//!
//! - `/debug/metrics`: each latency family's buckets, every exemplar a link
//!   to its trace;
//! - `/debug/traces`: span names by latency bucket and by errors, and the
//!   kept samples of one (`?name=..&bucket=<0-7|errors>`);
//! - `/debug/traces/{trace_id}`: the waterfall of a trace, with its log
//!   lines beside the spans they were written in;
//! - the same as JSON for scripts: `/debug/metrics.json`,
//!   `/debug/traces.json`, `/debug/traces/{trace_id}.json`.
//!
//! Everything is read from the trace store (`store/`) and the histograms;
//! the HTML, CSS and script are embedded, nothing is fetched from outside,
//! and every value is escaped.

mod html;
mod metrics;
mod traces;

use std::collections::HashMap;

use serde_json::Value;

use crate::core::text::percent_decode;

/// A page's answer.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

fn html(body: String) -> Page {
    Page {
        status: 200,
        content_type: HTML,
        body,
    }
}

fn json(value: &Value) -> Page {
    Page {
        status: 200,
        content_type: JSON,
        body: value.to_string(),
    }
}

fn not_found(body: String) -> Page {
    Page {
        status: 404,
        content_type: HTML,
        body,
    }
}

/// `a=1&b=x%20y` as a map; a pair that does not decode is left out.
fn query(raw: Option<&str>) -> HashMap<String, String> {
    raw.unwrap_or("")
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode(&s.replace('+', " "));
            Some((decode(key)?, decode(value)?))
        })
        .collect()
}

/// Whether `path` is one of the pages' (under `/debug`).
pub(crate) fn is_debug_path(path: &str) -> bool {
    path == "/debug" || path.starts_with("/debug/")
}

/// The answer to a GET of `path` with `raw_query`.
pub(crate) fn respond(path: &str, raw_query: Option<&str>) -> Page {
    let params = query(raw_query);
    match path {
        "/debug" | "/debug/" | "/debug/metrics" => html(metrics::page()),
        "/debug/metrics.json" => json(&metrics::json()),
        "/debug/traces" | "/debug/traces/" => {
            let selection = traces::Selection::from_query(&params);
            html(traces::summary_html(selection.as_ref()))
        }
        "/debug/traces.json" => {
            let selection = traces::Selection::from_query(&params);
            json(&traces::summary_json(selection.as_ref()))
        }
        _ => match path.strip_prefix("/debug/traces/") {
            Some(rest) => trace_page(rest),
            None => not_found(html::page(
                "Not found",
                "<h1>Not found</h1><p>Try <a href=\"/debug/metrics\">/debug/metrics</a> or \
                 <a href=\"/debug/traces\">/debug/traces</a>.</p>",
            )),
        },
    }
}

fn trace_page(rest: &str) -> Page {
    let (id, as_json) = match rest.strip_suffix(".json") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let Some(trace_id) = traces::parse_trace_id(id) else {
        let message = format!(
            "<h1>Not a trace id</h1><p><code>{}</code> is not 32 hex digits.</p>",
            html::escape(id)
        );
        return Page {
            status: 400,
            content_type: HTML,
            body: html::page("Not a trace id", &message),
        };
    };
    if as_json {
        match traces::trace_json(trace_id) {
            Some(value) => json(&value),
            None => Page {
                status: 404,
                content_type: JSON,
                body: serde_json::json!({ "error": "trace not in the store" }).to_string(),
            },
        }
    } else {
        match traces::trace_html(trace_id) {
            Some(body) => html(body),
            None => not_found(traces::missing_html(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::html::{escape, query_value};
    use super::{query, respond};

    #[test]
    fn values_are_escaped_for_text_and_attributes() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
        );
        assert_eq!(query_value("Order Submit/é&"), "Order%20Submit%2F%C3%A9%26");
    }

    #[test]
    fn queries_decode_and_round_trip() {
        let name = "Cart.Add <v2> & more";
        let params = query(Some(&format!("name={}&bucket=3", query_value(name))));
        assert_eq!(params["name"], name);
        assert_eq!(params["bucket"], "3");
        assert!(query(Some("name=%zz")).is_empty());
    }

    #[test]
    fn a_malformed_trace_id_is_a_clear_400() {
        let page = respond("/debug/traces/<script>", None);
        assert_eq!(page.status, 400);
        assert!(page.body.contains("&lt;script&gt;"));
        assert!(!page.body.contains("<script>alert"));
        assert_eq!(respond("/debug/nothing", None).status, 404);
    }
}
