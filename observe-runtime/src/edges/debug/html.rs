//! What every page shares: escaping, the page shell with its embedded CSS
//! and script, and the formatting of ids, durations and times.
//!
//! Hand-written strings rather than a template crate: three pages of tables
//! and lists, where every value goes through [`escape`] on its way in.

use std::fmt::Write as _;

/// `text` safe in HTML text and in a quoted attribute value.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a URL query value: every byte but the unreserved ones
/// percent-encoded.
pub(crate) fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

pub(crate) fn trace_id(id: u128) -> String {
    format!("{id:032x}")
}

pub(crate) fn span_id(id: u64) -> String {
    format!("{id:016x}")
}

/// A duration in the unit that keeps it short: `850ns`, `12.3µs`, `4.56ms`,
/// `1.234s`.
pub(crate) fn duration(nanos: u64) -> String {
    let n = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{:.1}µs", n / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2}ms", n / 1e6)
    } else {
        format!("{:.3}s", n / 1e9)
    }
}

pub(crate) fn time(unix_nanos: u64) -> String {
    crate::core::text::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos))
}

const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #5d6778; --line: #d9dee7; --bar: #4a7bd0; --err: #c2362b; --bg2: #f4f6f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; }
header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; }
header a { color: #cfe0ff; text-decoration: none; }
header strong { font-size: 16px; }
main { padding: 16px 20px 40px; }
h1 { font-size: 20px; margin: 4px 0 12px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: var(--bg2); font-weight: 600; }
td.name, th.name { text-align: left; }
td.zero { color: #aab; }
caption { text-align: left; padding: 4px 0; }
table.series th, table.series td { padding: 2px 8px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.error { color: var(--err); font-weight: 600; }
a { color: #2257b8; }
ul.waterfall, ul.children, ul.logs { list-style: none; margin: 0; padding: 0; }
/* Children are nested in the markup; only their labels are indented, so
   every bar is drawn on the same time scale. */
li.span > .row { display: grid; grid-template-columns: minmax(300px, 36%) 1fr; gap: 10px; align-items: center; padding: 2px 0; border-top: 1px solid #eef0f4; }
li.span > .row .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; padding-left: calc(var(--depth, 0) * 18px); }
li.span > details.attrs, li.span > ul.logs { margin-left: calc(var(--depth, 0) * 18px + 4px); }
.label .dur { color: var(--muted); font-size: 12px; margin-left: 6px; }
.track { position: relative; height: 16px; background: var(--bg2); border-radius: 3px; }
.bar { position: absolute; top: 2px; height: 12px; background: var(--bar); border-radius: 2px; min-width: 2px; }
.bar.err { background: var(--err); }
details.attrs { margin: 0 0 4px 4px; }
details.attrs summary { cursor: pointer; color: var(--muted); font-size: 12.5px; }
details.attrs table { margin: 4px 0; }
details.attrs td { text-align: left; white-space: normal; }
ul.logs li { font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; background: #fffbe8; border-left: 3px solid #e2c044; padding: 1px 6px; margin: 1px 0; }
ul.logs li.level-WARN { border-left-color: #e08a1e; }
ul.logs li.level-ERROR { border-left-color: var(--err); background: #fdecea; }
.kind { display: inline-block; font-size: 11px; padding: 0 5px; border-radius: 3px; background: var(--bg2); color: var(--muted); margin-left: 4px; }
input#filter { padding: 4px 8px; width: 280px; margin-bottom: 8px; }
"#;

/// Filters the rows of a table marked `data-filterable` by the text in
/// `#filter`: the pages' only script, and they work without it.
const SCRIPT: &str = r#"
document.addEventListener("DOMContentLoaded", function () {
  var input = document.getElementById("filter");
  if (!input) return;
  input.addEventListener("input", function () {
    var needle = input.value.toLowerCase();
    document.querySelectorAll("[data-filterable] tbody tr").forEach(function (row) {
      row.style.display = row.textContent.toLowerCase().indexOf(needle) >= 0 ? "" : "none";
    });
  });
});
"#;

/// A whole page: `title` (escaped here) and `body` (already escaped).
pub(crate) fn page(title: &str, body: &str) -> String {
    let title = escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · observe</title><style>{STYLE}</style><script>{SCRIPT}</script></head>\
         <body><header><strong>observe</strong>\
         <a href=\"/debug/metrics\">metrics</a><a href=\"/debug/traces\">traces</a>\
         <a href=\"/metrics\">/metrics</a></header><main>{body}</main></body></html>\n"
    )
}
