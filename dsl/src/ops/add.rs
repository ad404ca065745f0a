//! `add(a, b, ...)`: the element-wise sum of values of one shape, e.g. a
//! residual connection `let r = add(h, x)`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{merge_args, Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::{fmt_shape, Checker};
use crate::diag::{codes, Diagnostic};
use crate::emit::{grad_target, grad_view, value_view, view_mut};
use crate::ir::{self, Activation, Op};
use crate::lower::{Lowering, ParamId, Plan, Step, StepOp, Value};

/// `add` has no settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Add;

/// Checks `add(a, b, ...)`: every value has the shape of the first.
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, inputs: &[Option<&[usize]>]) -> Checked {
    let (args, name) = merge_args(cx, layer);
    // Fewer than two values is reported by `merge_args`: the output is
    // unknown then, so the output declaration is not blamed too.
    let mut ok = args.len() >= 2 && args.len() == inputs.len();
    if let Some(first) = inputs[0] {
        for (shape, arg) in inputs.iter().zip(&args).skip(1) {
            match shape {
                Some(s) if *s != first => {
                    ok = false;
                    cx.push(
                        Diagnostic::error(
                            codes::ADD_SHAPE,
                            format!(
                                "`add` expects values of one shape, found {} and {}",
                                fmt_shape(first),
                                fmt_shape(s)
                            ),
                            arg.span,
                            format!("this value is {}", fmt_shape(s)),
                        )
                        .with_label(args[0].span, format!("this value is {}", fmt_shape(first)))
                        .with_help(
                            "add values of the same shape, e.g. project one with `dense` first",
                        ),
                    );
                }
                Some(_) => {}
                None => ok = false,
            }
        }
    }
    let output = inputs[0].filter(|_| ok).map(<[usize]>::to_vec);
    Checked {
        op: ok.then_some(Op::Add(Add)),
        output,
        name,
    }
}

impl OpDef for Add {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        // A sum of activations is no activation's output.
        Some(Activation::Linear)
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let name = cx.layer_name(layer).to_string();
        let out = cx.buffer(format!("{name}__out"), cx.width(layer));
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Add(AddStep),
        });
        Value::both(out)
    }
}

/// The plan step of `add`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddStep;

impl StepDef for AddStep {
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }

    fn activation(&self) -> Option<Activation> {
        None
    }

    fn uses_rng(&self) -> bool {
        false
    }

    fn adds_input_grads(&self) -> bool {
        true
    }

    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        None
    }

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let xs = step.inputs.iter().map(|&v| value_view(plan, v));
        let y = view_mut(plan, step.out);
        quote!(kernels::merge::add([#(#xs),*], #y);)
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let dy = grad_view(plan, step.out);
        let dxs = bw.input_grads.iter().map(|t| match t {
            Some(t) => {
                let g = grad_target(plan, *t);
                quote!(Some(#g))
            }
            None => quote!(None),
        });
        quote!(kernels::merge::add_backward(#dy, [#(#dxs),*]);)
    }

    fn predict_one(
        &self,
        _plan: &Plan<'_>,
        _step: &Step,
        inputs: &[TokenStream],
        output: &TokenStream,
    ) -> Option<TokenStream> {
        Some(quote! {
            kernels::merge::add_one([#(#inputs),*], #output);
        })
    }
}
