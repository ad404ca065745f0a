//! Transfer learning at run time: loading weights by name into another
//! network, freezing layers for one phase of training and not the next,
//! and preprocessing saved with the weights.

use nnc_runtime::data::transform::{MinMaxScaler, Standardizer};
use nnc_runtime::io::{self, LoadOptions, Preprocessing, Scaler};
use nnc_runtime::ndarray::{Array1, Array2};
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{self, TrainConfig, Verbosity};
use nnc_runtime::{Activation, Dataset, Error, Loss, Model, Optimizer, Param};
use std::path::PathBuf;

/// A fresh directory per test, removed at the end.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("nnc-transfer-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn net(hidden: usize, out: usize, seed: u64) -> Sequential {
    Sequential::builder(&[4])
        .dense(hidden, Activation::Relu)
        .dense(out, Activation::Softmax)
        .build(seed)
        .unwrap()
}

fn params(model: &mut dyn Model) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    model.visit_params(&mut |p: Param<'_>| out.push((p.name.to_string(), p.value.to_vec())));
    out
}

fn value(model: &mut dyn Model, name: &str) -> Vec<f32> {
    params(model)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
}

/// Three classes from 4 features.
fn data(n: usize) -> Dataset {
    let x = Array2::from_shape_fn((n, 4), |(i, j)| ((i * 7 + j * 3) as f32 * 0.31).sin());
    let y = Array1::from_iter((0..n).map(|i| (i % 3) as f32));
    Dataset::new(x.into_dyn(), y.into_dyn()).unwrap()
}

#[test]
fn matching_loads_what_fits_reports_the_rest_and_strict_changes_nothing() {
    let dir = TempDir::new("match");
    let path = dir.0.join("base.safetensors");
    let mut base = net(8, 3, 1);
    io::save_weights(&path, &mut base).unwrap();

    // Same first layer, another head.
    let mut fine = net(8, 2, 2);
    let before = params(&mut fine);
    let err = io::load_weights_matching(&path, &mut fine, &LoadOptions::default()).unwrap_err();
    let Error::WeightsMismatch { differences, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(
        differences.iter().all(|d| d.contains("dense2")),
        "{differences:?}"
    );
    assert_eq!(
        params(&mut fine),
        before,
        "a refused load changed the model"
    );

    let report = io::load_weights_matching(&path, &mut fine, &LoadOptions::lenient()).unwrap();
    assert_eq!(report.loaded, ["dense1.weight", "dense1.bias"]);
    assert_eq!(report.mismatched.len(), 2);
    assert!(report.missing.is_empty() && report.extra.is_empty());
    assert_eq!(
        value(&mut fine, "dense1.weight"),
        value(&mut base, "dense1.weight")
    );
    assert_eq!(value(&mut fine, "dense2.weight"), before[2].1);
    assert!(report.to_string().contains("loaded 2 parameter tensor(s)"));

    // Renamed layers: the file's two layers become the deeper model's last two.
    let mut deeper = Sequential::builder(&[4])
        .dense(4, Activation::Relu)
        .dense(8, Activation::Relu)
        .dense(3, Activation::Softmax)
        .build(3)
        .unwrap();
    let opts = LoadOptions {
        rename: vec![
            ("dense1.".into(), "dense2.".into()),
            ("dense2.".into(), "dense3.".into()),
        ],
        skip_missing: true,
        ..LoadOptions::default()
    };
    let report = io::load_weights_matching(&path, &mut deeper, &opts).unwrap();
    assert_eq!(
        report.loaded,
        [
            "dense2.weight",
            "dense2.bias",
            "dense3.weight",
            "dense3.bias"
        ],
        "{report}"
    );
    assert_eq!(report.missing, ["dense1.weight", "dense1.bias"]);
    assert_eq!(
        value(&mut deeper, "dense3.weight"),
        value(&mut base, "dense2.weight")
    );
    assert_eq!(
        value(&mut deeper, "dense2.bias"),
        value(&mut base, "dense1.bias")
    );
}

#[test]
fn a_layer_frozen_for_one_phase_trains_in_the_next() {
    let d = data(60);
    let mut model = net(8, 3, 4);
    let cfg = TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer: Optimizer::adam(0.01),
        epochs: 3,
        batch_size: 16,
        frozen: vec!["dense1".into()],
        verbose: Verbosity::Silent,
        ..Default::default()
    };
    let start = params(&mut model);
    train::fit(&mut model, &cfg, &d).unwrap();
    let phase1 = params(&mut model);
    assert_eq!(phase1[0], start[0], "frozen dense1.weight moved");
    assert_eq!(phase1[1], start[1], "frozen dense1.bias moved");
    assert_ne!(phase1[2], start[2], "dense2 did not train");

    let cfg = TrainConfig {
        frozen: Vec::new(),
        ..cfg
    };
    train::fit(&mut model, &cfg, &d).unwrap();
    let phase2 = params(&mut model);
    assert_ne!(phase2[0], phase1[0], "unfrozen dense1 did not train");

    let cfg = TrainConfig {
        frozen: vec!["dense7".into()],
        ..cfg
    };
    let err = train::fit(&mut model, &cfg, &d).unwrap_err().to_string();
    assert!(
        err.contains("cannot freeze `dense7`") && err.contains("dense1, dense2"),
        "{err}"
    );
}

#[test]
fn scalers_saved_with_the_weights_come_back() {
    let dir = TempDir::new("prep");
    let path = dir.0.join("model.safetensors");
    let x = Array2::from_shape_fn((10, 4), |(i, j)| (i * 10 + j * j) as f32).into_dyn();
    let y = Array2::from_shape_fn((10, 3), |(i, j)| (i + j) as f32 * 3.0).into_dyn();
    let mut model = net(8, 3, 5);
    for prep in [
        Preprocessing::default(),
        Preprocessing {
            inputs: Some(Standardizer::fit(x.view()).unwrap().into()),
            targets: Some(
                MinMaxScaler::fit_range(y.view(), (-1.0, 1.0))
                    .unwrap()
                    .into(),
            ),
        },
        Preprocessing {
            inputs: Some(MinMaxScaler::fit(x.view()).unwrap().into()),
            targets: None,
        },
    ] {
        io::save_weights_with(&path, &mut model, &prep).unwrap();
        assert_eq!(io::load_preprocessing(&path).unwrap(), prep);
        // The weights load as from any weights file.
        let mut other = net(8, 3, 6);
        io::load_weights(&path, &mut other).unwrap();
        assert_eq!(params(&mut other), params(&mut model));
        if let Some(Scaler::MinMax(s)) = &prep.targets {
            let mut t = y.clone();
            s.transform(&mut t).unwrap();
            s.inverse_transform(&mut t).unwrap();
            for (a, b) in t.iter().zip(y.iter()) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }
}
