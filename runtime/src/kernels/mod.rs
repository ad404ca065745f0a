//! Kernels on ndarray views: each layer kind's forward and backward side by
//! side, writing into caller-provided buffers so a training step allocates
//! nothing.
//!
//! Shapes are fixed by the (generated) caller, not by user data, so a shape
//! disagreement here is a bug in the caller and panics with the shapes in the
//! message; everything that user data can reach returns [`crate::Error`].

pub mod act;
/// 2-D convolution (channels-last, Keras kernel layout) through im2col and the gemm.
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub(crate) mod gemm;
pub mod penalty;
pub mod softmax;
/// Output-size arithmetic of sliding windows, dependency-free so the compiler can share it.
pub mod window;

pub use gemm::gemm;

#[cfg(test)]
pub(crate) mod gradcheck;
