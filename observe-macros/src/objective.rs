//! The rules of `objective(...)`: targets are percentages strictly between 0
//! and 100, the window a duration, and the latency threshold one of the
//! histogram's bucket boundaries, since a latency SLI can only be counted at a
//! boundary (`le`).

use proc_macro2::Span;
use syn::LitStr;

use crate::args::ObjectiveArg;
use crate::errors::Errors;

/// The default latency buckets, in seconds: the runtime's `LATENCY_BUCKETS`.
/// The expansion asserts, at compile time, that the threshold it picked from
/// this copy is the runtime's bound, so the two cannot drift apart silently.
pub(crate) const DEFAULT_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The SLO window when `window` is not given: 30 days.
pub(crate) const DEFAULT_WINDOW_SECONDS: u64 = 30 * 86_400;

/// An objective that passed the rules.
pub(crate) struct ValidObjective {
    /// `success`, in percent.
    pub(crate) success: Option<f64>,
    /// `latency` and `latency_target`.
    pub(crate) latency: Option<LatencyObjective>,
    pub(crate) window_seconds: u64,
}

pub(crate) struct LatencyObjective {
    /// The threshold in seconds, exactly a bucket bound.
    pub(crate) threshold: f64,
    /// Its index among the buckets, when they are the default ones.
    pub(crate) default_index: Option<usize>,
    /// In percent.
    pub(crate) target: f64,
}

/// The histogram an objective is measured on, as far as the rules need it.
pub(crate) struct Histogram<'a> {
    /// `None` for the default buckets.
    pub(crate) buckets: Option<&'a [f64]>,
    /// The family name, for the suggestion; `None` for the default family.
    pub(crate) family: Option<String>,
    /// The function's name, to suggest a family name from.
    pub(crate) function: Option<&'a str>,
}

/// Checks `objective`; `histogram` is `None` when no valid metric was given
/// (its own error is reported elsewhere).
pub(crate) fn check(
    key: Span,
    objective: ObjectiveArg,
    histogram: Option<&Histogram<'_>>,
    errors: &mut Errors,
) -> Option<ValidObjective> {
    let mut valid = true;
    let mut percent = |literal: &Option<LitStr>, name: &str| -> Option<f64> {
        let literal = literal.as_ref()?;
        match parse_percent(&literal.value(), name) {
            Ok(value) => Some(value),
            Err(message) => {
                errors.push(syn::Error::new(literal.span(), message));
                valid = false;
                None
            }
        }
    };
    let success = percent(&objective.success, "success");
    let latency_target = percent(&objective.latency_target, "latency_target");
    let window_seconds = match &objective.window {
        None => Some(DEFAULT_WINDOW_SECONDS),
        Some(literal) => match parse_window(&literal.value()) {
            Ok(seconds) => Some(seconds),
            Err(message) => {
                errors.push(syn::Error::new(literal.span(), message));
                None
            }
        },
    };
    let threshold = match &objective.latency {
        None => None,
        Some(literal) => match parse_latency(&literal.value()) {
            Ok(seconds) => match histogram {
                Some(histogram) => match check_boundary(seconds, &literal.value(), histogram) {
                    Ok(found) => Some(found),
                    Err(message) => {
                        errors.push(syn::Error::new(literal.span(), message));
                        None
                    }
                },
                None => None,
            },
            Err(message) => {
                errors.push(syn::Error::new(literal.span(), message));
                None
            }
        },
    };
    match (&objective.latency, &objective.latency_target) {
        (Some(latency), None) => {
            errors.push(syn::Error::new(
                latency.span(),
                "`latency` needs `latency_target`, the share of calls that must be faster: \
                 add `latency_target = \"99%\"`",
            ));
            valid = false;
        }
        (None, Some(target)) => {
            errors.push(syn::Error::new(
                target.span(),
                "`latency_target` needs `latency`, the threshold calls must be faster than: \
                 add `latency = \"300ms\"`",
            ));
            valid = false;
        }
        (None, None) if objective.success.is_none() => {
            errors.push(syn::Error::new(
                objective.parens,
                "an objective needs a target: `success = \"99.9%\"`, or `latency = \"300ms\"` \
                 with `latency_target = \"99%\"`, or both",
            ));
            valid = false;
        }
        _ => {}
    }
    if histogram.is_none() {
        errors.push(syn::Error::new(
            key,
            "`objective` is measured on the latency histogram: add `metric = \"latency\"`",
        ));
        valid = false;
    }
    let latency = match (threshold, latency_target) {
        (Some((threshold, default_index)), Some(target)) => Some(LatencyObjective {
            threshold,
            default_index,
            target,
        }),
        _ if objective.latency.is_some() => {
            valid = false;
            None
        }
        _ => None,
    };
    let window_seconds = window_seconds?;
    valid.then_some(ValidObjective {
        success,
        latency,
        window_seconds,
    })
}

/// `"99.9%"` -> `99.9`.
pub(crate) fn parse_percent(text: &str, name: &str) -> Result<f64, String> {
    let Some(number) = text.trim().strip_suffix('%') else {
        let hint = match text.trim().parse::<f64>() {
            Ok(value) if value > 0.0 && value < 1.0 => format!("{}%", trim_float(value * 100.0)),
            Ok(value) => format!("{}%", trim_float(value)),
            Err(_) => "99.9%".to_owned(),
        };
        return Err(format!(
            "`{name}` is a percentage: write `{name} = \"{hint}\"`"
        ));
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("`{name}` must be a number of percent, found `{text}`: e.g. `{name} = \"99.9%\"`")
    })?;
    if !(value > 0.0 && value < 100.0) {
        return Err(format!(
            "`{name}` must be above `0%` and below `100%`, found `{text}`: a target of \
             `100%` leaves no error budget to alert on; e.g. `{name} = \"99.9%\"`"
        ));
    }
    Ok(value)
}

/// `"300ms"`, `"0.3s"`, `"250us"` -> seconds.
pub(crate) fn parse_latency(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let units: [(&str, f64); 3] = [("us", 1e-6), ("ms", 1e-3), ("s", 1.0)];
    for (unit, scale) in units {
        if let Some(number) = text.strip_suffix(unit) {
            if let Ok(value) = number.trim().parse::<f64>() {
                if value > 0.0 && value.is_finite() {
                    // Rounded to the nanosecond, as bucket bounds are compared.
                    return Ok(((value * scale) * 1e9).round() / 1e9);
                }
            }
            break;
        }
    }
    Err(format!(
        "`latency` is a duration with a unit, `us`, `ms` or `s`, found `{text}`: e.g. \
         `latency = \"300ms\"`"
    ))
}

/// `"30d"`, `"7d"`, `"12h"` -> seconds, from one hour to a year.
pub(crate) fn parse_window(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let parsed = [("d", 86_400u64), ("h", 3_600), ("w", 7 * 86_400)]
        .into_iter()
        .find_map(|(unit, scale)| {
            let number = trimmed.strip_suffix(unit)?;
            number.parse::<u64>().ok()?.checked_mul(scale)
        });
    match parsed {
        Some(seconds) if (3_600..=365 * 86_400).contains(&seconds) => Ok(seconds),
        Some(_) => Err(format!(
            "`window` must be between `1h` and `365d`, found `{text}`: e.g. `window = \"30d\"`"
        )),
        None => Err(format!(
            "`window` is a whole number of days, hours or weeks (`d`, `h`, `w`), found \
             `{text}`: e.g. `window = \"30d\"`"
        )),
    }
}

/// The threshold (and its default index) if it is one of the histogram's
/// bounds; otherwise the message naming the nearest ones and the fix.
fn check_boundary(
    seconds: f64,
    written: &str,
    histogram: &Histogram<'_>,
) -> Result<(f64, Option<usize>), String> {
    let buckets: &[f64] = histogram.buckets.unwrap_or(&DEFAULT_BUCKETS);
    let nanos = |value: f64| (value * 1e9).round() as u64;
    if let Some(index) = buckets.iter().position(|b| nanos(*b) == nanos(seconds)) {
        let default_index = histogram.buckets.is_none().then_some(index);
        return Ok((buckets[index], default_index));
    }
    let below = buckets.iter().rev().find(|b| **b < seconds);
    let above = buckets.iter().find(|b| **b > seconds);
    let nearest = match (below, above) {
        (Some(below), Some(above)) => format!(
            "the nearest boundaries are `{}` and `{}`",
            format_duration(*below),
            format_duration(*above)
        ),
        (Some(below), None) => format!("the largest boundary is `{}`", format_duration(*below)),
        (None, Some(above)) => format!("the smallest boundary is `{}`", format_duration(*above)),
        (None, None) => "it has none".to_owned(),
    };
    let mut with_threshold = buckets.to_vec();
    with_threshold.push(seconds);
    with_threshold.sort_by(f64::total_cmp);
    let list: Vec<String> = with_threshold.iter().map(|b| float_literal(*b)).collect();
    let family = histogram.family.clone().unwrap_or_else(|| {
        format!(
            "{}_duration_seconds",
            histogram.function.unwrap_or("operation")
        )
    });
    Err(format!(
        "latency threshold `{written}` is not a bucket boundary of this histogram, and a \
         latency objective can only be counted at one: {nearest}; use one of them, or add \
         the boundary with `metric(name = \"{family}\", buckets = [{}])`",
        list.join(", ")
    ))
}

/// `0.25` -> `250ms`, `2.5` -> `2.5s`.
pub(crate) fn format_duration(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{}s", trim_float(seconds))
    } else if seconds >= 1e-3 {
        format!("{}ms", trim_float(seconds * 1e3))
    } else {
        format!("{}us", trim_float(seconds * 1e6))
    }
}

/// A float without representation noise: `0.30000000000000004` -> `0.3`.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.9}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// A float as a Rust literal: `1.0`, `0.25`.
fn float_literal(value: f64) -> String {
    let text = trim_float(value);
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("99.9%", "success"), Ok(99.9));
        assert_eq!(parse_percent(" 95 %", "success"), Ok(95.0));
        for bad in ["100%", "0%", "-1%", "150%"] {
            let message = parse_percent(bad, "success").unwrap_err();
            assert!(
                message.starts_with("`success` must be above `0%` and below `100%`"),
                "{message}"
            );
        }
        assert_eq!(
            parse_percent("0.999", "success").unwrap_err(),
            "`success` is a percentage: write `success = \"99.9%\"`"
        );
        assert!(parse_percent("abc%", "success")
            .unwrap_err()
            .contains("must be a number of percent"));
    }

    #[test]
    fn latencies() {
        assert_eq!(parse_latency("300ms"), Ok(0.3));
        assert_eq!(parse_latency("0.3s"), Ok(0.3));
        assert_eq!(parse_latency("250us"), Ok(0.00025));
        assert!(parse_latency("300").is_err());
        assert!(parse_latency("-1s").is_err());
        assert!(parse_latency("fast").is_err());
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("30d"), Ok(30 * 86_400));
        assert_eq!(parse_window("12h"), Ok(12 * 3_600));
        assert_eq!(parse_window("4w"), Ok(28 * 86_400));
        assert!(parse_window("30m").is_err());
        assert!(parse_window("400d")
            .unwrap_err()
            .contains("between `1h` and `365d`"));
        assert!(parse_window("1.5d").is_err());
    }

    #[test]
    fn threshold_on_a_default_boundary() {
        let histogram = Histogram {
            buckets: None,
            family: None,
            function: Some("submit"),
        };
        assert_eq!(
            check_boundary(0.25, "250ms", &histogram),
            Ok((0.25, Some(8)))
        );
        let message = check_boundary(0.3, "300ms", &histogram).unwrap_err();
        assert!(
            message.contains("the nearest boundaries are `250ms` and `500ms`"),
            "{message}"
        );
        assert!(
            message.contains("metric(name = \"submit_duration_seconds\", buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])"),
            "{message}"
        );
    }

    #[test]
    fn threshold_on_custom_buckets() {
        let buckets = [0.1, 0.2];
        let histogram = Histogram {
            buckets: Some(&buckets),
            family: Some("pay_duration_seconds".to_owned()),
            function: None,
        };
        assert_eq!(check_boundary(0.2, "200ms", &histogram), Ok((0.2, None)));
        let message = check_boundary(1.0, "1s", &histogram).unwrap_err();
        assert!(
            message.contains("the largest boundary is `200ms`"),
            "{message}"
        );
        assert!(
            message.contains("metric(name = \"pay_duration_seconds\", buckets = [0.1, 0.2, 1.0])"),
            "{message}"
        );
    }
}
