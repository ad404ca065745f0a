//! Fully connected layer: `y = act(x·w + b)`, forward and backward side by
//! side, bias-add fused with the activation.

use crate::kernels::{act, gemm, Grad};
use crate::Activation;
use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Ix2, Zip};

/// A dense layer's shape and options: `y = act(x·w + b)` with `w` of shape
/// `[inputs, units]`. Generated code builds one per layer with constant
/// sizes and calls [`Dense::forward`] and [`Dense::backward`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub units: usize,
    /// The activation fused into the layer.
    pub act: Activation,
}

/// The tensors of [`Dense::forward`].
#[derive(Debug)]
pub struct Forward<'a> {
    /// Input batch `[n, inputs]`.
    pub x: ArrayView2<'a, f32>,
    /// Kernel `[inputs, units]`.
    pub w: ArrayView2<'a, f32>,
    /// Bias `[units]`, if the layer has one.
    pub b: Option<ArrayView1<'a, f32>>,
    /// Where to keep the pre-activation `z = x·w + b` `[n, units]`, needed
    /// when [`Activation::backward_needs_input`].
    pub pre: Option<ArrayViewMut2<'a, f32>>,
    /// Output `[n, units]`.
    pub y: ArrayViewMut2<'a, f32>,
}

/// The tensors [`Dense::backward`] reads.
#[derive(Debug)]
pub struct Backward<'a> {
    /// The forward input `[n, inputs]`.
    pub x: ArrayView2<'a, f32>,
    /// Kernel `[inputs, units]`.
    pub w: ArrayView2<'a, f32>,
    /// The forward output `[n, units]`.
    pub y: ArrayView2<'a, f32>,
    /// The pre-activation the forward pass kept, if it kept one.
    pub pre: Option<ArrayView2<'a, f32>>,
    /// Gradient w.r.t. `y` `[n, units]`; overwritten with the gradient
    /// w.r.t. the pre-activation.
    pub dy: ArrayViewMut2<'a, f32>,
    /// `dy` already is the gradient at the pre-activation (a fused loss gave
    /// it at the logits), so the activation's backward is skipped.
    pub at_logits: bool,
}

/// The gradients [`Dense::backward`] computes; each is skipped when `None`
/// (`dw`/`db` for a frozen layer, `dx` when nothing upstream trains).
#[derive(Debug)]
pub struct Grads<'a> {
    /// Kernel gradient `[inputs, units]`, overwritten.
    pub dw: Option<ArrayViewMut2<'a, f32>>,
    /// Bias gradient `[units]`, overwritten.
    pub db: Option<ArrayViewMut1<'a, f32>>,
    /// Input gradient `[n, inputs]`, written or added into.
    pub dx: Option<Grad<'a, Ix2>>,
}

impl Dense {
    /// `y = act(x·w + b)`; keeps `z = x·w + b` in `pre` when given. Softmax
    /// is row-wise and stable.
    ///
    /// # Panics
    /// If the shapes disagree with the descriptor (a caller bug; shapes are
    /// fixed at code generation).
    pub fn forward(&self, t: Forward<'_>) {
        let Forward {
            x,
            w,
            b,
            pre,
            mut y,
        } = t;
        assert_eq!(w.dim(), (self.inputs, self.units), "dense: kernel");
        assert_eq!(x.ncols(), self.inputs, "dense: input");
        let act = self.act;
        gemm(1.0, x, w, 0.0, y.view_mut());
        // One pass over y: bias, keep z, activate; the data is still in cache.
        let mut pre = pre;
        if let Some(p) = &pre {
            assert_eq!(p.dim(), y.dim(), "dense: pre-activation buffer");
        }
        let pre_contiguous = pre.as_ref().is_none_or(|p| p.is_standard_layout());
        if let (Some(ys), true) = (y.as_slice_mut(), pre_contiguous) {
            // Contiguous (always, from generated code): whole-slice loops.
            // Per-row ndarray `+=` cost more than the adds for a
            // convolution's 32-wide pixel rows.
            let pre = pre
                .as_mut()
                .map(|p| p.as_slice_mut().expect("standard layout"));
            bias_act_slice(self.units, b, act, ys, pre);
            return;
        }
        match pre {
            Some(mut pre) => {
                assert_eq!(pre.dim(), y.dim(), "dense: pre-activation buffer");
                Zip::from(y.rows_mut())
                    .and(pre.rows_mut())
                    .for_each(|mut yr, mut pr| {
                        if let Some(b) = &b {
                            yr += b;
                        }
                        pr.assign(&yr);
                        act::forward_inplace(act, yr);
                    });
            }
            None => {
                for mut yr in y.rows_mut() {
                    if let Some(b) = &b {
                        yr += b;
                    }
                    if !act.is_rowwise() {
                        yr.map_inplace(|v| *v = act.apply(*v));
                    } else {
                        act::forward_inplace(act, yr);
                    }
                }
            }
        }
    }

    /// Backward of [`Dense::forward`]: `dz` (in place of `dy`), then
    /// `dw = xᵀ·dz`, `db = sum over rows of dz`, `dx = dz·wᵀ` (or `dx +=`).
    ///
    /// # Panics
    /// If the shapes disagree, or if the activation needs `pre` and it is `None`.
    pub fn backward(&self, t: Backward<'_>, grads: Grads<'_>) {
        let Backward {
            x,
            w,
            y,
            pre,
            mut dy,
            at_logits,
        } = t;
        assert_eq!(w.dim(), (self.inputs, self.units), "dense: kernel");
        if !at_logits {
            act::backward_inplace(self.act, pre, y, dy.view_mut());
        }
        let dz = dy.view();
        if let Some(dw) = grads.dw {
            gemm(1.0, x.t(), dz, 0.0, dw);
        }
        if let Some(mut db) = grads.db {
            db.fill(0.0);
            // Row by row in either branch, so the same sums; slices
            // vectorise where ndarray's row iterator cost ~1% of a W1 step.
            match (db.as_slice_mut(), dz.as_slice()) {
                (Some(d), Some(z)) if !d.is_empty() => {
                    for row in z.chunks_exact(d.len()) {
                        for (s, &v) in d.iter_mut().zip(row) {
                            *s += v;
                        }
                    }
                }
                _ => {
                    for row in dz.axis_iter(Axis(0)) {
                        db += &row;
                    }
                }
            }
        }
        if let Some(dx) = grads.dx {
            let (dx, add) = dx.into_parts();
            gemm(1.0, dz, w.t(), if add { 1.0 } else { 0.0 }, dx);
        }
    }
}

/// One sample through a dense layer whose sizes are compile-time constants:
/// `y = act(x·w + b)` on stack arrays. Generated `predict_one` calls it, so
/// the loops have constant bounds and a tiny network runs without any
/// allocation or shape check at run time.
///
/// # Shapes
/// - `x`: at least `IN` elements (the first `IN` are used)
/// - `w`: `IN` rows of `OUT`
/// - `b`: at least `OUT` elements
#[inline]
pub fn forward_one<const IN: usize, const OUT: usize>(
    x: &[f32],
    w: &[[f32; OUT]],
    b: Option<&[f32]>,
    act: Activation,
    y: &mut [f32; OUT],
) {
    match b {
        Some(b) => y.copy_from_slice(&b[..OUT]),
        None => y.fill(0.0),
    }
    // Layers big enough to be worth it run an AVX2+FMA copy of the loop
    // (the crate is compiled for baseline x86-64, i.e. SSE2); the condition
    // is a constant, so tiny networks pay nothing for the check.
    #[cfg(target_arch = "x86_64")]
    if IN * OUT >= 256 && crate::kernels::gemm::has_avx512() {
        // SAFETY: `has_avx512` checked at run time that the CPU has AVX-512F
        // (which implies FMA support in every CPU that has it; checked too).
        unsafe { axpy_rows_avx512::<IN, OUT>(x, w, y) };
        act::forward_slice_inplace(act, y);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if IN * OUT >= 256 && crate::kernels::gemm::has_fma() {
        // SAFETY: `has_fma` checked at run time that the CPU has AVX2 and FMA.
        unsafe { axpy_rows_fma::<IN, OUT>(x, w, y) };
        act::forward_slice_inplace(act, y);
        return;
    }
    axpy_rows::<IN, OUT, false>(x, w, y);
    act::forward_slice_inplace(act, y);
}

/// `y = act(y + b)` over a contiguous `[n, units]` buffer, copying
/// `y + b` into `pre` when given: the same per-element arithmetic as the
/// row-by-row form, in whole-slice loops.
pub(crate) fn bias_act_slice(
    units: usize,
    b: Option<ArrayView1<'_, f32>>,
    act: Activation,
    ys: &mut [f32],
    pre: Option<&mut [f32]>,
) {
    if let Some(b) = b {
        for row in ys.chunks_exact_mut(units) {
            match b.as_slice() {
                Some(bs) => row.iter_mut().zip(bs).for_each(|(v, &bv)| *v += bv),
                None => row.iter_mut().zip(b.iter()).for_each(|(v, &bv)| *v += bv),
            }
        }
    }
    if let Some(pre) = pre {
        pre.copy_from_slice(ys);
    }
    if act.is_rowwise() {
        for row in ys.chunks_exact_mut(units) {
            act::forward_slice_inplace(act, row);
        }
    } else {
        act::forward_slice_inplace(act, ys);
    }
}

/// `y += x·w` for row-major `w`: one axpy per input keeps the inner loop contiguous.
#[inline(always)]
fn axpy_rows<const IN: usize, const OUT: usize, const FMA: bool>(
    x: &[f32],
    w: &[[f32; OUT]],
    y: &mut [f32; OUT],
) {
    for (&xi, row) in x[..IN].iter().zip(&w[..IN]) {
        for (yj, &wij) in y.iter_mut().zip(row) {
            *yj = if FMA {
                xi.mul_add(wij, *yj)
            } else {
                *yj + xi * wij
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn axpy_rows_fma<const IN: usize, const OUT: usize>(
    x: &[f32],
    w: &[[f32; OUT]],
    y: &mut [f32; OUT],
) {
    axpy_rows::<IN, OUT, true>(x, w, y)
}

/// With 32 vector registers of 16 lanes, a 128-wide `y` stays in registers
/// across the whole loop, where AVX2's 16 of 8 lanes must reload and store it.
/// Same operations in the same order as the AVX2 copy: same results.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn axpy_rows_avx512<const IN: usize, const OUT: usize>(
    x: &[f32],
    w: &[[f32; OUT]],
    y: &mut [f32; OUT],
) {
    axpy_rows::<IN, OUT, true>(x, w, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, dot, vec};
    use ndarray::{Array1, Array2};

    const N: usize = 3;
    const IN: usize = 4;
    const OUT: usize = 5;

    fn layer(act: Activation) -> Dense {
        Dense {
            inputs: IN,
            units: OUT,
            act,
        }
    }

    fn run(act: Activation, x: &[f32], w: &[f32], b: &[f32]) -> Array2<f32> {
        let mut y = Array2::zeros((N, OUT));
        layer(act).forward(Forward {
            x: ArrayView2::from_shape((N, IN), x).unwrap(),
            w: ArrayView2::from_shape((IN, OUT), w).unwrap(),
            b: Some(ArrayView1::from(b)),
            pre: None,
            y: y.view_mut(),
        });
        y
    }

    #[test]
    fn forward_matches_the_definition() {
        let (x, w, b) = (vec(N * IN, 1), vec(IN * OUT, 2), vec(OUT, 3));
        let y = run(Activation::Tanh, &x, &w, &b);
        let xa = ArrayView2::from_shape((N, IN), &x[..]).unwrap();
        let wa = ArrayView2::from_shape((IN, OUT), &w[..]).unwrap();
        let want = (xa.dot(&wa) + Array1::from(b.to_vec())).mapv(f32::tanh);
        assert!((&y - &want).iter().all(|d| d.abs() < 1e-5));
    }

    #[test]
    fn backward_matches_finite_differences_for_x_w_b() {
        for act in [
            Activation::Linear,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Gelu,
            Activation::Softmax,
            Activation::Elu { alpha: 0.7 },
            Activation::LeakyRelu { alpha: 0.0 },
        ] {
            let (x, w, b, r) = (
                vec(N * IN, 11),
                vec(IN * OUT, 12),
                vec(OUT, 13),
                vec(N * OUT, 14),
            );
            let xa = ArrayView2::from_shape((N, IN), &x[..]).unwrap();
            let wa = ArrayView2::from_shape((IN, OUT), &w[..]).unwrap();
            let mut pre = Array2::zeros((N, OUT));
            let mut y = Array2::zeros((N, OUT));
            layer(act).forward(Forward {
                x: xa,
                w: wa,
                b: Some(ArrayView1::from(&b[..])),
                pre: Some(pre.view_mut()),
                y: y.view_mut(),
            });
            let mut dy = Array2::from_shape_vec((N, OUT), r.clone()).unwrap();
            let (mut dw, mut db, mut dx) = (
                Array2::zeros((IN, OUT)),
                Array1::zeros(OUT),
                Array2::zeros((N, IN)),
            );
            layer(act).backward(
                Backward {
                    x: xa,
                    w: wa,
                    y: y.view(),
                    pre: act.backward_needs_input().then(|| pre.view()),
                    dy: dy.view_mut(),
                    at_logits: false,
                },
                Grads {
                    dw: Some(dw.view_mut()),
                    db: Some(db.view_mut()),
                    dx: Some(Grad::Write(dx.view_mut())),
                },
            );
            let name = act.name();
            check(name, &x, dx.as_slice().unwrap(), |x| {
                dot(run(act, x, &w, &b).as_slice().unwrap(), &r)
            });
            check(name, &w, dw.as_slice().unwrap(), |w| {
                dot(run(act, &x, w, &b).as_slice().unwrap(), &r)
            });
            check(name, &b, db.as_slice().unwrap(), |b| {
                dot(run(act, &x, &w, b).as_slice().unwrap(), &r)
            });
        }
    }

    #[test]
    fn at_logits_uses_dy_as_the_logit_gradient_and_add_accumulates() {
        let (x, w) = (vec(N * IN, 21), vec(IN * OUT, 22));
        let xa = ArrayView2::from_shape((N, IN), &x[..]).unwrap();
        let wa = ArrayView2::from_shape((IN, OUT), &w[..]).unwrap();
        let y = Array2::zeros((N, OUT));
        let mut dz = Array2::from_shape_vec((N, OUT), vec(N * OUT, 23)).unwrap();
        let dz0 = dz.clone();
        let mut dw = Array2::zeros((IN, OUT));
        let before = Array2::from_shape_vec((N, IN), vec(N * IN, 24)).unwrap();
        let mut dx = before.clone();
        layer(Activation::Softmax).backward(
            Backward {
                x: xa,
                w: wa,
                y: y.view(),
                pre: None,
                dy: dz.view_mut(),
                at_logits: true,
            },
            Grads {
                dw: Some(dw.view_mut()),
                db: None,
                dx: Some(Grad::Add(dx.view_mut())),
            },
        );
        assert_eq!(dz, dz0);
        assert!((&dw - &xa.t().dot(&dz0)).iter().all(|d| d.abs() < 1e-5));
        let want = &before + &dz0.dot(&wa.t());
        assert!((&dx - &want).iter().all(|d| d.abs() < 1e-5));
    }
}
