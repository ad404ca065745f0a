//! The checked intermediate representation: what [`crate::check()`] produces
//! and the code generator consumes.
//!
//! Everything here has been validated: every shape is concrete and proven,
//! every argument is in range, defaults are filled in. The code generator
//! never needs to report an error about a spec.

use crate::span::Span;

/// The vocabulary shared with the runtime (`nnc-core`): the checker
/// resolves names to these values, and generated code names the same ones.
pub use nnc_core::{
    Activation, EarlyStopping, EpsPlacement, Init, Loss, Metric, Optimizer, Schedule, TrainConfig,
};

pub use crate::ops::{
    add::Add,
    concat::Concat,
    conv2d::Conv2d,
    dense::Dense,
    dropout::Dropout,
    pool2d::{Pool2d, PoolKind},
};

/// A per-sample tensor shape (no batch axis), e.g. `[28, 28]`.
pub type Shape = Vec<usize>;

/// All networks of one spec, in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The networks.
    pub networks: Vec<Network>,
    /// Warnings about the spec (it compiles nevertheless), e.g. W0001.
    pub warnings: Vec<crate::Diagnostic>,
}

/// Where a layer's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The network's input.
    Input,
    /// The output of `Network::layers[i]`.
    Layer(usize),
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
    /// Layers in a topological order: each reads the input or earlier
    /// layers (in the sequential form, `layers[i]` reads `layers[i - 1]`).
    pub layers: Vec<Layer>,
    /// The value the network outputs (the last layer's, or the input when
    /// there are no layers).
    pub result: Source,
    /// The `train` block for this network, if the spec has one.
    pub train: Option<Train>,
    /// The definition and its `train` block as spec text, printed from the
    /// syntax tree (comments other than `///` dropped, one layer or setting
    /// per line), so that every front gets the same text; exporters record
    /// it ([`crate::graph`]).
    pub text: String,
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
    /// Per-sample shape of the (first) input.
    pub input: Shape,
    /// The values it reads, in argument order (one for most ops).
    pub inputs: Vec<Source>,
    /// Their per-sample shapes.
    pub input_shapes: Vec<Shape>,
    /// Per-sample output shape.
    pub output: Shape,
    /// The layer in the source.
    pub span: Span,
}

/// What a layer computes. Each kind has its home in [`crate::ops`].
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
    Dropout(Dropout),
    /// Element-wise sum of values of one shape (a residual connection).
    Add(Add),
    /// Values joined along their last axis.
    Concat(Concat),
    /// 2-D convolution of an `[H, W, C]` image, channels last.
    Conv2d(Conv2d),
    /// Max or average pooling of an `[H, W, C]` image.
    Pool2d(Pool2d),
    /// The mean of each channel over an `[H, W, C]` image: `[C]`.
    GlobalAvgPool2d,
}

/// A `train` block: the settings `nnc::fit` takes, each default filled in
/// by nnc-core, so the compiler has no copy of them. Reads as its
/// [`TrainConfig`] (`train.loss`, `train.epochs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    /// The block in the source.
    pub span: Span,
    /// The settings.
    pub config: TrainConfig,
}

impl std::ops::Deref for Train {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.config
    }
}

impl std::ops::DerefMut for Train {
    fn deref_mut(&mut self) -> &mut TrainConfig {
        &mut self.config
    }
}
