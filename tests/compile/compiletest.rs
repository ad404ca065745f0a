//! Compile-fail cases: every diagnostic kind, as a rustc error on the
//! offending tokens of a `network!` block (`tests/ui/*.rs` with the expected
//! `.stderr` beside each), and compile-pass cases (`tests/pass/`). Paths
//! are relative to this crate, `tests/compile/`; the `.stderr` files name
//! the source as `$DIR/<file>.rs`, trybuild's form for any location.

use std::path::Path;

/// Networks whose names rustc would call non-camel-case (W0002), for
/// `pass/w0002_emitted_code_allows_the_name.rs`.
const LOWERCASE: &str = "
network mlp(x: [4]) -> [2] { dense(3) relu dense(2) softmax }
network std(x: [4]) -> [2] { dense(2) }
network my_net2(x: [4]) -> [2] { dense(2) }
";

#[test]
fn ui() {
    // What `nnc emit` and build scripts write, for the pass case to
    // `include!` (trybuild passes the environment on to rustc).
    let emitted = Path::new(env!("CARGO_TARGET_TMPDIR")).join("w0002_emitted.rs");
    let code = nnc_dsl::build::emit_source(LOWERCASE, "lowercase.nn").unwrap();
    std::fs::write(&emitted, code).unwrap();
    std::env::set_var("NNC_EMITTED_LOWERCASE", &emitted);

    let t = trybuild::TestCases::new();
    t.compile_fail("../ui/*.rs");
    t.pass("../pass/*.rs");
}
