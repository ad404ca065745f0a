//! Bad input of every kind gives diagnostics in bounded time, never a panic.

use std::time::{Duration, Instant};

use nnc_dsl::{compile, decode, render};
use proptest::prelude::*;

const SPEC: &str = "/// Doc.
network Mnist(image: [28, 28]) -> [10] {
    flatten
    dense(128, init = normal(0, 0.1), l2 = 1e-4) relu : [128]
    dropout(0.2)
    reshape([8, -1])
    flatten
    dense(10) softmax
}
train Mnist {
    loss categorical_crossentropy(classes = 10)
    optimizer adam(lr = 1e-3)
    metrics [accuracy]
    early_stopping(monitor = \"val_loss\", patience = 5)
}
";

/// Compiles and renders: every diagnostic must render too.
fn run(src: &str) {
    if let Err(diags) = compile(src) {
        assert!(!diags.is_empty());
        let text = render(&diags, "fuzz.nn", src);
        assert!(text.contains("error["));
    }
}

#[test]
fn the_seed_spec_is_sound() {
    compile(SPEC).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_text(src in "[a-z0-9_ ,:;\\[\\](){}=\"/*.\\n-]{0,120}") {
        run(&src);
    }

    #[test]
    fn arbitrary_unicode(src in any::<String>()) {
        run(&src);
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        match decode(&bytes) {
            Ok(src) => run(src),
            Err(d) => {
                let lossy = String::from_utf8_lossy(&bytes);
                assert!(render(&d, "bytes.nn", &lossy).contains("E0003"));
            }
        }
    }

    #[test]
    fn mutated_spec(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[a-z0-9(),\\[\\]{}=:;\" -]{0,3}"), 1..6)
    ) {
        let mut src = SPEC.to_string();
        for (at, kind, text) in edits {
            let mut i = at.index(src.len() + 1);
            while !src.is_char_boundary(i) {
                i -= 1;
            }
            match kind {
                0 => src.insert_str(i, &text),
                1 => {
                    let mut j = (i + text.len()).min(src.len());
                    while !src.is_char_boundary(j) {
                        j -= 1;
                    }
                    src.replace_range(i..j, "");
                }
                _ => {
                    let mut j = (i + 1).min(src.len());
                    while !src.is_char_boundary(j) {
                        j += 1;
                    }
                    src.replace_range(i..j, &text);
                }
            }
        }
        run(&src);
    }
}

fn bounded(what: &str, src: &str) {
    let start = Instant::now();
    run(src);
    let took = start.elapsed();
    // Generous for unoptimised builds on a loaded 2-core machine.
    assert!(took < Duration::from_secs(20), "{what} took {took:?}");
}

#[test]
fn empty_and_blank_files_are_sound() {
    compile("").unwrap();
    compile("  \n// only a comment\n/* and another */\n").unwrap();
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    for open in ["(", "[", "{", "dense("] {
        let src = format!(
            "network A(x: [1]) -> [1] {{ dense({} }}",
            open.repeat(200_000)
        );
        bounded("deep nesting", &src);
        let d = compile(&src).unwrap_err();
        assert_eq!(d[0].code, "E0002");
    }
    // Unbalanced closers do not confuse the depth count.
    bounded("closers", &")]}".repeat(100_000));
}

#[test]
fn nesting_just_under_the_limit_is_parsed() {
    let depth = nnc_dsl::parse::MAX_NESTING - 2;
    let src = format!(
        "network A(x: [1]) -> [1] {{ dense(1, init = {}zeros{}) }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    // Parses, then fails the type check (a list is not an initialiser).
    let d = compile(&src).unwrap_err();
    assert_eq!(d[0].code, "E0201");
}

#[test]
fn a_one_megabyte_spec() {
    // About 1 MB of layers in one network: checks in linear time.
    let layer = "    dense(16) relu\n";
    let n = 1_000_000 / layer.len();
    let src = format!("network Big(x: [16]) -> [16] {{\n{}}}\n", layer.repeat(n));
    assert!(src.len() > 1_000_000);
    let start = Instant::now();
    // Past the layer limit, the whole network is still checked, and the
    // limit is the one error.
    let diags = compile(&src).unwrap_err();
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0603"]);
    assert!(start.elapsed() < Duration::from_secs(20));
    // And 1 MB of garbage, and a 1 MB name, and a 1 MB number.
    bounded("garbage", &"@#!".repeat(350_000));
    bounded(
        "long name",
        &format!("network {} (x: [1]) -> [1] {{}}", "a".repeat(1_000_000)),
    );
    bounded(
        "long number",
        &format!(
            "network A(x: [1]) -> [1] {{ dense({}) }}",
            "9".repeat(1_000_000)
        ),
    );
    bounded(
        "many errors",
        &format!(
            "network A(x: [1]) -> [1] {{ {} }}",
            "dense(0) ".repeat(100_000)
        ),
    );
}

#[test]
fn absurd_numbers_are_diagnostics() {
    for src in [
        "network A(x: [99999999999999999999]) -> [1] { flatten dense(1) }",
        "network A(x: [65536, 65536, 65536]) -> [1] { flatten dense(1) }",
        "network A(x: [1]) -> [1] { dense(1, l2 = 1e39) }",
        "network A(x: [1]) -> [1] { dense(1) } train A { loss mse seed 99999999999999999999999 }",
        "network A(x: [1]) -> [1] { dense(1) } train A { loss mse epochs 1e9 }",
        "network A(x: [4]) -> [1] { reshape([-1, -1]) dense(1) }",
    ] {
        let d = compile(src).expect_err(src);
        assert!(d.iter().all(|d| d.code.starts_with("E0")), "{src}: {d:?}");
    }
}

/// Words and values from the language, so that random specs get past the
/// parser and exercise the checker's argument binding and shape rules.
const WORDS: &[&str] = &[
    "dense",
    "flatten",
    "reshape",
    "dropout",
    "relu",
    "softmax",
    "sigmoid",
    "leaky_relu",
    "elu",
    "linear",
    "mse",
    "mae",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "sgd",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "adadelta",
    "zeros",
    "constant",
    "normal",
    "uniform",
    "he_normal",
    "units",
    "init",
    "kernel_init",
    "bias_init",
    "l1",
    "l2",
    "use_bias",
    "trainable",
    "name",
    "rate",
    "alpha",
    "lr",
    "momentum",
    "nesterov",
    "classes",
    "from_logits",
    "delta",
    "monitor",
    "patience",
    "min_delta",
    "restore_best",
    "accuracy",
    "bogus",
];
const SETTINGS: &[&str] = &[
    "loss",
    "optimizer",
    "batch",
    "epochs",
    "shuffle",
    "seed",
    "validation_split",
    "metrics",
    "early_stopping",
    "clip_norm",
    "bogus",
];
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "10",
    "0.5",
    "1e-3",
    "-0.5",
    "1e999",
    "99999999999999999999",
    "true",
    "false",
    "\"x\"",
    "\"val_loss\"",
    "[]",
    "[2, 5]",
    "[-1]",
    "[accuracy]",
];

fn call_text(word: usize, args: &[(Option<usize>, usize)], parens: bool) -> String {
    let mut s = WORDS[word % WORDS.len()].to_string();
    if parens {
        let args: Vec<String> = args
            .iter()
            .map(|&(name, v)| {
                let v = if v % 4 == 3 {
                    WORDS[v % WORDS.len()]
                } else {
                    VALUES[v % VALUES.len()]
                };
                match name {
                    Some(n) => format!("{} = {v}", WORDS[n % WORDS.len()]),
                    None => v.to_string(),
                }
            })
            .collect();
        s.push_str(&format!("({})", args.join(", ")));
    }
    s
}

type Calls = Vec<(usize, Vec<(Option<usize>, usize)>, bool)>;

fn calls(max: usize) -> impl Strategy<Value = Calls> {
    proptest::collection::vec(
        (
            0..WORDS.len(),
            proptest::collection::vec((proptest::option::of(0..WORDS.len()), 0..64usize), 0..4),
            any::<bool>(),
        ),
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_well_formed_specs(
        input in proptest::collection::vec(1usize..40, 1..3),
        output in proptest::collection::vec(1usize..40, 1..3),
        layers in calls(8),
        settings in proptest::collection::vec((0..SETTINGS.len(), 0..WORDS.len(), proptest::collection::vec((proptest::option::of(0..WORDS.len()), 0..64usize), 0..3), any::<bool>()), 0..6),
    ) {
        let dims = |d: &[usize]| d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
        let mut src = format!("network N(x: [{}]) -> [{}] {{\n", dims(&input), dims(&output));
        for (w, args, parens) in &layers {
            src.push_str(&format!("    {}\n", call_text(*w, args, *parens)));
        }
        src.push_str("}\ntrain N {\n");
        for (key, w, args, parens) in &settings {
            src.push_str(&format!("    {} {}\n", SETTINGS[*key], call_text(*w, args, *parens)));
        }
        src.push_str("}\n");
        run(&src);
    }
}

#[test]
fn arguments_to_functions_without_parameters() {
    for src in [
        "network A(x: [2]) -> [2] { dense(2) } train A { loss mse(3) }",
        "network A(x: [2]) -> [2] { dense(2) } train A { loss mse optimizer sgd(1, 2, 3, 4) }",
        "network A(x: [2]) -> [2] { relu(1) dense(2, he_normal) }",
        "network A(x: [2]) -> [2] { dense(2, init = zeros(1)) }",
        "network A(x: [2]) -> [2] { dense(2) } train A { loss mse early_stopping(1) }",
    ] {
        let d = compile(src).expect_err(src);
        assert!(d.iter().any(|d| d.code == "E0204"), "{src}: {d:?}");
    }
}

#[path = "../../tests/support/specgen.rs"]
mod specgen;

/// Specs from the generator shared with `tests/compile/accepted_build.rs`:
/// the checker never panics on them, most are accepted, and each accepted
/// one lowers, emits and formats as Rust (whether that Rust builds and
/// trains is that test's job).
#[test]
fn generated_specs_are_accepted_and_emit() {
    let count: usize = std::env::var("NNC_SPECGEN_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let mut rng = specgen::Rng::new(7);
    let mut accepted = 0;
    let mut rejected = std::collections::BTreeMap::<String, (usize, String)>::new();
    for _ in 0..count {
        let spec = specgen::spec(&mut rng);
        match compile(&spec.src) {
            Ok(program) => {
                accepted += 1;
                let code = nnc_dsl::emit::emit_program(&program);
                nnc_dsl::emit::format(code).unwrap_or_else(|e| panic!("{e}\n{}", spec.src));
            }
            Err(diags) => {
                let first = &diags[0];
                let e = rejected
                    .entry(first.code.to_string())
                    .or_insert((0, String::new()));
                e.0 += 1;
                if e.1.is_empty() {
                    e.1 = format!("{}\n{}", render(&diags, "gen.nn", &spec.src), spec.src);
                }
            }
        }
    }
    for (code, (n, example)) in &rejected {
        eprintln!("rejected {n} with {code}, e.g.\n{example}");
    }
    // The generator writes sound specs; a rejection is a generator bug or
    // a checker bug, and both are worth a look.
    assert_eq!(accepted, count, "{rejected:#?}");
}
