//! `conv2d(filters, kernel, stride = 1, padding = valid)`: 2-D convolution of
//! a channels-last image `[H, W, C_in]` into `[OH, OW, filters]`, with a
//! fused activation written after it (`conv2d(32, 4) relu`). The kernel is
//! `[KH, KW, C_in, filters]`, Keras' layout, in weight files too; the step
//! calls the runtime's `kernels::conv2d` (im2col + gemm) with an im2col
//! workspace buffer that backward reuses.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::window::{self, Padding, WindowAxis};
use super::{Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::{Checker, Param, MAX_DIM};
use crate::emit::{
    activation, f32_lit, grad_param_view_mut, grad_view_mut, one_scratch, param_view,
    param_view_in, usize_lit, value_view, view, view_mut,
};
use crate::ir::{self, Activation, Init, Op};
use crate::lower::{BufId, Lowering, OneId, ParamId, Plan, Step, StepOp, Value};

/// A convolution layer's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    /// Output channels.
    pub filters: usize,
    /// Kernel `[KH, KW]`.
    pub kernel: [usize; 2],
    /// Stride `[rows, columns]` (default 1).
    pub strides: [usize; 2],
    /// Padding (default `valid`).
    pub padding: Padding,
    /// Activation fused into the layer (`Linear` if none was written).
    pub activation: Activation,
    /// Initialiser of the kernel (default `glorot_uniform`, fans as Keras:
    /// `KH·KW·C_in` in, `KH·KW·filters` out).
    pub kernel_init: Init,
    /// Initialiser of the bias (default `zeros`).
    pub bias_init: Init,
    /// Whether there is a bias (default `true`).
    pub use_bias: bool,
    /// L1 penalty factor on the kernel (default 0).
    pub l1: f32,
    /// L2 penalty factor on the kernel (default 0).
    pub l2: f32,
    /// `false` freezes the layer (default `true`).
    pub trainable: bool,
}

/// The argument schema; `filters` and `kernel` may be given by position.
const PARAMS: &[Param] = &[
    ("filters", &[]),
    ("kernel", &["kernel_size"]),
    ("stride", &["strides"]),
    ("padding", &[]),
    ("kernel_init", &["init", "kernel_initializer"]),
    ("bias_init", &["bias_initializer"]),
    ("use_bias", &[]),
    ("l1", &[]),
    ("l2", &[]),
    ("trainable", &[]),
    ("name", &[]),
    ("activation", &[]),
];

/// Checks `conv2d(..)` (with the activation written after it, if any).
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, input: Option<&[usize]>) -> Checked {
    let call = &layer.call;
    let b = cx.bind("`conv2d`", &call.args, PARAMS, 2);
    let filters = match b.value("filters") {
        Some(v) => cx.usize(v, "the `filters` of `conv2d`", 1, MAX_DIM),
        None => cx.missing(call, "filters", "`conv2d(32, 3)`"),
    };
    let kernel = match b.value("kernel") {
        Some(v) => window::pair(cx, v, "the `kernel` of `conv2d`"),
        None => cx.missing(call, "kernel", "`conv2d(32, 3)` or `conv2d(32, [3, 5])`"),
    };
    let strides = b.value("stride").map_or(Some([1, 1]), |v| {
        window::pair(cx, v, "the `stride` of `conv2d`")
    });
    let padding = b.value("padding").map_or(Some(Padding::Valid), |v| {
        window::padding(cx, v, "the `padding` of `conv2d`")
    });
    let super::KernelArgs {
        kernel_init,
        bias_init,
        use_bias,
        l1,
        l2,
        trainable,
        name,
        activation,
        act_span,
    } = super::kernel_args(cx, &b, layer, "conv2d");
    let image = window::image(cx, call, input);
    let output = (|| {
        let (image, kernel, strides, padding, filters) =
            (image?, kernel?, strides?, padding?, filters?);
        let [rows, cols] = window::axes(cx, call, image, kernel, strides, padding, false)?;
        let out = vec![rows.output(), cols.output(), filters];
        cx.elements(&out, call.span, "the output of `conv2d`")?;
        Some(out)
    })();
    if let (Some(Activation::Softmax), Some(f), Some(span)) = (activation, filters, act_span) {
        cx.softmax_width(span, &[f]);
    }
    let op = (|| {
        Some(Op::Conv2d(Conv2d {
            filters: filters?,
            kernel: kernel?,
            strides: strides?,
            padding: padding?,
            activation: activation?,
            kernel_init: kernel_init?,
            bias_init: bias_init?,
            use_bias: use_bias?,
            l1: l1?,
            l2: l2?,
            trainable: trainable?,
        }))
    })();
    Checked { op, output, name }
}

impl Conv2d {
    /// The two spatial axes for the layer's `[H, W, C_in]` input.
    pub fn axes(&self, input: &[usize]) -> [WindowAxis; 2] {
        window::resolve(input, self.kernel, self.strides, self.padding)
    }
}

impl OpDef for Conv2d {
    fn params(&self, layer: &ir::Layer) -> Vec<ParamDecl> {
        let c_in = layer.input.get(2).copied().unwrap_or(1);
        let field = self.kernel[0] * self.kernel[1];
        let weight = ParamDecl {
            suffix: "weight",
            shape: vec![self.kernel[0], self.kernel[1], c_in, self.filters],
            init: self.kernel_init,
            fan_in: field * c_in,
            fan_out: field * self.filters,
            trainable: self.trainable,
        };
        let bias = self.use_bias.then(|| ParamDecl {
            suffix: "bias",
            shape: vec![self.filters],
            init: self.bias_init,
            ..weight.clone()
        });
        std::iter::once(weight).chain(bias).collect()
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }

    fn macs(&self, layer: &ir::Layer) -> u64 {
        let [rows, cols] = self.axes(&layer.input);
        [
            rows.output(),
            cols.output(),
            self.filters,
            rows.kernel,
            cols.kernel,
            layer.input[2],
        ]
        .iter()
        .fold(1u64, |a, &d| a.saturating_mul(d as u64))
    }

    fn arithmetic(&self, layer: &ir::Layer) -> Option<String> {
        let [rows, cols] = self.axes(&layer.input);
        Some(window::summary_line(&rows, &cols))
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let mut params = cx.params(layer, self).into_iter();
        let w = params.next().expect("conv2d declares its kernel first");
        let b = params.next();
        let l = cx.layer(layer);
        // The computed part (see `lower`'s dead-cell pass).
        let [rows, cols] = cx.axes(layer);
        let geom = Geometry {
            rows,
            cols,
            c_in: l.input[2],
            c_out: self.filters,
        };
        let name = cx.layer_name(layer).to_string();
        let width = geom.out_width();
        let col_width = geom.col_width();
        // Forward fills the im2col matrix, backward reads it.
        let col = cx.buffer(format!("{name}__col"), col_width);
        let pre = self
            .activation
            .backward_needs_input()
            .then(|| cx.buffer(format!("{name}__pre"), width));
        let one_col = cx.scratch_one(format!("{name}__one_col"), col_width);
        let out = cx.buffer(format!("{name}__out"), width);
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Conv2d(Conv2dStep {
                geom,
                w,
                b,
                act: self.activation,
                col,
                pre,
                one_col,
                l1: self.l1,
                l2: self.l2,
            }),
        });
        Value::both(out)
    }
}

/// The sizes of one convolution, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// The vertical axis.
    pub rows: WindowAxis,
    /// The horizontal axis.
    pub cols: WindowAxis,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
}

impl Geometry {
    /// Per-sample output width `OH·OW·C_out`.
    pub fn out_width(&self) -> usize {
        self.rows.output() * self.cols.output() * self.c_out
    }

    /// Per-sample im2col length `OH·OW·KH·KW·C_in` (0 for a pointwise
    /// convolution, which reads its input as is).
    pub fn col_width(&self) -> usize {
        let pointwise = self.rows.kernel == 1
            && self.cols.kernel == 1
            && self.rows.stride == 1
            && self.cols.stride == 1
            && self.rows.pad_before
                + self.rows.pad_after
                + self.cols.pad_before
                + self.cols.pad_after
                == 0;
        if pointwise {
            0
        } else {
            self.rows.output()
                * self.cols.output()
                * self.rows.kernel
                * self.cols.kernel
                * self.c_in
        }
    }

    /// `&kernels::conv2d::Conv2d { .. }`, a constant the calls share.
    fn tokens(&self) -> TokenStream {
        let fields = window::geometry_fields(&self.rows, &self.cols);
        let (ci, co) = (usize_lit(self.c_in), usize_lit(self.c_out));
        quote!(&kernels::conv2d::Conv2d { #fields in_c: #ci, out_c: #co })
    }
}

/// The plan step of a convolution: `out = act(conv(input, w) + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2dStep {
    /// Sizes.
    pub geom: Geometry,
    /// Kernel `[KH, KW, C_in, C_out]`.
    pub w: ParamId,
    /// Bias `[C_out]`, if any.
    pub b: Option<ParamId>,
    /// Fused activation.
    pub act: Activation,
    /// The im2col workspace, kept from forward to backward.
    pub col: BufId,
    /// The pre-activation, when the activation's derivative reads it.
    pub pre: Option<BufId>,
    /// `predict_one`'s im2col rows.
    pub one_col: OneId,
    /// L1 factor on the kernel.
    pub l1: f32,
    /// L2 factor on the kernel.
    pub l2: f32,
}

/// `ws.<buf>` as the flat slice the conv and pool kernels take.
pub(crate) fn flat_mut(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("{}", plan.buffers[buf].ident);
    quote!(ws.#ident.as_slice_mut().expect("workspace buffers are contiguous"))
}

impl StepDef for Conv2dStep {
    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        // The geometry is written into each call (see `forward`).
        None
    }

    fn params(&self) -> Vec<ParamId> {
        std::iter::once(self.w).chain(self.b).collect()
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.act)
    }

    fn uses_rng(&self) -> bool {
        false
    }

    fn adds_input_grads(&self) -> bool {
        // The kernel overwrites its input gradient (col2im and the pools
        // scatter into a zeroed buffer).
        false
    }

    fn penalty(&self, plan: &Plan<'_>) -> Option<TokenStream> {
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return None;
        }
        let (l1, l2) = (f32_lit(self.l1), f32_lit(self.l2));
        let w = param_view_in(plan, self.w, quote!(self.params));
        Some(quote!(kernels::penalty::value(#l1, #l2, #w)))
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let geom = self.geom.tokens();
        let input = value_view(plan, step.inputs[0]);
        let wv = param_view(plan, self.w);
        let bv = match self.b {
            Some(b) => {
                let bv = param_view(plan, b);
                quote!(Some(#bv))
            }
            None => quote!(None),
        };
        let act = activation(self.act);
        let col = flat_mut(plan, self.col);
        let pre = match self.pre {
            Some(pre) => {
                let v = view_mut(plan, pre);
                quote!(Some(#v))
            }
            None => quote!(None),
        };
        let outv = view_mut(plan, step.out);
        quote!(kernels::conv2d::forward(#geom, #input, #wv, #bv, #act, #col, #pre, #outv);)
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let geom = self.geom.tokens();
        let trainable = plan.params[self.w].trainable;
        let (xv, wv, yv) = (
            view(plan, step.inputs[0].train),
            param_view(plan, self.w),
            view(plan, step.out),
        );
        let act = activation(self.act);
        let pre = match self.pre {
            Some(pre) => {
                let v = view(plan, pre);
                quote!(Some(#v))
            }
            None => quote!(None),
        };
        let dy = grad_view_mut(plan, step.out);
        let skip_act = if bw.fused_out {
            quote!(skip)
        } else {
            quote!(false)
        };
        let col = flat_mut(plan, self.col);
        let (dw, db) = if trainable {
            let dw = grad_param_view_mut(plan, self.w);
            let db = match self.b {
                Some(b) => {
                    let v = grad_param_view_mut(plan, b);
                    quote!(Some(#v))
                }
                None => quote!(None),
            };
            (quote!(Some(#dw)), db)
        } else {
            (quote!(None), quote!(None))
        };
        let dx = match bw.input_grads[0] {
            Some(t) => {
                // Never adds: lowering gives this step scratch instead (`adds_input_grads`).
                let v = if t.scratch {
                    view_mut(plan, t.buf)
                } else {
                    grad_view_mut(plan, t.buf)
                };
                quote!(Some(#v))
            }
            None => quote!(None),
        };
        let penalty = if trainable && (self.l1 != 0.0 || self.l2 != 0.0) {
            let (l1, l2) = (f32_lit(self.l1), f32_lit(self.l2));
            let gv = grad_param_view_mut(plan, self.w);
            quote!(kernels::penalty::add_grad(#l1, #l2, #wv, #gv);)
        } else {
            quote!()
        };
        quote! {
            kernels::conv2d::backward(
                #geom, #xv, #wv, #act, #yv, #pre, #dy, #skip_act, #col,
                kernels::conv2d::Conv2dGrads { dw: #dw, db: #db, dx: #dx },
            );
            #penalty
        }
    }

    fn predict_one(
        &self,
        plan: &Plan<'_>,
        _step: &Step,
        inputs: &[TokenStream],
        output: &TokenStream,
    ) -> Option<TokenStream> {
        let input = &inputs[0];
        let geom = self.geom.tokens();
        let w = format_ident!("{}", plan.params[self.w].ident);
        let bv = match self.b {
            Some(b) => {
                let bi = format_ident!("{}", plan.params[b].ident);
                quote!(Some(&p.#bi[..]))
            }
            None => quote!(None),
        };
        let act = activation(self.act);
        let col = one_scratch(plan, self.one_col);
        Some(quote! {
            kernels::conv2d::forward_one(#geom, #input, p.#w.as_flattened(), #bv, #act, #col, #output);
        })
    }
}
