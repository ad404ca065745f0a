//! Compile-fail cases: every diagnostic kind, as a rustc error on the
//! offending tokens of a `network!` block (`tests/ui/*.rs` with the expected
//! `.stderr` beside each), and compile-pass cases (`tests/pass/`). Paths
//! are relative to this crate, `tests/compile/`; the `.stderr` files name
//! the source as `$DIR/<file>.rs`, trybuild's form for any location.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("../ui/*.rs");
    t.pass("../pass/*.rs");
}
