//! `dropout(rate)`: inverted dropout, active in training only. At inference
//! the next layer reads dropout's input directly.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::{Checker, Param, UNIT_OPEN};
use crate::emit::{descriptor, f32_lit, grad_target, grad_view, value_view, view, view_mut};
use crate::ir::{self, Activation, Op};
use crate::lower::{BufId, Lowering, ParamId, Plan, Step, StepOp, Value};

/// Dropout's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Fraction of units zeroed, in `[0, 1)`.
    pub rate: f32,
}

/// The argument schema; `rate` may be given by position.
const PARAMS: &[Param] = &[("rate", &[]), ("name", &[])];

/// Checks `dropout(rate)`: the output shape is the input's.
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, input: Option<&[usize]>) -> Checked {
    let call = &layer.call;
    let b = cx.bind("`dropout`", &call.args, PARAMS, 1);
    let name = cx.layer_name(b.value("name"));
    let rate = match b.value("rate") {
        Some(v) => cx.float(v, "the `rate` of `dropout`", UNIT_OPEN),
        None => cx.missing(call, "rate", "`dropout(0.2)`"),
    };
    Checked {
        op: rate.map(|rate| Op::Dropout(Dropout { rate })),
        output: input.map(<[usize]>::to_vec),
        name,
    }
}

impl OpDef for Dropout {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        None
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let name = cx.layer_name(layer).to_string();
        let width = cx.width(layer);
        let mask = cx.buffer(format!("{name}__mask"), width);
        let out = cx.buffer(format!("{name}__out"), width);
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Dropout(DropoutStep {
                rate: self.rate,
                mask,
            }),
        });
        // Only training passes through the mask.
        Value {
            train: out,
            infer: inputs[0].infer,
        }
    }
}

/// The plan step of a dropout layer (training only).
#[derive(Debug, Clone, PartialEq)]
pub struct DropoutStep {
    /// Fraction dropped.
    pub rate: f32,
    /// Scratch buffer of the mask (0 or `1 / (1 - rate)` per element),
    /// kept from forward to backward.
    pub mask: BufId,
}

impl StepDef for DropoutStep {
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }

    fn activation(&self) -> Option<Activation> {
        None
    }

    fn uses_rng(&self) -> bool {
        true
    }

    fn adds_input_grads(&self) -> bool {
        true
    }

    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        let rate = f32_lit(self.rate);
        Some((
            quote!(::nnc::kernels::dropout::Dropout),
            quote!(::nnc::kernels::dropout::Dropout { rate: #rate }),
        ))
    }

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let input = value_view(plan, step.inputs[0]);
        let layer = descriptor(plan, step);
        let (m, o) = (view_mut(plan, self.mask), view_mut(plan, step.out));
        quote! {
            if training {
                #layer.forward(#input, #m, #o, rng);
            }
        }
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let Some(target) = bw.input_grads[0] else {
            return quote!();
        };
        let (m, dy, dx) = (
            view(plan, self.mask),
            grad_view(plan, step.out),
            grad_target(plan, target),
        );
        let layer = descriptor(plan, step);
        quote!(#layer.backward(#m, #dy, #dx);)
    }

    fn predict_one(
        &self,
        _plan: &Plan<'_>,
        _step: &Step,
        _inputs: &[TokenStream],
        _output: &TokenStream,
    ) -> Option<TokenStream> {
        None
    }
}
