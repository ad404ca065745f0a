//! Element-wise activations and their derivatives, side by side: the
//! [`Activation`] enum and its scalar math live in `nnc-core` (shared with the
//! compiler) and are re-exported here at their usual paths.
//!
//! The slice and array kernels built on these (including the row-wise
//! softmax) live in [`crate::kernels::act`] and [`crate::kernels::softmax`].

pub use nnc_core::activation::{sigmoid, softplus, Activation};
