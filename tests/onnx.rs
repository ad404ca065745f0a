//! ONNX export, checked by a runtime no one here wrote: every example
//! network (briefly trained on its bundled data) and every layer kind is
//! exported with `nnc::onnx`, checked with the ONNX checker and run in
//! onnxruntime (`tests/onnx/check.py`) on at least 100 real samples, and
//! the outputs are compared with nnc's own inference.
//!
//! The Python is `$NNC_ONNX_PYTHON`, or else `python3` if it imports
//! onnxruntime, onnx and numpy. Without one the tests fail when `CI` or
//! `NNC_REQUIRE_ONNXRUNTIME` is set (`.ci/run` sets up a venv and sets the
//! latter) unless `NNC_ONNX_SKIP` gives the reason (`.ci/run` sets it when
//! PyPI cannot be reached), and otherwise say loudly that they skip.
//!
//! Tolerance: the largest difference over a batch must be at most 1e-5 of
//! the output's scale (its largest magnitude). Both sides compute in
//! float32 but add the products of a dot product or convolution in
//! different orders, which moves results by a few units in the last place
//! (about 1e-7 relative) per operation; 1e-5 leaves room for that through
//! 15 layers, and a wrong layout, padding or constant is off by far more.

#![allow(clippy::duplicate_mod)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use nnc::ndarray::{ArrayD, Axis, IxDyn, Slice};
use nnc::train::{TrainConfig, Verbosity};
use nnc::{Dataset, Model};

#[path = "../examples/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../examples/multilabel.rs"]
mod multilabel;

mod mnist {
    nnc::include_network!("examples/specs/mnist.nn");
}
mod boston {
    nnc::include_network!("examples/specs/boston_housing.nn");
}
mod digits {
    nnc::include_network!("examples/specs/digits.nn");
}
mod mnist_cnn {
    nnc::include_network!("examples/specs/mnist_cnn.nn");
}
mod residual {
    nnc::include_network!("examples/specs/residual.nn");
}
mod layers {
    nnc::include_network!("tests/specs/layers.nn");
}
mod cnn {
    nnc::include_network!("tests/specs/cnn.nn");
}

nnc::network! {
    /// Merges of images in both of the export's layouts, softmax over
    /// channels, padded pooling, and a flatten after convolutions.
    network Merges(x: [6, 5, 2]) -> [9] {
        let a = conv2d(3, 3, padding = same) elu(alpha = 0.7)
        let b = x >> conv2d(3, 1, use_bias = false) tanh
        let s = add(a, b)
        let c = concat(s, x)
        let p = c >> softmax
        let q = s >> leaky_relu(alpha = 0.1)
        let m = concat(q, s)
        let t = m >> avg_pool2d(2, padding = same)
        let u = p >> max_pool2d(2, padding = same)
        let v = concat(t, u)
        let w = v >> softmax
        let g = w >> global_avg_pool2d
        let f = v >> flatten
        let h = concat(f, g)
        dropout(0.3)
        dense(9) gelu
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// The Python to run `check.py` with, or `None` after saying why the
/// check is skipped (panicking instead where it is required).
fn python(test: &str) -> Option<String> {
    if let Ok(py) = std::env::var("NNC_ONNX_PYTHON") {
        if !py.is_empty() {
            // Set on purpose: a Python without the modules fails in check.py.
            return Some(py);
        }
    }
    let found = Command::new("python3")
        .args(["-c", "import onnxruntime, onnx, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("python3".into());
    }
    let why = "no Python with onnxruntime, onnx and numpy: set NNC_ONNX_PYTHON, or `pip install onnxruntime onnx numpy`";
    // Straight to stderr: the test harness would swallow `eprintln!` of a passing test.
    let loud = |msg: String| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** {test}: ONNX runtime check SKIPPED: {msg} ***\n"
        );
    };
    if set("NNC_ONNX_SKIP") {
        let reason = std::env::var("NNC_ONNX_SKIP").unwrap_or_default();
        loud(format!("{reason} ({why})"));
        return None;
    }
    if set("CI") || set("NNC_REQUIRE_ONNXRUNTIME") {
        panic!("{why}; CI or NNC_REQUIRE_ONNXRUNTIME requires the check");
    }
    loud(why.to_string());
    None
}

/// What `check.py` reports about one case (`result.txt`): one record a
/// line, fields separated by tabs, the first field the record's key, and
/// `\\`, `\t`, `\n`, `\r` escaped in fields (the format is described in
/// `check.py`). A line format rather than JSON so that `nnc` needs no JSON
/// parser among its dev-dependencies.
struct Report {
    path: PathBuf,
    /// Line number, key, and the other fields, unescaped.
    records: Vec<(usize, String, Vec<String>)>,
}

impl Report {
    /// Reads and parses `path`, panicking with the file and line of
    /// anything malformed.
    fn read(path: &Path) -> Report {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: cannot read check.py's report: {e}", path.display()));
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = || format!("{}:{}", path.display(), i + 1);
            if line.is_empty() {
                panic!("{}: empty line", at());
            }
            let mut fields = line
                .split('\t')
                .map(|f| unescape(f).unwrap_or_else(|e| panic!("{}: {e} in {line:?}", at())));
            let key = fields.next().unwrap_or_default();
            records.push((i + 1, key, fields.collect()));
        }
        Report {
            path: path.to_owned(),
            records,
        }
    }

    /// The fields of the record `key`, which must occur exactly once.
    fn one(&self, key: &str) -> &[String] {
        self.unique(key, |_| true)
    }

    /// The fields after the first of the record `key` whose first field is
    /// `first` (`metadata nnc.spec ...`), which must occur exactly once.
    fn keyed(&self, key: &str, first: &str) -> &[String] {
        &self.unique(key, |f| f.first().is_some_and(|f| f == first))[1..]
    }

    fn unique(&self, key: &str, pick: impl Fn(&[String]) -> bool) -> &[String] {
        let mut found = self.records.iter().filter(|(_, k, f)| k == key && pick(f));
        match (found.next(), found.next()) {
            (Some((_, _, fields)), None) => fields,
            (None, _) => panic!(
                "{}: no record {key:?} (or not the one wanted)",
                self.path.display()
            ),
            (Some((a, ..)), Some((b, ..))) => panic!(
                "{}: record {key:?} twice, lines {a} and {b}",
                self.path.display()
            ),
        }
    }

    /// A field that must be a decimal number.
    fn number(&self, field: &str) -> usize {
        field
            .parse()
            .unwrap_or_else(|e| panic!("{}: {field:?} is not a number: {e}", self.path.display()))
    }
}

/// Undoes `check.py`'s escaping of a field.
fn unescape(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            Some(other) => return Err(format!("unknown escape \\{other}")),
            None => return Err("a backslash at the end of a field".into()),
        });
    }
    Ok(out)
}

/// One network to check: exported, run in onnxruntime on `x`, compared.
struct Case<'a> {
    name: &'static str,
    net: &'a mut dyn Model,
    x: ArrayD<f32>,
}

/// Exports and checks every case; returns each case's largest difference
/// relative to its output scale.
fn check(test: &str, py: &str, cases: Vec<Case<'_>>) -> Vec<(&'static str, f32)> {
    let base = std::env::temp_dir().join(format!("nnc-onnx-{}-{test}", std::process::id()));
    let mut prepared = Vec::new();
    for case in cases {
        let dir = base.join(case.name);
        std::fs::create_dir_all(&dir).unwrap();
        nnc::onnx::export(case.net, dir.join("model.onnx"))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let x = case.x.as_standard_layout();
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join("input.bin"), bytes).unwrap();
        let shape: Vec<String> = x.shape().iter().map(usize::to_string).collect();
        std::fs::write(dir.join("input_shape.txt"), shape.join(" ")).unwrap();
        let expected = case.net.forward(x.view(), false).unwrap().to_owned();
        let graph = case.net.graph().unwrap();
        prepared.push((case.name, dir, x.into_owned(), expected, graph));
    }
    let script = root().join("tests/onnx/check.py");
    let out = Command::new(py)
        .arg(&script)
        .args(prepared.iter().map(|p| &p.1))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    assert!(
        out.status.success(),
        "{py} {}: {}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut report = Vec::new();
    for (name, dir, x, expected, graph) in prepared {
        let result = Report::read(&dir.join("result.txt"));
        // The signature's input name, a symbolic batch, nnc's layout.
        assert_eq!(
            result.one("input.name"),
            [graph.input_name.as_str()],
            "{name}"
        );
        let mut want = vec!["$batch".to_string()];
        want.extend(graph.input_shape.iter().map(usize::to_string));
        assert_eq!(result.one("input.shape"), want, "{name}");
        assert_eq!(result.one("input.type"), ["tensor(float)"], "{name}");
        assert_eq!(
            result.one("output.name"),
            [nnc::onnx::OUTPUT_NAME],
            "{name}"
        );
        let opset = nnc::onnx::OPSET.to_string();
        assert_eq!(result.keyed("opset", ""), [opset.as_str()], "{name}");
        assert_eq!(
            result.one("producer").first().map(String::as_str),
            Some("nnc"),
            "{name}"
        );
        assert_eq!(
            result.keyed("metadata", "nnc.spec"),
            [graph.spec.as_str()],
            "{name}"
        );
        assert_eq!(
            result.keyed("metadata", "nnc.version"),
            [env!("CARGO_PKG_VERSION")],
            "{name}"
        );
        let got: Vec<f32> = std::fs::read(dir.join("output.bin"))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let runtime_shape: Vec<usize> = result
            .one("output.runtime_shape")
            .iter()
            .map(|d| result.number(d))
            .collect();
        assert_eq!(runtime_shape, expected.shape(), "{name}: output shape");
        assert!(x.shape()[0] >= 100, "{name}: fewer than 100 samples");
        let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            scale > 0.0 && scale.is_finite(),
            "{name}: output scale {scale}"
        );
        let diff = expected
            .iter()
            .zip(&got)
            .fold(0.0f32, |m, (e, g)| m.max((e - g).abs()));
        let rel = diff / scale;
        eprintln!(
            "{name}: {} samples, max |onnxruntime - nnc| = {diff:e} = {rel:e} of the output scale {scale}; ops {}",
            x.shape()[0],
            result.one("ops").join(" ")
        );
        assert!(
            rel <= 1e-5,
            "{name}: onnxruntime and nnc differ by {diff} (scale {scale}, relative {rel})"
        );
        report.push((name, rel));
    }
    let _ = std::fs::remove_dir_all(&base);
    report
}

/// The first `n` rows of `a`.
fn rows(a: &ArrayD<f32>, from: usize, n: usize) -> ArrayD<f32> {
    a.slice_axis(Axis(0), Slice::from(from..from + n))
        .to_owned()
}

/// One epoch of the spec's training on `data`, so that the weights are
/// trained ones (biases off zero, units saturated) rather than initial.
fn train_briefly(net: &mut dyn Model, mut cfg: TrainConfig, data: &Dataset) {
    cfg.epochs = 1;
    cfg.verbose = Verbosity::Silent;
    cfg.validation_split = 0.0;
    cfg.early_stopping = None;
    nnc::fit(net, &cfg, data).unwrap();
}

/// Every parameter drawn from N(0, std²): for networks checked untrained,
/// so that no bias or kernel is zero and each one shows in the output.
fn randomize(net: &mut dyn Model, seed: u64, std: f32) {
    let mut rng = nnc::Rng::seed_from(seed);
    net.visit_params(&mut |p| {
        for v in p.value.iter_mut() {
            *v = std * rng.normal();
        }
    });
}

fn digits() -> Dataset {
    let path = root().join("data/sklearn/digits.csv.gz");
    let d = common::load_digits(&path).unwrap();
    let n = d.len();
    Dataset::new(d.x, d.y.into_shape_with_order(IxDyn(&[n])).unwrap()).unwrap()
}

fn mnist() -> (Dataset, Dataset) {
    nnc::data::idx::load_mnist(root().join("data/mnist")).unwrap()
}

#[test]
fn mlp_examples_match_onnxruntime() {
    let Some(py) = python("mlp_examples") else {
        return;
    };
    let d = digits();
    let train = Dataset::new(rows(&d.x, 0, 1500), rows(&d.y, 0, 1500)).unwrap();
    // Held-out digits, 200 of them.
    let held_out = rows(&d.x, 1597, 200);
    let labels = train.y.clone();

    let mut digits_net = digits::Digits::new(1);
    train_briefly(&mut digits_net, digits::Digits::train_config(), &train);
    let mut plain = residual::PlainDigits::new(2);
    train_briefly(&mut plain, residual::PlainDigits::train_config(), &train);
    let mut res = residual::ResidualDigits::new(3);
    train_briefly(&mut res, residual::ResidualDigits::train_config(), &train);

    let ones = labels
        .mapv(|l| f32::from(l == 1.0))
        .into_shape_with_order(IxDyn(&[1500, 1]));
    let binary = Dataset::new(train.x.clone(), ones.unwrap()).unwrap();
    let mut binary_net = digits::DigitsBinary::new(4);
    train_briefly(
        &mut binary_net,
        digits::DigitsBinary::train_config(),
        &binary,
    );

    let props: Vec<f32> = labels
        .iter()
        .flat_map(|&l| multilabel::properties(l as u8))
        .collect();
    let props = ArrayD::from_shape_vec(IxDyn(&[1500, 3]), props).unwrap();
    let multi = Dataset::new(train.x.clone(), props).unwrap();
    let mut multi_net = multilabel::DigitProperties::new(5);
    train_briefly(
        &mut multi_net,
        multilabel::DigitProperties::train_config(),
        &multi,
    );

    let (mnist_train, mnist_test) = mnist();
    let sub = Dataset::new(rows(&mnist_train.x, 0, 2048), rows(&mnist_train.y, 0, 2048)).unwrap();
    let mut mnist_net = mnist::Mnist::new(6);
    train_briefly(&mut mnist_net, mnist::Mnist::train_config(), &sub);

    let dir = root().join("data/boston-housing");
    let opts = nnc::data::csv::CsvOptions::default();
    let mut boston_train = nnc::data::csv::read_csv(dir.join("train.csv"), &opts).unwrap();
    let mut boston_test = nnc::data::csv::read_csv(dir.join("test.csv"), &opts).unwrap();
    for d in [&mut boston_train, &mut boston_test] {
        d.x = d.x.as_standard_layout().into_owned();
    }
    let scaler = nnc::data::transform::Standardizer::fit(boston_train.x.view()).unwrap();
    scaler.transform(&mut boston_train.x).unwrap();
    scaler.transform(&mut boston_test.x).unwrap();
    let mut boston_net = boston::Boston::new(7);
    let mut cfg = boston::Boston::train_config();
    cfg.epochs = 20;
    train_briefly(&mut boston_net, cfg, &boston_train);

    let report = check(
        "mlp_examples",
        &py,
        vec![
            Case {
                name: "mnist",
                net: &mut mnist_net,
                x: rows(&mnist_test.x, 0, 128),
            },
            Case {
                name: "boston",
                net: &mut boston_net,
                x: boston_test.x.clone(),
            },
            Case {
                name: "digits",
                net: &mut digits_net,
                x: held_out.clone(),
            },
            Case {
                name: "digits_binary",
                net: &mut binary_net,
                x: held_out.clone(),
            },
            Case {
                name: "multilabel",
                net: &mut multi_net,
                x: held_out.clone(),
            },
            Case {
                name: "residual_plain",
                net: &mut plain,
                x: held_out.clone(),
            },
            Case {
                name: "residual",
                net: &mut res,
                x: held_out,
            },
        ],
    );
    eprintln!("{report:?}");
}

#[test]
fn cnn_examples_match_onnxruntime() {
    let Some(py) = python("cnn_examples") else {
        return;
    };
    let (train, test) = mnist();
    let sub = Dataset::new(rows(&train.x, 0, 256), rows(&train.y, 0, 256)).unwrap();
    let mut net = mnist_cnn::MnistCnn::new(0);
    train_briefly(&mut net, mnist_cnn::MnistCnn::train_config(), &sub);
    // `same` padding and dropout; initial weights with random biases.
    let mut strong = mnist_cnn::StrongCnn::new(1);
    randomize(&mut strong, 11, 0.05);
    let x = rows(&test.x, 0, 128);
    check(
        "cnn_examples",
        &py,
        vec![
            Case {
                name: "mnist_cnn",
                net: &mut net,
                x: x.clone(),
            },
            Case {
                name: "strong_cnn",
                net: &mut strong,
                x,
            },
        ],
    );
}

#[test]
fn every_layer_and_activation_matches_onnxruntime() {
    let Some(py) = python("every_layer") else {
        return;
    };
    let (_, test) = mnist();
    let images = rows(&test.x, 0, 128);
    let mut rng = nnc::Rng::seed_from(9);
    let mut normal = |shape: &[usize]| ArrayD::from_shape_fn(IxDyn(shape), |_| 2.0 * rng.normal());
    // MNIST crops for the small image networks.
    let crop = |h: usize, w: usize| {
        images
            .slice_each_axis(|ax| match ax.axis.index() {
                1 => Slice::from(8..8 + h),
                2 => Slice::from(8..8 + w),
                _ => Slice::from(..),
            })
            .to_owned()
    };
    let mut nets: Vec<(&'static str, Box<dyn Model>, ArrayD<f32>)> = vec![
        ("layers", Box::new(layers::Layers::new(0)), crop(4, 3)),
        (
            "activations",
            Box::new(layers::Activations::new(0)),
            normal(&[128, 3]),
        ),
        (
            "cnn",
            Box::new(cnn::Cnn::new(0)),
            images
                .clone()
                .into_shape_with_order(IxDyn(&[128, 28, 28, 1]))
                .unwrap(),
        ),
        ("options", Box::new(cnn::Options::new(0)), crop(12, 10)),
        ("merges", Box::new(Merges::new(0)), normal(&[128, 6, 5, 2])),
    ];
    for (i, (_, net, _)) in nets.iter_mut().enumerate() {
        randomize(net.as_mut(), i as u64, 0.5);
    }
    check(
        "every_layer",
        &py,
        nets.iter_mut()
            .map(|(name, net, x)| Case {
                name,
                net: net.as_mut(),
                x: x.clone(),
            })
            .collect(),
    );
}

/// `check.py`'s escapes come back, and a malformed field is an error.
#[test]
fn report_fields_are_unescaped() {
    assert_eq!(unescape(r"a\tb\nc\rd\\e\\n").unwrap(), "a\tb\nc\rd\\e\\n");
    assert_eq!(
        unescape("network Mnist(image: [28, 28])").unwrap(),
        "network Mnist(image: [28, 28])"
    );
    assert!(unescape(r"a\x").unwrap_err().contains("unknown escape"));
    assert!(unescape("a\\").unwrap_err().contains("end of a field"));
}

#[test]
fn a_network_without_a_graph_is_an_error_not_a_panic() {
    use nnc::sequential::Sequential;
    let mut net = Sequential::builder(&[2])
        .dense(3, nnc::Activation::Relu)
        .dense(1, nnc::Activation::Sigmoid)
        .build(0)
        .unwrap();
    let e = nnc::onnx::to_bytes(&mut net).unwrap_err();
    assert!(e.to_string().contains("no graph description"), "{e}");
    // The file is not written.
    let path: PathBuf =
        std::env::temp_dir().join(format!("nnc-onnx-none-{}.onnx", std::process::id()));
    assert!(nnc::onnx::export(&mut net, &path).is_err());
    assert!(!path.exists());
}
