//! Standalone activation layers: `y = f(x)` and its backward, on arrays of
//! any rank. Softmax acts on the last axis.

use crate::kernels::softmax;
use crate::kernels::Grad;
use crate::Activation;
use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

/// Activations whose variant is part of their type. A closure that
/// captured an `Activation` value kept the per-element `match` of
/// `apply`/`derivative` inside the loop (relu's backward took 17% of a CNN
/// training step); with the variant in the type each loop is compiled for
/// one activation and vectorises. Each element's arithmetic is the same as
/// `Activation`'s, so results are the same bits.
mod known {
    use crate::Activation;

    /// An activation known at compile time.
    pub(super) trait Known: Copy {
        fn apply(self, x: f32) -> f32;
        fn derivative(self, x: f32, y: f32) -> f32;
    }

    macro_rules! unit {
        ($($v:ident),*) => {$(
            #[derive(Clone, Copy)]
            pub(super) struct $v;
            impl Known for $v {
                #[inline(always)]
                fn apply(self, x: f32) -> f32 {
                    Activation::$v.apply(x)
                }
                #[inline(always)]
                fn derivative(self, x: f32, y: f32) -> f32 {
                    Activation::$v.derivative(x, y)
                }
            }
        )*};
    }
    unit!(Relu, Linear, Sigmoid, Tanh);

    macro_rules! with_alpha {
        ($($v:ident),*) => {$(
            #[derive(Clone, Copy)]
            pub(super) struct $v(pub(super) f32);
            impl Known for $v {
                #[inline(always)]
                fn apply(self, x: f32) -> f32 {
                    Activation::$v { alpha: self.0 }.apply(x)
                }
                #[inline(always)]
                fn derivative(self, x: f32, y: f32) -> f32 {
                    Activation::$v { alpha: self.0 }.derivative(x, y)
                }
            }
        )*};
    }
    with_alpha!(LeakyRelu, Elu);

    /// Any other activation, matched per element.
    #[derive(Clone, Copy)]
    pub(super) struct Any(pub(super) Activation);
    impl Known for Any {
        #[inline(always)]
        fn apply(self, x: f32) -> f32 {
            self.0.apply(x)
        }
        #[inline(always)]
        fn derivative(self, x: f32, y: f32) -> f32 {
            self.0.derivative(x, y)
        }
    }
}

/// Runs `$body` with `$a` bound to `$act` as a [`known::Known`] type: one
/// copy of `$body` per common activation.
macro_rules! specialized {
    ($act:expr, |$a:ident| $body:expr) => {{
        #[allow(unused_imports)]
        use known::Known as _;
        match $act {
            Activation::Relu => {
                let $a = known::Relu;
                $body
            }
            Activation::Linear => {
                let $a = known::Linear;
                $body
            }
            Activation::Sigmoid => {
                let $a = known::Sigmoid;
                $body
            }
            Activation::Tanh => {
                let $a = known::Tanh;
                $body
            }
            Activation::LeakyRelu { alpha } => {
                let $a = known::LeakyRelu(alpha);
                $body
            }
            Activation::Elu { alpha } => {
                let $a = known::Elu(alpha);
                $body
            }
            other => {
                let $a = known::Any(other);
                $body
            }
        }
    }};
}

/// `y = act(x)`.
///
/// # Shapes
/// `x`, `y`: the same shape (softmax over the last axis).
pub fn forward<D: Dimension>(
    act: Activation,
    x: ArrayView<'_, f32, D>,
    mut y: ArrayViewMut<'_, f32, D>,
) {
    if act.is_rowwise() {
        softmax::forward(x, y);
    } else {
        if let (true, Some(xs)) = (y.is_standard_layout(), x.to_slice()) {
            let ys = y.as_slice_mut().expect("standard layout");
            specialized!(act, |a| ys
                .iter_mut()
                .zip(xs)
                .for_each(|(y, &x)| *y = a.apply(x)));
        } else {
            Zip::from(&mut y)
                .and(&x)
                .for_each(|y, &x| *y = act.apply(x));
        }
    }
}

/// In-place `z = act(z)`, used where the pre-activation need not be kept.
pub fn forward_inplace<D: Dimension>(act: Activation, mut z: ArrayViewMut<'_, f32, D>) {
    match act {
        Activation::Linear => {}
        Activation::Softmax => {
            let last = ndarray::Axis(z.ndim().saturating_sub(1));
            for row in z.lanes_mut(last) {
                softmax::softmax_row_inplace(row);
            }
        }
        _ => match z.as_slice_memory_order_mut() {
            Some(s) => forward_slice_inplace(act, s),
            None => z.map_inplace(|v| *v = act.apply(*v)),
        },
    }
}

/// The tensors [`backward`] reads.
#[derive(Debug)]
pub struct Backward<'a, D: Dimension> {
    /// The forward input, needed when [`Activation::backward_needs_input`].
    pub x: Option<ArrayView<'a, f32, D>>,
    /// The forward output.
    pub y: ArrayView<'a, f32, D>,
    /// Gradient w.r.t. `y`.
    pub dy: ArrayView<'a, f32, D>,
}

/// `dx = dy ⊙ act'(x)` (for softmax, the Jacobian-vector product), written
/// or added into `dx`, given the forward output `y` and, when
/// [`Activation::backward_needs_input`], the input `x`.
///
/// # Shapes
/// `x` (if given), `y`, `dy`, `dx`: the same shape.
///
/// # Panics
/// If the activation needs `x` and it is `None` (a caller bug).
pub fn backward<D: Dimension>(act: Activation, t: Backward<'_, D>, dx: Grad<'_, D>) {
    let Backward { x, y, dy } = t;
    let (mut dx, add) = dx.into_parts();
    let store = |d: &mut f32, v: f32| {
        if add {
            *d += v
        } else {
            *d = v
        }
    };
    match (act, x) {
        (Activation::Softmax, _) => {
            let last = ndarray::Axis(y.ndim().saturating_sub(1));
            Zip::from(y.lanes(last))
                .and(dy.lanes(last))
                .and(dx.lanes_mut(last))
                .for_each(|y, dy, mut dx| {
                    let dot: f32 = y.iter().zip(dy.iter()).map(|(a, b)| a * b).sum();
                    Zip::from(&mut dx)
                        .and(&y)
                        .and(&dy)
                        .for_each(|dx, &y, &dy| store(dx, y * (dy - dot)));
                });
        }
        (Activation::Linear, _) => Zip::from(&mut dx)
            .and(&dy)
            .for_each(|dx, &dy| store(dx, dy)),
        (_, Some(x)) => Zip::from(&mut dx)
            .and(&x)
            .and(&y)
            .and(&dy)
            .for_each(|dx, &x, &y, &dy| store(dx, dy * act.derivative(x, y))),
        (_, None) => {
            assert!(
                !act.backward_needs_input(),
                "{act} backward needs the pre-activation input"
            );
            Zip::from(&mut dx)
                .and(&y)
                .and(&dy)
                .for_each(|dx, &y, &dy| store(dx, dy * act.derivative(f32::NAN, y)));
        }
    }
}

/// In-place `dz = dz ⊙ act'(x)` (softmax: Jacobian-vector product), the form
/// the dense backward uses to turn the output gradient into the logit gradient.
pub fn backward_inplace<D: Dimension>(
    act: Activation,
    x: Option<ArrayView<'_, f32, D>>,
    y: ArrayView<'_, f32, D>,
    mut dz: ArrayViewMut<'_, f32, D>,
) {
    match (act, x) {
        (Activation::Linear, _) => {}
        (Activation::Softmax, _) => {
            let last = ndarray::Axis(y.ndim().saturating_sub(1));
            Zip::from(y.lanes(last))
                .and(dz.lanes_mut(last))
                .for_each(|y, mut dz| {
                    let dot: f32 = y.iter().zip(dz.iter()).map(|(a, b)| a * b).sum();
                    Zip::from(&mut dz)
                        .and(&y)
                        .for_each(|d, &y| *d = y * (*d - dot));
                });
        }
        (_, Some(x)) => {
            if let (Some(d), Some(x), Some(y)) = (dz.as_slice_mut(), x.to_slice(), y.to_slice()) {
                specialized!(act, |a| d
                    .iter_mut()
                    .zip(x.iter().zip(y))
                    .for_each(|(d, (&x, &y))| *d *= a.derivative(x, y)));
            } else {
                Zip::from(&mut dz)
                    .and(&x)
                    .and(&y)
                    .for_each(|d, &x, &y| *d *= act.derivative(x, y));
            }
        }
        (_, None) => {
            assert!(
                !act.backward_needs_input(),
                "{act} backward needs the pre-activation input"
            );
            if let (Some(d), Some(y)) = (dz.as_slice_mut(), y.to_slice()) {
                specialized!(act, |a| d
                    .iter_mut()
                    .zip(y)
                    .for_each(|(d, &y)| *d *= a.derivative(f32::NAN, y)));
            } else {
                Zip::from(&mut dz)
                    .and(&y)
                    .for_each(|d, &y| *d *= act.derivative(f32::NAN, y));
            }
        }
    }
}

/// [`backward_inplace`] on a contiguous `[rows, width]` buffer that also
/// sums the resulting `dz` over rows into `sum` (`[width]`, overwritten),
/// in one pass: a convolution's bias gradient, without reading `dz` twice.
/// The sum runs row by row in order, as a separate pass would.
///
/// # Panics
/// If softmax is given (row-wise: use [`backward_inplace`]), if the lengths
/// disagree, or if the activation needs `x` and it is `None`.
pub(crate) fn backward_rows_summed(
    act: Activation,
    x: Option<&[f32]>,
    y: &[f32],
    dz: &mut [f32],
    sum: &mut [f32],
) {
    assert!(!act.is_rowwise(), "backward_rows_summed: {act} is row-wise");
    assert_eq!(y.len(), dz.len(), "backward_rows_summed: y");
    let width = sum.len();
    sum.fill(0.0);
    match x {
        Some(x) => {
            assert_eq!(x.len(), dz.len(), "backward_rows_summed: x");
            specialized!(act, |a| {
                for ((d, x), y) in dz
                    .chunks_exact_mut(width)
                    .zip(x.chunks_exact(width))
                    .zip(y.chunks_exact(width))
                {
                    for (((d, &x), &y), s) in d.iter_mut().zip(x).zip(y).zip(sum.iter_mut()) {
                        *d *= a.derivative(x, y);
                        *s += *d;
                    }
                }
            })
        }
        None => {
            assert!(
                !act.backward_needs_input(),
                "{act} backward needs the pre-activation input"
            );
            specialized!(act, |a| {
                for (d, y) in dz.chunks_exact_mut(width).zip(y.chunks_exact(width)) {
                    for ((d, &y), s) in d.iter_mut().zip(y).zip(sum.iter_mut()) {
                        *d *= a.derivative(f32::NAN, y);
                        *s += *d;
                    }
                }
            })
        }
    }
}

/// `y = act(x)` on one sample held in slices (softmax over all of it).
///
/// # Shapes
/// `x`, `y`: the same length.
#[inline]
pub fn forward_slice(act: Activation, x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    forward_slice_inplace(act, y);
}

/// In-place [`forward_slice`].
#[inline]
pub fn forward_slice_inplace(act: Activation, y: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Softmax => softmax::softmax_row_inplace(ndarray::ArrayViewMut1::from(y)),
        _ => specialized!(act, |a| y.iter_mut().for_each(|v| *v = a.apply(*v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, dot, vec};
    use ndarray::{Array2, ArrayView2};

    const ACTS: [Activation; 10] = [
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::LeakyRelu { alpha: -0.2 },
        Activation::Elu { alpha: 1.0 },
        Activation::Gelu,
        Activation::Softplus,
        Activation::Softmax,
    ];

    fn fwd(act: Activation, x: &[f32]) -> Array2<f32> {
        let mut y = Array2::zeros((2, 5));
        forward(
            act,
            ArrayView2::from_shape((2, 5), x).unwrap(),
            y.view_mut(),
        );
        y
    }

    #[test]
    fn every_activation_backward_matches_finite_differences() {
        // Inputs kept away from relu's kink so differences are well defined.
        let x: Vec<f32> = vec(10, 5)
            .iter()
            .map(|v| v * 3.0 + v.signum() * 0.05)
            .collect();
        let r = vec(10, 6);
        for act in ACTS {
            let y = fwd(act, &x);
            let xv = ArrayView2::from_shape((2, 5), &x[..]).unwrap();
            let dy = ArrayView2::from_shape((2, 5), &r[..]).unwrap();
            let mut dx = Array2::zeros((2, 5));
            let t = |x| Backward { x, y: y.view(), dy };
            backward(act, t(Some(xv)), Grad::Write(dx.view_mut()));
            // Adding into a buffer adds the same values.
            let mut acc = Array2::from_elem((2, 5), 1.5f32);
            backward(act, t(Some(xv)), Grad::Add(acc.view_mut()));
            assert!((&acc - &dx - 1.5).iter().all(|d| d.abs() < 1e-6), "{act}");
            check(act.name(), &x, dx.as_slice().unwrap(), |x| {
                dot(fwd(act, x).as_slice().unwrap(), &r)
            });
            // The in-place form and the no-input form agree.
            let mut dz = dy.to_owned();
            let xin = act.backward_needs_input().then_some(xv);
            backward_inplace(act, xin, y.view(), dz.view_mut());
            assert!((&dz - &dx).iter().all(|d| d.abs() < 1e-6), "{act}");
        }
    }
}
