//! Activation layers: `relu`, `softmax`, ... standalone, `y = act(x)`. Right
//! after a linear `dense` layer one is fused into it instead.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::Checker;
use crate::emit::{
    activation, grad_target, grad_view, grad_view_mut, usize_lit, value_view, view, view_mut,
};
use crate::ir::{self, Activation, Op};
use crate::lower::{Lowering, ParamId, Plan, Step, StepOp, Value};

/// Checks a standalone activation layer (its argument schema and defaults
/// are the checker's `activation`, shared with the form fused after `dense`).
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, input: Option<&[usize]>) -> Checked {
    let call = &layer.call;
    let (act, name) = cx.activation(call, true);
    if let (Some(Activation::Softmax), Some(s)) = (act, input) {
        cx.softmax_width(call.span, s);
    }
    Checked {
        op: act.map(Op::Activation),
        output: input.map(<[usize]>::to_vec),
        name,
    }
}

impl OpDef for Activation {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(*self)
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let name = cx.layer_name(layer).to_string();
        let width = cx.width(layer);
        // Fuse into a preceding linear dense layer whose output is our input.
        let input = inputs[0];
        let mut fused_pre = None;
        let sole = |cx: &Lowering<'_>, from: usize| cx.sole_reader(layer, from);
        let last_layer = cx.last_step_mut().map(|s| s.layer);
        let sole_reader = last_layer.is_some_and(|from| sole(cx, from));
        if let Some(Step {
            out,
            op: StepOp::Dense(d),
            ..
        }) = cx.last_step_mut()
        {
            if sole_reader && d.act == Activation::Linear && input == Value::both(*out) {
                d.act = *self;
                fused_pre = Some(self.backward_needs_input());
            }
        }
        if let Some(needs_pre) = fused_pre {
            if needs_pre {
                let pre = cx.buffer(format!("{name}__pre"), width);
                if let Some(Step {
                    op: StepOp::Dense(d),
                    ..
                }) = cx.last_step_mut()
                {
                    d.pre = Some(pre);
                }
            }
            return input;
        }
        let out = cx.buffer(format!("{name}__out"), width);
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Activation(ActivationStep { act: *self }),
        });
        Value::both(out)
    }
}

/// The plan step of a standalone activation: `out = act(input)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationStep {
    /// The activation.
    pub act: Activation,
}

/// How a step's `[n, width]` buffers are viewed for its kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lanes {
    /// As they are: element-wise activations, and softmax over a vector.
    Rows,
    /// As `[n * outer, last]`: softmax over the last axis of a value of
    /// rank 2 or more (per pixel over the channels of an image, as the
    /// fused softmax of `conv2d`), not over the whole sample.
    Last {
        /// Lanes per sample.
        outer: usize,
        /// The last axis.
        last: usize,
    },
}

impl Lanes {
    /// `view` (a `[n, width]` view expression) as the kernel sees it.
    fn view(self, view: TokenStream) -> TokenStream {
        match self {
            Lanes::Rows => view,
            Lanes::Last { outer, last } => {
                let (outer, last) = (usize_lit(outer), usize_lit(last));
                // Workspace rows `..n` of a standard-layout buffer are contiguous.
                quote!((#view).into_shape_with_order((n * #outer, #last)).expect("contiguous rows"))
            }
        }
    }
}

impl ActivationStep {
    fn lanes(&self, plan: &Plan<'_>, step: &Step) -> Lanes {
        let shape = &plan.shapes[step.layer];
        match (self.act.is_rowwise(), shape.last()) {
            (true, Some(&last)) if shape.len() > 1 && last > 0 => Lanes::Last {
                outer: shape.iter().product::<usize>() / last,
                last,
            },
            _ => Lanes::Rows,
        }
    }
}

impl StepDef for ActivationStep {
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
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

    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        // The activation value is the whole description.
        None
    }

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let lanes = self.lanes(plan, step);
        let input = lanes.view(value_view(plan, step.inputs[0]));
        let act = activation(self.act);
        let outv = lanes.view(view_mut(plan, step.out));
        quote!(kernels::act::forward(#act, #input, #outv);)
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let Some(target) = bw.input_grads[0] else {
            // Nothing upstream is trainable: the gradient stops here.
            return quote!();
        };
        let input = step.inputs[0].train;
        let out = step.out;
        let act = activation(self.act);
        let lanes = self.lanes(plan, step);
        let (xv, yv, dy) = (
            lanes.view(view(plan, input)),
            lanes.view(view(plan, out)),
            lanes.view(grad_view(plan, out)),
        );
        let dx = match lanes {
            Lanes::Rows => grad_target(plan, target),
            Lanes::Last { .. } => {
                let v = if target.scratch {
                    view_mut(plan, target.buf)
                } else {
                    grad_view_mut(plan, target.buf)
                };
                let v = lanes.view(v);
                if target.accumulate {
                    quote!(kernels::Grad::Add(#v))
                } else {
                    quote!(kernels::Grad::Write(#v))
                }
            }
        };
        let call = quote! {
            kernels::act::backward(#act, kernels::act::Backward { x: Some(#xv), y: #yv, dy: #dy }, #dx);
        };
        if bw.fused_out {
            // The loss may have handed us the gradient at the logits already.
            let (dy2, dx2) = (grad_view(plan, out), grad_view_mut(plan, target.buf));
            let pass = if target.accumulate {
                quote!({ let mut dx = #dx2; dx += &#dy2; })
            } else {
                quote!(#dx2.assign(&#dy2);)
            };
            quote! {
                if skip {
                    #pass
                } else {
                    #call
                }
            }
        } else {
            call
        }
    }

    fn predict_one(
        &self,
        plan: &Plan<'_>,
        step: &Step,
        inputs: &[TokenStream],
        output: &TokenStream,
    ) -> Option<TokenStream> {
        let input = &inputs[0];
        let act = activation(self.act);
        Some(match self.lanes(plan, step) {
            Lanes::Rows => quote! {
                kernels::act::forward_slice(#act, #input, #output);
            },
            Lanes::Last { last, .. } => {
                let last = usize_lit(last);
                quote! {
                    for (x, y) in (#input).chunks_exact(#last).zip((#output).chunks_exact_mut(#last)) {
                        kernels::act::forward_slice(#act, x, y);
                    }
                }
            }
        })
    }
}
