//! `dense(units)`: fully connected, `y = act(x W + b)`, `W` is `[in, units]`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::{fmt_shape, Checker, Param, MAX_DIM};
use crate::diag::{codes, Diagnostic};
use crate::emit::{
    activation, descriptor, f32_lit, grad_param_view_mut, grad_target, grad_view_mut, param_view,
    param_view_in, usize_lit, value_view, view, view_mut,
};
use crate::ir::{self, Activation, Init, Op};
use crate::lower::{BufId, Lowering, ParamId, Plan, Step, StepOp, Value};

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

/// The argument schema: name and aliases. `units` may be given by position.
const PARAMS: &[Param] = &[
    ("units", &[]),
    ("kernel_init", &["init"]),
    ("bias_init", &[]),
    ("use_bias", &[]),
    ("l1", &[]),
    ("l2", &[]),
    ("trainable", &[]),
    ("name", &[]),
    ("activation", &[]),
];

/// Checks `dense(..)` (with the activation written after it, if any).
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, input: Option<&[usize]>) -> Checked {
    let call = &layer.call;
    let b = cx.bind("`dense`", &call.args, PARAMS, 1);
    let units = match b.value("units") {
        Some(v) => cx.usize(v, "the `units` of `dense`", 1, MAX_DIM),
        None => cx.missing(call, "units", "`dense(64)`"),
    };
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
    } = super::kernel_args(cx, &b, layer, "dense");
    if let Some(s) = input {
        if s.len() != 1 {
            cx.push(
                Diagnostic::error(
                    codes::RANK_MISMATCH,
                    format!(
                        "`dense` expects a vector input, but its input is {}",
                        fmt_shape(s)
                    ),
                    call.span,
                    format!("input here is {}", fmt_shape(s)),
                )
                .with_help("add `flatten` before this layer"),
            );
        }
    }
    if let (Some(Activation::Softmax), Some(u), Some(span)) = (activation, units, act_span) {
        cx.softmax_width(span, &[u]);
    }
    let output = units.map(|u| vec![u]);
    let op = (|| {
        Some(Op::Dense(Dense {
            units: units?,
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

impl OpDef for Dense {
    fn params(&self, layer: &ir::Layer) -> Vec<ParamDecl> {
        let fan_in = layer.input.iter().product::<usize>();
        let weight = ParamDecl {
            suffix: "weight",
            shape: vec![fan_in, self.units],
            init: self.kernel_init,
            fan_in,
            fan_out: self.units,
            trainable: self.trainable,
        };
        let bias = self.use_bias.then(|| ParamDecl {
            suffix: "bias",
            shape: vec![self.units],
            init: self.bias_init,
            ..weight.clone()
        });
        std::iter::once(weight).chain(bias).collect()
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }

    fn macs(&self, layer: &ir::Layer) -> u64 {
        let fan_in = layer
            .input
            .iter()
            .fold(1u64, |a, &d| a.saturating_mul(d as u64));
        fan_in.saturating_mul(self.units as u64)
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let mut params = cx.params(layer, self).into_iter();
        let w = params.next().expect("dense declares its weight first");
        let b = params.next();
        let name = cx.layer_name(layer).to_string();
        let width = self.units;
        // Keep the pre-activation only if the activation's backward reads it.
        let pre = self
            .activation
            .backward_needs_input()
            .then(|| cx.buffer(format!("{name}__pre"), width));
        let out = cx.buffer(format!("{name}__out"), width);
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Dense(DenseStep {
                w,
                b,
                act: self.activation,
                pre,
                l1: self.l1,
                l2: self.l2,
            }),
        });
        Value::both(out)
    }
}

/// The plan step of a dense layer: `out = act(input · w + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseStep {
    /// Kernel `[in, out]`.
    pub w: ParamId,
    /// Bias `[out]`, if any.
    pub b: Option<ParamId>,
    /// Fused activation (an activation layer right after a linear dense
    /// layer is folded in here).
    pub act: Activation,
    /// Scratch buffer keeping the pre-activation, when the activation's
    /// derivative reads it.
    pub pre: Option<BufId>,
    /// L1 factor on the kernel.
    pub l1: f32,
    /// L2 factor on the kernel.
    pub l2: f32,
}

impl StepDef for DenseStep {
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
        true
    }

    fn descriptor(&self, plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        let shape = &plan.params[self.w].shape;
        let inputs = usize_lit(shape[..shape.len() - 1].iter().product());
        let units = usize_lit(shape[shape.len() - 1]);
        let act = self.act.tokens_at(&quote!(::nnc::Activation));
        Some((
            quote!(::nnc::kernels::dense::Dense),
            quote!(::nnc::kernels::dense::Dense { inputs: #inputs, units: #units, act: #act }),
        ))
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
        let input = value_view(plan, step.inputs[0]);
        let wv = param_view(plan, self.w);
        let bv = match self.b {
            Some(b) => {
                let bv = param_view(plan, b);
                quote!(Some(#bv))
            }
            None => quote!(None),
        };
        let pre = match self.pre {
            Some(pre) => {
                let v = view_mut(plan, pre);
                quote!(Some(#v))
            }
            None => quote!(None),
        };
        let outv = view_mut(plan, step.out);
        let layer = descriptor(plan, step);
        quote! {
            #layer.forward(kernels::dense::Forward {
                x: #input,
                w: #wv,
                b: #bv,
                pre: #pre,
                y: #outv,
            });
        }
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let input = step.inputs[0].train;
        let trainable = plan.params[self.w].trainable;
        let (xv, wv, yv) = (
            view(plan, input),
            param_view(plan, self.w),
            view(plan, step.out),
        );
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
                let g = grad_target(plan, t);
                quote!(Some(#g))
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
        let layer = descriptor(plan, step);
        quote! {
            #layer.backward(
                kernels::dense::Backward {
                    x: #xv,
                    w: #wv,
                    y: #yv,
                    pre: #pre,
                    dy: #dy,
                    at_logits: #skip_act,
                },
                kernels::dense::Grads { dw: #dw, db: #db, dx: #dx },
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
        let w = &plan.params[self.w];
        let (inw, outw) = (
            usize_lit(w.shape[..w.shape.len() - 1].iter().product()),
            usize_lit(w.shape[w.shape.len() - 1]),
        );
        let wi = quote::format_ident!("{}", w.ident);
        let bv = match self.b {
            Some(b) => {
                let bi = quote::format_ident!("{}", plan.params[b].ident);
                quote!(Some(&p.#bi[..]))
            }
            None => quote!(None),
        };
        let act = activation(self.act);
        Some(quote! {
            kernels::dense::forward_one::<#inw, #outw>(#input, &p.#wi, #bv, #act, #output);
        })
    }
}
