//! The gradient of a loss with respect to every parameter, for users who
//! need it outside [`crate::fit`]: custom training loops, gradient checks,
//! saliency, research code. It runs exactly what a training step runs
//! (forward in training mode, the loss with its fused gradient at the
//! logits where there is one, the generated backward, L1/L2 penalties),
//! without the optimizer update.

use crate::loss::LossExt;
use crate::{Error, Loss, Model, Param, Result};
use ndarray::{ArrayD, ArrayViewD};

/// One batch's loss and the gradient of each parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// The mean loss over the batch, plus the L1/L2 penalties (what `fit` minimises).
    pub loss: f32,
    /// Every parameter's gradient, in [`Model::visit_params`] order.
    pub params: Vec<ParamGradient>,
}

/// The gradient of one parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGradient {
    /// The parameter's name, e.g. `dense1.weight`.
    pub name: String,
    /// Its shape, e.g. `[784, 128]`.
    pub shape: Vec<usize>,
    /// `d loss / d parameter`, row-major; zeros for a frozen parameter,
    /// whose gradient backward does not compute.
    pub grad: Vec<f32>,
    /// Whether the parameter is trained (`false` for a frozen layer).
    pub trainable: bool,
}

impl Gradients {
    /// The gradient of the parameter called `name`, e.g. `dense1.weight`.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.grad.as_slice())
    }
}

/// The loss of `model` on the batch `(x, y)` and its gradient with respect
/// to every parameter. The model runs in training mode, as in a training
/// step, so dropout is active: call [`Model::reseed`] first for a
/// reproducible mask. The parameters are not changed.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::{gradients, sequential::Sequential, Activation, Loss};
/// use nnc::ndarray::array;
/// let mut model = Sequential::builder(&[2]).dense(1, Activation::Linear).build(0).unwrap();
/// let x = array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn();
/// let y = array![[1.0f32], [0.0]].into_dyn();
/// let g = gradients(&mut model, Loss::Mse, x.view(), y.view()).unwrap();
/// assert_eq!(g.get("dense1.weight").unwrap().len(), 2);
/// assert!(g.loss > 0.0);
/// ```
///
/// # Errors
/// [`Error::Shape`] if `x` or `y` does not fit the model (the batch axis
/// first), [`Error::Label`] for a bad class index, [`Error::NonFinite`] for
/// a NaN or infinite loss.
pub fn gradients(
    model: &mut dyn Model,
    loss: Loss,
    x: ArrayViewD<'_, f32>,
    y: ArrayViewD<'_, f32>,
) -> Result<Gradients> {
    let act = model.output_activation();
    let (value, at, grad) = {
        let out = model.forward(x, true)?;
        let mut grad = ArrayD::<f32>::zeros(out.raw_dim());
        let (value, at) = loss.loss_and_grad(out.view(), y, act, grad.view_mut())?;
        (value, at, grad)
    };
    let value = value + model.penalty();
    if !value.is_finite() {
        return Err(Error::NonFinite {
            what: "loss",
            value,
            epoch: 0,
            batch: 0,
        });
    }
    model.backward(grad.view(), at)?;
    let mut params = Vec::new();
    model.visit_params(&mut |p: Param<'_>| {
        params.push(ParamGradient {
            name: p.name.to_string(),
            shape: p.shape.to_vec(),
            grad: p.grad.to_vec(),
            trainable: p.trainable,
        })
    });
    Ok(Gradients {
        loss: value,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequential::Sequential;
    use crate::Activation;
    use ndarray::{Array1, Array2};

    /// Each gradient agrees with a central finite difference of the loss.
    #[test]
    fn gradients_match_finite_differences_for_each_loss() {
        let x =
            Array2::from_shape_fn((5, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin()).into_dyn();
        let labels = Array1::from(vec![0.0f32, 2.0, 1.0, 2.0, 0.0]).into_dyn();
        let onehot = crate::data::transform::one_hot(labels.view(), 3).unwrap();
        let reals =
            Array2::from_shape_fn((5, 3), |(i, j)| ((i + 2 * j) as f32 * 0.21).cos()).into_dyn();
        let cases: Vec<(Activation, Loss, ArrayD<f32>)> = vec![
            (Activation::Linear, Loss::Mse, reals.clone()),
            (
                Activation::Softmax,
                Loss::CategoricalCrossentropy { from_logits: false },
                onehot.clone(),
            ),
            (
                Activation::Linear,
                Loss::SparseCategoricalCrossentropy { from_logits: true },
                labels.clone(),
            ),
            (
                Activation::Sigmoid,
                Loss::BinaryCrossentropy { from_logits: false },
                onehot,
            ),
        ];
        for (act, loss, y) in cases {
            let mut model = Sequential::builder(&[3])
                .dense(4, Activation::Tanh)
                .dense(3, act)
                .build(3)
                .unwrap();
            let g = gradients(&mut model, loss, x.view(), y.view()).unwrap();
            let loss_at = |model: &mut Sequential| {
                let out = model.forward(x.view(), false).unwrap().to_owned();
                let mut scratch = ArrayD::zeros(out.raw_dim());
                loss.loss_and_grad(out.view(), y.view(), act, scratch.view_mut())
                    .unwrap()
                    .0
            };
            for p in &g.params {
                for k in 0..p.grad.len() {
                    let h = 1e-2f32;
                    let nudge = |model: &mut Sequential, d: f32| {
                        model.visit_params(&mut |q: Param<'_>| {
                            if q.name == p.name {
                                q.value[k] += d;
                            }
                        })
                    };
                    nudge(&mut model, h);
                    let up = loss_at(&mut model);
                    nudge(&mut model, -2.0 * h);
                    let down = loss_at(&mut model);
                    nudge(&mut model, h);
                    let fd = (up - down) / (2.0 * h);
                    assert!(
                        (fd - p.grad[k]).abs() <= 2e-3 + 2e-2 * fd.abs(),
                        "{loss:?} {} [{k}]: analytic {} vs finite difference {fd}",
                        p.name,
                        p.grad[k]
                    );
                }
            }
        }
    }

    #[test]
    fn a_batch_of_the_wrong_shape_is_an_error() {
        let mut model = Sequential::builder(&[3])
            .dense(2, Activation::Linear)
            .build(0)
            .unwrap();
        let x = Array2::<f32>::zeros((4, 5)).into_dyn();
        let y = Array2::<f32>::zeros((4, 2)).into_dyn();
        assert!(gradients(&mut model, Loss::Mse, x.view(), y.view()).is_err());
    }
}
