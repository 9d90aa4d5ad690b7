//! Compile-time behaviour of `#[observe]`: every supported function shape
//! expands to warning-free code, and every mistake is a compile error pointing
//! at the offending tokens.
//!
//! Regenerate the expected diagnostics with
//! `TRYBUILD=overwrite cargo test -p observe-macros --test ui` and review the
//! diff of `tests/ui/fail/*.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
