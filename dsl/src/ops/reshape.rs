//! `reshape([dims])`: reinterpret the per-sample shape (same element
//! count; one `-1` is inferred). Free, like `flatten`.

use super::{Checked, OpDef, ParamDecl};
use crate::ast::{self, Value, ValueKind};
use crate::check::{describe, fmt_shape, Checker, Param, MAX_DIM};
use crate::diag::{codes, Diagnostic};
use crate::ir::{self, Activation, Op, Shape};
use crate::lower::{Lowering, Value as PlanValue};

/// `reshape` has no settings besides its target, which is the layer's output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reshape;

/// The argument schema; `shape` may be given by position.
const PARAMS: &[Param] = &[("shape", &[]), ("name", &[])];

/// Checks `reshape([dims])` against its input's element count.
pub(crate) fn check(cx: &mut Checker, layer: &ast::Layer, input: Option<&[usize]>) -> Checked {
    let call = &layer.call;
    let b = cx.bind("`reshape`", &call.args, PARAMS, 1);
    let name = cx.layer_name(b.value("name"));
    let output = match b.value("shape") {
        Some(v) => target(cx, v, input),
        None => cx.missing(call, "shape", "`reshape([7, 112])`"),
    };
    let op = output.as_ref().map(|_| Op::Reshape);
    Checked { op, output, name }
}

impl OpDef for Reshape {
    fn params(&self, _layer: &ir::Layer) -> Vec<ParamDecl> {
        Vec::new()
    }

    fn output_activation(&self) -> Option<Activation> {
        None
    }

    fn lower(&self, _cx: &mut Lowering<'_>, _layer: usize, inputs: &[PlanValue]) -> PlanValue {
        inputs[0]
    }
}

/// The target shape, with `-1` resolved; `None` after reporting an error.
fn target(cx: &mut Checker, v: &Value, input: Option<&[usize]>) -> Option<Shape> {
    let ValueKind::List(items) = &v.kind else {
        cx.wrong_type(v, "a shape such as `[7, 112]`", "`reshape`");
        return None;
    };
    if items.is_empty() {
        cx.push(Diagnostic::error(
            codes::BAD_SHAPE,
            "the target of `reshape` must have at least one dimension, found `[]`",
            v.span,
            "empty shape",
        ));
        return None;
    }
    // One `-1` may stand for "whatever makes the count match".
    let mut dims = Vec::with_capacity(items.len());
    let mut infer = None;
    for (i, item) in items.iter().enumerate() {
        let is_minus_one = matches!(&item.kind, ValueKind::Number(n) if n.text == "-1");
        if is_minus_one && infer.is_none() {
            infer = Some(i);
            dims.push(1);
            continue;
        }
        dims.push(cx.usize(item, "a dimension of `reshape`", 1, MAX_DIM)?);
    }
    let known = cx.elements(&dims, v.span, "the target of `reshape`")?;
    let input = input?;
    let have: usize = input.iter().product();
    match infer {
        Some(i) if have.is_multiple_of(known) && have / known > MAX_DIM => {
            cx.push(
                Diagnostic::error(
                    codes::INFERRED_DIM,
                    format!(
                        "`reshape` infers `-1` as {}, above the largest dimension {MAX_DIM}: the input {} has {have} elements, the other dimensions {known}",
                        have / known,
                        fmt_shape(input),
                    ),
                    items[i].span,
                    format!("would be {}", have / known),
                )
                .with_help(format!("every dimension is at most {MAX_DIM} (2^24); spread the elements over more axes")),
            );
            return None;
        }
        Some(i) if have.is_multiple_of(known) => dims[i] = have / known,
        Some(_) => {
            cx.push(Diagnostic::error(
                codes::RESHAPE_COUNT,
                format!(
                    "`reshape` cannot fit {} elements (input {}) into {}: {have} is not a multiple of {known}",
                    have,
                    fmt_shape(input),
                    describe(v)
                ),
                v.span,
                "no whole size for `-1`",
            ));
            return None;
        }
        None if known != have => {
            cx.push(
                Diagnostic::error(
                    codes::RESHAPE_COUNT,
                    format!(
                        "`reshape` must keep the element count: the input {} has {have} elements, the target {} has {known}",
                        fmt_shape(input),
                        fmt_shape(&dims)
                    ),
                    v.span,
                    format!("{known} elements"),
                )
                .with_help("the product of the target dimensions must equal the input's; `-1` infers one dimension"),
            );
            return None;
        }
        None => {}
    }
    Some(dims)
}
