//! The Prometheus rules generated from objectives in code, judged by
//! Prometheus's own `promtool`: the rule file is valid, the generated
//! `promtool test rules` file passes against it (a quiet baseline fires
//! nothing, each burst fires its alert when the burn-rate arithmetic says),
//! and the same tests fail when a threshold in the rules is changed by hand,
//! so they check the arithmetic rather than themselves. The rules cover an
//! objective on an `#[observe]` function and one on a route of the HTTP
//! server layer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use observe_runtime::observe;
use observe_runtime::slo::{Objective, Rules};
use observe_tests::require_tool;

#[observe(
    span = "Slo.Pay",
    metric = "latency",
    objective(success = "99.9%", latency = "250ms", latency_target = "99%")
)]
fn pay() -> Result<(), std::io::Error> {
    Ok(())
}

fn promtool() -> PathBuf {
    require_tool(
        "promtool",
        "install Debian's `prometheus` package (`.ci/test` does)",
    )
}

/// A directory of its own for this test's files.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("observe-slo-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the rules and their tests; returns the test file.
fn write(dir: &Path, rules: &str, tests: &str) -> PathBuf {
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let test_file = dir.join("tests.yml");
    std::fs::write(&test_file, tests).unwrap();
    test_file
}

fn run(args: &[&str], file: &Path) -> (bool, String) {
    let output = Command::new(promtool())
        .args(args)
        .arg(file)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn generated() -> (String, String) {
    let _ = pay();
    let rules = Rules::from_catalog().objective(
        Objective::new("orders-api")
            .http_route("/orders/{id}")
            .http_method("GET")
            .success(99.9)
            .latency(Duration::from_millis(250), 99.0),
    );
    let names: Vec<&str> = rules.objectives().iter().map(|o| o.name()).collect();
    assert_eq!(names, ["Slo.Pay", "orders-api"]);
    (
        rules.rules().expect("rules"),
        rules.promtool_tests("rules.yml").expect("promtool tests"),
    )
}

#[test]
fn the_generated_rules_pass_promtools_checks_and_their_own_tests() {
    let (rules, tests) = generated();
    // The SRE workbook's four alerts, each on both indicators.
    for alert in [
        "SLOPageFastBurn",
        "SLOPageSlowBurn",
        "SLOTicketFastBurn",
        "SLOTicketSlowBurn",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}")),
            "{alert} in:\n{rules}"
        );
    }
    // The route's requests, read from the HTTP layer's histogram: a 5xx (or
    // a request without an answer) is bad, a 4xx is not.
    let route = "http_route=\"/orders/{id}\",http_request_method=\"GET\"";
    assert!(
        rules.contains(&format!(
            "sum(rate(http_server_request_duration_seconds_count{{{route},error_type!=\"\"}}[5m]))"
        )),
        "{rules}"
    );
    assert!(
        rules.contains(&format!(
            "http_server_request_duration_seconds_bucket{{{route},le=\"0.25\"}}"
        )),
        "{rules}"
    );
    assert!(rules.contains("slo: 'orders-api'"), "{rules}");
    // Its tests burst 500s on that route.
    assert!(
        tests.contains(
            "http_server_request_duration_seconds_count{http_request_method=\"GET\",\
             http_route=\"/orders/{id}\",http_response_status_code=\"500\",error_type=\"500\"}"
        ),
        "{tests}"
    );
    assert!(
        tests.contains("# orders-api availability: a burst"),
        "{tests}"
    );
    assert!(tests.contains("# orders-api latency: a burst"), "{tests}");
    assert!(!tests.contains("# not tested"), "{tests}");
    let dir = dir("valid");
    let test_file = write(&dir, &rules, &tests);
    let (ok, text) = run(&["check", "rules"], &dir.join("rules.yml"));
    assert!(ok, "promtool check rules:\n{text}");
    let (ok, text) = run(&["test", "rules"], &test_file);
    assert!(ok, "promtool test rules:\n{text}");
}

#[test]
fn a_threshold_changed_by_hand_fails_the_generated_tests() {
    let (rules, tests) = generated();
    // Double the fast page's thresholds (14.4 times the error budget) in
    // its expressions only: still a valid rule file, but the alert now
    // fires later than the arithmetic predicts.
    let mut changed = 0;
    let mut after_alert = false;
    let mut broken = String::new();
    for line in rules.lines() {
        let mut line = line.to_owned();
        if after_alert && line.trim_start().starts_with("expr:") {
            line = double_thresholds(&line);
            changed += 1;
        }
        after_alert = line.trim_end().ends_with("alert: SLOPageFastBurn");
        broken.push_str(&line);
        broken.push('\n');
    }
    assert_eq!(
        changed, 4,
        "both objectives' fast page alerts, on both indicators, in:\n{rules}"
    );
    assert_ne!(broken, rules);
    let dir = dir("broken");
    let test_file = write(&dir, &broken, &tests);
    let (ok, text) = run(&["check", "rules"], &dir.join("rules.yml"));
    assert!(ok, "still a valid rule file:\n{text}");
    let (ok, text) = run(&["test", "rules"], &test_file);
    assert!(
        !ok,
        "promtool test rules must fail on a changed threshold:\n{text}"
    );
    assert!(text.contains("SLOPageFastBurn"), "{text}");
}

#[test]
fn a_whole_second_threshold_holds_on_prometheus_3s_spelling_of_le() {
    // observe writes the bucket `le="1"`; Prometheus 3 stores it as
    // `le="1.0"`. The rules match both, so their tests pass on either.
    let rules = Rules::new().objective(
        Objective::new("reports-api")
            .http_route("/reports")
            .latency(Duration::from_secs(1), 99.0),
    );
    let (rules, tests) = (
        rules.rules().expect("rules"),
        rules.promtool_tests("rules.yml").expect("promtool tests"),
    );
    assert!(rules.contains("le=~\"1|1[.]0\""), "{rules}");
    assert!(tests.contains("le=\"1\""), "{tests}");
    let as_prometheus_3_stores_it = tests.replace("le=\"1\"", "le=\"1.0\"");
    for (name, tests) in [("le-1", tests), ("le-1.0", as_prometheus_3_stores_it)] {
        let dir = dir(name);
        let test_file = write(&dir, &rules, &tests);
        let (ok, text) = run(&["test", "rules"], &test_file);
        assert!(ok, "{name}: promtool test rules:\n{text}");
    }
}

/// `expr` with every number after a `> ` doubled.
fn double_thresholds(expr: &str) -> String {
    let mut parts = expr.split("> ");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let end = part
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
            .unwrap_or(part.len());
        let value: f64 = part[..end].parse().expect("a threshold");
        out.push_str(&format!("> {}{}", value * 2.0, &part[end..]));
    }
    out
}
