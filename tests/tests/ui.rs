//! Compile-time behaviour of `#[observe]`: every supported function shape
//! expands to warning-free code, and every mistake is a compile error pointing
//! at the offending tokens.
//!
//! Regenerate the expected diagnostics with
//! `TRYBUILD=overwrite cargo test -p observe-tests --test ui` and review the
//! diff of `ui/fail/*.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
