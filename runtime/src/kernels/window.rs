//! Output-size arithmetic of sliding windows (convolution and pooling):
//! [`nnc_core::window`], shared with the compiler's shape checker so that
//! the sizes it reports are the ones the kernels use.

pub use nnc_core::window::*;
