//! A network's inference graph as plain data: its input, its layers in a
//! topological order with their settings, and the names of the parameter
//! tensors each layer reads.
//!
//! This is what an exporter needs to write a network in another format
//! (the `nnc-onnx` crate writes ONNX from it). The compiler builds it from a
//! checked spec (`nnc_dsl::graph::graph`), so a tool can describe a network
//! without compiling it, and generated code returns the same value from
//! `Model::graph`. Shapes are per sample (no batch axis) and images are
//! channels last, `[H, W, C]`, as in nnc's `predict`. Parameter names are
//! the ones `Model::visit_params` lends and weight files use
//! (`dense1.weight`, `dense1.bias`), and parameter layouts are nnc's: a dense
//! kernel is `[inputs, units]`, a convolution kernel `[KH, KW, C_in, C_out]`.
//!
//! ```
//! use nnc_core::graph::{Graph, Node, Op, Source};
//! use nnc_core::Activation;
//!
//! let g = Graph {
//!     name: "Tiny".into(),
//!     spec: "network Tiny(x: [2]) -> [1] {\n    dense(1) sigmoid\n}".into(),
//!     input_name: "x".into(),
//!     input_shape: vec![2],
//!     nodes: vec![Node {
//!         name: "dense1".into(),
//!         op: Op::Dense {
//!             units: 1,
//!             weight: "dense1.weight".into(),
//!             bias: Some("dense1.bias".into()),
//!             activation: Activation::Sigmoid,
//!         },
//!         inputs: vec![Source::Input],
//!         output: vec![1],
//!     }],
//!     result: Source::Node(0),
//! };
//! assert_eq!(g.output_shape(), &[1]);
//! assert_eq!(g.params(), ["dense1.weight", "dense1.bias"]);
//! ```

pub use crate::window::Padding;
use crate::Activation;

/// A network's inference graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The network's name in the spec, e.g. `Mnist`.
    pub name: String,
    /// The network's definition and its `train` block as spec text,
    /// comments left out (exporters record it as metadata).
    pub spec: String,
    /// The input's name in the spec's signature, e.g. `image`.
    pub input_name: String,
    /// Per-sample input shape, e.g. `[28, 28]`.
    pub input_shape: Vec<usize>,
    /// The layers in a topological order: each reads the input or earlier nodes.
    pub nodes: Vec<Node>,
    /// The value the network outputs.
    pub result: Source,
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The network's input.
    Input,
    /// The output of `Graph::nodes[i]`.
    Node(usize),
}

/// One layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The layer's name, unique in the network, e.g. `dense1`.
    pub name: String,
    /// What it computes.
    pub op: Op,
    /// The values it reads, in argument order.
    pub inputs: Vec<Source>,
    /// Per-sample output shape.
    pub output: Vec<usize>,
}

/// Which reduction a pooling layer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value of the window.
    Max,
    /// The mean of the window's real cells (padding is not counted).
    Avg,
}

/// What a layer computes, with the settings inference needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `y = act(x W + b)`: `weight` is `[inputs, units]`, `bias` `[units]`.
    Dense {
        /// Output width.
        units: usize,
        /// The kernel's parameter name.
        weight: String,
        /// The bias' parameter name, if the layer has one.
        bias: Option<String>,
        /// The fused activation (`Linear` for none).
        activation: Activation,
    },
    /// An activation on its own (softmax over the last axis).
    Activation(Activation),
    /// Dropout: the identity at inference.
    Dropout {
        /// The fraction dropped in training.
        rate: f32,
    },
    /// The per-sample shape collapsed to one axis, row-major (channels last).
    Flatten,
    /// The per-sample shape reinterpreted row-major as the node's `output`.
    Reshape,
    /// 2-D convolution of an `[H, W, C_in]` image: `weight` is
    /// `[KH, KW, C_in, filters]` (Keras' layout), `bias` `[filters]`.
    Conv2d {
        /// Output channels.
        filters: usize,
        /// Kernel `[KH, KW]`.
        kernel: [usize; 2],
        /// Stride `[rows, columns]`.
        strides: [usize; 2],
        /// Padding, resolved per axis by [`crate::window::WindowAxis::new`]
        /// (`same` puts an odd cell at the bottom/right).
        padding: Padding,
        /// The kernel's parameter name.
        weight: String,
        /// The bias' parameter name, if the layer has one.
        bias: Option<String>,
        /// The fused activation (`Linear` for none).
        activation: Activation,
    },
    /// Max or average pooling of an `[H, W, C]` image, each channel on its own.
    Pool2d {
        /// Max or average.
        kind: PoolKind,
        /// Window `[rows, columns]`.
        size: [usize; 2],
        /// Stride `[rows, columns]`.
        strides: [usize; 2],
        /// Padding, resolved as for convolutions.
        padding: Padding,
    },
    /// The mean of each channel of an `[H, W, C]` image: `[C]`.
    GlobalAvgPool2d,
    /// The element-wise sum of the inputs (all of one shape).
    Add,
    /// The inputs joined along their last axis.
    Concat,
}

impl Graph {
    /// The per-sample shape of a value.
    ///
    /// # Panics
    /// If `src` names a node the graph does not have.
    pub fn shape(&self, src: Source) -> &[usize] {
        match src {
            Source::Input => &self.input_shape,
            Source::Node(i) => &self.nodes[i].output,
        }
    }

    /// Per-sample output shape (the input's when the network has no layer).
    ///
    /// # Panics
    /// If [`Graph::result`] names a node the graph does not have.
    pub fn output_shape(&self) -> &[usize] {
        self.shape(self.result)
    }

    /// The parameter tensors the graph reads, in node order (kernel before bias).
    pub fn params(&self) -> Vec<&str> {
        self.nodes.iter().flat_map(|n| n.op.params()).collect()
    }
}

impl Op {
    /// The parameter tensors this op reads (kernel before bias).
    pub fn params(&self) -> Vec<&str> {
        match self {
            Op::Dense { weight, bias, .. } | Op::Conv2d { weight, bias, .. } => {
                std::iter::once(weight.as_str())
                    .chain(bias.as_deref())
                    .collect()
            }
            Op::Activation(_)
            | Op::Dropout { .. }
            | Op::Flatten
            | Op::Reshape
            | Op::Pool2d { .. }
            | Op::GlobalAvgPool2d
            | Op::Add
            | Op::Concat => Vec::new(),
        }
    }
}
