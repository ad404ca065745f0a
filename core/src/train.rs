//! Training settings: what a spec's `train` block says and `nnc::fit` reads.
//! Every default is decided here, once, for both the compiler and the runtime.

use std::path::PathBuf;

use crate::{Loss, Metric, Optimizer, Schedule};

/// Early stopping: stop when `monitor` has not improved by more than
/// `min_delta` for `patience` epochs (Keras' `EarlyStopping`).
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    /// History column to watch, e.g. `val_loss` (default) or `val_accuracy`.
    /// Columns holding `accuracy` are maximised, the others minimised.
    pub monitor: String,
    /// Training stops once this many epochs in a row have not improved on
    /// the best (as Keras counts: with 3, a best epoch 10 followed by no
    /// improvement stops after epoch 13; 0 and 1 both stop at the first
    /// epoch without improvement).
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    pub min_delta: f32,
    /// Put back the weights of the best epoch when training ends.
    pub restore_best_weights: bool,
}

impl Default for EarlyStopping {
    /// `val_loss`, patience 5, `min_delta` 0, restoring the best weights:
    /// what `early_stopping true` means in a spec. (Keras' own defaults,
    /// patience 0 without restoring, stop at the first noisy epoch and keep
    /// the last weights, which is rarely what anyone wants.)
    fn default() -> Self {
        EarlyStopping {
            monitor: "val_loss".into(),
            patience: 5,
            min_delta: 0.0,
            restore_best_weights: true,
        }
    }
}

/// Saving checkpoints (weights, optimizer state and epoch) during training.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpointing {
    /// The safetensors file to write (atomically: a crash never leaves half a file).
    pub path: PathBuf,
    /// Save every this many epochs (0: only when `save_best_only` improves).
    pub every: usize,
    /// Save only when `monitor` improves.
    pub save_best_only: bool,
    /// History column for `save_best_only`.
    pub monitor: String,
}

/// Everything the runtime's `fit` needs to know; generated code builds it from the
/// spec's `train` block, and every field can be overridden from Rust.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// The loss.
    pub loss: Loss,
    /// The optimizer and its hyper-parameters.
    pub optimizer: Optimizer,
    /// Samples per step (default 32).
    pub batch_size: usize,
    /// Passes over the training data (default 1).
    pub epochs: usize,
    /// Reshuffle the training samples every epoch (default true).
    pub shuffle: bool,
    /// Seeds shuffling and dropout: the same seed gives the same run.
    pub seed: u64,
    /// Fraction of the data, taken from the end before shuffling, held out for validation (0: none).
    pub validation_split: f32,
    /// Metrics reported per epoch besides the loss.
    pub metrics: Vec<Metric>,
    /// Early stopping, if any.
    pub early_stopping: Option<EarlyStopping>,
    /// Clip gradients to this global L2 norm.
    pub clip_norm: Option<f32>,
    /// Learning-rate schedule over epochs.
    pub schedule: Schedule,
    /// Checkpointing, if any.
    pub checkpoint: Option<Checkpointing>,
    /// Layers (by name, e.g. `dense1`) whose parameters this run leaves
    /// unchanged: freeze a pretrained base for a first phase, then train
    /// again with it empty to fine-tune. Unlike `trainable = false` in the
    /// spec, backward still computes these layers' gradients.
    pub frozen: Vec<String>,
    /// What `fit` prints per epoch (Keras' `verbose`); [`Verbosity::Auto`]
    /// by default: a progress bar on a terminal, one line per epoch in a
    /// log or pipe.
    pub verbose: Verbosity,
}

/// How much `fit` prints, as Keras' `verbose` argument: `0`, `1`, `2` or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Nothing (Keras `verbose=0`).
    Silent,
    /// A progress bar per epoch on stderr, finished with the epoch's
    /// metrics (Keras `verbose=1`). Drawn only when stderr is a terminal:
    /// a bar redrawn into a log file is noise.
    ProgressBar,
    /// One line per epoch on stdout (Keras `verbose=2`), e.g.
    /// `epoch 3/10 - 1.2s - loss 0.2345 - accuracy 0.9312`.
    EpochLines,
    /// [`Verbosity::ProgressBar`] when stdout and stderr are both
    /// terminals, else [`Verbosity::EpochLines`], so output piped to a
    /// file or a CI log still shows progress.
    #[default]
    Auto,
}

impl Verbosity {
    /// Keras' numbering: 0 silent, 1 progress bar, 2 one line per epoch;
    /// `None` for another number.
    pub fn from_level(level: u8) -> Option<Verbosity> {
        match level {
            0 => Some(Verbosity::Silent),
            1 => Some(Verbosity::ProgressBar),
            2 => Some(Verbosity::EpochLines),
            _ => None,
        }
    }
}

impl From<bool> for Verbosity {
    /// `true` is [`Verbosity::Auto`], `false` [`Verbosity::Silent`].
    fn from(on: bool) -> Verbosity {
        if on {
            Verbosity::Auto
        } else {
            Verbosity::Silent
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            loss: Loss::Mse,
            optimizer: Optimizer::default(),
            batch_size: 32,
            epochs: 1,
            shuffle: true,
            seed: 0,
            validation_split: 0.0,
            metrics: Vec::new(),
            early_stopping: None,
            clip_norm: None,
            schedule: Schedule::Constant,
            checkpoint: None,
            frozen: Vec::new(),
            verbose: Verbosity::Auto,
        }
    }
}
