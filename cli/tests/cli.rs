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
    let path = spec("good.nn", GOOD.as_bytes());
    let out = nnc(&["check", &path]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    // One line says the spec is sound, with what it declares.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{path}: ok, 1 network (Tiny: [2] -> [2], 17 parameters)\n")
    );
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

/// Runs `nnc check` on `content` and returns (exit code, stderr).
fn check_text(name: &str, content: &str) -> (Option<i32>, String) {
    let out = nnc(&["check", &spec(name, content.as_bytes())]);
    (
        out.status.code(),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

#[test]
fn a_byte_order_mark_and_old_mac_line_ends_are_read_as_text() {
    let (code, err) = check_text("bom.nn", &format!("\u{feff}{GOOD}"));
    assert_eq!(code, Some(0), "{err}");
    let mac = "network A(x: [4]) -> [2] {\r    // dense(9)\r    dense(0)\r}\r";
    let (code, err) = check_text("mac.nn", mac);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("mac.nn:3:11") && err.contains("E0202"),
        "{err}"
    );
}

#[test]
fn e0005_unterminated_string_and_comment_point_at_their_opening() {
    let tail = "\n    dense(2)\n}\n".repeat(5);
    let (code, err) = check_text(
        "unterminated.nn",
        &format!("network A(x: [4]) -> [2] {{\n    dense(2, name = \"oops){tail}"),
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error[E0005]: unterminated string") && err.contains("unterminated.nn:2:21"),
        "{err}"
    );
    let (_, err) = check_text(
        "comment.nn",
        &format!("network A(x: [4]) -> [2] {{\n    /* dense(3){tail}"),
    );
    assert!(
        err.contains("error[E0005]: unterminated block comment") && err.contains("comment.nn:2:5"),
        "{err}"
    );
}

#[test]
fn generated_name_rules_e0405_e0406_and_fused_activation_names() {
    let (code, err) = check_text(
        "reserved.nn",
        "network A(x: [4]) -> [2] {\n    dense(2, name = \"out__1\")\n}\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error[E0405]: a layer name cannot contain `__`, found `out__1`")
            && err.contains("reserved.nn:2:21")
            && err.contains("use a single `_`: `out_1`"),
        "{err}"
    );
    let (code, err) = check_text("prim.nn", "network usize(x: [4]) -> [2] { dense(2) }");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error[E0406]: a network cannot be named `usize`")
            && err.contains("prim.nn:1:9"),
        "{err}"
    );
    // Names of generated items are fine now: a network named `Box` and a
    // layer named like a workspace field.
    let (code, err) = check_text(
        "box.nn",
        "network Box(x: [4]) -> [2] { dense(2, name = \"rows\") }",
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = check_text(
        "fused.nn",
        "network A(x: [4]) -> [2] {\n    dense(2)\n    relu(name = \"r\")\n}\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("`relu` directly after a layer is fused into that layer")
            && err.contains("fused.nn:3:10")
            && err.contains("end the layer before it with `;`"),
        "{err}"
    );
}

#[test]
fn size_limits_e0601_to_e0605_say_which_limit() {
    let tall = format!(
        "network Tall(x: [4]) -> [4] {{\n{}}}\n",
        "    dense(4) relu\n".repeat(1001)
    );
    let cases = [
        (
            "params.nn".to_string(),
            "network Huge(x: [16777216]) -> [10] {\n    dense(16777216) relu\n    dense(10)\n}\n".to_string(),
            "error[E0601]: network `Huge` has 281475161260042 parameters; at most 2147483648 (2^31) are supported",
            "params.nn:1:9",
        ),
        (
            "acts.nn".into(),
            "network Wide(image: [1024, 1024, 3]) -> [10] {\n    conv2d(64, 3, padding = same) relu\n    conv2d(64, 3, padding = same) relu\n    global_avg_pool2d\n    dense(10)\n}\n".into(),
            "error[E0602]: network `Wide` needs 1536163988 workspace elements per sample",
            "acts.nn:1:9",
        ),
        (
            "tall.nn".into(),
            tall,
            "error[E0603]: network `Tall` has 1001 layers; at most 1000 are supported",
            "tall.nn:1002:5",
        ),
        (
            "rank.nn".into(),
            "network Deep(x: [2, 2, 2, 2, 2, 2]) -> [64] {\n    flatten\n}\n".into(),
            "error[E0604]: the input of `Deep` has rank 6; at most 5 is supported",
            "rank.nn:1:17",
        ),
        (
            "inferred.nn".into(),
            "network Long(x: [8192, 8192]) -> [4096, 16384] {\n    reshape([-1])\n    reshape([4096, 16384])\n}\n".into(),
            "error[E0605]: `reshape` infers `-1` as 67108864, above the largest dimension 16777216",
            "inferred.nn:2:14",
        ),
    ];
    for (file, src, message, at) in cases {
        let (code, err) = check_text(&file, &src);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(message) && err.contains(at), "{err}");
        assert_eq!(err.matches("error[").count(), 1, "{err}");
    }
}

#[test]
fn invisible_characters_fat_arrows_and_rounding_in_messages() {
    let (_, err) = check_text("nbsp.nn", "network A(x: [4]) ->\u{a0}[2] { dense(2) }");
    assert!(err.contains("U+00A0 (no-break space)"), "{err}");
    let first = err.lines().next().unwrap();
    assert!(first.is_ascii(), "{first}");
    let out = nnc(&[
        "check",
        "--format",
        "json",
        &spec(
            "zwsp.nn",
            "network A(x: [4]) -> [2] { dense\u{200b}(2) }".as_bytes(),
        ),
    ]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(d["message"].as_str().unwrap().contains("U+200B"), "{d}");
    let (_, err) = check_text("arrow.nn", "network A(x: [4]) => [2] { dense(2) }");
    assert!(
        err.contains("found `=>`") && err.contains("help: the output shape follows `->`"),
        "{err}"
    );
    let (_, err) = check_text(
        "round.nn",
        "network A(x: [4]) -> [4] {\n    dropout(0.99999999)\n}\n",
    );
    assert!(
        err.contains("found `0.99999999`, which rounds to 1.0 in f32")
            && err.contains("round.nn:2:13"),
        "{err}"
    );
}

#[test]
fn errors_on_a_long_line_print_a_window() {
    let pad = " ".repeat(1000);
    let body: String = (0..100).map(|_| format!("dropout(2){pad}")).collect();
    let (code, err) = check_text("long.nn", &format!("network A(x: [4]) -> [4] {{ {body}}}"));
    assert_eq!(code, Some(1));
    assert_eq!(err.matches("error[E0202]").count(), 100);
    assert!(err.len() < 60_000, "{} bytes for 100 errors", err.len());
}

/// The graph form's codes, each through the binary: errors exit 1, the
/// unused-value warning is printed but exits 0.
#[test]
fn graph_errors_and_the_unused_value_warning() {
    let cases = [
        ("network A(x: [4]) -> [4] {\n    let h = dense(4) relu\n    add(h, g)\n}\n", "error[E0112]: no value named `g`"),
        ("network A(x: [4]) -> [4] {\n    let a = b >> dense(4)\n    let b = x >> dense(4)\n    add(a, b)\n}\n", "error[E0112]: `b` is used before its definition"),
        ("network A(x: [4]) -> [8] {\n    let h = dense(8) relu\n    add(h, x)\n}\n", "error[E0308]: `add` expects values of one shape, found [8] and [4]"),
        ("network A(x: [2, 3]) -> [2, 5] {\n    let h = x >> flatten\n    concat(x, h)\n}\n", "error[E0309]: `concat` joins values along their last axis"),
        ("network A(x: [4]) -> [4] {\n    let a = b >> dense(4)\n    let b = dense(4)\n    add(a, b)\n}\n", "error[E0310]: this layer reads `b`"),
    ];
    for (i, (src, want)) in cases.iter().enumerate() {
        let out = nnc(&["check", &spec(&format!("graph{i}.nn"), src.as_bytes())]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want), "{err}");
    }
    let src = "network A(x: [4]) -> [2] {\n    let h = dense(8) relu\n    let unused = dense(8) tanh\n    h >> dense(2)\n}\n";
    let out = nnc(&["check", &spec("unused.nn", src.as_bytes())]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning[W0001]: value `unused` is never used"),
        "{err}"
    );
    // A residual network checks clean.
    let src = "network R(x: [4]) -> [3] {\n    let h = dense(4) relu\n    let r = add(h, x)\n    concat(r, x)\n    dense(3) softmax\n}\n";
    let out = nnc(&["check", &spec("residual.nn", src.as_bytes())]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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
            "e0311.nn",
            "network A(x: [28, 28]) -> [10] {\n    conv2d(8, 3) relu\n    flatten\n    dense(10)\n}\n".to_string(),
            "error[E0311]",
            "help: add `reshape([28, 28, 1])` before this layer for a 28x28 grayscale image",
        ),
        (
            "e0312.nn",
            cnn("conv2d(8, 29)", "max_pool2d(2)"),
            "error[E0312]",
            "the kernel of `conv2d` spans 29 rows, more than the 28 rows",
        ),
        (
            "e0313.nn",
            cnn("conv2d(8, 3)", "max_pool2d(2, padding = 3)"),
            "error[E0313]",
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

/// A safetensors file holding `tensors` (name, shape, values).
fn weights_file(name: &str, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> String {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((n, s, _), b)| {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap();
        (n.to_string(), view)
    });
    let file = safetensors::tensor::serialize(views, None).unwrap();
    spec(name, &file)
}

#[test]
fn export_onnx_writes_the_model_of_the_spec_and_weights() {
    let path = spec("export.nn", GOOD.as_bytes());
    let tensors = [
        (
            "dense1.weight",
            vec![2, 3],
            vec![0.1, -0.2, 0.3, 0.4, 0.5, -0.6],
        ),
        ("dense1.bias", vec![3], vec![0.01, 0.02, 0.03]),
        (
            "dense2.weight",
            vec![3, 2],
            vec![1.0, -1.0, 0.5, 0.25, -0.5, 2.0],
        ),
        ("dense2.bias", vec![2], vec![0.0, 0.1]),
        // Optimizer state in a checkpoint is not the network's: ignored.
        ("optimizer/dense1.weight/m", vec![2, 3], vec![0.0; 6]),
    ];
    let weights = weights_file("export.safetensors", &tensors);
    let out_path = spec("export.onnx", b"");
    let out = nnc(&["export-onnx", &path, &weights, "-o", &out_path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("network `Tiny` written as ONNX (opset 17)")
    );
    // The same bytes as the library makes from the compiler's graph.
    let program = nnc_dsl::compile(GOOD).unwrap();
    let graph = nnc_dsl::graph::graph(&program.networks[0]);
    let mut w = nnc_onnx::Weights::new();
    for (name, shape, values) in &tensors[..4] {
        w.insert(
            name.to_string(),
            nnc_onnx::Tensor::new(shape.clone(), values.clone()),
        );
    }
    let want = nnc_onnx::to_bytes(&graph, &w).unwrap();
    assert_eq!(std::fs::read(&out_path).unwrap(), want);
}

#[test]
fn export_onnx_errors_name_what_is_wrong() {
    let path = spec("export_err.nn", GOOD.as_bytes());
    let partial = weights_file(
        "partial.safetensors",
        &[("dense1.weight", vec![2, 3], vec![0.0; 6])],
    );
    let out_path = spec("export_err.onnx", b"");
    let out = nnc(&["export-onnx", &path, &partial, "-o", &out_path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("does not have the parameters `dense1.bias`, `dense2.weight`, `dense2.bias` of network `Tiny`"),
        "{err}"
    );
    // A tensor of the wrong shape names the layer.
    let wrong = weights_file(
        "wrong.safetensors",
        &[
            ("dense1.weight", vec![3, 2], vec![0.0; 6]),
            ("dense1.bias", vec![3], vec![0.0; 3]),
            ("dense2.weight", vec![3, 2], vec![0.0; 6]),
            ("dense2.bias", vec![2], vec![0.0; 2]),
        ],
    );
    let out = nnc(&["export-onnx", &path, &wrong, "-o", &out_path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot export layer `dense1` to ONNX: its parameter `dense1.weight` has shape [3, 2], expected [2, 3]"),
        "{err}"
    );
    // Several networks: which one must be said.
    let two = spec(
        "two.nn",
        format!("{GOOD}\nnetwork Other(x: [2]) -> [1] {{ dense(1) }}\n").as_bytes(),
    );
    let out = nnc(&["export-onnx", &two, &wrong, "-o", &out_path]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("has 2 networks (Tiny, Other); choose one with --network"),
        "{err}"
    );
    let out = nnc(&[
        "export-onnx",
        &two,
        &wrong,
        "-o",
        &out_path,
        "--network",
        "Nope",
    ]);
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("has no network `Nope`"));
    // Not a weights file.
    let out = nnc(&["export-onnx", &path, &path, "-o", &out_path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("not a safetensors file"));
}

/// Lowercase network names: `check` warns (W0002) at each name with a
/// CamelCase suggestion and exits 0; `emit` still writes the code, with the
/// name as given.
#[test]
fn lowercase_network_names_are_a_warning() {
    let src = "network mlp(x: [2]) -> [2] {\n    dense(2) softmax\n}\n\nnetwork my_net(x: [2]) -> [1] {\n    dense(1)\n}\n";
    let path = spec("lowercase.nn", src.as_bytes());
    let out = nnc(&["check", &path]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    for (name, at, camel) in [("mlp", "1:9", "Mlp"), ("my_net", "5:9", "MyNet")] {
        let warning = format!("warning[W0002]: network name `{name}` is not UpperCamelCase");
        assert!(err.contains(&warning), "{err}");
        assert!(err.contains(&format!("{path}:{at}")), "{err}");
        assert!(err.contains(&format!("call it `{camel}`")), "{err}");
    }
    let out = nnc(&["emit", &path]);
    assert_eq!(out.status.code(), Some(0));
    let code = String::from_utf8(out.stdout).unwrap();
    assert!(code.contains("pub struct my_net"), "{code}");
}
