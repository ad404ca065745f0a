//! A dense network assembled at run time from the kernels.
//!
//! [`Sequential`] is what nnc generates, written by hand: a stack of dense
//! and dropout layers with a workspace sized once for the largest batch seen
//! and reused after that. It is useful without the compiler (networks whose
//! shape is only known at run time), in the runtime's own tests of training,
//! optimizers and I/O, and as the baseline that generated code is measured against.
//!
//! ```
//! # extern crate nnc_runtime as nnc;
//! use nnc::{sequential::Sequential, Activation};
//! let model = Sequential::builder(&[4])
//!     .dense(8, Activation::Relu)
//!     .dropout(0.1)
//!     .dense(3, Activation::Softmax)
//!     .build(42)
//!     .unwrap();
//! assert_eq!(model.param_count(), 4 * 8 + 8 + 8 * 3 + 3);
//! ```

use crate::init::{fill, Init};
use crate::kernels::{dense, dropout, penalty, Grad};
use crate::{Activation, Error, GradAt, LayerInfo, Model, Param, Result, Rng};
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2};

/// A layer description, before building.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// `dense(units) act`.
    Dense {
        /// Output width.
        units: usize,
        /// Activation fused with the bias add.
        activation: Activation,
        /// Kernel initialiser.
        init: Init,
        /// L1 penalty on the kernel.
        l1: f32,
        /// L2 penalty on the kernel.
        l2: f32,
        /// `false` to freeze the layer.
        trainable: bool,
    },
    /// Inverted dropout with this rate.
    Dropout(f32),
}

/// Builds a [`Sequential`]; see the module example.
#[derive(Debug, Clone)]
pub struct SequentialBuilder {
    input_shape: Vec<usize>,
    layers: Vec<LayerSpec>,
}

impl SequentialBuilder {
    /// Appends `dense(units) activation` with Glorot-uniform weights and zero biases.
    pub fn dense(mut self, units: usize, activation: Activation) -> Self {
        self.layers.push(LayerSpec::Dense {
            units,
            activation,
            init: Init::GlorotUniform,
            l1: 0.0,
            l2: 0.0,
            trainable: true,
        });
        self
    }

    /// Appends a dropout layer.
    pub fn dropout(mut self, rate: f32) -> Self {
        self.layers.push(LayerSpec::Dropout(rate));
        self
    }

    /// Appends any layer.
    pub fn layer(mut self, spec: LayerSpec) -> Self {
        self.layers.push(spec);
        self
    }

    /// Sets the kernel initialiser of the last dense layer.
    pub fn init(mut self, new: Init) -> Self {
        if let Some(LayerSpec::Dense { init, .. }) = self.last_dense() {
            *init = new;
        }
        self
    }

    /// Sets the L1 and L2 penalties of the last dense layer's kernel.
    pub fn regularize(mut self, new_l1: f32, new_l2: f32) -> Self {
        if let Some(LayerSpec::Dense { l1, l2, .. }) = self.last_dense() {
            (*l1, *l2) = (new_l1, new_l2);
        }
        self
    }

    /// Freezes the last dense layer.
    pub fn frozen(mut self) -> Self {
        if let Some(LayerSpec::Dense { trainable, .. }) = self.last_dense() {
            *trainable = false;
        }
        self
    }

    fn last_dense(&mut self) -> Option<&mut LayerSpec> {
        self.layers
            .iter_mut()
            .rev()
            .find(|l| matches!(l, LayerSpec::Dense { .. }))
    }

    /// Builds the network, initialising weights from `seed`.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty input shape, a layer with 0 units, a
    /// dropout rate outside `[0, 1)` or a network with no dense layer.
    pub fn build(self, seed: u64) -> Result<Sequential> {
        let in_dim: usize = self.input_shape.iter().product();
        if self.input_shape.is_empty() || in_dim == 0 {
            return Err(Error::Config(format!(
                "input shape {:?} has no elements",
                self.input_shape
            )));
        }
        let mut rng = Rng::seed_from(seed);
        let mut layers = Vec::new();
        let (mut width, mut n_dense, mut n_drop) = (in_dim, 0, 0);
        for spec in &self.layers {
            match *spec {
                LayerSpec::Dense {
                    units,
                    activation,
                    init,
                    l1,
                    l2,
                    trainable,
                } => {
                    if units == 0 {
                        return Err(Error::Config(format!(
                            "dense layer {} has 0 units",
                            n_dense + 1
                        )));
                    }
                    n_dense += 1;
                    let mut w = Array2::zeros((width, units));
                    if let Some(ws) = w.as_slice_mut() {
                        fill(init, width, units, ws, &mut rng);
                    }
                    let name = format!("dense{n_dense}");
                    layers.push(Layer {
                        kind: Kind::Dense(Box::new(DenseLayer {
                            w_name: format!("{name}.weight"),
                            b_name: format!("{name}.bias"),
                            w_shape: [width, units],
                            b_shape: [units],
                            dw: Array2::zeros((width, units)),
                            w,
                            b: Array1::zeros(units),
                            db: Array1::zeros(units),
                            act: activation,
                            l1,
                            l2,
                            trainable,
                            pre: Array2::zeros((0, units)),
                        })),
                        name,
                        width: units,
                        out: Array2::zeros((0, units)),
                        grad: Array2::zeros((0, units)),
                    });
                    width = units;
                }
                LayerSpec::Dropout(rate) => {
                    if !(0.0..1.0).contains(&rate) {
                        return Err(Error::Config(format!(
                            "dropout rate {rate} is outside [0, 1)"
                        )));
                    }
                    n_drop += 1;
                    layers.push(Layer {
                        kind: Kind::Dropout {
                            rate,
                            mask: Array2::zeros((0, width)),
                        },
                        name: format!("dropout{n_drop}"),
                        width,
                        out: Array2::zeros((0, width)),
                        grad: Array2::zeros((0, width)),
                    });
                }
            }
        }
        if n_dense == 0 {
            return Err(Error::Config(
                "a network needs at least one dense layer".into(),
            ));
        }
        Ok(Sequential {
            input_shape: self.input_shape,
            output_shape: vec![width],
            in_dim,
            layers,
            x: Array2::zeros((0, in_dim)),
            n: 0,
            rng: Rng::seed_from(seed ^ 0x5eed),
        })
    }
}

#[derive(Debug, Clone)]
struct DenseLayer {
    w_name: String,
    b_name: String,
    w_shape: [usize; 2],
    b_shape: [usize; 1],
    /// `[in, out]`
    w: Array2<f32>,
    /// `[out]`
    b: Array1<f32>,
    dw: Array2<f32>,
    db: Array1<f32>,
    act: Activation,
    l1: f32,
    l2: f32,
    trainable: bool,
    /// Pre-activation `[capacity, out]`, kept only when the activation's backward needs it.
    pre: Array2<f32>,
}

#[derive(Debug, Clone)]
enum Kind {
    Dense(Box<DenseLayer>),
    Dropout { rate: f32, mask: Array2<f32> },
}

#[derive(Debug, Clone)]
struct Layer {
    kind: Kind,
    name: String,
    width: usize,
    /// Output `[capacity, width]`; the first `n` rows are the current batch.
    out: Array2<f32>,
    /// Gradient w.r.t. `out`, same shape.
    grad: Array2<f32>,
}

/// A stack of dense and dropout layers; see the module documentation.
#[derive(Debug, Clone)]
pub struct Sequential {
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    in_dim: usize,
    layers: Vec<Layer>,
    /// Copy of the input batch `[capacity, in_dim]`, which the first layer's backward needs.
    x: Array2<f32>,
    /// Rows in the current batch.
    n: usize,
    rng: Rng,
}

impl Sequential {
    /// Starts a network whose samples have `input_shape` (flattened on entry).
    pub fn builder(input_shape: &[usize]) -> SequentialBuilder {
        SequentialBuilder {
            input_shape: input_shape.to_vec(),
            layers: Vec::new(),
        }
    }

    /// Number of scalar parameters.
    pub fn param_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| match &l.kind {
                Kind::Dense(d) => d.w.len() + d.b.len(),
                Kind::Dropout { .. } => 0,
            })
            .sum()
    }

    /// Grows the workspace to hold `n` rows; allocates only when `n` exceeds
    /// every batch seen so far.
    fn reserve(&mut self, n: usize) {
        if self.x.nrows() >= n {
            return;
        }
        self.x = Array2::zeros((n, self.in_dim));
        for l in &mut self.layers {
            l.out = Array2::zeros((n, l.width));
            l.grad = Array2::zeros((n, l.width));
            match &mut l.kind {
                Kind::Dense(d) => {
                    if d.act.backward_needs_input() {
                        d.pre = Array2::zeros((n, l.width));
                    }
                }
                Kind::Dropout { mask, .. } => *mask = Array2::zeros((n, l.width)),
            }
        }
    }
}

impl Model for Sequential {
    fn name(&self) -> &str {
        "sequential"
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn output_activation(&self) -> Activation {
        match self.layers.last().map(|l| &l.kind) {
            Some(Kind::Dense(d)) => d.act,
            _ => Activation::Linear,
        }
    }

    fn forward(&mut self, x: ArrayViewD<'_, f32>, training: bool) -> Result<ArrayViewD<'_, f32>> {
        if x.ndim() != self.input_shape.len() + 1 || x.shape()[1..] != self.input_shape[..] {
            let mut want = vec![usize::MAX];
            want.extend_from_slice(&self.input_shape);
            return Err(Error::shape("sequential input", &want, x.shape()));
        }
        let n = x.shape()[0];
        self.reserve(n);
        self.n = n;
        // A contiguous batch is one memcpy; any other layout is copied in
        // logical order (slowly: element-wise iteration over a dynamic-rank view).
        let mut dst = self.x.slice_mut(s![..n, ..]);
        match (x.as_slice(), dst.as_slice_mut()) {
            (Some(src), Some(d)) => d.copy_from_slice(src),
            _ => dst.iter_mut().zip(x.iter()).for_each(|(d, &v)| *d = v),
        }
        for i in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(i);
            let input: ArrayView2<'_, f32> = match before.last() {
                Some(prev) => prev.out.slice(s![..n, ..]),
                None => self.x.slice(s![..n, ..]),
            };
            let layer = &mut rest[0];
            let out = layer.out.slice_mut(s![..n, ..]);
            match &mut layer.kind {
                Kind::Dense(d) => {
                    let pre = d
                        .act
                        .backward_needs_input()
                        .then(|| d.pre.slice_mut(s![..n, ..]));
                    let desc = dense::Dense {
                        inputs: d.w.nrows(),
                        units: d.w.ncols(),
                        act: d.act,
                    };
                    desc.forward(dense::Forward {
                        x: input,
                        w: d.w.view(),
                        b: Some(d.b.view()),
                        pre,
                        y: out,
                    });
                }
                Kind::Dropout { rate, mask } => {
                    let rate = if training { *rate } else { 0.0 };
                    dropout::Dropout { rate }.forward(
                        input,
                        mask.slice_mut(s![..n, ..]),
                        out,
                        &mut self.rng,
                    );
                }
            }
        }
        let last = self.layers.last().map(|l| l.out.slice(s![..n, ..]));
        let out = last.unwrap_or_else(|| self.x.slice(s![..n, ..]));
        Ok(out.into_dyn())
    }

    fn backward(&mut self, grad: ArrayViewD<'_, f32>, at: GradAt) -> Result<()> {
        let n = self.n;
        let grad = grad
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::shape("sequential backward", &[n, self.output_shape[0]], &[]))?;
        if grad.dim() != (n, self.output_shape[0]) {
            return Err(Error::shape(
                "sequential backward gradient",
                &[n, self.output_shape[0]],
                grad.shape(),
            ));
        }
        let last = self.layers.len() - 1;
        self.layers[last].grad.slice_mut(s![..n, ..]).assign(&grad);
        for i in (0..self.layers.len()).rev() {
            let (before, rest) = self.layers.split_at_mut(i);
            let layer = &mut rest[0];
            let (input, dx): (ArrayView2<'_, f32>, Option<ArrayViewMut2<'_, f32>>) =
                match before.last_mut() {
                    Some(prev) => (
                        prev.out.slice(s![..n, ..]),
                        Some(prev.grad.slice_mut(s![..n, ..])),
                    ),
                    None => (self.x.slice(s![..n, ..]), None),
                };
            let dy = layer.grad.slice_mut(s![..n, ..]);
            match &mut layer.kind {
                Kind::Dense(d) => {
                    let skip = i == last && at == GradAt::Logits;
                    let pre = d
                        .act
                        .backward_needs_input()
                        .then(|| d.pre.slice(s![..n, ..]));
                    let (dw, db) = if d.trainable {
                        (Some(d.dw.view_mut()), Some(d.db.view_mut()))
                    } else {
                        (None, None)
                    };
                    let desc = dense::Dense {
                        inputs: d.w.nrows(),
                        units: d.w.ncols(),
                        act: d.act,
                    };
                    desc.backward(
                        dense::Backward {
                            x: input,
                            w: d.w.view(),
                            y: layer.out.slice(s![..n, ..]),
                            pre,
                            dy,
                            at_logits: skip,
                        },
                        dense::Grads {
                            dw,
                            db,
                            dx: dx.map(Grad::Write),
                        },
                    );
                    if d.trainable && (d.l1 != 0.0 || d.l2 != 0.0) {
                        penalty::add_grad(d.l1, d.l2, d.w.view(), d.dw.view_mut());
                    }
                }
                Kind::Dropout { rate, mask } => {
                    if let Some(dx) = dx {
                        dropout::Dropout { rate: *rate }.backward(
                            mask.slice(s![..n, ..]),
                            dy.view(),
                            Grad::Write(dx),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn penalty(&self) -> f32 {
        self.layers
            .iter()
            .map(|l| match &l.kind {
                Kind::Dense(d) if d.l1 != 0.0 || d.l2 != 0.0 => {
                    penalty::value(d.l1, d.l2, d.w.view())
                }
                _ => 0.0,
            })
            .sum()
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        let mut index = 0;
        for l in &mut self.layers {
            let Kind::Dense(d) = &mut l.kind else {
                continue;
            };
            // Owned arrays built with `zeros` are always contiguous.
            if let (Some(value), Some(grad)) = (d.w.as_slice_mut(), d.dw.as_slice()) {
                f(Param {
                    index,
                    name: &d.w_name,
                    shape: &d.w_shape,
                    value,
                    grad,
                    trainable: d.trainable,
                });
            }
            if let (Some(value), Some(grad)) = (d.b.as_slice_mut(), d.db.as_slice()) {
                f(Param {
                    index: index + 1,
                    name: &d.b_name,
                    shape: &d.b_shape,
                    value,
                    grad,
                    trainable: d.trainable,
                });
            }
            index += 2;
        }
    }

    fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from(seed ^ 0x5eed);
    }

    fn layers(&self) -> Vec<LayerInfo> {
        self.layers
            .iter()
            .map(|l| match &l.kind {
                Kind::Dense(d) => LayerInfo {
                    name: l.name.clone(),
                    kind: format!("dense({}) {}", l.width, d.act),
                    output_shape: vec![l.width],
                    params: d.w.len() + d.b.len(),
                    trainable: d.trainable,
                },
                Kind::Dropout { rate, .. } => LayerInfo {
                    name: l.name.clone(),
                    kind: format!("dropout({rate})"),
                    output_shape: vec![l.width],
                    params: 0,
                    trainable: true,
                },
            })
            .collect()
    }
}

/// Keras-style summary of any model: one row per layer, then the totals.
pub fn summary(model: &dyn Model) -> String {
    let layers = model.layers();
    let mut s = format!(
        "Model: {} (input {:?})\n",
        model.name(),
        model.input_shape()
    );
    s += &format!(
        "{:<12} {:<28} {:<14} {:>10}\n",
        "layer", "kind", "output", "params"
    );
    let (mut total, mut trainable) = (0, 0);
    for l in &layers {
        s += &format!(
            "{:<12} {:<28} {:<14} {:>10}\n",
            l.name,
            l.kind,
            format!("{:?}", l.output_shape),
            l.params
        );
        total += l.params;
        if l.trainable {
            trainable += l.params;
        }
    }
    s += &format!(
        "total params: {total} (trainable {trainable}, frozen {})\n",
        total - trainable
    );
    s
}

// The batch axis is axis 0 throughout.
const _: Axis = Axis(0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, vec};
    use crate::{Loss, LossExt};
    use ndarray::{Array2, ArrayD, IxDyn};

    fn params(m: &mut Sequential) -> Vec<f32> {
        let mut v = Vec::new();
        m.visit_params(&mut |p| v.extend_from_slice(p.value));
        v
    }

    fn set_params(m: &mut Sequential, v: &[f32]) {
        let mut off = 0;
        m.visit_params(&mut |p| {
            let len = p.value.len();
            p.value.copy_from_slice(&v[off..off + len]);
            off += len;
        });
    }

    fn loss_at(m: &mut Sequential, loss: Loss, x: &ArrayD<f32>, y: &ArrayD<f32>) -> f64 {
        let act = m.output_activation();
        let out = m.forward(x.view(), false).unwrap();
        (loss.loss_value(out, y.view(), act).unwrap() + m.penalty()) as f64
    }

    /// The whole network's parameter gradient, through every layer kind, the
    /// fused and unfused loss paths and the penalties, against finite differences.
    #[test]
    fn network_gradient_matches_finite_differences() {
        let x = ArrayD::from_shape_vec(IxDyn(&[5, 2, 2]), vec(20, 1)).unwrap();
        let onehot = Array2::from_shape_fn((5, 3), |(i, j)| f32::from(i % 3 == j)).into_dyn();
        for (out_act, loss) in [
            (
                Activation::Softmax,
                Loss::CategoricalCrossentropy { from_logits: false },
            ),
            (Activation::Tanh, Loss::Mse),
            (
                Activation::Sigmoid,
                Loss::BinaryCrossentropy { from_logits: false },
            ),
        ] {
            let mut m = Sequential::builder(&[2, 2])
                .dense(6, Activation::Gelu)
                // L2 only: L1's kink at 0 defeats finite differences (the penalty kernel test covers it).
                .regularize(0.0, 0.02)
                .dense(5, Activation::Elu { alpha: 1.0 })
                .dense(3, out_act)
                .build(3)
                .unwrap();
            let out = m.forward(x.view(), true).unwrap().to_owned();
            let mut g = ArrayD::zeros(out.raw_dim());
            let (_, at) = loss
                .loss_and_grad(out.view(), onehot.view(), out_act, g.view_mut())
                .unwrap();
            m.backward(g.view(), at).unwrap();
            let mut grads = Vec::new();
            m.visit_params(&mut |p| grads.extend_from_slice(p.grad));
            let p0 = params(&mut m);
            check(loss.name(), &p0, &grads, |p| {
                let mut m2 = m.clone();
                set_params(&mut m2, p);
                loss_at(&mut m2, loss, &x, &onehot)
            });
        }
    }

    #[test]
    fn frozen_layers_get_no_gradient_and_shapes_are_checked() {
        let mut m = Sequential::builder(&[3])
            .dense(4, Activation::Relu)
            .frozen()
            .dense(2, Activation::Linear)
            .build(1)
            .unwrap();
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec(6, 2)).unwrap();
        m.forward(x.view(), true).unwrap();
        let g = ArrayD::from_elem(IxDyn(&[2, 2]), 1.0f32);
        m.backward(g.view(), GradAt::Output).unwrap();
        let mut seen = Vec::new();
        m.visit_params(&mut |p| {
            seen.push((
                p.name.to_string(),
                p.trainable,
                p.grad.iter().any(|&v| v != 0.0),
            ))
        });
        assert_eq!(seen[0], ("dense1.weight".into(), false, false));
        assert!(seen[2].1 && seen[2].2);
        let bad = ArrayD::<f32>::zeros(IxDyn(&[2, 4]));
        let err = m.forward(bad.view(), false).unwrap_err().to_string();
        assert!(err.contains("[2, 4]"), "{err}");
        assert!(Sequential::builder(&[3])
            .dense(0, Activation::Relu)
            .build(0)
            .is_err());
        assert!(Sequential::builder(&[3])
            .dropout(1.0)
            .dense(1, Activation::Relu)
            .build(0)
            .is_err());
        assert!(
            summary(&m).contains("total params: 26 (trainable 10, frozen 16)"),
            "{}",
            summary(&m)
        );
    }

    #[test]
    fn dropout_is_active_only_in_training_and_seeded() {
        let mut m = Sequential::builder(&[50])
            .dropout(0.5)
            .dense(1, Activation::Linear)
            .init(Init::Ones)
            .build(0)
            .unwrap();
        let x = ArrayD::from_elem(IxDyn(&[1, 50]), 1.0f32);
        let eval = m.forward(x.view(), false).unwrap()[[0, 0]];
        assert_eq!(eval, 50.0);
        m.reseed(9);
        let a = m.forward(x.view(), true).unwrap()[[0, 0]];
        m.reseed(9);
        let b = m.forward(x.view(), true).unwrap()[[0, 0]];
        assert_eq!(a, b);
        assert_ne!(a, 50.0);
    }
}
