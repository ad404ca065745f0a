//! Kernels on ndarray views: each layer kind's forward and backward side by
//! side, writing into caller-provided buffers so a training step allocates
//! nothing.
//!
//! Shapes are fixed by the (generated) caller, not by user data, so a shape
//! disagreement here is a bug in the caller and panics with the shapes in the
//! message; everything that user data can reach returns [`crate::Error`].

pub mod act;
pub mod dense;
pub mod dropout;
pub(crate) mod gemm;
pub mod penalty;
pub mod softmax;

pub use gemm::gemm;

#[cfg(test)]
pub(crate) mod gradcheck;
