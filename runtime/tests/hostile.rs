//! Bad data, weights and checkpoint files as a hostile user would make
//! them: every one is an error that says what is wrong and where, never a
//! panic, a silent no-op or a message about something else.

use ndarray::{Array1, Array2};
use nnc_runtime::data::csv::{read_csv, CsvOptions};
use nnc_runtime::data::idx::read_idx;
use nnc_runtime::io::{load_checkpoint, load_weights, save_checkpoint, save_weights, write_atomic};
use nnc_runtime::sequential::Sequential;
use nnc_runtime::train::{evaluate, fit, predict, Checkpointing, TrainConfig, TrainState};
use nnc_runtime::{Activation, Dataset, Error, Loss, Model, Optimizer};
use std::path::{Path, PathBuf};

/// A fresh directory for one test, under cargo's scratch directory.
fn dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("nnc-hostile")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn net(inputs: usize, outputs: usize, seed: u64) -> Sequential {
    Sequential::builder(&[inputs])
        .dense(4, Activation::Tanh)
        .dense(outputs, Activation::Linear)
        .build(seed)
        .unwrap()
}

fn quiet(loss: Loss) -> TrainConfig {
    TrainConfig {
        loss,
        optimizer: Optimizer::adam(1e-2),
        batch_size: 8,
        epochs: 2,
        verbose: nnc_runtime::train::Verbosity::Silent,
        ..TrainConfig::default()
    }
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_non_finite_cells_are_errors_at_line_and_column() {
    let d = dir("csv_non_finite");
    let bad = [
        "NaN",
        "nan",
        "-inf",
        "inf",
        "+Infinity",
        "1e39",
        "-3.5e38",
        "1e400",
    ];
    for (k, cell) in bad.iter().enumerate() {
        // The bad cell goes in each column of each data line in turn.
        for line in 0..3 {
            for col in 0..3 {
                let mut rows = vec![vec!["1".to_string(), "2.5".into(), "3".into()]; 3];
                rows[line][col] = cell.to_string();
                let mut text = "a, b ,c\n".to_string();
                for r in &rows {
                    text.push_str(&r.join(", "));
                    text.push('\n');
                }
                let path = d.join(format!("bad{k}.csv"));
                std::fs::write(&path, &text).unwrap();
                let err = read_csv(&path, &CsvOptions::default()).unwrap_err();
                assert!(matches!(err, Error::Parse { .. }), "{err}");
                let msg = err.to_string();
                // The 1-based character column where the cell starts (cells are joined by ", ").
                let column = rows[line][..col].iter().map(|c| c.len() + 2).sum::<usize>() + 1;
                let want = format!("bad{k}.csv:{}:{column}:", line + 2);
                assert!(msg.contains(&want), "{msg} (expected {want})");
                assert!(msg.contains(&format!("`{cell}`")), "{msg}");
            }
        }
    }
    // Overflow is never allowed; NaN and inf are with the option.
    let allow = CsvOptions {
        allow_non_finite: true,
        ..CsvOptions::default()
    };
    let path = d.join("allowed.csv");
    std::fs::write(&path, "a,b\nNaN,1\ninf,2\n").unwrap();
    let data = read_csv(&path, &allow).unwrap();
    assert!(data.x[[0, 0]].is_nan() && data.x[[1, 0]].is_infinite());
    std::fs::write(&path, "a,b\n1e39,1\n").unwrap();
    let msg = read_csv(&path, &allow).unwrap_err().to_string();
    assert!(
        msg.contains("allowed.csv:2:1:") && msg.contains("too large"),
        "{msg}"
    );
}

#[test]
fn csv_byte_order_mark_is_skipped() {
    let d = dir("csv_bom");
    let path = d.join("bom.csv");
    std::fs::write(&path, "\u{feff}size,price\n1,2\n3,4\n").unwrap();
    let opts = CsvOptions {
        targets: vec![nnc_runtime::data::csv::Column::Name("size".into())],
        ..CsvOptions::default()
    };
    let data = read_csv(&path, &opts).unwrap();
    assert_eq!(data.y.as_slice().unwrap(), &[1.0, 3.0]);
    // Without a header the mark is not part of the first number either.
    std::fs::write(&path, "\u{feff}1,2\n3,4\n").unwrap();
    let opts = CsvOptions {
        header: false,
        ..CsvOptions::default()
    };
    assert_eq!(read_csv(&path, &opts).unwrap().x[[0, 0]], 1.0);
}

// ---------------------------------------------------------------- shapes

#[test]
fn shape_errors_show_the_batch_axis_as_a_star_and_say_what_to_do() {
    for (features, columns) in [(2, 3), (3, 2), (1, 5), (7, 1)] {
        let mut m = net(features, 1, 0);
        let data = Dataset::new(
            Array2::<f32>::zeros((10, columns)).into_dyn(),
            Array2::<f32>::zeros((10, 1)).into_dyn(),
        )
        .unwrap();
        let help = format!("the model takes {features} features; the data has {columns} columns");
        let shape = format!("expected [*, {features}], found [10, {columns}]");
        let errors = [
            fit(&mut m, &quiet(Loss::Mse), &data).unwrap_err(),
            evaluate(&mut m, Loss::Mse, &[], &data, 4).unwrap_err(),
            predict(&mut m, data.x.view(), 4).unwrap_err(),
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(!msg.contains(&usize::MAX.to_string()), "{msg}");
            assert!(msg.contains(&shape) && msg.contains(&help), "{msg}");
        }
    }
}

#[test]
fn one_output_unit_takes_one_target_per_sample() {
    let d = dir("regression_csv");
    let path = d.join("line.csv");
    let mut text = "x1,x2,y\n".to_string();
    for i in 0..40 {
        let (a, b) = (i as f32 / 40.0, (i % 7) as f32 / 7.0);
        text.push_str(&format!("{a},{b},{}\n", 2.0 * a - b + 0.5));
    }
    std::fs::write(&path, text).unwrap();
    let data = read_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!(data.y.shape(), &[40]);
    let mut m = net(2, 1, 3);
    let before = evaluate(&mut m, Loss::Mse, &[], &data, 16).unwrap().loss;
    let cfg = TrainConfig {
        epochs: 30,
        ..quiet(Loss::Mse)
    };
    let history = fit(&mut m, &cfg, &data).unwrap();
    assert_eq!(history.epochs.len(), 30);
    let after = evaluate(&mut m, Loss::Mse, &[], &data, 16).unwrap().loss;
    assert!(after < before, "{before} -> {after}");
    assert_eq!(
        predict(&mut m, data.x.view(), 16).unwrap().shape(),
        &[40, 1]
    );
    // A custom loop's single step takes them too.
    let mut trainer = nnc_runtime::train::Trainer::new(&cfg);
    let loss = trainer
        .train_batch(&mut m, data.x.view(), data.y.view())
        .unwrap();
    assert!(loss.is_finite());
}

#[test]
fn class_index_hint_only_where_it_applies() {
    let x = Array2::<f32>::zeros((6, 2)).into_dyn();
    let labels = Dataset::new(x.clone(), Array1::<f32>::zeros(6).into_dyn()).unwrap();
    let mut m = net(2, 3, 0);
    let onehot = Loss::CategoricalCrossentropy { from_logits: true };
    let msg = fit(&mut m, &quiet(onehot), &labels)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sparse_categorical_crossentropy"), "{msg}");
    let msg = fit(&mut m, &quiet(Loss::Mse), &labels)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("sparse_categorical"), "{msg}");
    assert!(
        msg.contains(
            "the model outputs 3 values per sample; the targets have one value per sample"
        ),
        "{msg}"
    );
    let wide = Dataset::new(x.clone(), Array2::<f32>::zeros((6, 2)).into_dyn()).unwrap();
    let msg = fit(&mut m, &quiet(Loss::Mse), &wide)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("expected [*, 3], found [6, 2]"), "{msg}");
    assert!(msg.contains("the targets have 2 columns"), "{msg}");
}

// ---------------------------------------------------------------- IDX

/// An IDX file of unsigned bytes with the given header dimensions and data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[test]
fn idx_headers_whose_sizes_overflow_are_errors() {
    let d = dir("idx_overflow");
    let path = d.join("crafted-idx3-ubyte");
    // 3·5·17·257·641·65537·6700417 = 2^64 - 1 exactly.
    let exact = [3, 5, 17, 257, 641, 65537, 6700417];
    let mut headers: Vec<Vec<u32>> = vec![exact.to_vec(), vec![u32::MAX; 3], vec![u32::MAX; 255]];
    // A family: products just below, at and above 2^64 by varying one factor.
    for k in 1..40u32 {
        headers.push(vec![u32::MAX, u32::MAX, k]);
        headers.push(vec![65536, 65536, 65536, k * 4096]);
    }
    for dims in headers {
        std::fs::write(&path, idx(&dims, &[1, 2, 3])).unwrap();
        let err = read_idx(&path).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{dims:?}: {err}");
    }
}

// ---------------------------------------------------------------- weights and checkpoints

fn params(m: &mut dyn Model) -> Vec<f32> {
    let mut v = Vec::new();
    m.visit_params(&mut |p| v.extend_from_slice(p.value));
    v
}

#[test]
fn weights_with_nan_or_inf_are_an_error_naming_the_tensor() {
    let d = dir("weights_nan");
    let path = d.join("w.safetensors");
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for target in ["dense1.weight", "dense2.bias"] {
            let mut m = net(2, 2, 1);
            m.visit_params(&mut |p| {
                if p.name == target {
                    p.value[p.value.len() - 1] = bad;
                }
            });
            save_weights(&path, &mut m).unwrap();
            let mut fresh = net(2, 2, 9);
            let before = params(&mut fresh);
            let msg = load_weights(&path, &mut fresh).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("`{target}` has 1 non-finite value")),
                "{msg}"
            );
            assert_eq!(params(&mut fresh), before, "nothing is loaded");
        }
    }
}

#[test]
fn checkpoint_with_an_absurd_epoch_is_an_error() {
    let d = dir("absurd_epoch");
    let path = d.join("c.safetensors");
    let cfg = TrainConfig {
        epochs: 10,
        ..quiet(Loss::Mse)
    };
    for epoch in [11, 1000, u32::MAX as usize, usize::MAX] {
        let mut m = net(2, 1, 1);
        let mut state = TrainState::new(&cfg);
        state.epoch = epoch;
        save_checkpoint(&path, &mut m, &state).unwrap();
        let msg = load_checkpoint(&path, &mut m, &cfg)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&format!("checkpoint says {epoch} epochs are done")),
            "{msg}"
        );
    }
    // Resuming from a state past the end is an error too, not an empty run.
    let mut m = net(2, 1, 1);
    let mut state = TrainState::new(&cfg);
    state.epoch = 11;
    let data = Dataset::new(
        Array2::<f32>::zeros((8, 2)).into_dyn(),
        Array2::<f32>::zeros((8, 1)).into_dyn(),
    )
    .unwrap();
    let msg = nnc_runtime::train::resume(&mut m, &cfg, &data, None, state)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("completed 11 epochs, more than the 10"),
        "{msg}"
    );
}

#[test]
fn checkpointing_every_zero_epochs_is_rejected() {
    let d = dir("every_zero");
    let data = Dataset::new(
        Array2::<f32>::zeros((8, 2)).into_dyn(),
        Array2::<f32>::zeros((8, 1)).into_dyn(),
    )
    .unwrap();
    let cfg = TrainConfig {
        checkpoint: Some(Checkpointing {
            path: d.join("never.safetensors"),
            every: 0,
            save_best_only: false,
            monitor: "loss".into(),
        }),
        ..quiet(Loss::Mse)
    };
    let msg = fit(&mut net(2, 1, 0), &cfg, &data).unwrap_err().to_string();
    assert!(
        msg.contains("`every: 0`") && msg.contains("never save"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- atomic writes

#[test]
fn concurrent_saves_to_one_path_all_succeed() {
    let d = dir("concurrent");
    let path = d.join("w.safetensors");
    let models: Vec<Vec<f32>> = (0..8).map(|s| params(&mut net(3, 2, s))).collect();
    std::thread::scope(|scope| {
        for seed in 0..8u64 {
            let path = &path;
            scope.spawn(move || {
                let mut m = net(3, 2, seed);
                for _ in 0..25 {
                    save_weights(path, &mut m).unwrap();
                }
            });
        }
    });
    let mut loaded = net(3, 2, 99);
    load_weights(&path, &mut loaded).unwrap();
    assert!(models.contains(&params(&mut loaded)));
    assert_eq!(leftovers(&d), Vec::<String>::new());
}

fn leftovers(d: &Path) -> Vec<String> {
    std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

#[test]
fn a_killed_saves_temporary_is_removed_by_the_next_save() {
    let d = dir("stale");
    let path = d.join("w.safetensors");
    // Process ids never reach 4e9 (Linux caps them at 2^22): that writer is gone.
    let stale = [
        d.join(".w.safetensors.tmp3999999999"),
        d.join(".w.safetensors.tmp3999999998.7"),
    ];
    for s in &stale {
        std::fs::write(s, vec![0u8; 1 << 16]).unwrap();
    }
    // Another target's temporary is not ours to remove.
    let other = d.join(".other.safetensors.tmp3999999999");
    std::fs::write(&other, b"x").unwrap();
    write_atomic(&path, b"new").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
    if Path::new("/proc/self").exists() {
        for s in &stale {
            assert!(!s.exists(), "{} is still there", s.display());
        }
    }
    assert!(other.exists());
}

// ---------------------------------------------------------------- repository

/// Nothing in the repository names a path of one machine: tests and
/// examples find data relative to the crate, so they work on any clone.
#[test]
fn no_absolute_machine_paths_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Built from pieces so that this file does not match itself.
    let patterns: Vec<String> = ["work", "home", "tmp", "Users", "root"]
        .iter()
        .map(|p| format!("/{p}/"))
        .collect();
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // In a git worktree `.git` is a file naming the main checkout.
            if name == ".git" {
                continue;
            }
            if path.is_dir() {
                // Build output, git's files and bundled binary data.
                if !["target", ".git", "data", "results"].contains(&name.as_str()) {
                    stack.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // not text
            };
            for (i, line) in text.lines().enumerate() {
                if patterns.iter().any(|p| line.contains(p.as_str())) {
                    found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "machine paths:\n{}", found.join("\n"));
}

/// A tensor of any dtype, for rewriting files.
struct Raw(safetensors::Dtype, Vec<usize>, Vec<u8>);

impl safetensors::View for &Raw {
    fn dtype(&self) -> safetensors::Dtype {
        self.0
    }
    fn shape(&self) -> &[usize] {
        &self.1
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.2)
    }
    fn data_len(&self) -> usize {
        self.2.len()
    }
}

/// Rewrites the safetensors file at `path` with `name` stored as f64
/// (same shape, so only the dtype differs), keeping the metadata.
fn as_f64(path: &Path, name: &str) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, Raw)> = st
        .iter()
        .map(|(n, t)| {
            let raw = if n == name {
                let wide = t
                    .data()
                    .chunks_exact(4)
                    .flat_map(|c| {
                        f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes()
                    })
                    .collect();
                Raw(safetensors::Dtype::F64, t.shape().to_vec(), wide)
            } else {
                Raw(t.dtype(), t.shape().to_vec(), t.data().to_vec())
            };
            (n.to_string(), raw)
        })
        .collect();
    let out = safetensors::serialize(
        tensors.iter().map(|(n, t)| (n.as_str(), t)),
        meta.metadata().clone(),
    )
    .unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_tensor_with_the_right_name_and_the_wrong_dtype_is_named() {
    let d = dir("dtype");
    let cfg = quiet(Loss::Mse);
    let data = Dataset::new(
        Array2::<f32>::ones((8, 2)).into_dyn(),
        Array2::<f32>::ones((8, 1)).into_dyn(),
    )
    .unwrap();
    let mut m = net(2, 1, 0);
    let mut trainer = nnc_runtime::train::Trainer::new(&cfg);
    trainer
        .train_batch(&mut m, data.x.view(), data.y.view())
        .unwrap();
    let path = d.join("c.safetensors");
    save_checkpoint(&path, &mut m, trainer.state()).unwrap();
    let names: Vec<String> = {
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        st.names().into_iter().map(String::from).collect()
    };
    let slot = names.iter().find(|n| n.starts_with("optimizer/")).unwrap();
    for name in ["dense2.bias", slot.as_str()] {
        save_checkpoint(&path, &mut m, trainer.state()).unwrap();
        as_f64(&path, name);
        let msg = load_checkpoint(&path, &mut net(2, 1, 5), &cfg)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&format!("`{name}` has dtype F64")), "{msg}");
    }
}

/// The default `Model::train_pass` (what a network assembled at run time
/// uses) turns a wrong batch or a gradient slice of the wrong length into
/// an error, as the generated override does (`tests/generated.rs`).
#[test]
fn train_pass_default_refuses_wrong_lengths() {
    let mut m = net(3, 2, 1);
    let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[4, 3]));
    let mut ok = vec![0.0f32; 8];
    m.train_pass(x.view(), &mut ok, &mut |_, _| {
        Ok(nnc_runtime::GradAt::Output)
    })
    .unwrap();
    for len in [0, 7, 9] {
        let mut g = vec![0.0f32; len];
        let err = m
            .train_pass(x.view(), &mut g, &mut |_, _| {
                Ok(nnc_runtime::GradAt::Output)
            })
            .unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "length {len}: {err}");
    }
    let bad = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[4, 2]));
    let err = m
        .train_pass(bad.view(), &mut ok, &mut |_, _| {
            Ok(nnc_runtime::GradAt::Output)
        })
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}
