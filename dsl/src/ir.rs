//! The checked intermediate representation: what [`crate::check()`] produces
//! and the code generator consumes.
//!
//! Everything here has been validated: every shape is concrete and proven,
//! every argument is in range, defaults are filled in. The code generator
//! never needs to report an error about a spec.

use crate::span::Span;

/// A per-sample tensor shape (no batch axis), e.g. `[28, 28]`.
pub type Shape = Vec<usize>;

/// All networks of one spec, in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The networks.
    pub networks: Vec<Network>,
}

/// One checked `network` with its optional `train` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Name as written, e.g. `Mnist`; a valid Rust type name.
    pub name: String,
    /// The whole definition.
    pub span: Span,
    /// `///` doc comment lines before the definition, without the `///`.
    pub docs: Vec<String>,
    /// The signature's input; one for sequential networks.
    pub input: Input,
    /// The declared (and proven) output shape.
    pub output: Shape,
    /// Layers in order; `layers[0]` consumes the input.
    pub layers: Vec<Layer>,
    /// The `train` block for this network, if the spec has one.
    pub train: Option<Train>,
}

/// A named, shaped input of a network signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Name as written, e.g. `image`.
    pub name: String,
    /// Per-sample shape.
    pub shape: Shape,
}

/// One layer with its inferred shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Unique name within the network, e.g. `dense1`, `dropout2`: the kind
    /// followed by a 1-based count per kind, or `name = "..."` from the spec.
    /// Parameter tensors are named `<layer>.weight` and `<layer>.bias`.
    pub name: String,
    /// The layer as written in the spec, whitespace-normalised, e.g.
    /// `dense(64) relu`; shown in summaries.
    pub source: String,
    /// `///` doc comment lines before the layer.
    pub docs: Vec<String>,
    /// What it computes.
    pub op: Op,
    /// Per-sample input shape.
    pub input: Shape,
    /// Per-sample output shape.
    pub output: Shape,
    /// The layer in the source.
    pub span: Span,
}

/// What a layer computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Fully connected: `y = act(x W + b)`, `W` is `[in, units]`.
    Dense(Dense),
    /// A standalone activation layer.
    Activation(Activation),
    /// Collapse the per-sample shape to one axis.
    Flatten,
    /// Reinterpret the per-sample shape (same element count); the target is
    /// the layer's `output`.
    Reshape,
    /// Inverted dropout, active in training only.
    Dropout {
        /// Fraction of units zeroed, in `[0, 1)`.
        rate: f32,
    },
}

/// A dense layer's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Output width.
    pub units: usize,
    /// Activation fused into the layer (`Linear` if none was written).
    pub activation: Activation,
    /// Initialiser of the `[in, units]` kernel (default `glorot_uniform`).
    pub kernel_init: Init,
    /// Initialiser of the bias (default `zeros`).
    pub bias_init: Init,
    /// Whether there is a bias (default `true`).
    pub use_bias: bool,
    /// L1 penalty factor on the kernel (default 0).
    pub l1: f32,
    /// L2 penalty factor on the kernel (default 0): adds `l2 * sum(W^2)`.
    pub l2: f32,
    /// `false` freezes the layer (default `true`).
    pub trainable: bool,
}

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Identity.
    Linear,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Rectified linear unit.
    Relu,
    /// Leaky ReLU (default `alpha` 0.01).
    LeakyRelu {
        /// Negative slope.
        alpha: f32,
    },
    /// Exponential linear unit (default `alpha` 1.0).
    Elu {
        /// Negative scale.
        alpha: f32,
    },
    /// GELU, tanh approximation.
    Gelu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// Softmax over the last axis.
    Softmax,
}

/// A weight initialiser. `fan_in`/`fan_out` are the kernel's input and output widths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All 0.
    Zeros,
    /// All 1.
    Ones,
    /// All `value`.
    Constant(f32),
    /// Normal distribution.
    Normal {
        /// Mean (default 0).
        mean: f32,
        /// Standard deviation (default 0.05).
        std: f32,
    },
    /// Uniform distribution on `[low, high)`.
    Uniform {
        /// Lower bound (default -0.05).
        low: f32,
        /// Upper bound (default 0.05).
        high: f32,
    },
    /// Glorot/Xavier uniform: `U(±sqrt(6 / (fan_in + fan_out)))`.
    GlorotUniform,
    /// Glorot/Xavier normal: std `sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// He uniform: `U(±sqrt(6 / fan_in))`.
    HeUniform,
    /// He normal: std `sqrt(2 / fan_in)`.
    HeNormal,
    /// LeCun normal: std `sqrt(1 / fan_in)`.
    LecunNormal,
}

/// A `train` block, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    /// The block in the source.
    pub span: Span,
    /// The loss.
    pub loss: Loss,
    /// The optimizer and its hyper-parameters.
    pub optimizer: Optimizer,
    /// Mini-batch size (default 32).
    pub batch_size: usize,
    /// Passes over the training data (default 1).
    pub epochs: usize,
    /// Shuffle the training set every epoch (default `true`).
    pub shuffle: bool,
    /// Seed of initialisation, shuffling and dropout (default 0).
    pub seed: u64,
    /// Fraction of the training set held out for validation, taken from the
    /// end as Keras does (default 0).
    pub validation_split: f32,
    /// Metrics reported per epoch besides the loss, e.g. `accuracy`, `mae`.
    pub metrics: Vec<Metric>,
    /// Early stopping, if asked for.
    pub early_stopping: Option<EarlyStopping>,
    /// Clip gradients to this global L2 norm, if set.
    pub clip_norm: Option<f32>,
    /// How the learning rate changes over the epochs (default constant).
    pub schedule: Schedule,
}

/// A learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Schedule {
    /// The optimizer's rate throughout.
    #[default]
    Constant,
    /// Multiply the rate by `factor` every `every` epochs.
    Step {
        /// Epochs between drops.
        every: usize,
        /// Factor applied at each drop, in (0, 1].
        factor: f32,
    },
    /// `lr · rate^epoch`.
    Exponential {
        /// Decay per epoch, in (0, 1].
        rate: f32,
    },
    /// Cosine decay from the optimizer's rate to `min_lr` over `epochs` epochs.
    Cosine {
        /// Length of the decay (default: the training's epochs).
        epochs: usize,
        /// Final rate (default 0).
        min_lr: f32,
    },
}

/// A metric that can be reported during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Fraction of correct class predictions (argmax, or threshold 0.5 for one sigmoid unit).
    Accuracy,
    /// Mean absolute error.
    Mae,
    /// Mean squared error.
    Mse,
}

/// A loss function. `from_logits` means the network outputs raw scores and
/// the loss applies sigmoid/softmax itself, stably.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Huber loss (default `delta` 1.0).
    Huber {
        /// Where the quadratic part turns linear.
        delta: f32,
    },
    /// Binary cross-entropy, per output unit (multi-label works).
    BinaryCrossentropy {
        /// Outputs are logits.
        from_logits: bool,
    },
    /// Categorical cross-entropy with one-hot targets.
    CategoricalCrossentropy {
        /// Outputs are logits.
        from_logits: bool,
    },
    /// Categorical cross-entropy with integer class labels as targets.
    SparseCategoricalCrossentropy {
        /// Outputs are logits.
        from_logits: bool,
    },
}

/// An optimizer with its hyper-parameters (defaults as in Keras).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent.
    Sgd {
        /// Learning rate (default 0.01).
        lr: f32,
        /// Momentum (default 0).
        momentum: f32,
        /// Nesterov momentum (default false).
        nesterov: bool,
    },
    /// Adagrad.
    Adagrad {
        /// Learning rate (default 0.001).
        lr: f32,
        /// Initial accumulator value (default 0.1).
        initial_accumulator: f32,
        /// Epsilon (default 1e-7).
        epsilon: f32,
    },
    /// Adadelta.
    Adadelta {
        /// Learning rate (default 0.001).
        lr: f32,
        /// Decay rate (default 0.95).
        rho: f32,
        /// Epsilon (default 1e-7).
        epsilon: f32,
    },
    /// RMSprop.
    RmsProp {
        /// Learning rate (default 0.001).
        lr: f32,
        /// Decay rate (default 0.9).
        rho: f32,
        /// Momentum (default 0).
        momentum: f32,
        /// Epsilon (default 1e-7).
        epsilon: f32,
    },
    /// Adam.
    Adam {
        /// Learning rate (default 0.001).
        lr: f32,
        /// First-moment decay (default 0.9).
        beta1: f32,
        /// Second-moment decay (default 0.999).
        beta2: f32,
        /// Epsilon (default 1e-7).
        epsilon: f32,
    },
    /// Adam with decoupled weight decay.
    AdamW {
        /// Learning rate (default 0.001).
        lr: f32,
        /// First-moment decay (default 0.9).
        beta1: f32,
        /// Second-moment decay (default 0.999).
        beta2: f32,
        /// Epsilon (default 1e-7).
        epsilon: f32,
        /// Decoupled weight decay (default 0.004).
        weight_decay: f32,
    },
}

/// Early stopping settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    /// Quantity watched: `val_loss` (default), `loss`, `val_accuracy`, ...
    pub monitor: String,
    /// Epochs without improvement before stopping (default 5).
    pub patience: usize,
    /// Smallest change that counts as improvement (default 0).
    pub min_delta: f32,
    /// Restore the weights of the best epoch at the end (default true).
    pub restore_best: bool,
}
