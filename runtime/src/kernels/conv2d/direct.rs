//! Direct convolution forward and kernel gradient for shallow inputs
//! (`KH·KW·C_in` small, as in a first layer on grey or RGB images), in
//! AVX-512 or AVX2+FMA registers.
//!
//! With `C_in = 1` the im2col matrix is 16 floats wide for a 4×4 kernel:
//! writing it cost as much as the 16-deep product that reads it, and the
//! product's short inner dimension kept the gemm far from its peak. Here
//! each output pixel's `C_out` sums stay in registers while the kernel
//! taps stream past: several neighbouring pixels at a time, so that one
//! load of a tap's weights feeds several pixels' FMAs.
//!
//! Each sum starts at zero and takes the taps in the kernel's row order
//! `(kh, kw, c_in)`, one FMA each, with a zero for a tap in the padding:
//! the same operations, in the same order, as the im2col + gemm path, so
//! the two give the same results. The bias is added to the finished sum,
//! as the gemm path adds it to the stored product.
//!
//! One body serves both instruction sets: [`Simd`] names the handful of
//! vector operations the kernels use, and each set compiles the bodies
//! into its own `#[target_feature]` entry points. The instruction set only
//! changes how many lanes and pixels are in flight, never the order of the
//! operations on one sum, so AVX-512 and AVX2 machines get the same bits.

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

/// Registers of output channels per group in the forward kernel.
const GROUP_REGS: usize = 4;

/// The instruction set a direct kernel runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isa {
    /// AVX-512F: 16 lanes, 32 registers.
    Avx512,
    /// AVX2 + FMA: 8 lanes, 16 registers.
    Avx2,
}

impl Isa {
    /// The widest set this CPU has (AVX2 when `avx2` asks for it), if any.
    pub(super) fn detect(avx2: bool) -> Option<Isa> {
        if !avx2 && crate::kernels::gemm::has_avx512() {
            Some(Isa::Avx512)
        } else if crate::kernels::gemm::has_fma() {
            Some(Isa::Avx2)
        } else {
            None
        }
    }
}

/// The vector operations the kernels use. Implemented by zero-sized types
/// whose methods are `inline(always)`: they compile into the instruction
/// set of the `#[target_feature]` entry point that calls the body.
trait Simd {
    /// Floats per register.
    const LANES: usize;
    /// Output pixels the forward kernel sums at once (`GROUP_REGS` registers
    /// each, plus a tap's weights and one broadcast, must fit the register file).
    const PIXELS: usize;
    /// Kernel taps the kernel gradient sums at once.
    const TAPS: usize;
    /// Registers of channels per tap the kernel gradient sums at once
    /// (`TAPS · GRAD_REGS` sums, `GRAD_REGS` gradients and a broadcast must fit).
    const GRAD_REGS: usize;
    /// A register of `LANES` floats.
    type V: Copy;
    /// Which lanes of a register hold channels.
    type Mask: Copy;
    /// The first `lanes` lanes (`1..=LANES`).
    unsafe fn mask(lanes: usize) -> Self::Mask;
    unsafe fn zero() -> Self::V;
    /// Loads the masked lanes; the others read zero and are not touched.
    unsafe fn load(m: Self::Mask, p: *const f32) -> Self::V;
    unsafe fn store(m: Self::Mask, p: *mut f32, v: Self::V);
    unsafe fn splat(x: f32) -> Self::V;
    /// `a·b + c`, rounded once.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise maximum; `b` where `a` is NaN (relu of NaN is 0, as `f32::max`).
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
}

/// The [`Simd`] methods that are one intrinsic each, the same for both sets.
macro_rules! arith {
    ($v:ty, $zero:ident, $splat:ident, $fmadd:ident, $add:ident, $max:ident) => {
        #[inline(always)]
        unsafe fn zero() -> $v {
            $zero()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> $v {
            $splat(x)
        }
        #[inline(always)]
        unsafe fn fmadd(a: $v, b: $v, c: $v) -> $v {
            $fmadd(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: $v, b: $v) -> $v {
            $add(a, b)
        }
        #[inline(always)]
        unsafe fn max(a: $v, b: $v) -> $v {
            $max(a, b)
        }
    };
}

/// AVX-512F.
struct Avx512;

impl Simd for Avx512 {
    const LANES: usize = 16;
    // 4 × 4 sums, 4 weight registers and a broadcast: 21 of 32.
    const PIXELS: usize = 4;
    // 16 sums, a gradient and a broadcast: 18 of 32.
    const TAPS: usize = 16;
    const GRAD_REGS: usize = 1;
    type V = __m512;
    type Mask = __mmask16;
    #[inline(always)]
    unsafe fn mask(lanes: usize) -> __mmask16 {
        if lanes >= 16 {
            0xffff
        } else {
            (1u16 << lanes) - 1
        }
    }
    #[inline(always)]
    unsafe fn load(m: __mmask16, p: *const f32) -> __m512 {
        _mm512_maskz_loadu_ps(m, p)
    }
    #[inline(always)]
    unsafe fn store(m: __mmask16, p: *mut f32, v: __m512) {
        _mm512_mask_storeu_ps(p, m, v)
    }
    arith!(
        __m512,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_max_ps
    );
}

/// AVX2 + FMA.
struct Avx2;

/// An AVX2 lane mask, and whether it is full: a full register takes the
/// plain load and store, which are faster than the masked ones.
#[derive(Clone, Copy)]
struct Mask8 {
    full: bool,
    bits: __m256i,
}

impl Simd for Avx2 {
    const LANES: usize = 8;
    // 2 × 4 sums, 4 weight registers and a broadcast: 13 of 16. (Three
    // pixels, with the weights as FMA memory operands, measured slower:
    // one image through the tutorial CNN 61 k -> 51 k per second.)
    const PIXELS: usize = 2;
    // 4 × 2 sums, two gradients and a broadcast: 11 of 16; per pixel 6
    // loads feed 8 FMAs (8 taps × 1 register: 9 loads).
    const TAPS: usize = 4;
    const GRAD_REGS: usize = 2;
    type V = __m256;
    type Mask = Mask8;
    #[inline(always)]
    unsafe fn mask(lanes: usize) -> Mask8 {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        Mask8 {
            full: lanes >= 8,
            bits: _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes.min(8) as i32), lane),
        }
    }
    #[inline(always)]
    unsafe fn load(m: Mask8, p: *const f32) -> __m256 {
        if m.full {
            _mm256_loadu_ps(p)
        } else {
            _mm256_maskload_ps(p, m.bits)
        }
    }
    #[inline(always)]
    unsafe fn store(m: Mask8, p: *mut f32, v: __m256) {
        if m.full {
            _mm256_storeu_ps(p, v)
        } else {
            _mm256_maskstore_ps(p, m.bits, v)
        }
    }
    arith!(
        __m256,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_max_ps
    );
}

/// `y = conv(x, w) + b` for the images in `x`, then `max(y, 0)` with
/// `relu` (applied while the output is in registers; other activations
/// are the caller's).
///
/// # Safety
/// The CPU must support `isa` ([`Isa::detect`]). The slices must have the
/// lengths of `c`: `x` a whole number of `H·W·C_in` images, `y` as many
/// `OH·OW·C_out` outputs, `w` `KH·KW·C_in·C_out`, `b` `C_out`.
pub(super) unsafe fn forward_images(
    isa: Isa,
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    assert_eq!(w.len(), c.col_width() * c.out_c, "conv2d direct: kernel");
    assert!(b.is_none_or(|b| b.len() == c.out_c), "conv2d direct: bias");
    assert_eq!(
        x.len() / c.in_width(),
        y.len() / c.out_width(),
        "conv2d direct: batch"
    );
    match isa {
        Isa::Avx512 => forward_avx512(c, x, w, b, relu, y),
        Isa::Avx2 => forward_avx2(c, x, w, b, relu, y),
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn forward_avx512(
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    forward_body::<Avx512>(c, x, w, b, relu, y)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn forward_avx2(
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    forward_body::<Avx2>(c, x, w, b, relu, y)
}

#[inline(always)]
unsafe fn forward_body<S: Simd>(
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    let (out_h, out_w) = (c.out_h(), c.out_w());
    let group = GROUP_REGS * S::LANES;
    for (img, out) in x
        .chunks_exact(c.in_width())
        .zip(y.chunks_exact_mut(c.out_width()))
    {
        for g0 in (0..c.out_c).step_by(group) {
            let width = (c.out_c - g0).min(group);
            let regs = width.div_ceil(S::LANES);
            // Lanes of the last register that hold channels.
            let at = Group::<S> {
                g0,
                mask: S::mask(width - S::LANES * (regs - 1)),
                out_w,
            };
            for oh in 0..out_h {
                let rows_inside =
                    oh * c.stride_h >= c.pad_top && oh * c.stride_h + c.k_h <= c.pad_top + c.in_h;
                let mut ow = 0;
                while ow < out_w {
                    let p = if ow + S::PIXELS <= out_w {
                        S::PIXELS
                    } else {
                        1
                    };
                    let inside = rows_inside
                        && ow * c.stride_w >= c.pad_left
                        && (ow + p - 1) * c.stride_w + c.k_w <= c.pad_left + c.in_w;
                    macro_rules! go {
                        ($($r:literal),*) => {
                            match (regs, p, inside) {
                                $(
                                    ($r, 4, true) => pixels::<S, $r, 4, false>(c, img, w, b, relu, at, oh, ow, out),
                                    ($r, 4, false) => pixels::<S, $r, 4, true>(c, img, w, b, relu, at, oh, ow, out),
                                    ($r, 2, true) => pixels::<S, $r, 2, false>(c, img, w, b, relu, at, oh, ow, out),
                                    ($r, 2, false) => pixels::<S, $r, 2, true>(c, img, w, b, relu, at, oh, ow, out),
                                    ($r, _, true) => pixels::<S, $r, 1, false>(c, img, w, b, relu, at, oh, ow, out),
                                    ($r, _, false) => pixels::<S, $r, 1, true>(c, img, w, b, relu, at, oh, ow, out),
                                )*
                                _ => unreachable!("at most {GROUP_REGS} registers per group"),
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

/// The output channels one pass computes: `g0..g0 + LANES·R`, the last
/// register's lanes limited by `mask`.
struct Group<S: Simd> {
    g0: usize,
    mask: S::Mask,
    out_w: usize,
}

impl<S: Simd> Clone for Group<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: Simd> Copy for Group<S> {}

/// Output pixels `(oh, ow..ow + P)` of one image, channels of `at`, in
/// `R` registers each. With `EDGE`, taps in the padding read zero.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn pixels<S: Simd, const R: usize, const P: usize, const EDGE: bool>(
    c: &Conv2d,
    img: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    relu: bool,
    at: Group<S>,
    oh: usize,
    ow: usize,
    out: &mut [f32],
) {
    let full = S::mask(S::LANES);
    let lane_mask = |r: usize| if r + 1 == R { at.mask } else { full };
    let mut acc = [[S::zero(); R]; P];
    let (cin, cout) = (c.in_c, c.out_c);
    if !EDGE {
        // Inside the image, a kernel row's taps (kw, ci) are one run of
        // `KW·C_in` floats of the input and of the kernel: one loop with
        // plain pointer steps, in the order of the loops below (the same
        // bits). With one input channel, the nested loops were mostly loop
        // control.
        let run = c.k_w * cin;
        for kh in 0..c.k_h {
            let ih = oh * c.stride_h + kh - c.pad_top;
            let x: [*const f32; P] = std::array::from_fn(|q| {
                img.as_ptr()
                    .add((ih * c.in_w + (ow + q) * c.stride_w - c.pad_left) * cin)
            });
            let wrow = w.as_ptr().add(kh * run * cout + at.g0);
            for t in 0..run {
                let wp = wrow.add(t * cout);
                let mut wv = [S::zero(); R];
                unroll!(r in [0, 1, 2, 3] {
                    if r < R {
                        wv[r] = S::load(lane_mask(r), wp.add(S::LANES * r));
                    }
                });
                unroll!(q in [0, 1, 2, 3] {
                    if q < P {
                        let xv = S::splat(*x[q].add(t));
                        unroll!(r in [0, 1, 2, 3] {
                            if r < R {
                                acc[q][r] = S::fmadd(xv, wv[r], acc[q][r]);
                            }
                        });
                    }
                });
            }
        }
    } else {
        for kh in 0..c.k_h {
            // Row of the padded input, then of the input (may be out of range at an edge).
            let ih = (oh * c.stride_h + kh).wrapping_sub(c.pad_top);
            for kw in 0..c.k_w {
                let iw: [usize; P] =
                    std::array::from_fn(|q| ((ow + q) * c.stride_w + kw).wrapping_sub(c.pad_left));
                for ci in 0..cin {
                    let tap = (kh * c.k_w + kw) * cin + ci;
                    let wp = w.as_ptr().add(tap * cout + at.g0);
                    let mut wv = [S::zero(); R];
                    unroll!(r in [0, 1, 2, 3] {
                        if r < R {
                            wv[r] = S::load(lane_mask(r), wp.add(S::LANES * r));
                        }
                    });
                    unroll!(q in [0, 1, 2, 3] {
                        if q < P {
                            let v = if ih < c.in_h && iw[q] < c.in_w {
                                *img.get_unchecked((ih * c.in_w + iw[q]) * cin + ci)
                            } else {
                                0.0
                            };
                            let xv = S::splat(v);
                            unroll!(r in [0, 1, 2, 3] {
                                if r < R {
                                    acc[q][r] = S::fmadd(xv, wv[r], acc[q][r]);
                                }
                            });
                        }
                    });
                }
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
                Some(b) => S::add(a, S::load(m, b.as_ptr().add(at.g0 + S::LANES * r))),
                None => a,
            };
            let v = if relu { S::max(v, S::zero()) } else { v };
            S::store(m, o.add(S::LANES * r), v);
        }
    }
}

/// Kernel gradient `dw = colᵀ·dz` without the im2col matrix, for the
/// shallow layers [`forward_images`] serves: `dw[tap, co] = Σ x(tap at
/// pixel) · dz[pixel, co]` over the images' output pixels in order, one FMA
/// each from zero (padding taps add `0·dz`). `TAPS` taps by one register of
/// channels are summed in registers at a time ("passes"); passes write
/// disjoint parts of `dw`, so they split over the helper thread and every
/// element is still summed by one thread in one order, whatever the
/// instruction set.
///
/// # Safety
/// The CPU must support `isa`; `x` holds whole images, `dz` their
/// `OH·OW·C_out` gradients, `dw` is `KH·KW·C_in·C_out`.
pub(super) unsafe fn kernel_grad(isa: Isa, c: &Conv2d, x: &[f32], dz: &[f32], dw: &mut [f32]) {
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
    let (tap_step, lanes) = match isa {
        Isa::Avx512 => (Avx512::TAPS, Avx512::LANES * Avx512::GRAD_REGS),
        Isa::Avx2 => (Avx2::TAPS, Avx2::LANES * Avx2::GRAD_REGS),
    };
    let taps = c.col_width();
    let (tap_groups, ch_groups) = (taps.div_ceil(tap_step), c.out_c.div_ceil(lanes));
    let passes = tap_groups * ch_groups;
    // The sums live in `dw` between output rows: one row's `dz` is read by
    // every pass while it is in L1, instead of streaming all of `dz` once
    // per pass.
    dw.fill(0.0);
    let out = Out(dw.as_mut_ptr());
    let n = x.len() / c.in_width();
    if isa == Isa::Avx2 {
        return crate::kernels::by_images(
            passes,
            2 * n * c.macs(),
            0..passes,
            |r, mid| (r.start..r.start + mid, r.start + mid..r.end),
            // SAFETY: the caller's contract; passes write disjoint cells.
            |r| unsafe { grad_patched_avx2(c, x, dz, &out, r, ch_groups) },
        );
    }
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
                        let (t0, c0) = (tg * tap_step, cg * lanes);
                        // SAFETY: the caller's contract; passes write disjoint cells.
                        unsafe {
                            match isa {
                                Isa::Avx512 => grad_row_avx512(c, img, g, oh, &out, t0, c0),
                                Isa::Avx2 => grad_row_avx2(c, img, g, oh, &out, t0, c0),
                            }
                        }
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

#[target_feature(enable = "avx512f")]
unsafe fn grad_row_avx512(
    c: &Conv2d,
    img: &[f32],
    g: &[f32],
    oh: usize,
    dw: &Out,
    t0: usize,
    c0: usize,
) {
    grad_row::<Avx512>(c, img, g, oh, dw, t0, c0)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn grad_row_avx2(
    c: &Conv2d,
    img: &[f32],
    g: &[f32],
    oh: usize,
    dw: &Out,
    t0: usize,
    c0: usize,
) {
    grad_row::<Avx2>(c, img, g, oh, dw, t0, c0)
}

/// One output row `oh` of one image for one pass of [`kernel_grad`]: taps
/// `t0..t0 + TAPS` by channels `c0..c0 + LANES` (clipped to the layer),
/// added onto the sums in `dw`. The tap loop always runs `TAPS` times (a
/// group's missing taps repeat its last one and are not stored), so that
/// it unrolls and the sums stay in registers.
#[inline(always)]
unsafe fn grad_row<S: Simd>(
    c: &Conv2d,
    img: &[f32],
    g: &[f32],
    oh: usize,
    dw: &Out,
    t0: usize,
    c0: usize,
) {
    let taps = c.col_width();
    let nt = (taps - t0).min(S::TAPS);
    let mask = S::mask(c.out_c - c0);
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
    let mut acc = [S::zero(); 16];
    unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        if t < nt {
            acc[t] = S::load(mask, dw.0.add((t0 + t) * c.out_c + c0));
        }
    });
    let top = oh * c.stride_h;
    let rows_inside = top >= c.pad_top && top + c.k_h <= c.pad_top + c.in_h;
    // Output columns whose window lies inside the image: a loop of their
    // own with nothing but loads and FMAs, so that the sums stay in
    // registers also with AVX2's 16 (the edge test and its gathers spilled
    // one when they shared the loop).
    let (lo, hi) = if rows_inside {
        let lo = c.pad_left.div_ceil(c.stride_w).min(out_w);
        let hi = if c.pad_left + c.in_w >= c.k_w {
            ((c.pad_left + c.in_w - c.k_w) / c.stride_w + 1).clamp(lo, out_w)
        } else {
            lo
        };
        (lo, hi)
    } else {
        (out_w, out_w)
    };
    // A macro, not a closure: a closure is a function of its own, compiled
    // without the entry point's target features.
    macro_rules! edge {
        ($ow:expr) => {{
        let ow = $ow;
        let gv = S::load(mask, g.as_ptr().add((oh * out_w + ow) * c.out_c + c0));
        let left = ow * c.stride_w;
        unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
            if t < S::TAPS {
                let (kh, kw, ci) = cell[t];
                let ih = (top + kh).wrapping_sub(c.pad_top);
                let iw = (left + kw).wrapping_sub(c.pad_left);
                let v = if ih < c.in_h && iw < c.in_w {
                    *img.get_unchecked((ih * c.in_w + iw) * c.in_c + ci)
                } else {
                    0.0
                };
                acc[t] = S::fmadd(S::splat(v), gv, acc[t]);
            }
        });
        }};
    }
    for ow in 0..lo {
        edge!(ow);
    }
    for ow in lo..hi {
        let gv = S::load(mask, g.as_ptr().add((oh * out_w + ow) * c.out_c + c0));
        let base = ((top - c.pad_top) * c.in_w + ow * c.stride_w - c.pad_left) * c.in_c;
        let corner = img.as_ptr().add(base);
        unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
            if t < S::TAPS {
                let xv = S::splat(*corner.add(off[t]));
                acc[t] = S::fmadd(xv, gv, acc[t]);
            }
        });
    }
    for ow in hi..out_w {
        edge!(ow);
    }
    unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        if t < nt {
            S::store(mask, dw.0.add((t0 + t) * c.out_c + c0), acc[t]);
        }
    });
}

/// Floats of the stack buffer [`grad_patched`] gathers windows into (8 KiB).
const PATCH: usize = 2048;

#[target_feature(enable = "avx2,fma")]
unsafe fn grad_patched_avx2(
    c: &Conv2d,
    x: &[f32],
    dz: &[f32],
    dw: &Out,
    passes: std::ops::Range<usize>,
    ch_groups: usize,
) {
    grad_patched::<Avx2>(c, x, dz, dw, passes, ch_groups)
}

/// The passes `passes` of [`kernel_grad`] with the windows gathered first:
/// a chunk of output pixels' im2col rows goes into a small buffer that
/// stays in L1 (each row padded with zeros to a multiple of `TAPS`), and
/// every pass then reads its taps there at fixed offsets. AVX2's 16
/// general registers cannot hold the sixteen tap offsets that
/// [`grad_row`] reads the image at, and spilling them cost more than the
/// gather. Same sums in the same order as [`grad_row`] (pixels in order);
/// the padding taps are summed but not stored.
#[inline(always)]
unsafe fn grad_patched<S: Simd>(
    c: &Conv2d,
    x: &[f32],
    dz: &[f32],
    dw: &Out,
    passes: std::ops::Range<usize>,
    ch_groups: usize,
) {
    let taps = c.col_width();
    let stride = taps.next_multiple_of(S::TAPS);
    let chunk = PATCH / stride;
    let axes = (c.rows(), c.cols());
    let (out_w, npx) = (c.out_w(), c.out_h() * c.out_w());
    // Zero once: the im2col rows never write the padding taps.
    let mut patch = [0.0f32; PATCH];
    for (img, g) in x
        .chunks_exact(c.in_width())
        .zip(dz.chunks_exact(c.out_width()))
    {
        for p0 in (0..npx).step_by(chunk) {
            let p1 = (p0 + chunk).min(npx);
            // The pixel's row and column counted along, not divided out.
            let (mut oh, mut ow) = (p0 / out_w, p0 % out_w);
            for row in patch.chunks_exact_mut(stride).take(p1 - p0) {
                super::im2col_pixel(c, axes, img, (oh, ow), &mut row[..taps]);
                ow += 1;
                if ow == out_w {
                    (oh, ow) = (oh + 1, 0);
                }
            }
            for pass in passes.clone() {
                let (tg, cg) = (pass / ch_groups, pass % ch_groups);
                let (t0, c0) = (tg * S::TAPS, cg * S::LANES * S::GRAD_REGS);
                let nt = (taps - t0).min(S::TAPS);
                // A register wholly past the last channel gets no lanes.
                let mask: [S::Mask; 4] =
                    std::array::from_fn(|r| S::mask((c.out_c - c0).saturating_sub(r * S::LANES)));
                let cell = |t: usize, r: usize| dw.0.add((t0 + t) * c.out_c + c0 + r * S::LANES);
                let mut acc = [[S::zero(); 4]; 16];
                unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
                    unroll!(r in [0, 1, 2, 3] {
                        if t < nt && r < S::GRAD_REGS {
                            acc[t][r] = S::load(mask[r], cell(t, r));
                        }
                    });
                });
                let mut at = patch.as_ptr().add(t0);
                let mut gp = g.as_ptr().add(p0 * c.out_c + c0);
                for _ in p0..p1 {
                    let mut gv = [S::zero(); 4];
                    unroll!(r in [0, 1, 2, 3] {
                        if r < S::GRAD_REGS {
                            gv[r] = S::load(mask[r], gp.add(r * S::LANES));
                        }
                    });
                    unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
                        if t < S::TAPS {
                            let xv = S::splat(*at.add(t));
                            unroll!(r in [0, 1, 2, 3] {
                                if r < S::GRAD_REGS {
                                    acc[t][r] = S::fmadd(xv, gv[r], acc[t][r]);
                                }
                            });
                        }
                    });
                    at = at.add(stride);
                    gp = gp.add(c.out_c);
                }
                unroll!(t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
                    unroll!(r in [0, 1, 2, 3] {
                        if t < nt && r < S::GRAD_REGS {
                            S::store(mask[r], cell(t, r), acc[t][r]);
                        }
                    });
                });
            }
        }
    }
}
