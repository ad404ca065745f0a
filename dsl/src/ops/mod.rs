//! One home per op. Each module here holds everything about one layer kind:
//! its argument schema (looked up by name), its shape rule and diagnostics,
//! its parameters, its lowering to plan steps, and the forward, backward and
//! `predict_one` code it emits.
//!
//! The pipeline reaches an op only through three exhaustive matches, so that
//! adding a kind makes rustc point at every place to fill in:
//! - `check_layer`: spelling → the op module's `check` function;
//! - [`ir::Op::def`]: checked op → its [`OpDef`] (parameters, output
//!   activation, lowering);
//! - [`crate::lower::StepOp::def`]: plan step → its [`StepDef`] (emitted code).
//!
//! `docs/architecture.md` has the checklist for adding an op.

pub mod activation;
pub mod add;
pub mod concat;
pub mod conv2d;
pub mod crop;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod pool2d;
pub mod reshape;
pub mod window;

use proc_macro2::TokenStream;

use crate::ast;
use crate::check::Checker;
use crate::ir::{self, Activation, Init, Op, Shape};
use crate::lower::{BufId, Lowering, ParamId, Plan, Step, Value};

/// What checking one layer found; each part is `None` when unknown because
/// of an error (already reported).
pub(crate) struct Checked {
    /// The op with its settings.
    pub op: Option<Op>,
    /// The per-sample output shape.
    pub output: Option<Shape>,
    /// The name given with `name = "..."`, if any.
    pub name: Option<String>,
}

/// Layer kinds other than activations (every activation name is a layer too).
pub const LAYERS: &[&str] = &[
    "dense",
    "flatten",
    "reshape",
    "dropout",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "add",
    "concat",
];

/// Layers an activation written right after them is fused into
/// (`dense(64) relu`, `conv2d(32, 3) relu`).
pub const FUSES_ACTIVATION: &[&str] = &["dense", "conv2d"];

/// Layer kinds that are planned but not built yet; the unknown-layer
/// error says so.
pub const PLANNED: &[&str] = &["batch_norm", "conv1d", "lstm", "embedding"];

/// Whether a layer kind joins several values named as its arguments
/// (`add(h, x)`) rather than reading the previous layer's output.
pub fn is_merge(kind: &str) -> bool {
    matches!(kind, "add" | "concat")
}

/// Checks a merge layer against the shapes of the values it names (`None`:
/// unknown because of an earlier error).
pub(crate) fn check_merge(
    cx: &mut Checker,
    layer: &ast::Layer,
    inputs: &[Option<&[usize]>],
) -> Checked {
    match layer.call.name.name.as_str() {
        "add" => add::check(cx, layer, inputs),
        _ => concat::check(cx, layer, inputs),
    }
}

/// A merge's positional arguments (the values, resolved by the checker)
/// and its `name = "..."`; reports fewer than two values and unknown
/// named arguments.
pub(crate) fn merge_args<'a>(
    cx: &mut Checker,
    layer: &'a ast::Layer,
) -> (Vec<&'a ast::Arg>, Option<String>) {
    let call = &layer.call;
    let what = format!("`{}`", call.name.name);
    let (positional, named): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
        call.args.iter().partition(|a| a.name.is_none());
    let named: Vec<ast::Arg> = named.into_iter().cloned().collect();
    let b = cx.bind(&what, &named, &[("name", &[])], 0);
    let name = cx.layer_name(b.value("name"));
    if positional.len() < 2 {
        cx.push(
            crate::diag::Diagnostic::error(
                crate::diag::codes::MISSING_ARGUMENT,
                format!(
                    "{what} joins at least two values, found {}",
                    positional.len()
                ),
                call.span,
                "too few values",
            )
            .with_help(format!("for example `{}(h, x)`", call.name.name)),
        );
    }
    (positional, name)
}

/// The arguments every layer with a kernel takes (`dense`, `conv2d`), with
/// one set of defaults; each is `None` when it was wrong (already reported).
pub(crate) struct KernelArgs {
    /// `kernel_init` (default `glorot_uniform`).
    pub kernel_init: Option<Init>,
    /// `bias_init` (default `zeros`).
    pub bias_init: Option<Init>,
    /// `use_bias` (default `true`).
    pub use_bias: Option<bool>,
    /// `l1` penalty (default 0).
    pub l1: Option<f32>,
    /// `l2` penalty (default 0).
    pub l2: Option<f32>,
    /// `trainable` (default `true`).
    pub trainable: Option<bool>,
    /// `name = "..."`.
    pub name: Option<String>,
    /// The activation written after the layer or given as `activation =`
    /// (default `linear`).
    pub activation: Option<Activation>,
    /// Where the activation is written, if it is.
    pub act_span: Option<crate::span::Span>,
}

/// Reads [`KernelArgs`] from a kernel layer's bound arguments; `kind` names
/// the layer in messages.
pub(crate) fn kernel_args(
    cx: &mut Checker,
    b: &crate::check::Bound<'_>,
    layer: &ast::Layer,
    kind: &str,
) -> KernelArgs {
    use crate::check::NON_NEGATIVE;
    use crate::diag::{codes, Diagnostic};
    let kernel_init = b
        .value("kernel_init")
        .map_or(Some(Init::GlorotUniform), |v| cx.init(v));
    let bias_init = b
        .value("bias_init")
        .map_or(Some(Init::Zeros), |v| cx.init(v));
    let use_bias = b
        .value("use_bias")
        .map_or(Some(true), |v| cx.boolean(v, "`use_bias`"));
    let l1 = b
        .value("l1")
        .map_or(Some(0.0), |v| cx.float(v, "the `l1` penalty", NON_NEGATIVE));
    let l2 = b
        .value("l2")
        .map_or(Some(0.0), |v| cx.float(v, "the `l2` penalty", NON_NEGATIVE));
    let trainable = b
        .value("trainable")
        .map_or(Some(true), |v| cx.boolean(v, "`trainable`"));
    let name = cx.layer_name(b.value("name"));
    // `dense(64) relu` and `dense(64, activation = relu)` are the same.
    let act_arg = b.arg("activation");
    let activation = match (&layer.activation, act_arg) {
        (Some(fused), Some(arg)) => {
            cx.push(
                Diagnostic::error(
                    codes::DUPLICATE_ARGUMENT,
                    format!("the activation of `{kind}` is given twice; expected it at most once"),
                    arg.span,
                    "given as an argument",
                )
                .with_label(fused.span, "and written after the layer")
                .with_help("keep one of them"),
            );
            None
        }
        (Some(a), None) => cx.fused_activation(a),
        (None, Some(arg)) => cx
            .callee(&arg.value, "an activation such as `relu`", "`activation`")
            .and_then(|c| cx.activation(c, false).0),
        (None, None) => Some(Activation::Linear),
    };
    let act_span = layer
        .activation
        .as_ref()
        .map(|a| a.span)
        .or(act_arg.map(|a| a.value.span));
    KernelArgs {
        kernel_init,
        bias_init,
        use_bias,
        l1,
        l2,
        trainable,
        name,
        activation,
        act_span,
    }
}

/// Checks one layer call against its input shape (`None`: unknown because of
/// an earlier error). Returns `None` for a name that is no layer.
pub(crate) fn check_layer(
    cx: &mut Checker,
    layer: &ast::Layer,
    input: Option<&[usize]>,
) -> Option<Checked> {
    let kind = layer.call.name.name.as_str();
    Some(match kind {
        "dense" => dense::check(cx, layer, input),
        "flatten" => flatten::check(cx, layer, input),
        "reshape" => reshape::check(cx, layer, input),
        "dropout" => dropout::check(cx, layer, input),
        "conv2d" => conv2d::check(cx, layer, input),
        "max_pool2d" => pool2d::check(cx, layer, input, pool2d::PoolKind::Max),
        "avg_pool2d" => pool2d::check(cx, layer, input, pool2d::PoolKind::Avg),
        "global_avg_pool2d" => pool2d::check_global(cx, layer, input),
        _ if Activation::named(kind).is_some() => activation::check(cx, layer, input),
        _ => return None,
    })
}

/// A parameter tensor an op declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    /// Suffix of its name: the tensor is `<layer>.<suffix>` in weight files
    /// and `<layer>_<suffix>` in generated code (`weight`, `bias`, ...).
    pub suffix: &'static str,
    /// Its shape, any rank. Rank 2 and more are stored as a matrix of rows
    /// of the last axis (`[KH, KW, C_in, C_out]` as `[KH*KW*C_in, C_out]`),
    /// rank 1 as a flat vector.
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

/// What the compiler needs of a checked op.
pub trait OpDef {
    /// The parameter tensors of `layer` (whose op is `self`), in visiting
    /// order. Summaries and `PARAM_COUNT` count these.
    fn params(&self, layer: &ir::Layer) -> Vec<ParamDecl>;

    /// The activation that produces the layer's output values, or `None`
    /// when the layer passes its input's values through (dropout, reshape):
    /// the loss checks and the loss fusion look at the last one.
    fn output_activation(&self) -> Option<Activation>;

    /// Multiply-adds per sample of the forward pass (summaries).
    fn macs(&self, _layer: &ir::Layer) -> u64 {
        0
    }

    /// How the output size follows from the input, for layers where that
    /// takes arithmetic (summaries): `(28 - 4) / 1 + 1 = 25`.
    fn arithmetic(&self, _layer: &ir::Layer) -> Option<String> {
        None
    }

    /// Lowers the layer: declares its parameters and buffers through `cx`,
    /// pushes its steps, and returns the value it outputs. `inputs` are the
    /// values the layer reads, in argument order.
    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value;
}

impl Op {
    /// The op's compiler interface. Exhaustive: a new kind must be added here.
    pub fn def(&self) -> &dyn OpDef {
        match self {
            Op::Dense(d) => d,
            Op::Activation(a) => a,
            Op::Flatten => &flatten::Flatten,
            Op::Reshape => &reshape::Reshape,
            Op::Dropout(d) => d,
            Op::Add(a) => a,
            Op::Concat(c) => c,
            Op::Conv2d(c) => c,
            Op::Pool2d(p) => p,
            Op::GlobalAvgPool2d => &pool2d::GlobalAvgPool2d,
        }
    }
}

/// Where backward writes the gradient of one input of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradTarget {
    /// The input's buffer; its gradient is `<ident>_grad`.
    pub buf: BufId,
    /// Add into the gradient (another consumer of the value already wrote
    /// its part) rather than overwrite it.
    pub accumulate: bool,
    /// `buf` is scratch that receives the gradient in its own storage
    /// (`ws.<ident>`, not `ws.<ident>_grad`): for a value a step reads twice,
    /// whose second gradient cannot borrow the same buffer; the emitter adds
    /// it into the real gradient after the step ([`Backward::merge`]).
    pub scratch: bool,
}

/// What a step's backward needs to know besides the step.
#[derive(Debug, Clone)]
pub struct Backward {
    /// Per input: where its gradient goes, or `None` if nobody needs it.
    pub input_grads: Vec<Option<GradTarget>>,
    /// The step produces the network's output and ends with the activation
    /// the loss may have folded into its gradient (`skip` at run time).
    pub fused_out: bool,
    /// After the step: `(scratch, buf)` pairs whose scratch gradient is added
    /// into `<buf>_grad`.
    pub merge: Vec<(BufId, BufId)>,
}

/// What the emitter needs of a plan step: the code it runs.
pub trait StepDef {
    /// The parameters the step owns.
    fn params(&self) -> Vec<ParamId>;

    /// The activation the step applies last, if it ends with one (the
    /// network's output activation when this step produces the output).
    fn activation(&self) -> Option<Activation>;

    /// Whether the step draws random numbers (training only).
    fn uses_rng(&self) -> bool;

    /// Whether the step's kernel can add an input gradient into a buffer
    /// (`kernels::Grad::Add`). Lowering gives a step that cannot a scratch
    /// gradient and adds it in afterwards when another reader of the same
    /// value already wrote that value's gradient.
    fn adds_input_grads(&self) -> bool;

    /// The kernel's descriptor (shapes and options) as `(type, value)`, if
    /// the kernel takes one. The network gets it as an associated constant
    /// named after the layer (`const DENSE1__KERNEL: kernels::dense::Dense = ...`),
    /// which [`crate::emit::descriptor`] names in the step's calls.
    fn descriptor(&self, plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)>;

    /// The step's penalty added to the loss (`Model::penalty`), if any.
    fn penalty(&self, plan: &Plan<'_>) -> Option<TokenStream>;

    /// The forward pass (training and inference; `training` is in scope).
    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream;

    /// The backward pass: parameter gradients (overwritten) and the input
    /// gradients `bw.input_grads` asks for. The output gradient is in
    /// `<out>_grad`, which the step may overwrite.
    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream;

    /// `predict_one`'s statements for the step, reading `inputs` (one
    /// `&[f32]` expression per input) and writing every element of
    /// `output`, a `&mut [f32; WIDTH]` expression that emission declares
    /// (on the stack or in the model's heap scratch, see
    /// [`crate::emit`]); `None` when inference skips the step (its output
    /// value is its input).
    fn predict_one(
        &self,
        plan: &Plan<'_>,
        step: &Step,
        inputs: &[TokenStream],
        output: &TokenStream,
    ) -> Option<TokenStream>;
}
