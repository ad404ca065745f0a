//! `max_pool2d(size, stride = size, padding = valid)`,
//! `avg_pool2d(size, stride = size, padding = valid)` and
//! `global_avg_pool2d`: pooling of a channels-last image `[H, W, C]`, each
//! channel on its own, through the runtime's `kernels::pool2d`. Max pooling
//! keeps the winning cell of each window (an index buffer) from forward to
//! backward.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::window::{self, Padding, WindowAxis};
use super::{Backward, Checked, OpDef, ParamDecl, StepDef};
use crate::ast;
use crate::check::{Checker, Param};
use crate::emit::{grad_view, grad_view_mut, usize_lit, value_view, view_mut};
use crate::ir::{self, Activation, Op};
use crate::lower::{BufId, Lowering, ParamId, Plan, Step, StepOp, Value};

/// Which reduction a window pooling layer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value (`max_pool2d`).
    Max,
    /// The mean of the real (unpadded) cells (`avg_pool2d`).
    Avg,
}

/// A max or average pooling layer's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool2d {
    /// Max or average.
    pub kind: PoolKind,
    /// Window `[rows, columns]`.
    pub size: [usize; 2],
    /// Stride (default: the window size, as Keras).
    pub strides: [usize; 2],
    /// Padding (default `valid`).
    pub padding: Padding,
}

/// `global_avg_pool2d`: the mean of each channel over the image, `[H, W, C]`
/// → `[C]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalAvgPool2d;

/// The argument schema; `size` may be given by position.
const PARAMS: &[Param] = &[
    ("size", &["pool_size"]),
    ("stride", &["strides"]),
    ("padding", &[]),
    ("name", &[]),
];

/// Checks `max_pool2d(..)` or `avg_pool2d(..)`.
pub(crate) fn check(
    cx: &mut Checker,
    layer: &ast::Layer,
    input: Option<&[usize]>,
    kind: PoolKind,
) -> Checked {
    let call = &layer.call;
    let what = format!("`{}`", call.name.name);
    let b = cx.bind(&what, &call.args, PARAMS, 1);
    let size = match b.value("size") {
        Some(v) => window::pair(cx, v, &format!("the `size` of {what}")),
        None => cx.missing(call, "size", "`max_pool2d(2)` or `max_pool2d([2, 3])`"),
    };
    let strides = match b.value("stride") {
        Some(v) => window::pair(cx, v, &format!("the `stride` of {what}")),
        None => size,
    };
    let padding = b.value("padding").map_or(Some(Padding::Valid), |v| {
        window::padding(cx, v, &format!("the `padding` of {what}"))
    });
    let name = cx.layer_name(b.value("name"));
    let image = window::image(cx, call, input);
    let output = (|| {
        let (image, size, strides, padding) = (image?, size?, strides?, padding?);
        let [rows, cols] = window::axes(cx, call, image, size, strides, padding, true)?;
        Some(vec![rows.output(), cols.output(), image[2]])
    })();
    let op = (|| {
        Some(Op::Pool2d(Pool2d {
            kind,
            size: size?,
            strides: strides?,
            padding: padding?,
        }))
    })();
    Checked { op, output, name }
}

/// Checks `global_avg_pool2d`.
pub(crate) fn check_global(
    cx: &mut Checker,
    layer: &ast::Layer,
    input: Option<&[usize]>,
) -> Checked {
    let call = &layer.call;
    let b = cx.bind("`global_avg_pool2d`", &call.args, &[("name", &[])], 0);
    let name = cx.layer_name(b.value("name"));
    let output = window::image(cx, call, input).map(|[_, _, c]| vec![c]);
    Checked {
        op: Some(Op::GlobalAvgPool2d),
        output,
        name,
    }
}

impl Pool2d {
    /// The two spatial axes for the layer's `[H, W, C]` input.
    pub fn axes(&self, input: &[usize]) -> [WindowAxis; 2] {
        window::resolve(input, self.size, self.strides, self.padding)
    }
}

impl OpDef for Pool2d {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        None
    }

    fn arithmetic(&self, layer: &ir::Layer) -> Option<String> {
        let [rows, cols] = self.axes(&layer.input);
        Some(window::summary_line(&rows, &cols))
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let l = cx.layer(layer);
        // The computed part (see `lower`'s dead-cell pass).
        let [rows, cols] = cx.axes(layer);
        let c = l.input[2];
        let name = cx.layer_name(layer).to_string();
        let width = rows.output() * cols.output() * c;
        let argmax =
            (self.kind == PoolKind::Max).then(|| cx.index_buffer(format!("{name}__argmax"), width));
        let out = cx.buffer(format!("{name}__out"), width);
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::Pool2d(Pool2dStep {
                kind: self.kind,
                rows,
                cols,
                c,
                argmax,
            }),
        });
        Value::both(out)
    }
}

impl OpDef for GlobalAvgPool2d {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        None
    }

    fn lower(&self, cx: &mut Lowering<'_>, layer: usize, inputs: &[Value]) -> Value {
        let l = cx.layer(layer);
        let [h, w, c] = [l.input[0], l.input[1], l.input[2]];
        let name = cx.layer_name(layer).to_string();
        let out = cx.buffer(format!("{name}__out"), c);
        cx.push(Step {
            layer,
            inputs: inputs.to_vec(),
            out,
            op: StepOp::GlobalAvgPool2d(GlobalPoolStep { h, w, c }),
        });
        Value::both(out)
    }
}

/// The plan step of a max or average pooling layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool2dStep {
    /// Max or average.
    pub kind: PoolKind,
    /// The vertical axis.
    pub rows: WindowAxis,
    /// The horizontal axis.
    pub cols: WindowAxis,
    /// Channels.
    pub c: usize,
    /// Max pooling: each output's winning input pixel, kept for backward.
    pub argmax: Option<BufId>,
}

impl Pool2dStep {
    /// `&kernels::pool2d::Pool2d { .. }`.
    fn tokens(&self) -> TokenStream {
        let fields = window::geometry_fields(&self.rows, &self.cols);
        let c = usize_lit(self.c);
        quote!(&kernels::pool2d::Pool2d { #fields c: #c })
    }
}

/// `ws.<argmax>` as the `&mut [u32]` the max-pooling kernels take.
fn index_slice(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("{}", plan.buffers[buf].ident);
    quote!(ws.#ident.as_slice_mut().expect("workspace buffers are contiguous"))
}

impl StepDef for Pool2dStep {
    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        // The geometry is written into each call (see `forward`).
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
        // The kernel overwrites its input gradient (col2im and the pools
        // scatter into a zeroed buffer).
        false
    }

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let geom = self.tokens();
        let input = value_view(plan, step.inputs[0]);
        let outv = view_mut(plan, step.out);
        match (self.kind, self.argmax) {
            (PoolKind::Max, Some(argmax)) => {
                let a = index_slice(plan, argmax);
                // Only backward reads the winners.
                quote!(kernels::pool2d::max_forward(#geom, #input, if training { Some(#a) } else { None }, #outv);)
            }
            (PoolKind::Max, None) => {
                quote!(kernels::pool2d::max_forward(#geom, #input, None, #outv);)
            }
            (PoolKind::Avg, _) => quote!(kernels::pool2d::avg_forward(#geom, #input, #outv);),
        }
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let Some(t) = bw.input_grads[0] else {
            return quote!();
        };
        // Never adds: lowering gives this step scratch instead (`adds_input_grads`).
        let geom = self.tokens();
        let dy = grad_view(plan, step.out);
        let dx = if t.scratch {
            view_mut(plan, t.buf)
        } else {
            grad_view_mut(plan, t.buf)
        };
        match self.kind {
            PoolKind::Max => {
                let argmax = self.argmax.expect("max pooling has an argmax buffer");
                let ident = format_ident!("{}", plan.buffers[argmax].ident);
                quote! {
                    kernels::pool2d::max_backward(#geom, ws.#ident.as_slice().expect("workspace buffers are contiguous"), #dy, #dx);
                }
            }
            PoolKind::Avg => quote!(kernels::pool2d::avg_backward(#geom, #dy, #dx);),
        }
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
        let f = match self.kind {
            PoolKind::Max => quote!(max_forward_one),
            PoolKind::Avg => quote!(avg_forward_one),
        };
        Some(quote! {
            kernels::pool2d::#f(#geom, #input, #output);
        })
    }
}

/// The plan step of `global_avg_pool2d`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalPoolStep {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl GlobalPoolStep {
    fn tokens(&self) -> TokenStream {
        let (h, w, c) = (usize_lit(self.h), usize_lit(self.w), usize_lit(self.c));
        quote!(&kernels::pool2d::GlobalAvgPool2d { in_h: #h, in_w: #w, c: #c })
    }
}

impl StepDef for GlobalPoolStep {
    fn descriptor(&self, _plan: &Plan<'_>) -> Option<(TokenStream, TokenStream)> {
        // The geometry is written into each call (see `forward`).
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
        // The kernel overwrites its input gradient (col2im and the pools
        // scatter into a zeroed buffer).
        false
    }

    fn penalty(&self, _plan: &Plan<'_>) -> Option<TokenStream> {
        None
    }

    fn forward(&self, plan: &Plan<'_>, step: &Step) -> TokenStream {
        let geom = self.tokens();
        let input = value_view(plan, step.inputs[0]);
        let outv = view_mut(plan, step.out);
        quote!(kernels::pool2d::global_avg_forward(#geom, #input, #outv);)
    }

    fn backward(&self, plan: &Plan<'_>, step: &Step, bw: &Backward) -> TokenStream {
        let Some(t) = bw.input_grads[0] else {
            return quote!();
        };
        // Never adds: lowering gives this step scratch instead (`adds_input_grads`).
        let geom = self.tokens();
        let dy = grad_view(plan, step.out);
        let dx = if t.scratch {
            view_mut(plan, t.buf)
        } else {
            grad_view_mut(plan, t.buf)
        };
        quote!(kernels::pool2d::global_avg_backward(#geom, #dy, #dx);)
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
        Some(quote! {
            kernels::pool2d::global_avg_forward_one(#geom, #input, #output);
        })
    }
}
