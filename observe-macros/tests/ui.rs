//! Compile-time behaviour of `#[observe]`: every supported function shape
//! expands to warning-free code, and every mistake is a compile error pointing
//! at the offending tokens.
//!
//! Regenerate the expected diagnostics with
//! `TRYBUILD=overwrite cargo test -p observe-macros --test ui` and review the
//! diff of `tests/ui/fail/*.stderr`.

#[test]
fn ui() {
    // trybuild builds the cases' dependencies in a tree of its own, with its
    // own flags, so the workspace's `[profile.dev]` does not reach it: the
    // cargo it starts reads this instead. No debug info, as for the
    // workspace's dependencies: a smaller tree, built faster.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "false");
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
