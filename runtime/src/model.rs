//! The contract between generated code and the runtime.
//!
//! `nnc` generates, for every network in a spec, a struct that implements
//! [`Model`]: a forward pass that keeps what the backward pass needs, a
//! backward pass derived at compile time, and a way to visit every parameter
//! with its gradient. The training loop, the optimizers, the metrics and the
//! weights I/O only ever talk to a network through this trait, so a network
//! written by hand from the kernels trains exactly like a generated one.
//!
//! # The shape convention
//! Every batch tensor is `[batch, ..per-sample shape]`, row-major (standard
//! layout). [`Model::input_shape`] and [`Model::output_shape`] give the
//! per-sample shapes without the batch axis.

use crate::{Activation, Result};
use ndarray::ArrayViewD;

/// What the gradient handed to [`Model::backward`] is taken with respect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradAt {
    /// The network's output (after its final activation).
    Output,
    /// The input of the final activation layer (the "logits"). The training
    /// loop uses this for fused gradients: softmax + categorical cross-entropy
    /// and sigmoid + binary cross-entropy both give `p - y` here, which is
    /// cheaper and more accurate than going through the activation's Jacobian.
    /// The model then skips the backward of its final activation.
    Logits,
}

/// One parameter tensor and its gradient, as [`Model::visit_params`] lends it.
///
/// Both slices are the tensor's elements in row-major order.
#[derive(Debug)]
pub struct Param<'a> {
    /// Position of this parameter in visiting order; stable for a given
    /// network, so optimizers can key their per-parameter state on it.
    pub index: usize,
    /// Name after the layer, e.g. `dense1.weight`; used as the tensor name in
    /// weight files. (Generated code lends `&'static` names; a network built
    /// at run time, like [`crate::sequential::Sequential`], lends its own.)
    pub name: &'a str,
    /// Shape of the tensor, e.g. `[784, 128]` for a dense kernel (inputs × units).
    pub shape: &'a [usize],
    /// The values, which an optimizer updates in place.
    pub value: &'a mut [f32],
    /// The gradient of the loss (including regularisation penalties) from the
    /// last [`Model::backward`]; all zeros before the first.
    pub grad: &'a [f32],
    /// `false` for a frozen layer (`trainable = false`): optimizers leave it
    /// alone and backward computes no gradient for it.
    pub trainable: bool,
}

/// One row of a model summary, as Keras' `model.summary()` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Layer name, e.g. `dense1`.
    pub name: String,
    /// Layer kind as written in the spec, e.g. `dense(64) relu`.
    pub kind: String,
    /// Per-sample output shape.
    pub output_shape: Vec<usize>,
    /// Number of scalar parameters.
    pub params: usize,
    /// Whether those parameters are trained.
    pub trainable: bool,
}

/// The loss step of [`Model::train_pass`]: reads the network's output,
/// writes the loss gradient with respect to it into the slice and says
/// what that gradient is taken at.
pub type PassLoss<'a> = dyn FnMut(ArrayViewD<'_, f32>, &mut [f32]) -> Result<GradAt> + 'a;

/// A trainable network: what nnc generates for each `network` in a spec.
pub trait Model {
    /// The network's name in the spec.
    ///
    /// Generated code may return `&'static str` here (and `&'static [usize]`
    /// below): an impl may promise a longer lifetime than the trait asks.
    fn name(&self) -> &str;

    /// Per-sample input shape (no batch axis).
    fn input_shape(&self) -> &[usize];

    /// Per-sample output shape (no batch axis).
    fn output_shape(&self) -> &[usize];

    /// The activation applied last, which decides whether a loss can use a
    /// fused gradient (see [`GradAt::Logits`]).
    fn output_activation(&self) -> Activation;

    /// Runs the network on a batch `x` of shape `[n, ..input_shape]` and
    /// returns the output, `[n, ..output_shape]`.
    ///
    /// With `training` set, dropout is active and the activations that
    /// [`Model::backward`] needs are kept. A batch of the wrong shape is an
    /// [`Error::Shape`](crate::Error::Shape), never a panic. Buffers are sized
    /// on the first call (or when `n` grows) and reused after that.
    fn forward(&mut self, x: ArrayViewD<'_, f32>, training: bool) -> Result<ArrayViewD<'_, f32>>;

    /// Backpropagates `grad` (shape `[n, ..output_shape]`, `n` as in the last
    /// training forward) and stores every trainable parameter's gradient,
    /// regularisation terms included. `grad` is already divided by the batch
    /// size where the loss is a mean.
    fn backward(&mut self, grad: ArrayViewD<'_, f32>, at: GradAt) -> Result<()>;

    /// One training pass over the batch `x`: [`Model::forward`] in training
    /// mode, then `loss`, which reads the output, writes the loss gradient
    /// with respect to it into the slice it is handed (`grad`, exactly the
    /// output's length, row-major) and says what that gradient is taken at;
    /// then [`Model::backward`] from it. An error from `loss` (a non-finite
    /// loss, say) ends the pass before the backward one.
    ///
    /// The result is that of calling the three in turn, which is what this
    /// default does. Generated networks override it to read a contiguous `x`
    /// where it lies in both passes: `forward` alone must copy it, since
    /// `backward` reads it after the borrow has ended (a 200 KB copy in
    /// every step of a 784-input network at batch 64).
    fn train_pass(
        &mut self,
        x: ArrayViewD<'_, f32>,
        grad: &mut [f32],
        loss: &mut PassLoss<'_>,
    ) -> Result<()> {
        let (at, n) = {
            let out = self.forward(x, true)?;
            let n = out.shape().first().copied().unwrap_or(0);
            (loss(out, grad)?, n)
        };
        let g = crate::support::batch_view(grad, n, self.output_shape())?;
        self.backward(g, at)
    }

    /// The regularisation penalty (L1/L2 terms of the spec) at the current
    /// parameters, to add to the data loss.
    fn penalty(&self) -> f32;

    /// Lends each parameter with its gradient, in a fixed order.
    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>));

    /// Reseeds the random stream used by dropout.
    fn reseed(&mut self, seed: u64);

    /// One row per layer, for summaries.
    fn layers(&self) -> Vec<LayerInfo>;

    /// The inference graph (layers, settings and parameter names), which
    /// exporters such as `nnc::onnx` read. Generated networks return the
    /// graph of their spec; the default, for networks assembled otherwise,
    /// is `None`.
    fn graph(&self) -> Option<crate::graph::Graph> {
        None
    }
}
