//! The Prometheus rules generated from objectives in code, judged by
//! Prometheus's own `promtool`: the rule file is valid, the generated
//! `promtool test rules` file passes against it (a quiet baseline fires
//! nothing, each burst fires its alert when the burn-rate arithmetic says),
//! and the same tests fail when a threshold in the rules is changed by hand,
//! so they check the arithmetic rather than themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

use observe_runtime::observe;
use observe_runtime::slo::Rules;
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
    let rules = Rules::from_catalog();
    let names: Vec<&str> = rules.objectives().iter().map(|o| o.name()).collect();
    assert_eq!(names, ["Slo.Pay"]);
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
    assert_eq!(changed, 2, "both indicators' fast page alerts in:\n{rules}");
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
