//! The vocabulary nnc's compiler and runtime share: activations,
//! initialisers, losses, optimizers, learning-rate schedules, metrics and
//! training settings, each with its defaults, decided here once; and a
//! network's inference graph as plain data ([`graph::Graph`]), which
//! exporters read.
//!
//! The compiler (`nnc-dsl`) resolves a spec's names to these values and
//! emits them into generated code (feature `tokens`); the runtime
//! (`nnc-runtime`) re-exports them at their usual paths (`nnc::Activation`,
//! `nnc::optim::Optimizer`, ...) and implements the array computations on
//! them. This crate has no dependencies by default, so the proc macro builds
//! without the runtime's array and kernel code.
//!
//! ```
//! use nnc_core::{Activation, Optimizer, TrainConfig};
//! assert_eq!(Activation::named("leaky_relu"), Some(Activation::LeakyRelu { alpha: 0.01 }));
//! // A train block without an optimizer gets the same one as `TrainConfig::default()`.
//! assert_eq!(TrainConfig::default().optimizer, Optimizer::named("adam").unwrap());
//! ```

#![warn(missing_docs)]

pub mod activation;
pub mod graph;
pub mod init;
pub mod loss;
pub mod metrics;
pub mod optim;
#[cfg(feature = "tokens")]
pub mod tokens;
pub mod train;
pub mod window;

pub use activation::Activation;
pub use init::Init;
pub use loss::Loss;
pub use metrics::Metric;
pub use optim::{EpsPlacement, Optimizer, Schedule};
pub use train::{Checkpointing, EarlyStopping, TrainConfig, Verbosity};
