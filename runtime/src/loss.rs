//! Losses, their gradients, and the fused gradients at the logits.
//!
//! All losses are means over the batch (Keras' default reduction): the
//! element-wise ones (`Mse`, `Mae`, `Huber`, `BinaryCrossentropy`) average
//! over every element, the categorical ones sum over the class axis (the
//! last) and average over rows. The gradient written is already divided
//! accordingly, so the model's backward needs no batch-size factor.

use crate::activation::{sigmoid, softplus};
use crate::kernels::softmax::log_sum_exp;
use crate::{Activation, Error, GradAt, Result};
use ndarray::{ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD, Axis, Zip};

/// Probabilities are clipped to `[EPS, 1 - EPS]` before a logarithm, as
/// Keras does, so a confident wrong answer costs a large but finite loss.
const EPS: f32 = 1e-7;

pub use nnc_core::loss::Loss;

/// The computations of a [`Loss`]: its value and gradient on a batch.
/// (The enum itself is shared with the compiler, in `nnc-core`.)
pub trait LossExt {
    /// The mean loss of `output` against `target`, and its gradient written
    /// into `grad`, taken where the returned [`GradAt`] says.
    ///
    /// # Shapes
    /// - `output`, `grad`: `[n, ..]`; the categorical losses use the last axis as classes.
    /// - `target`: as `output`, except for the sparse loss: one class index
    ///   per row, `[n]` or `[n, 1]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes disagree, [`Error::Label`] for a sparse
    /// target that is not a class index.
    fn loss_and_grad(
        &self,
        output: ArrayViewD<'_, f32>,
        target: ArrayViewD<'_, f32>,
        out_act: Activation,
        grad: ArrayViewMutD<'_, f32>,
    ) -> Result<(f32, GradAt)>;

    /// The mean loss only (for evaluation); same value as [`LossExt::loss_and_grad`].
    ///
    /// # Errors
    /// As [`LossExt::loss_and_grad`].
    fn loss_value(
        &self,
        output: ArrayViewD<'_, f32>,
        target: ArrayViewD<'_, f32>,
        out_act: Activation,
    ) -> Result<f32>;
}

impl LossExt for Loss {
    fn loss_and_grad(
        &self,
        output: ArrayViewD<'_, f32>,
        target: ArrayViewD<'_, f32>,
        out_act: Activation,
        mut grad: ArrayViewMutD<'_, f32>,
    ) -> Result<(f32, GradAt)> {
        if grad.shape() != output.shape() {
            return Err(Error::shape(
                "loss gradient buffer",
                output.shape(),
                grad.shape(),
            ));
        }
        compute(self, output, target, out_act, Some(grad.view_mut()))
    }

    fn loss_value(
        &self,
        output: ArrayViewD<'_, f32>,
        target: ArrayViewD<'_, f32>,
        out_act: Activation,
    ) -> Result<f32> {
        Ok(compute(self, output, target, out_act, None)?.0)
    }
}

fn compute(
    loss: &Loss,
    output: ArrayViewD<'_, f32>,
    target: ArrayViewD<'_, f32>,
    out_act: Activation,
    grad: Option<ArrayViewMutD<'_, f32>>,
) -> Result<(f32, GradAt)> {
    let fused = loss.fuses_with(out_act);
    let at = if fused {
        GradAt::Logits
    } else {
        GradAt::Output
    };
    let context = loss.name();
    if let Loss::SparseCategoricalCrossentropy { from_logits } = *loss {
        return sparse(output, target, from_logits, fused, grad, context).map(|l| (l, at));
    }
    if target.shape() != output.shape() {
        return Err(Error::shape(
            format!("{context} target"),
            output.shape(),
            target.shape(),
        ));
    }
    if output.is_empty() {
        return Err(Error::Config(format!("{context}: empty batch")));
    }
    let value = match *loss {
        Loss::CategoricalCrossentropy { from_logits } => {
            categorical(output, target, from_logits, fused, grad)
        }
        _ => elementwise(*loss, output, target, fused, grad),
    };
    Ok((value, at))
}

/// Losses that are a mean over all elements.
fn elementwise(
    loss: Loss,
    output: ArrayViewD<'_, f32>,
    target: ArrayViewD<'_, f32>,
    fused: bool,
    grad: Option<ArrayViewMutD<'_, f32>>,
) -> f32 {
    let inv_n = 1.0 / output.len() as f32;
    // (loss term, gradient term) of one element, the gradient before the 1/N.
    let term = |o: f32, t: f32| -> (f64, f32) {
        match loss {
            Loss::Mse => {
                let d = o - t;
                ((d * d) as f64, 2.0 * d)
            }
            Loss::Mae => {
                let d = o - t;
                let s = if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                (d.abs() as f64, s)
            }
            Loss::Huber { delta } => {
                let d = o - t;
                if d.abs() <= delta {
                    ((0.5 * d * d) as f64, d)
                } else {
                    ((delta * (d.abs() - 0.5 * delta)) as f64, delta * d.signum())
                }
            }
            Loss::BinaryCrossentropy { from_logits: true } => {
                // max(z, 0) - z·y + ln(1 + e^-|z|) = softplus(z) - z·y, stable for any z.
                ((softplus(o) - o * t) as f64, sigmoid(o) - t)
            }
            _ => {
                let p = o.clamp(EPS, 1.0 - EPS);
                let l = -(t * p.ln() + (1.0 - t) * (1.0 - p).ln());
                // Fused: d/dz through the sigmoid is p - y (with the unclipped p).
                let g = if fused {
                    o - t
                } else {
                    (p - t) / (p * (1.0 - p))
                };
                (l as f64, g)
            }
        }
    };
    let mut sum = 0.0f64;
    match grad {
        Some(mut g) => Zip::from(&mut g)
            .and(&output)
            .and(&target)
            .for_each(|g, &o, &t| {
                let (l, d) = term(o, t);
                sum += l;
                *g = d * inv_n;
            }),
        None => Zip::from(&output)
            .and(&target)
            .for_each(|&o, &t| sum += term(o, t).0),
    }
    (sum * inv_n as f64) as f32
}

/// Categorical cross-entropy over the last axis, one-hot or soft targets.
fn categorical(
    output: ArrayViewD<'_, f32>,
    target: ArrayViewD<'_, f32>,
    from_logits: bool,
    fused: bool,
    grad: Option<ArrayViewMutD<'_, f32>>,
) -> f32 {
    let last = Axis(output.ndim().saturating_sub(1));
    let rows = output.len() / output.len_of(last).max(1);
    let inv_rows = 1.0 / rows as f32;
    let mut sum = 0.0f64;
    let mut row =
        |o: ArrayView1<'_, f32>, t: ArrayView1<'_, f32>, g: Option<ArrayViewMut1<'_, f32>>| {
            let tsum: f32 = t.sum();
            if from_logits {
                let lse = log_sum_exp(o);
                sum += Zip::from(&o)
                    .and(&t)
                    .fold(0.0f64, |s, &z, &y| s + (y * (lse - z)) as f64);
                if let Some(mut g) = g {
                    Zip::from(&mut g)
                        .and(&o)
                        .and(&t)
                        .for_each(|g, &z, &y| *g = ((z - lse).exp() * tsum - y) * inv_rows);
                }
            } else {
                sum += Zip::from(&o)
                    .and(&t)
                    .fold(0.0f64, |s, &p, &y| s - (y * p.clamp(EPS, 1.0).ln()) as f64);
                if let Some(mut g) = g {
                    Zip::from(&mut g).and(&o).and(&t).for_each(|g, &p, &y| {
                        *g = if fused {
                            // softmax Jacobian times -y/p, summed: p·sum(y) - y.
                            (p * tsum - y) * inv_rows
                        } else {
                            -y / p.clamp(EPS, 1.0) * inv_rows
                        }
                    });
                }
            }
        };
    match grad {
        Some(mut g) => {
            for ((o, t), g) in output
                .lanes(last)
                .into_iter()
                .zip(target.lanes(last))
                .zip(g.lanes_mut(last))
            {
                row(o, t, Some(g));
            }
        }
        None => {
            for (o, t) in output.lanes(last).into_iter().zip(target.lanes(last)) {
                row(o, t, None);
            }
        }
    }
    (sum * inv_rows as f64) as f32
}

/// Converts a class index stored as `f32` to `usize`, or says why not.
pub(crate) fn class_index(value: f32, classes: usize, row: usize, context: &str) -> Result<usize> {
    if value.fract() == 0.0 && value >= 0.0 && (value as usize) < classes {
        Ok(value as usize)
    } else {
        Err(Error::Label {
            context: context.to_string(),
            row,
            value,
            classes,
        })
    }
}

/// Sparse categorical cross-entropy: one class index per row.
fn sparse(
    output: ArrayViewD<'_, f32>,
    target: ArrayViewD<'_, f32>,
    from_logits: bool,
    fused: bool,
    grad: Option<ArrayViewMutD<'_, f32>>,
    context: &str,
) -> Result<f32> {
    let last = Axis(output.ndim().saturating_sub(1));
    let classes = output.len_of(last);
    let rows = output.len() / classes.max(1);
    let shape_ok = target.len() == rows
        && (target.ndim() == 1 || (target.ndim() == 2 && target.shape()[1] == 1));
    if !shape_ok || output.ndim() < 2 {
        let mut want = output.shape().to_vec();
        want.pop();
        return Err(Error::shape(
            format!("{context} target (one class index per row)"),
            &want,
            target.shape(),
        ));
    }
    if rows == 0 {
        return Err(Error::Config(format!("{context}: empty batch")));
    }
    // Validate every label before touching `grad`, so an error leaves no half-written gradient.
    for (i, &t) in target.iter().enumerate() {
        class_index(t, classes, i, context)?;
    }
    let inv_rows = 1.0 / rows as f32;
    let mut sum = 0.0f64;
    let mut row = |o: ArrayView1<'_, f32>, c: usize, g: Option<ArrayViewMut1<'_, f32>>| {
        if from_logits {
            let lse = log_sum_exp(o);
            sum += (lse - o[c]) as f64;
            if let Some(mut g) = g {
                for (j, (g, &z)) in g.iter_mut().zip(o.iter()).enumerate() {
                    *g = ((z - lse).exp() - f32::from(j == c)) * inv_rows;
                }
            }
        } else {
            let pc = o[c].clamp(EPS, 1.0);
            sum -= pc.ln() as f64;
            if let Some(mut g) = g {
                for (j, (g, &p)) in g.iter_mut().zip(o.iter()).enumerate() {
                    *g = if fused {
                        (p - f32::from(j == c)) * inv_rows
                    } else if j == c {
                        -inv_rows / pc
                    } else {
                        0.0
                    };
                }
            }
        }
    };
    // Labels were validated above, so the conversion cannot fail here.
    let label = |t: f32| t as usize;
    match grad {
        Some(mut g) => {
            for ((o, &t), g) in output
                .lanes(last)
                .into_iter()
                .zip(target.iter())
                .zip(g.lanes_mut(last))
            {
                row(o, label(t), Some(g));
            }
        }
        None => {
            for (o, &t) in output.lanes(last).into_iter().zip(target.iter()) {
                row(o, label(t), None);
            }
        }
    }
    Ok((sum * inv_rows as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, vec};
    use crate::kernels::{act, softmax};
    use ndarray::{arr2, Array2, ArrayView2, IxDyn};

    fn value(loss: Loss, o: &[f32], t: &Array2<f32>, act: Activation) -> f64 {
        let o = ArrayView2::from_shape(t.dim(), o).unwrap();
        loss.loss_value(o.into_dyn(), t.view().into_dyn(), act)
            .unwrap() as f64
    }

    fn grad(loss: Loss, o: &[f32], t: &Array2<f32>, act: Activation) -> (Vec<f32>, GradAt) {
        let ov = ArrayView2::from_shape(t.dim(), o).unwrap();
        let mut g = Array2::zeros(t.dim());
        let (l, at) = loss
            .loss_and_grad(
                ov.into_dyn(),
                t.view().into_dyn(),
                act,
                g.view_mut().into_dyn(),
            )
            .unwrap();
        assert!((l as f64 - value(loss, o, t, act)).abs() < 1e-6);
        (g.into_raw_vec_and_offset().0, at)
    }

    #[test]
    fn output_gradients_match_finite_differences() {
        let t = Array2::from_shape_vec((3, 4), vec(12, 2)).unwrap();
        let o = vec(12, 1);
        for loss in [Loss::Mse, Loss::Mae, Loss::Huber { delta: 0.5 }] {
            let (g, at) = grad(loss, &o, &t, Activation::Linear);
            assert_eq!(at, GradAt::Output);
            check(loss.name(), &o, &g, |o| {
                value(loss, o, &t, Activation::Linear)
            });
        }
        // Probabilities in (0, 1) and targets in [0, 1] for the cross-entropies.
        let p: Vec<f32> = o.iter().map(|v| 0.5 + 0.4 * v).collect();
        let y = t.mapv(|v| (v + 1.0) / 2.0);
        for loss in [
            Loss::BinaryCrossentropy { from_logits: false },
            Loss::CategoricalCrossentropy { from_logits: false },
        ] {
            let (g, at) = grad(loss, &p, &y, Activation::Linear);
            assert_eq!(at, GradAt::Output);
            check(loss.name(), &p, &g, |p| {
                value(loss, p, &y, Activation::Linear)
            });
        }
        let logits: Vec<f32> = o.iter().map(|v| 4.0 * v).collect();
        for loss in [
            Loss::BinaryCrossentropy { from_logits: true },
            Loss::CategoricalCrossentropy { from_logits: true },
        ] {
            let (g, _) = grad(loss, &logits, &y, Activation::Linear);
            check(loss.name(), &logits, &g, |z| {
                value(loss, z, &y, Activation::Linear)
            });
        }
        let classes = arr2(&[[2.0f32], [0.0], [3.0]]);
        let sparse = Loss::SparseCategoricalCrossentropy { from_logits: true };
        let ov = ArrayView2::from_shape((3, 4), &logits[..])
            .unwrap()
            .into_dyn();
        let mut g = Array2::zeros((3, 4));
        sparse
            .loss_and_grad(
                ov,
                classes.view().into_dyn(),
                Activation::Linear,
                g.view_mut().into_dyn(),
            )
            .unwrap();
        check("sparse from logits", &logits, g.as_slice().unwrap(), |z| {
            let zv = ArrayView2::from_shape((3, 4), z).unwrap().into_dyn();
            sparse
                .loss_value(zv, classes.view().into_dyn(), Activation::Linear)
                .unwrap() as f64
        });
    }

    /// The fused gradient at the logits equals the chain rule through the activation.
    #[test]
    fn fused_gradients_are_p_minus_y_at_the_logits() {
        let z = vec(12, 5);
        let y = arr2(&[
            [0.0f32, 1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let cases = [
            (
                Loss::CategoricalCrossentropy { from_logits: false },
                Activation::Softmax,
                y.clone(),
            ),
            (
                Loss::BinaryCrossentropy { from_logits: false },
                Activation::Sigmoid,
                y.clone(),
            ),
        ];
        for (loss, out_act, y) in cases {
            let zv = ArrayView2::from_shape((3, 4), &z[..]).unwrap();
            let mut p = Array2::zeros((3, 4));
            act::forward(out_act, zv, p.view_mut());
            let (g, at) = grad(loss, p.as_slice().unwrap(), &y, out_act);
            assert_eq!(at, GradAt::Logits);
            check(loss.name(), &z, &g, |z| {
                let mut p = Array2::zeros((3, 4));
                act::forward(
                    out_act,
                    ArrayView2::from_shape((3, 4), z).unwrap(),
                    p.view_mut(),
                );
                value(loss, p.as_slice().unwrap(), &y, out_act)
            });
        }
        // Sparse + softmax: same as categorical with one-hot targets.
        let mut p = Array2::zeros((3, 4));
        softmax::forward(
            ArrayView2::from_shape((3, 4), &z[..]).unwrap(),
            p.view_mut(),
        );
        let (g1, _) = grad(
            Loss::CategoricalCrossentropy { from_logits: false },
            p.as_slice().unwrap(),
            &y,
            Activation::Softmax,
        );
        let labels = ndarray::arr1(&[1.0f32, 0.0, 3.0]);
        let mut g2 = Array2::zeros((3, 4));
        let (_, at) = Loss::SparseCategoricalCrossentropy { from_logits: false }
            .loss_and_grad(
                p.view().into_dyn(),
                labels.view().into_dyn(),
                Activation::Softmax,
                g2.view_mut().into_dyn(),
            )
            .unwrap();
        assert_eq!(at, GradAt::Logits);
        assert!(g1.iter().zip(g2.iter()).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn known_values_and_stability() {
        let o = arr2(&[[0.0f32, 2.0]]).into_dyn();
        let t = arr2(&[[1.0f32, 1.0]]).into_dyn();
        assert!(
            (Loss::Mse
                .loss_value(o.view(), t.view(), Activation::Linear)
                .unwrap()
                - 1.0)
                .abs()
                < 1e-6
        );
        assert!(
            (Loss::Mae
                .loss_value(o.view(), t.view(), Activation::Linear)
                .unwrap()
                - 1.0)
                .abs()
                < 1e-6
        );
        // Huber with delta 0.5 on |d| = 1: 0.5 * (1 - 0.25) = 0.375.
        let h = Loss::Huber { delta: 0.5 }
            .loss_value(o.view(), t.view(), Activation::Linear)
            .unwrap();
        assert!((h - 0.375).abs() < 1e-6);
        // Huge logits stay finite and exact.
        let z = arr2(&[[1000.0f32, -1000.0]]).into_dyn();
        let y = arr2(&[[0.0f32, 1.0]]).into_dyn();
        let cce = Loss::CategoricalCrossentropy { from_logits: true }
            .loss_value(z.view(), y.view(), Activation::Linear)
            .unwrap();
        assert!((cce - 2000.0).abs() < 1e-2, "{cce}");
        let bce = Loss::BinaryCrossentropy { from_logits: true }
            .loss_value(z.view(), y.view(), Activation::Linear)
            .unwrap();
        assert!((bce - 1000.0).abs() < 1e-2, "{bce}");
    }

    #[test]
    fn multi_label_sigmoid_bce_is_per_element() {
        // Two samples, three independent labels each.
        let p = arr2(&[[0.9f32, 0.2, 0.7], [0.1, 0.8, 0.6]]);
        let y = arr2(&[[1.0f32, 0.0, 1.0], [0.0, 1.0, 0.0]]);
        let l = Loss::BinaryCrossentropy { from_logits: false }
            .loss_value(
                p.view().into_dyn(),
                y.view().into_dyn(),
                Activation::Sigmoid,
            )
            .unwrap();
        let want = -[0.9f32, 0.8, 0.7, 0.9, 0.8, 0.4]
            .iter()
            .map(|v| v.ln())
            .sum::<f32>()
            / 6.0;
        assert!((l - want).abs() < 1e-6);
    }

    #[test]
    fn bad_targets_are_errors_not_panics() {
        let o = Array2::<f32>::zeros((2, 3)).into_dyn();
        let mut g = Array2::<f32>::zeros((2, 3)).into_dyn();
        let sparse = Loss::SparseCategoricalCrossentropy { from_logits: true };
        let bad_label = ndarray::arr1(&[1.0f32, 3.0]).into_dyn();
        let err = sparse
            .loss_and_grad(o.view(), bad_label.view(), Activation::Linear, g.view_mut())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sparse_categorical_crossentropy: label 3 at row 1 is not a class index in 0..3"
        );
        let fractional = ndarray::arr1(&[0.5f32, 1.0]).into_dyn();
        assert!(sparse
            .loss_value(o.view(), fractional.view(), Activation::Linear)
            .is_err());
        let wrong = Array2::<f32>::zeros((2, 2)).into_dyn();
        let err = Loss::Mse
            .loss_value(o.view(), wrong.view(), Activation::Linear)
            .unwrap_err();
        assert!(err.to_string().contains("[2, 3]"), "{err}");
        let empty = ndarray::ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
        assert!(Loss::Mse
            .loss_value(empty.view(), empty.view(), Activation::Linear)
            .is_err());
    }
}
