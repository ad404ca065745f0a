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
/// Max, average and global average pooling, channels-last.
pub mod pool2d;
pub mod softmax;
/// Output-size arithmetic of sliding windows, dependency-free so the compiler can share it.
pub mod window;

pub use gemm::gemm;

#[cfg(test)]
pub(crate) mod gradcheck;

/// Per-image work of at least this many floats is split over two threads.
const PARALLEL_IMAGES: usize = 1 << 15;

/// Runs `f` on all `n` images of `data`, or on two halves (split by
/// `split` at an image boundary) on this thread and the helper when the
/// batch holds at least `PARALLEL_IMAGES` floats of work. Each image is
/// then handled by one thread in the same order as without the helper, so
/// the results are the same bits.
pub(crate) fn by_images<T: Send>(
    n: usize,
    work: usize,
    data: T,
    split: impl FnOnce(T, usize) -> (T, T),
    f: impl Fn(T) + Sync,
) {
    match crate::pool::pool() {
        Some(pool) if n >= 2 && work >= PARALLEL_IMAGES => {
            let (mine, theirs) = split(data, n / 2);
            pool.for_both(mine, theirs, f);
        }
        _ => f(data),
    }
}
