//! [`ast::File`] → [`ir::Program`]: resolves names, checks every argument's
//! type and range, fills in defaults, infers and proves every shape, and
//! checks that each train block's loss fits its network's output.
//!
//! All errors of a spec are collected in one pass. A layer that fails gets an
//! unknown shape (`None`), and checks that depend on an unknown shape are
//! skipped, so one mistake gives one diagnostic, not a cascade.

use std::collections::HashMap;

use crate::ast::{self, Arg, Call, Value, ValueKind};
use crate::diag::{codes, suggestion, Diagnostic};
use crate::ir::{self, Activation, Init, Loss, Metric, Op, Optimizer, Shape};
use crate::names;
use crate::span::Span;

/// Largest accepted dimension or `dense` width.
pub const MAX_DIM: usize = 1 << 24;
/// Most diagnostics reported for one spec; past it, one more says how many were left out.
pub const MAX_DIAGNOSTICS: usize = 100;
/// Largest accepted element count of one per-sample tensor.
pub const MAX_ELEMENTS: usize = 1 << 32;

/// Checks a parsed spec and produces its IR, or every error found.
pub fn check(file: &ast::File) -> Result<ir::Program, Vec<Diagnostic>> {
    let mut cx = Checker::default();
    let mut networks: Vec<(ir::Network, NetInfo)> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut spans: HashMap<&str, Span> = HashMap::new();
    for item in &file.items {
        if let ast::Item::Network(n) = item {
            if let Some(first) = spans.get(n.name.name.as_str()) {
                cx.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NETWORK,
                        format!(
                            "network `{}` is defined twice; network names must be unique",
                            n.name.name
                        ),
                        n.name.span,
                        "second definition",
                    )
                    .with_label(*first, "first defined here")
                    .with_help("rename one of the networks"),
                );
                continue;
            }
            spans.insert(&n.name.name, n.name.span);
            let checked = cx.network(n);
            by_name.insert(&n.name.name, networks.len());
            networks.push(checked);
        }
    }
    let mut trained: HashMap<usize, Span> = HashMap::new();
    for item in &file.items {
        if let ast::Item::Train(t) = item {
            let Some(&idx) = by_name.get(t.network.name.as_str()) else {
                let known: Vec<&str> = by_name.keys().copied().collect();
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_NETWORK,
                    format!(
                        "train block for unknown network `{}`: expected the name of a network in this spec",
                        t.network.name
                    ),
                    t.network.span,
                    "no network of this name",
                );
                d = if known.is_empty() {
                    d.with_help(
                        "define the network with `network Name(input: [dims]) -> [dims] { ... }`",
                    )
                } else {
                    d.with_help(suggestion(&t.network.name, &sorted(known)))
                };
                cx.push(d);
                // Still check the settings themselves.
                cx.train(t, &NetInfo::unknown());
                continue;
            };
            if let Some(first) = trained.get(&idx) {
                cx.push(
                    Diagnostic::error(
                        codes::DUPLICATE_TRAIN,
                        format!(
                            "network `{}` has two train blocks; expected at most one",
                            t.network.name
                        ),
                        t.network.span,
                        "second train block",
                    )
                    .with_label(*first, "first train block here")
                    .with_help("merge the settings into one block"),
                );
                continue;
            }
            trained.insert(idx, t.network.span);
            let (net, info) = &mut networks[idx];
            let info = info.clone();
            net.train = cx.train(t, &info);
        }
    }
    if cx.diags.is_empty() {
        Ok(ir::Program {
            networks: networks.into_iter().map(|(n, _)| n).collect(),
        })
    } else {
        let mut diags = cx.diags;
        diags.sort_by_key(|d| d.span.start);
        if diags.len() > MAX_DIAGNOSTICS {
            // Rendering shows each error's source line; a machine-made spec
            // with 100,000 mistakes on one long line must not take hours.
            let total = diags.len();
            let next = diags[MAX_DIAGNOSTICS].span;
            diags.truncate(MAX_DIAGNOSTICS);
            diags.push(Diagnostic::error(
                codes::TOO_MANY_ERRORS,
                format!("too many errors: showing the first {MAX_DIAGNOSTICS} of {total}"),
                Span::new(next.start, next.start),
                "stopped reporting here",
            ));
        }
        Err(diags)
    }
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

/// What the loss checks need to know about a network's output.
#[derive(Clone, Debug)]
struct NetInfo {
    /// The inferred output shape, if known.
    output: Option<Shape>,
    /// The activation that produces the output values, if known.
    last_act: Option<Activation>,
    /// The layer that applies it (or the signature if there is no layer).
    last_span: Span,
}

impl NetInfo {
    fn unknown() -> Self {
        NetInfo {
            output: None,
            last_act: None,
            last_span: Span::default(),
        }
    }
}

/// A numeric range for argument checks, with how to say it.
#[derive(Clone, Copy)]
struct Range {
    min: f64,
    min_incl: bool,
    max: f64,
    max_incl: bool,
}

impl Range {
    const fn new(min: f64, min_incl: bool, max: f64, max_incl: bool) -> Self {
        Range {
            min,
            min_incl,
            max,
            max_incl,
        }
    }
    fn contains(&self, x: f64) -> bool {
        let lo = if self.min_incl {
            x >= self.min
        } else {
            x > self.min
        };
        let hi = if self.max_incl {
            x <= self.max
        } else {
            x < self.max
        };
        lo && hi
    }
    fn describe(&self) -> String {
        let max_inf = self.max == f64::MAX;
        match (self.min_incl, max_inf) {
            (true, true) => format!("at least {}", self.min),
            (false, true) => format!("greater than {}", self.min),
            _ => format!(
                "in {}{}, {}{}",
                if self.min_incl { "[" } else { "(" },
                self.min,
                self.max,
                if self.max_incl { "]" } else { ")" }
            ),
        }
    }
}

const POSITIVE: Range = Range::new(0.0, false, f64::MAX, true);
const NON_NEGATIVE: Range = Range::new(0.0, true, f64::MAX, true);
const UNIT_OPEN: Range = Range::new(0.0, true, 1.0, false);
const ANY: Range = Range::new(f64::MIN, true, f64::MAX, true);

/// A parameter: its name and the other names it answers to.
type Param = (&'static str, &'static [&'static str]);

/// Arguments bound to parameters, in parameter order.
struct Bound<'a> {
    args: Vec<Option<&'a Arg>>,
}

impl<'a> Bound<'a> {
    fn get(&self, i: usize) -> Option<&'a Value> {
        self.args[i].map(|a| &a.value)
    }
}

#[derive(Default)]
struct Checker {
    diags: Vec<Diagnostic>,
}

fn describe(v: &Value) -> String {
    match &v.kind {
        ValueKind::Number(n) => format!("`{}`", n.text),
        ValueKind::Str(s) if s.len() <= 32 => format!("the string {s:?}"),
        ValueKind::Str(_) => "a string".into(),
        ValueKind::Bool(b) => format!("`{b}`"),
        ValueKind::List(_) => "a list".into(),
        ValueKind::Call(c) if c.span.end - c.span.start <= 40 => format!("`{c}`"),
        ValueKind::Call(c) => format!("`{}(...)`", c.name.name),
    }
}

fn fmt_shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// Rust keywords: names that cannot become identifiers in generated code.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
        && !KEYWORDS.contains(&s)
}

impl Checker {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    // ------------------------------------------------------------ values

    fn wrong_type(&mut self, v: &Value, expected: &str, what: &str) {
        self.push(Diagnostic::error(
            codes::WRONG_TYPE,
            format!("{what} expects {expected}, found {}", describe(v)),
            v.span,
            format!("expected {expected}"),
        ));
    }

    fn out_of_range(&mut self, v: &Value, range: &str, what: &str) {
        self.push(Diagnostic::error(
            codes::OUT_OF_RANGE,
            format!("{what} must be {range}, found {}", describe(v)),
            v.span,
            format!("must be {range}"),
        ));
    }

    /// An integer in `min..=max`.
    fn int(&mut self, v: &Value, what: &str, min: i128, max: i128) -> Option<i128> {
        let ValueKind::Number(n) = &v.kind else {
            self.wrong_type(v, "an integer", what);
            return None;
        };
        if !n.is_integer() {
            self.wrong_type(v, "an integer", what);
            return None;
        }
        let range = if max == i128::from(u64::MAX) || max == i128::from(i64::MAX) {
            format!("at least {min}")
        } else {
            format!("in {min}..={max}")
        };
        match n.text.parse::<i128>() {
            Ok(x) if (min..=max).contains(&x) => Some(x),
            _ => {
                self.out_of_range(v, &range, what);
                None
            }
        }
    }

    fn usize(&mut self, v: &Value, what: &str, min: usize, max: usize) -> Option<usize> {
        self.int(v, what, min as i128, max as i128)
            .map(|x| x as usize)
    }

    /// A finite number that fits an `f32`, in `range`.
    fn float(&mut self, v: &Value, what: &str, range: Range) -> Option<f32> {
        let ValueKind::Number(n) = &v.kind else {
            self.wrong_type(v, "a number", what);
            return None;
        };
        let x = n.as_f64();
        if !x.is_finite() || x.abs() > f64::from(f32::MAX) {
            self.out_of_range(v, "a finite 32-bit float", what);
            return None;
        }
        if !range.contains(x) {
            self.out_of_range(v, &range.describe(), what);
            return None;
        }
        Some(x as f32)
    }

    fn boolean(&mut self, v: &Value, what: &str) -> Option<bool> {
        match v.kind {
            ValueKind::Bool(b) => Some(b),
            _ => {
                self.wrong_type(v, "`true` or `false`", what);
                None
            }
        }
    }

    fn string<'a>(&mut self, v: &'a Value, what: &str) -> Option<&'a str> {
        match &v.kind {
            ValueKind::Str(s) => Some(s),
            _ => {
                self.wrong_type(v, "a string in double quotes", what);
                None
            }
        }
    }

    /// A name or call such as `he_normal` or `normal(0, 0.1)`.
    fn callee<'a>(&mut self, v: &'a Value, expected: &str, what: &str) -> Option<&'a Call> {
        match &v.kind {
            ValueKind::Call(c) => Some(c),
            _ => {
                self.wrong_type(v, expected, what);
                None
            }
        }
    }

    /// Matches a call's arguments to parameters: positional ones in order,
    /// named ones by name or alias. Reports extra, unknown and repeated ones.
    fn bind<'a>(
        &mut self,
        what: &str,
        args: &'a [Arg],
        params: &[Param],
        positional_max: usize,
    ) -> Bound<'a> {
        let positional_max = positional_max.min(params.len());
        let mut bound: Vec<Option<&'a Arg>> = vec![None; params.len()];
        let mut positional = 0;
        for arg in args {
            let idx = match &arg.name {
                None => {
                    if positional >= positional_max {
                        let n = positional_max;
                        let mut d = Diagnostic::error(
                            codes::TOO_MANY_ARGUMENTS,
                            format!(
                                "{what} takes {} positional argument{}, found more",
                                if n == 0 {
                                    "no".to_string()
                                } else {
                                    format!("at most {n}")
                                },
                                if n == 1 { "" } else { "s" }
                            ),
                            arg.span,
                            "unexpected argument",
                        );
                        let named: Vec<&str> =
                            params[n.min(params.len())..].iter().map(|p| p.0).collect();
                        d = d.with_help(if named.is_empty() {
                            "remove the argument".to_string()
                        } else {
                            format!("the other arguments are named: {}", named.join(", "))
                        });
                        self.push(d);
                        continue;
                    }
                    positional += 1;
                    positional - 1
                }
                Some(name) => {
                    let found = params.iter().position(|(p, aliases)| {
                        *p == name.name || aliases.contains(&name.name.as_str())
                    });
                    match found {
                        Some(i) => i,
                        None => {
                            let all: Vec<&str> = params
                                .iter()
                                .flat_map(|(p, a)| std::iter::once(*p).chain(a.iter().copied()))
                                .collect();
                            let help = if all.is_empty() {
                                format!("{what} takes no arguments")
                            } else {
                                suggestion(&name.name, &all)
                            };
                            self.push(
                                Diagnostic::error(
                                    codes::UNKNOWN_ARGUMENT,
                                    if all.is_empty() {
                                        format!(
                                            "unknown argument `{}` for {what}, which takes none",
                                            name.name
                                        )
                                    } else {
                                        format!(
                                            "unknown argument `{}` for {what}: expected one of {}",
                                            name.name,
                                            all.join(", ")
                                        )
                                    },
                                    name.span,
                                    "unknown argument",
                                )
                                .with_help(help),
                            );
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = bound[idx] {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_ARGUMENT,
                        format!(
                            "argument `{}` of {what} is given twice; expected it at most once",
                            params[idx].0
                        ),
                        arg.span,
                        "given again here",
                    )
                    .with_label(first.span, "first given here")
                    .with_help("keep one of them"),
                );
                continue;
            }
            bound[idx] = Some(arg);
        }
        Bound { args: bound }
    }

    // ------------------------------------------------------------ shapes

    /// A literal shape: at least one dimension, each in `1..=MAX_DIM`.
    fn shape(&mut self, lit: &ast::ShapeLit, what: &str) -> Option<Shape> {
        if lit.dims.is_empty() {
            self.push(
                Diagnostic::error(
                    codes::BAD_SHAPE,
                    format!("{what} must have at least one dimension, found `[]`"),
                    lit.span,
                    "empty shape",
                )
                .with_help("a single number is written `[1]`"),
            );
            return None;
        }
        let mut dims = Vec::with_capacity(lit.dims.len());
        let mut ok = true;
        for n in &lit.dims {
            match n.text.parse::<usize>() {
                Ok(d) if (1..=MAX_DIM).contains(&d) => dims.push(d),
                _ => {
                    ok = false;
                    self.push(Diagnostic::error(
                        codes::BAD_SHAPE,
                        format!(
                            "a dimension of {what} must be an integer in 1..={MAX_DIM}, found `{}`",
                            n.text
                        ),
                        n.span,
                        "invalid dimension",
                    ));
                }
            }
        }
        if !ok {
            return None;
        }
        self.elements(&dims, lit.span, what)?;
        Some(dims)
    }

    /// The element count, if within [`MAX_ELEMENTS`].
    fn elements(&mut self, dims: &[usize], span: Span, what: &str) -> Option<usize> {
        let count = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&c| c <= MAX_ELEMENTS);
        if count.is_none() {
            self.push(Diagnostic::error(
                codes::BAD_SHAPE,
                format!("{what} has more than {MAX_ELEMENTS} elements per sample"),
                span,
                "too large",
            ));
        }
        count
    }

    // ------------------------------------------------------------ networks

    fn network(&mut self, n: &ast::Network) -> (ir::Network, NetInfo) {
        if !is_identifier(&n.name.name) {
            self.invalid_name(&n.name.name, n.name.span, "a network name");
        }
        let mut input_shape = None;
        let mut input_name = String::new();
        match n.inputs.as_slice() {
            [one] => {
                if !is_identifier(&one.name.name) {
                    self.invalid_name(&one.name.name, one.name.span, "an input name");
                }
                input_name = one.name.name.clone();
                input_shape = self.shape(&one.shape, "the input shape");
            }
            [] => self.push(
                Diagnostic::error(
                    codes::INPUT_COUNT,
                    format!("network `{}` expects one input, found none", n.name.name),
                    n.signature,
                    "no input",
                )
                .with_help("declare the input with its shape: `(x: [784])`"),
            ),
            [first, second, ..] => self.push(
                Diagnostic::error(
                    codes::INPUT_COUNT,
                    format!(
                        "a sequential network takes exactly one input, found {}",
                        n.inputs.len()
                    ),
                    second.span,
                    "second input",
                )
                .with_label(first.span, "first input")
                .with_help(
                    "networks with several inputs need the graph form, which is not supported yet",
                ),
            ),
        }
        let declared = self.shape(&n.output, "the output shape");

        let mut cur = input_shape.clone();
        let mut layers = Vec::with_capacity(n.layers.len());
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut last_act = Some(Activation::Linear);
        let mut last_span = n.inputs.first().map_or(n.signature, |i| i.span);
        for layer in &n.layers {
            let kind = layer.call.name.name.as_str();
            let count = counts.entry(kind).or_insert(0);
            *count += 1;
            let auto_name = format!("{kind}{count}");
            let (op, out, name) = self.layer(layer, cur.as_deref());
            let name = match name {
                Some(name) => Some(name),
                None if op.is_some() => Some(auto_name),
                None => None,
            };
            if let (Some(name), Some(_)) = (&name, &op) {
                if let Some(first) = names.get(name) {
                    self.push(
                        Diagnostic::error(
                            codes::DUPLICATE_LAYER,
                            format!(
                                "two layers of `{}` are named `{name}`; layer names must be unique",
                                n.name.name
                            ),
                            layer.call.span,
                            format!("this layer is also named `{name}`"),
                        )
                        .with_label(*first, "first layer of this name")
                        .with_help("give one of them another `name = \"...\"`"),
                    );
                } else {
                    names.insert(name.clone(), layer.call.span);
                }
            }
            let out = match (&layer.assertion, out) {
                (Some(a), out) => {
                    let asserted = self.shape(a, "the shape assertion");
                    match (asserted, out) {
                        (Some(want), Some(got)) if want != got => {
                            self.push(
                                Diagnostic::error(
                                    codes::ASSERTION_FAILED,
                                    format!(
                                        "shape assertion failed: expected {}, found {}",
                                        fmt_shape(&want),
                                        fmt_shape(&got)
                                    ),
                                    a.span,
                                    format!("asserted {}", fmt_shape(&want)),
                                )
                                .with_label(
                                    layer.call.span,
                                    format!("this layer outputs {}", fmt_shape(&got)),
                                ),
                            );
                            // Neither the belief nor the fact is a safe
                            // base for later checks: go on unknown, so one
                            // mistake is one error.
                            None
                        }
                        (_, got) => got,
                    }
                }
                (None, out) => out,
            };
            match &op {
                Some(Op::Dense(d)) => {
                    last_act = Some(d.activation);
                    last_span = layer.span;
                }
                Some(Op::Activation(a)) => {
                    last_act = Some(*a);
                    last_span = layer.span;
                }
                Some(_) => {}
                None => last_act = None,
            }
            if let (Some(op), Some(input), Some(output), Some(name)) =
                (op, cur.clone(), out.clone(), name)
            {
                let mut source = layer.call.to_string();
                if let Some(a) = &layer.activation {
                    source.push(' ');
                    source.push_str(&a.to_string());
                }
                layers.push(ir::Layer {
                    name,
                    source,
                    docs: layer.docs.clone(),
                    op,
                    input,
                    output,
                    span: layer.span,
                });
            }
            cur = out;
        }

        if let (Some(want), Some(got)) = (&declared, &cur) {
            if want != got {
                let (where_, what) = match n.layers.last() {
                    Some(l) => (l.span, "the last layer outputs"),
                    None => (last_span, "with no layers, the output is the input,"),
                };
                self.push(
                    Diagnostic::error(
                        codes::OUTPUT_MISMATCH,
                        format!(
                            "network `{}` declares output {}, but its layers produce {}",
                            n.name.name,
                            fmt_shape(want),
                            fmt_shape(got)
                        ),
                        n.output.span,
                        format!("declared {}", fmt_shape(want)),
                    )
                    .with_label(where_, format!("{what} {}", fmt_shape(got)))
                    .with_help(format!(
                        "change the declared output to {}, or end with a layer that outputs {}",
                        fmt_shape(got),
                        fmt_shape(want)
                    )),
                );
            }
        }
        let net = ir::Network {
            name: n.name.name.clone(),
            span: n.span,
            docs: n.docs.clone(),
            input: ir::Input {
                name: input_name,
                shape: input_shape.unwrap_or_default(),
            },
            output: declared.clone().unwrap_or_default(),
            layers,
            train: None,
        };
        let info = NetInfo {
            output: cur,
            last_act,
            last_span,
        };
        (net, info)
    }

    fn invalid_name(&mut self, name: &str, span: Span, what: &str) {
        self.push(
            Diagnostic::error(
                codes::INVALID_NAME,
                format!("{what} must be a Rust identifier that is not a keyword, found `{name}`"),
                span,
                "not usable as a Rust name",
            )
            .with_help(
                "use letters, digits and `_`, not starting with a digit, and avoid Rust keywords",
            ),
        );
    }

    /// Checks one layer against its input shape. Returns its op, output
    /// shape and explicit name, each `None` if unknown because of an error.
    fn layer(
        &mut self,
        layer: &ast::Layer,
        input: Option<&[usize]>,
    ) -> (Option<Op>, Option<Shape>, Option<String>) {
        let call = &layer.call;
        let kind = call.name.name.as_str();
        let what = format!("`{kind}`");
        match kind {
            "dense" => self.dense(layer, input),
            "flatten" => {
                let b = self.bind(&what, &call.args, &[("name", &[])], 0);
                let name = self.layer_name(b.get(0));
                let out = input.map(|s| vec![s.iter().product()]);
                (Some(Op::Flatten), out, name)
            }
            "dropout" => {
                let b = self.bind(&what, &call.args, &[("rate", &[]), ("name", &[])], 1);
                let name = self.layer_name(b.get(1));
                let rate = match b.get(0) {
                    Some(v) => self.float(v, "the `rate` of `dropout`", UNIT_OPEN),
                    None => self.missing(call, "rate", "`dropout(0.2)`"),
                };
                (
                    rate.map(|rate| Op::Dropout { rate }),
                    input.map(<[usize]>::to_vec),
                    name,
                )
            }
            "reshape" => {
                let b = self.bind(&what, &call.args, &[("shape", &[]), ("name", &[])], 1);
                let name = self.layer_name(b.get(1));
                let out = match b.get(0) {
                    Some(v) => self.reshape(v, input),
                    None => self.missing(call, "shape", "`reshape([7, 112])`"),
                };
                let op = out.as_ref().map(|_| Op::Reshape);
                (op, out, name)
            }
            _ if names::ACTIVATIONS.contains(&kind) => {
                let (act, name) = self.activation(call, true);
                if let (Some(Activation::Softmax), Some(s)) = (act, input) {
                    self.softmax_width(call.span, s);
                }
                (act.map(Op::Activation), input.map(<[usize]>::to_vec), name)
            }
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_LAYER,
                        format!("unknown layer `{kind}`: expected a layer such as `dense`, `flatten` or an activation"),
                        call.name.span,
                        "unknown layer",
                    )
                    .with_help(suggestion(kind, &names::layer_names())),
                );
                (None, None, None)
            }
        }
    }

    fn softmax_width(&mut self, span: Span, shape: &[usize]) {
        if shape.last() == Some(&1) {
            self.push(
                Diagnostic::error(
                    codes::SOFTMAX_ONE_UNIT,
                    format!(
                        "softmax over a last axis of length 1 always outputs 1: expected at least 2 units, found input {}",
                        fmt_shape(shape)
                    ),
                    span,
                    "softmax of a single unit",
                )
                .with_help("use `sigmoid` for a single probability, or give the layer one unit per class"),
            );
        }
    }

    fn missing<T>(&mut self, call: &Call, param: &str, example: &str) -> Option<T> {
        self.push(
            Diagnostic::error(
                codes::MISSING_ARGUMENT,
                format!(
                    "`{}` needs the argument `{param}`, found none",
                    call.name.name
                ),
                call.span,
                format!("`{param}` missing"),
            )
            .with_help(format!("for example {example}")),
        );
        None
    }

    /// `name = "..."`: must be usable as a Rust identifier.
    fn layer_name(&mut self, v: Option<&Value>) -> Option<String> {
        let v = v?;
        let s = self.string(v, "the layer `name`")?;
        if !is_identifier(s) {
            self.invalid_name(s, v.span, "a layer name");
            return None;
        }
        Some(s.to_string())
    }

    fn dense(
        &mut self,
        layer: &ast::Layer,
        input: Option<&[usize]>,
    ) -> (Option<Op>, Option<Shape>, Option<String>) {
        const PARAMS: &[Param] = &[
            ("units", &[]),
            ("kernel_init", &["init"]),
            ("bias_init", &[]),
            ("use_bias", &[]),
            ("l1", &[]),
            ("l2", &[]),
            ("trainable", &[]),
            ("name", &[]),
        ];
        let call = &layer.call;
        let b = self.bind("`dense`", &call.args, PARAMS, 1);
        let units = match b.get(0) {
            Some(v) => self.usize(v, "the `units` of `dense`", 1, MAX_DIM),
            None => self.missing(call, "units", "`dense(64)`"),
        };
        let kernel_init = b.get(1).map_or(Some(Init::GlorotUniform), |v| self.init(v));
        let bias_init = b.get(2).map_or(Some(Init::Zeros), |v| self.init(v));
        let use_bias = b
            .get(3)
            .map_or(Some(true), |v| self.boolean(v, "`use_bias`"));
        let l1 = b.get(4).map_or(Some(0.0), |v| {
            self.float(v, "the `l1` penalty", NON_NEGATIVE)
        });
        let l2 = b.get(5).map_or(Some(0.0), |v| {
            self.float(v, "the `l2` penalty", NON_NEGATIVE)
        });
        let trainable = b
            .get(6)
            .map_or(Some(true), |v| self.boolean(v, "`trainable`"));
        let name = self.layer_name(b.get(7));
        let activation = match &layer.activation {
            Some(a) => self.activation(a, false).0,
            None => Some(Activation::Linear),
        };
        if let Some(s) = input {
            if s.len() != 1 {
                self.push(
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
        if let (Some(Activation::Softmax), Some(u), Some(a)) =
            (activation, units, &layer.activation)
        {
            self.softmax_width(a.span, &[u]);
        }
        let out = units.map(|u| vec![u]);
        let op = (|| {
            Some(Op::Dense(ir::Dense {
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
        (op, out, name)
    }

    /// An activation call: standalone as a layer (which may be named), or
    /// fused after `dense` (which may not: the name belongs to the dense).
    fn activation(
        &mut self,
        call: &Call,
        standalone: bool,
    ) -> (Option<Activation>, Option<String>) {
        let kind = call.name.name.as_str();
        let what = format!("`{kind}`");
        let with_alpha: &[Param] = &[("alpha", &[]), ("name", &[])];
        let plain: &[Param] = &[("name", &[])];
        let params = match kind {
            "leaky_relu" | "elu" => with_alpha,
            _ if names::ACTIVATIONS.contains(&kind) => plain,
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_ACTIVATION,
                        format!(
                            "unknown activation `{kind}`: expected one of {}",
                            names::ACTIVATIONS.join(", ")
                        ),
                        call.name.span,
                        "unknown activation",
                    )
                    .with_help(suggestion(kind, names::ACTIVATIONS)),
                );
                return (None, None);
            }
        };
        let params = if standalone {
            params
        } else {
            &params[..params.len() - 1]
        };
        let b = self.bind(
            &what,
            &call.args,
            params,
            usize::from(params.first().is_some_and(|p| p.0 == "alpha")),
        );
        let name = if standalone {
            self.layer_name(b.get(params.len() - 1))
        } else {
            None
        };
        let alpha = |cx: &mut Self, default: f32, range: Range| {
            b.get(0).map_or(Some(default), |v| {
                cx.float(v, &format!("the `alpha` of `{kind}`"), range)
            })
        };
        let act = match kind {
            "linear" => Some(Activation::Linear),
            "sigmoid" => Some(Activation::Sigmoid),
            "tanh" => Some(Activation::Tanh),
            "relu" => Some(Activation::Relu),
            "leaky_relu" => {
                alpha(self, 0.01, NON_NEGATIVE).map(|alpha| Activation::LeakyRelu { alpha })
            }
            "elu" => alpha(self, 1.0, POSITIVE).map(|alpha| Activation::Elu { alpha }),
            "gelu" => Some(Activation::Gelu),
            "softplus" => Some(Activation::Softplus),
            "softmax" => Some(Activation::Softmax),
            _ => unreachable!("checked above"),
        };
        (act, name)
    }

    fn reshape(&mut self, v: &Value, input: Option<&[usize]>) -> Option<Shape> {
        let ValueKind::List(items) = &v.kind else {
            self.wrong_type(v, "a shape such as `[7, 112]`", "`reshape`");
            return None;
        };
        if items.is_empty() {
            self.push(Diagnostic::error(
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
            dims.push(self.usize(item, "a dimension of `reshape`", 1, MAX_DIM)?);
        }
        let known = self.elements(&dims, v.span, "the target of `reshape`")?;
        let input = input?;
        let have: usize = input.iter().product();
        match infer {
            Some(i) if have % known == 0 => dims[i] = have / known,
            Some(_) => {
                self.push(Diagnostic::error(
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
                self.push(
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

    fn init(&mut self, v: &Value) -> Option<Init> {
        let c = self.callee(
            v,
            "an initialiser such as `he_normal`",
            "an initialiser argument",
        )?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        let no_args: &[Param] = &[];
        let (params, _) = match kind {
            "constant" => (&[("value", &[][..])][..], ()),
            "normal" => (&[("mean", &[][..]), ("std", &["stddev"][..])][..], ()),
            "uniform" => (
                &[("low", &["minval"][..]), ("high", &["maxval"][..])][..],
                (),
            ),
            _ if names::INITS.contains(&kind) => (no_args, ()),
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_INIT,
                        format!(
                            "unknown initialiser `{kind}`: expected one of {}",
                            names::INITS.join(", ")
                        ),
                        c.name.span,
                        "unknown initialiser",
                    )
                    .with_help(suggestion(kind, names::INITS)),
                );
                return None;
            }
        };
        let b = self.bind(&what, &c.args, params, params.len());
        Some(match kind {
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            "constant" => match b.get(0) {
                Some(v) => Init::Constant(self.float(v, "the `value` of `constant`", ANY)?),
                None => return self.missing(c, "value", "`constant(0.1)`"),
            },
            "normal" => {
                let mean = b
                    .get(0)
                    .map_or(Some(0.0), |v| self.float(v, "the `mean` of `normal`", ANY));
                let std = b.get(1).map_or(Some(0.05), |v| {
                    self.float(v, "the `std` of `normal`", POSITIVE)
                });
                Init::Normal {
                    mean: mean?,
                    std: std?,
                }
            }
            "uniform" => {
                let low = b.get(0).map_or(Some(-0.05), |v| {
                    self.float(v, "the `low` of `uniform`", ANY)
                });
                let high = b.get(1).map_or(Some(0.05), |v| {
                    self.float(v, "the `high` of `uniform`", ANY)
                });
                let (low, high) = (low?, high?);
                if low >= high {
                    self.push(Diagnostic::error(
                        codes::OUT_OF_RANGE,
                        format!(
                            "`uniform` needs `low` < `high`, found low = {low} and high = {high}"
                        ),
                        c.span,
                        "empty range",
                    ));
                    return None;
                }
                Init::Uniform { low, high }
            }
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "he_uniform" => Init::HeUniform,
            "he_normal" => Init::HeNormal,
            "lecun_normal" => Init::LecunNormal,
            _ => unreachable!("checked above"),
        })
    }

    // ------------------------------------------------------------ train

    fn train(&mut self, t: &ast::Train, net: &NetInfo) -> Option<ir::Train> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut by_key: HashMap<&str, &ast::Setting> = HashMap::new();
        for s in &t.settings {
            let key = s.key.name.as_str();
            if !names::SETTINGS.contains(&key) {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_SETTING,
                        format!(
                            "unknown train setting `{key}`: expected one of {}",
                            names::SETTINGS.join(", ")
                        ),
                        s.key.span,
                        "unknown setting",
                    )
                    .with_help(suggestion(key, names::SETTINGS)),
                );
                continue;
            }
            if let Some(first) = seen.get(key) {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_SETTING,
                        format!("train setting `{key}` is given twice; expected each setting at most once"),
                        s.key.span,
                        "set again here",
                    )
                    .with_label(*first, "first set here")
                    .with_help("keep one of them"),
                );
                continue;
            }
            seen.insert(key, s.key.span);
            by_key.insert(key, s);
        }
        let errors_before = self.diags.len();

        // `key value` settings; `key(args)` is only for early_stopping.
        let value = |cx: &mut Self, key: &str| -> Option<&Value> {
            let s = by_key.get(key)?;
            match &s.value {
                ast::SettingValue::Value(v) => Some(v),
                ast::SettingValue::Args(_) => {
                    cx.push(
                        Diagnostic::error(
                            codes::WRONG_TYPE,
                            format!("train setting `{key}` expects a value after it, found `(`"),
                            s.span,
                            "expected `key value`",
                        )
                        .with_help(format!("write it as `{key} value`")),
                    );
                    None
                }
            }
        };

        let loss = match by_key.get("loss") {
            Some(_) => value(self, "loss").and_then(|v| self.loss(v, net)),
            None => {
                self.push(
                    Diagnostic::error(
                        codes::MISSING_SETTING,
                        format!(
                            "train block for `{}` has no `loss`, which is required",
                            t.network.name
                        ),
                        Span::new(t.span.start, t.network.span.end),
                        "loss missing",
                    )
                    .with_help("add a loss, e.g. `loss categorical_crossentropy` or `loss mse`"),
                );
                None
            }
        };
        let optimizer = match value(self, "optimizer") {
            Some(v) => self.optimizer(v),
            None => Some(Optimizer::RmsProp {
                lr: 0.001,
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
            }),
        };
        let batch_size =
            value(self, "batch").map_or(Some(32), |v| self.usize(v, "`batch`", 1, MAX_DIM));
        let epochs =
            value(self, "epochs").map_or(Some(1), |v| self.usize(v, "`epochs`", 1, 1_000_000));
        let shuffle = value(self, "shuffle").map_or(Some(true), |v| self.boolean(v, "`shuffle`"));
        let seed = value(self, "seed").map_or(Some(0), |v| {
            self.int(v, "`seed`", 0, i128::from(u64::MAX))
                .map(|x| x as u64)
        });
        let validation_split = value(self, "validation_split").map_or(Some(0.0), |v| {
            self.float(v, "`validation_split`", UNIT_OPEN)
        });
        let clip_norm = match value(self, "clip_norm") {
            Some(v) => self.float(v, "`clip_norm`", POSITIVE).map(Some),
            None => Some(None),
        };
        let metrics = value(self, "metrics").map_or(Some(Vec::new()), |v| self.metrics(v));
        let early_stopping = match by_key.get("early_stopping") {
            None => Some(None),
            Some(s) => self.early_stopping(s, metrics.as_deref().unwrap_or(&[])),
        };
        if self.diags.len() > errors_before {
            return None;
        }
        Some(ir::Train {
            span: t.span,
            loss: loss?,
            optimizer: optimizer?,
            batch_size: batch_size?,
            epochs: epochs?,
            shuffle: shuffle?,
            seed: seed?,
            validation_split: validation_split?,
            metrics: metrics?,
            early_stopping: early_stopping?,
            clip_norm: clip_norm?,
        })
    }

    fn metrics(&mut self, v: &Value) -> Option<Vec<Metric>> {
        let items: Vec<&Value> = match &v.kind {
            ValueKind::List(items) => items.iter().collect(),
            ValueKind::Call(_) => vec![v],
            _ => {
                self.wrong_type(v, "a list of metrics such as `[accuracy]`", "`metrics`");
                return None;
            }
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let metric = match &item.kind {
                ValueKind::Call(c) if !c.parens => match c.name.name.as_str() {
                    "accuracy" | "acc" => Some(Metric::Accuracy),
                    "mae" => Some(Metric::Mae),
                    "mse" => Some(Metric::Mse),
                    other => {
                        self.push(
                            Diagnostic::error(
                                codes::UNKNOWN_METRIC,
                                format!(
                                    "unknown metric `{other}`: expected one of {}",
                                    names::METRICS.join(", ")
                                ),
                                item.span,
                                "unknown metric",
                            )
                            .with_help(suggestion(other, names::METRICS)),
                        );
                        None
                    }
                },
                _ => {
                    self.wrong_type(item, "a metric name such as `accuracy`", "`metrics`");
                    None
                }
            };
            match metric {
                Some(m) if !out.contains(&m) => out.push(m),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn early_stopping(
        &mut self,
        s: &ast::Setting,
        metrics: &[Metric],
    ) -> Option<Option<ir::EarlyStopping>> {
        let args = match &s.value {
            ast::SettingValue::Args(args) => args.as_slice(),
            ast::SettingValue::Value(v) => {
                return match v.kind {
                    ValueKind::Bool(false) => Some(None),
                    ValueKind::Bool(true) => Some(Some(ir::EarlyStopping {
                        monitor: "val_loss".into(),
                        patience: 5,
                        min_delta: 0.0,
                        restore_best: true,
                    })),
                    _ => {
                        self.wrong_type(
                            v,
                            "`(...)` arguments, `true` or `false`",
                            "`early_stopping`",
                        );
                        None
                    }
                };
            }
        };
        const PARAMS: &[Param] = &[
            ("monitor", &[]),
            ("patience", &[]),
            ("min_delta", &[]),
            ("restore_best", &["restore_best_weights"]),
        ];
        let b = self.bind("`early_stopping`", args, PARAMS, 0);
        let monitor = match b.get(0) {
            Some(v) => self.string(v, "`monitor`").and_then(|m| {
                let mut known: Vec<String> = vec!["loss".into(), "val_loss".into()];
                for m in metrics {
                    let name = match m {
                        Metric::Accuracy => "accuracy",
                        Metric::Mae => "mae",
                        Metric::Mse => "mse",
                    };
                    known.push(name.into());
                    known.push(format!("val_{name}"));
                }
                if known.iter().any(|k| k == m) {
                    Some(m.to_string())
                } else {
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    self.push(
                        Diagnostic::error(
                            codes::UNKNOWN_MONITOR,
                            format!(
                                "early stopping monitors `{m}`, which training does not compute: expected one of {}",
                                known.join(", ")
                            ),
                            v.span,
                            "not computed",
                        )
                        .with_help(match crate::diag::did_you_mean(m, &known) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => "a metric is only computed if `metrics [...]` lists it".into(),
                        }),
                    );
                    None
                }
            }),
            None => Some("val_loss".into()),
        };
        let patience = b
            .get(1)
            .map_or(Some(5), |v| self.usize(v, "`patience`", 0, 1_000_000));
        let min_delta = b
            .get(2)
            .map_or(Some(0.0), |v| self.float(v, "`min_delta`", NON_NEGATIVE));
        let restore_best = b
            .get(3)
            .map_or(Some(true), |v| self.boolean(v, "`restore_best`"));
        Some(Some(ir::EarlyStopping {
            monitor: monitor?,
            patience: patience?,
            min_delta: min_delta?,
            restore_best: restore_best?,
        }))
    }

    fn optimizer(&mut self, v: &Value) -> Option<Optimizer> {
        let c = self.callee(v, "an optimizer such as `adam(lr = 1e-3)`", "`optimizer`")?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        const LR: Param = ("lr", &["learning_rate"]);
        const EPS: Param = ("epsilon", &["eps"]);
        const B1: Param = ("beta1", &["beta_1"]);
        const B2: Param = ("beta2", &["beta_2"]);
        let params: &[Param] = match kind {
            "sgd" => &[LR, ("momentum", &[]), ("nesterov", &[])],
            "adagrad" => &[
                LR,
                ("initial_accumulator", &["initial_accumulator_value"]),
                EPS,
            ],
            "adadelta" => &[LR, ("rho", &[]), EPS],
            "rmsprop" => &[LR, ("rho", &[]), ("momentum", &[]), EPS],
            "adam" => &[LR, B1, B2, EPS],
            "adamw" => &[LR, B1, B2, EPS, ("weight_decay", &[])],
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_OPTIMIZER,
                        format!(
                            "unknown optimizer `{kind}`: expected one of {}",
                            names::OPTIMIZERS.join(", ")
                        ),
                        c.name.span,
                        "unknown optimizer",
                    )
                    .with_help(suggestion(kind, names::OPTIMIZERS)),
                );
                return None;
            }
        };
        let b = self.bind(&what, &c.args, params, 1);
        let mut num = |i: usize, default: f32, range: Range| -> Option<f32> {
            match b.get(i) {
                Some(v) => self.float(v, &format!("`{}` of `{kind}`", params[i].0), range),
                None => Some(default),
            }
        };
        let lr_default = if kind == "sgd" { 0.01 } else { 0.001 };
        let lr = num(0, lr_default, POSITIVE);
        Some(match kind {
            "sgd" => {
                let momentum = num(1, 0.0, UNIT_OPEN);
                let nesterov = b
                    .get(2)
                    .map_or(Some(false), |v| self.boolean(v, "`nesterov` of `sgd`"));
                Optimizer::Sgd {
                    lr: lr?,
                    momentum: momentum?,
                    nesterov: nesterov?,
                }
            }
            "adagrad" => {
                let initial_accumulator = num(1, 0.1, NON_NEGATIVE);
                let epsilon = num(2, 1e-7, POSITIVE);
                Optimizer::Adagrad {
                    lr: lr?,
                    initial_accumulator: initial_accumulator?,
                    epsilon: epsilon?,
                }
            }
            "adadelta" => {
                let rho = num(1, 0.95, UNIT_OPEN);
                let epsilon = num(2, 1e-7, POSITIVE);
                Optimizer::Adadelta {
                    lr: lr?,
                    rho: rho?,
                    epsilon: epsilon?,
                }
            }
            "rmsprop" => {
                let rho = num(1, 0.9, UNIT_OPEN);
                let momentum = num(2, 0.0, UNIT_OPEN);
                let epsilon = num(3, 1e-7, POSITIVE);
                Optimizer::RmsProp {
                    lr: lr?,
                    rho: rho?,
                    momentum: momentum?,
                    epsilon: epsilon?,
                }
            }
            "adam" => {
                let beta1 = num(1, 0.9, UNIT_OPEN);
                let beta2 = num(2, 0.999, UNIT_OPEN);
                let epsilon = num(3, 1e-7, POSITIVE);
                Optimizer::Adam {
                    lr: lr?,
                    beta1: beta1?,
                    beta2: beta2?,
                    epsilon: epsilon?,
                }
            }
            "adamw" => {
                let beta1 = num(1, 0.9, UNIT_OPEN);
                let beta2 = num(2, 0.999, UNIT_OPEN);
                let epsilon = num(3, 1e-7, POSITIVE);
                let weight_decay = num(4, 0.004, NON_NEGATIVE);
                Optimizer::AdamW {
                    lr: lr?,
                    beta1: beta1?,
                    beta2: beta2?,
                    epsilon: epsilon?,
                    weight_decay: weight_decay?,
                }
            }
            _ => unreachable!("checked above"),
        })
    }

    /// Resolves the loss and checks that it fits the network's output: the
    /// mistakes frameworks only reveal as a loss that will not go down.
    fn loss(&mut self, v: &Value, net: &NetInfo) -> Option<Loss> {
        let c = self.callee(v, "a loss such as `mse`", "`loss`")?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        const LOGITS: Param = ("from_logits", &[]);
        const CLASSES: Param = ("classes", &["num_classes"]);
        let params: &[Param] = match kind {
            "mse" | "mae" => &[],
            "huber" => &[("delta", &[])],
            "binary_crossentropy" => &[LOGITS],
            "categorical_crossentropy" | "sparse_categorical_crossentropy" => &[CLASSES, LOGITS],
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_LOSS,
                        format!(
                            "unknown loss `{kind}`: expected one of {}",
                            names::LOSSES.join(", ")
                        ),
                        c.name.span,
                        "unknown loss",
                    )
                    .with_help(suggestion(kind, names::LOSSES)),
                );
                return None;
            }
        };
        let b = self.bind(
            &what,
            &c.args,
            params,
            usize::from(kind != "binary_crossentropy"),
        );
        let logits_arg = params.iter().position(|p| p.0 == "from_logits");
        let from_logits = match logits_arg.and_then(|i| b.get(i)) {
            Some(v) => self.boolean(v, "`from_logits`")?,
            None => false,
        };
        let loss = match kind {
            "mse" => Loss::Mse,
            "mae" => Loss::Mae,
            "huber" => Loss::Huber {
                delta: b.get(0).map_or(Some(1.0), |v| {
                    self.float(v, "the `delta` of `huber`", POSITIVE)
                })?,
            },
            "binary_crossentropy" => Loss::BinaryCrossentropy { from_logits },
            "categorical_crossentropy" => Loss::CategoricalCrossentropy { from_logits },
            _ => Loss::SparseCategoricalCrossentropy { from_logits },
        };
        let classes = match params
            .iter()
            .position(|p| p.0 == "classes")
            .and_then(|i| b.get(i))
        {
            Some(v) => Some((self.usize(v, "`classes`", 2, MAX_DIM)?, v.span)),
            None => None,
        };
        // Loss-versus-output checks need the network's output, known.
        let (Some(out), Some(act)) = (&net.output, net.last_act) else {
            return Some(loss);
        };
        let width = *out.last().expect("shapes have at least one dimension");
        let act_name = activation_name(act);
        let at = net.last_span;
        let categorical = matches!(
            loss,
            Loss::CategoricalCrossentropy { .. } | Loss::SparseCategoricalCrossentropy { .. }
        );
        if matches!(loss, Loss::BinaryCrossentropy { .. })
            && act == Activation::Softmax
            && width > 1
        {
            self.push(
                Diagnostic::error(
                    codes::BINARY_ON_SOFTMAX,
                    format!(
                        "binary cross-entropy expects independent per-unit probabilities, but the output is a {width}-way softmax"
                    ),
                    c.span,
                    "binary loss",
                )
                .with_label(at, format!("{width}-way softmax here"))
                .with_help(
                    "for one class out of many use `categorical_crossentropy` (one-hot targets) or \
                     `sparse_categorical_crossentropy` (class indices); for independent labels end with `sigmoid`",
                ),
            );
            return None;
        }
        if categorical && width == 1 {
            self.push(
                Diagnostic::error(
                    codes::CATEGORICAL_ON_ONE_UNIT,
                    format!("{what} needs one output unit per class (at least 2), but the output has a single unit"),
                    c.span,
                    "categorical loss",
                )
                .with_label(at, "single output unit here")
                .with_help("for two classes use one `sigmoid` unit with `binary_crossentropy`, or two units with `softmax`"),
            );
            return None;
        }
        if let Some((n, span)) = classes {
            if n != width {
                self.push(
                    Diagnostic::error(
                        codes::CLASS_COUNT,
                        format!("{what} expects {n} classes, but the output has {width} units"),
                        span,
                        format!("{n} classes"),
                    )
                    .with_label(at, format!("{width} units here"))
                    .with_help(format!(
                        "make the last layer {n} units wide, or set `classes = {width}`"
                    )),
                );
                return None;
            }
        }
        let is_prob_loss = categorical || matches!(loss, Loss::BinaryCrossentropy { .. });
        if !is_prob_loss {
            return Some(loss);
        }
        let squashed = matches!(act, Activation::Softmax | Activation::Sigmoid);
        if from_logits && squashed {
            let span = logits_arg
                .and_then(|i| b.args[i])
                .map_or(c.span, |a| a.span);
            self.push(
                Diagnostic::error(
                    codes::DOUBLE_ACTIVATION,
                    format!(
                        "`from_logits = true` expects raw scores, but the output already goes through `{act_name}`: \
                         the loss would apply it a second time"
                    ),
                    span,
                    "expects logits",
                )
                .with_label(at, format!("`{act_name}` applied here"))
                .with_help(format!("remove `{act_name}` from the last layer, or drop `from_logits = true`")),
            );
            return None;
        }
        let wanted = if categorical {
            Activation::Softmax
        } else {
            Activation::Sigmoid
        };
        if !from_logits && act != wanted {
            let wanted_name = activation_name(wanted);
            let expected = if categorical {
                "a probability distribution (a `softmax` output)"
            } else {
                "probabilities in (0, 1) (a `sigmoid` output)"
            };
            self.push(
                Diagnostic::error(
                    codes::NOT_PROBABILITIES,
                    format!("{what} expects {expected}, but the output is `{act_name}`"),
                    c.span,
                    "expects probabilities",
                )
                .with_label(at, format!("`{act_name}` output here"))
                .with_help(if squashed {
                    format!("end the network with `{wanted_name}`")
                } else {
                    format!(
                        "end the network with `{wanted_name}`, or write `{kind}(from_logits = true)` to let the loss apply it stably"
                    )
                }),
            );
            return None;
        }
        Some(loss)
    }
}

/// The spelling of an activation in the language.
pub fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Linear => "linear",
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
        Activation::LeakyRelu { .. } => "leaky_relu",
        Activation::Elu { .. } => "elu",
        Activation::Gelu => "gelu",
        Activation::Softplus => "softplus",
        Activation::Softmax => "softmax",
    }
}
