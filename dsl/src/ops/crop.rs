//! Not a layer: the step lowering inserts where a layer reads the top-left
//! `[h, w, C]` corner of an image that was computed whole (the network's
//! input, or a `reshape`'s output), so that the layer computes only what
//! reaches the output (see [`crate::lower`]'s dead-cell pass). Calls the
//! runtime's `kernels::crop`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Backward, StepDef};
use crate::emit::{grad_target, grad_view, usize_lit, value_view, view_mut};
use crate::ir::Activation;
use crate::lower::{ParamId, Plan, Step};

/// The plan step of a crop: `out = input[..h, ..w, ..]` per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct CropStep {
    /// The input image `[H, W, C]`.
    pub from: [usize; 3],
    /// The corner kept, `[h, w]`.
    pub keep: [usize; 2],
}

impl CropStep {
    /// `&kernels::crop::Crop { .. }`.
    fn tokens(&self) -> TokenStream {
        let [ih, iw, c] = self.from.map(usize_lit);
        let [oh, ow] = self.keep.map(usize_lit);
        quote!(&kernels::crop::Crop { in_h: #ih, in_w: #iw, out_h: #oh, out_w: #ow, c: #c })
    }
}

impl StepDef for CropStep {
    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        None
    }

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

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let geom = self.tokens();
        let input = value_view(plan, step.inputs[0]);
        let outv = view_mut(plan, step.out);
        quote!((#geom).forward(#input, #outv);)
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let Some(t) = bw.input_grads[0] else {
            return quote!();
        };
        let geom = self.tokens();
        let dy = grad_view(plan, step.out);
        let dx = grad_target(plan, t);
        quote!((#geom).backward(#dy, #dx);)
    }

    fn predict_one(
        &self,
        _plan: &Plan<'_>,
        _step: &Step,
        inputs: &[TokenStream],
        output: &TokenStream,
    ) -> Option<TokenStream> {
        let input = &inputs[0];
        let geom = self.tokens();
        Some(quote!((#geom).forward_one(#input, #output);))
    }
}
