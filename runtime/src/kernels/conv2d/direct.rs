//! Direct convolution forward for shallow inputs (`KH·KW·C_in` small, as in
//! a first layer on grey or RGB images), AVX-512 only.
//!
//! With `C_in = 1` the im2col matrix is 16 floats wide for a 4×4 kernel:
//! writing it cost as much as the 16-deep product that reads it, and the
//! product's short inner dimension kept the gemm far from its peak. Here
//! each output pixel's `C_out` sums stay in registers while the kernel
//! taps stream past: four neighbouring pixels at a time, so that one
//! load of a tap's weights feeds four pixels' FMAs.
//!
//! Each sum starts at zero and takes the taps in the kernel's row order
//! `(kh, kw, c_in)`, one FMA each, with a zero for a tap in the padding:
//! the same operations, in the same order, as the im2col + gemm path, so
//! the two give the same results. The bias is added to the finished sum,
//! as the gemm path adds it to the stored product.

#![cfg(target_arch = "x86_64")]

use super::Conv2d;
use std::arch::x86_64::*;

/// Repeats `$body` with `$i` bound to each listed literal. Register arrays
/// indexed in a loop were kept on the stack (the loops unroll only after
/// the pass that moves arrays into registers): literal indices fix that.
macro_rules! unroll {
    ($i:ident in [$($n:literal),*] $body:block) => {
        $({
            let $i: usize = $n;
            $body
        })*
    };
}

/// Largest `KH·KW·C_in` the direct path takes. Beyond it im2col + gemm
/// wins (the tutorial's second layer, 512 wide, ran at 25 GFLOP/s direct
/// against 43 through the gemm: module docs of `conv2d`).
pub(super) const MAX_TAPS: usize = 64;

/// Output channels per register group: four 16-lane registers.
const GROUP: usize = 64;

/// `y = conv(x, w) + b` for the images in `x` (no activation).
///
/// # Safety
/// The CPU must support AVX-512F. The slices must have the lengths of `c`:
/// `x` a whole number of `H·W·C_in` images, `y` as many `OH·OW·C_out`
/// outputs, `w` `KH·KW·C_in·C_out`, `b` `C_out`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn forward_images(
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
) {
    assert_eq!(w.len(), c.col_width() * c.out_c, "conv2d direct: kernel");
    assert!(b.is_none_or(|b| b.len() == c.out_c), "conv2d direct: bias");
    assert_eq!(
        x.len() / c.in_width(),
        y.len() / c.out_width(),
        "conv2d direct: batch"
    );
    let (out_h, out_w) = (c.out_h(), c.out_w());
    for (img, out) in x
        .chunks_exact(c.in_width())
        .zip(y.chunks_exact_mut(c.out_width()))
    {
        for g0 in (0..c.out_c).step_by(GROUP) {
            let width = (c.out_c - g0).min(GROUP);
            let regs = width.div_ceil(16);
            // Lanes of the last register that hold channels.
            let tail = width - 16 * (regs - 1);
            let mask: __mmask16 = if tail == 16 {
                0xffff
            } else {
                (1u16 << tail) - 1
            };
            let at = Group { g0, mask, out_w };
            for oh in 0..out_h {
                let rows_inside =
                    oh * c.stride_h >= c.pad_top && oh * c.stride_h + c.k_h <= c.pad_top + c.in_h;
                let mut ow = 0;
                while ow < out_w {
                    let p = if ow + 4 <= out_w { 4 } else { 1 };
                    let inside = rows_inside
                        && ow * c.stride_w >= c.pad_left
                        && (ow + p - 1) * c.stride_w + c.k_w <= c.pad_left + c.in_w;
                    macro_rules! go {
                        ($($r:literal),*) => {
                            match (regs, p, inside) {
                                $(
                                    ($r, 4, true) => pixels::<$r, 4, false>(c, img, w, b, at, oh, ow, out),
                                    ($r, 4, false) => pixels::<$r, 4, true>(c, img, w, b, at, oh, ow, out),
                                    ($r, _, true) => pixels::<$r, 1, false>(c, img, w, b, at, oh, ow, out),
                                    ($r, _, false) => pixels::<$r, 1, true>(c, img, w, b, at, oh, ow, out),
                                )*
                                _ => unreachable!("at most 4 registers per group"),
                            }
                        };
                    }
                    go!(1, 2, 3, 4);
                    ow += p;
                }
            }
        }
    }
}

/// The output channels one pass computes: `g0..g0 + 16·R`, the last
/// register's lanes limited by `mask`.
#[derive(Clone, Copy)]
struct Group {
    g0: usize,
    mask: __mmask16,
    out_w: usize,
}

/// Output pixels `(oh, ow..ow + P)` of one image, channels of `at`, in
/// `R` registers each. With `EDGE`, taps in the padding read zero.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn pixels<const R: usize, const P: usize, const EDGE: bool>(
    c: &Conv2d,
    img: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    at: Group,
    oh: usize,
    ow: usize,
    out: &mut [f32],
) {
    let lane_mask = |r: usize| if r + 1 == R { at.mask } else { 0xffff };
    let mut acc = [[_mm512_setzero_ps(); R]; P];
    let (cin, cout) = (c.in_c, c.out_c);
    for kh in 0..c.k_h {
        // Row of the padded input, then of the input (may be out of range at an edge).
        let ih = (oh * c.stride_h + kh).wrapping_sub(c.pad_top);
        for kw in 0..c.k_w {
            let iw: [usize; P] =
                std::array::from_fn(|q| ((ow + q) * c.stride_w + kw).wrapping_sub(c.pad_left));
            for ci in 0..cin {
                let tap = (kh * c.k_w + kw) * cin + ci;
                let wp = w.as_ptr().add(tap * cout + at.g0);
                let mut wv = [_mm512_setzero_ps(); R];
                unroll!(r in [0, 1, 2, 3] {
                    if r < R {
                        wv[r] = _mm512_maskz_loadu_ps(lane_mask(r), wp.add(16 * r));
                    }
                });
                unroll!(q in [0, 1, 2, 3] {
                    if q < P {
                        let v = if !EDGE || (ih < c.in_h && iw[q] < c.in_w) {
                            *img.get_unchecked((ih * c.in_w + iw[q]) * cin + ci)
                        } else {
                            0.0
                        };
                        let xv = _mm512_set1_ps(v);
                        unroll!(r in [0, 1, 2, 3] {
                            if r < R {
                                acc[q][r] = _mm512_fmadd_ps(xv, wv[r], acc[q][r]);
                            }
                        });
                    }
                });
            }
        }
    }
    for (q, acc) in acc.iter().enumerate() {
        let o = out
            .as_mut_ptr()
            .add(((oh * at.out_w + ow + q) * cout) + at.g0);
        for (r, &a) in acc.iter().enumerate() {
            let m = lane_mask(r);
            let v = match b {
                Some(b) => {
                    _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, b.as_ptr().add(at.g0 + 16 * r)))
                }
                None => a,
            };
            _mm512_mask_storeu_ps(o.add(16 * r), m, v);
        }
    }
}

/// Kernel gradient `dw = colᵀ·dz` without the im2col matrix, for the
/// shallow layers [`forward_images`] serves: `dw[tap, co] = Σ x(tap at
/// pixel) · dz[pixel, co]` over the images' output pixels in order, one FMA
/// each from zero (padding taps add `0·dz`). Sixteen taps by sixteen
/// channels are summed in registers at a time ("passes"); passes write
/// disjoint parts of `dw`, so they split over the helper thread and every
/// element is still summed by one thread in one order.
///
/// # Safety
/// The CPU must support AVX-512F; `x` holds whole images, `dz` their
/// `OH·OW·C_out` gradients, `dw` is `KH·KW·C_in·C_out`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn kernel_grad(c: &Conv2d, x: &[f32], dz: &[f32], dw: &mut [f32]) {
    assert_eq!(
        dw.len(),
        c.col_width() * c.out_c,
        "conv2d direct: kernel gradient"
    );
    assert_eq!(
        x.len() / c.in_width(),
        dz.len() / c.out_width(),
        "conv2d direct: batch"
    );
    let taps = c.col_width();
    let (tap_groups, ch_groups) = (taps.div_ceil(16), c.out_c.div_ceil(16));
    let passes = tap_groups * ch_groups;
    // The sums live in `dw` between output rows: one row's `dz` is read by
    // every pass while it is in L1, instead of streaming all of `dz` once
    // per pass.
    dw.fill(0.0);
    let out = Out(dw.as_mut_ptr());
    let n = x.len() / c.in_width();
    crate::kernels::by_images(
        passes,
        2 * n * c.macs(),
        0..passes,
        |r, mid| (r.start..r.start + mid, r.start + mid..r.end),
        |r| {
            for (img, g) in x
                .chunks_exact(c.in_width())
                .zip(dz.chunks_exact(c.out_width()))
            {
                for oh in 0..c.out_h() {
                    for pass in r.clone() {
                        let (tg, cg) = (pass / ch_groups, pass % ch_groups);
                        // SAFETY: the caller's contract; passes write disjoint cells.
                        unsafe { grad_row(c, img, g, oh, &out, tg * 16, cg * 16) };
                    }
                }
            }
        },
    );
}

/// `dw` of [`kernel_grad`], written by passes that own disjoint cells.
struct Out(*mut f32);
// SAFETY: each pass writes only its own taps × channels of `dw`, which
// outlives the passes (`by_images` returns after both halves).
unsafe impl Sync for Out {}

/// One output row `oh` of one image for one pass of [`kernel_grad`]: taps
/// `t0..t0 + 16` by channels `c0..c0 + 16` (clipped to the layer), added
/// onto the sums in `dw`. The tap loop always runs 16 times (a group's
/// missing taps repeat its last one and are not stored), so that it
/// unrolls and the sums stay in registers.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn grad_row(c: &Conv2d, img: &[f32], g: &[f32], oh: usize, dw: &Out, t0: usize, c0: usize) {
    let taps = c.col_width();
    let nt = (taps - t0).min(16);
    let nc = (c.out_c - c0).min(16);
    let mask: __mmask16 = if nc == 16 { 0xffff } else { (1u16 << nc) - 1 };
    // Each tap's kernel cell and its offset from the window's corner.
    let cell: [(usize, usize, usize); 16] = std::array::from_fn(|t| {
        let tap = (t0 + t).min(taps - 1);
        (tap / (c.in_c * c.k_w), (tap / c.in_c) % c.k_w, tap % c.in_c)
    });
    let off: [usize; 16] = std::array::from_fn(|t| {
        let (kh, kw, ci) = cell[t];
        (kh * c.in_w + kw) * c.in_c + ci
    });
    let out_w = c.out_w();
    let mut acc = [_mm512_setzero_ps(); 16];
    unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        if t < nt {
            acc[t] = _mm512_maskz_loadu_ps(mask, dw.0.add((t0 + t) * c.out_c + c0));
        }
    });
    let top = oh * c.stride_h;
    let rows_inside = top >= c.pad_top && top + c.k_h <= c.pad_top + c.in_h;
    for ow in 0..out_w {
        let gv = _mm512_maskz_loadu_ps(mask, g.as_ptr().add((oh * out_w + ow) * c.out_c + c0));
        let left = ow * c.stride_w;
        if rows_inside && left >= c.pad_left && left + c.k_w <= c.pad_left + c.in_w {
            let base = ((top - c.pad_top) * c.in_w + left - c.pad_left) * c.in_c;
            let corner = img.as_ptr().add(base);
            unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
                let xv = _mm512_set1_ps(*corner.add(off[t]));
                acc[t] = _mm512_fmadd_ps(xv, gv, acc[t]);
            });
        } else {
            unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
                let (kh, kw, ci) = cell[t];
                let ih = (top + kh).wrapping_sub(c.pad_top);
                let iw = (left + kw).wrapping_sub(c.pad_left);
                let v = if ih < c.in_h && iw < c.in_w {
                    *img.get_unchecked((ih * c.in_w + iw) * c.in_c + ci)
                } else {
                    0.0
                };
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(v), gv, acc[t]);
            });
        }
    }
    unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        if t < nt {
            _mm512_mask_storeu_ps(dw.0.add((t0 + t) * c.out_c + c0), mask, acc[t]);
        }
    });
}
