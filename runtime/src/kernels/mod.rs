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
/// The top-left corner of each image: where a layer reads less of a map than was computed.
pub mod crop;
pub mod dense;
pub mod dropout;
pub(crate) mod gemm;
pub mod merge;
pub mod penalty;
/// Max, average and global average pooling, channels-last.
pub mod pool2d;
pub mod softmax;
/// Output-size arithmetic of sliding windows, dependency-free so the compiler can share it.
pub mod window;

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

/// A batch with at least this many floats of work is split by images over
/// two threads (same order of size as the gemm's threshold; not tuned).
const PARALLEL_IMAGES: usize = 1 << 15;

/// Runs `f` on all `n` images of `data`, or on two halves (split by
/// `split` at an image boundary) claimed by this thread and the helper when
/// the batch holds at least `PARALLEL_IMAGES` floats of work. Each image is
/// then handled by one thread in the same order as without the helper, so
/// the results are the same bits.
pub(crate) fn by_images<T: Send>(
    n: usize,
    work: usize,
    data: T,
    split: impl FnOnce(T, usize) -> (T, T),
    f: impl Fn(T) + Sync,
) {
    let share = match crate::pool::pool() {
        Some(pool) if n >= 2 && work >= PARALLEL_IMAGES => pool.share((0, 0)),
        _ => None,
    };
    match share {
        // Two parts claimed by whoever runs: a helper that has no core
        // leaves its half to this thread instead of holding it up.
        Some(share) => {
            let (first, second) = split(data, n / 2);
            share.for_each([first, second], &mut (Vec::new(), Vec::new()), |p, _| f(p));
        }
        None => f(data),
    }
}
