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
pub mod merge;
pub mod penalty;
pub mod softmax;

pub use gemm::gemm;

use ndarray::{ArrayViewMut, Dimension};

/// Where a backward pass puts the gradient of one of its inputs.
///
/// A value that feeds several layers (a residual connection) gets the sum
/// of their gradients: the first layer backward reaches writes it, the
/// others add into it.
#[derive(Debug)]
pub enum Grad<'a, D: Dimension> {
    /// Overwrite the buffer.
    Write(ArrayViewMut<'a, f32, D>),
    /// Add into the buffer.
    Add(ArrayViewMut<'a, f32, D>),
}

impl<'a, D: Dimension> Grad<'a, D> {
    /// Whether the gradient is added into the buffer.
    pub fn accumulates(&self) -> bool {
        matches!(self, Grad::Add(_))
    }

    /// The buffer.
    pub fn view_mut(&mut self) -> ArrayViewMut<'_, f32, D> {
        match self {
            Grad::Write(v) | Grad::Add(v) => v.view_mut(),
        }
    }

    /// The buffer, and whether to add into it.
    pub fn into_parts(self) -> (ArrayViewMut<'a, f32, D>, bool) {
        match self {
            Grad::Write(v) => (v, false),
            Grad::Add(v) => (v, true),
        }
    }
}

#[cfg(test)]
pub(crate) mod gradcheck;
