//! Single-precision matrix product `c = alpha·a·b + beta·c` that allocates
//! nothing per call.
//!
//! # Why a hand-written kernel
//! Both pure-Rust options allocate inside every call: ndarray's
//! `general_mat_mul` (through `matrixmultiply`) allocates its packing buffer
//! per call, and the `gemm` crate 0.19 allocates a `vec![false; mc / MR]` and,
//! for most MLP shapes, a packing `MemBuffer` per call. A training step that
//! must allocate nothing after the first therefore gets its own kernel here,
//! with its buffers kept per thread and grown only when a larger product
//! arrives.
//!
//! # Three paths, one result
//! - **AVX-512** (`avx512.rs`, chosen at run time): an `8 × 32` register
//!   tile (whole tiles written out in assembly, edges in intrinsics) that
//!   mostly reads `a` and `b` where they lie (see that module for where
//!   packing pays at MLP sizes and where not), masked edges, an
//!   8-accumulator single-row kernel for batch-1 inference.
//! - **AVX2+FMA and portable** (`driver` below): the classic Goto/BLIS
//!   blocking (pack a `KC × NR` panel of `b`, an `MC × KC` block of `a`, a
//!   `6 × 16` micro-kernel in plain Rust that LLVM vectorises, compiled
//!   twice), except that a row-major `a` is read where it lies
//!   (`in_place_a`: +3-11% on a Zen 3 core at MLP shapes).
//! - **Two threads**: products of at least `PARALLEL_FLOPS` are cut into
//!   parts of `c` (whole row tiles when `a` is the larger operand, else
//!   whole column panels) that the caller and the helper thread of
//!   `crate::pool` claim one at a time. The packing path packs all of `b`
//!   per part, so there a row part has at least `MC` rows: 256×784×128 on
//!   two Zen 3 cores went from 134 to 156 GFLOP/s (8 parts → 2).
//!
//! All of them split the depth `k` the same way and add each element's
//! products in the same order, so with `alpha == 1` (what every caller in
//! the runtime passes) every path gives the same bits
//! (`all_paths_agree_bitwise`): results do not depend on the CPU or the
//! thread count. (The AVX2 path scales `a` by `alpha` while packing, the
//! AVX-512 path scales the sum, which can differ in the last bit.) `NNC_GEMM=avx2` forces the AVX2 path and `NNC_NUM_THREADS=1`
//! one thread, for measurements.
//!
//! # Measurements
//! GFLOP/s = `2·m·k·n / time`, best of 15 interleaved rounds, one thread
//! pinned to one core (`NNC_NUM_THREADS=1 taskset -c 0 cargo bench -p
//! nnc-benches --bench gemm_compare`, again with
//! `NNC_GEMM=avx2`, and once on both cores without either variable), on a
//! 2-core AVX-512 Xeon VM whose measured FMA peak is about 200 GFLOP/s per
//! core. `aT`/`bT`: transposed view; the last two columns single-threaded.
//!
//! | m × k × n (role in a 784-128-64-10 MLP) | AVX-512 | AVX2 | AVX-512, 2 threads | ndarray (matrixmultiply) | `gemm` crate |
//! | ---                        | ---   | ---  | ---   | ---  | ---   |
//! | 1×784×128 (batch-1 predict)| 41.1  | 6.0  | 39.7  | 6.3  | 24.6  |
//! | 64×784×128 (forward)       | 135.9 | 79.7 | 241.1 | 81.4 | 99.9  |
//! | 256×784×128 (forward)      | 150.5 | 92.5 | 252.0 | 79.5 | 103.7 |
//! | 64×128×64 (forward)        | 141.7 | 72.8 | 208.7 | 78.3 | 98.3  |
//! | 256×64×10 (forward)        | 56.7  | 36.3 | 56.5  | 34.8 | 53.8  |
//! | 784×64×128 aT (dW)         | 133.3 | 87.8 | 253.4 | 85.3 | 93.6  |
//! | 784×256×128 aT (dW)        | 138.7 | 90.2 | 276.1 | 89.7 | 93.2  |
//! | 64×128×784 bT (dx)         | 121.3 | 75.2 | 206.6 | 79.2 | 82.8  |
//! | 256×10×64 bT (dx)          | 64.6  | 39.7 | 65.6  | 60.3 | 67.3  |
//! | 1024×1024×1024             | 125.8 | 78.5 | 263.4 | 81.7 | 93.6  |
//!
//! MKL (`torch.mm`) reaches about 170 on one core (BENCHMARKS.md, W5).
//! The table predates the tile in assembly and the packing of `b` with
//! 512-byte rows; after them, `bench/compare` W5 on one core at nice -20
//! (a loaded machine, December 2026) gave 64×784×128 157, 256×784×128
//! 152, 1024×784×128 152, 784×256×128 with a transposed `a` 147 and 1024³
//! 138-143 GFLOP/s.

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis};
use std::cell::RefCell;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// One product `c = alpha·a·b + beta·c`, as the kernels receive it.
#[derive(Clone, Copy)]
struct Product<'v> {
    alpha: f32,
    a: ArrayView2<'v, f32>,
    b: ArrayView2<'v, f32>,
    beta: f32,
    /// Depth of a block: every path splits `k` the same way, so they all add
    /// the same products in the same order.
    kc_step: usize,
}

/// Equal-sized depth blocks of at most `KC`: k = 784 runs as 4 × 196 rather
/// than 3 × 256 + 16, whose thin last block would cost a full pass over c.
fn kc_step(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC))
}

/// Rows of the register tile.
const MR: usize = 6;
/// Columns of the register tile: two AVX vectors of 8 `f32`.
const NR: usize = 16;
/// Depth of a packed block: a `KC × NR` panel of `b` stays in L1.
const KC: usize = 256;
/// Rows of `a` packed at once: an `MC × KC` block stays in L2.
const MC: usize = 96;
/// Columns of `b` packed at once (an L3-sized panel).
const NC: usize = 2048;

thread_local! {
    /// Packing buffers `(a, b)`, grown on demand and never shrunk, so after
    /// the first product of a given size no call allocates.
    static PACK: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `c = alpha · a · b + beta · c`.
///
/// Any of the three may be a strided or transposed view (`x.t()`); the result
/// does not depend on the layout. As in BLAS, `beta == 0` overwrites `c`
/// without reading it (so a `c` full of NaN is fine).
///
/// # Shapes
/// - `a`: `[m, k]`
/// - `b`: `[k, n]`
/// - `c`: `[m, n]`
///
/// # Panics
/// If the shapes do not agree. Shapes are fixed by the (generated) caller,
/// never by user data.
pub fn gemm(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm: a is {:?}, b is {:?}, c is {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || alpha == 0.0 {
        scale(beta, &mut c);
        return;
    }
    let job = Product {
        alpha,
        a,
        b,
        beta,
        kc_step: kc_step(k),
    };
    let share = match crate::pool::pool() {
        Some(pool) if 2 * m * n * k >= PARALLEL_FLOPS => pool.share(scratch_len(&job)),
        _ => None,
    };
    match share {
        Some(share) => split(share, &job, c),
        None => serial(&job, c),
    }
}

/// Products of at least this many FLOPs share the work with the helper
/// thread; below it, waking the helper costs about what it saves.
const PARALLEL_FLOPS: usize = 1 << 20;

/// Products shared with the helper are cut into an even number of parts of
/// at least this many FLOPs (at least two, at most `pool::MAX_PARTS`, in
/// whole tiles): small enough that the caller takes back most of the work
/// of a helper that does not run, large enough that cutting costs little.
/// Done all by the caller, 64×784×64 in 2, 4 and 8 parts took 2%, 3% and
/// 6% longer than in one piece (the tiles reuse less of `b`).
const PART_FLOPS: usize = 1 << 20;

/// Cuts `c` into parts (blocks of whole row tiles or column panels) that
/// this thread and the helper claim one at a time.
fn split(share: crate::pool::Share<'_>, job: &Product<'_>, c: ArrayViewMut2<'_, f32>) {
    match plan(job) {
        Some(plan) => split_as(share, job, c, plan),
        None => serial(job, c),
    }
}

/// How to cut a product: `(axis, tile, parts)`, or `None` if it is too
/// narrow to cut in whole tiles.
fn plan(job: &Product<'_>) -> Option<(Axis, usize, usize)> {
    let (m, k) = job.a.dim();
    let n = job.b.ncols();
    let (mr, nr) = tile_size();
    let rows = m >= 2 * mr;
    let cols = n >= 2 * nr;
    // Split the larger operand: by rows each thread reads its rows of `a`
    // (`m × k`) and all of `b`, by columns the reverse. For `dw = xᵀ·dz`
    // (784 × 64 × 128) splitting columns made each thread read and copy
    // all of `xᵀ`, and two threads were no faster than one.
    let (axis, tile, len) = if rows && (m >= n || !cols) {
        (Axis(0), mr, m)
    } else if cols {
        (Axis(1), nr, n)
    } else {
        return None;
    };
    let mut count = ((2 * m * n * k / PART_FLOPS) & !1)
        .clamp(2, crate::pool::MAX_PARTS)
        .min(len.div_ceil(tile));
    if axis == Axis(0) && !reads_b_in_place() {
        // The packing path packs all of `b` once per part: parts of at
        // least `MC` rows, so that each packing serves a whole block of `a`.
        count = count.min((m / MC).max(2) & !1).max(2);
    }
    Some((axis, tile, count))
}

/// Whether the kernel this CPU runs reads `b` mostly where it lies (the
/// AVX-512 path) rather than packing all of it per product (the AVX2 and
/// portable path).
fn reads_b_in_place() -> bool {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        return true;
    }
    false
}

/// [`split`] as `plan` says.
fn split_as(
    share: crate::pool::Share<'_>,
    job: &Product<'_>,
    c: ArrayViewMut2<'_, f32>,
    (axis, tile, count): (Axis, usize, usize),
) {
    let parts = parts(*job, c, axis, tile, count);
    PACK.with(|cell| {
        let mut fresh = (Vec::new(), Vec::new());
        let mut bufs = cell.try_borrow_mut();
        let mine = match &mut bufs {
            Ok(bufs) => &mut **bufs,
            Err(_) => &mut fresh,
        };
        share.for_each(parts, mine, |(job, c), (pa, pb)| kernel(&job, c, pa, pb));
    });
}

/// `c` and the matching rows of `a` (`axis` 0) or columns of `b` (`axis`
/// 1), in `count` blocks of whole tiles of `tile` rows or columns each.
fn parts<'a, 'c>(
    job: Product<'a>,
    c: ArrayViewMut2<'c, f32>,
    axis: Axis,
    tile: usize,
    count: usize,
) -> Parts<'a, 'c> {
    Parts {
        job,
        rest: Some(c),
        axis,
        tile,
        count,
        done: 0,
        start: 0,
    }
}

/// The iterator of [`parts`].
struct Parts<'a, 'c> {
    job: Product<'a>,
    rest: Option<ArrayViewMut2<'c, f32>>,
    axis: Axis,
    tile: usize,
    count: usize,
    /// Parts returned so far.
    done: usize,
    /// First row or column of the next part.
    start: usize,
}

impl<'a, 'c> Iterator for Parts<'a, 'c> {
    type Item = (Product<'a>, ArrayViewMut2<'c, f32>);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        let len = self.start + rest.len_of(self.axis);
        self.done += 1;
        let tiles = len.div_ceil(self.tile);
        let end = (self.done * tiles / self.count * self.tile).min(len);
        let (head, tail) = rest.split_at(self.axis, end - self.start);
        if self.done < self.count {
            self.rest = Some(tail);
        }
        let (start, job) = (self.start, self.job);
        self.start = end;
        let part = if self.axis == Axis(0) {
            Product {
                a: job.a.slice_move(s![start..end, ..]),
                ..job
            }
        } else {
            Product {
                b: job.b.slice_move(s![.., start..end]),
                ..job
            }
        };
        Some((part, head))
    }
}

/// `(MR, NR)` of the kernel [`serial`] runs: parts are cut in whole tiles.
fn tile_size() -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        return (avx512::MR, avx512::NR);
    }
    (MR, NR)
}

/// Lengths of the packing buffers that [`kernel`] may use for this product
/// or any block of its rows or columns, so that they can be sized before a
/// split and no thread grows its buffers in the middle of one.
fn scratch_len(job: &Product<'_>) -> (usize, usize) {
    let (m, k) = job.a.dim();
    let n = job.b.ncols();
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        return avx512::scratch_len(job);
    }
    (
        MC.min(m.next_multiple_of(MR)) * KC.min(k),
        NC.min(n.next_multiple_of(NR)) * KC.min(k),
    )
}

/// One product on this thread, through the best kernel for this CPU.
fn serial(job: &Product<'_>, c: ArrayViewMut2<'_, f32>) {
    PACK.with(|cell| {
        // A re-entrant call cannot happen (the kernel calls nothing that
        // calls back), but fall back to fresh buffers rather than panic.
        let mut fresh = (Vec::new(), Vec::new());
        let mut bufs = cell.try_borrow_mut();
        let (pa, pb) = match &mut bufs {
            Ok(bufs) => &mut **bufs,
            Err(_) => &mut fresh,
        };
        // Sized as a split product sizes them, so that a product that runs
        // here once and split the next time allocates only once.
        let need = scratch_len(job);
        if pa.len() < need.0 {
            pa.resize(need.0, 0.0);
        }
        if pb.len() < need.1 {
            pb.resize(need.1, 0.0);
        }
        kernel(job, c, pa, pb);
    });
}

/// One product with these packing buffers, through the best kernel for this CPU.
fn kernel(job: &Product<'_>, mut c: ArrayViewMut2<'_, f32>, pa: &mut Vec<f32>, pb: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: `has_avx512` checked the CPU; `gemm` checked the shapes.
        unsafe { avx512::gemm(job, &mut c, pa, pb) };
        return;
    }
    driver(job, &mut c, pa, pb);
}

fn scale(beta: f32, c: &mut ArrayViewMut2<'_, f32>) {
    if beta == 0.0 {
        c.fill(0.0);
    } else if beta != 1.0 {
        c.map_inplace(|v| *v *= beta);
    }
}

/// The portable and AVX2 path: Goto/BLIS blocking with packed operands.
fn driver(job: &Product<'_>, c: &mut ArrayViewMut2<'_, f32>, pa: &mut Vec<f32>, pb: &mut Vec<f32>) {
    let Product {
        alpha,
        ref a,
        ref b,
        beta,
        kc_step,
    } = *job;
    let (m, k) = a.dim();
    let n = b.ncols();
    let need_a = MC.min(m.next_multiple_of(MR)) * KC.min(k);
    let need_b = NC.min(n.next_multiple_of(NR)) * KC.min(k);
    if pa.len() < need_a {
        pa.resize(need_a, 0.0);
    }
    if pb.len() < need_b {
        pb.resize(need_b, 0.0);
    }
    let fma = has_fma();
    let in_place = in_place_a(job);
    let b_in_place = in_place_b(job);
    let mc_step = m.div_ceil(m.div_ceil(MC)).next_multiple_of(MR).min(MC);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(kc_step) {
            let kc = kc_step.min(k - pc);
            let b_src = match b_in_place {
                Some(ldb) => {
                    // Whole panels read `b` where it lies; only a last,
                    // partial panel is packed (zero-padded columns).
                    let whole = nc - nc % NR;
                    if whole < nc {
                        pack_b(b, pc, kc, jc + whole, nc - whole, pb);
                    }
                    BSource::InPlace {
                        at: b.slice(s![pc.., jc..]).as_ptr(),
                        ldb,
                    }
                }
                None => {
                    pack_b(b, pc, kc, jc, nc, pb);
                    BSource::Packed
                }
            };
            // Later depth blocks accumulate onto the first one's result.
            let beta_eff = if pc == 0 { beta } else { 1.0 };
            for ic in (0..m).step_by(mc_step) {
                let mc = mc_step.min(m - ic);
                let a_src = match in_place {
                    Some((rs, cs)) => {
                        // Whole tiles read `a` where it lies; only a last,
                        // partial tile is packed (zero-padded rows).
                        let whole = mc - mc % MR;
                        // With every panel of `b` in place, a partial tile
                        // is read in place too (see `macro_kernel`).
                        let all_b_in_place =
                            matches!(b_src, BSource::InPlace { .. }) && nc % NR == 0;
                        if whole < mc && !all_b_in_place {
                            pack_a(alpha, a, ic + whole, mc - whole, pc, kc, pa);
                        }
                        let at = a.slice(s![ic.., pc..]).as_ptr();
                        ASource::InPlace { at, rs, cs }
                    }
                    None => {
                        pack_a(alpha, a, ic, mc, pc, kc, pa);
                        ASource::Packed
                    }
                };
                let block = Block {
                    mc,
                    nc,
                    kc,
                    ic,
                    jc,
                    beta: beta_eff,
                    a: a_src,
                    b: b_src,
                };
                if fma {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `has_fma` checked at run time that the CPU has AVX2 and FMA.
                    unsafe {
                        macro_avx2(&block, pa, pb, c)
                    };
                } else {
                    macro_kernel::<false>(&block, pa, pb, c);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn has_fma() -> bool {
    false
}

/// Whether the AVX-512 path runs: the CPU has AVX-512F and
/// `NNC_GEMM=avx2` is not set (which measures or tests the AVX2 path on an
/// AVX-512 machine). Read once.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    static CHOICE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        avx512::available() && has_fma() && std::env::var("NNC_GEMM").map_or(true, |v| v != "avx2")
    })
}

/// Copies `b[pc..pc+kc, jc..jc+nc]` into panels of `NR` columns, each stored
/// row by row (`kc × NR`), zero-padding the last panel. Contiguous rows or
/// columns are copied as slices: packing is a large share of the time at MLP sizes.
fn pack_b(b: &ArrayView2<'_, f32>, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f32]) {
    for (jp, panel) in out
        .chunks_exact_mut(kc * NR)
        .take(nc.div_ceil(NR))
        .enumerate()
    {
        let j0 = jc + jp * NR;
        let width = NR.min(jc + nc - j0);
        let sub = b.slice(s![pc..pc + kc, j0..j0 + width]);
        if width < NR {
            panel.fill(0.0);
        }
        if sub.strides()[0] == 1 && sub.strides()[1] != 1 {
            // Transposed b (`w.t()`): columns are contiguous.
            for (j, col) in sub.columns().into_iter().enumerate() {
                for (p, &v) in col.iter().enumerate() {
                    panel[p * NR + j] = v;
                }
            }
        } else {
            let (base, [rs, cs]) = (sub.as_ptr(), [sub.strides()[0], sub.strides()[1]]);
            for (p, dst) in panel
                .as_chunks_mut::<NR>()
                .0
                .iter_mut()
                .take(kc)
                .enumerate()
            {
                let row = base.wrapping_offset(p as isize * rs);
                if width == NR && cs == 1 {
                    // A whole contiguous row is a fixed-size copy: with a
                    // variable width it was a `memcpy` call per 64 bytes,
                    // 3-4% of a W1 step at batch 64.
                    // SAFETY: elements (p, 0..NR) of `sub` lie at `row + j`.
                    *dst = unsafe { *(row as *const [f32; NR]) };
                } else {
                    for (j, d) in dst.iter_mut().take(width).enumerate() {
                        // SAFETY: element (p, j) of `sub`, j < width.
                        *d = unsafe { *row.offset(j as isize * cs) };
                    }
                }
            }
        }
    }
}

/// Copies `alpha · a[ic..ic+mc, pc..pc+kc]` into panels of `MR` rows, each
/// stored column by column (`kc × MR`), zero-padding the last panel.
fn pack_a(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    out: &mut [f32],
) {
    for (ip, panel) in out
        .chunks_exact_mut(kc * MR)
        .take(mc.div_ceil(MR))
        .enumerate()
    {
        let i0 = ic + ip * MR;
        let height = MR.min(ic + mc - i0);
        let sub = a.slice(s![i0..i0 + height, pc..pc + kc]);
        if height < MR {
            panel.fill(0.0);
        }
        if sub.strides()[0] == 1 && sub.strides()[1] != 1 {
            // Transposed a (`x.t()`): each depth step is `height` adjacent
            // floats. Copied through pointers: ndarray's column iterator
            // made this 5-6% of a W1 step at batch 64 (`xᵀ·dz1`).
            let (base, cs) = (sub.as_ptr(), sub.strides()[1]);
            for (p, dst) in panel.chunks_exact_mut(MR).take(kc).enumerate() {
                // SAFETY: elements (0..height, p) of `sub` lie at
                // `base + p·cs + i`, inside the view.
                let src =
                    unsafe { std::slice::from_raw_parts(base.offset(p as isize * cs), height) };
                match <&[f32; MR]>::try_from(src) {
                    Ok(whole) => {
                        for (d, &v) in dst.iter_mut().zip(whole) {
                            *d = alpha * v;
                        }
                    }
                    Err(_) => {
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = alpha * v;
                        }
                    }
                }
            }
        } else if let (MR, Some(rows)) = (height, contiguous_rows(&sub)) {
            // A full panel of contiguous rows: gather one depth step (MR
            // values) at a time, so the writes are sequential.
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (d, row) in dst.iter_mut().zip(&rows) {
                    *d = alpha * row[p];
                }
            }
        } else {
            for (i, row) in sub.rows().into_iter().enumerate() {
                match row.as_slice() {
                    Some(src) => {
                        for (p, &v) in src.iter().enumerate() {
                            panel[p * MR + i] = alpha * v;
                        }
                    }
                    None => {
                        for (p, &v) in row.iter().enumerate() {
                            panel[p * MR + i] = alpha * v;
                        }
                    }
                }
            }
        }
    }
}

/// The `MR` rows of `sub` as slices, if they are all contiguous.
fn contiguous_rows<'s>(sub: &'s ArrayView2<'_, f32>) -> Option<[&'s [f32]; MR]> {
    let mut rows: [&[f32]; MR] = [&[]; MR];
    for (slot, i) in rows.iter_mut().zip(0..sub.nrows()) {
        *slot = sub.row(i).to_slice()?;
    }
    (sub.nrows() == MR).then_some(rows)
}

/// Where the micro-kernel reads the block's tiles of `a`.
#[derive(Clone, Copy)]
enum ASource {
    /// All of them from the packed panels in `pa`.
    Packed,
    /// Whole tiles from `a` itself, element `(i, p)` of the block at
    /// `at + i·rs + p·cs`; a last, partial tile from the first panel of `pa`.
    InPlace {
        at: *const f32,
        rs: usize,
        cs: usize,
    },
}

/// Where the micro-kernel reads the block's panels of `b`.
#[derive(Clone, Copy)]
enum BSource {
    /// All of them from the packed panels in `pb`.
    Packed,
    /// Whole panels from `b` itself, element `(p, j)` of the block at
    /// `at + p·ldb + j`; a last, partial panel from the first panel of `pb`.
    InPlace { at: *const f32, ldb: usize },
}

/// Where one packed block goes in `c`.
struct Block {
    /// Where its `a` tiles are read.
    a: ASource,
    /// Where its `b` panels are read.
    b: BSource,
    mc: usize,
    nc: usize,
    kc: usize,
    ic: usize,
    jc: usize,
    beta: f32,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn macro_avx2(block: &Block, pa: &[f32], pb: &[f32], c: &mut ArrayViewMut2<'_, f32>) {
    macro_kernel::<true>(block, pa, pb, c)
}

/// Runs the micro-kernel over every `MR × NR` tile of a packed block.
#[inline(always)]
fn macro_kernel<const FMA: bool>(
    block: &Block,
    pa: &[f32],
    pb: &[f32],
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let kc = block.kc;
    // With `b` in place (few rows), whole 32-column panels go through
    // 3-row tiles: 9 rows (an image through a 4x4 convolution's 3x3
    // computed map) are three tiles, where 6-row tiles would compute 12.
    let mut first_panel = 0;
    #[cfg(target_arch = "x86_64")]
    if let (true, BSource::InPlace { at, ldb }) = (FMA, block.b) {
        let wide = block.nc / SMALL_NR;
        let cs = match block.a {
            ASource::InPlace { cs, .. } => cs,
            ASource::Packed => MR,
        };
        let row = |r: usize| match block.a {
            ASource::InPlace { at, rs, .. } => at.wrapping_add(r * rs),
            ASource::Packed => pa[(r / MR) * kc * MR + r % MR..].as_ptr(),
        };
        // A partial last tile repeats its last row into the rows
        // `store_tile` leaves out.
        let tiles = block.mc.div_ceil(SMALL_MR);
        let rows: [[*const f32; SMALL_MR]; SMALL_TILES] = std::array::from_fn(|t| {
            let last = block.mc.saturating_sub(1);
            std::array::from_fn(|i| row((t * SMALL_MR + i).min(last)))
        });
        for jw in 0..wide {
            let j0 = block.jc + jw * SMALL_NR;
            // SAFETY: `FMA` is set only under `macro_avx2`, which checked
            // the CPU; the rows are rows of the block (read in place or
            // from their packed panel), at most `B_IN_PLACE_ROWS` of them,
            // and the panel is whole columns of `b` over the block's depth.
            let acc = unsafe { panel_small_avx2(&rows, tiles, cs, at.add(jw * SMALL_NR), ldb, kc) };
            for (t, acc) in acc.iter().enumerate().take(tiles) {
                let (i, height) = (t * SMALL_MR, SMALL_MR.min(block.mc - t * SMALL_MR));
                store_tile(acc, c, (block.ic + i, height), (j0, SMALL_NR), block.beta);
            }
        }
        first_panel = wide * SMALL_NR / NR;
    }
    for jp in first_panel..block.nc.div_ceil(NR) {
        let j0 = block.jc + jp * NR;
        let width = NR.min(block.jc + block.nc - j0);
        let (bpanel, b_at) = match block.b {
            BSource::Packed => (&pb[jp * kc * NR..][..kc * NR], None),
            BSource::InPlace { at, ldb } if width == NR => (&pb[..0], Some((at, jp * NR, ldb))),
            BSource::InPlace { .. } => (&pb[..kc * NR], None),
        };
        for ip in 0..block.mc.div_ceil(MR) {
            let i0 = block.ic + ip * MR;
            let height = MR.min(block.ic + block.mc - i0);
            let acc = match (block.a, b_at) {
                (ASource::InPlace { at, rs, cs }, None) if height == MR => {
                    // SAFETY: the driver checked the strides; a whole tile's
                    // rows and the block's depth lie inside `a`.
                    unsafe { micro_kernel_at::<FMA>(at.add(ip * MR * rs), rs, cs, bpanel) }
                }
                (ASource::InPlace { .. }, None) => micro_kernel::<FMA>(&pa[..kc * MR], bpanel),
                (ASource::Packed, None) => {
                    micro_kernel::<FMA>(&pa[ip * kc * MR..][..kc * MR], bpanel)
                }
                (a, Some((at, j, ldb))) => {
                    let (rows, cs) = match a {
                        ASource::InPlace { at, rs, cs } => {
                            // A partial tile repeats its last row into the
                            // rows `store_tile` leaves out.
                            let at = at.wrapping_add(ip * MR * rs);
                            let row = |i: usize| at.wrapping_add(i.min(height - 1) * rs);
                            (std::array::from_fn(row), cs)
                        }
                        ASource::Packed => {
                            let panel = &pa[ip * kc * MR..][..kc * MR];
                            (std::array::from_fn(|i| panel[i..].as_ptr()), MR)
                        }
                    };
                    // SAFETY: as above for `a` (a packed panel holds `kc`
                    // steps of `MR`); a whole panel of `b` (`NR` columns,
                    // the block's depth) lies inside `b`. `FMA` is set only
                    // under `macro_avx2`, which checked the CPU.
                    unsafe {
                        #[cfg(target_arch = "x86_64")]
                        if FMA {
                            tile_ab_avx2(rows, cs, at.add(j), ldb, kc)
                        } else {
                            micro_kernel_ab::<false>(rows, cs, at.add(j), ldb, kc)
                        }
                        #[cfg(not(target_arch = "x86_64"))]
                        micro_kernel_ab::<false>(rows, cs, at.add(j), ldb, kc)
                    }
                }
            };
            store_tile(&acc, c, (i0, height), (j0, width), block.beta);
        }
    }
}

/// Writes one tile into `c`: `c = acc` when `beta == 0`, else `beta·c + acc`.
/// Contiguous rows (the usual case) are written as slices, which vectorises;
/// this matters when `k` is small and the store is most of the work.
#[inline(always)]
fn store_tile<const R: usize, const C: usize>(
    acc: &[[f32; C]; R],
    c: &mut ArrayViewMut2<'_, f32>,
    (i0, height): (usize, usize),
    (j0, width): (usize, usize),
    beta: f32,
) {
    for (i, acc_row) in acc.iter().enumerate().take(height) {
        let mut crow = c.row_mut(i0 + i);
        let src = &acc_row[..width];
        match crow.as_slice_mut() {
            Some(row) => {
                let dst = &mut row[j0..j0 + width];
                // A whole row of the tile is copied as a fixed-size array,
                // and a partial one out of line: with a variable width (or
                // both in one function, which LLVM merges) every row became
                // a `memcpy` call, 6-7% of a W1 step at batch 16 (a call
                // and a `vzeroupper` for every 64 bytes).
                match <&mut [f32; C]>::try_from(&mut *dst) {
                    Ok(whole) if beta == 0.0 => *whole = *acc_row,
                    Ok(whole) => {
                        for (d, &v) in whole.iter_mut().zip(acc_row) {
                            *d = beta * *d + v;
                        }
                    }
                    Err(_) => store_part(dst, src, beta),
                }
            }
            None => {
                for (j, &v) in src.iter().enumerate() {
                    let dst = &mut crow[j0 + j];
                    *dst = if beta == 0.0 { v } else { beta * *dst + v };
                }
            }
        }
    }
}

/// [`store_tile`] for a row narrower than the tile (kept out of line).
#[inline(never)]
fn store_part(dst: &mut [f32], src: &[f32], beta: f32) {
    if beta == 0.0 {
        dst.copy_from_slice(src);
    } else {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = beta * *d + v;
        }
    }
}

/// The `MR × NR` register tile: `sum_p a[p, :]ᵀ · b[p, :]`. Fixed-size
/// arrays and loops let LLVM keep the 12 accumulator vectors in registers.
#[inline(always)]
fn micro_kernel<const FMA: bool>(apanel: &[f32], bpanel: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (ap, bp) in apanel.chunks_exact(MR).zip(bpanel.chunks_exact(NR)) {
        let ap: &[f32; MR] = ap.try_into().unwrap_or(&[0.0; MR]);
        rank_one::<FMA>(&mut acc, ap, bp);
    }
    acc
}

/// [`micro_kernel`] on a whole tile of `a` read where it lies: element
/// `(i, p)` at `at + i·rs + p·cs`, the depth given by `bpanel`. The same
/// FMAs in the same order as on a packed panel, so the same bits.
///
/// # Safety
/// Every `at + i·rs + p·cs` for `i < MR`, `p < bpanel.len() / NR` must be
/// inside one live allocation of `f32`.
#[inline(always)]
unsafe fn micro_kernel_at<const FMA: bool>(
    at: *const f32,
    rs: usize,
    cs: usize,
    bpanel: &[f32],
) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    let rows: [*const f32; MR] = std::array::from_fn(|i| at.wrapping_add(i * rs));
    for (p, bp) in bpanel.chunks_exact(NR).enumerate() {
        let mut ap = [0.0f32; MR];
        for (a, row) in ap.iter_mut().zip(&rows) {
            *a = *row.add(p * cs);
        }
        rank_one::<FMA>(&mut acc, &ap, bp);
    }
    acc
}

/// The tile with both operands read where they lie: element `(i, p)` of
/// `a` at `rows[i] + p·cs`, element `(p, j)` of `b` at `b + p·ldb + j`.
/// The same FMAs in the same order as on packed panels, so the same bits.
///
/// # Safety
/// Every `rows[i] + p·cs` and `b + p·ldb + j` for `i < MR`, `j < NR`,
/// `p < kc` must be inside one live allocation of `f32`.
#[inline(always)]
unsafe fn micro_kernel_ab<const FMA: bool>(
    rows: [*const f32; MR],
    cs: usize,
    b: *const f32,
    ldb: usize,
    kc: usize,
) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..kc {
        let mut ap = [0.0f32; MR];
        for (a, row) in ap.iter_mut().zip(&rows) {
            *a = *row.add(p * cs);
        }
        let bp = std::slice::from_raw_parts(b.add(p * ldb), NR);
        rank_one::<FMA>(&mut acc, &ap, bp);
    }
    acc
}

/// [`micro_kernel_ab`] in AVX2 intrinsics: written generically (and
/// inlined into `macro_avx2` beside the other tile kernels, or not), LLVM
/// left it scalar. The same fused multiply-adds per element in the same
/// order, so the same bits.
///
/// # Safety
/// As [`micro_kernel_ab`], on a CPU with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_ab_avx2(
    rows: [*const f32; MR],
    cs: usize,
    b: *const f32,
    ldb: usize,
    kc: usize,
) -> [[f32; NR]; MR] {
    tile_in_place::<MR, 2, NR>(rows, cs, b, ldb, kc)
}

/// Rows of the tiles [`panel_small_avx2`] computes.
const SMALL_MR: usize = 3;
/// Columns of those tiles: four AVX vectors.
const SMALL_NR: usize = 32;
/// Tiles of a block with `b` in place (at most `B_IN_PLACE_ROWS` rows).
const SMALL_TILES: usize = B_IN_PLACE_ROWS.div_ceil(SMALL_MR);
/// Depth steps each tile runs before the next takes its turn: 64 rows of
/// a 32-column panel of `b` (8 KiB) stay in L1 for all the tiles.
const SMALL_KC: usize = 64;

/// One 32-column panel of `b` read in place against every row of a small
/// block (as [`tile_ab_avx2`]), in `3 × 32` tiles: 9 rows are three tiles
/// where `6 × 16` tiles would compute 12. The depth runs in chunks of
/// [`SMALL_KC`], each tile's sums parked in memory between chunks, so that
/// the chunk of `b` is read from L2 once rather than once per tile. Each
/// sum still takes its fused multiply-adds in depth order: the same bits.
///
/// # Safety
/// As [`micro_kernel_ab`] for every tile of `rows[..tiles]`, `j < 32`, on
/// a CPU with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_small_avx2(
    rows: &[[*const f32; SMALL_MR]; SMALL_TILES],
    tiles: usize,
    cs: usize,
    b: *const f32,
    ldb: usize,
    kc: usize,
) -> [[[f32; SMALL_NR]; SMALL_MR]; SMALL_TILES] {
    use std::arch::x86_64::{_mm256_setzero_ps, _mm256_storeu_ps};
    let mut acc = [[[_mm256_setzero_ps(); 4]; SMALL_MR]; SMALL_TILES];
    for p0 in (0..kc).step_by(SMALL_KC) {
        let p1 = (p0 + SMALL_KC).min(kc);
        for (acc, rows) in acc.iter_mut().zip(rows).take(tiles) {
            let mut sums = *acc;
            tile_steps::<SMALL_MR, 4>(&mut sums, *rows, cs, b, ldb, p0..p1);
            *acc = sums;
        }
    }
    let mut out = [[[0.0f32; SMALL_NR]; SMALL_MR]; SMALL_TILES];
    for (o, a) in out.iter_mut().zip(&acc).take(tiles) {
        for (o, a) in o.iter_mut().zip(a) {
            for (j, &v) in a.iter().enumerate() {
                _mm256_storeu_ps(o.as_mut_ptr().add(8 * j), v);
            }
        }
    }
    out
}

/// The body of both in-place AVX2 tiles: `R` rows × `V` vectors (`C =
/// 8·V` columns) over the whole depth.
///
/// # Safety
/// As [`micro_kernel_ab`]; called only from `#[target_feature(enable =
/// "avx2,fma")]` functions.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_in_place<const R: usize, const V: usize, const C: usize>(
    rows: [*const f32; R],
    cs: usize,
    b: *const f32,
    ldb: usize,
    kc: usize,
) -> [[f32; C]; R] {
    use std::arch::x86_64::{_mm256_setzero_ps, _mm256_storeu_ps};
    const { assert!(C == 8 * V) };
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    tile_steps::<R, V>(&mut acc, rows, cs, b, ldb, 0..kc);
    let mut out = [[0.0f32; C]; R];
    for (o, a) in out.iter_mut().zip(&acc) {
        for (j, &v) in a.iter().enumerate() {
            _mm256_storeu_ps(o.as_mut_ptr().add(8 * j), v);
        }
    }
    out
}

/// Depth steps `steps` of an `R × 8V` tile, one FMA per sum and step.
/// The loads are ordered to fit the 16 registers: the vectors of `b` first
/// when there are two (12 sums, 2 of `b`, one broadcast), the broadcasts
/// first when there are four (12 sums, 3 broadcasts, one vector of `b`;
/// holding all four of `b` spilled the sums).
///
/// # Safety
/// As [`tile_in_place`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_steps<const R: usize, const V: usize>(
    acc: &mut [[std::arch::x86_64::__m256; V]; R],
    rows: [*const f32; R],
    cs: usize,
    b: *const f32,
    ldb: usize,
    steps: std::ops::Range<usize>,
) {
    use std::arch::x86_64::{
        __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps,
    };
    for p in steps {
        let bp = b.add(p * ldb);
        if V <= 2 {
            let mut bv = [_mm256_setzero_ps(); V];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(bp.add(8 * j));
            }
            for (acc, row) in acc.iter_mut().zip(&rows) {
                let a = _mm256_broadcast_ss(&*row.add(p * cs));
                for (s, &bj) in acc.iter_mut().zip(&bv) {
                    *s = _mm256_fmadd_ps(a, bj, *s);
                }
            }
        } else {
            let mut a: [__m256; R] = [_mm256_setzero_ps(); R];
            for (v, row) in a.iter_mut().zip(&rows) {
                *v = _mm256_broadcast_ss(&*row.add(p * cs));
            }
            for j in 0..V {
                let bj = _mm256_loadu_ps(bp.add(8 * j));
                for (acc, &ai) in acc.iter_mut().zip(&a) {
                    acc[j] = _mm256_fmadd_ps(ai, bj, acc[j]);
                }
            }
        }
    }
}

/// One depth step of the tile: `acc += a ⊗ b`.
#[inline(always)]
fn rank_one<const FMA: bool>(acc: &mut [[f32; NR]; MR], ap: &[f32; MR], bp: &[f32]) {
    let bp: &[f32; NR] = bp.try_into().unwrap_or(&[0.0; NR]);
    for (acc_row, &ai) in acc.iter_mut().zip(ap) {
        for (s, &bj) in acc_row.iter_mut().zip(bp) {
            // mul_add is one instruction with FMA, a slow libm call without.
            *s = if FMA {
                ai.mul_add(bj, *s)
            } else {
                *s + ai * bj
            };
        }
    }
}

/// The strides `(rs, cs)` at which the AVX2 driver reads `a` in place, or
/// `None` to pack it. In place when `alpha` is 1 (packing applies it) and
/// the rows are contiguous and not a multiple of 4 KiB apart. Measured on
/// an AVX2 Zen 3 core (BENCHMARKS.md section 9), against packing:
/// 64×784×128 +3%, 256×784×128 +5%, 1024×784×128 +7%, a W1 step +7-8%;
/// but a transposed `a` (`xᵀ·dz`, its tile's rows one float apart) −2.5%
/// and 1024³ (rows 4 KiB apart, so the six rows of a tile share L1 sets)
/// −2.4%: those stay packed.
fn in_place_a(job: &Product<'_>) -> Option<(usize, usize)> {
    let [rs, cs] = [job.a.strides()[0], job.a.strides()[1]];
    let ok = job.alpha == 1.0 && cs == 1 && rs > 0 && rs % 1024 != 0;
    (ok && !PACK_A.with(|f| f.get())).then_some((rs as usize, 1))
}

/// Rows of `a` up to which the AVX2 driver reads a row-major `b` where it
/// lies: packing copies all of `b` once per depth block, which pays off
/// only over several row tiles. One image through the tutorial CNN's
/// second convolution is a 9 × 512 × 64 product: packing its kernel was a
/// fifth of `predict_one`.
const B_IN_PLACE_ROWS: usize = 2 * MR;

/// The row stride at which the AVX2 driver reads `b` in place, or `None`
/// to pack it (see [`B_IN_PLACE_ROWS`]).
fn in_place_b(job: &Product<'_>) -> Option<usize> {
    let [rs, cs] = [job.b.strides()[0], job.b.strides()[1]];
    let ok = job.a.nrows() <= B_IN_PLACE_ROWS && cs == 1 && rs > 0;
    (ok && !PACK_B.with(|f| f.get())).then_some(rs as usize)
}

thread_local! {
    /// Test hook: always pack `a` on the AVX2 path.
    static PACK_A: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Test hook: always pack `b` on the AVX2 path.
    static PACK_B: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Pool, MAX_PARTS};
    use crate::rng::Rng;
    use ndarray::Array2;

    fn random(m: usize, n: usize, rng: &mut Rng) -> Array2<f32> {
        Array2::from_shape_fn((m, n), |_| rng.uniform(-1.0, 1.0))
    }

    fn naive(
        alpha: f32,
        a: &ArrayView2<f32>,
        b: &ArrayView2<f32>,
        beta: f32,
        c: &Array2<f32>,
    ) -> Array2<f32> {
        let mut out = c.clone();
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                let mut s = 0.0f64;
                for p in 0..a.ncols() {
                    s += a[[i, p]] as f64 * b[[p, j]] as f64;
                }
                out[[i, j]] = alpha * s as f32 + beta * c[[i, j]];
            }
        }
        out
    }

    #[test]
    fn matches_naive_on_odd_shapes_and_transposed_views() {
        let mut rng = Rng::seed_from(11);
        // Shapes that cross every block edge (MR, NR, KC, MC) and degenerate ones.
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 3, 17),
            (13, 300, 33),
            (100, 257, 5),
            (6, 16, 16),
            (3, 0, 4),
            (97, 9, 2100),
        ] {
            let a = random(m, k, &mut rng);
            let b = random(k, n, &mut rng);
            let at = random(k, m, &mut rng);
            let bt = random(n, k, &mut rng);
            let c0 = random(m, n, &mut rng);
            for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.3)] {
                for (av, bv) in [(a.view(), b.view()), (at.t(), bt.t()), (a.view(), bt.t())] {
                    let want = naive(alpha, &av, &bv, beta, &c0);
                    let mut c = c0.clone();
                    gemm(alpha, av, bv, beta, c.view_mut());
                    let err = (&c - &want).iter().fold(0.0f32, |e, v| e.max(v.abs()));
                    assert!(
                        err < 1e-4 * (k as f32 + 1.0),
                        "{m}x{k}x{n} alpha {alpha} beta {beta}: max error {err}"
                    );
                }
            }
        }
    }

    /// Every path (AVX-512 in place, AVX2/portable packed, split over the
    /// helper thread by columns or by rows) adds the same products in the
    /// same order, so the results agree to the bit.
    #[test]
    fn all_paths_agree_bitwise() {
        let mut rng = Rng::seed_from(5);
        let pools = [
            (Pool::for_tests(0, true), "helper alone"),
            (Pool::for_tests(2_000_000, false), "caller alone"),
            (Pool::for_tests(20, false), "both"),
        ];
        for &(m, k, n) in &[
            (64, 784, 128),
            (70, 300, 40),
            (784, 64, 10),
            (9, 513, 200),
            (1, 300, 200),
            (3, 40, 1024),
            (40, 20, 512),
            (12, 77, 45),
            (7, 2100, 2100),
        ] {
            let a = random(m, k, &mut rng);
            let at = a.t().as_standard_layout().into_owned();
            let bt = random(n, k, &mut rng);
            let b = bt.t().as_standard_layout().into_owned();
            let c0 = random(m, n, &mut rng);
            for bv in [bt.t(), b.view()] {
                for (av, beta) in [(a.view(), 0.0), (at.t(), 0.5)] {
                    let job = Product {
                        alpha: 1.0,
                        a: av,
                        b: bv,
                        beta,
                        kc_step: kc_step(k),
                    };
                    let mut want = c0.clone();
                    driver(&job, &mut want.view_mut(), &mut Vec::new(), &mut Vec::new());
                    // `a` read in place (the default) and packed; `b` read in
                    // place (small `m`, row-major `b`) and packed.
                    for (hook, what) in [(&PACK_A, "a"), (&PACK_B, "b")] {
                        hook.with(|f| f.set(true));
                        let mut packed = c0.clone();
                        driver(
                            &job,
                            &mut packed.view_mut(),
                            &mut Vec::new(),
                            &mut Vec::new(),
                        );
                        hook.with(|f| f.set(false));
                        assert_eq!(packed, want, "{m}x{k}x{n} {what} packed and in place");
                    }
                    let mut got = c0.clone();
                    serial(&job, got.view_mut());
                    assert_eq!(got, want, "{m}x{k}x{n} serial");
                    if let Some(pool) = crate::pool::pool() {
                        let mut got = c0.clone();
                        split(pool.share_now(scratch_len(&job)), &job, got.view_mut());
                        assert_eq!(got, want, "{m}x{k}x{n} split");
                    }
                    // Every way of cutting it, computed by whichever thread:
                    // the helper alone, the caller alone (a helper that
                    // does not run), and both.
                    let Some((axis, tile, count)) = plan(&job) else {
                        continue;
                    };
                    let most = count.max(MAX_PARTS.min(c0.len_of(axis).div_ceil(tile)));
                    for (pool, who) in &pools {
                        for parts in 2..=most {
                            let mut got = c0.clone();
                            split_as(
                                pool.share_now(scratch_len(&job)),
                                &job,
                                got.view_mut(),
                                (axis, tile, parts),
                            );
                            assert_eq!(got, want, "{m}x{k}x{n} in {parts} parts, {who}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn beta_zero_ignores_nan_in_c() {
        let a = Array2::<f32>::ones((4, 5));
        let b = Array2::<f32>::ones((5, 3));
        let mut c = Array2::from_elem((4, 3), f32::NAN);
        gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
        assert!(c.iter().all(|&v| v == 5.0));
    }

    #[test]
    fn writes_into_a_strided_destination() {
        let a = Array2::<f32>::ones((3, 2));
        let b = Array2::<f32>::ones((2, 4));
        let mut big = Array2::<f32>::zeros((4, 3));
        // c = big.t() is [3, 4] with column-major strides.
        gemm(1.0, a.view(), b.view(), 0.0, big.view_mut().reversed_axes());
        assert!(big.iter().all(|&v| v == 2.0));
    }
}
