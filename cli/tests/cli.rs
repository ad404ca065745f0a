//! The `nnc` binary: exit codes, rendered diagnostics, JSON lines, summaries.

use std::path::PathBuf;
use std::process::{Command, Output};

fn nnc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .output()
        .expect("run nnc")
}

/// Writes `content` to a fresh file under the target dir and returns its path.
fn spec(name: &str, content: &[u8]) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nnc-cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

const GOOD: &str = "network Tiny(x: [2]) -> [2] {\n    dense(3) sigmoid\n    dense(2) softmax\n}\n";
const BAD: &str =
    "network Mnist(image: [28, 28]) -> [10] {\n    dense(128) relu\n    dense(10) softmax\n}\n";

#[test]
fn check_sound_spec_exits_0() {
    let out = nnc(&["check", &spec("good.nn", GOOD.as_bytes())]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
}

#[test]
fn check_bad_spec_exits_1_with_file_line_column_and_caret() {
    let path = spec("bad.nn", BAD.as_bytes());
    let out = nnc(&["check", &spec("good2.nn", GOOD.as_bytes()), &path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("error[E0302]: `dense` expects a vector input, but its input is [28, 28]"),
        "{err}"
    );
    assert!(err.contains(&format!("--> {path}:2:5")), "{err}");
    assert!(
        err.contains("2 |     dense(128) relu\n  |     ^^^^^^^^^^ input here is [28, 28]"),
        "{err}"
    );
    assert!(
        err.contains("= help: add `flatten` before this layer"),
        "{err}"
    );
}

#[test]
fn check_json_prints_one_object_per_diagnostic() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2) relo\n    dropout(2)\n}\n";
    let path = spec("json.nn", src.as_bytes());
    let out = nnc(&["check", "--format", "json", &path]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let d = &lines[0];
    assert_eq!(d["code"], "E0102");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], path.as_str());
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(14))
    );
    assert_eq!(
        (d["end_line"].as_u64(), d["end_column"].as_u64()),
        (Some(2), Some(18))
    );
    assert_eq!(d["help"], "did you mean `relu`?");
    assert_eq!(lines[1]["code"], "E0202");
    assert!(lines[1]["help"].is_null());
}

#[test]
fn invalid_utf8_and_missing_files_are_errors_not_panics() {
    let out = nnc(&["check", &spec("binary.nn", b"network \xff\xfe")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[E0003]"), "{err}");

    let out = nnc(&["check", "--format", "json", "/nonexistent/spec.nn"]);
    assert_eq!(out.status.code(), Some(1));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["code"], "E0000");
}

#[test]
fn summary_prints_the_table() {
    let out = nnc(&["summary", &spec("sum.nn", GOOD.as_bytes())]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Network: Tiny"), "{text}");
    assert!(text.contains("dense1 (dense(3) sigmoid)  [3]"), "{text}");
    assert!(text.contains("Total params: 17"), "{text}");
}

#[test]
fn summary_of_a_bad_spec_exits_1() {
    let out = nnc(&["summary", &spec("sumbad.nn", BAD.as_bytes())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0302"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(nnc(&["check"]).status.code(), Some(2));
    assert_eq!(nnc(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn emit_prints_the_same_code_as_the_build_script_api() {
    let src =
        "/// Tiny.\nnetwork Tiny(x: [2]) -> [2] {\n    dense(3) sigmoid\n    dense(2) softmax\n}\n";
    let path = spec("emit.nn", src.as_bytes());
    let out = nnc(&["emit", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap();
    assert_eq!(code, nnc_dsl::build::compile_file(&path).unwrap());
    assert!(code.contains("pub struct Tiny"), "{code}");

    let bad = spec("emit_bad.nn", b"network Tiny(x: [2]) -> [3] { dense(2) }");
    let out = nnc(&["emit", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("emit_bad.nn:1:25") && err.contains('^'),
        "{err}"
    );
}

/// A spec for the convolution diagnostics: `conv` and `pool` are put in.
fn cnn(conv: &str, pool: &str) -> String {
    format!("network A(x: [28, 28, 1]) -> [10] {{\n    {conv}\n    {pool}\n    flatten\n    dense(10)\n}}\n")
}

#[test]
fn check_convolution_errors() {
    for (name, src, code, text) in [
        (
            "e0308.nn",
            "network A(x: [28, 28]) -> [10] {\n    conv2d(8, 3) relu\n    flatten\n    dense(10)\n}\n".to_string(),
            "error[E0308]",
            "help: add `reshape([28, 28, 1])` before this layer for a 28x28 grayscale image",
        ),
        (
            "e0309.nn",
            cnn("conv2d(8, 29)", "max_pool2d(2)"),
            "error[E0309]",
            "the kernel of `conv2d` spans 29 rows, more than the 28 rows",
        ),
        (
            "e0310.nn",
            cnn("conv2d(8, 3)", "max_pool2d(2, padding = 3)"),
            "error[E0310]",
            "the padding of `max_pool2d` (3 rows) must be smaller than its window (2 rows)",
        ),
    ] {
        let path = spec(name, src.as_bytes());
        let out = nnc(&["check", &path]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(code) && err.contains(text), "{name}: {err}");
    }
}

#[test]
fn warnings_are_printed_but_do_not_fail() {
    let path = spec(
        "w0301.nn",
        cnn("conv2d(32, 4) relu", "max_pool2d(3)").as_bytes(),
    );
    let out = nnc(&["check", &path]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("warning[W0301]: `max_pool2d` never reads 1 of 25 rows and 1 of 25 columns of its input [25, 25, 32]"),
        "{err}"
    );
    let out = nnc(&["check", "--format", "json", &path]);
    assert_eq!(out.status.code(), Some(0));
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(
        (line["code"].as_str(), line["severity"].as_str()),
        (Some("W0301"), Some("warning"))
    );
    // The summary shows the size arithmetic and the multiply-adds.
    let out = nnc(&["summary", &path]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("rows and columns (28 - 4) / 1 + 1 = 25"),
        "{table}"
    );
    assert!(
        table.contains("rows and columns (25 - 3) / 3 + 1 = 8; drops 1 rows, 1 columns"),
        "{table}"
    );
    // conv: 25·25·32 outputs of 4·4·1 products; dense: 8·8·32·10.
    assert!(
        table.contains("320,000") && table.contains("20,480"),
        "{table}"
    );
}
