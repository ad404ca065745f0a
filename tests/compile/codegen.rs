//! The generated code itself: snapshots of what every spec compiles to, and
//! proof that the three fronts (`network!`, build scripts / `nnc emit`, and
//! `include_network!`) produce the same code.

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Every spec the project ships: the examples' and the test specs.
fn specs() -> Vec<PathBuf> {
    let mut files = Vec::new();
    // This crate lives in `tests/compile/`; the specs are the workspace's.
    for dir in ["../../examples/specs", "../specs"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "nn") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 3, "specs missing: {files:?}");
    files
}

#[test]
fn generated_code_snapshots() {
    for path in specs() {
        let code = nnc_dsl::build::compile_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The snapshots stay in `tests/snapshots/` (relative to this file).
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!(name, code);
        });
    }
}

#[test]
fn network_macro_and_build_script_emit_the_same_code() {
    for path in specs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let from_file = nnc_dsl::build::emit_source(&text, "spec.nn").unwrap();
        // What `network! { <file contents> }` receives: the same text as Rust
        // tokens (comments gone, `///` turned into `#[doc]` attributes).
        let tokens = proc_macro2::TokenStream::from_str(&text).unwrap();
        let from_macro = nnc_dsl::emit::format(nnc_dsl::expand::expand(tokens)).unwrap();
        assert!(
            from_file == from_macro,
            "{}: network! and build script differ",
            path.display()
        );
    }
}

/// A network whose layer outputs fit the stack keeps `predict_one` on it:
/// no heap scratch behind a lock (`tests/wide_layers.rs` runs it on a small
/// stack).
#[test]
fn small_networks_emit_no_lock() {
    let program =
        nnc_dsl::compile("network Small(x: [4]) -> [3] { dense(8) relu dense(3) softmax }")
            .unwrap();
    let code = nnc_dsl::emit::format(nnc_dsl::emit::emit_program(&program)).unwrap();
    assert!(!code.contains("Mutex"), "{code}");
}
