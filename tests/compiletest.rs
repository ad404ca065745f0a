//! Compile-fail cases: every diagnostic kind, as a rustc error on the
//! offending tokens of a `network!` block (`tests/ui/*.rs` with the expected
//! `.stderr` beside each), and compile-pass cases (`tests/pass/`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
