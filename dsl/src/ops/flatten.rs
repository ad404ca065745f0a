//! `flatten`: collapse the per-sample shape to one axis. Free: buffers are
//! already `[batch, width]`, so the output is the input buffer.

use super::{Checked, OpDef, ParamDecl};
use crate::ast;
use crate::check::{Checker, Param};
use crate::ir::{self, Activation, Op};
use crate::lower::{Lowering, Value};

/// `flatten` has no settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten;

const PARAMS: &[Param] = &[("name", &[])];

/// Checks `flatten`: `[a, b, c]` → `[a * b * c]`.
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, input: Option<&[usize]>) -> Checked {
    let b = cx.bind("`flatten`", &layer.call.args, PARAMS, 0);
    let name = cx.layer_name(b.value("name"));
    Checked {
        op: Some(Op::Flatten),
        output: input.map(|s| vec![s.iter().product()]),
        name,
    }
}

impl OpDef for Flatten {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        None
    }

    fn lower(&self, _cx: &mut Lowering<'_>, _layer: usize, inputs: &[Value]) -> Value {
        inputs[0]
    }
}
