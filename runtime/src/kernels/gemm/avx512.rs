//! The AVX-512 path of [`super::gemm`]: an `8 × 32` register tile (16 of
//! the 32 `zmm` registers accumulate) that reads `a` and `b` where they lie
//! unless a copy measurably pays.
//!
//! # Packing only where it pays
//! At MLP sizes, copying the operands into panels cost about a quarter of a
//! training step with the AVX2 kernel, and more once the product itself got
//! twice as fast. Mostly it is not needed: a row of 32 floats of a row-major
//! `b` is two whole cache lines, so a `kc × 32` panel read in place uses L1
//! as well as a packed one, and the tile's 8 rows of a row-major `a` are 8
//! streams the prefetcher follows (packing them, with a 12-row tile, was no
//! faster: the copy ate the gain). Edge columns use masked loads and stores
//! instead of zero padding. Copied are: a `b` without unit column stride
//! (`w.t()` in `dx = dz·wᵀ`) and a `b` whose rows alias in L1 (see
//! [`aliasing`]), into `kc × 32` panels; a transposed `a` (`x.t()` in
//! `dw = xᵀ·dz`) reused by several column panels, into `8`-row tiles.
//! Depth is blocked exactly as in the AVX2 path, so both paths add the same
//! products in the same order.

use super::Product;
use ndarray::{ArrayView2, ArrayViewMut2};
use std::arch::x86_64::*;

/// Rows of the register tile.
pub(super) const MR: usize = 8;
/// Columns of the register tile: two vectors of 16 `f32`.
pub(super) const NR: usize = 32;
/// Rows of `a` whose depth block is reused across all column panels: at
/// most 256 × 256 floats, which stay in L2, where all rows of a large `a`
/// would be streamed from L3 once per panel (1024³: 101 → 112 GFLOP/s; a
/// modest gain, within this machine's noise for 1024×784×128).
const MC: usize = 256;

/// How the tile finds `a[i, p]`.
trait ARows: Copy {
    /// Address of row `i`, depth `p` of the current tile.
    fn at(&self, i: usize, p: usize) -> *const f32;
}

/// `a` with unit column stride (row-major): one pointer per row.
#[derive(Clone, Copy)]
struct RowMajor([*const f32; MR]);

impl ARows for RowMajor {
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> *const f32 {
        self.0[i].wrapping_add(p)
    }
}

/// `a` with unit row stride (a transposed view, `x.t()` in `dw = xᵀ·dz`):
/// the tile's 8 values at one depth are adjacent.
#[derive(Clone, Copy)]
struct ColMajor {
    base: *const f32,
    ld: isize,
}

impl ARows for ColMajor {
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> *const f32 {
        self.base.wrapping_offset(p as isize * self.ld + i as isize)
    }
}

/// Any strides (also partial tiles, whose missing rows repeat the last one).
#[derive(Clone, Copy)]
struct Strided {
    rows: [*const f32; MR],
    cs: isize,
}

impl ARows for Strided {
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> *const f32 {
        self.rows[i].wrapping_offset(p as isize * self.cs)
    }
}

/// Whether this CPU can run [`gemm`].
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// `c = alpha·a·b + beta·c` with depth blocks of `kc_step`. `pb` holds a
/// copy of `b` when `b` needs one.
///
/// # Safety
/// The CPU must have AVX-512F ([`available`]), and the shapes must agree
/// (checked by the caller).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gemm(
    job: &Product<'_>,
    c: &mut ArrayViewMut2<'_, f32>,
    pa: &mut Vec<f32>,
    pb: &mut Vec<f32>,
) {
    let Product {
        alpha,
        a,
        b,
        beta,
        kc_step,
    } = *job;
    let (m, k) = a.dim();
    let (rsa, csa) = (a.strides()[0], a.strides()[1]);
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    let cptr = c.as_mut_ptr();
    let width_all = b.ncols();
    for pc in (0..k).step_by(kc_step) {
        let kc = kc_step.min(k - pc);
        let beta = if pc == 0 { beta } else { 1.0 };
        // The depth block of b: in place (panel j starts at column j, rows
        // `ldb` apart) or packed (panel j/NR is kc contiguous rows of NR).
        let direct = b.strides()[1] == 1 || b.ncols() == 1;
        let (bptr, ldb, packed) = if direct && !aliasing(b.strides()[0], m) {
            let p = b.as_ptr().wrapping_offset(pc as isize * b.strides()[0]);
            (p, b.strides()[0], false)
        } else {
            // SAFETY: this function's own target features include pack_b's.
            let packed = pack_b(&b, pc, kc, pb);
            (packed.as_ptr(), NR as isize, true)
        };
        if m == 1 && !packed && csc == 1 && width_all > 2 * NR {
            let a0 = a.as_ptr().wrapping_offset(pc as isize * csa);
            for j in (0..width_all).step_by(ROW_NR) {
                let width = ROW_NR.min(width_all - j);
                let masks = std::array::from_fn(|h| col_masks(width.saturating_sub(16 * h)).0);
                // SAFETY: a0[p·csa] for p < kc is row 0 of a's depth block;
                // b's row p has the masked lanes' columns j..j+width.
                let acc = unsafe { row_tile(kc, a0, csa, bptr.wrapping_add(j), ldb, &masks) };
                for (h, mut v) in acc.into_iter().enumerate().take(width.div_ceil(16)) {
                    if alpha != 1.0 {
                        v = _mm512_mul_ps(_mm512_set1_ps(alpha), v);
                    }
                    // SAFETY: columns j+16h.. of c's only row, masked to width.
                    unsafe { store_vec(v, cptr.wrapping_add(j + 16 * h), masks[h], beta) };
                }
            }
            continue;
        }
        for ic in (0..m).step_by(MC) {
            let mc = MC.min(m - ic);
            // A transposed a (`x.t()` in `dw = xᵀ·dz`) is copied tile by
            // tile, MR adjacent values per depth step, when more than one
            // column panel reuses it: read in place, each depth step
            // touches half a cache line of a different row (784×256×128:
            // 120 → 140 GFLOP/s).
            let apack = if rsa == 1 && csa != 1 && kc >= 2 * MR && width_all > NR {
                let block = a.slice(ndarray::s![ic..ic + mc, pc..pc + kc]);
                // SAFETY: this function's own target features include pack_a_t's.
                Some(pack_a_t(&block, pa).as_ptr())
            } else {
                None
            };
            for j in (0..width_all).step_by(NR) {
                let width = NR.min(width_all - j);
                let masks = col_masks(width);
                let bpanel = if packed {
                    bptr.wrapping_add(j * kc)
                } else {
                    bptr.wrapping_add(j)
                };
                for i0 in (ic..ic + mc).step_by(MR) {
                    let height = MR.min(m - i0);
                    let a0 = a
                        .as_ptr()
                        .wrapping_offset(i0 as isize * rsa + pc as isize * csa);
                    // SAFETY (all): every address the tile reads is inside a
                    // (rows i0..i0+height, depth pc..pc+kc), inside its packed
                    // copy (zero-padded to whole tiles), or inside the kc rows
                    // of b's panel, whose columns past `width` are masked.
                    let acc = if let Some(ap) = apack {
                        let base = ap.wrapping_add((i0 - ic) / MR * kc * MR);
                        if width == NR {
                            unsafe { tile_packed_asm(kc, base, bpanel, ldb) }
                        } else {
                            let a = ColMajor {
                                base,
                                ld: MR as isize,
                            };
                            unsafe { tile_w(kc, a, bpanel, ldb, masks, width) }
                        }
                    } else if height < MR {
                        let rows = std::array::from_fn(|i| {
                            a0.wrapping_offset(i.min(height - 1) as isize * rsa)
                        });
                        let a = Strided { rows, cs: csa };
                        unsafe { tile_rows(kc, a, bpanel, ldb, masks, width, height) }
                    } else if csa == 1 && width == NR {
                        unsafe { tile_rows_asm(kc, a0, rsa, bpanel, ldb) }
                    } else if csa == 1 {
                        let rows = std::array::from_fn(|i| a0.wrapping_offset(i as isize * rsa));
                        unsafe { tile_w(kc, RowMajor(rows), bpanel, ldb, masks, width) }
                    } else if rsa == 1 {
                        let a = ColMajor { base: a0, ld: csa };
                        unsafe { tile_w(kc, a, bpanel, ldb, masks, width) }
                    } else {
                        let rows = std::array::from_fn(|i| a0.wrapping_offset(i as isize * rsa));
                        unsafe { tile_w(kc, Strided { rows, cs: csa }, bpanel, ldb, masks, width) }
                    };
                    let corner = cptr.wrapping_offset(i0 as isize * rsc + j as isize * csc);
                    // SAFETY: rows i0..i0+height and columns j..j+width
                    // are inside c, and only those are written.
                    unsafe { store(&acc, corner, rsc, csc, height, width, masks, alpha, beta) };
                }
            }
        }
    }
}

/// Copies the block `a` (`mc × kc`, unit row stride: a transposed view)
/// into tiles of [`MR`] rows, each stored depth step by depth step
/// (`out[(i / MR)·kc·MR + p·MR + i % MR]`), the last tile padded with zeros.
/// Each depth step of a tile is `MR` adjacent floats of `a`, one masked
/// vector load and store.
#[target_feature(enable = "avx512f")]
fn pack_a_t<'o>(a: &ArrayView2<'_, f32>, buf: &'o mut Vec<f32>) -> &'o [f32] {
    let (mc, kc) = a.dim();
    let out = aligned(buf, mc.div_ceil(MR) * MR * kc);
    let cs = a.strides()[1];
    for (it, tile) in out.chunks_exact_mut(kc * MR).enumerate() {
        let i0 = it * MR;
        let mask = col_masks(MR.min(mc - i0)).0;
        let src = a.as_ptr().wrapping_add(i0);
        let dst = tile.as_mut_ptr();
        for p in 0..kc {
            // SAFETY: the masked lanes are a[i0 .., p] (unit row stride),
            // inside the view; the store writes tile[p·MR .. p·MR + MR].
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, src.wrapping_offset(p as isize * cs));
                _mm512_mask_storeu_ps(dst.add(p * MR), 0xff, v);
            }
        }
    }
    out
}

/// Lengths of `(pa, pb)` that [`gemm`] uses for this product, which are
/// also enough for any block of its rows or columns (a block packs only
/// what the whole product packs, and no more of it).
pub(super) fn scratch_len(job: &Product<'_>) -> (usize, usize) {
    let (a, b) = (&job.a, &job.b);
    let (m, k) = a.dim();
    let n = b.ncols();
    let kc = job.kc_step.min(k);
    // The conditions under which `gemm` calls `pack_a_t` and `pack_b`.
    let direct = b.strides()[1] == 1 || n == 1;
    let packs_b = !direct || aliasing(b.strides()[0], m);
    let packs_a = a.strides()[0] == 1 && a.strides()[1] != 1 && kc >= 2 * MR && n > NR;
    let a_len = if packs_a {
        MC.min(m).div_ceil(MR) * MR * kc + 16
    } else {
        0
    };
    let b_len = if packs_b {
        n.div_ceil(NR) * NR * kc + 16
    } else {
        0
    };
    (a_len, b_len)
}

/// `need` floats of `buf` starting on a 64-byte boundary (a vector load that
/// straddles two cache lines costs two); grows `buf` only when too small.
fn aligned(buf: &mut Vec<f32>, need: usize) -> &mut [f32] {
    if buf.len() < need + 16 {
        buf.resize(need + 16, 0.0);
    }
    let skip = buf.as_ptr().align_offset(64).min(16);
    &mut buf[skip..skip + need]
}

/// Whether a `b` with rows `stride` floats apart is copied into panels for
/// `m` rows of `a`: its rows fall into few L1 sets, so a `kc × 32` panel
/// read in place does not stay in L1 (with 512-byte rows, 16 of the 64 sets
/// hold 392 lines of a 196-deep panel: the panel streams from L2 for every
/// tile). With a multiple of 1 KiB (a 1024-wide layer) packing pays from 32
/// rows (1024³, one thread: 85 → 126 GFLOP/s); with 512 bytes (a 128-wide
/// layer) from 128 rows, where the copy is spread over enough tiles (one
/// core at nice -20: 256×784×128 136 → 151 GFLOP/s, 784×256×128 with a
/// transposed `a` 129 → 145, W1 at batch 256 +4%; at 64×784×128 it lost
/// 4%). Narrower strides measured the same either way.
fn aliasing(stride: isize, m: usize) -> bool {
    let s = stride.unsigned_abs();
    (s.is_multiple_of(256) && m >= 4 * MR) || (s.is_multiple_of(128) && m >= 128)
}

/// Load/store masks for the two vectors of a tile row `width` columns wide.
#[inline(always)]
fn col_masks(width: usize) -> (__mmask16, __mmask16) {
    let lanes = |w: usize| -> __mmask16 {
        if w >= 16 {
            0xffff
        } else {
            ((1u32 << w) - 1) as __mmask16
        }
    };
    (lanes(width), lanes(width.saturating_sub(16)))
}

/// Copies `b[pc..pc+kc, ..]` into panels of [`NR`] columns, each `kc` rows
/// of `NR` floats (`out[(j / NR)·kc·NR + p·NR + j % NR]`); the unused tail
/// of the last panel is never read (masked loads).
///
/// Used for a `b` whose rows alias in L1 ([`aliasing`]), copied row segment
/// by row segment, and for a `b` without unit column stride, which the tile
/// could only gather: a transposed one (`w.t()`) is copied with one gather
/// of an element from each of 16 rows of `w` per instruction, since an
/// element-by-element copy cost as much as the product itself.
#[target_feature(enable = "avx512f")]
fn pack_b<'o>(b: &ArrayView2<'_, f32>, pc: usize, kc: usize, buf: &'o mut Vec<f32>) -> &'o [f32] {
    let n = b.ncols();
    let out = aligned(buf, n.div_ceil(NR) * NR * kc);
    let sub = b.slice(ndarray::s![pc..pc + kc, ..]);
    let (rs, cs) = (sub.strides()[0], sub.strides()[1]);
    let at = |p: usize, j: usize| (j / NR) * kc * NR + p * NR + j % NR;
    if cs == 1 {
        // Row-major (a `b` whose rows alias in L1): row segments, NR at a time.
        for (p, row) in sub.rows().into_iter().enumerate() {
            match row.to_slice() {
                Some(row) => {
                    for (jp, seg) in row.chunks(NR).enumerate() {
                        let start = at(p, jp * NR);
                        out[start..start + seg.len()].copy_from_slice(seg);
                    }
                }
                None => row.iter().enumerate().for_each(|(j, &v)| out[at(p, j)] = v),
            }
        }
        return out;
    }
    let lane_step = i32::try_from(cs)
        .ok()
        .filter(|s| s.checked_mul(16).is_some());
    let (Some(step), 1) = (lane_step, rs) else {
        for ((p, j), &v) in sub.indexed_iter() {
            out[at(p, j)] = v;
        }
        return out;
    };
    let idx = _mm512_mullo_epi32(
        _mm512_set1_epi32(step),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    );
    for j0 in (0..n).step_by(16) {
        let (mask, _) = col_masks(n - j0);
        let col0 = sub.as_ptr().wrapping_offset(j0 as isize * cs);
        for p in 0..kc {
            // SAFETY: lane l reads sub[p, j0 + l], inside the view for the
            // lanes the mask keeps, and writes out[at(p, j0 + l)] < need
            // (j0 is a multiple of 16, so the 16 lanes stay in one panel row).
            unsafe {
                let v = _mm512_mask_i32gather_ps::<4>(
                    _mm512_setzero_ps(),
                    mask,
                    idx,
                    col0.wrapping_add(p).cast(),
                );
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(at(p, j0)), mask, v);
            }
        }
    }
    out
}

/// The `8 × 32` tile: `acc[i] = sum_p a[i, p] · b[p, 0..32]`. With
/// `NV == 1` only the first 16 columns are computed (a panel at most 16
/// wide, e.g. a 10-unit output layer, then costs half).
#[inline(always)]
unsafe fn tile<A: ARows, const NV: usize, const R: usize>(
    kc: usize,
    a: A,
    b: *const f32,
    ldb: isize,
    masks: (__mmask16, __mmask16),
) -> [[__m512; 2]; MR] {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let masks = [masks.0, masks.1];
    for p in 0..kc {
        let bp = b.wrapping_offset(p as isize * ldb);
        // SAFETY: the caller guarantees the addresses (see `gemm`).
        unsafe {
            let bv: [__m512; NV] = std::array::from_fn(|h| {
                if masks[h] == 0xffff {
                    _mm512_loadu_ps(bp.wrapping_add(16 * h))
                } else {
                    _mm512_maskz_loadu_ps(masks[h], bp.wrapping_add(16 * h))
                }
            });
            for (i, row) in acc.iter_mut().enumerate().take(R) {
                let ai = _mm512_set1_ps(*a.at(i, p));
                for h in 0..NV {
                    row[h] = _mm512_fmadd_ps(ai, bv[h], row[h]);
                }
            }
        }
    }
    acc
}

/// The `8 × 32` accumulators of a tile in assembly: zeroed, passed to the
/// template (`{c00}`..`{c71}`, row then vector; scratch `{b0}`, `{b1}`,
/// `{t}`) after the caller's operands, and returned as [`tile`] returns
/// them. One place for the register list both kernels share.
macro_rules! tile_asm {
    ([$($line:literal,)+] $($operand:tt)+) => {{
        let z = _mm512_setzero_ps();
        let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21, mut c30, mut c31) =
            (z, z, z, z, z, z, z, z);
        let (mut c40, mut c41, mut c50, mut c51, mut c60, mut c61, mut c70, mut c71) =
            (z, z, z, z, z, z, z, z);
        std::arch::asm!(
            $($line,)+
            $($operand)+
            b0 = out(zmm_reg) _,
            b1 = out(zmm_reg) _,
            t = out(zmm_reg) _,
            c00 = inout(zmm_reg) c00,
            c01 = inout(zmm_reg) c01,
            c10 = inout(zmm_reg) c10,
            c11 = inout(zmm_reg) c11,
            c20 = inout(zmm_reg) c20,
            c21 = inout(zmm_reg) c21,
            c30 = inout(zmm_reg) c30,
            c31 = inout(zmm_reg) c31,
            c40 = inout(zmm_reg) c40,
            c41 = inout(zmm_reg) c41,
            c50 = inout(zmm_reg) c50,
            c51 = inout(zmm_reg) c51,
            c60 = inout(zmm_reg) c60,
            c61 = inout(zmm_reg) c61,
            c70 = inout(zmm_reg) c70,
            c71 = inout(zmm_reg) c71,
            options(nostack, readonly),
        );
        [
            [c00, c01],
            [c10, c11],
            [c20, c21],
            [c30, c31],
            [c40, c41],
            [c50, c51],
            [c60, c61],
            [c70, c71],
        ]
    }};
}

/// [`tile`] for a whole `8 × 32` tile of a row-major `a` (rows `rs` floats
/// apart), written out in assembly. The compiler's version of the same loop
/// spent as many instructions on addresses (one add per row per depth
/// step) and on a branch as on products, and the core issues only so many
/// per cycle; unrolled, it hoisted the broadcasts and spilled them. Here two
/// depth steps are four loads of `b`, sixteen broadcasts, thirty-two FMAs
/// and four adds. Each FMA is the one [`tile`] does, in the same order
/// (`acc += a[i, p] · b[p, ..]`, rounded once), so the bits are the same
/// (`all_paths_agree_bitwise`). 256×784×128 on one core: 142 → 150
/// GFLOP/s with one step per iteration (both at nice -20 on a busy machine,
/// `bench/compare` W5).
///
/// # Safety
/// AVX-512F; rows `0..8` of `a` (`rs` floats apart) hold `kc` floats each,
/// and `kc` rows of `b` (`ldb` floats apart) hold 32 floats each.
#[target_feature(enable = "avx512f")]
unsafe fn tile_rows_asm(
    kc: usize,
    a: *const f32,
    rs: isize,
    b: *const f32,
    ldb: isize,
) -> [[__m512; 2]; MR] {
    let rsb = rs * 4;
    // SAFETY: reads only a[i·rs + p] for i < 8, p < kc and b[p·ldb + j]
    // for p < kc, j < 32 (the caller's guarantee); writes only the named
    // registers.
    unsafe {
        tile_asm!(
            [
                // Two depth steps per iteration, then one if kc is odd.
                "shr {k}, 1",
                "jz 3f",
                "2:",
                "vmovups {b0}, [{b}]",
                "vmovups {b1}, [{b} + 64]",
                "vbroadcastss {t}, dword ptr [{a}]",
                "vfmadd231ps {c00}, {t}, {b0}",
                "vfmadd231ps {c01}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs}]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs} * 2]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs3}]",
                "vfmadd231ps {c30}, {t}, {b0}",
                "vfmadd231ps {c31}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4}]",
                "vfmadd231ps {c40}, {t}, {b0}",
                "vfmadd231ps {c41}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs}]",
                "vfmadd231ps {c50}, {t}, {b0}",
                "vfmadd231ps {c51}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs} * 2]",
                "vfmadd231ps {c60}, {t}, {b0}",
                "vfmadd231ps {c61}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs3}]",
                "vfmadd231ps {c70}, {t}, {b0}",
                "vfmadd231ps {c71}, {t}, {b1}",
                "vmovups {b0}, [{b} + {ldb}]",
                "vmovups {b1}, [{b} + {ldb} + 64]",
                "vbroadcastss {t}, dword ptr [{a} + 4]",
                "vfmadd231ps {c00}, {t}, {b0}",
                "vfmadd231ps {c01}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs} + 4]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs} * 2 + 4]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs3} + 4]",
                "vfmadd231ps {c30}, {t}, {b0}",
                "vfmadd231ps {c31}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + 4]",
                "vfmadd231ps {c40}, {t}, {b0}",
                "vfmadd231ps {c41}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs} + 4]",
                "vfmadd231ps {c50}, {t}, {b0}",
                "vfmadd231ps {c51}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs} * 2 + 4]",
                "vfmadd231ps {c60}, {t}, {b0}",
                "vfmadd231ps {c61}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs3} + 4]",
                "vfmadd231ps {c70}, {t}, {b0}",
                "vfmadd231ps {c71}, {t}, {b1}",
                "add {a}, 8",
                "add {a4}, 8",
                "lea {b}, [{b} + {ldb} * 2]",
                "dec {k}",
                "jnz 2b",
                "3:",
                "test {odd}, 1",
                "jz 4f",
                "vmovups {b0}, [{b}]",
                "vmovups {b1}, [{b} + 64]",
                "vbroadcastss {t}, dword ptr [{a}]",
                "vfmadd231ps {c00}, {t}, {b0}",
                "vfmadd231ps {c01}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs}]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs} * 2]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + {rs3}]",
                "vfmadd231ps {c30}, {t}, {b0}",
                "vfmadd231ps {c31}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4}]",
                "vfmadd231ps {c40}, {t}, {b0}",
                "vfmadd231ps {c41}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs}]",
                "vfmadd231ps {c50}, {t}, {b0}",
                "vfmadd231ps {c51}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs} * 2]",
                "vfmadd231ps {c60}, {t}, {b0}",
                "vfmadd231ps {c61}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a4} + {rs3}]",
                "vfmadd231ps {c70}, {t}, {b0}",
                "vfmadd231ps {c71}, {t}, {b1}",
                "4:",
            ]
            a = inout(reg) a => _,
            a4 = inout(reg) a.wrapping_offset(4 * rs) => _,
            rs = in(reg) rsb,
            rs3 = in(reg) 3 * rsb,
            b = inout(reg) b => _,
            ldb = in(reg) ldb * 4,
            k = inout(reg) kc => _,
            odd = in(reg) kc,
        )
    }
}

/// [`tile_rows_asm`] for an `a` packed by [`pack_a_t`] (the tile's 8
/// values of a depth step adjacent, as in `dw = xᵀ·dz`): the same FMAs in
/// the same order as [`tile`] with [`ColMajor`] `ld = MR`.
///
/// # Safety
/// AVX-512F; `a` holds `kc · 8` floats and `kc` rows of `b` (`ldb` floats
/// apart) hold 32 floats each.
#[target_feature(enable = "avx512f")]
unsafe fn tile_packed_asm(
    kc: usize,
    a: *const f32,
    b: *const f32,
    ldb: isize,
) -> [[__m512; 2]; MR] {
    // SAFETY: reads only a[p·8 + i] for i < 8, p < kc and b[p·ldb + j] for
    // p < kc, j < 32 (the caller's guarantee); writes only the named
    // registers.
    unsafe {
        tile_asm!(
            [
                // Two depth steps per iteration, then one if kc is odd.
                "shr {k}, 1",
                "jz 3f",
                "2:",
                "vmovups {b0}, [{b}]",
                "vmovups {b1}, [{b} + 64]",
                "vbroadcastss {t}, dword ptr [{a}]",
                "vfmadd231ps {c00}, {t}, {b0}",
                "vfmadd231ps {c01}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 4]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 8]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 12]",
                "vfmadd231ps {c30}, {t}, {b0}",
                "vfmadd231ps {c31}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 16]",
                "vfmadd231ps {c40}, {t}, {b0}",
                "vfmadd231ps {c41}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 20]",
                "vfmadd231ps {c50}, {t}, {b0}",
                "vfmadd231ps {c51}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 24]",
                "vfmadd231ps {c60}, {t}, {b0}",
                "vfmadd231ps {c61}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 28]",
                "vfmadd231ps {c70}, {t}, {b0}",
                "vfmadd231ps {c71}, {t}, {b1}",
                "vmovups {b0}, [{b} + {ldb}]",
                "vmovups {b1}, [{b} + {ldb} + 64]",
                "vbroadcastss {t}, dword ptr [{a} + 32]",
                "vfmadd231ps {c00}, {t}, {b0}",
                "vfmadd231ps {c01}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 36]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 40]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 44]",
                "vfmadd231ps {c30}, {t}, {b0}",
                "vfmadd231ps {c31}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 48]",
                "vfmadd231ps {c40}, {t}, {b0}",
                "vfmadd231ps {c41}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 52]",
                "vfmadd231ps {c50}, {t}, {b0}",
                "vfmadd231ps {c51}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 56]",
                "vfmadd231ps {c60}, {t}, {b0}",
                "vfmadd231ps {c61}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 60]",
                "vfmadd231ps {c70}, {t}, {b0}",
                "vfmadd231ps {c71}, {t}, {b1}",
                "add {a}, 64",
                "lea {b}, [{b} + {ldb} * 2]",
                "dec {k}",
                "jnz 2b",
                "3:",
                "test {odd}, 1",
                "jz 4f",
                "vmovups {b0}, [{b}]",
                "vmovups {b1}, [{b} + 64]",
                "vbroadcastss {t}, dword ptr [{a}]",
                "vfmadd231ps {c00}, {t}, {b0}",
                "vfmadd231ps {c01}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 4]",
                "vfmadd231ps {c10}, {t}, {b0}",
                "vfmadd231ps {c11}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 8]",
                "vfmadd231ps {c20}, {t}, {b0}",
                "vfmadd231ps {c21}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 12]",
                "vfmadd231ps {c30}, {t}, {b0}",
                "vfmadd231ps {c31}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 16]",
                "vfmadd231ps {c40}, {t}, {b0}",
                "vfmadd231ps {c41}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 20]",
                "vfmadd231ps {c50}, {t}, {b0}",
                "vfmadd231ps {c51}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 24]",
                "vfmadd231ps {c60}, {t}, {b0}",
                "vfmadd231ps {c61}, {t}, {b1}",
                "vbroadcastss {t}, dword ptr [{a} + 28]",
                "vfmadd231ps {c70}, {t}, {b0}",
                "vfmadd231ps {c71}, {t}, {b1}",
                "4:",
            ]
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            ldb = in(reg) ldb * 4,
            k = inout(reg) kc => _,
            odd = in(reg) kc,
        )
    }
}

/// [`tile`] with as many vectors as `width` needs.
#[inline(always)]
unsafe fn tile_w<A: ARows>(
    kc: usize,
    a: A,
    b: *const f32,
    ldb: isize,
    masks: (__mmask16, __mmask16),
    width: usize,
) -> [[__m512; 2]; MR] {
    // SAFETY: forwarded from the caller.
    unsafe {
        if width > 16 {
            tile::<A, 2, MR>(kc, a, b, ldb, masks)
        } else {
            tile::<A, 1, MR>(kc, a, b, ldb, masks)
        }
    }
}

/// [`tile_w`] for the last `height < MR` rows: computes 1, 2, 4 or 8 rows,
/// so a single-row product (inference on one sample) does not pay for eight.
#[inline(always)]
unsafe fn tile_rows(
    kc: usize,
    a: Strided,
    b: *const f32,
    ldb: isize,
    masks: (__mmask16, __mmask16),
    width: usize,
    height: usize,
) -> [[__m512; 2]; MR] {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (width > 16, height) {
            (true, 1) => tile::<_, 2, 1>(kc, a, b, ldb, masks),
            (false, 1) => tile::<_, 1, 1>(kc, a, b, ldb, masks),
            (true, 2) => tile::<_, 2, 2>(kc, a, b, ldb, masks),
            (false, 2) => tile::<_, 1, 2>(kc, a, b, ldb, masks),
            (true, 3 | 4) => tile::<_, 2, 4>(kc, a, b, ldb, masks),
            (false, 3 | 4) => tile::<_, 1, 4>(kc, a, b, ldb, masks),
            _ => tile_w(kc, a, b, ldb, masks, width),
        }
    }
}

/// Writes a tile into `c`: `c = alpha·acc + beta·c` (`c` not read when
/// `beta == 0`), `height` rows and `width` columns from `corner`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn store(
    acc: &[[__m512; 2]; MR],
    corner: *mut f32,
    rsc: isize,
    csc: isize,
    height: usize,
    width: usize,
    masks: (__mmask16, __mmask16),
    alpha: f32,
    beta: f32,
) {
    let va = _mm512_set1_ps(alpha);
    for (i, row) in acc.iter().enumerate().take(height) {
        let crow = corner.wrapping_offset(i as isize * rsc);
        for (h, (&v, mask)) in row.iter().zip([masks.0, masks.1]).enumerate() {
            let mut v = v;
            if alpha != 1.0 {
                v = _mm512_mul_ps(va, v);
            }
            if csc == 1 {
                // SAFETY: the masked lanes are the columns inside c.
                unsafe { store_vec(v, crow.wrapping_add(16 * h), mask, beta) };
            } else {
                let mut lanes = [0.0f32; 16];
                // SAFETY: `lanes` has room for 16 floats.
                unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
                for (l, &x) in lanes.iter().enumerate().take(width.saturating_sub(16 * h)) {
                    let dst = crow.wrapping_offset((16 * h + l) as isize * csc);
                    // SAFETY: column 16h + l < width is inside c.
                    unsafe { *dst = if beta == 0.0 { x } else { beta * *dst + x } };
                }
            }
        }
    }
}

/// `dst = v + beta·dst` on the lanes of `mask` (`dst` not read when `beta == 0`).
#[inline(always)]
unsafe fn store_vec(mut v: __m512, dst: *mut f32, mask: __mmask16, beta: f32) {
    // SAFETY: the caller guarantees the masked lanes of dst are writable.
    unsafe {
        if beta != 0.0 {
            // beta·c + v, not fused: the same rounding as the other paths.
            let old = _mm512_maskz_loadu_ps(mask, dst);
            v = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(beta), old), v);
        }
        _mm512_mask_storeu_ps(dst, mask, v);
    }
}

/// Columns of [`row_tile`]: eight vectors.
const ROW_NR: usize = 128;

/// A single row of `a` against up to 128 columns of `b`: eight independent
/// accumulators, where an `8 × 32` tile would give one row two dependent
/// chains and wait on the FMA latency (inference on one sample).
#[inline(always)]
unsafe fn row_tile(
    kc: usize,
    a: *const f32,
    csa: isize,
    b: *const f32,
    ldb: isize,
    masks: &[__mmask16; 8],
) -> [__m512; 8] {
    let mut acc = [_mm512_setzero_ps(); 8];
    for p in 0..kc {
        let bp = b.wrapping_offset(p as isize * ldb);
        // SAFETY: the caller guarantees a[p·csa] and the masked lanes of
        // b's row p are readable.
        unsafe {
            let ai = _mm512_set1_ps(*a.wrapping_offset(p as isize * csa));
            for (h, acc) in acc.iter_mut().enumerate() {
                let bv = _mm512_maskz_loadu_ps(masks[h], bp.wrapping_add(16 * h));
                *acc = _mm512_fmadd_ps(ai, bv, *acc);
            }
        }
    }
    acc
}
