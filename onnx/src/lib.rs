//! ONNX export of nnc networks: a network's inference graph
//! ([`nnc_core::graph::Graph`]) and its parameter tensors → an ONNX model
//! that any ONNX runtime runs.
//!
//! Most users call `nnc::onnx::export(&mut net, "model.onnx")` (the facade
//! reads the graph and the weights from a generated network) or the
//! command line, `nnc export-onnx SPEC WEIGHTS -o model.onnx`; this crate is
//! the part that needs neither the runtime nor the compiler.
//!
//! What the model is (docs/onnx.md has the whole list):
//! - opset [`OPSET`] (17) of the default domain, IR version [`IR_VERSION`]
//!   (8), standard operators only: `Gemm`/`MatMul`, `Conv`, `MaxPool`,
//!   `AveragePool`, `GlobalAveragePool`, `Add`, `Concat`, `Reshape`,
//!   `Flatten`, `Transpose`, `Relu`, `Sigmoid`, `Tanh`, `LeakyRelu`, `Elu`,
//!   `Softplus`, `Softmax`, and GELU's tanh form written out with `Mul`,
//!   `Add` and `Tanh`;
//! - one input named after the spec's signature (`image`), shaped
//!   `[batch, ..input shape]` with a symbolic `batch`: the same layout as
//!   nnc's `predict`, channels last for images. Convolutions and pooling run
//!   channels first inside the model, between `Transpose` nodes, so flatten
//!   order and every output match nnc;
//! - one output, `output`, `[batch, ..output shape]`: what `predict`
//!   returns, the last activation included (a softmax the loss fuses too);
//! - dropout is left out (the identity at inference);
//! - metadata: `producer_name` `nnc`, `producer_version` and the
//!   `nnc.version` property this crate's version, `nnc.spec` the spec text.
//!
//! ```
//! use nnc_core::graph::{Graph, Node, Op, Source};
//! use nnc_core::Activation;
//! use nnc_onnx::{Tensor, Weights};
//!
//! let graph = Graph {
//!     name: "Tiny".into(),
//!     spec: String::new(),
//!     input_name: "x".into(),
//!     input_shape: vec![2],
//!     nodes: vec![Node {
//!         name: "dense1".into(),
//!         op: Op::Dense {
//!             units: 1,
//!             weight: "dense1.weight".into(),
//!             bias: None,
//!             activation: Activation::Sigmoid,
//!         },
//!         inputs: vec![Source::Input],
//!         output: vec![1],
//!     }],
//!     result: Source::Node(0),
//! };
//! let mut weights = Weights::new();
//! weights.insert("dense1.weight".into(), Tensor::new(vec![2, 1], vec![0.5, -1.0]));
//! let bytes = nnc_onnx::to_bytes(&graph, &weights)?;
//! assert!(!bytes.is_empty());
//!
//! // A weight of the wrong shape is an error naming the layer.
//! weights.insert("dense1.weight".into(), Tensor::new(vec![3, 1], vec![0.0; 3]));
//! let err = nnc_onnx::to_bytes(&graph, &weights).unwrap_err();
//! assert_eq!(err.layer.as_deref(), Some("dense1"));
//! # Ok::<(), nnc_onnx::ExportError>(())
//! ```

#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap, HashSet};

use nnc_core::graph::{Graph, Node, Op, PoolKind, Source};
use nnc_core::window::WindowAxis;
use nnc_core::Activation;
use prost::Message;

#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    rustdoc::all,
    unreachable_pub
)]
mod proto;

use proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// The opset of the default ONNX domain the models use. 17 (ONNX 1.12,
/// 2022) has every operator the export needs, so runtimes that lag a few
/// releases behind still load the models (tests run them on onnxruntime
/// 1.32); GELU, an operator only from opset 20, is written out instead.
pub const OPSET: i64 = 17;

/// The ONNX IR version written: 8, the one of opset 17's release.
pub const IR_VERSION: i64 = 8;

/// The graph output's name (the spec's signature names only the input).
pub const OUTPUT_NAME: &str = "output";

/// A parameter tensor: its shape in nnc's layout and its row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Shape, e.g. `[784, 64]` for a dense kernel.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor { shape, data }
    }
}

/// Parameter tensors by name (`dense1.weight`), as weight files and
/// `Model::visit_params` name them.
pub type Weights = BTreeMap<String, Tensor>;

/// Why a network could not be exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// The layer at fault, if one is.
    pub layer: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.layer {
            Some(layer) => write!(f, "cannot export layer `{layer}` to ONNX: {}", self.message),
            None => write!(f, "cannot export to ONNX: {}", self.message),
        }
    }
}

impl std::error::Error for ExportError {}

fn layer_error(node: &Node, message: impl Into<String>) -> ExportError {
    ExportError {
        layer: Some(node.name.clone()),
        message: message.into(),
    }
}

/// Encodes the ONNX model of `graph` with the parameter tensors in
/// `weights` (extra tensors, such as optimizer state, are ignored).
///
/// # Errors
/// An [`ExportError`] naming the layer for a missing parameter, a
/// parameter of the wrong shape or element count, a layer whose settings
/// do not fit its input shape, or an input that no earlier node produces.
pub fn to_bytes(graph: &Graph, weights: &Weights) -> Result<Vec<u8>, ExportError> {
    Ok(model(graph, weights)?.encode_to_vec())
}

/// How a value is held inside the ONNX graph.
#[derive(Debug, Clone)]
struct Val {
    /// The ONNX tensor's name.
    name: String,
    /// Held channels first (`[N, C, H, W]`) rather than in nnc's layout
    /// (`[N, H, W, C]`); only ever for rank-3 per-sample shapes.
    nchw: bool,
    /// nnc's per-sample shape.
    shape: Vec<usize>,
}

struct Builder<'a> {
    weights: &'a Weights,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// Every tensor and node name given out, so that none repeats.
    used: HashSet<String>,
    /// Scalar constants by value bits, shared by all nodes.
    scalars: HashMap<u32, String>,
    /// Layout conversions already made: `(tensor, to NCHW)` → converted tensor.
    converted: HashMap<(String, bool), String>,
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn dim(d: usize) -> i64 {
    // Shapes come from a checked spec; nothing near i64::MAX elements fits in memory.
    i64::try_from(d).unwrap_or(i64::MAX)
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let batch = tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimParam(
            "batch".into(),
        )),
        denotation: None,
    };
    let dims = std::iter::once(batch).chain(shape.iter().map(|&d| tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimValue(dim(d))),
        denotation: None,
    }));
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims.collect(),
                }),
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}

fn float_tensor(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: shape.iter().map(|&d| dim(d)).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

impl Builder<'_> {
    /// `base`, or `base_2`, `base_3`, ... if it is taken.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// Appends a node of `op` reading `inputs`; returns its output tensor,
    /// named `out` (made unique).
    fn node(&mut self, op: &str, inputs: &[&str], out: &str, attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(out);
        let name = self.fresh(&format!("{out}/{op}"));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: Some(name),
            op_type: Some(op.into()),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn scalar(&mut self, v: f32) -> String {
        if let Some(name) = self.scalars.get(&v.to_bits()) {
            return name.clone();
        }
        let name = self.fresh(&format!("const/{v:?}"));
        self.inits.push(float_tensor(&name, &[], &[v]));
        self.scalars.insert(v.to_bits(), name.clone());
        name
    }

    fn int64s(&mut self, base: &str, v: &[i64]) -> String {
        let name = self.fresh(base);
        self.inits.push(TensorProto {
            name: Some(name.clone()),
            dims: vec![dim(v.len())],
            data_type: Some(DataType::Int64 as i32),
            int64_data: v.to_vec(),
            ..Default::default()
        });
        name
    }

    /// The parameter `name` of `node`, checked against `shape`.
    fn param(&self, node: &Node, name: &str, shape: &[usize]) -> Result<&Tensor, ExportError> {
        let t = self.weights.get(name).ok_or_else(|| {
            layer_error(
                node,
                format!("its parameter `{name}` is not among the weights"),
            )
        })?;
        if t.shape != shape {
            return Err(layer_error(
                node,
                format!(
                    "its parameter `{name}` has shape {:?}, expected {shape:?}",
                    t.shape
                ),
            ));
        }
        if t.data.len() != shape.iter().product::<usize>() {
            return Err(layer_error(
                node,
                format!(
                    "its parameter `{name}` holds {} values, its shape {shape:?} needs {}",
                    t.data.len(),
                    shape.iter().product::<usize>()
                ),
            ));
        }
        Ok(t)
    }

    /// Adds the parameter as an initializer (the same name as in weight files).
    fn init(&mut self, node: &Node, name: &str, shape: &[usize]) -> Result<String, ExportError> {
        let t = self.param(node, name, shape)?;
        let proto = float_tensor(name, shape, &t.data);
        let name = self.fresh(name);
        self.inits.push(TensorProto {
            name: Some(name.clone()),
            ..proto
        });
        Ok(name)
    }

    /// `v` in the layout asked for (a `Transpose` the first time a value
    /// is needed in the other layout).
    fn layout(&mut self, v: &Val, nchw: bool) -> Val {
        if v.nchw == nchw {
            return v.clone();
        }
        let key = (v.name.clone(), nchw);
        let name = match self.converted.get(&key) {
            Some(name) => name.clone(),
            None => {
                let (perm, suffix) = if nchw {
                    ([0, 3, 1, 2], "nchw")
                } else {
                    ([0, 2, 3, 1], "nhwc")
                };
                let out = format!("{}/{suffix}", v.name);
                let name = self.node(
                    "Transpose",
                    &[&v.name],
                    &out,
                    vec![attr_ints("perm", &perm)],
                );
                self.converted.insert(key, name.clone());
                name
            }
        };
        Val {
            name,
            nchw,
            shape: v.shape.clone(),
        }
    }

    /// Applies `act` to `x`; `out` names the result.
    fn activation(&mut self, act: Activation, x: &Val, out: &str) -> Val {
        let unary = |b: &mut Self, op: &str, attrs| Val {
            name: b.node(op, &[&x.name], out, attrs),
            ..x.clone()
        };
        // Exhaustive on purpose: a new activation must be given an ONNX form here.
        match act {
            Activation::Linear => x.clone(),
            Activation::Sigmoid => unary(self, "Sigmoid", vec![]),
            Activation::Tanh => unary(self, "Tanh", vec![]),
            Activation::Relu => unary(self, "Relu", vec![]),
            Activation::LeakyRelu { alpha } => {
                unary(self, "LeakyRelu", vec![attr_float("alpha", alpha)])
            }
            Activation::Elu { alpha } => unary(self, "Elu", vec![attr_float("alpha", alpha)]),
            Activation::Softplus => unary(self, "Softplus", vec![]),
            Activation::Softmax => {
                // Softmax over nnc's last axis: the channels, axis 1 when
                // held channels first.
                let axis = if x.nchw { 1 } else { -1 };
                unary(self, "Softmax", vec![attr_int("axis", axis)])
            }
            Activation::Gelu => {
                // nnc's GELU is the tanh form,
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written out:
                // the Gelu operator (opset 20) is newer than the opset used.
                let x_ = x.name.as_str();
                let (k, c, half, one) = (
                    self.scalar(0.044_715),
                    self.scalar(0.797_884_6),
                    self.scalar(0.5),
                    self.scalar(1.0),
                );
                let x2 = self.node("Mul", &[x_, x_], &format!("{out}/x2"), vec![]);
                let x3 = self.node("Mul", &[&x2, x_], &format!("{out}/x3"), vec![]);
                let kx3 = self.node("Mul", &[&x3, &k], &format!("{out}/kx3"), vec![]);
                let inner = self.node("Add", &[x_, &kx3], &format!("{out}/inner"), vec![]);
                let scaled = self.node("Mul", &[&inner, &c], &format!("{out}/scaled"), vec![]);
                let t = self.node("Tanh", &[&scaled], &format!("{out}/tanh"), vec![]);
                let t1 = self.node("Add", &[&t, &one], &format!("{out}/1+tanh"), vec![]);
                let hx = self.node("Mul", &[x_, &half], &format!("{out}/half_x"), vec![]);
                Val {
                    name: self.node("Mul", &[&hx, &t1], out, vec![]),
                    ..x.clone()
                }
            }
            Activation::GeluExact => {
                // 0.5 x (1 + erf(x / sqrt 2)); Erf is a standard operator.
                let x_ = x.name.as_str();
                let (r, half, one) = (
                    self.scalar(std::f32::consts::FRAC_1_SQRT_2),
                    self.scalar(0.5),
                    self.scalar(1.0),
                );
                let xr = self.node("Mul", &[x_, &r], &format!("{out}/x_over_sqrt2"), vec![]);
                let e = self.node("Erf", &[&xr], &format!("{out}/erf"), vec![]);
                let e1 = self.node("Add", &[&e, &one], &format!("{out}/1+erf"), vec![]);
                let hx = self.node("Mul", &[x_, &half], &format!("{out}/half_x"), vec![]);
                Val {
                    name: self.node("Mul", &[&hx, &e1], out, vec![]),
                    ..x.clone()
                }
            }
        }
    }

    /// The two spatial axes of a window op over `input` (`[H, W, C]`).
    fn axes(
        node: &Node,
        input: &[usize],
        kernel: [usize; 2],
        strides: [usize; 2],
        padding: nnc_core::window::Padding,
    ) -> Result<[WindowAxis; 2], ExportError> {
        let [h, w, _] = input else {
            return Err(layer_error(
                node,
                format!("it expects an [H, W, C] image, its input is {input:?}"),
            ));
        };
        let axis = |i: usize, k: usize, s: usize| {
            WindowAxis::new(i, k, s, padding).map_err(|e| layer_error(node, e.to_string()))
        };
        Ok([
            axis(*h, kernel[0], strides[0])?,
            axis(*w, kernel[1], strides[1])?,
        ])
    }

    /// The attributes every window op takes: kernel, strides and explicit
    /// pads `[top, left, bottom, right]` (nnc's `same` puts an odd cell at
    /// the bottom/right, as Keras; ONNX's `SAME_UPPER` would too, but
    /// explicit pads leave no room for reading it differently).
    fn window_attrs(axes: &[WindowAxis; 2]) -> Vec<AttributeProto> {
        let [r, c] = axes;
        vec![
            attr_ints("kernel_shape", &[dim(r.kernel), dim(c.kernel)]),
            attr_ints("strides", &[dim(r.stride), dim(c.stride)]),
            attr_ints(
                "pads",
                &[
                    dim(r.pad_before),
                    dim(c.pad_before),
                    dim(r.pad_after),
                    dim(c.pad_after),
                ],
            ),
        ]
    }

    /// Emits one layer reading `inputs`.
    fn layer(&mut self, node: &Node, inputs: &[Val]) -> Result<Val, ExportError> {
        let out = node.name.as_str();
        let first = inputs
            .first()
            .ok_or_else(|| layer_error(node, "it reads no value"))?;
        let shaped = |name: String, nchw: bool| Val {
            name,
            nchw,
            shape: node.output.clone(),
        };
        Ok(match &node.op {
            Op::Dense {
                units,
                weight,
                bias,
                activation,
            } => {
                let x = self.layout(first, false);
                let [fan_in] = x.shape[..] else {
                    return Err(layer_error(
                        node,
                        format!("`dense` needs a vector input, found {:?}", x.shape),
                    ));
                };
                let w = self.init(node, weight, &[fan_in, *units])?;
                let linear = match bias {
                    Some(b) => {
                        let b = self.init(node, b, &[*units])?;
                        self.node("Gemm", &[&x.name, &w, &b], &format!("{out}/linear"), vec![])
                    }
                    None => self.node("MatMul", &[&x.name, &w], &format!("{out}/linear"), vec![]),
                };
                self.activation(*activation, &shaped(linear, false), out)
            }
            Op::Activation(act) => {
                let v = self.activation(*act, first, out);
                Val {
                    shape: node.output.clone(),
                    ..v
                }
            }
            // The identity at inference.
            Op::Dropout { .. } => first.clone(),
            Op::Flatten => {
                let x = self.layout(first, false);
                let y = self.node("Flatten", &[&x.name], out, vec![attr_int("axis", 1)]);
                shaped(y, false)
            }
            Op::Reshape => {
                let x = self.layout(first, false);
                // 0 copies the batch axis (an empty batch stays valid, unlike -1).
                let dims: Vec<i64> = std::iter::once(0)
                    .chain(node.output.iter().map(|&d| dim(d)))
                    .collect();
                let shape = self.int64s(&format!("{out}/shape"), &dims);
                let y = self.node("Reshape", &[&x.name, &shape], out, vec![]);
                shaped(y, false)
            }
            Op::Conv2d {
                filters,
                kernel,
                strides,
                padding,
                weight,
                bias,
                activation,
            } => {
                let axes = Self::axes(node, &first.shape, *kernel, *strides, *padding)?;
                let c_in = first.shape[2];
                let [kh, kw] = *kernel;
                let w = self.param(node, weight, &[kh, kw, c_in, *filters])?;
                // Keras' [KH, KW, C_in, C_out] → ONNX's [C_out, C_in, KH, KW].
                let mut data = vec![0.0f32; w.data.len()];
                for (i, &v) in w.data.iter().enumerate() {
                    let co = i % filters;
                    let ci = (i / filters) % c_in;
                    let kx = (i / (filters * c_in)) % kw;
                    let ky = i / (filters * c_in * kw);
                    data[((co * c_in + ci) * kh + ky) * kw + kx] = v;
                }
                let w_name = self.fresh(weight);
                self.inits
                    .push(float_tensor(&w_name, &[*filters, c_in, kh, kw], &data));
                let mut args = vec![w_name];
                if let Some(b) = bias {
                    args.push(self.init(node, b, &[*filters])?);
                }
                let x = self.layout(first, true);
                let mut attrs = Self::window_attrs(&axes);
                attrs.push(attr_ints("dilations", &[1, 1]));
                attrs.push(attr_int("group", 1));
                let conv_in: Vec<&str> = std::iter::once(x.name.as_str())
                    .chain(args.iter().map(String::as_str))
                    .collect();
                let y = self.node("Conv", &conv_in, &format!("{out}/conv"), attrs);
                self.activation(*activation, &shaped(y, true), out)
            }
            Op::Pool2d {
                kind,
                size,
                strides,
                padding,
            } => {
                let axes = Self::axes(node, &first.shape, *size, *strides, *padding)?;
                let x = self.layout(first, true);
                let mut attrs = Self::window_attrs(&axes);
                let op = match kind {
                    PoolKind::Max => "MaxPool",
                    PoolKind::Avg => {
                        // nnc divides by the window's real cells, never the padding.
                        attrs.push(attr_int("count_include_pad", 0));
                        "AveragePool"
                    }
                };
                attrs.push(attr_int("ceil_mode", 0));
                let y = self.node(op, &[&x.name], out, attrs);
                shaped(y, true)
            }
            Op::GlobalAvgPool2d => {
                if first.shape.len() != 3 {
                    return Err(layer_error(
                        node,
                        format!(
                            "it expects an [H, W, C] image, its input is {:?}",
                            first.shape
                        ),
                    ));
                }
                let x = self.layout(first, true);
                let pooled = self.node(
                    "GlobalAveragePool",
                    &[&x.name],
                    &format!("{out}/pool"),
                    vec![],
                );
                // [N, C, 1, 1] → [N, C].
                let y = self.node("Flatten", &[&pooled], out, vec![attr_int("axis", 1)]);
                shaped(y, false)
            }
            Op::Add => {
                // Channels first only if every part already is (no transposes added).
                let nchw = inputs.iter().all(|v| v.nchw);
                let parts: Vec<Val> = inputs.iter().map(|v| self.layout(v, nchw)).collect();
                let mut acc = parts[0].name.clone();
                for (k, p) in parts.iter().enumerate().skip(1) {
                    let name = if k + 1 == parts.len() {
                        out.to_string()
                    } else {
                        format!("{out}/sum{k}")
                    };
                    acc = self.node("Add", &[&acc, &p.name], &name, vec![]);
                }
                shaped(acc, nchw)
            }
            Op::Concat => {
                let nchw = inputs.iter().all(|v| v.nchw);
                let parts: Vec<Val> = inputs.iter().map(|v| self.layout(v, nchw)).collect();
                let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
                // nnc joins along the last axis: the channels, axis 1 when channels first.
                let axis = if nchw { 1 } else { -1 };
                let y = self.node("Concat", &names, out, vec![attr_int("axis", axis)]);
                shaped(y, nchw)
            }
        })
    }
}

/// Builds the ONNX model (see [`to_bytes`]).
fn model(graph: &Graph, weights: &Weights) -> Result<ModelProto, ExportError> {
    let mut b = Builder {
        weights,
        nodes: Vec::new(),
        inits: Vec::new(),
        used: HashSet::new(),
        scalars: HashMap::new(),
        converted: HashMap::new(),
    };
    let input_name = b.fresh(&graph.input_name);
    // Reserved now, so that no inner tensor takes it.
    let output_name = b.fresh(OUTPUT_NAME);
    let input = Val {
        name: input_name.clone(),
        nchw: false,
        shape: graph.input_shape.clone(),
    };
    let mut values: Vec<Val> = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        let inputs = node
            .inputs
            .iter()
            .map(|&src| match src {
                Source::Input => Ok(input.clone()),
                Source::Node(j) if j < i => Ok(values[j].clone()),
                Source::Node(j) => Err(layer_error(
                    node,
                    format!("it reads node {j}, which does not come before it"),
                )),
            })
            .collect::<Result<Vec<Val>, ExportError>>()?;
        let v = b.layer(node, &inputs)?;
        values.push(v);
    }
    let result = match graph.result {
        Source::Input => input.clone(),
        Source::Node(j) => values.get(j).cloned().ok_or_else(|| ExportError {
            layer: None,
            message: format!("the result is node {j} of {}", graph.nodes.len()),
        })?,
    };
    let result = b.layout(&result, false);
    // Name the output: rename the tensor its last node writes, or copy a
    // value no node of this graph writes (the input, with no layers).
    let produced = b
        .nodes
        .iter()
        .any(|n| n.output.first() == Some(&result.name));
    if produced {
        for n in &mut b.nodes {
            for t in n.output.iter_mut().chain(n.input.iter_mut()) {
                if *t == result.name {
                    t.clone_from(&output_name);
                }
            }
        }
    } else {
        let name = b.fresh(&format!("{output_name}/Identity"));
        b.nodes.push(NodeProto {
            input: vec![result.name.clone()],
            output: vec![output_name.clone()],
            name: Some(name),
            op_type: Some("Identity".into()),
            ..Default::default()
        });
    }
    let version = env!("CARGO_PKG_VERSION");
    let prop = |k: &str, v: &str| StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("nnc".into()),
        producer_version: Some(version.into()),
        doc_string: Some(format!("network {} exported by nnc {version}", graph.name)),
        graph: Some(GraphProto {
            node: b.nodes,
            name: Some(graph.name.clone()),
            initializer: b.inits,
            input: vec![value_info(&input_name, &graph.input_shape)],
            output: vec![value_info(&output_name, graph.output_shape())],
            ..Default::default()
        }),
        metadata_props: vec![prop("nnc.version", version), prop("nnc.spec", &graph.spec)],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnc_core::graph::Padding;

    fn graph(input: Vec<usize>, nodes: Vec<Node>) -> Graph {
        let last = nodes.len();
        Graph {
            name: "T".into(),
            spec: "network T(...)".into(),
            input_name: "x".into(),
            input_shape: input,
            nodes,
            result: if last == 0 {
                Source::Input
            } else {
                Source::Node(last - 1)
            },
        }
    }

    fn node(name: &str, op: Op, inputs: Vec<Source>, output: Vec<usize>) -> Node {
        Node {
            name: name.into(),
            op,
            inputs,
            output,
        }
    }

    #[test]
    fn conv_kernels_are_transposed_and_the_layout_is_restored() {
        // [KH=1, KW=2, C_in=2, C_out=3]: value = 1000 ky + 100 kx + 10 ci + co.
        let mut data = Vec::new();
        for ky in 0..1 {
            for kx in 0..2 {
                for ci in 0..2 {
                    for co in 0..3 {
                        data.push((1000 * ky + 100 * kx + 10 * ci + co) as f32);
                    }
                }
            }
        }
        let mut w = Weights::new();
        w.insert("c.weight".into(), Tensor::new(vec![1, 2, 2, 3], data));
        let g = graph(
            vec![3, 4, 2],
            vec![
                node(
                    "c",
                    Op::Conv2d {
                        filters: 3,
                        kernel: [1, 2],
                        strides: [1, 1],
                        padding: Padding::Same,
                        weight: "c.weight".into(),
                        bias: None,
                        activation: Activation::Softmax,
                    },
                    vec![Source::Input],
                    vec![3, 4, 3],
                ),
                node("f", Op::Flatten, vec![Source::Node(0)], vec![36]),
            ],
        );
        let m = model(&g, &w).unwrap();
        let gp = m.graph.unwrap();
        let ops: Vec<&str> = gp.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(
            ops,
            ["Transpose", "Conv", "Softmax", "Transpose", "Flatten"]
        );
        assert_eq!(gp.node[2].attribute[0].i(), 1, "softmax over the channels");
        assert_eq!(gp.node[4].output, ["output"]);
        // `same` with a 2-wide kernel pads one column on the right.
        let pads = gp.node[1]
            .attribute
            .iter()
            .find(|a| a.name() == "pads")
            .unwrap();
        assert_eq!(pads.ints, [0, 0, 0, 1]);
        let k = &gp.initializer[0];
        assert_eq!(k.dims, [3, 2, 1, 2]);
        let vals: Vec<f32> = k
            .raw_data()
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // [co, ci, ky, kx] = [2, 1, 0, 1], at ((2·2 + 1)·1 + 0)·2 + 1 = 11,
        // holds 100 kx + 10 ci + co.
        assert_eq!(vals[11], 112.0);
        assert_eq!(vals[0], 0.0);
        assert_eq!(m.metadata_props[1].value(), "network T(...)");
        assert_eq!(m.opset_import[0].version(), OPSET);
    }

    #[test]
    fn errors_name_the_layer() {
        let dense = |bias: Option<&str>| {
            node(
                "d",
                Op::Dense {
                    units: 2,
                    weight: "d.weight".into(),
                    bias: bias.map(Into::into),
                    activation: Activation::Linear,
                },
                vec![Source::Input],
                vec![2],
            )
        };
        let mut w = Weights::new();
        let e = to_bytes(&graph(vec![3], vec![dense(None)]), &w).unwrap_err();
        assert_eq!(e.layer.as_deref(), Some("d"));
        assert!(
            e.to_string()
                .contains("`d.weight` is not among the weights"),
            "{e}"
        );
        w.insert("d.weight".into(), Tensor::new(vec![3, 2], vec![0.0; 5]));
        let e = to_bytes(&graph(vec![3], vec![dense(None)]), &w).unwrap_err();
        assert!(e.to_string().contains("holds 5 values"), "{e}");
        w.insert("d.weight".into(), Tensor::new(vec![3, 2], vec![0.0; 6]));
        let e = to_bytes(&graph(vec![3], vec![dense(Some("d.bias"))]), &w).unwrap_err();
        assert!(e.to_string().contains("`d.bias`"), "{e}");
        // A dense layer on an image, which a checked spec never has.
        let e = to_bytes(&graph(vec![3, 1], vec![dense(None)]), &w).unwrap_err();
        assert!(e.to_string().contains("vector input"), "{e}");
        // A window larger than the image.
        let pool = node(
            "p",
            Op::Pool2d {
                kind: PoolKind::Avg,
                size: [5, 5],
                strides: [1, 1],
                padding: Padding::Valid,
            },
            vec![Source::Input],
            vec![1, 1, 1],
        );
        let e = to_bytes(&graph(vec![3, 3, 1], vec![pool]), &w).unwrap_err();
        assert_eq!(e.layer.as_deref(), Some("p"));
        // A node reading a later one.
        let mut g = graph(vec![3], vec![dense(None)]);
        g.nodes[0].inputs = vec![Source::Node(0)];
        assert!(to_bytes(&g, &w)
            .unwrap_err()
            .to_string()
            .contains("does not come before"));
    }

    #[test]
    fn a_network_without_layers_copies_its_input() {
        let m = model(&graph(vec![4], vec![]), &Weights::new()).unwrap();
        let gp = m.graph.unwrap();
        assert_eq!(gp.node.len(), 1);
        assert_eq!(gp.node[0].op_type(), "Identity");
        assert_eq!(gp.node[0].input, ["x"]);
        assert_eq!(gp.output[0].name(), "output");
        // The batch axis is symbolic.
        let Some(type_proto::Value::TensorType(t)) = &gp.input[0].r#type.as_ref().unwrap().value
        else {
            panic!("not a tensor type")
        };
        let dims = &t.shape.as_ref().unwrap().dim;
        assert_eq!(
            dims[0].value,
            Some(tensor_shape_proto::dimension::Value::DimParam(
                "batch".into()
            ))
        );
        assert_eq!(dims.len(), 2);
    }
}
