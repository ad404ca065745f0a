//! The runtime that nnc-generated networks call: kernels, activations, losses,
//! optimizers, initialisers, data loading, metrics, weights I/O and the
//! training loop.
//!
//! Generated code implements [`Model`]; everything else here works on any
//! [`Model`], so a network assembled by hand from the kernels
//! ([`sequential::Sequential`]) trains the same way.
//!
//! | module | what |
//! | --- | --- |
//! | [`kernels`] | gemm (allocation-free), dense, activations, softmax/log-softmax, dropout, penalties: forward and backward side by side |
//! | [`activation`], [`loss`] | activations with derivatives; losses with stable from-logits forms and fused `p - y` gradients |
//! | [`optim`], [`init`], [`rng`] | optimizers with per-parameter state, clipping, schedules; initialisers; the seeded RNG |
//! | [`data`] | [`Dataset`], IDX and CSV readers, scaling, one-hot, shuffling, batches, splits, k-fold |
//! | [`train`], [`history`] | `fit` / `evaluate` / `predict`, early stopping, checkpoints, NaN guard, progress bar |
//! | [`dist`] | data-parallel training: the [`dist::GradientSync`] hook a transport such as MPI implements |
//! | [`metrics`], [`io`], [`plot`] | metrics and confusion matrix; safetensors weights and checkpoints; PNG learning curves |
//! | [`sequential`] | a dense network assembled from the kernels at run time |

#![warn(missing_docs)]

pub mod activation;
pub mod data;
pub mod dist;
pub mod error;
pub mod grad;
pub mod history;
pub mod init;
pub mod io;
pub mod kernels;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plot;
mod pool;
pub mod rng;
pub mod sequential;
pub mod support;
pub mod train;

pub use activation::Activation;
pub use data::Dataset;
pub use error::{Error, Result};
pub use grad::{gradients, Gradients};
pub use history::History;
pub use loss::{Loss, LossExt};
pub use metrics::{Metric, MetricExt};
pub use model::{GradAt, LayerInfo, Model, Param, PassLoss};
/// The array crate the runtime is built on, re-exported so that users and
/// generated code agree on one version.
pub use ndarray;
/// A network's inference graph as plain data (from `nnc-core`): what
/// [`Model::graph`] returns and exporters read.
pub use nnc_core::graph;
pub use optim::{Optimizer, OptimizerState, Schedule};
pub use rng::Rng;
pub use train::{evaluate, fit, fit_with_validation, predict, TrainConfig};
