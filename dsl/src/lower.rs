//! Lowering: a checked [`ir::Network`] → a [`Plan`] of kernel calls and
//! buffers, which [`crate::emit`] turns into Rust.
//!
//! Each op lowers itself ([`crate::ops::OpDef::lower`]) through a
//! [`Lowering`] context that hands out parameters and workspace buffers.
//! Decisions made here, once, at compile time:
//! - every tensor is stored as a `[batch, width]` matrix (the per-sample shape
//!   flattened row-major, channels last for images), so `flatten` and
//!   `reshape` cost nothing: their output *is* their input buffer;
//! - an activation layer directly after a `dense` layer with a linear
//!   activation is fused into it (bias-add and activation in one pass);
//! - dropout has its own output buffer in training only: at inference the next
//!   layer reads dropout's input directly;
//! - rows and columns of a feature map that no later layer reads are not
//!   computed, nor what only they read (`lower/crop.rs`: the tutorial CNN computes
//!   0.47 M of its 1.14 M multiply-adds per image); buffers and kernel
//!   geometries take the computed shapes, which [`Plan::shapes`] lists;
//! - the plan is a graph: a step reads a list of input values. Steps are in
//!   topological order; backward runs them in reverse, only where some
//!   trainable parameter lies upstream, and computes an input's gradient only
//!   if that input depends on a trainable parameter. Where a value feeds
//!   several steps, the first backward step to reach it writes its gradient
//!   and the others add into it.

mod crop;

pub(crate) use crop::computed_macs;

use crate::ir::{self, Activation, Init, Shape};
use crate::ops::window::WindowAxis;
use crate::ops::{self, Backward, GradTarget, OpDef, StepDef};

/// Index into [`Plan::buffers`].
pub type BufId = usize;
/// Index into [`Plan::params`].
pub type ParamId = usize;

/// A tensor flowing between steps: which buffer holds it in training, and
/// which at inference (they differ only downstream of a dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value {
    /// Buffer holding the value in a training forward pass.
    pub train: BufId,
    /// Buffer holding the value in an inference forward pass.
    pub infer: BufId,
}

impl Value {
    /// A value held by the same buffer in training and inference.
    pub fn both(buf: BufId) -> Self {
        Value {
            train: buf,
            infer: buf,
        }
    }
}

/// A `[batch, width]` buffer of the workspace: a step's output, or scratch
/// an op asked for (a pre-activation, a dropout mask, an im2col matrix),
/// kept from forward to backward. An op may view its scratch with any shape
/// of `width` elements per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// Field name in the generated workspace.
    pub ident: String,
    /// Elements per sample.
    pub width: usize,
    /// Whether backward needs a gradient buffer of the same size (`<ident>_grad`).
    pub has_grad: bool,
    /// Holds `u32` indices (a max-pooling argmax) instead of `f32` values.
    pub indices: bool,
}

/// Scratch memory of `predict_one`, for one sample: an op asks for it with
/// [`Lowering::scratch_one`] when its single-sample work needs more than
/// its output array (a convolution's im2col rows). All of a network's
/// scratch lives in one heap slice owned by the model, so a large layer
/// does not put it on the stack, and `predict_one` still allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct OneScratch {
    /// The `&mut [f32]` local it is bound to in `predict_one`.
    pub ident: String,
    /// Its length in elements.
    pub len: usize,
}

/// Index into [`Plan::one_scratch`].
pub type OneId = usize;

/// A parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamPlan {
    /// Name in weight files and summaries, e.g. `dense1.weight`.
    pub name: String,
    /// Field name in the generated code, e.g. `dense1__weight` (see
    /// [`crate::emit`] on generated names).
    pub ident: String,
    /// Any rank; see [`crate::ops::ParamDecl::shape`] for the storage.
    pub shape: Vec<usize>,
    /// How it is initialised.
    pub init: Init,
    /// Fan-in and fan-out for the variance-scaling initialisers.
    pub fan_in: usize,
    /// See `fan_in`.
    pub fan_out: usize,
    /// `false` for a frozen layer.
    pub trainable: bool,
}

/// One kernel call of the forward pass (its backward is derived from it).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Index of the IR layer.
    pub layer: usize,
    /// The values read, in the op's argument order.
    pub inputs: Vec<Value>,
    /// Output buffer (in training).
    pub out: BufId,
    /// What the step computes.
    pub op: StepOp,
}

/// The op-specific part of a [`Step`]; each lives in its op's module.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOp {
    /// `out = act(input · w + b)`.
    Dense(ops::dense::DenseStep),
    /// `out = act(input)`.
    Activation(ops::activation::ActivationStep),
    /// Inverted dropout (training only).
    Dropout(ops::dropout::DropoutStep),
    /// `out = input_0 + input_1 + ...`.
    Add(ops::add::AddStep),
    /// The inputs joined along their last axis.
    Concat(ops::concat::ConcatStep),
    /// `out = act(conv(input, w) + b)`.
    Conv2d(ops::conv2d::Conv2dStep),
    /// Max or average pooling.
    Pool2d(ops::pool2d::Pool2dStep),
    /// Global average pooling.
    GlobalAvgPool2d(ops::pool2d::GlobalPoolStep),
    /// The top-left corner of an image (inserted by lowering, not a layer).
    Crop(ops::crop::CropStep),
}

impl StepOp {
    /// The step's emitter interface. Exhaustive: a new kind must be added here.
    pub fn def(&self) -> &dyn StepDef {
        match self {
            StepOp::Dense(s) => s,
            StepOp::Activation(s) => s,
            StepOp::Dropout(s) => s,
            StepOp::Add(s) => s,
            StepOp::Concat(s) => s,
            StepOp::Conv2d(s) => s,
            StepOp::Pool2d(s) => s,
            StepOp::GlobalAvgPool2d(s) => s,
            StepOp::Crop(s) => s,
        }
    }
}

impl Step {
    /// The parameters this step owns.
    pub fn params(&self) -> Vec<ParamId> {
        self.op.def().params()
    }
}

/// The buffer of the network's input (created first by [`lower`]).
pub const INPUT_BUFFER: BufId = 0;

/// Everything [`crate::emit`] needs to write one network.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The checked network.
    pub net: &'a ir::Network,
    /// Elements per input sample.
    pub input_width: usize,
    /// Elements per output sample.
    pub output_width: usize,
    /// Parameter tensors in visiting order (layer order, kernel before bias).
    pub params: Vec<ParamPlan>,
    /// Workspace buffers; buffer [`INPUT_BUFFER`] holds a copy of the input
    /// batch for backward (an inference pass reads the caller's batch in
    /// place when it is contiguous).
    pub buffers: Vec<Buffer>,
    /// Forward steps in topological order.
    pub steps: Vec<Step>,
    /// The network's output value.
    pub output: Value,
    /// The activation applied last (`Linear` if the last step is not an activation).
    pub output_activation: Activation,
    /// For a softmax or sigmoid output: the buffer holding its logits after
    /// an inference forward pass (read by `predict_logits`).
    pub logits: Option<BufId>,
    /// Per buffer: whether its value depends on a trainable parameter and
    /// reaches the output, so that backward must carry a gradient through it.
    pub needs_grad: Vec<bool>,
    /// `predict_one`'s scratch slices.
    pub one_scratch: Vec<OneScratch>,
    /// Scratch gradient buffers for a step's second, third... read of one
    /// value, by `(step, input index)`.
    pub dup_grads: Vec<((usize, usize), BufId)>,
    /// Per layer: the shape its output is computed at (the spec's, or the
    /// top-left corner of an image that reaches the output; see `lower/crop.rs`).
    pub shapes: Vec<Shape>,
}

/// Choices of the lowering that leave what a network computes unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Compute only the rows and columns of feature maps that reach the
    /// output (default `true`; `false` gives the plan as the spec reads,
    /// for comparisons).
    pub skip_dead_cells: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            skip_dead_cells: true,
        }
    }
}

/// The lowering context an op's [`OpDef::lower`] works with.
pub struct Lowering<'a> {
    net: &'a ir::Network,
    params: Vec<ParamPlan>,
    buffers: Vec<Buffer>,
    steps: Vec<Step>,
    one_scratch: Vec<OneScratch>,
    /// Per layer: how many layers (and the network's output) read it.
    readers: Vec<usize>,
    /// The shapes each layer is computed at.
    regions: crop::Regions,
}

impl Lowering<'_> {
    /// The checked layer.
    pub fn layer(&self, layer: usize) -> &ir::Layer {
        &self.net.layers[layer]
    }

    /// Whether `layer` reads exactly the output of layer `from` and nothing
    /// else reads that output: then `layer` may be fused into `from`'s step.
    pub fn sole_reader(&self, layer: usize, from: usize) -> bool {
        self.net.layers[layer].inputs == [ir::Source::Layer(from)] && self.readers[from] == 1
    }

    /// Scratch of `len` elements for `predict_one`, bound there to the
    /// local `ident` (a `&mut [f32]`, see [`crate::emit::one_scratch`]).
    pub fn scratch_one(&mut self, ident: String, len: usize) -> OneId {
        self.one_scratch.push(OneScratch { ident, len });
        self.one_scratch.len() - 1
    }

    /// A new workspace buffer of `width` elements per sample: a step's
    /// output, or scratch the op keeps from forward to backward.
    pub fn buffer(&mut self, ident: String, width: usize) -> BufId {
        self.buffers.push(Buffer {
            ident,
            width,
            has_grad: false,
            indices: false,
        });
        self.buffers.len() - 1
    }

    /// A workspace buffer of `width` `u32` indices per sample, kept from
    /// forward to backward (max pooling's winning cells).
    pub fn index_buffer(&mut self, ident: String, width: usize) -> BufId {
        let id = self.buffer(ident, width);
        self.buffers[id].indices = true;
        id
    }

    /// Declares the parameters `op` has for `layer` and returns their ids,
    /// in the op's order.
    pub fn params(&mut self, layer: usize, op: &dyn OpDef) -> Vec<ParamId> {
        let l = &self.net.layers[layer];
        op.params(l)
            .into_iter()
            .map(|d| {
                self.params.push(ParamPlan {
                    name: format!("{}.{}", l.name, d.suffix),
                    ident: format!("{}__{}", l.name, d.suffix),
                    shape: d.shape,
                    init: d.init,
                    fan_in: d.fan_in,
                    fan_out: d.fan_out,
                    trainable: d.trainable,
                });
                self.params.len() - 1
            })
            .collect()
    }

    /// The layer's name (unique in the network).
    pub fn layer_name(&self, layer: usize) -> &str {
        &self.net.layers[layer].name
    }

    /// Elements per sample of the layer's output, as computed.
    pub fn width(&self, layer: usize) -> usize {
        self.shape(layer).iter().product()
    }

    /// The shape the layer's output is computed at: the spec's, or the
    /// top-left corner of an image that reaches the output.
    pub fn shape(&self, layer: usize) -> &[usize] {
        &self.regions.out[layer]
    }

    /// The axes of a convolution or pooling layer as computed.
    ///
    /// # Panics
    /// If `layer` is not a window layer.
    pub fn axes(&self, layer: usize) -> [WindowAxis; 2] {
        self.regions.axes[layer].expect("a convolution or pooling layer")
    }

    /// Appends a step.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The last step pushed, for fusions.
    pub fn last_step_mut(&mut self) -> Option<&mut Step> {
        self.steps.last_mut()
    }
}

/// Lowers one checked network with the default [`Options`].
pub fn lower(net: &ir::Network) -> Plan<'_> {
    lower_with(net, Options::default())
}

/// Lowers one checked network.
pub fn lower_with(net: &ir::Network, options: Options) -> Plan<'_> {
    let numel = |s: &[usize]| s.iter().product::<usize>();
    let mut cx = Lowering {
        net,
        params: Vec::new(),
        buffers: Vec::new(),
        steps: Vec::new(),
        one_scratch: Vec::new(),
        readers: vec![0; net.layers.len()],
        regions: crop::regions(net, options.skip_dead_cells),
    };
    let reads = net
        .layers
        .iter()
        .flat_map(|l| &l.inputs)
        .chain(std::iter::once(&net.result));
    for src in reads {
        if let ir::Source::Layer(i) = src {
            cx.readers[*i] += 1;
        }
    }
    let x = cx.buffer("x".into(), numel(&net.input.shape));
    debug_assert_eq!(x, INPUT_BUFFER);
    // The value of each layer's output, in layer order (a topological order).
    let mut values: Vec<Value> = Vec::with_capacity(net.layers.len());
    let value = |values: &[Value], src: ir::Source| match src {
        ir::Source::Input => Value::both(x),
        ir::Source::Layer(i) => values[i],
    };
    // Crop steps made so far: (value cropped, corner kept) and the result.
    let mut crops: Vec<((ir::Source, Shape), Value)> = Vec::new();
    for (li, layer) in net.layers.iter().enumerate() {
        let mut inputs = Vec::with_capacity(layer.inputs.len());
        for (k, &src) in layer.inputs.iter().enumerate() {
            let v = value(&values, src);
            let have = match src {
                ir::Source::Input => net.input.shape.clone(),
                ir::Source::Layer(j) => cx.regions.out[j].clone(),
            };
            let want = cx.regions.reads[li][k].clone();
            if have == want {
                inputs.push(v);
                continue;
            }
            // A layer computed whole (or the input) read in part.
            let key = (src, want.clone());
            if let Some((_, c)) = crops.iter().find(|(k, _)| *k == key) {
                inputs.push(*c);
                continue;
            }
            let out = cx.buffer(format!("{}__crop{k}", layer.name), numel(&want));
            cx.push(Step {
                layer: li,
                inputs: vec![v],
                out,
                op: StepOp::Crop(ops::crop::CropStep {
                    from: [have[0], have[1], have[2]],
                    keep: [want[0], want[1]],
                }),
            });
            crops.push((key, Value::both(out)));
            inputs.push(Value::both(out));
        }
        let out = layer.op.def().lower(&mut cx, li, &inputs);
        values.push(out);
    }
    let cur = value(&values, net.result);
    let Lowering {
        params,
        mut buffers,
        mut steps,
        one_scratch,
        regions,
        ..
    } = cx;

    let output_activation = match steps.last() {
        Some(step) if cur.train == step.out => {
            step.op.def().activation().unwrap_or(Activation::Linear)
        }
        _ => Activation::Linear,
    };
    // Where `predict_logits` finds the logits of a softmax or sigmoid output:
    // a fused dense or convolution keeps its pre-activation (one more write
    // of the output's size per forward), a standalone activation reads them.
    let mut logits = None;
    if matches!(output_activation, Activation::Softmax | Activation::Sigmoid) {
        if let Some(step) = steps.last_mut() {
            let fresh = Buffer {
                ident: format!("{}_logits", buffers[step.out].ident),
                width: buffers[step.out].width,
                has_grad: false,
                indices: false,
            };
            let pre = match &mut step.op {
                StepOp::Dense(d) => Some(&mut d.pre),
                StepOp::Conv2d(c) => Some(&mut c.pre),
                _ => None,
            };
            logits = match pre {
                Some(Some(buf)) => Some(*buf),
                Some(pre) => {
                    buffers.push(fresh);
                    *pre = Some(buffers.len() - 1);
                    *pre
                }
                None => match step.op {
                    StepOp::Activation(_) => Some(step.inputs[0].infer),
                    _ => None,
                },
            };
        }
    }
    // Forward in topological order: a value needs a gradient if a
    // trainable parameter lies upstream of it.
    let mut needs_grad = vec![false; buffers.len()];
    for step in &steps {
        let own = step.params().iter().any(|&p| params[p].trainable);
        let upstream = step.inputs.iter().any(|v| needs_grad[v.train]);
        needs_grad[step.out] = own || upstream;
    }
    // Backward only where the output's gradient reaches: a value nothing
    // downstream of it reads (an unused `let`, W0001) gets none.
    let mut reaches = vec![false; buffers.len()];
    reaches[cur.train] = true;
    for step in steps.iter().rev() {
        if reaches[step.out] {
            for v in &step.inputs {
                reaches[v.train] = true;
            }
        }
    }
    for (needs, reaches) in needs_grad.iter_mut().zip(&reaches) {
        *needs &= *reaches;
    }
    for (buf, needs) in buffers.iter_mut().zip(&needs_grad) {
        buf.has_grad = *needs;
    }
    // A step reading one value twice (`add(h, h)`) cannot hand its kernel
    // two mutable views of one gradient: the later reads get scratch.
    let mut dup_grads = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        for (k, v) in step.inputs.iter().enumerate() {
            if needs_grad[v.train] && step.inputs[..k].iter().any(|u| u.train == v.train) {
                buffers.push(Buffer {
                    ident: format!("{}_dgrad{k}", buffers[step.out].ident),
                    width: buffers[v.train].width,
                    has_grad: false,
                    indices: false,
                });
                needs_grad.push(false);
                dup_grads.push(((i, k), buffers.len() - 1));
            }
        }
    }
    // A kernel that cannot add into an input gradient (convolution,
    // pooling) gets scratch where backward would have it add: the same walk
    // as `Plan::backward_steps`, which then adds the scratch in after it.
    let mut written = vec![false; buffers.len()];
    for (i, step) in steps.iter().enumerate().rev() {
        if !needs_grad[step.out] {
            continue;
        }
        for (k, v) in step.inputs.iter().enumerate() {
            if !needs_grad[v.train] || dup_grads.iter().any(|(at, _)| *at == (i, k)) {
                continue;
            }
            if written[v.train] && !step.op.def().adds_input_grads() {
                buffers.push(Buffer {
                    ident: format!("{}_dgrad{k}", buffers[step.out].ident),
                    width: buffers[v.train].width,
                    has_grad: false,
                    indices: false,
                });
                needs_grad.push(false);
                written.push(false);
                dup_grads.push(((i, k), buffers.len() - 1));
            }
            written[v.train] = true;
        }
    }
    Plan {
        net,
        input_width: buffers[0].width,
        output_width: numel(&net.output),
        params,
        buffers,
        steps,
        output: cur,
        output_activation,
        logits,
        needs_grad,
        one_scratch,
        dup_grads,
        shapes: regions.out,
    }
}

impl Plan<'_> {
    /// Total number of scalar parameters.
    pub fn param_count(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// The steps backward runs, in reverse topological order, each with
    /// where its input gradients go: steps whose output carries no gradient
    /// are left out, and of several steps reading one value, the first to
    /// run writes its gradient and the later ones add into it.
    pub fn backward_steps(&self) -> Vec<(usize, Backward)> {
        let last = self.steps.len().saturating_sub(1);
        let mut written = vec![false; self.buffers.len()];
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate().rev() {
            if !self.needs_grad[step.out] {
                continue;
            }
            let mut merge = Vec::new();
            let input_grads = step
                .inputs
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    if !self.needs_grad[v.train] {
                        return None;
                    }
                    if let Some(&(_, scratch)) = self.dup_grads.iter().find(|(at, _)| *at == (i, k))
                    {
                        merge.push((scratch, v.train));
                        return Some(GradTarget {
                            buf: scratch,
                            accumulate: false,
                            scratch: true,
                        });
                    }
                    let accumulate = written[v.train];
                    written[v.train] = true;
                    Some(GradTarget {
                        buf: v.train,
                        accumulate,
                        scratch: false,
                    })
                })
                .collect();
            let fused_out = i == last && self.output.train == step.out;
            out.push((
                i,
                Backward {
                    input_grads,
                    fused_out,
                    merge,
                },
            ));
        }
        out
    }
}
