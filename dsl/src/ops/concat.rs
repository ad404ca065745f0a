//! `concat(a, b, ...)`: values joined along their last axis; every other
//! axis must agree.

use proc_macro2::TokenStream;
use quote::quote;

use super::{merge_args, Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::{fmt_shape, Checker};
use crate::diag::{codes, Diagnostic};
use crate::emit::{descriptor, grad_target, grad_view, usize_lit, value_view, view_mut};
use crate::ir::{self, Activation, Op};
use crate::lower::{Lowering, ParamId, Plan, Step, StepOp, Value};

/// `concat` has no settings; the parts' widths come from its input shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat;

/// Checks `concat(a, b, ...)`: same rank, same axes but the last; the
/// output's last axis is the sum.
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, inputs: &[Option<&[usize]>]) -> Checked {
    let (args, name) = merge_args(cx, layer);
    // Fewer than two values is reported by `merge_args`: the output is
    // unknown then, so the output declaration is not blamed too.
    let mut ok = args.len() >= 2 && args.len() == inputs.len();
    let mut output = None;
    if let Some(first) = inputs[0] {
        let mut last = first[first.len() - 1];
        for (shape, arg) in inputs.iter().zip(&args).skip(1) {
            match shape {
                Some(s)
                    if s.len() != first.len() || s[..s.len() - 1] != first[..first.len() - 1] =>
                {
                    ok = false;
                    cx.push(
                        Diagnostic::error(
                            codes::CONCAT_SHAPE,
                            format!(
                                "`concat` joins values along their last axis and expects the other axes to agree, found {} and {}",
                                fmt_shape(first),
                                fmt_shape(s)
                            ),
                            arg.span,
                            format!("this value is {}", fmt_shape(s)),
                        )
                        .with_label(args[0].span, format!("this value is {}", fmt_shape(first)))
                        .with_help("flatten or reshape the values so that only their last axis differs"),
                    );
                }
                Some(s) => last += s[s.len() - 1],
                None => ok = false,
            }
        }
        let mut out = first.to_vec();
        *out.last_mut().expect("shapes have an axis") = last;
        output = Some(out);
    }
    let output = output.filter(|o| {
        ok && cx
            .elements(o, layer.call.span, "the output of `concat`")
            .is_some()
    });
    Checked {
        op: output.as_ref().map(|_| Op::Concat(Concat)),
        output,
        name,
    }
}

impl OpDef for Concat {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(Activation::Linear)
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let l = cx.layer(layer);
        let widths = l.input_shapes.iter().map(|s| s[s.len() - 1]).collect();
        let shape = cx.shape(layer);
        let outer = shape[..shape.len() - 1].iter().product();
        let name = l.name.clone();
        let out = cx.buffer(format!("{name}__out"), cx.width(layer));
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Concat(ConcatStep { outer, widths }),
        });
        Value::both(out)
    }
}

/// The plan step of `concat`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcatStep {
    /// Elements before the last axis, per sample.
    pub outer: usize,
    /// Each input's last axis.
    pub widths: Vec<usize>,
}

impl StepDef for ConcatStep {
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
        let n = usize_lit(self.widths.len());
        let outer = usize_lit(self.outer);
        let widths = self.widths.iter().map(|&w| usize_lit(w));
        Some((
            quote!(::nnc::kernels::merge::Concat<#n>),
            quote!(::nnc::kernels::merge::Concat { outer: #outer, widths: [#(#widths),*] }),
        ))
    }

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let layer = descriptor(plan, step);
        let xs = step.inputs.iter().map(|&v| value_view(plan, v));
        let y = view_mut(plan, step.out);
        quote!(#layer.forward([#(#xs),*], #y);)
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let layer = descriptor(plan, step);
        let dy = grad_view(plan, step.out);
        let dxs = bw.input_grads.iter().map(|t| match t {
            Some(t) => {
                let g = grad_target(plan, *t);
                quote!(Some(#g))
            }
            None => quote!(None),
        });
        quote!(#layer.backward(#dy, [#(#dxs),*]);)
    }

    fn predict_one(
        &self,
        plan: &Plan<'_>,
        step: &Step,
        inputs: &[TokenStream],
        output: &TokenStream,
    ) -> Option<TokenStream> {
        let layer = descriptor(plan, step);
        Some(quote! {
            #layer.forward_one([#(#inputs),*], #output);
        })
    }
}
