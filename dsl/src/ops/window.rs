//! What `conv2d` and the pooling layers share: reading a size `N` or
//! `[h, w]` and a Keras padding, checking that the input is an image
//! `[H, W, C]`, and the window arithmetic of each spatial axis with its
//! errors, its "dropped rows" warning and its summary line. The arithmetic
//! itself is [`nnc_core::window`], the same code the runtime kernels run.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{self, Value, ValueKind};
use crate::check::{describe, fmt_shape, Checker, MAX_DIM};
use crate::diag::{codes, Diagnostic};
use crate::emit::usize_lit;
pub use nnc_core::window::{Padding, WindowAxis, WindowError};

/// A kernel, window or stride size: `3` (square) or `[3, 2]` (rows, columns).
pub(crate) fn pair(cx: &mut Checker, v: &Value, what: &str) -> Option<[usize; 2]> {
    match &v.kind {
        ValueKind::Number(_) => cx.usize(v, what, 1, MAX_DIM).map(|n| [n, n]),
        ValueKind::List(items) if items.len() == 2 => {
            let h = cx.usize(&items[0], what, 1, MAX_DIM);
            let w = cx.usize(&items[1], what, 1, MAX_DIM);
            Some([h?, w?])
        }
        _ => {
            cx.wrong_type(v, "a size `N` or `[height, width]`", what);
            None
        }
    }
}

/// `valid`, `same` (also as strings, as Keras writes them) or `N` zero cells
/// on every side.
pub(crate) fn padding(cx: &mut Checker, v: &Value, what: &str) -> Option<Padding> {
    let named = match &v.kind {
        ValueKind::Call(c) if !c.parens => Some(c.name.name.as_str()),
        ValueKind::Str(s) => Some(s.as_str()),
        ValueKind::Number(_) => return cx.usize(v, what, 0, MAX_DIM).map(Padding::Explicit),
        _ => None,
    };
    match named {
        Some("valid") => Some(Padding::Valid),
        Some("same") => Some(Padding::Same),
        _ => {
            cx.push(
                Diagnostic::error(
                    codes::WRONG_TYPE,
                    format!(
                        "{what} expects `valid`, `same` or a number of zero cells, found {}",
                        describe(v)
                    ),
                    v.span,
                    "expected `valid`, `same` or a number",
                )
                .with_help("`valid` (no padding, the default), `same` (output = ceil(input / stride)) or `padding = 1`"),
            );
            None
        }
    }
}

/// The input as an image `[H, W, C]`, or an error saying how to get one.
pub(crate) fn image(
    cx: &mut Checker,
    call: &ast::Call,
    input: Option<&[usize]>,
) -> Option<[usize; 3]> {
    let s = input?;
    if let [h, w, c] = *s {
        return Some([h, w, c]);
    }
    let kind = &call.name.name;
    let help = match *s {
        [h, w] => format!(
            "add `reshape([{h}, {w}, 1])` before this layer for a {h}x{w} grayscale image (or declare the input `[{h}, {w}, 1]`)"
        ),
        [n] if is_square(n) => {
            let side = n.isqrt();
            format!("if this is a {side}x{side} image, add `reshape([{side}, {side}, 1])` before this layer")
        }
        _ => "reshape the input to `[height, width, channels]`, e.g. `reshape([28, 28, 1])` for a 28x28 grayscale image".to_string(),
    };
    cx.push(
        Diagnostic::error(
            codes::IMAGE_RANK,
            format!(
                "`{kind}` expects an image `[height, width, channels]` (rank 3), but its input is {} (rank {})",
                fmt_shape(s),
                s.len()
            ),
            call.span,
            format!("input here is {}", fmt_shape(s)),
        )
        .with_help(help),
    );
    None
}

fn is_square(n: usize) -> bool {
    let r = n.isqrt();
    r * r == n && n > 1
}

/// Checks both spatial axes of a window (`kernel` for convolutions,
/// `window` for pooling) and warns about input cells no window reads.
pub(crate) fn axes(
    cx: &mut Checker,
    call: &ast::Call,
    image: [usize; 3],
    size: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
    pool: bool,
) -> Option<[WindowAxis; 2]> {
    let kind = &call.name.name;
    let window = if pool { "pooling window" } else { "kernel" };
    let mut out = Vec::with_capacity(2);
    for (axis, what) in [(0, "rows"), (1, "columns")] {
        let a = match WindowAxis::new(image[axis], size[axis], stride[axis], padding) {
            Ok(a) => a,
            Err(WindowError::KernelLargerThanInput { kernel, padded }) => {
                let input = image[axis];
                let pad = padded - input;
                cx.push(
                    Diagnostic::error(
                        codes::WINDOW_TOO_LARGE,
                        format!(
                            "the {window} of `{kind}` spans {kernel} {what}, more than the {padded} {what} of its padded input {}: the output would have no {what}",
                            fmt_shape(&image)
                        ),
                        call.span,
                        format!("{kernel} {what} > {input} + {pad} padding"),
                    )
                    .with_help(if pool {
                        "use a smaller window, or pool earlier in the network".to_string()
                    } else {
                        "use a smaller kernel, `padding = same`, or a larger input".to_string()
                    }),
                );
                return None;
            }
            // Sizes were range-checked (>= 1): a zero cannot reach here,
            // but report it rather than panic.
            Err(e) => {
                cx.push(Diagnostic::error(
                    codes::OUT_OF_RANGE,
                    format!("`{kind}`: {e}"),
                    call.span,
                    "invalid size",
                ));
                return None;
            }
        };
        if pool {
            if let Err(WindowError::PadNotSmallerThanPool { pad, size }) = a.check_pool() {
                cx.push(
                    Diagnostic::error(
                        codes::POOL_PADDING,
                        format!(
                            "the padding of `{kind}` ({pad} {what}) must be smaller than its window ({size} {what}): a window over padding only has no value"
                        ),
                        call.span,
                        format!("padding {pad} >= window {size}"),
                    )
                    .with_help("use `padding = same` or a smaller padding"),
                );
                return None;
            }
        }
        out.push(a);
    }
    let [rows, cols] = [out[0], out[1]];
    let (dr, dc) = (rows.dropped(), cols.dropped());
    if dr + dc > 0 {
        let part = |d: usize, of: usize, what: &str| format!("{d} of {of} {what}");
        let parts: Vec<String> = [(dr, rows.input, "rows"), (dc, cols.input, "columns")]
            .into_iter()
            .filter(|p| p.0 > 0)
            .map(|(d, of, w)| part(d, of, w))
            .collect();
        cx.push(
            Diagnostic::warning(
                codes::DROPPED_CELLS,
                format!(
                    "`{kind}` never reads {} of its input {}: no window covers them",
                    parts.join(" and "),
                    fmt_shape(&image)
                ),
                call.span,
                format!(
                    "output {}x{}: {}, {}",
                    rows.output(),
                    cols.output(),
                    arithmetic(&rows),
                    arithmetic(&cols)
                ),
            )
            .with_help("`padding = same` covers every cell; or pick sizes where (input - window) is a multiple of the stride"),
        );
    }
    Some([rows, cols])
}

/// The output-size rule of one axis with its numbers, e.g.
/// `(28 - 4) / 1 + 1 = 25` or `(28 + 1 + 2 - 4) / 1 + 1 = 28`.
pub fn arithmetic(a: &WindowAxis) -> String {
    let pad = match (a.pad_before, a.pad_after) {
        (0, 0) => String::new(),
        (p, q) if p == q => format!(" + 2*{p}"),
        (p, q) => format!(" + {p} + {q}"),
    };
    format!(
        "({}{pad} - {}) / {} + 1 = {}",
        a.input,
        a.kernel,
        a.stride,
        a.output()
    )
}

/// The summary line of a window layer: one rule when both axes agree.
pub fn summary_line(rows: &WindowAxis, cols: &WindowAxis) -> String {
    let (r, c) = (arithmetic(rows), arithmetic(cols));
    let mut line = if r == c {
        format!("rows and columns {r}")
    } else {
        format!("rows {r}, columns {c}")
    };
    let (dr, dc) = (rows.dropped(), cols.dropped());
    if dr + dc > 0 {
        line.push_str(&format!("; drops {dr} rows, {dc} columns"));
    }
    line
}

/// The axes of a checked layer; the checker already proved they are valid.
pub fn resolve(
    input: &[usize],
    size: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
) -> [WindowAxis; 2] {
    let axis = |i: usize| {
        WindowAxis::new(input[i], size[i], stride[i], padding)
            .expect("the checker proved the window fits")
    };
    [axis(0), axis(1)]
}

/// The twelve geometry fields the runtime's `Conv2d` and `Pool2d` share
/// (besides channels), as struct-literal fields.
pub(crate) fn geometry_fields(rows: &WindowAxis, cols: &WindowAxis) -> TokenStream {
    let l = |v: usize| usize_lit(v);
    let (ih, iw, kh, kw) = (l(rows.input), l(cols.input), l(rows.kernel), l(cols.kernel));
    let (sh, sw) = (l(rows.stride), l(cols.stride));
    let (pt, pl, pb, pr) = (
        l(rows.pad_before),
        l(cols.pad_before),
        l(rows.pad_after),
        l(cols.pad_after),
    );
    quote! {
        in_h: #ih, in_w: #iw, k_h: #kh, k_w: #kw, stride_h: #sh, stride_w: #sw,
        pad_top: #pt, pad_left: #pl, pad_bottom: #pb, pad_right: #pr,
    }
}
