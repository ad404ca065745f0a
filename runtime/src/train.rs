//! The training loop: [`fit`], [`evaluate`], [`predict`], with early
//! stopping, checkpointing, learning-rate schedules, a NaN/Inf guard and a
//! progress bar.
//!
//! Everything goes through [`Model`], so generated networks and hand-built
//! ones ([`crate::sequential::Sequential`]) train the same way. A training
//! step (gather a batch, forward, loss, backward, optimizer update)
//! allocates nothing once the first step has sized the buffers.
//!
//! ```
//! # extern crate nnc_runtime as nnc;
//! use nnc::{sequential::Sequential, train, Activation, Dataset, Loss, Optimizer};
//! use nnc::ndarray::{Array1, Array2};
//! // y = 2x - 1
//! let x = Array2::from_shape_fn((64, 1), |(i, _)| i as f32 / 64.0).into_dyn();
//! let y = x.mapv(|v| 2.0 * v - 1.0);
//! let data = Dataset::new(x, y).unwrap();
//! let mut model = Sequential::builder(&[1]).dense(1, Activation::Linear).build(0).unwrap();
//! let cfg = train::TrainConfig {
//!     loss: Loss::Mse,
//!     optimizer: Optimizer::sgd(0.5),
//!     epochs: 200,
//!     batch_size: 16,
//!     verbose: train::Verbosity::Silent,
//!     ..Default::default()
//! };
//! let history = train::fit(&mut model, &cfg, &data).unwrap();
//! assert!(history.last("loss").unwrap() < 1e-4);
//! ```

use crate::data::Dataset;
use crate::dist::{DataLayout, Dist};
use crate::history::History;
use crate::loss::LossExt;
use crate::metrics::{Metric, MetricExt};
use crate::optim::OptimizerState;
use crate::{Error, Loss, Model, Param, Result, Rng};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, Dimension, IxDyn, Slice};
use std::io::IsTerminal;

pub use nnc_core::train::{Checkpointing, EarlyStopping, TrainConfig, Verbosity};

/// What [`Verbosity::Auto`] means here and now (the others are themselves).
fn resolve(v: Verbosity) -> Verbosity {
    match v {
        Verbosity::Auto if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() => {
            Verbosity::ProgressBar
        }
        Verbosity::Auto => Verbosity::EpochLines,
        v => v,
    }
}

/// The line [`Verbosity::EpochLines`] prints after an epoch: the epoch, its
/// wall time and every history column of the row.
fn epoch_line(epoch: usize, epochs: usize, secs: f64, columns: &[String], row: &[f32]) -> String {
    let mut line = format!("epoch {epoch}/{epochs} - {secs:.2}s");
    for (c, v) in columns.iter().zip(row) {
        line.push_str(&format!(" - {c} {v:.4}"));
    }
    line
}

/// What a resumed run needs besides the weights: optimizer state, epochs
/// completed and the history so far. Checkpoints store it
/// ([`crate::io::save_checkpoint`]).
#[derive(Debug, Clone)]
pub struct TrainState {
    /// The optimizer with its per-parameter state.
    pub optimizer: OptimizerState,
    /// Epochs completed.
    pub epoch: usize,
    /// The history of the epochs completed.
    pub history: History,
}

impl TrainState {
    /// A fresh start for `cfg`.
    pub fn new(cfg: &TrainConfig) -> Self {
        TrainState {
            optimizer: OptimizerState::new(cfg.optimizer)
                .with_clip_norm(cfg.clip_norm)
                .with_frozen(cfg.frozen.clone()),
            epoch: 0,
            history: History::default(),
        }
    }
}

/// Loss and metrics of a model on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean loss (including regularisation penalties, as Keras reports it).
    pub loss: f32,
    /// `(name, value)` per metric, in the order asked.
    pub metrics: Vec<(String, f32)>,
}

/// Trains `model` on `data` as `cfg` says, holding out the last
/// `cfg.validation_split` of it for validation, and returns the history.
///
/// # Errors
/// [`Error::Config`] for a bad setting (batch size 0, empty data, split out
/// of range, an early-stopping monitor that does not exist),
/// [`Error::Shape`] when the data does not fit the model,
/// [`Error::NonFinite`] naming the epoch and batch where the loss or the
/// gradients stopped being finite, and I/O errors from checkpointing.
pub fn fit(model: &mut dyn Model, cfg: &TrainConfig, data: &Dataset) -> Result<History> {
    if cfg.validation_split > 0.0 {
        let (train, val) = data.validation_split(cfg.validation_split)?;
        if let Some(warning) = validation_split_warning(&train, &val) {
            if resolve(cfg.verbose) != Verbosity::Silent {
                eprintln!("warning: {warning}");
            }
        }
        fit_with_validation(model, cfg, &train, Some(&val))
    } else {
        fit_with_validation(model, cfg, data, None)
    }
}

/// The class of each sample, when the targets are class labels: indices
/// `[n]` or `[n, 1]` (whole numbers from 0 to 1000), or one-hot rows `[n, k]`.
/// `None` for anything else (regression targets, multi-label rows).
fn class_labels(y: &ndarray::ArrayD<f32>) -> Option<Vec<usize>> {
    let is_index = |v: f32| (0.0..=1000.0).contains(&v) && v.fract() == 0.0;
    match y.shape() {
        [_] | [_, 1] => y
            .iter()
            .map(|&v| is_index(v).then_some(v as usize))
            .collect(),
        [_, k] if *k > 1 => y
            .rows()
            .into_iter()
            .map(|row| {
                let ones = row.iter().filter(|&&v| v == 1.0).count();
                let zeros = row.iter().filter(|&&v| v == 0.0).count();
                (ones == 1 && zeros == k - 1).then(|| row.iter().position(|&v| v == 1.0))?
            })
            .collect(),
        _ => None,
    }
}

/// Why a `validation_split` (the last samples, before any shuffling, as in
/// Keras) would mislead: the validation part holds a single class while
/// the training part holds several, as when the data is sorted by class
/// (the bundled iris file: its last 20% are all `virginica`). [`fit`]
/// prints this once, unless its verbosity is silent. `None` when the split
/// looks fine or the targets are not class labels.
pub fn validation_split_warning(train: &Dataset, val: &Dataset) -> Option<String> {
    let (tr, va) = (class_labels(&train.y)?, class_labels(&val.y)?);
    let first = *va.first()?;
    let mut seen: Vec<usize> = tr.clone();
    seen.sort_unstable();
    seen.dedup();
    if va.iter().any(|&c| c != first) || seen.len() < 2 {
        return None;
    }
    Some(format!(
        "validation_split holds out the last {} samples, and every one is class {first}, \
         while the training part has {} classes: the data looks sorted by class, so the \
         validation metrics describe one class only. Shuffle the data first \
         (`data.shuffle(seed)`) or pass a validation set to `fit_with_validation`",
        va.len(),
        seen.len()
    ))
}

/// [`fit`] with an explicit validation set (`cfg.validation_split` is ignored).
///
/// # Errors
/// As [`fit`].
pub fn fit_with_validation(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    train: &Dataset,
    val: Option<&Dataset>,
) -> Result<History> {
    resume(model, cfg, train, val, TrainState::new(cfg))
}

/// Continues training from `state` (e.g. loaded by
/// [`crate::io::load_checkpoint`]) up to `cfg.epochs` epochs in total; the
/// returned history includes the epochs before the resume. With the same
/// seed, a resumed run takes the same steps as an uninterrupted one.
///
/// # Errors
/// As [`fit`].
pub fn resume(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    train: &Dataset,
    val: Option<&Dataset>,
    state: TrainState,
) -> Result<History> {
    let mut trainer = Trainer::with_state(cfg, state);
    trainer.run(model, train, val, None)
}

/// [`resume`] as one rank of a data-parallel run ([`crate::dist`]).
pub(crate) fn run_distributed(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    train: &Dataset,
    val: Option<&Dataset>,
    state: TrainState,
    dist: &mut Dist<'_>,
) -> Result<History> {
    let mut trainer = Trainer::with_state(cfg, state);
    trainer.run(model, train, val, Some(dist))
}

/// Runs the model on `data` in batches (inference mode) and averages the
/// loss and each metric over the samples.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::ndarray::{Array1, Array2};
/// use nnc::{evaluate, metrics::Metric, sequential::Sequential, Activation, Dataset, Loss};
///
/// // A model that outputs 0 everywhere, on targets 1, 2, 3: MSE 14/3, MAE 2.
/// let mut model = Sequential::builder(&[2])
///     .dense(1, Activation::Linear)
///     .init(nnc::init::Init::Zeros)
///     .build(0)?;
/// let x = Array2::<f32>::ones((3, 2)).into_dyn();
/// let y = Array1::from_vec(vec![1.0f32, 2.0, 3.0]).into_dyn(); // [n] for one output unit
/// let data = Dataset::new(x, y)?;
/// let eval = evaluate(&mut model, Loss::Mse, &[Metric::Mae], &data, 2)?;
/// assert!((eval.loss - 14.0 / 3.0).abs() < 1e-6);
/// assert_eq!(eval.metrics, [("mae".to_string(), 2.0)]);
/// # Ok::<(), nnc::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] for batch size 0 or empty data, [`Error::Shape`] if
/// the data does not fit the model, [`Error::Label`] for bad class labels.
pub fn evaluate(
    model: &mut dyn Model,
    loss: Loss,
    metrics: &[Metric],
    data: &Dataset,
    batch_size: usize,
) -> Result<Evaluation> {
    check_data(model, loss, data, "evaluate")?;
    let x = data.x.as_standard_layout();
    let y = data.y.as_standard_layout();
    let y = targets_view(model, y.view());
    let act = model.output_activation();
    let mut sums = vec![(0.0f64, 0usize); metrics.len()];
    let mut total = 0.0f64;
    let n = data.len();
    let mut start = 0;
    if batch_size == 0 {
        return Err(Error::Config("batch size must be at least 1".into()));
    }
    while start < n {
        let end = (start + batch_size).min(n);
        let s = Slice::from(start..end);
        let out = model.forward(x.slice_axis(Axis(0), s), false)?;
        let yb = y.slice_axis(Axis(0), s);
        total += loss.loss_value(out.view(), yb.view(), act)? as f64 * (end - start) as f64;
        for (m, acc) in metrics.iter().zip(sums.iter_mut()) {
            let (s, c) = m.batch_sum(out.view(), yb.view())?;
            acc.0 += s;
            acc.1 += c;
        }
        start = end;
    }
    Ok(Evaluation {
        loss: (total / n as f64) as f32 + model.penalty(),
        metrics: metrics
            .iter()
            .zip(sums)
            .map(|(m, (s, c))| {
                (
                    m.name().to_string(),
                    if c == 0 { 0.0 } else { (s / c as f64) as f32 },
                )
            })
            .collect(),
    })
}

/// The model's outputs for `x` (`[n, ..input_shape]`), computed in batches
/// in inference mode: `[n, ..output_shape]`.
///
/// # Errors
/// [`Error::Config`] for batch size 0, [`Error::Shape`] if `x` does not fit the model.
pub fn predict(
    model: &mut dyn Model,
    x: ArrayViewD<'_, f32>,
    batch_size: usize,
) -> Result<ArrayD<f32>> {
    if batch_size == 0 {
        return Err(Error::Config("batch size must be at least 1".into()));
    }
    if x.ndim() == 0 || x.shape()[1..] != *model.input_shape() {
        let mut want = vec![usize::MAX];
        want.extend_from_slice(model.input_shape());
        return Err(Error::shape_with_help(
            format!("predict: features for model `{}`", model.name()),
            &want,
            x.shape(),
            crate::support::shape_help(&want, x.shape()),
        ));
    }
    let n = x.shape()[0];
    let mut dims = vec![n];
    dims.extend_from_slice(model.output_shape());
    let mut out = ArrayD::zeros(IxDyn(&dims));
    let mut start = 0;
    while start < n {
        let end = (start + batch_size).min(n);
        let s = Slice::from(start..end);
        let y = model.forward(x.slice_axis(Axis(0), s), false)?;
        let mut dst = out.slice_axis_mut(Axis(0), s);
        if dst.shape() != y.shape() {
            return Err(Error::shape("predict output", dst.shape(), y.shape()));
        }
        dst.assign(&y);
        start = end;
    }
    Ok(out)
}

/// Checks that a dataset fits the model (and the loss's target convention).
/// Every layer named in `frozen` has parameters in `model`.
fn check_frozen(model: &mut dyn Model, frozen: &[String]) -> Result<()> {
    if frozen.is_empty() {
        return Ok(());
    }
    let mut layers: Vec<String> = Vec::new();
    model.visit_params(&mut |p: Param<'_>| {
        let layer = p.name.split('.').next().unwrap_or(p.name).to_string();
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    });
    for f in frozen {
        if !layers.contains(f) {
            return Err(Error::Config(format!(
                "cannot freeze `{f}`: model `{}` has no layer of that name with parameters (those are: {})",
                model.name(),
                layers.join(", ")
            )));
        }
    }
    Ok(())
}

fn check_data(model: &dyn Model, loss: Loss, data: &Dataset, context: &str) -> Result<()> {
    if data.is_empty() || data.x.ndim() == 0 || data.y.ndim() == 0 {
        return Err(Error::Config(format!("{context}: the dataset is empty")));
    }
    if data.x.shape()[0] != data.y.shape()[0] {
        return Err(Error::shape(
            format!("{context}: targets (one per sample)"),
            &data.x.shape()[..1],
            &data.y.shape()[..1],
        ));
    }
    if data.x.shape()[1..] != *model.input_shape() {
        let mut want = vec![usize::MAX];
        want.extend_from_slice(model.input_shape());
        return Err(Error::shape_with_help(
            format!("{context}: features for model `{}`", model.name()),
            &want,
            data.x.shape(),
            crate::support::shape_help(&want, data.x.shape()),
        ));
    }
    let y_rest = &data.y.shape()[1..];
    let sparse_ok = matches!(loss, Loss::SparseCategoricalCrossentropy { .. })
        && (y_rest.is_empty() || y_rest == [1]);
    // One output unit and one target per sample, `[n]`: the same numbers as `[n, 1]`.
    let one_ok = y_rest.is_empty() && model.output_shape() == [1];
    if !sparse_ok && !one_ok && y_rest != model.output_shape() {
        let mut want = vec![usize::MAX];
        want.extend_from_slice(model.output_shape());
        return Err(Error::shape_with_help(
            format!("{context}: targets for model `{}`", model.name()),
            &want,
            data.y.shape(),
            crate::support::targets_help(
                matches!(loss, Loss::CategoricalCrossentropy { .. }),
                model.output_shape(),
                y_rest,
            ),
        ));
    }
    Ok(())
}

/// Targets `[n]` for a one-unit output `[1]` viewed as `[n, 1]` (what the
/// loss and metrics compare with the output); anything else as it is.
fn targets_view<'a>(model: &dyn Model, y: ArrayViewD<'a, f32>) -> ArrayViewD<'a, f32> {
    if y.ndim() == 1 && model.output_shape() == [1] {
        let n = y.len();
        if let Ok(v) = y.clone().into_shape_with_order(IxDyn(&[n, 1])) {
            return v;
        }
    }
    y
}

/// Whether larger is better for a history column.
fn maximise(column: &str) -> bool {
    column.contains("accuracy") || column.contains("f1") || column.contains("r2")
}

/// Tracks the best value of a history column.
#[derive(Debug, Clone)]
struct Best {
    column: String,
    value: f32,
    min_delta: f32,
}

impl Best {
    fn new(column: &str, min_delta: f32) -> Self {
        let value = if maximise(column) {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        Best {
            column: column.to_string(),
            value,
            min_delta: min_delta.abs(),
        }
    }

    /// Records `v`; true if it improves on the best by more than `min_delta`.
    fn update(&mut self, v: f32) -> bool {
        let better = if maximise(&self.column) {
            v - self.min_delta > self.value
        } else {
            v + self.min_delta < self.value
        };
        if better {
            self.value = v;
        }
        better
    }
}

/// Reusable batch buffers.
#[derive(Debug, Default)]
struct Buffers {
    x: Vec<f32>,
    y: Vec<f32>,
    grad: Vec<f32>,
    order: Vec<usize>,
}

/// The training loop's state between steps. [`fit`] and [`resume`] drive
/// it over whole epochs; [`Trainer::train_batch`] exposes a single step for
/// custom loops.
#[derive(Debug)]
pub struct Trainer {
    cfg: TrainConfig,
    state: TrainState,
    buf: Buffers,
    /// `(sum, count)` of the loss and of each metric over the current epoch.
    sums: Vec<(f64, usize)>,
    /// 1-based batch number within the epoch, for error messages.
    batch: usize,
}

impl Trainer {
    /// A trainer starting from scratch.
    pub fn new(cfg: &TrainConfig) -> Self {
        Trainer::with_state(cfg, TrainState::new(cfg))
    }

    /// A trainer continuing from `state`.
    pub fn with_state(cfg: &TrainConfig, state: TrainState) -> Self {
        Trainer {
            sums: vec![(0.0, 0); cfg.metrics.len() + 1],
            cfg: cfg.clone(),
            state,
            buf: Buffers::default(),
            batch: 0,
        }
    }

    /// The optimizer state, epoch count and history.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// One optimisation step on the batch `(x, y)`: forward in training
    /// mode, loss and gradient, backward, update. Returns the batch loss
    /// (penalties included). After the first call, a batch no larger than
    /// any seen before allocates nothing.
    ///
    /// # Errors
    /// [`Error::Shape`]/[`Error::Label`] for data that does not fit,
    /// [`Error::NonFinite`] if the loss or gradient is NaN or infinite (the
    /// weights are then left as they were before this step).
    pub fn train_batch(
        &mut self,
        model: &mut dyn Model,
        x: ArrayViewD<'_, f32>,
        y: ArrayViewD<'_, f32>,
    ) -> Result<f32> {
        let n = x.shape().first().copied().unwrap_or(0);
        let out_len = model.output_shape().iter().product::<usize>() * n;
        if self.buf.grad.len() < out_len {
            self.buf.grad.resize(out_len, 0.0);
        }
        let y = targets_view(model, y);
        // Custom loops number their batches from 1, for error messages.
        self.batch += 1;
        step(
            model,
            &self.cfg,
            &mut self.state.optimizer,
            &mut self.buf.grad[..out_len],
            &mut self.sums,
            x,
            y,
            (self.state.epoch + 1, self.batch),
        )
    }

    /// Checks the settings and data of a run and returns its history columns.
    fn prepare(
        &mut self,
        model: &mut dyn Model,
        cfg: &TrainConfig,
        train: &Dataset,
        val: Option<&Dataset>,
    ) -> Result<Vec<String>> {
        if cfg.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        if let Some(c) = cfg
            .checkpoint
            .as_ref()
            .filter(|c| c.every == 0 && !c.save_best_only)
        {
            return Err(Error::Config(format!(
                "checkpointing to {} with `every: 0` and no `save_best_only` would never save; set `every` to at least 1",
                c.path.display()
            )));
        }
        if self.state.epoch > cfg.epochs {
            return Err(Error::Config(format!(
                "the resumed state has completed {} epochs, more than the {} this run is configured for; set `epochs` above {} to continue",
                self.state.epoch, cfg.epochs, self.state.epoch
            )));
        }
        check_data(model, cfg.loss, train, "fit")?;
        check_frozen(model, &cfg.frozen)?;
        if let Some(v) = val {
            check_data(model, cfg.loss, v, "fit (validation data)")?;
        }
        let mut columns = vec!["loss".to_string()];
        columns.extend(cfg.metrics.iter().map(|m| m.name().to_string()));
        if val.is_some() {
            let val_cols: Vec<String> = columns.iter().map(|c| format!("val_{c}")).collect();
            columns.extend(val_cols);
        }
        for (what, monitor) in [
            (
                "early stopping",
                cfg.early_stopping.as_ref().map(|e| &e.monitor),
            ),
            (
                "checkpointing",
                cfg.checkpoint
                    .as_ref()
                    .filter(|c| c.save_best_only)
                    .map(|c| &c.monitor),
            ),
        ] {
            if let Some(m) = monitor {
                if !columns.contains(m) {
                    return Err(Error::Config(format!(
                        "{what} monitors `{m}`, but the history will only have: {}{}",
                        columns.join(", "),
                        if val.is_none() {
                            " (set validation_split or pass validation data for val_ columns)"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        if self.state.history.columns.is_empty() {
            self.state.history.columns = columns.clone();
        } else if self.state.history.columns != columns {
            return Err(Error::Config(format!(
                "resumed history has columns {:?}, this run produces {:?}",
                self.state.history.columns, columns
            )));
        }
        Ok(columns)
    }

    /// Trains until `cfg.epochs` epochs are complete (or early stopping),
    /// returning the history. With `dist`, as one rank of a data-parallel
    /// run: steps go through [`Dist::step`] and every decision is taken on
    /// numbers all ranks share.
    fn run(
        &mut self,
        model: &mut dyn Model,
        train: &Dataset,
        val: Option<&Dataset>,
        mut dist: Option<&mut Dist<'_>>,
    ) -> Result<History> {
        let cfg = self.cfg.clone();
        let columns = self.prepare(model, &cfg, train, val);
        let columns = match dist.as_deref_mut() {
            Some(d) => d.agree(columns, "checking the settings and data")?,
            None => columns?,
        };

        let x = train.x.as_standard_layout();
        let y = train.y.as_standard_layout();
        let n = train.len();
        let x_row = x.len() / n;
        let y_row = y.len() / n;
        let (bs, n_batches, max_rows) = match dist.as_deref_mut() {
            Some(d) => {
                let (bs, steps) = d.start(model, n, cfg.batch_size)?;
                (bs, steps, d.max_rows(bs))
            }
            None => {
                let bs = cfg.batch_size.min(n);
                (bs, n.div_ceil(bs), bs)
            }
        };
        let root = dist.as_ref().is_none_or(|d| d.is_root());
        self.buf.x.resize(max_rows * x_row, 0.0);
        self.buf.y.resize(max_rows * y_row, 0.0);
        let mut x_shape = x.raw_dim();
        let mut y_shape = targets_view(model, y.view()).raw_dim();
        let (Some(xs), Some(ys)) = (x.as_slice(), y.as_slice()) else {
            return Err(Error::Config("training data is not contiguous".into()));
        };

        let mut early = cfg
            .early_stopping
            .as_ref()
            .map(|e| (e.clone(), Best::new(&e.monitor, e.min_delta), 0usize));
        let mut ckpt_best = cfg.checkpoint.as_ref().map(|c| Best::new(&c.monitor, 0.0));
        let mut best_weights: Option<(usize, Vec<Vec<f32>>)> = None;
        // Only rank 0 of a distributed run talks.
        let verbosity = if root {
            resolve(cfg.verbose)
        } else {
            Verbosity::Silent
        };
        let show = verbosity == Verbosity::ProgressBar && std::io::stderr().is_terminal();
        let base_lr = cfg.optimizer.lr();
        let salt = dist.as_ref().map_or(0, |d| d.salt());
        let sharded = dist
            .as_ref()
            .is_some_and(|d| d.layout() == DataLayout::Sharded);

        while self.state.epoch < cfg.epochs {
            let epoch = self.state.epoch;
            let lr = cfg.schedule.lr(base_lr, epoch);
            self.state.optimizer.set_lr(lr);
            // Derive per-epoch seeds so a resumed run repeats the same shuffles and dropout masks.
            let epoch_seed = cfg.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            model.reseed(epoch_seed ^ salt);
            self.buf.order.clear();
            self.buf.order.extend(0..n);
            if cfg.shuffle {
                // Replicated data: one global order, the same on every rank.
                let seed = if sharded {
                    epoch_seed ^ salt
                } else {
                    epoch_seed
                };
                Rng::seed_from(seed).shuffle(&mut self.buf.order);
            }
            self.sums.iter_mut().for_each(|s| *s = (0.0, 0));
            let bar = progress_bar(show, n_batches as u64, epoch + 1, cfg.epochs);
            let started = std::time::Instant::now();
            for b in 0..n_batches {
                self.batch = b + 1;
                let idx = match dist.as_deref() {
                    Some(d) => d.rows(&self.buf.order, b, bs),
                    None => &self.buf.order[b * bs..((b + 1) * bs).min(n)],
                };
                let m = idx.len();
                for (k, &i) in idx.iter().enumerate() {
                    self.buf.x[k * x_row..(k + 1) * x_row]
                        .copy_from_slice(&xs[i * x_row..(i + 1) * x_row]);
                    self.buf.y[k * y_row..(k + 1) * y_row]
                        .copy_from_slice(&ys[i * y_row..(i + 1) * y_row]);
                }
                x_shape[0] = m;
                y_shape[0] = m;
                let xb = ArrayViewD::from_shape(x_shape.clone(), &self.buf.x[..m * x_row])
                    .map_err(|_| {
                        Error::shape(
                            "fit batch",
                            x_shape.as_array_view().as_slice().unwrap_or(&[]),
                            &[m * x_row],
                        )
                    })?;
                let yb = ArrayViewD::from_shape(y_shape.clone(), &self.buf.y[..m * y_row])
                    .map_err(|_| {
                        Error::shape(
                            "fit batch",
                            y_shape.as_array_view().as_slice().unwrap_or(&[]),
                            &[m * y_row],
                        )
                    })?;
                let out_len = model.output_shape().iter().product::<usize>() * m;
                if self.buf.grad.len() < out_len {
                    self.buf.grad.resize(out_len, 0.0);
                }
                let (opt, grad) = (&mut self.state.optimizer, &mut self.buf.grad[..out_len]);
                let at = (epoch + 1, b + 1);
                let loss = match dist.as_deref_mut() {
                    Some(d) => d.step(model, &cfg, opt, grad, &mut self.sums, xb, yb, at)?,
                    None => step(model, &cfg, opt, grad, &mut self.sums, xb, yb, at)?,
                };
                if let Some(bar) = &bar {
                    bar.inc(1);
                    if b % 16 == 0 {
                        bar.set_message(format!("loss {loss:.4}"));
                    }
                }
            }
            if let Some(d) = dist.as_deref_mut() {
                d.reduce_sums(&mut self.sums)?;
            }
            let mut row: Vec<f32> = self
                .sums
                .iter()
                .map(|&(s, c)| if c == 0 { 0.0 } else { (s / c as f64) as f32 })
                .collect();
            if let Some(v) = val {
                let e = match dist.as_deref_mut() {
                    Some(d) => d.evaluation(model, &cfg, &cfg.metrics, v, epoch + 1)?,
                    None => evaluate(model, cfg.loss, &cfg.metrics, v, cfg.batch_size)?,
                };
                row.push(e.loss);
                row.extend(e.metrics.iter().map(|(_, m)| *m));
            }
            self.state.epoch += 1;
            let h = &mut self.state.history;
            h.rows.push(row.clone());
            h.epochs.push(epoch + 1);
            h.lr.push(lr);
            if let Some(bar) = bar {
                let parts: Vec<String> = columns
                    .iter()
                    .zip(&row)
                    .map(|(c, v)| format!("{c} {v:.4}"))
                    .collect();
                bar.finish_with_message(parts.join("  "));
            }
            if verbosity == Verbosity::EpochLines {
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "{}",
                    epoch_line(epoch + 1, cfg.epochs, secs, &columns, &row)
                );
            }
            let value = |col: &str| columns.iter().position(|c| c == col).map(|k| row[k]);

            if let (Some(c), Some(best)) = (&cfg.checkpoint, ckpt_best.as_mut()) {
                let due = c.every > 0 && self.state.epoch.is_multiple_of(c.every);
                let improved = value(&c.monitor).is_some_and(|v| best.update(v));
                if (c.save_best_only && improved) || (!c.save_best_only && due) {
                    match dist.as_deref_mut() {
                        Some(d) => {
                            // The ranks hold shares of the optimizer state:
                            // gather it whole (every rank takes part), so the
                            // checkpoint resumes on any number of ranks.
                            let whole = d.gathered(model, &self.state)?;
                            let saved = if root {
                                crate::io::save_checkpoint(&c.path, model, &whole)
                            } else {
                                Ok(())
                            };
                            d.agree(saved, "writing a checkpoint")?
                        }
                        None => crate::io::save_checkpoint(&c.path, model, &self.state)?,
                    }
                }
            }
            if let Some((es, best, wait)) = early.as_mut() {
                let v = value(&es.monitor).unwrap_or(f32::NAN);
                if best.update(v) {
                    *wait = 0;
                    if es.restore_best_weights {
                        snapshot(model, &mut best_weights, epoch + 1);
                    }
                } else {
                    *wait += 1;
                    if *wait >= es.patience {
                        self.state.history.stopped_epoch = Some(epoch + 1);
                        if verbosity != Verbosity::Silent {
                            println!(
                                "early stopping after epoch {}: `{}` has not improved for {} epoch(s)",
                                epoch + 1,
                                es.monitor,
                                *wait
                            );
                        }
                        break;
                    }
                }
            }
        }
        if let Some((epoch, weights)) = &best_weights {
            restore(model, weights);
            self.state.history.restored_epoch = Some(*epoch);
            if verbosity != Verbosity::Silent {
                println!("restored the weights of epoch {epoch}, the best one");
            }
        }
        Ok(self.state.history.clone())
    }
}

/// One step; see [`Trainer::train_batch`]. `at` is `(epoch, batch)`, 1-based.
#[allow(clippy::too_many_arguments)]
fn step(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    opt: &mut OptimizerState,
    grad: &mut [f32],
    sums: &mut [(f64, usize)],
    x: ArrayViewD<'_, f32>,
    y: ArrayViewD<'_, f32>,
    at: (usize, usize),
) -> Result<f32> {
    let _ftz = FlushDenormals::new();
    let loss = forward_backward(model, cfg, grad, sums, x, y, at)?;
    update(model, opt, at)?;
    Ok(loss)
}

/// The first half of a step: forward, loss (added to `sums`) and backward,
/// which leaves the gradients in the model. Returns the batch loss.
pub(crate) fn forward_backward(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    grad: &mut [f32],
    sums: &mut [(f64, usize)],
    x: ArrayViewD<'_, f32>,
    y: ArrayViewD<'_, f32>,
    (epoch, batch): (usize, usize),
) -> Result<f32> {
    let act = model.output_activation();
    let n = x.shape().first().copied().unwrap_or(0);
    // The parameters do not change during the pass.
    let penalty = model.penalty();
    let mut batch_loss = f32::NAN;
    model.train_pass(x, grad, &mut |out, grad| {
        let mut g = ArrayViewMutD::from_shape(out.raw_dim(), grad)
            .map_err(|_| Error::shape("loss gradient", out.shape(), &[n]))?;
        let (loss, at) = cfg
            .loss
            .loss_and_grad(out.view(), y.view(), act, g.view_mut())?;
        for (m, acc) in cfg.metrics.iter().zip(sums.iter_mut().skip(1)) {
            let (s, c) = m.batch_sum(out.view(), y.view())?;
            acc.0 += s;
            acc.1 += c;
        }
        let loss = loss + penalty;
        if !loss.is_finite() {
            return Err(Error::NonFinite {
                what: "loss",
                value: loss,
                epoch,
                batch,
            });
        }
        sums[0].0 += loss as f64 * n as f64;
        sums[0].1 += n;
        batch_loss = loss;
        Ok(at)
    })?;
    Ok(batch_loss)
}

/// The second half of a step: the optimizer update from the gradients the
/// model lends, refused when their norm is not finite.
pub(crate) fn update(
    model: &mut dyn Model,
    opt: &mut OptimizerState,
    (epoch, batch): (usize, usize),
) -> Result<()> {
    let norm = opt.step(model);
    if !norm.is_finite() {
        return Err(Error::NonFinite {
            what: "gradient norm",
            value: norm,
            epoch,
            batch,
        });
    }
    Ok(())
}

/// Treats subnormal floats as zero (x86 FTZ and DAZ) while alive and puts
/// the previous mode back when dropped. A training step runs under it: the
/// optimizer state of a weight whose gradient is exactly zero (a dead ReLU,
/// an always-black MNIST pixel) decays geometrically into the subnormal
/// range, where every multiply costs about a hundred cycles; XLA flushes
/// them for the same reason.
pub(crate) struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        #[allow(deprecated)]
        // SAFETY: reading and setting MXCSR's FTZ (bit 15) and DAZ (bit 6)
        // changes only how this thread rounds subnormal results and inputs.
        unsafe {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            let saved = _mm_getcsr();
            _mm_setcsr(saved | 0x8040);
            FlushDenormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {}
    }
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        #[allow(deprecated)]
        // SAFETY: restores the mode saved in `new`.
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved)
        };
    }
}

/// Copies the parameters into `best` (allocating only the first time).
fn snapshot(model: &mut dyn Model, best: &mut Option<(usize, Vec<Vec<f32>>)>, epoch: usize) {
    let slot = best.get_or_insert_with(|| (epoch, Vec::new()));
    slot.0 = epoch;
    let weights = &mut slot.1;
    let mut k = 0;
    model.visit_params(&mut |p: Param<'_>| {
        if weights.len() <= k {
            weights.push(p.value.to_vec());
        } else {
            weights[k].clear();
            weights[k].extend_from_slice(p.value);
        }
        k += 1;
    });
}

/// Writes back parameters saved by [`snapshot`].
fn restore(model: &mut dyn Model, weights: &[Vec<f32>]) {
    let mut k = 0;
    model.visit_params(&mut |p: Param<'_>| {
        if let Some(w) = weights.get(k) {
            if w.len() == p.value.len() {
                p.value.copy_from_slice(w);
            }
        }
        k += 1;
    });
}

fn progress_bar(
    show: bool,
    len: u64,
    epoch: usize,
    epochs: usize,
) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:25}] {pos}/{len} {elapsed} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{Optimizer, Schedule};
    use crate::sequential::Sequential;
    use crate::Activation;
    use ndarray::{Array1, Array2};

    /// Three Gaussian blobs in 2-D, labels as class indices.
    pub(crate) fn blobs(n: usize, seed: u64) -> Dataset {
        let mut rng = Rng::seed_from(seed);
        let centres = [(-2.0f32, 0.0f32), (2.0, 0.0), (0.0, 2.5)];
        let mut x = Array2::zeros((n, 2));
        let mut y = Array1::zeros(n);
        for i in 0..n {
            let c = i % 3;
            x[[i, 0]] = centres[c].0 + 0.6 * rng.normal();
            x[[i, 1]] = centres[c].1 + 0.6 * rng.normal();
            y[i] = c as f32;
        }
        Dataset::new(x.into_dyn(), y.into_dyn()).unwrap()
    }

    fn model(seed: u64) -> Sequential {
        Sequential::builder(&[2])
            .dense(16, Activation::Relu)
            .dropout(0.1)
            .dense(3, Activation::Softmax)
            .build(seed)
            .unwrap()
    }

    fn cfg() -> TrainConfig {
        TrainConfig {
            loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
            optimizer: Optimizer::adam(0.02),
            batch_size: 16,
            epochs: 15,
            metrics: vec![Metric::Accuracy],
            validation_split: 0.2,
            verbose: Verbosity::Silent,
            ..TrainConfig::default()
        }
    }

    /// The bundled iris file is sorted by class: its last 20% are all
    /// class 2. Shuffled, or for regression targets, there is no warning.
    #[test]
    fn a_validation_split_of_sorted_classes_is_reported() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sklearn/iris.csv");
        let opts = crate::data::csv::CsvOptions {
            header: false,
            skip_lines: 1,
            ..Default::default()
        };
        let mut iris = crate::data::csv::read_csv(path, &opts).unwrap();
        let (train, val) = iris.validation_split(0.2).unwrap();
        let w = validation_split_warning(&train, &val).expect("iris validates on one class");
        assert!(
            w.contains("last 30 samples") && w.contains("class 2") && w.contains("3 classes"),
            "{w}"
        );
        // One-hot targets are class labels too.
        let one_hot = |d: &Dataset| {
            let y = ndarray::Array2::from_shape_fn((d.len(), 3), |(i, j)| {
                f32::from(d.y[[i]] as usize == j)
            });
            Dataset::new(d.x.clone(), y.into_dyn()).unwrap()
        };
        assert!(validation_split_warning(&one_hot(&train), &one_hot(&val)).is_some());
        iris.shuffle(7);
        let (train, val) = iris.validation_split(0.2).unwrap();
        assert_eq!(validation_split_warning(&train, &val), None);
        // Regression targets are not classes, whatever their order.
        let x = ndarray::Array2::<f32>::zeros((10, 1)).into_dyn();
        let y = ndarray::Array1::from_shape_fn(10, |i| i as f32 * 0.37).into_dyn();
        let (train, val) = Dataset::new(x, y).unwrap().validation_split(0.2).unwrap();
        assert_eq!(validation_split_warning(&train, &val), None);
    }

    #[test]
    fn learns_blobs_and_reports_history() {
        let data = blobs(300, 1);
        let mut m = model(1);
        let h = fit(&mut m, &cfg(), &data).unwrap();
        assert_eq!(h.columns, ["loss", "accuracy", "val_loss", "val_accuracy"]);
        assert_eq!(h.len(), 15);
        let loss = h.get("loss").unwrap();
        assert!(loss[14] < loss[0] * 0.5, "{loss:?}");
        assert!(h.last("val_accuracy").unwrap() > 0.9, "{h:?}");
        let test = blobs(90, 2);
        let e = evaluate(&mut m, cfg().loss, &[Metric::Accuracy], &test, 7).unwrap();
        assert!(e.metrics[0].1 > 0.9);
        let p = predict(&mut m, test.x.view(), 32).unwrap();
        assert_eq!(p.shape(), &[90, 3]);
        assert!(
            (Metric::Accuracy.compute(p.view(), test.y.view()).unwrap() - e.metrics[0].1).abs()
                < 1e-6
        );
    }

    #[test]
    fn same_seed_same_result() {
        let data = blobs(120, 3);
        let run = |seed| {
            let mut m = model(7);
            let c = TrainConfig {
                seed,
                epochs: 3,
                ..cfg()
            };
            fit(&mut m, &c, &data).unwrap().rows
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn nan_guard_names_epoch_and_batch() {
        let data = blobs(60, 4);
        let mut m = Sequential::builder(&[2])
            .dense(3, Activation::Linear)
            .build(0)
            .unwrap();
        let c = TrainConfig {
            loss: Loss::Mse,
            optimizer: Optimizer::sgd(1e6),
            validation_split: 0.0,
            metrics: vec![],
            epochs: 50,
            ..cfg()
        };
        let y3 = Array2::from_shape_fn((60, 3), |(i, j)| data.y[[i]] + j as f32).into_dyn();
        let d = Dataset::new(data.x.clone(), y3).unwrap();
        let err = fit(&mut m, &c, &d).unwrap_err();
        let Error::NonFinite { epoch, batch, .. } = err else {
            panic!("{err}")
        };
        assert!(epoch >= 1 && batch >= 1);
        // The weights are the last finite ones, not NaN.
        let mut finite = true;
        m.visit_params(&mut |p| finite &= p.value.iter().all(|v| v.is_finite()));
        assert!(finite);
    }

    #[test]
    fn bad_settings_and_data_are_clear_errors() {
        let data = blobs(30, 5);
        let mut m = model(0);
        let zero = TrainConfig {
            batch_size: 0,
            ..cfg()
        };
        assert!(fit(&mut m, &zero, &data)
            .unwrap_err()
            .to_string()
            .contains("batch size"));
        let onehot_loss = TrainConfig {
            loss: Loss::CategoricalCrossentropy { from_logits: false },
            ..cfg()
        };
        let err = fit(&mut m, &onehot_loss, &data).unwrap_err().to_string();
        assert!(err.contains("sparse_categorical_crossentropy"), "{err}");
        let es = TrainConfig {
            validation_split: 0.0,
            early_stopping: Some(EarlyStopping::default()),
            ..cfg()
        };
        let err = fit(&mut m, &es, &data).unwrap_err().to_string();
        assert!(
            err.contains("val_loss") && err.contains("validation_split"),
            "{err}"
        );
        let empty = Dataset::new(
            Array2::zeros((0, 2)).into_dyn(),
            Array1::zeros(0).into_dyn(),
        )
        .unwrap();
        assert!(fit_with_validation(&mut m, &cfg(), &empty, None).is_err());
        let wrong_x = Dataset::new(
            Array2::zeros((5, 3)).into_dyn(),
            Array1::zeros(5).into_dyn(),
        )
        .unwrap();
        assert!(matches!(
            fit(
                &mut m,
                &TrainConfig {
                    validation_split: 0.0,
                    ..cfg()
                },
                &wrong_x
            ),
            Err(Error::Shape { .. })
        ));
        let mut labels = data.clone();
        labels.y[[3]] = 7.0;
        let err = fit(
            &mut m,
            &TrainConfig {
                validation_split: 0.0,
                ..cfg()
            },
            &labels,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("label 7"), "{err}");
    }

    #[test]
    fn early_stopping_stops_and_restores_the_best_weights() {
        let data = blobs(150, 6);
        let mut m = model(2);
        let c = TrainConfig {
            epochs: 200,
            // A rate high enough that validation loss soon stops improving.
            optimizer: Optimizer::sgd(0.5),
            early_stopping: Some(EarlyStopping {
                monitor: "val_loss".into(),
                patience: 2,
                min_delta: 1e-3,
                restore_best_weights: true,
            }),
            ..cfg()
        };
        let h = fit(&mut m, &c, &data).unwrap();
        let stopped = h.stopped_epoch.expect("should stop early");
        assert!(stopped < 200);
        let best = h.restored_epoch.unwrap();
        let vl = h.get("val_loss").unwrap();
        let best_val = vl.iter().cloned().fold(f32::INFINITY, f32::min);
        assert!((vl[best - 1] - best_val).abs() < 1e-3);
        // The restored model scores the best epoch's validation loss (dropout is off in evaluation).
        let (_, val) = data.validation_split(0.2).unwrap();
        let e = evaluate(&mut m, c.loss, &[], &val, 64).unwrap();
        assert!(
            (e.loss - vl[best - 1]).abs() < 1e-4,
            "{} vs {}",
            e.loss,
            vl[best - 1]
        );
    }

    #[test]
    fn early_stopping_counts_patience_as_keras_does() {
        // With a zero learning rate the validation loss never changes: epoch
        // 1 sets the best and no later epoch improves on it, so Keras stops
        // after epoch 1 + patience (patience 0 behaves as 1).
        let data = blobs(60, 8);
        for (patience, stop) in [(0, 2), (1, 2), (3, 4), (20, 21)] {
            let c = TrainConfig {
                epochs: 50,
                optimizer: Optimizer::sgd(0.0),
                early_stopping: Some(EarlyStopping {
                    patience,
                    ..EarlyStopping::default()
                }),
                ..cfg()
            };
            let h = fit(&mut model(3), &c, &data).unwrap();
            assert_eq!(h.stopped_epoch, Some(stop), "patience {patience}");
            assert_eq!(h.len(), stop, "patience {patience}");
        }
    }

    #[test]
    fn schedule_sets_the_learning_rate_per_epoch() {
        let data = blobs(60, 7);
        let mut m = model(0);
        let c = TrainConfig {
            epochs: 3,
            schedule: Schedule::Exponential { rate: 0.5 },
            ..cfg()
        };
        let h = fit(&mut m, &c, &data).unwrap();
        assert_eq!(h.lr, [0.02, 0.01, 0.005]);
    }

    #[test]
    fn checkpoint_resume_matches_an_uninterrupted_run() {
        let dir = std::env::temp_dir().join(format!("nnc-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.safetensors");
        let data = blobs(90, 8);
        let full_cfg = TrainConfig { epochs: 4, ..cfg() };
        let mut full = model(3);
        let full_h = fit(&mut full, &full_cfg, &data).unwrap();

        let half_cfg = TrainConfig {
            epochs: 2,
            checkpoint: Some(Checkpointing {
                path: path.clone(),
                every: 1,
                save_best_only: false,
                monitor: "val_loss".into(),
            }),
            ..cfg()
        };
        let mut first = model(3);
        fit(&mut first, &half_cfg, &data).unwrap();
        let mut resumed = model(99);
        let state = crate::io::load_checkpoint(&path, &mut resumed, &full_cfg).unwrap();
        assert_eq!(state.epoch, 2);
        let (tr, va) = data.validation_split(0.2).unwrap();
        let h = resume(&mut resumed, &full_cfg, &tr, Some(&va), state).unwrap();
        assert_eq!(h.epochs, [1, 2, 3, 4]);
        for (a, b) in h.rows.iter().flatten().zip(full_h.rows.iter().flatten()) {
            assert!((a - b).abs() < 1e-5, "{h:?}\n{full_h:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
