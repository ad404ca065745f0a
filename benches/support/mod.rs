//! Shared by `benches/kernels.rs` and `benches/gemm_compare.rs`: random
//! matrices and the `gemm` crate called on ndarray views, the comparison
//! both make against this crate's own gemm.

use nnc_runtime::ndarray::{Array2, ArrayView2, ArrayViewMut2};
use nnc_runtime::Rng;

/// An `m × n` matrix of uniform values in [-1, 1).
pub fn random(m: usize, n: usize, seed: u64) -> Array2<f32> {
    let mut r = Rng::seed_from(seed);
    Array2::from_shape_fn((m, n), |_| r.uniform(-1.0, 1.0))
}

/// `c = a·b` through the `gemm` crate (any strides).
pub fn gemm_crate(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    par: ::gemm::Parallelism,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (sa, sb, sc) = (
        a.strides().to_vec(),
        b.strides().to_vec(),
        c.strides().to_vec(),
    );
    // SAFETY: the pointers and strides come from live ndarray views of the
    // stated shapes, and `c` is borrowed mutably for the call.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc[1],
            sc[0],
            false,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}
