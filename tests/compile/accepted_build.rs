//! "Every spec the checker accepts builds and trains": random specs from
//! `support/specgen.rs` that `nnc_dsl::compile` accepts are emitted into one
//! temporary crate (one module per spec) that depends on this crate by path,
//! built with `cargo build` in the workspace's target directory (so the
//! dependencies are reused), and run: each network trains one epoch on data
//! of its shapes, and `predict_one` agrees with `predict`. Each spec is also
//! emitted with the dead-cell pass off (`lower::Options`): both plans give
//! the same outputs and, without dropout (whose masks depend on the buffer
//! sizes), the same parameter gradients.
//!
//! The seed is fixed; `NNC_ACCEPTED_SPECS=N` raises the count (default 24)
//! and `NNC_ACCEPTED_SEED` changes the sample.
//!
//! In `nnc-compile-tests` because it needs `nnc-dsl`, which is not a
//! dev-dependency of `nnc`.

#[path = "../support/specgen.rs"]
mod specgen;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use specgen::{GenNet, Targets};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `let x = ...; let y = ...;` for `n` samples of `net`'s shapes.
fn data(net: &GenNet, n: usize) -> String {
    let in_shape: Vec<String> = net.input.iter().map(|d| d.to_string()).collect();
    let out_width: usize = net.output.iter().product();
    let y_shape: Vec<String> = net.output.iter().map(|d| d.to_string()).collect();
    let x = format!(
        "let x = ::nnc::ndarray::ArrayD::from_shape_fn(::std::vec![{n}, {}], |i| {{ let k: usize = ::nnc::ndarray::Dimension::slice(&i).iter().fold(7, |a, &b| a * 31 + b); (k % 17) as f32 / 17.0 - 0.5 }});",
        in_shape.join(", ")
    );
    let y = match net.targets {
        Targets::Values => format!(
            "let y = ::nnc::ndarray::ArrayD::from_shape_fn(::std::vec![{n}, {}], |i| {{ let k: usize = ::nnc::ndarray::Dimension::slice(&i).iter().fold(3, |a, &b| a * 13 + b); (k % 11) as f32 / 11.0 }});",
            y_shape.join(", ")
        ),
        Targets::Probabilities => format!(
            "let y = ::nnc::ndarray::ArrayD::from_shape_fn(::std::vec![{n}, {}], |i| ((i[0] + i[1]) % 2) as f32);",
            y_shape.join(", ")
        ),
        Targets::OneHot => format!(
            "let y = ::nnc::ndarray::ArrayD::from_shape_fn(::std::vec![{n}, {out_width}], |i| ::core::primitive::f32::from(i[0] % {out_width} == i[1]));"
        ),
        Targets::Labels(k) => format!(
            "let y = ::nnc::ndarray::ArrayD::from_shape_fn(::std::vec![{n}], |i| (i[0] % {k}) as f32);"
        ),
    };
    format!("{x}\n{y}")
}

/// The module of one spec: its generated code and a `run` that trains and
/// predicts with each network.
fn module(code: &str, whole: &str, nets: &[GenNet], dropout: bool) -> String {
    let mut run = String::new();
    for net in nets {
        let name = &net.name;
        let in_width: usize = net.input.iter().product();
        let one_ty = net
            .input
            .iter()
            .rev()
            .fold("0.0f32".to_string(), |inner, d| format!("[{inner}; {d}]"));
        let flatten = ".as_flattened_mut()".repeat(net.input.len() - 1);
        let _ = write!(
            run,
            r#"
    {{
        {data}
        let mut net = {name}::new(1);
        let mut cfg = {name}::train_config();
        cfg.verbose = ::nnc::train::Verbosity::Silent;
        let data = ::nnc::Dataset::new(x.clone(), y).expect("data of the network's shapes");
        let history = ::nnc::fit(&mut net, &cfg, &data).expect("one epoch trains");
        let loss = history.get("loss").expect("a loss column");
        assert!(loss.iter().all(|l| l.is_finite()), "loss {{loss:?}}");
        let batch = ::nnc::Model::forward(&mut net, x.view(), false).expect("predict").to_owned();
        let mut one = {one_ty};
        let first: ::std::vec::Vec<f32> = x.iter().take({in_width}).copied().collect();
        one{flatten}.copy_from_slice(&first);
        let single = net.predict_one(&one);
        for (a, b) in single.iter().zip(batch.iter()) {{
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "predict_one {{a}} != predict {{b}}");
        }}
        // The plan computed whole, with the trained parameters.
        let mut full = whole::{name}::new(1);
        let mut values = ::std::vec::Vec::new();
        ::nnc::Model::visit_params(&mut net, &mut |p| values.push(p.value.iter().copied().collect::<::std::vec::Vec<f32>>()));
        let mut at = 0;
        ::nnc::Model::visit_params(&mut full, &mut |mut p| {{ p.value.iter_mut().zip(&values[at]).for_each(|(v, w)| *v = *w); at += 1; }});
        let close = |a: &[f32], b: &[f32], what: &str| {{
            let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (a, b) in a.iter().zip(b) {{
                assert!((a - b).abs() <= 1e-4 * scale, "{{what}}: {{a}} (dead cells skipped) != {{b}} (whole)");
            }}
        }};
        let batch = ::nnc::Model::forward(&mut net, x.view(), false).expect("predict").to_owned();
        let full_batch = ::nnc::Model::forward(&mut full, x.view(), false).expect("predict").to_owned();
        close(batch.as_slice().unwrap(), full_batch.as_slice().unwrap(), "outputs");
        if !{dropout} {{
            let mut grads = |m: &mut dyn ::nnc::Model| {{
                let y = ::nnc::Model::forward(m, x.view(), true).expect("forward").to_owned();
                let dy = y.mapv(|v| v.sin());
                ::nnc::Model::backward(m, dy.view(), ::nnc::GradAt::Output).expect("backward");
                let mut g = ::std::vec::Vec::new();
                ::nnc::Model::visit_params(m, &mut |p| g.push(p.grad.iter().copied().collect::<::std::vec::Vec<f32>>()));
                g
            }};
            let (a, b) = (grads(&mut net), grads(&mut full));
            for (a, b) in a.iter().zip(&b) {{
                close(a, b, "gradients");
            }}
        }}
    }}"#,
            data = data(net, 8),
        );
    }
    format!("{code}\n#[allow(dead_code, unused_imports)]\nmod whole {{\n{whole}\n}}\n#[allow(dead_code)]\npub fn run() {{{run}\n}}\n")
}

/// The workspace's root, where `nnc` is; this crate is `tests/compile/`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's own target directory: the crate's dependencies are
/// built there already (with the same profile settings, copied below).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn accepted_specs_build_and_train() {
    let count = env_or("NNC_ACCEPTED_SPECS", 24) as usize;
    let seed = env_or("NNC_ACCEPTED_SEED", 2026);
    let mut rng = specgen::Rng::new(seed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("accepted-build");
    let _ = std::fs::remove_dir_all(dir.join("src"));
    let mut specs = Vec::new();
    let mut rejected = 0;
    while specs.len() < count {
        let spec = specgen::spec(&mut rng);
        match nnc_dsl::compile(&spec.src) {
            Ok(program) => {
                let code = nnc_dsl::emit::format(nnc_dsl::emit::emit_program(&program))
                    .expect("emitted code parses");
                let whole = nnc_dsl::emit::format(nnc_dsl::emit::emit_program_with(
                    &program,
                    nnc_dsl::lower::Options {
                        skip_dead_cells: false,
                    },
                ))
                .expect("emitted code parses");
                let i = specs.len();
                write(
                    &dir.join(format!("src/s{i}.rs")),
                    &format!(
                        "// Spec:\n{}\n{}",
                        comment(&spec.src),
                        module(&code, &whole, &spec.nets, spec.src.contains("dropout"))
                    ),
                );
                specs.push(spec);
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(
        rejected * 10 <= count,
        "the generator wrote {rejected} unsound specs"
    );
    let mut main = String::new();
    for i in 0..specs.len() {
        let _ = writeln!(main, "mod s{i};");
    }
    main.push_str(
        "fn main() {\n    let mut failed = ::std::vec::Vec::new();\n    for (i, run) in [",
    );
    for i in 0..specs.len() {
        let _ = write!(main, "s{i}::run as fn(), ");
    }
    main.push_str(
        "].into_iter().enumerate() {\n        if ::std::panic::catch_unwind(run).is_err() {\n            failed.push(i);\n        }\n    }\n    println!(\"failed: {failed:?}\");\n}\n",
    );
    write(&dir.join("src/main.rs"), &main);
    let root = workspace_root();
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"nnc-accepted-build\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nnnc = {{ path = {:?} }}\n\n\
             # As the workspace's test profile (this test runs under\n\
             # `cargo test`), so that its builds of nnc and the\n\
             # dependencies are reused.\n\
             [profile.dev]\nopt-level = 1\n\n\
             [profile.dev.package.\"*\"]\nopt-level = 2\n\n[workspace]\n",
            root.display().to_string()
        ),
    );
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo runs");
    // A one-off crate: its incremental state (gigabytes for a large
    // sample) is never reused. (Not `CARGO_INCREMENTAL=0`, which would
    // rebuild nnc instead of reusing the test build.)
    if let Ok(dirs) = std::fs::read_dir(target_dir().join("debug/incremental")) {
        for d in dirs.flatten() {
            if d.file_name()
                .to_string_lossy()
                .starts_with("nnc_accepted_build-")
            {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // Which specs: rustc names the module files.
        let mut bad: Vec<usize> = stderr
            .match_indices("src/s")
            .filter_map(|(at, _)| {
                let rest = &stderr[at + 5..];
                rest[..rest.find(".rs")?].parse().ok()
            })
            .collect();
        bad.sort_unstable();
        bad.dedup();
        let shown: Vec<&str> = bad.iter().take(3).map(|&i| specs[i].src.as_str()).collect();
        panic!(
            "accepted specs {bad:?} do not build:\n{}\n\n{}",
            shown.join("\n"),
            &stderr[..stderr.len().min(6000)]
        );
    }
    let exe = target_dir().join("debug").join("nnc-accepted-build");
    let run = Command::new(&exe).output().expect("the built crate runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let failed: Vec<usize> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("failed: "))
        .map(|l| {
            l.trim_matches(['[', ']'])
                .split(", ")
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| {
            panic!(
                "no result line: {stdout}\n{}",
                String::from_utf8_lossy(&run.stderr)
            )
        });
    let shown: Vec<&str> = failed
        .iter()
        .take(3)
        .map(|&i| specs[i].src.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "accepted specs {failed:?} of {count} build but do not train or predict:\n{}\n\n{}",
        shown.join("\n"),
        String::from_utf8_lossy(&run.stderr)
    );
}

fn comment(src: &str) -> String {
    src.lines().map(|l| format!("// {l}\n")).collect()
}
