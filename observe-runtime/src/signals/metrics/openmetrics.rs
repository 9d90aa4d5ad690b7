//! OpenMetrics 1.0 text from gathered `prometheus` metric families, with
//! observe's exemplars on latency buckets.
//!
//! Written here rather than through prometheus-client's encoder: that encoder
//! takes exemplars only as its own `Exemplar` values, which only its own
//! metric types can create (the type has no public constructor and is not
//! `Clone`), so it cannot write exemplars that live in observe's per-thread
//! shards. The `prometheus` crate writes only the classic format.
//!
//! Bucket bounds are written as the classic encoder writes them (`le="1"`,
//! not `le="1.0"`), so switching a scrape between formats keeps the same
//! series in Prometheus.

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use super::{series_id, Exemplar, ExemplarIndex};

pub(super) fn encode(families: &[MetricFamily], exemplars: &ExemplarIndex) -> String {
    let mut out = String::with_capacity(4096);
    for family in families {
        write_family(&mut out, family, exemplars);
    }
    out.push_str("# EOF\n");
    out
}

fn write_family(out: &mut String, family: &MetricFamily, exemplars: &ExemplarIndex) {
    let name = family.name();
    let (metadata_name, kind) = match family.get_field_type() {
        // OpenMetrics names the counter family without the `_total` its
        // sample carries.
        MetricType::COUNTER => (name.strip_suffix("_total").unwrap_or(name), "counter"),
        MetricType::GAUGE => (name, "gauge"),
        MetricType::HISTOGRAM => (name, "histogram"),
        MetricType::SUMMARY => (name, "summary"),
        MetricType::UNTYPED => (name, "unknown"),
    };
    let _ = writeln!(out, "# TYPE {metadata_name} {kind}");
    if !family.help().is_empty() {
        let _ = writeln!(out, "# HELP {metadata_name} {}", escape(family.help()));
    }
    match family.get_field_type() {
        MetricType::COUNTER => {
            write_classic_samples(out, family, &format!("{metadata_name}_total"));
        }
        MetricType::GAUGE | MetricType::UNTYPED => write_classic_samples(out, family, name),
        MetricType::SUMMARY => {
            for metric in family.get_metric() {
                write_summary(out, name, metric);
            }
        }
        MetricType::HISTOGRAM => {
            for metric in family.get_metric() {
                write_histogram(out, name, metric, exemplars);
            }
        }
    }
}

/// Counter, gauge and untyped samples. The `prometheus` crate's two proto
/// models (plain, and rust-protobuf's under its `protobuf` feature, which any
/// crate in a build can switch on) share no accessor for these values, but
/// both encode them as classic text, whose sample lines are OpenMetrics
/// sample lines once the name (a counter's `_total`) and the timestamp unit
/// (milliseconds to seconds) are fixed.
fn write_classic_samples(out: &mut String, family: &MetricFamily, sample_name: &str) {
    let mut classic = String::new();
    if prometheus::TextEncoder::new()
        .encode_utf8(std::slice::from_ref(family), &mut classic)
        .is_err()
    {
        return;
    }
    for line in classic
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((_, labels, rest)) = split_sample(line) else {
            continue;
        };
        out.push_str(sample_name);
        out.push_str(labels);
        let mut fields = rest.split_whitespace();
        let value = fields.next().unwrap_or("0");
        let _ = write!(out, " {value}");
        if let Some(millis) = fields.next().and_then(|t| t.parse::<i64>().ok()) {
            let _ = write!(out, " {}", number(millis as f64 / 1e3));
        }
        out.push('\n');
    }
}

/// A classic sample line as its name, its `{..}` label block (possibly
/// empty) and what follows: value and optional timestamp.
fn split_sample(line: &str) -> Option<(&str, &str, &str)> {
    let name_end = line.find(['{', ' '])?;
    let (name, after) = line.split_at(name_end);
    if !after.starts_with('{') {
        return Some((name, "", after));
    }
    // The label block ends at the first `}` outside a quoted value.
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in after.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some((name, &after[..=i], &after[i + 1..])),
            _ => {}
        }
    }
    None
}

fn write_summary(out: &mut String, name: &str, metric: &Metric) {
    let labels = metric.get_label();
    let summary = metric.get_summary();
    for quantile in summary.get_quantile() {
        let q = number(quantile.quantile());
        let extra = Some(("quantile", q.as_str()));
        sample(out, name, labels, extra, &number(quantile.value()), metric);
    }
    let sum = number(summary.sample_sum());
    sample(out, &format!("{name}_sum"), labels, None, &sum, metric);
    let count = summary.sample_count().to_string();
    sample(out, &format!("{name}_count"), labels, None, &count, metric);
}

/// (`Histogram`'s `get_*` accessors are the ones both proto models have.)
fn write_histogram(out: &mut String, name: &str, metric: &Metric, exemplars: &ExemplarIndex) {
    let labels = metric.get_label();
    let histogram = metric.get_histogram();
    let id = series_id(name, labels.iter().map(|l| (l.name(), l.value())));
    let series_exemplars = exemplars.get(&id);
    let exemplar = |slot: usize| series_exemplars.and_then(|e| e.get(slot).copied().flatten());
    let bucket_name = format!("{name}_bucket");
    let buckets = histogram.get_bucket();
    let mut wrote_inf = false;
    for (slot, bucket) in buckets.iter().enumerate() {
        let bound = bucket.upper_bound();
        wrote_inf |= bound == f64::INFINITY;
        let le = number(bound);
        let count = bucket.cumulative_count().to_string();
        sample(out, &bucket_name, labels, Some(("le", &le)), &count, metric);
        end_with_exemplar(out, exemplar(slot));
    }
    if !wrote_inf {
        // OpenMetrics requires the `+Inf` bucket; the classic protobuf form
        // leaves it implied by the count.
        let count = histogram.get_sample_count().to_string();
        sample(
            out,
            &bucket_name,
            labels,
            Some(("le", "+Inf")),
            &count,
            metric,
        );
        end_with_exemplar(out, exemplar(buckets.len()));
    }
    let count = histogram.get_sample_count().to_string();
    sample(out, &format!("{name}_count"), labels, None, &count, metric);
    let sum = number(histogram.get_sample_sum());
    sample(out, &format!("{name}_sum"), labels, None, &sum, metric);
}

/// Writes `name{labels} value [timestamp]` and a newline.
fn sample(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    value: &str,
    metric: &Metric,
) {
    out.push_str(name);
    let pairs = labels.iter().map(|l| (l.name(), l.value())).chain(extra);
    let mut first = true;
    for (label, value) in pairs {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{label}=\"{}\"", escape(value));
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    let millis = metric.timestamp_ms();
    if millis != 0 {
        // OpenMetrics timestamps are in seconds.
        let _ = write!(out, " {}", number(millis as f64 / 1e3));
    }
    out.push('\n');
}

/// Appends ` # {trace_id="..",span_id=".."} value timestamp` to the line just
/// written, if the bucket has an exemplar.
fn end_with_exemplar(out: &mut String, exemplar: Option<Exemplar>) {
    let Some(exemplar) = exemplar else {
        return;
    };
    out.pop(); // the newline
    let time = exemplar
        .time()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let _ = writeln!(
        out,
        " # {{trace_id=\"{:032x}\",span_id=\"{:016x}\"}} {} {}.{:09}",
        exemplar.trace_id,
        exemplar.span_id,
        number(exemplar.seconds()),
        time.as_secs(),
        time.subsec_nanos(),
    );
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

/// Escapes a label value or help text: backslash, double quote, newline.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\\', '"', '\n']) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hot::histogram::clock_ticks;
    use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

    #[test]
    fn counters_gauges_and_histograms_follow_openmetrics() {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "Requests \"served\"\nby route."),
            &["route"],
        )
        .unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        requests.with_label_values(&["/a\\b\"c\nd"]).inc_by(3);
        let histogram = Histogram::with_opts(
            HistogramOpts::new("job_seconds", "Jobs.").buckets(vec![0.5, 1.0]),
        )
        .unwrap();
        registry.register(Box::new(histogram.clone())).unwrap();
        histogram.observe(0.25);
        histogram.observe(2.0);

        let text = encode(&registry.gather(), &ExemplarIndex::new());
        assert_eq!(
            text,
            "# TYPE http_requests counter\n\
             # HELP http_requests Requests \\\"served\\\"\\nby route.\n\
             http_requests_total{route=\"/a\\\\b\\\"c\\nd\"} 3\n\
             # TYPE job_seconds histogram\n\
             # HELP job_seconds Jobs.\n\
             job_seconds_bucket{le=\"0.5\"} 1\n\
             job_seconds_bucket{le=\"1\"} 1\n\
             job_seconds_bucket{le=\"+Inf\"} 2\n\
             job_seconds_count 2\n\
             job_seconds_sum 2.25\n\
             # EOF\n"
        );
    }

    #[test]
    fn exemplars_sit_on_their_bucket_lines() {
        let registry = Registry::new();
        let histogram = prometheus::HistogramVec::new(
            HistogramOpts::new("op_seconds", "Ops.").buckets(vec![0.001, 0.01]),
            &["error_type", "operation"],
        )
        .unwrap();
        registry.register(Box::new(histogram.clone())).unwrap();
        histogram
            .with_label_values(&["", "Order.Submit"])
            .observe(0.005);
        histogram
            .with_label_values(&["", "Order.Submit"])
            .observe(0.5);

        let in_second = Exemplar {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            span_id: 0x00f067aa0ba902b7,
            ticks: clock_ticks(5_000_000),
            end: crate::hot::clock::raw(),
        };
        let overflow = Exemplar {
            trace_id: 1,
            span_id: 2,
            ticks: clock_ticks(500_000_000),
            end: crate::hot::clock::raw(),
        };
        let mut index = ExemplarIndex::new();
        // The empty `error_type` label does not take part in the series id.
        index.insert(
            series_id("op_seconds", [("operation", "Order.Submit")]),
            vec![None, Some(in_second), Some(overflow)],
        );
        let text = encode(&registry.gather(), &index);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "op_seconds_bucket{error_type=\"\",operation=\"Order.Submit\",le=\"0.001\"} 0"
        );
        let second = lines[3];
        assert!(
            second.starts_with(
                "op_seconds_bucket{error_type=\"\",operation=\"Order.Submit\",le=\"0.01\"} 1 \
                 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} "
            ),
            "{text}"
        );
        let fields: Vec<&str> = second.rsplit(' ').take(2).collect();
        let (timestamp, value): (f64, f64) =
            (fields[0].parse().unwrap(), fields[1].parse().unwrap());
        assert!((value - 0.005).abs() < 1e-6, "{value}");
        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - timestamp).abs() < 60.0, "{timestamp} vs {now}");
        assert!(
            lines[4].starts_with(
                "op_seconds_bucket{error_type=\"\",operation=\"Order.Submit\",le=\"+Inf\"} 2 \
                 # {trace_id=\"00000000000000000000000000000001\",span_id=\"0000000000000002\"} 0.5 "
            ),
            "{text}"
        );
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    #[test]
    fn special_values() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.0005), "0.0005");
        assert_eq!(number(30.0), "30");
    }
}
