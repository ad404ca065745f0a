//! Lowering: a checked [`ir::Network`] → a [`Plan`] of kernel calls and
//! buffers, which [`crate::emit`] turns into Rust.
//!
//! Decisions made here, once, at compile time:
//! - every tensor is stored as a `[batch, width]` matrix (the per-sample shape
//!   flattened), so `flatten` and `reshape` cost nothing: their output *is*
//!   their input buffer;
//! - an activation layer directly after a `dense` layer with a linear
//!   activation is fused into it (bias-add and activation in one pass);
//! - dropout has its own output buffer in training only: at inference the next
//!   layer reads dropout's input directly;
//! - backward runs in reverse and stops at the first layer that has trainable
//!   parameters: no input gradient is computed below it, and frozen layers
//!   get no parameter-gradient work.

use crate::ir::{self, Activation, Init, Op};

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

/// A `[batch, width]` activation (or mask) buffer of the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// Field name in the generated workspace.
    pub ident: String,
    /// Elements per sample.
    pub width: usize,
    /// Whether backward needs a gradient buffer of the same size (`d_<ident>`).
    pub has_grad: bool,
}

/// A parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamPlan {
    /// Name in weight files and summaries, e.g. `dense1.weight`.
    pub name: String,
    /// Field name in the generated code, e.g. `dense1_weight`.
    pub ident: String,
    /// `[in, out]` for a kernel, `[out]` for a bias.
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
pub enum Step {
    /// `out = act(input · w + b)`.
    Dense {
        /// Index of the IR layer.
        layer: usize,
        /// Input value.
        input: Value,
        /// Kernel `[in, out]`.
        w: ParamId,
        /// Bias `[out]`, if any.
        b: Option<ParamId>,
        /// Fused activation.
        act: Activation,
        /// Buffer keeping the pre-activation, when the activation's
        /// derivative needs it.
        pre: Option<BufId>,
        /// Output buffer.
        out: BufId,
        /// L1 factor on the kernel.
        l1: f32,
        /// L2 factor on the kernel.
        l2: f32,
    },
    /// A standalone activation `out = act(input)`.
    Activation {
        /// Index of the IR layer.
        layer: usize,
        /// Input value.
        input: Value,
        /// The activation.
        act: Activation,
        /// Output buffer.
        out: BufId,
    },
    /// Inverted dropout (training only).
    Dropout {
        /// Index of the IR layer.
        layer: usize,
        /// Input value.
        input: Value,
        /// Fraction dropped.
        rate: f32,
        /// Mask buffer (0 or `1 / (1 - rate)` per element).
        mask: BufId,
        /// Output buffer (training only).
        out: BufId,
    },
}

impl Step {
    /// The IR layer this step computes.
    pub fn layer(&self) -> usize {
        match self {
            Step::Dense { layer, .. }
            | Step::Activation { layer, .. }
            | Step::Dropout { layer, .. } => *layer,
        }
    }

    /// The step's input value.
    pub fn input(&self) -> Value {
        match self {
            Step::Dense { input, .. }
            | Step::Activation { input, .. }
            | Step::Dropout { input, .. } => *input,
        }
    }

    /// The step's output buffer (in training).
    pub fn out(&self) -> BufId {
        match self {
            Step::Dense { out, .. } | Step::Activation { out, .. } | Step::Dropout { out, .. } => {
                *out
            }
        }
    }

    /// The parameters this step owns.
    pub fn params(&self) -> Vec<ParamId> {
        match self {
            Step::Dense { w, b, .. } => std::iter::once(*w).chain(*b).collect(),
            _ => Vec::new(),
        }
    }
}

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
    /// Workspace buffers; buffer 0 holds a copy of the input batch.
    pub buffers: Vec<Buffer>,
    /// Forward steps in order.
    pub steps: Vec<Step>,
    /// The network's output value.
    pub output: Value,
    /// The activation applied last (`Linear` if the last step is not an activation).
    pub output_activation: Activation,
    /// Index of the first step whose parameters are trainable; backward runs
    /// from the last step down to this one. `None` when nothing is trainable.
    pub backward_until: Option<usize>,
}

/// Lowers one checked network.
pub fn lower(net: &ir::Network) -> Plan<'_> {
    let numel = |s: &[usize]| s.iter().product::<usize>();
    let mut buffers = vec![Buffer {
        ident: "x".into(),
        width: numel(&net.input.shape),
        has_grad: false,
    }];
    let mut params = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut cur = Value { train: 0, infer: 0 };
    let new_buf = |buffers: &mut Vec<Buffer>, ident: String, width: usize| {
        buffers.push(Buffer {
            ident,
            width,
            has_grad: false,
        });
        buffers.len() - 1
    };

    for (li, layer) in net.layers.iter().enumerate() {
        let width = numel(&layer.output);
        match &layer.op {
            Op::Dense(d) => {
                let fan_in = numel(&layer.input);
                params.push(ParamPlan {
                    name: format!("{}.weight", layer.name),
                    ident: format!("{}_weight", layer.name),
                    shape: vec![fan_in, d.units],
                    init: d.kernel_init,
                    fan_in,
                    fan_out: d.units,
                    trainable: d.trainable,
                });
                let w = params.len() - 1;
                let b = d.use_bias.then(|| {
                    params.push(ParamPlan {
                        name: format!("{}.bias", layer.name),
                        ident: format!("{}_bias", layer.name),
                        shape: vec![d.units],
                        init: d.bias_init,
                        fan_in,
                        fan_out: d.units,
                        trainable: d.trainable,
                    });
                    params.len() - 1
                });
                let pre = d
                    .activation
                    .backward_needs_input()
                    .then(|| new_buf(&mut buffers, format!("{}_pre", layer.name), width));
                let out = new_buf(&mut buffers, layer.name.clone(), width);
                steps.push(Step::Dense {
                    layer: li,
                    input: cur,
                    w,
                    b,
                    act: d.activation,
                    pre,
                    out,
                    l1: d.l1,
                    l2: d.l2,
                });
                cur = Value {
                    train: out,
                    infer: out,
                };
            }
            Op::Activation(act) => {
                // Fuse into a preceding linear dense layer whose output feeds only us.
                if let Some(Step::Dense {
                    act: prev @ Activation::Linear,
                    pre,
                    out,
                    ..
                }) = steps.last_mut()
                {
                    if cur.train == *out && cur.infer == *out {
                        *prev = *act;
                        // The runtime's own rule: a buffer exactly when its backward reads one.
                        if act.backward_needs_input() {
                            *pre =
                                Some(new_buf(&mut buffers, format!("{}_pre", layer.name), width));
                        }
                        continue;
                    }
                }
                let out = new_buf(&mut buffers, layer.name.clone(), width);
                steps.push(Step::Activation {
                    layer: li,
                    input: cur,
                    act: *act,
                    out,
                });
                cur = Value {
                    train: out,
                    infer: out,
                };
            }
            Op::Flatten | Op::Reshape => {}
            Op::Dropout { rate } => {
                let mask = new_buf(&mut buffers, format!("{}_mask", layer.name), width);
                let out = new_buf(&mut buffers, layer.name.clone(), width);
                steps.push(Step::Dropout {
                    layer: li,
                    input: cur,
                    rate: *rate,
                    mask,
                    out,
                });
                cur = Value {
                    train: out,
                    infer: cur.infer,
                };
            }
        }
    }

    let output_activation = match steps.last() {
        Some(Step::Dense { act, out, .. }) | Some(Step::Activation { act, out, .. })
            if cur.train == *out =>
        {
            *act
        }
        _ => Activation::Linear,
    };
    let backward_until = steps
        .iter()
        .position(|s| s.params().iter().any(|&p| params[p].trainable));
    // Backward writes an incoming gradient for the output of every step it runs.
    if let Some(first) = backward_until {
        for step in &steps[first..] {
            buffers[step.out()].has_grad = true;
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
        backward_until,
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

    /// Whether step `i` must compute the gradient of its input (some earlier
    /// step has trainable parameters).
    pub fn needs_input_grad(&self, i: usize) -> bool {
        self.backward_until.is_some_and(|first| first < i)
    }
}
