//! The per-crate policy in `[package.metadata.observe]`, read from the
//! annotated crate's own `Cargo.toml`: fixture crates under `ui/policy/` are
//! checked with cargo and their diagnostics compared with `expected.stderr`.
//!
//! Also shows that editing only the policy re-runs the checks: cargo does
//! not rebuild a crate for a `[package.metadata]` change by itself.
//!
//! Regenerate with `OBSERVE_POLICY_OVERWRITE=1 cargo test -p observe-tests
//! --test policy` and review the diff.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("tests").join("observe-policy")
}

/// Writes the fixture crate `case` with `policy` as its metadata.
fn write_crate(case: &str, policy: &str, main: &str) -> PathBuf {
    let dir = target_dir().join(case);
    fs::create_dir_all(dir.join("src")).unwrap();
    let runtime = workspace().join("observe-runtime");
    let manifest = format!(
        "[package]\nname = \"policy-{case}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nobserve-runtime = {{ path = {runtime:?} }}\n\n\
         # Its own workspace: not part of observe's.\n[workspace]\n\n{policy}"
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src").join("main.rs"), main);
    // The workspace's lock file, so the fixture builds offline with the same
    // versions.
    let lock = fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    write_if_changed(&dir.join("Cargo.lock"), &lock);
    dir
}

/// Leaves an unchanged file alone, so cargo's freshness check is what the
/// tracking test exercises.
fn write_if_changed(path: &Path, contents: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(contents) {
        fs::write(path, contents).unwrap();
    }
}

fn check(dir: &Path) -> Output {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["check", "--quiet", "--offline", "--message-format=human"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir().join("target"))
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

/// The compiler's errors, without warnings (a path dependency's included)
/// or cargo's summary, with the fixture's path replaced by `$DIR`.
fn diagnostics(output: &Output, dir: &Path) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in stderr.lines() {
        if line.starts_with("error") || line.starts_with("warning") {
            blocks.push(Vec::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push(line);
        }
    }
    let errors: Vec<String> = blocks
        .into_iter()
        .filter(|block| {
            block[0].starts_with("error") && !block[0].starts_with("error: could not compile")
        })
        .map(|mut block| {
            while block.last().is_some_and(|line| line.trim().is_empty()) {
                block.pop();
            }
            block.join("\n")
        })
        .collect();
    errors
        .join("\n\n")
        .replace(&dir.display().to_string(), "$DIR")
        + "\n"
}

/// A line on the terminal while the test runs: written to the process's
/// stderr directly, which the test harness does not capture, since the
/// first fixture compiles observe-runtime and takes minutes.
fn progress(what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "policy: {what}");
}

fn run_case(case: &str) {
    progress(&format!(
        "cargo check of the fixture crate `{case}` (the first one builds observe-runtime)"
    ));
    let fixture = workspace().join("tests/ui/policy").join(case);
    let policy = fs::read_to_string(fixture.join("policy.toml")).unwrap();
    let main = fs::read_to_string(fixture.join("main.rs")).unwrap();
    let dir = write_crate(case, &policy, &main);
    let output = check(&dir);
    let expected_path = fixture.join("expected.stderr");
    match fs::read_to_string(&expected_path) {
        Err(_) => assert!(
            output.status.success(),
            "{case} should compile:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Ok(expected) => {
            assert!(!output.status.success(), "{case} should fail to compile");
            let actual = diagnostics(&output, &dir);
            if std::env::var_os("OBSERVE_POLICY_OVERWRITE").is_some() {
                fs::write(&expected_path, &actual).unwrap();
            } else {
                assert_eq!(
                    actual,
                    expected,
                    "{case}: diagnostics differ from {}; regenerate with \
                     OBSERVE_POLICY_OVERWRITE=1 and review the diff",
                    expected_path.display()
                );
            }
        }
    }
}

/// One test for the fixtures and the tracking check: they share a target
/// directory, and cargo serialises builds in it anyway.
#[test]
fn policy_from_the_annotated_crates_manifest() {
    for case in ["allowed", "violations", "malformed"] {
        run_case(case);
    }
    policy_edits_recheck_the_crate();
}

fn policy_edits_recheck_the_crate() {
    progress("editing only the policy re-runs the checks");
    let main = "use observe_runtime::observe;\n\n\
                #[observe(span = \"Shipping.Send\")]\nfn send() {}\n\n\
                fn main() {\n    send();\n}\n";
    let open = "[package.metadata.observe]\nspan_domains = [\"Shipping\"]\n";
    let closed = "[package.metadata.observe]\nspan_domains = [\"Order\"]\n";
    let dir = write_crate("tracking", open, main);
    assert!(check(&dir).status.success(), "allowed by the first policy");
    // Only the metadata changes; the source is untouched.
    let dir = write_crate("tracking", closed, main);
    let output = check(&dir);
    assert!(
        !output.status.success(),
        "editing the policy alone must re-run the checks"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("span domain `Shipping` is not allowed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = write_crate("tracking", open, main);
    assert!(check(&dir).status.success(), "and back");
}
