//! 2-D convolution, channels-last as in Keras: forward and backward side by
//! side, lowered onto the runtime's gemm through im2col.
//!
//! # Layout
//! - A batch of images is a row-major `[n, H·W·C]` matrix (the compiler
//!   keeps every activation as `[batch, width]`): image `i`, pixel `(h, w)`,
//!   channel `c` is element `[i, (h·W + w)·C + c]`.
//! - The kernel is Keras' `[KH, KW, C_in, C_out]`, which row-major is the
//!   `[KH·KW·C_in, C_out]` matrix the gemm takes; the bias is `[C_out]`.
//! - The output `[n, OH·OW·C_out]` is, row-major, `[n·OH·OW, C_out]`: one
//!   row per output pixel.
//!
//! # Lowering
//! im2col writes, for every output pixel, the `KH·KW·C_in` input values
//! under its window (zeros for padding) as one row of a caller-provided
//! workspace `col`, `[n·OH·OW, KH·KW·C_in]`, in the kernel's row order.
//! The convolution is then exactly a dense layer on `col`:
//! `y = act(col·w + b)` ([`dense::Dense::forward`], bias and activation fused), and
//! its backward is the dense backward (`dw = colᵀ·dz`, `db = Σ dz`) plus
//! `dcol = dz·wᵀ` folded back onto the image by col2im. Backward reuses the
//! `col` that forward filled instead of recomputing it, then writes `dcol`
//! over it when `dx` is wanted. A 1×1 kernel with stride 1 and no padding
//! needs no im2col: `x` already is the col matrix.
//!
//! A shallow layer (`KH·KW·C_in` at most 64, e.g. a
//! first layer on grey or RGB images) on a CPU with AVX-512 or AVX2 + FMA skips `col`
//! altogether: `conv2d/direct.rs` computes the forward sums and the kernel
//! gradient from `x` in registers, with the same operations in the same
//! order as the gemm (`direct_and_im2col_agree_bitwise`). Its `col`
//! workspace then only serves `dx`, if that is wanted.
//!
//! im2col, col2im and the gemm each give every output element to one thread
//! and compute it in a fixed order, so results are bit-identical with one or
//! two threads (`one_and_two_threads_agree_bitwise`).
//!
//! # Measured choice
//! Session 3 measured im2col + gemm against a first direct convolution
//! (each output pixel's `C_out` sums in registers, AVX-512), on the
//! tutorial CNN's layers. Median time and GFLOP/s (`2·macs`); "gemm" is the
//! bare product of the lowering at the same shape, i.e. the ceiling of
//! im2col + gemm; "fwd+bwd" also copies `dy` each iteration (it is
//! overwritten). `cargo bench -p nnc-benches --bench kernels -- conv
//! --warm-up-time 1 --measurement-time 3` (with `NNC_CONV=im2col` for the
//! im2col path now), two threads allowed, on the 2-core AVX-512 VM of
//! `kernels::gemm` while other jobs kept it loaded (load average 5-7): the
//! numbers are noisy, to perhaps ±30%.
//!
//! | layer (gemm shape), batch        | im2col+gemm fwd | direct fwd   | gemm fwd     | conv fwd+bwd | gemm fwd+bwd |
//! | ---                              | ---             | ---          | ---          | ---          | ---          |
//! | conv1 28²×1→32 4×4 (n·625×16×32), 1 | 33.6 µs, 19.1 | 26.4 µs, 24.3 | 11.5 µs, 55.5 | | |
//! | conv1, 64                        | 4.56 ms, 9.0    | 1.86 ms, 22.1 | 1.60 ms, 25.5 | 10.8 ms, 7.6 | 4.60 ms, 17.8 |
//! | conv1, 256                       | 11.4 ms, 14.4   | 7.94 ms, 20.6 | 8.18 ms, 20.0 | 46.9 ms, 7.0 | 19.5 ms, 16.8 |
//! | conv2 8²×32→64 4×4 (n·25×512×64), 1 | 842 µs, 1.9  | 33.1 µs, 49.4 | 1087 µs, 1.5 | | |
//! | conv2, 64                        | 3.78 ms, 27.8   | 5.09 ms, 20.6 | 2.68 ms, 39.2 | 10.5 ms, 30.1 | 4.55 ms, 69.1 |
//! | conv2, 256                       | 9.64 ms, 43.5   | 16.3 ms, 25.7 | 7.71 ms, 54.4 | 26.7 ms, 47.1 | 16.5 ms, 76.1 |
//!
//! So: im2col + gemm for deep inputs (conv2, 72% of the network's FLOPs,
//! is faster through the gemm at batch 64 and 256); the direct kernels
//! (`direct.rs`) where the product is thin (`KH·KW·C_in <= 64`: conv1's
//! `C_in = 1` makes a 16-deep product). In a whole W6 training step (one
//! thread, `perf record` shares) conv1 went from 41% to about 25% with
//! the direct forward and kernel gradient; BENCHMARKS.md section 6 has the
//! step and the peers.
//!
//! On an AVX2-only CPU (AMD EPYC Zen 3, one thread, criterion, two
//! rounds; BENCHMARKS.md section 9) the direct kernels' AVX2 form gave, for
//! conv1: forward 24.7-25.6 µs (1 image), 1.71-1.82 ms (64), 6.81-7.37 ms
//! (256) against im2col + gemm's 48.7-50.0 µs, 3.16-3.47 ms and 14.7-15.2
//! ms; forward + backward at 64 and 256 5.33-6.03 and 22.7-24.1 ms against
//! 6.28-6.58 and 25.5-27.2 ms. So they run there too, though their kernel
//! gradient alone is a little slower than the gemm on a `col` that forward
//! had already written.

#[cfg(target_arch = "x86_64")]
mod direct;

use crate::kernels::window::{Padding, WindowAxis, WindowError};
use crate::kernels::{act, by_images, dense, gemm, Grad};
use crate::Activation;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

thread_local! {
    /// Test hook: run im2col + gemm even where the direct kernel would.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    static FORCE_IM2COL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Test hook: run the direct kernels' AVX2 form on an AVX-512 CPU.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    static FORCE_AVX2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether im2col + gemm must run where the direct kernel would:
/// `NNC_CONV=im2col` (read once; for measuring the two against each other)
/// or the test hook.
#[cfg(target_arch = "x86_64")]
fn force_im2col() -> bool {
    static ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENV.get_or_init(|| std::env::var("NNC_CONV").is_ok_and(|v| v == "im2col"))
        || FORCE_IM2COL.with(|f| f.get())
}

/// The geometry of one convolution layer. [`Conv2d::new`] resolves Keras
/// padding; the fields may also be set directly (any padding per side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output channels (filters).
    pub out_c: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Zero rows above the input.
    pub pad_top: usize,
    /// Zero columns left of the input.
    pub pad_left: usize,
    /// Zero rows below the input.
    pub pad_bottom: usize,
    /// Zero columns right of the input.
    pub pad_right: usize,
}

/// The gradients a convolution backward writes, each skipped when `None`
/// (`dw`/`db` for a frozen layer, `dx` for the first layer). All are
/// overwritten, not accumulated.
///
/// # Shapes
/// - `dw`: `[KH·KW·C_in, C_out]` (the kernel's layout)
/// - `db`: `[C_out]`
/// - `dx`: `[n, H·W·C_in]`
#[derive(Debug, Default)]
pub struct Conv2dGrads<'a> {
    /// Gradient of the kernel.
    pub dw: Option<ArrayViewMut2<'a, f32>>,
    /// Gradient of the bias.
    pub db: Option<ArrayViewMut1<'a, f32>>,
    /// Gradient of the input.
    pub dx: Option<ArrayViewMut2<'a, f32>>,
}

impl Conv2d {
    /// A convolution of an `[H, W, C_in]` input with `filters` kernels of
    /// `[KH, KW]`, with Keras padding.
    ///
    /// # Errors
    /// A zero size, or a kernel larger than the padded input.
    pub fn new(
        input: [usize; 3],
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
    ) -> Result<Conv2d, WindowError> {
        let rows = WindowAxis::new(input[0], kernel[0], stride[0], padding)?;
        let cols = WindowAxis::new(input[1], kernel[1], stride[1], padding)?;
        if input[2] == 0 {
            return Err(WindowError::Zero { what: "channel" });
        }
        if filters == 0 {
            return Err(WindowError::Zero { what: "filter" });
        }
        Ok(Conv2d {
            in_h: rows.input,
            in_w: cols.input,
            in_c: input[2],
            out_c: filters,
            k_h: rows.kernel,
            k_w: cols.kernel,
            stride_h: rows.stride,
            stride_w: cols.stride,
            pad_top: rows.pad_before,
            pad_left: cols.pad_before,
            pad_bottom: rows.pad_after,
            pad_right: cols.pad_after,
        })
    }

    /// The vertical axis as a [`WindowAxis`].
    pub fn rows(&self) -> WindowAxis {
        WindowAxis {
            input: self.in_h,
            kernel: self.k_h,
            stride: self.stride_h,
            pad_before: self.pad_top,
            pad_after: self.pad_bottom,
        }
    }

    /// The horizontal axis as a [`WindowAxis`].
    pub fn cols(&self) -> WindowAxis {
        WindowAxis {
            input: self.in_w,
            kernel: self.k_w,
            stride: self.stride_w,
            pad_before: self.pad_left,
            pad_after: self.pad_right,
        }
    }

    /// Output height `(in_h + pad_top + pad_bottom - k_h) / stride_h + 1`.
    pub fn out_h(&self) -> usize {
        self.rows().output()
    }

    /// Output width `(in_w + pad_left + pad_right - k_w) / stride_w + 1`.
    pub fn out_w(&self) -> usize {
        self.cols().output()
    }

    /// Width of one im2col row, `KH·KW·C_in`: the rows of the kernel matrix.
    pub fn col_width(&self) -> usize {
        self.k_h * self.k_w * self.in_c
    }

    /// Per-sample input width `H·W·C_in`.
    pub fn in_width(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Per-sample output width `OH·OW·C_out`.
    pub fn out_width(&self) -> usize {
        self.out_h() * self.out_w() * self.out_c
    }

    /// Kernel shape in Keras layout, `[KH, KW, C_in, C_out]`.
    pub fn kernel_shape(&self) -> [usize; 4] {
        [self.k_h, self.k_w, self.in_c, self.out_c]
    }

    /// Multiply-adds per sample, `OH·OW·C_out·KH·KW·C_in` (padding counted).
    pub fn macs(&self) -> usize {
        self.out_h() * self.out_w() * self.out_c * self.col_width()
    }

    /// The dense layer this convolution is on its im2col matrix (or, for a
    /// pointwise convolution, on its pixels).
    fn dense(&self, act: Activation) -> dense::Dense {
        dense::Dense {
            inputs: self.col_width(),
            units: self.out_c,
            act,
        }
    }

    /// Whether `x` already is the col matrix (1×1 kernel, stride 1, no
    /// padding), so that no workspace is needed.
    pub fn is_pointwise(&self) -> bool {
        self.k_h == 1
            && self.k_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_top + self.pad_left + self.pad_bottom + self.pad_right == 0
    }

    /// Whether forward runs the direct kernel (shallow input, AVX-512)
    /// instead of im2col + gemm.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self.direct_isa().is_some()
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// The instruction set the direct kernels run on for this layer, if
    /// they do: a shallow, non-pointwise layer on a CPU with AVX-512 or
    /// AVX2 + FMA, unless im2col is forced.
    #[cfg(target_arch = "x86_64")]
    fn direct_isa(&self) -> Option<direct::Isa> {
        if self.is_pointwise() || self.col_width() > direct::MAX_TAPS || force_im2col() {
            return None;
        }
        direct::Isa::detect(FORCE_AVX2.with(|f| f.get()))
    }

    /// Length of the `col` workspace for a batch of `n`:
    /// `n·OH·OW·KH·KW·C_in`, or 0 for a pointwise convolution. Training
    /// needs one per layer (backward reads what forward wrote); inference
    /// can share one, sized for the largest layer.
    pub fn col_len(&self, n: usize) -> usize {
        if self.is_pointwise() {
            0
        } else {
            n * self.out_h() * self.out_w() * self.col_width()
        }
    }
}

/// `col` = the im2col matrix of the images in `x`, split by images over
/// the helper thread when large (a copy: same bits either way).
fn im2col(c: &Conv2d, x: &[f32], col: &mut [f32]) {
    let (iw, cl) = (c.in_width(), c.col_len(1));
    by_images(
        x.len() / iw,
        col.len(),
        (x, col),
        |(x, col), mid| {
            let (x0, x1) = x.split_at(mid * iw);
            let (c0, c1) = col.split_at_mut(mid * cl);
            ((x0, c0), (x1, c1))
        },
        |(x, col)| im2col_images(c, x, col),
    );
}

/// im2col on one thread.
///
/// # Shapes
/// - `x`: `n` images of `H·W·C_in`
/// - `col`: `n·OH·OW` rows of `KH·KW·C_in`
fn im2col_images(c: &Conv2d, x: &[f32], col: &mut [f32]) {
    let axes = (c.rows(), c.cols());
    let cw = c.col_width();
    for (img, out) in x
        .chunks_exact(c.in_width())
        .zip(col.chunks_exact_mut(c.col_len(1)))
    {
        let mut out_rows = out.chunks_exact_mut(cw);
        for oh in 0..c.out_h() {
            for ow in 0..c.out_w() {
                let Some(row) = out_rows.next() else { return };
                im2col_pixel(c, axes, img, (oh, ow), row);
            }
        }
    }
}

/// One row of the im2col matrix: the `KH·KW·C_in` input values under the
/// window of output pixel `(oh, ow)` of `img`, zeros for padding. `axes`
/// is `(c.rows(), c.cols())`.
#[inline]
fn im2col_pixel(
    c: &Conv2d,
    (rows, cols): (WindowAxis, WindowAxis),
    img: &[f32],
    (oh, ow): (usize, usize),
    row: &mut [f32],
) {
    let cin = c.in_c;
    let kwc = c.k_w * cin;
    let (h0, h1, kh0) = rows.span(oh);
    let (w0, w1, kw0) = cols.span(ow);
    // One contiguous run of the input per kernel row: pixels
    // (ih, w0..w1) lie next to each other in channels-last order.
    let (seg, skip) = ((w1 - w0) * cin, kw0 * cin);
    if seg == kwc && h1 - h0 == c.k_h {
        // The common case: no padding under the window, no fills.
        for (ih, krow) in (h0..h1).zip(row.chunks_exact_mut(kwc)) {
            let src = (ih * c.in_w + w0) * cin;
            copy_run(krow, &img[src..src + kwc]);
        }
        return;
    }
    row.fill(0.0);
    for (ih, krow) in (h0..h1).zip(row.chunks_exact_mut(kwc).skip(kh0)) {
        let src = (ih * c.in_w + w0) * cin;
        copy_run(&mut krow[skip..skip + seg], &img[src..src + seg]);
    }
}

/// `dst = src` for the short runs of im2col (`KW·C_in` floats, 4 in the
/// tutorial's first layer), where a `memcpy` call per run cost more than
/// the copy: 8-float blocks, then single floats.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let block: [f32; 8] = s.try_into().expect("8 floats");
        d.copy_from_slice(&block);
    }
    for (d, &s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = s;
    }
}

/// `dx` = col2im of `dcol`: every col entry added back onto the input
/// pixel it was copied from (overwrites `dx`). Split by images over the
/// helper thread when large; each image is summed by one thread in a fixed
/// order, so the bits do not depend on the thread count.
fn col2im(c: &Conv2d, dcol: &[f32], dx: &mut [f32]) {
    let (iw, cl) = (c.in_width(), c.col_len(1));
    by_images(
        dx.len() / iw,
        dcol.len(),
        (dcol, dx),
        |(d, x), mid| {
            let (d0, d1) = d.split_at(mid * cl);
            let (x0, x1) = x.split_at_mut(mid * iw);
            ((d0, x0), (d1, x1))
        },
        |(d, x)| col2im_images(c, d, x),
    );
}

/// col2im on one thread; shapes as [`im2col_images`].
fn col2im_images(c: &Conv2d, dcol: &[f32], dx: &mut [f32]) {
    let (rows, cols) = (c.rows(), c.cols());
    let (cin, cw) = (c.in_c, c.col_width());
    let kwc = c.k_w * cin;
    dx.fill(0.0);
    for (img, d) in dx
        .chunks_exact_mut(c.in_width())
        .zip(dcol.chunks_exact(c.col_len(1)))
    {
        let mut d_rows = d.chunks_exact(cw);
        for oh in 0..c.out_h() {
            let (h0, h1, kh0) = rows.span(oh);
            for ow in 0..c.out_w() {
                let Some(row) = d_rows.next() else { return };
                let (w0, w1, kw0) = cols.span(ow);
                let (seg, skip) = ((w1 - w0) * cin, kw0 * cin);
                for (ih, krow) in (h0..h1).zip(row.chunks_exact(kwc).skip(kh0)) {
                    let dst = (ih * c.in_w + w0) * cin;
                    for (a, &g) in img[dst..dst + seg].iter_mut().zip(&krow[skip..skip + seg]) {
                        *a += g;
                    }
                }
            }
        }
    }
}

/// Reinterprets a standard-layout `[n, OH·OW·C]` view as `[n·OH·OW, C]`.
fn pixels<'a>(v: ArrayView2<'a, f32>, c: usize, what: &str) -> ArrayView2<'a, f32> {
    let m = v.len() / c;
    v.into_shape_with_order((m, c))
        .unwrap_or_else(|_| panic!("conv2d: {what} must be in standard layout"))
}

/// Mutable [`pixels`].
fn pixels_mut<'a>(v: ArrayViewMut2<'a, f32>, c: usize, what: &str) -> ArrayViewMut2<'a, f32> {
    let m = v.len() / c;
    v.into_shape_with_order((m, c))
        .unwrap_or_else(|_| panic!("conv2d: {what} must be in standard layout"))
}

/// Checks the shapes every entry point shares.
fn check(c: &Conv2d, x: &ArrayView2<'_, f32>, w: &ArrayView2<'_, f32>, y_dim: (usize, usize)) {
    let n = x.nrows();
    assert_eq!(x.ncols(), c.in_width(), "conv2d: input width of {c:?}");
    assert_eq!(w.dim(), (c.col_width(), c.out_c), "conv2d: kernel of {c:?}");
    assert_eq!(y_dim, (n, c.out_width()), "conv2d: output of {c:?}");
}

/// `y = act(conv(x, w) + b)`; fills `col` with the im2col matrix (which
/// [`backward`] reuses) and keeps the pre-activation in `pre` when given
/// (needed when [`Activation::backward_needs_input`]). Softmax, if used,
/// is over the channels of each pixel.
///
/// # Shapes
/// - `x`: `[n, H·W·C_in]`, standard layout
/// - `w`: `[KH·KW·C_in, C_out]` (Keras `[KH, KW, C_in, C_out]`)
/// - `b`: `[C_out]`
/// - `col`: at least [`Conv2d::col_len`]`(n)` elements
/// - `pre`, `y`: `[n, OH·OW·C_out]`, standard layout
///
/// # Panics
/// If the shapes disagree (a caller bug; shapes are fixed at code generation).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    c: &Conv2d,
    x: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    b: Option<ArrayView1<'_, f32>>,
    act: Activation,
    col: &mut [f32],
    pre: Option<ArrayViewMut2<'_, f32>>,
    y: ArrayViewMut2<'_, f32>,
) {
    check(c, &x, &w, y.dim());
    let pre = pre.map(|p| {
        assert_eq!(p.dim(), y.dim(), "conv2d: pre-activation buffer");
        pixels_mut(p, c.out_c, "pre")
    });
    let y = pixels_mut(y, c.out_c, "y");
    if c.is_pointwise() {
        let x = pixels(x, c.in_c, "x");
        return c.dense(act).forward(dense::Forward { x, w, b, pre, y });
    }
    let xs = x.to_slice().expect("conv2d: x must be in standard layout");
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = c.direct_isa() {
        if let (Some(ws), Some(bs)) = (w.to_slice(), b.map(|b| b.to_slice()).unwrap_or(Some(&[]))) {
            let bs = b.is_some().then_some(bs);
            return forward_direct(isa, c, xs, ws, bs, act, pre, y);
        }
    }
    let col = &mut col[..c.col_len(x.nrows())];
    im2col(c, xs, col);
    let col = ArrayView2::from_shape((y.nrows(), c.col_width()), &*col).expect("col size");
    c.dense(act).forward(dense::Forward {
        x: col,
        w,
        b,
        pre,
        y,
    });
}

/// [`forward`] through `direct.rs`: no `col` (the kernel gradient does not
/// need it), bias and activation applied image by image while the output
/// is in cache. Split by images over the helper thread when large.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn forward_direct(
    isa: direct::Isa,
    c: &Conv2d,
    xs: &[f32],
    ws: &[f32],
    bs: Option<&[f32]>,
    act: Activation,
    pre: Option<ArrayViewMut2<'_, f32>>,
    mut y: ArrayViewMut2<'_, f32>,
) {
    let mut pre = pre;
    let ys = y
        .as_slice_mut()
        .expect("conv2d: y must be in standard layout");
    let pre_s = pre.as_mut().map(|p| {
        p.as_slice_mut()
            .expect("conv2d: pre must be in standard layout")
    });
    let (iw, ow) = (c.in_width(), c.out_width());
    by_images(
        xs.len() / iw,
        c.macs() * (xs.len() / iw) / 16,
        (xs, ys, pre_s),
        |(x, y, p), mid| {
            let (x0, x1) = x.split_at(mid * iw);
            let (y0, y1) = y.split_at_mut(mid * ow);
            let (p0, p1) = match p {
                Some(p) => {
                    let (p0, p1) = p.split_at_mut(mid * ow);
                    (Some(p0), Some(p1))
                }
                None => (None, None),
            };
            ((x0, y0, p0), (x1, y1, p1))
        },
        |(x, y, mut p)| {
            for (i, (img, out)) in x.chunks_exact(iw).zip(y.chunks_exact_mut(ow)).enumerate() {
                // Relu in the kernel's store when no pre-activation is kept
                // (one pass less over the map).
                let fused = act == Activation::Relu && p.is_none();
                // SAFETY: `direct_isa` checked the CPU; `check` the shapes.
                unsafe { direct::forward_images(isa, c, img, ws, bs, fused, out) };
                if !fused {
                    let p = p.as_deref_mut().map(|p| &mut p[i * ow..(i + 1) * ow]);
                    dense::bias_act_slice(c.out_c, None, act, out, p);
                }
            }
        },
    );
}

/// Backward of [`forward`], which must have run on the same `x` and `col`.
///
/// `dy` (the gradient w.r.t. `y`) is overwritten with the gradient w.r.t.
/// the pre-activation; with `skip_activation` it already is that (a fused
/// loss gave it) and is left as is. Then `dw = colᵀ·dz`, `db = Σ dz` over
/// pixels and batch, and `dx = col2im(dz·wᵀ)`, with `dz·wᵀ` written over
/// `col`: after a backward that computes `dx`, `col` no longer holds the
/// im2col matrix.
///
/// # Shapes
/// - `x`: `[n, H·W·C_in]`, `w`: `[KH·KW·C_in, C_out]`
/// - `y`, `pre`, `dy`: `[n, OH·OW·C_out]`, standard layout
/// - `col`: as in [`forward`]
/// - `grads`: see [`Conv2dGrads`]
///
/// # Panics
/// If the shapes disagree, or if the activation needs `pre` and it is `None`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    c: &Conv2d,
    x: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    act: Activation,
    y: ArrayView2<'_, f32>,
    pre: Option<ArrayView2<'_, f32>>,
    dy: ArrayViewMut2<'_, f32>,
    skip_activation: bool,
    col: &mut [f32],
    grads: Conv2dGrads<'_>,
) {
    check(c, &x, &w, y.dim());
    assert_eq!(dy.dim(), y.dim(), "conv2d: output gradient");
    let n = x.nrows();
    let pre = pre.map(|p| pixels(p, c.out_c, "pre"));
    let (y, mut dz) = (pixels(y, c.out_c, "y"), pixels_mut(dy, c.out_c, "dy"));
    let m = dz.nrows();
    let Conv2dGrads { dw, db, dx } = grads;
    if c.is_pointwise() {
        let xc = pixels(x, c.in_c, "x");
        let dx = dx.map(|d| pixels_mut(d, c.in_c, "dx"));
        c.dense(act).backward(
            dense::Backward {
                x: xc,
                w,
                y,
                pre,
                dy: dz.view_mut(),
                at_logits: skip_activation,
            },
            dense::Grads {
                dw,
                db: None,
                dx: dx.map(Grad::Write),
            },
        );
        if let Some(db) = db {
            bias_grad(dz.view(), db);
        }
        return;
    }
    let col = &mut col[..c.col_len(n)];
    // Activation backward and bias gradient in one pass over dz (the first
    // layer's dz is the largest buffer of a CNN step).
    let mut at_logits = skip_activation;
    let db = match db {
        Some(mut db) if !skip_activation && !act.is_rowwise() && db.is_standard_layout() => {
            act_backward_and_bias(
                c,
                n,
                act,
                pre.as_ref()
                    .map(|p| p.to_slice().expect("conv2d: pre is contiguous")),
                y.to_slice().expect("conv2d: y is contiguous"),
                dz.as_slice_mut().expect("conv2d: dz is contiguous"),
                db.as_slice_mut().expect("standard layout"),
            );
            at_logits = true;
            None
        }
        db => db,
    };
    #[cfg(target_arch = "x86_64")]
    let dw = match dw {
        Some(mut dw) if c.direct_isa().is_some() && dw.is_standard_layout() => {
            // The direct forward left `col` unfilled: the kernel gradient
            // comes from `x` and `dz` directly, after the activation's backward.
            if !at_logits {
                act::backward_inplace(act, pre, y, dz.view_mut());
                at_logits = true;
            }
            let xs = x.to_slice().expect("conv2d: x must be in standard layout");
            let dzs = dz.as_slice().expect("conv2d: dz is contiguous");
            let dws = dw.as_slice_mut().expect("standard layout");
            let isa = c.direct_isa().expect("checked by the match guard");
            // SAFETY: `direct_isa` checked the CPU; `check` the shapes.
            unsafe { direct::kernel_grad(isa, c, xs, dzs, dws) };
            None
        }
        dw => dw,
    };
    {
        let colv = ArrayView2::from_shape((m, c.col_width()), &*col).expect("col size");
        c.dense(act).backward(
            dense::Backward {
                x: colv,
                w,
                y,
                pre,
                dy: dz.view_mut(),
                at_logits,
            },
            dense::Grads {
                dw,
                db: None,
                dx: None,
            },
        );
    }
    if let Some(db) = db {
        bias_grad(dz.view(), db);
    }
    if let Some(mut dx) = dx {
        assert_eq!(dx.dim(), (n, c.in_width()), "conv2d: input gradient");
        let dcol = ArrayViewMut2::from_shape((m, c.col_width()), &mut *col).expect("col size");
        gemm(1.0, dz.view(), w.t(), 0.0, dcol);
        let dxs = dx
            .as_slice_mut()
            .expect("conv2d: dx must be in standard layout");
        col2im(c, col, dxs);
    }
}

/// Most output channels whose bias gradient is split over two halves of
/// the batch (the second half's sums live on the stack).
const SPLIT_BIAS_CHANNELS: usize = 256;

/// The activation backward and the bias gradient in one pass over `dz`
/// ([`act::backward_rows_summed`]). A batch of two images or more is always
/// cut into the same two halves, each summed separately and then added, so
/// the helper thread can take one half and the bits do not depend on
/// whether it did.
#[allow(clippy::too_many_arguments)]
fn act_backward_and_bias(
    c: &Conv2d,
    n: usize,
    act: Activation,
    pre: Option<&[f32]>,
    y: &[f32],
    dz: &mut [f32],
    db: &mut [f32],
) {
    let out_c = c.out_c;
    if n < 2 || out_c > SPLIT_BIAS_CHANNELS {
        return act::backward_rows_summed(act, pre, y, dz, db);
    }
    let at = (n / 2) * c.out_width();
    let big = dz.len() >= PARALLEL_BIAS;
    let mut second = [0.0f32; SPLIT_BIAS_CHANNELS];
    let (dz0, dz1) = dz.split_at_mut(at);
    let (y0, y1) = y.split_at(at);
    let (p0, p1) = match pre {
        Some(p) => {
            let (a, b) = p.split_at(at);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    let halves = [(p0, y0, dz0, &mut *db), (p1, y1, dz1, &mut second[..out_c])];
    let run = |(p, y, dz, sum): Half<'_>| act::backward_rows_summed(act, p, y, dz, sum);
    let share = match crate::pool::pool() {
        Some(pool) if big => pool.share((0, 0)),
        _ => None,
    };
    match share {
        Some(share) => share.for_each(halves, &mut (Vec::new(), Vec::new()), |h, _| run(h)),
        None => halves.into_iter().for_each(run),
    }
    for (d, s) in db.iter_mut().zip(&second[..out_c]) {
        *d += s;
    }
}

/// One half of [`act_backward_and_bias`]'s work: `pre` (if kept), `y`,
/// `dz` and where its bias sums go.
type Half<'a> = (Option<&'a [f32]>, &'a [f32], &'a mut [f32], &'a mut [f32]);

/// A `dz` of at least this many floats shares its activation backward
/// with the helper thread.
const PARALLEL_BIAS: usize = 1 << 15;

/// `db = Σ dz` over all pixels of all images, row by row in order. On the
/// contiguous slice: ndarray's per-row `+=` cost more than the sum itself
/// with 160,000 rows of 32 (the tutorial's first layer at batch 256).
fn bias_grad(dz: ArrayView2<'_, f32>, mut db: ArrayViewMut1<'_, f32>) {
    let dz = dz.to_slice().expect("conv2d: dz is contiguous");
    let db = db.as_slice_mut().expect("conv2d: db must be contiguous");
    db.fill(0.0);
    for px in dz.chunks_exact(db.len()) {
        for (s, &g) in db.iter_mut().zip(px) {
            *s += g;
        }
    }
}

/// One sample through a convolution, on slices: what generated
/// `predict_one` calls. Allocates nothing; `col` is caller scratch (one
/// buffer can serve every layer of a network).
///
/// # Shapes
/// - `x`: `H·W·C_in`; `w`: `KH·KW·C_in·C_out`; `b`: `C_out`
/// - `col`: at least [`Conv2d::col_len`]`(1)` elements
/// - `y`: `OH·OW·C_out`
///
/// # Panics
/// If a slice has the wrong length.
pub fn forward_one(
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    act: Activation,
    col: &mut [f32],
    y: &mut [f32],
) {
    let x = ArrayView2::from_shape((1, c.in_width()), x).expect("conv2d: input length");
    let w = ArrayView2::from_shape((c.col_width(), c.out_c), w).expect("conv2d: kernel length");
    let b = b.map(ArrayView1::from);
    let y = ArrayViewMut2::from_shape((1, c.out_width()), y).expect("conv2d: output length");
    // One image: the helper thread costs more to wake than it saves.
    crate::pool::serially(|| forward(c, x, w, b, act, col, None, y));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check as gradcheck, dot, vec};
    use ndarray::{Array1, Array2};

    /// The definition, one output at a time.
    fn naive(c: &Conv2d, n: usize, x: &[f32], w: &[f32], b: &[f32], act: Activation) -> Vec<f32> {
        let (oh, ow) = (c.out_h(), c.out_w());
        let mut y = vec![0.0; n * c.out_width()];
        for i in 0..n {
            for (p, q, co) in itertools(oh, ow, c.out_c) {
                let mut s = b[co] as f64;
                for kh in 0..c.k_h {
                    for kw in 0..c.k_w {
                        let ih = (p * c.stride_h + kh) as isize - c.pad_top as isize;
                        let iw = (q * c.stride_w + kw) as isize - c.pad_left as isize;
                        if ih < 0 || iw < 0 || ih >= c.in_h as isize || iw >= c.in_w as isize {
                            continue;
                        }
                        for ci in 0..c.in_c {
                            let xv = x[i * c.in_width()
                                + (ih as usize * c.in_w + iw as usize) * c.in_c
                                + ci];
                            let wv = w[((kh * c.k_w + kw) * c.in_c + ci) * c.out_c + co];
                            s += xv as f64 * wv as f64;
                        }
                    }
                }
                y[i * c.out_width() + (p * ow + q) * c.out_c + co] = s as f32;
            }
        }
        if act.is_rowwise() {
            for px in y.chunks_exact_mut(c.out_c) {
                crate::kernels::act::forward_slice_inplace(act, px);
            }
        } else {
            y.iter_mut().for_each(|v| *v = act.apply(*v));
        }
        y
    }

    fn itertools(a: usize, b: usize, c: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..a).flat_map(move |i| (0..b).flat_map(move |j| (0..c).map(move |k| (i, j, k))))
    }

    fn run(c: &Conv2d, n: usize, x: &[f32], w: &[f32], b: &[f32], act: Activation) -> Array2<f32> {
        let mut y = Array2::zeros((n, c.out_width()));
        let mut col = vec![f32::NAN; c.col_len(n)];
        forward(
            c,
            ArrayView2::from_shape((n, c.in_width()), x).unwrap(),
            ArrayView2::from_shape((c.col_width(), c.out_c), w).unwrap(),
            Some(ArrayView1::from(b)),
            act,
            &mut col,
            None,
            y.view_mut(),
        );
        y
    }

    const ACTS: [Activation; 5] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Softmax,
        Activation::Sigmoid,
    ];

    /// Every kernel size 1..=5 (square and rectangular), strides 1..=3
    /// (also larger than the kernel), valid / same / explicit padding,
    /// one or several channels, batch 1 or 2, several fused activations.
    fn family() -> Vec<(Conv2d, usize, Activation)> {
        let mut out = Vec::new();
        let mut i = 0usize;
        for kh in 1..=5 {
            let widths = if kh == 3 { vec![3] } else { vec![kh, 6 - kh] };
            for kw in widths {
                for stride in [[1, 1], [2, 3], [3, 1]] {
                    for padding in [Padding::Valid, Padding::Same, Padding::Explicit(1)] {
                        let in_c = [1, 3][i % 2];
                        let filters = [2, 1, 3][i % 3];
                        let n = [1, 2][(i / 2) % 2];
                        let c = Conv2d::new([6, 7, in_c], filters, [kh, kw], stride, padding)
                            .expect("valid configuration");
                        out.push((c, n, ACTS[i % ACTS.len()]));
                        i += 1;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn family_covers_the_edge_cases() {
        let f = family();
        assert!(f.iter().any(|(c, _, _)| c.is_pointwise()));
        assert!(f.iter().any(|(c, _, _)| c.stride_w > c.k_w));
        assert!(f
            .iter()
            .any(|(c, _, _)| c.k_h % 2 == 0 && c.pad_top != c.pad_bottom));
        assert!(f.iter().any(|(c, n, _)| c.in_c == 1 && *n == 1));
        assert!(f.iter().any(|(c, n, _)| c.in_c > 1 && *n > 1));
    }

    #[test]
    fn forward_matches_the_direct_definition() {
        for (c, n, act) in family() {
            let (x, w, b) = (
                vec(n * c.in_width(), 1),
                vec(c.col_width() * c.out_c, 2),
                vec(c.out_c, 3),
            );
            let got = run(&c, n, &x, &w, &b, act);
            let want = naive(&c, n, &x, &w, &b, act);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{c:?} {act}: {g} vs {w}");
            }
            // The single-sample path gives the same numbers.
            let mut y1 = vec![0.0; c.out_width()];
            let mut col = vec![0.0; c.col_len(1)];
            forward_one(&c, &x[..c.in_width()], &w, Some(&b), act, &mut col, &mut y1);
            assert_eq!(&y1[..], &got.as_slice().unwrap()[..c.out_width()]);
        }
    }

    #[test]
    fn backward_matches_finite_differences_for_x_w_b() {
        for (c, n, act) in family() {
            let (x, w, b, r) = (
                vec(n * c.in_width(), 11),
                vec(c.col_width() * c.out_c, 12),
                vec(c.out_c, 13),
                vec(n * c.out_width(), 14),
            );
            let xa = ArrayView2::from_shape((n, c.in_width()), &x[..]).unwrap();
            let wa = ArrayView2::from_shape((c.col_width(), c.out_c), &w[..]).unwrap();
            let mut col = vec![0.0; c.col_len(n)];
            let mut pre = Array2::zeros((n, c.out_width()));
            let mut y = Array2::zeros((n, c.out_width()));
            forward(
                &c,
                xa,
                wa,
                Some(ArrayView1::from(&b[..])),
                act,
                &mut col,
                Some(pre.view_mut()),
                y.view_mut(),
            );
            let mut dy = Array2::from_shape_vec((n, c.out_width()), r.clone()).unwrap();
            let mut dw = Array2::zeros((c.col_width(), c.out_c));
            let mut db = Array1::zeros(c.out_c);
            let mut dx = Array2::from_elem((n, c.in_width()), f32::NAN);
            backward(
                &c,
                xa,
                wa,
                act,
                y.view(),
                act.backward_needs_input().then(|| pre.view()),
                dy.view_mut(),
                false,
                &mut col,
                Conv2dGrads {
                    dw: Some(dw.view_mut()),
                    db: Some(db.view_mut()),
                    dx: Some(dx.view_mut()),
                },
            );
            let name = format!("{c:?} n={n} {act}");
            gradcheck(&format!("{name} dx"), &x, dx.as_slice().unwrap(), |x| {
                dot(run(&c, n, x, &w, &b, act).as_slice().unwrap(), &r)
            });
            gradcheck(&format!("{name} dw"), &w, dw.as_slice().unwrap(), |w| {
                dot(run(&c, n, &x, w, &b, act).as_slice().unwrap(), &r)
            });
            gradcheck(&format!("{name} db"), &b, db.as_slice().unwrap(), |b| {
                dot(run(&c, n, &x, &w, b, act).as_slice().unwrap(), &r)
            });
        }
    }

    #[test]
    fn frozen_first_layer_computes_no_gradient_and_keeps_col() {
        let c = Conv2d::new([5, 5, 2], 3, [3, 3], [1, 1], Padding::Same).unwrap();
        let n = 2;
        let (x, w) = (vec(n * c.in_width(), 31), vec(c.col_width() * 3, 32));
        let xa = ArrayView2::from_shape((n, c.in_width()), &x[..]).unwrap();
        let wa = ArrayView2::from_shape((c.col_width(), 3), &w[..]).unwrap();
        let mut col = vec![0.0; c.col_len(n)];
        let mut y = Array2::zeros((n, c.out_width()));
        forward(
            &c,
            xa,
            wa,
            None,
            Activation::Relu,
            &mut col,
            None,
            y.view_mut(),
        );
        let col0 = col.clone();
        let mut dy = Array2::ones((n, c.out_width()));
        backward(
            &c,
            xa,
            wa,
            Activation::Relu,
            y.view(),
            None,
            dy.view_mut(),
            false,
            &mut col,
            Conv2dGrads::default(),
        );
        assert_eq!(col, col0);
        // dz = relu'(y) ⊙ 1.
        assert!(dy
            .iter()
            .zip(&y)
            .all(|(&d, &y)| d == if y > 0.0 { 1.0 } else { 0.0 }));
    }

    /// Forward and backward at a size where the gemm, im2col and col2im all
    /// split over the helper thread give the same bits as on one thread:
    /// through im2col + gemm, and through the direct kernel (one channel).
    #[test]
    fn one_and_two_threads_agree_bitwise() {
        let deep = Conv2d::new([12, 12, 8], 16, [3, 3], [1, 1], Padding::Same).unwrap();
        let shallow = Conv2d::new([28, 28, 1], 32, [4, 4], [1, 1], Padding::Valid).unwrap();
        assert!(!deep.is_direct());
        for (c, n) in [(deep, 16), (shallow, 8)] {
            one_and_two_threads(c, n);
        }
    }

    fn one_and_two_threads(c: Conv2d, n: usize) {
        let x = vec(n * c.in_width(), 41);
        let w = vec(c.col_width() * c.out_c, 42);
        let b = vec(c.out_c, 43);
        let r = vec(n * c.out_width(), 44);
        let step = || {
            let xa = ArrayView2::from_shape((n, c.in_width()), &x[..]).unwrap();
            let wa = ArrayView2::from_shape((c.col_width(), c.out_c), &w[..]).unwrap();
            let mut col = vec![0.0; c.col_len(n)];
            let mut y = Array2::zeros((n, c.out_width()));
            let mut pre = Array2::zeros((n, c.out_width()));
            forward(
                &c,
                xa,
                wa,
                Some(ArrayView1::from(&b[..])),
                Activation::Gelu,
                &mut col,
                Some(pre.view_mut()),
                y.view_mut(),
            );
            let mut dy = Array2::from_shape_vec((n, c.out_width()), r.clone()).unwrap();
            let mut dw = Array2::zeros((c.col_width(), c.out_c));
            let mut db = Array1::zeros(c.out_c);
            let mut dx = Array2::zeros((n, c.in_width()));
            backward(
                &c,
                xa,
                wa,
                Activation::Gelu,
                y.view(),
                Some(pre.view()),
                dy.view_mut(),
                false,
                &mut col,
                Conv2dGrads {
                    dw: Some(dw.view_mut()),
                    db: Some(db.view_mut()),
                    dx: Some(dx.view_mut()),
                },
            );
            (y, dw, db, dx)
        };
        assert!(
            2 * n * c.macs() >= 1 << 20,
            "big enough for the gemm to split"
        );
        assert!(
            c.col_len(n) >= crate::kernels::PARALLEL_IMAGES,
            "big enough for im2col to split"
        );
        let two = step();
        let one = crate::pool::serially(step);
        assert!(one == two, "one and two threads differ");
    }

    /// The direct kernels and im2col + gemm give the same bits, forward and
    /// backward, over the edge-case family and channel counts that fill
    /// one, part of one, and several 16-lane registers and 64-channel groups.
    /// (The kernel gradient's sums match while they are shorter than the
    /// gemm's depth block, as here; longer ones differ by rounding.)
    #[test]
    fn direct_and_im2col_agree_bitwise() {
        if !Conv2d::new([4, 4, 1], 1, [2, 2], [1, 1], Padding::Valid)
            .unwrap()
            .is_direct()
        {
            eprintln!("no AVX2 or AVX-512 here: the direct kernel does not run");
            return;
        }
        let mut cases = family();
        for (i, filters) in [1, 15, 16, 17, 32, 40, 64, 65, 100, 130]
            .into_iter()
            .enumerate()
        {
            let pads = [Padding::Valid, Padding::Same, Padding::Explicit(2)];
            let c = Conv2d::new([9, 11, 1 + i % 3], filters, [4, 3], [1, 2], pads[i % 3]).unwrap();
            cases.push((c, 3, ACTS[i % ACTS.len()]));
            // Relu, which the direct kernel applies in its store.
            cases.push((c, 2, Activation::Relu));
        }
        let mut direct_cases = 0;
        for (c, n, act) in cases {
            if !c.is_direct() {
                continue;
            }
            direct_cases += 1;
            let (x, w, b, r) = (
                vec(n * c.in_width(), 51),
                vec(c.col_width() * c.out_c, 52),
                vec(c.out_c, 53),
                vec(n * c.out_width(), 54),
            );
            let step = || {
                let xa = ArrayView2::from_shape((n, c.in_width()), &x[..]).unwrap();
                let wa = ArrayView2::from_shape((c.col_width(), c.out_c), &w[..]).unwrap();
                let mut col = vec![0.0; c.col_len(n)];
                let mut y = Array2::zeros((n, c.out_width()));
                let mut pre = Array2::zeros((n, c.out_width()));
                let keep = act.backward_needs_input();
                forward(
                    &c,
                    xa,
                    wa,
                    Some(ArrayView1::from(&b[..])),
                    act,
                    &mut col,
                    keep.then(|| pre.view_mut()),
                    y.view_mut(),
                );
                let mut dy = Array2::from_shape_vec((n, c.out_width()), r.clone()).unwrap();
                let mut dw = Array2::zeros((c.col_width(), c.out_c));
                let mut db = Array1::zeros(c.out_c);
                let mut dx = Array2::zeros((n, c.in_width()));
                backward(
                    &c,
                    xa,
                    wa,
                    act,
                    y.view(),
                    keep.then(|| pre.view()),
                    dy.view_mut(),
                    false,
                    &mut col,
                    Conv2dGrads {
                        dw: Some(dw.view_mut()),
                        db: Some(db.view_mut()),
                        dx: Some(dx.view_mut()),
                    },
                );
                (y, dw, db, dx)
            };
            let direct = step();
            // On an AVX-512 CPU also the AVX2 form (the same operations in
            // the same order, on half as many lanes).
            FORCE_AVX2.with(|f| f.set(true));
            let avx2 = step();
            FORCE_AVX2.with(|f| f.set(false));
            FORCE_IM2COL.with(|f| f.set(true));
            let im2col = step();
            FORCE_IM2COL.with(|f| f.set(false));
            // `==` on floats: -0 and +0 count as equal (a padding tap adds
            // 0·w to the sum in both paths, but signs of zero may differ).
            assert!(direct == im2col, "{c:?} {act}: direct and im2col differ");
            assert!(avx2 == im2col, "{c:?} {act}: AVX2 direct and im2col differ");
        }
        assert!(
            direct_cases > 50,
            "only {direct_cases} cases ran the direct kernel"
        );
    }
}
