//! Max, average and global average pooling, channels-last as in Keras:
//! forward and backward side by side.
//!
//! # Layout
//! A batch of images is a row-major `[n, H·W·C]` matrix: image `i`, pixel
//! `(h, w)`, channel `c` is element `[i, (h·W + w)·C + c]`; the output is
//! `[n, OH·OW·C]` (global pooling: `[n, C]`). Each channel is pooled on its
//! own.
//!
//! # Padding, as Keras
//! Padding cells never take part: max pooling takes the maximum of the real
//! cells of its window, average pooling divides by the number of real cells
//! (with `same` padding a border window averages fewer values). A padding
//! must be smaller than the window so that no window is padding only
//! ([`Pool2d::new`](crate::kernels::pool2d::Pool2d::new) checks it).
//!
//! # Max pooling: ties and the recorded argmax
//! The maximum is the first largest value in the window's row-major order
//! (top row first, left to right), compared with `>`: on ties the earliest
//! cell wins and receives the whole gradient. A NaN in the first cell of a
//! window gives a NaN output; elsewhere NaN is skipped. Forward records,
//! when given an `argmax` scratch, each output's winning input pixel
//! (`h·W + w`; the channel is the output's), and backward scatters through it, rather
//! than searching the windows again. Recording costs one select per
//! compare; searching again in backward would cost a second pass over every
//! window, i.e. at least the forward again. Measured on the tutorial's
//! first pool (`25×25×32 -> 8×8×32`), `cargo bench -p nnc-benches --bench
//! kernels -- pool --warm-up-time 1 --measurement-time 3` (same loaded
//! 2-core VM as `conv2d`'s numbers, noisy): batch 64 max forward 2.06 ms,
//! with the argmax 2.12 ms, backward 2.06 ms; batch 256 5.10 / 6.75 /
//! 4.96 ms. The loop has an AVX2 copy: compiled for baseline SSE2, which
//! has no blend, the argmax forward took 5x as long as the max alone.
//!
//! Images are split over the helper thread for large batches; each output
//! element is computed by one thread in a fixed order, so the results do
//! not depend on the thread count.

use crate::kernels::by_images;
use crate::kernels::window::{Padding, WindowAxis, WindowError};
use ndarray::{ArrayView2, ArrayViewMut2};

/// The geometry of a max or average pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (input and output).
    pub c: usize,
    /// Window height.
    pub k_h: usize,
    /// Window width.
    pub k_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding rows above the input.
    pub pad_top: usize,
    /// Padding columns left of the input.
    pub pad_left: usize,
    /// Padding rows below the input.
    pub pad_bottom: usize,
    /// Padding columns right of the input.
    pub pad_right: usize,
}

impl Pool2d {
    /// Pooling of an `[H, W, C]` input with a `size` window (Keras
    /// `pool_size`; its default stride is the window size).
    ///
    /// # Errors
    /// A zero size, a window larger than the padded input, or a padding not
    /// smaller than the window.
    pub fn new(
        input: [usize; 3],
        size: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
    ) -> Result<Pool2d, WindowError> {
        let rows = WindowAxis::new(input[0], size[0], stride[0], padding)?;
        let cols = WindowAxis::new(input[1], size[1], stride[1], padding)?;
        rows.check_pool()?;
        cols.check_pool()?;
        if input[2] == 0 {
            return Err(WindowError::Zero { what: "channel" });
        }
        Ok(Pool2d {
            in_h: rows.input,
            in_w: cols.input,
            c: input[2],
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

    /// Output height.
    pub fn out_h(&self) -> usize {
        self.rows().output()
    }

    /// Output width.
    pub fn out_w(&self) -> usize {
        self.cols().output()
    }

    /// Per-sample input width `H·W·C`.
    pub fn in_width(&self) -> usize {
        self.in_h * self.in_w * self.c
    }

    /// Per-sample output width `OH·OW·C`; also the per-sample length of
    /// the max-pooling `argmax` scratch.
    pub fn out_width(&self) -> usize {
        self.out_h() * self.out_w() * self.c
    }

    /// The real input cells under output pixel `p`:
    /// `(rows h0..h1, columns w0..w1)`.
    #[inline]
    fn window(&self, p: usize) -> (usize, usize, usize, usize) {
        let ow = self.out_w();
        let (h0, h1, _) = self.rows().span(p / ow);
        let (w0, w1, _) = self.cols().span(p % ow);
        (h0, h1, w0, w1)
    }
}

/// Standard-layout slice of a view, or a panic naming the buffer (a caller bug).
fn slice<'a>(v: ArrayView2<'a, f32>, what: &str) -> &'a [f32] {
    v.to_slice()
        .unwrap_or_else(|| panic!("pool2d: {what} must be in standard layout"))
}

/// Mutable [`slice`].
fn slice_mut<'a>(v: ArrayViewMut2<'a, f32>, what: &str) -> &'a mut [f32] {
    v.into_slice()
        .unwrap_or_else(|| panic!("pool2d: {what} must be in standard layout"))
}

/// Max pooling: `y` = the largest real value under each window (the first
/// one on ties); with `argmax`, each output's winning input pixel
/// `h·W + w` (the channel is the output's), for [`max_backward`].
///
/// # Shapes
/// - `x`: `[n, H·W·C]`, standard layout
/// - `argmax`: at least `n·OH·OW·C` elements
/// - `y`: `[n, OH·OW·C]`, standard layout
///
/// # Panics
/// If the shapes disagree, or `H·W` exceeds `u32::MAX`.
pub fn max_forward(
    p: &Pool2d,
    x: ArrayView2<'_, f32>,
    argmax: Option<&mut [u32]>,
    y: ArrayViewMut2<'_, f32>,
) {
    let n = x.nrows();
    assert_eq!(x.ncols(), p.in_width(), "pool2d: input of {p:?}");
    assert_eq!(y.dim(), (n, p.out_width()), "pool2d: output of {p:?}");
    assert!(
        u32::try_from(p.in_h * p.in_w).is_ok(),
        "pool2d: image too large for u32 indices"
    );
    let argmax = argmax.map(|a| &mut a[..n * p.out_width()]);
    let (iw, ow) = (p.in_width(), p.out_width());
    by_images(
        n,
        n * iw,
        (slice(x, "x"), slice_mut(y, "y"), argmax),
        |(x, y, a), mid| {
            let (x0, x1) = x.split_at(mid * iw);
            let (y0, y1) = y.split_at_mut(mid * ow);
            let (a0, a1) = match a {
                Some(a) => {
                    let (a0, a1) = a.split_at_mut(mid * ow);
                    (Some(a0), Some(a1))
                }
                None => (None, None),
            };
            ((x0, y0, a0), (x1, y1, a1))
        },
        |(x, y, a)| max_images(p, x, y, a),
    );
}

/// [`max_forward`] on one thread: an AVX2 copy of the loop where the CPU
/// has it (the crate is compiled for baseline x86-64, whose SSE2 has no
/// blend for the argmax select).
fn max_images(p: &Pool2d, x: &[f32], y: &mut [f32], argmax: Option<&mut [u32]>) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::gemm::has_fma() {
        // SAFETY: `has_fma` checked at run time that the CPU has AVX2 and FMA.
        return unsafe { max_images_avx2(p, x, y, argmax) };
    }
    max_images_body(p, x, y, argmax)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_images_avx2(p: &Pool2d, x: &[f32], y: &mut [f32], argmax: Option<&mut [u32]>) {
    max_images_body(p, x, y, argmax)
}

#[inline(always)]
fn max_images_body(p: &Pool2d, x: &[f32], y: &mut [f32], mut argmax: Option<&mut [u32]>) {
    let (rows, cols, c) = (p.rows(), p.cols(), p.c);
    let mut at_out = 0;
    for (img, out) in x
        .chunks_exact(p.in_width())
        .zip(y.chunks_exact_mut(p.out_width()))
    {
        let mut out_px = out.chunks_exact_mut(c);
        for oh in 0..p.out_h() {
            let (h0, h1, _) = rows.span(oh);
            for ow in 0..p.out_w() {
                let (w0, w1, _) = cols.span(ow);
                let Some(yp) = out_px.next() else { return };
                let win = Window {
                    img,
                    in_w: p.in_w,
                    c,
                    rows: h0..h1,
                    cols: w0..w1,
                };
                let arg = argmax.as_deref_mut().map(|a| &mut a[at_out..at_out + c]);
                // Whole chunks of channels, then the rest one at a time.
                let whole = c - c % MAX_CHUNK;
                match arg {
                    Some(arg) => {
                        for (k0, (yc, ac)) in yp[..whole]
                            .chunks_exact_mut(MAX_CHUNK)
                            .zip(arg[..whole].chunks_exact_mut(MAX_CHUNK))
                            .enumerate()
                        {
                            win.max::<MAX_CHUNK, true>(k0 * MAX_CHUNK, yc, ac);
                        }
                        for k in whole..c {
                            win.max::<1, true>(k, &mut yp[k..=k], &mut arg[k..=k]);
                        }
                    }
                    None => {
                        let mut unused = [0u32; MAX_CHUNK];
                        for (k0, yc) in yp[..whole].chunks_exact_mut(MAX_CHUNK).enumerate() {
                            win.max::<MAX_CHUNK, false>(k0 * MAX_CHUNK, yc, &mut unused);
                        }
                        for k in whole..c {
                            win.max::<1, false>(k, &mut yp[k..=k], &mut unused[..1]);
                        }
                    }
                }
                at_out += c;
            }
        }
    }
}

/// Channels whose maxima [`Window::max`] keeps in registers at once: two
/// AVX2 registers of values and two of indices.
const MAX_CHUNK: usize = 16;

/// One pooling window of one image (channels-last), clipped to the image.
struct Window<'a> {
    img: &'a [f32],
    in_w: usize,
    c: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
}

impl Window<'_> {
    /// The largest value of channels `k0..k0 + L` under the window into
    /// `y`, and with `ARG` the winning pixel `h·W + w` into `arg` (the
    /// first one on ties). The running maxima live in local arrays, which
    /// stay in registers: kept in `y` and `arg`, each window cell's
    /// conditional store had to be reloaded by the next cell.
    #[inline(always)]
    fn max<const L: usize, const ARG: bool>(&self, k0: usize, y: &mut [f32], arg: &mut [u32]) {
        let at = |px: usize| -> &[f32; L] {
            self.img[px * self.c + k0..px * self.c + k0 + L]
                .try_into()
                .expect("L channels")
        };
        let first = self.rows.start * self.in_w + self.cols.start;
        let mut best = *at(first);
        let mut win = [first as u32; L];
        for h in self.rows.clone() {
            for w in self.cols.clone() {
                let px = h * self.in_w + w;
                let vs = at(px);
                // Branch-free selects (`>` keeps the first maximum) so the
                // channel loop vectorises.
                for ((b, a), &v) in best.iter_mut().zip(win.iter_mut()).zip(vs) {
                    let gt = v > *b;
                    *b = if gt { v } else { *b };
                    if ARG {
                        *a = if gt { px as u32 } else { *a };
                    }
                }
            }
        }
        y[..L].copy_from_slice(&best);
        if ARG {
            arg[..L].copy_from_slice(&win);
        }
    }
}

/// Backward of [`max_forward`]: each output gradient goes to the input
/// element that won its window (overwrites `dx`; overlapping windows add).
///
/// # Shapes
/// - `argmax`: as [`max_forward`] filled it, `n·OH·OW·C`
/// - `dy`: `[n, OH·OW·C]`, `dx`: `[n, H·W·C]`, standard layout
///
/// # Panics
/// If the shapes disagree or an index is out of range (an `argmax` that
/// [`max_forward`] did not fill).
pub fn max_backward(
    p: &Pool2d,
    argmax: &[u32],
    dy: ArrayView2<'_, f32>,
    dx: ArrayViewMut2<'_, f32>,
) {
    let n = dy.nrows();
    assert_eq!(
        dy.ncols(),
        p.out_width(),
        "pool2d: output gradient of {p:?}"
    );
    assert_eq!(
        dx.dim(),
        (n, p.in_width()),
        "pool2d: input gradient of {p:?}"
    );
    let (iw, ow, c) = (p.in_width(), p.out_width(), p.c);
    by_images(
        n,
        n * iw,
        (&argmax[..n * ow], slice(dy, "dy"), slice_mut(dx, "dx")),
        |(a, d, x), mid| {
            let (a0, a1) = a.split_at(mid * ow);
            let (d0, d1) = d.split_at(mid * ow);
            let (x0, x1) = x.split_at_mut(mid * iw);
            ((a0, d0, x0), (a1, d1, x1))
        },
        |(a, d, x)| {
            for ((img, a), d) in x
                .chunks_exact_mut(iw)
                .zip(a.chunks_exact(ow))
                .zip(d.chunks_exact(ow))
            {
                // Zeroed per image, so the scatter finds it in cache.
                img.fill(0.0);
                for (a, d) in a.chunks_exact(c).zip(d.chunks_exact(c)) {
                    for (k, (&px, &g)) in a.iter().zip(d).enumerate() {
                        img[px as usize * c + k] += g;
                    }
                }
            }
        },
    );
}

/// Average pooling: `y` = the mean of the real values under each window.
///
/// # Shapes
/// - `x`: `[n, H·W·C]`, `y`: `[n, OH·OW·C]`, standard layout
///
/// # Panics
/// If the shapes disagree.
pub fn avg_forward(p: &Pool2d, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>) {
    let n = x.nrows();
    assert_eq!(x.ncols(), p.in_width(), "pool2d: input of {p:?}");
    assert_eq!(y.dim(), (n, p.out_width()), "pool2d: output of {p:?}");
    let (iw, ow, c) = (p.in_width(), p.out_width(), p.c);
    by_images(
        n,
        n * iw,
        (slice(x, "x"), slice_mut(y, "y")),
        |(x, y), mid| {
            let (x0, x1) = x.split_at(mid * iw);
            let (y0, y1) = y.split_at_mut(mid * ow);
            ((x0, y0), (x1, y1))
        },
        |(x, y)| {
            for (img, out) in x.chunks_exact(iw).zip(y.chunks_exact_mut(ow)) {
                for (q, yp) in out.chunks_exact_mut(c).enumerate() {
                    let (h0, h1, w0, w1) = p.window(q);
                    yp.fill(0.0);
                    for h in h0..h1 {
                        for w in w0..w1 {
                            let at = (h * p.in_w + w) * c;
                            for (s, &v) in yp.iter_mut().zip(&img[at..at + c]) {
                                *s += v;
                            }
                        }
                    }
                    let count = ((h1 - h0) * (w1 - w0)) as f32;
                    yp.iter_mut().for_each(|s| *s /= count);
                }
            }
        },
    );
}

/// Backward of [`avg_forward`]: each output gradient spread evenly over
/// the real cells of its window (overwrites `dx`; overlapping windows add).
///
/// # Shapes
/// - `dy`: `[n, OH·OW·C]`, `dx`: `[n, H·W·C]`, standard layout
///
/// # Panics
/// If the shapes disagree.
pub fn avg_backward(p: &Pool2d, dy: ArrayView2<'_, f32>, dx: ArrayViewMut2<'_, f32>) {
    let n = dy.nrows();
    assert_eq!(
        dy.ncols(),
        p.out_width(),
        "pool2d: output gradient of {p:?}"
    );
    assert_eq!(
        dx.dim(),
        (n, p.in_width()),
        "pool2d: input gradient of {p:?}"
    );
    let (iw, ow, c) = (p.in_width(), p.out_width(), p.c);
    by_images(
        n,
        n * iw,
        (slice(dy, "dy"), slice_mut(dx, "dx")),
        |(d, x), mid| {
            let (d0, d1) = d.split_at(mid * ow);
            let (x0, x1) = x.split_at_mut(mid * iw);
            ((d0, x0), (d1, x1))
        },
        |(d, x)| {
            x.fill(0.0);
            for (img, d) in x.chunks_exact_mut(iw).zip(d.chunks_exact(ow)) {
                for (q, dp) in d.chunks_exact(c).enumerate() {
                    let (h0, h1, w0, w1) = p.window(q);
                    let count = ((h1 - h0) * (w1 - w0)) as f32;
                    for h in h0..h1 {
                        for w in w0..w1 {
                            let at = (h * p.in_w + w) * c;
                            for (s, &g) in img[at..at + c].iter_mut().zip(dp) {
                                *s += g / count;
                            }
                        }
                    }
                }
            }
        },
    );
}

/// One sample through max pooling, on slices (no argmax): what generated
/// `predict_one` calls.
///
/// # Shapes
/// `x`: `H·W·C`, `y`: `OH·OW·C`.
///
/// # Panics
/// If a slice has the wrong length.
pub fn max_forward_one(p: &Pool2d, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), p.in_width(), "pool2d: input length");
    assert_eq!(y.len(), p.out_width(), "pool2d: output length");
    max_images(p, x, y, None);
}

/// One sample through average pooling, on slices.
///
/// # Shapes
/// `x`: `H·W·C`, `y`: `OH·OW·C`.
///
/// # Panics
/// If a slice has the wrong length.
pub fn avg_forward_one(p: &Pool2d, x: &[f32], y: &mut [f32]) {
    let x = ArrayView2::from_shape((1, p.in_width()), x).expect("pool2d: input length");
    let y = ArrayViewMut2::from_shape((1, p.out_width()), y).expect("pool2d: output length");
    avg_forward(p, x, y);
}

/// Global average pooling: the mean of each channel over all pixels,
/// `[H, W, C] -> [C]` (Keras `GlobalAveragePooling2D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalAvgPool2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels.
    pub c: usize,
}

impl GlobalAvgPool2d {
    /// Global average pooling of an `[H, W, C]` input.
    ///
    /// # Errors
    /// A zero size.
    pub fn new(input: [usize; 3]) -> Result<GlobalAvgPool2d, WindowError> {
        for (what, v) in [
            ("input", input[0]),
            ("input", input[1]),
            ("channel", input[2]),
        ] {
            if v == 0 {
                return Err(WindowError::Zero { what });
            }
        }
        Ok(GlobalAvgPool2d {
            in_h: input[0],
            in_w: input[1],
            c: input[2],
        })
    }

    /// Per-sample input width `H·W·C`.
    pub fn in_width(&self) -> usize {
        self.in_h * self.in_w * self.c
    }
}

/// `y[i, c]` = the mean of channel `c` of image `i`.
///
/// # Shapes
/// - `x`: `[n, H·W·C]`, standard layout
/// - `y`: `[n, C]`
///
/// # Panics
/// If the shapes disagree.
pub fn global_avg_forward(
    g: &GlobalAvgPool2d,
    x: ArrayView2<'_, f32>,
    mut y: ArrayViewMut2<'_, f32>,
) {
    assert_eq!(x.ncols(), g.in_width(), "global_avg_pool2d: input of {g:?}");
    assert_eq!(
        y.dim(),
        (x.nrows(), g.c),
        "global_avg_pool2d: output of {g:?}"
    );
    let count = (g.in_h * g.in_w) as f32;
    for (img, mut out) in slice(x, "x").chunks_exact(g.in_width()).zip(y.rows_mut()) {
        out.fill(0.0);
        for px in img.chunks_exact(g.c) {
            out.iter_mut().zip(px).for_each(|(s, &v)| *s += v);
        }
        out.iter_mut().for_each(|s| *s /= count);
    }
}

/// Backward of [`global_avg_forward`]: `dx[i, p, c] = dy[i, c] / (H·W)`.
///
/// # Shapes
/// - `dy`: `[n, C]`
/// - `dx`: `[n, H·W·C]`, standard layout
///
/// # Panics
/// If the shapes disagree.
pub fn global_avg_backward(
    g: &GlobalAvgPool2d,
    dy: ArrayView2<'_, f32>,
    dx: ArrayViewMut2<'_, f32>,
) {
    assert_eq!(
        dy.ncols(),
        g.c,
        "global_avg_pool2d: output gradient of {g:?}"
    );
    assert_eq!(
        dx.dim(),
        (dy.nrows(), g.in_width()),
        "global_avg_pool2d: input gradient of {g:?}"
    );
    let count = (g.in_h * g.in_w) as f32;
    for (img, d) in slice_mut(dx, "dx")
        .chunks_exact_mut(g.in_width())
        .zip(dy.rows())
    {
        for px in img.chunks_exact_mut(g.c) {
            px.iter_mut().zip(&d).for_each(|(s, &v)| *s = v / count);
        }
    }
}

/// One sample through global average pooling, on slices.
///
/// # Shapes
/// `x`: `H·W·C`, `y`: `C`.
///
/// # Panics
/// If a slice has the wrong length.
pub fn global_avg_forward_one(g: &GlobalAvgPool2d, x: &[f32], y: &mut [f32]) {
    let x = ArrayView2::from_shape((1, g.in_width()), x).expect("global_avg_pool2d: input length");
    let y = ArrayViewMut2::from_shape((1, g.c), y).expect("global_avg_pool2d: output length");
    global_avg_forward(g, x, y);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, dot, vec};
    use ndarray::Array2;

    /// The definition with signed indices: `max` (first largest) or mean
    /// over the real cells of each window, and the argmax.
    fn naive(p: &Pool2d, n: usize, x: &[f32], max: bool) -> (Vec<f32>, Vec<u32>) {
        let (oh, ow) = (p.out_h(), p.out_w());
        let mut y = vec![0.0; n * p.out_width()];
        let mut arg = vec![0; n * p.out_width()];
        for i in 0..n {
            for a in 0..oh {
                for b in 0..ow {
                    for ch in 0..p.c {
                        let (mut best, mut at, mut sum, mut cnt) = (f32::NEG_INFINITY, 0, 0.0, 0);
                        for kh in 0..p.k_h {
                            for kw in 0..p.k_w {
                                let h = (a * p.stride_h + kh) as isize - p.pad_top as isize;
                                let w = (b * p.stride_w + kw) as isize - p.pad_left as isize;
                                if h < 0 || w < 0 || h >= p.in_h as isize || w >= p.in_w as isize {
                                    continue;
                                }
                                let k = (h as usize * p.in_w + w as usize) * p.c + ch;
                                let v = x[i * p.in_width() + k];
                                if v > best {
                                    (best, at) = (v, (k / p.c) as u32);
                                }
                                sum += v;
                                cnt += 1;
                            }
                        }
                        let o = i * p.out_width() + (a * ow + b) * p.c + ch;
                        y[o] = if max { best } else { sum / cnt as f32 };
                        arg[o] = at;
                    }
                }
            }
        }
        (y, arg)
    }

    /// Window sizes 1..=4 (square and rectangular), strides 1..=3 (also
    /// larger than the window), valid / same / explicit padding, one or
    /// several channels, batch 1 or 2.
    fn family() -> Vec<(Pool2d, usize)> {
        let mut out = Vec::new();
        let mut i = 0usize;
        for size in [[1, 1], [2, 2], [3, 3], [4, 4], [2, 3], [3, 1]] {
            for stride in [size, [1, 1], [2, 3], [3, 2]] {
                for padding in [Padding::Valid, Padding::Same, Padding::Explicit(1)] {
                    let c = [1, 3][i % 2];
                    let n = [1, 2][(i / 2) % 2];
                    i += 1;
                    // Explicit(1) on a 1-wide window would pool padding only.
                    if let Ok(p) = Pool2d::new([7, 6, c], size, stride, padding) {
                        out.push((p, n));
                    }
                }
            }
        }
        out
    }

    /// Distinct values at least 0.05 apart (so finite differences of max
    /// never swap the winner), in a scrambled order.
    fn distinct(len: usize, seed: usize) -> Vec<f32> {
        let step = (0..)
            .map(|k| 7919 + 2 * k)
            .find(|s| gcd(*s, len) == 1)
            .unwrap();
        (0..len)
            .map(|k| ((k * step + seed) % len) as f32 * 0.05 - len as f32 * 0.025)
            .collect()
    }

    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }

    fn run_max(p: &Pool2d, n: usize, x: &[f32], argmax: Option<&mut [u32]>) -> Array2<f32> {
        let mut y = Array2::from_elem((n, p.out_width()), f32::NAN);
        max_forward(
            p,
            ArrayView2::from_shape((n, p.in_width()), x).unwrap(),
            argmax,
            y.view_mut(),
        );
        y
    }

    fn run_avg(p: &Pool2d, n: usize, x: &[f32]) -> Array2<f32> {
        let mut y = Array2::from_elem((n, p.out_width()), f32::NAN);
        avg_forward(
            p,
            ArrayView2::from_shape((n, p.in_width()), x).unwrap(),
            y.view_mut(),
        );
        y
    }

    #[test]
    fn family_covers_the_edge_cases() {
        let f = family();
        assert!(f.len() > 50);
        assert!(f.iter().any(|(p, _)| p.stride_w > p.k_w));
        assert!(f.iter().any(|(p, _)| p.pad_bottom > p.pad_top));
        assert!(f.iter().any(|(p, n)| p.c == 1 && *n == 1));
        assert!(f.iter().any(|(p, n)| p.c > 1 && *n > 1));
    }

    #[test]
    fn forward_matches_the_definition_with_first_max_on_ties() {
        for (p, n) in family() {
            // Few distinct values: many ties, which must go to the first cell.
            let x: Vec<f32> = vec(n * p.in_width(), 1)
                .iter()
                .map(|v| (v * 2.0).round())
                .collect();
            let (want_max, want_arg) = naive(&p, n, &x, true);
            let mut arg = vec![u32::MAX; n * p.out_width()];
            let y = run_max(&p, n, &x, Some(&mut arg));
            assert_eq!(y.as_slice().unwrap(), &want_max[..], "{p:?}");
            assert_eq!(arg, want_arg, "{p:?}");
            assert_eq!(run_max(&p, n, &x, None), y);
            let (want_avg, _) = naive(&p, n, &x, false);
            let avg = run_avg(&p, n, &x);
            for (g, w) in avg.iter().zip(&want_avg) {
                assert!((g - w).abs() < 1e-6, "{p:?}: {g} vs {w}");
            }
            let (mut y1, mut a1) = (vec![0.0; p.out_width()], vec![0.0; p.out_width()]);
            max_forward_one(&p, &x[..p.in_width()], &mut y1);
            avg_forward_one(&p, &x[..p.in_width()], &mut a1);
            assert_eq!(&y1[..], &y.as_slice().unwrap()[..p.out_width()]);
            assert_eq!(&a1[..], &avg.as_slice().unwrap()[..p.out_width()]);
        }
    }

    #[test]
    fn many_channels_are_pooled_too() {
        let p = Pool2d::new([4, 5, 70], [2, 3], [2, 2], Padding::Same).unwrap();
        let x: Vec<f32> = vec(2 * p.in_width(), 9)
            .iter()
            .map(|v| (v * 3.0).round())
            .collect();
        let (want, want_arg) = naive(&p, 2, &x, true);
        let mut arg = vec![0; 2 * p.out_width()];
        let y = run_max(&p, 2, &x, Some(&mut arg));
        assert_eq!(y.as_slice().unwrap(), &want[..]);
        assert_eq!(arg, want_arg);
    }

    #[test]
    fn max_backward_sends_the_gradient_to_the_first_maximum() {
        let p = Pool2d::new([2, 2, 1], [2, 2], [2, 2], Padding::Valid).unwrap();
        let x = [1.0, 3.0, 3.0, 2.0];
        let mut arg = [0u32];
        run_max(&p, 1, &x, Some(&mut arg));
        let mut dx = Array2::from_elem((1, 4), f32::NAN);
        max_backward(
            &p,
            &arg,
            ArrayView2::from_shape((1, 1), &[5.0]).unwrap(),
            dx.view_mut(),
        );
        assert_eq!(arg, [1]);
        assert_eq!(dx.as_slice().unwrap(), &[0.0, 5.0, 0.0, 0.0]);
    }

    #[test]
    fn avg_same_padding_divides_by_the_real_cells() {
        // 3x3 input, 2x2 window, stride 2, same: the padding goes bottom/right.
        let p = Pool2d::new([3, 3, 1], [2, 2], [2, 2], Padding::Same).unwrap();
        assert_eq!((p.pad_top, p.pad_bottom, p.out_h()), (0, 1, 2));
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let y = run_avg(&p, 1, &x);
        assert_eq!(y.as_slice().unwrap(), &[3.0, 4.5, 7.5, 9.0]);
    }

    #[test]
    fn backward_matches_finite_differences() {
        for (p, n) in family() {
            let x = distinct(n * p.in_width(), 3);
            let r = vec(n * p.out_width(), 4);
            let dy = ArrayView2::from_shape((n, p.out_width()), &r[..]).unwrap();
            let mut arg = vec![0; n * p.out_width()];
            run_max(&p, n, &x, Some(&mut arg));
            let mut dx = Array2::from_elem((n, p.in_width()), f32::NAN);
            max_backward(&p, &arg, dy, dx.view_mut());
            check(
                &format!("max {p:?} n={n}"),
                &x,
                dx.as_slice().unwrap(),
                |x| dot(run_max(&p, n, x, None).as_slice().unwrap(), &r),
            );
            let mut dx = Array2::from_elem((n, p.in_width()), f32::NAN);
            avg_backward(&p, dy, dx.view_mut());
            check(
                &format!("avg {p:?} n={n}"),
                &x,
                dx.as_slice().unwrap(),
                |x| dot(run_avg(&p, n, x).as_slice().unwrap(), &r),
            );
        }
    }

    #[test]
    fn global_avg_matches_the_mean_and_its_gradient() {
        for (h, w, c, n) in [(1, 1, 1, 1), (3, 4, 2, 2), (5, 1, 3, 1)] {
            let g = GlobalAvgPool2d::new([h, w, c]).unwrap();
            let x = vec(n * g.in_width(), 5);
            let run = |x: &[f32]| {
                let mut y = Array2::from_elem((n, c), f32::NAN);
                global_avg_forward(
                    &g,
                    ArrayView2::from_shape((n, g.in_width()), x).unwrap(),
                    y.view_mut(),
                );
                y
            };
            let y = run(&x);
            for i in 0..n {
                for ch in 0..c {
                    let mean: f32 = (0..h * w)
                        .map(|q| x[i * g.in_width() + q * c + ch])
                        .sum::<f32>()
                        / (h * w) as f32;
                    assert!((y[[i, ch]] - mean).abs() < 1e-6);
                }
            }
            let mut y1 = vec![0.0; c];
            global_avg_forward_one(&g, &x[..g.in_width()], &mut y1);
            assert_eq!(y1, y.row(0).to_vec());
            let r = vec(n * c, 6);
            let mut dx = Array2::from_elem((n, g.in_width()), f32::NAN);
            global_avg_backward(
                &g,
                ArrayView2::from_shape((n, c), &r[..]).unwrap(),
                dx.view_mut(),
            );
            check("global avg", &x, dx.as_slice().unwrap(), |x| {
                dot(run(x).as_slice().unwrap(), &r)
            });
        }
    }

    /// Images split over the helper thread give the same bits as one thread.
    #[test]
    fn one_and_two_threads_agree_bitwise() {
        let p = Pool2d::new([25, 25, 32], [3, 3], [3, 3], Padding::Valid).unwrap();
        let n = 8;
        assert!(n * p.in_width() >= crate::kernels::PARALLEL_IMAGES);
        let x = vec(n * p.in_width(), 7);
        let r = vec(n * p.out_width(), 8);
        let step = || {
            let mut arg = vec![0; n * p.out_width()];
            let y = run_max(&p, n, &x, Some(&mut arg));
            let dy = ArrayView2::from_shape((n, p.out_width()), &r[..]).unwrap();
            let mut dx = Array2::zeros((n, p.in_width()));
            max_backward(&p, &arg, dy, dx.view_mut());
            let a = run_avg(&p, n, &x);
            let mut da = Array2::zeros((n, p.in_width()));
            avg_backward(&p, dy, da.view_mut());
            (y, arg, dx, a, da)
        };
        let two = step();
        let one = crate::pool::serially(step);
        assert!(one == two);
    }
}
