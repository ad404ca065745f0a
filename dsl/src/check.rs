//! [`ast::File`] → [`ir::Program`]: resolves names, checks every argument's
//! type and range, fills in defaults, infers and proves every shape, and
//! checks that each train block's loss fits its network's output.
//!
//! All errors of a spec are collected in one pass. A layer that fails gets an
//! unknown shape (`None`), and checks that depend on an unknown shape are
//! skipped, so one mistake gives one diagnostic, not a cascade.

use std::collections::HashMap;

use crate::ast::{self, Call, Value, ValueKind};
use crate::diag::{codes, suggestion, Diagnostic, Severity};
use crate::ir::{self, Activation, Init, Op, Shape};
use crate::names;
use crate::span::Span;

pub(crate) mod args;
mod train;

pub(crate) use args::{describe, Bound, Param, Range, ANY, NON_NEGATIVE, POSITIVE, UNIT_OPEN};

/// Largest accepted dimension or `dense` width.
pub const MAX_DIM: usize = 1 << 24;
/// Most diagnostics reported for one spec; past it, one more says how many were left out.
pub const MAX_DIAGNOSTICS: usize = 100;
/// Largest accepted element count of one per-sample tensor.
pub const MAX_ELEMENTS: usize = 1 << 32;
/// Most layers in one network (E0603): generated code grows linearly with
/// the layer count, and so does rustc's time (measured in docs/language.md).
pub const MAX_LAYERS: usize = 1000;
/// Most parameters in one network (E0601): 2^31 `f32`s are 8 GiB, and
/// training holds three to four copies (gradients, optimizer moments).
pub const MAX_PARAMS: u64 = 1 << 31;
/// Most workspace elements per sample (E0602): every layer output, its
/// gradient and scratch such as im2col rows, 1 GiB of `f32` per sample.
pub const MAX_ACTIVATIONS: u64 = 1 << 28;
/// Highest rank of the input and output shapes (E0604): with the batch
/// axis, `predict` takes and returns ndarray views of at most rank 6.
pub const MAX_RANK: usize = 5;

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
    let names: Vec<&str> = spans.keys().copied().collect();
    for item in &file.items {
        if let ast::Item::Network(n) = item {
            // Only the first of duplicates, and names without an error.
            if spans.get(n.name.name.as_str()) == Some(&n.name.span) {
                cx.name_case(&n.name.name, n.name.span, &names);
            }
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
            net.text = format!("{}\n\n{t}", net.text);
        }
    }
    let mut diags = cx.diags;
    if diags.iter().all(|d| d.severity == Severity::Warning) {
        diags.sort_by_key(|d| d.span.start);
        Ok(ir::Program {
            networks: networks.into_iter().map(|(n, _)| n).collect(),
            warnings: diags,
        })
    } else {
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

/// The checker's state: the diagnostics found so far. Op modules
/// (`crate::ops`) check their layers through its argument helpers.
/// A value in a network body: where it comes from, its shape and the
/// activation that produced it, each `None` when unknown after an error.
#[derive(Clone, Debug)]
struct Val {
    src: Option<ir::Source>,
    shape: Option<Shape>,
    act: Option<Activation>,
    act_span: Span,
}

impl Val {
    fn unknown(span: Span) -> Self {
        Val {
            src: None,
            shape: None,
            act: None,
            act_span: span,
        }
    }
}

/// A `let` binding (or the input) and whether anything reads it.
#[derive(Clone, Debug)]
struct Named {
    val: Val,
    span: Span,
    used: bool,
}

/// A value a layer reads explicitly: `name >>`, or an argument of a merge.
enum Ref<'a> {
    Name(&'a ast::Ident),
    /// A merge argument that is not a value name.
    NotAName(&'a Value),
}

/// A layer as written, whitespace-normalised: the call and its fused
/// activation (`dense(64) relu`), for summaries and messages.
fn source_text(layer: &ast::Layer) -> String {
    let mut source = layer.call.to_string();
    if let Some(a) = &layer.activation {
        source.push(' ');
        source.push_str(&a.to_string());
    }
    source
}

/// What each statement of a network body reads, for resolving names and
/// finding cycles before the statements are checked in order.
struct Graph<'a> {
    /// Statements binding each name, in order.
    defs: HashMap<&'a str, Vec<usize>>,
    /// Per statement: the names it reads, or none (it reads the previous
    /// statement's output).
    reads: Vec<Vec<&'a str>>,
}

impl<'a> Graph<'a> {
    fn of(layers: &'a [ast::Layer]) -> Self {
        let mut defs: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut reads = Vec::with_capacity(layers.len());
        for (i, l) in layers.iter().enumerate() {
            if let Some(b) = &l.binding {
                defs.entry(b.name.as_str()).or_default().push(i);
            }
            reads.push(
                Self::explicit(l)
                    .into_iter()
                    .filter_map(|r| match r {
                        Ref::Name(id) => Some(id.name.as_str()),
                        Ref::NotAName(_) => None,
                    })
                    .collect(),
            );
        }
        Graph { defs, reads }
    }

    /// The values a layer names as its inputs (none: the previous output).
    fn explicit(l: &'a ast::Layer) -> Vec<Ref<'a>> {
        if crate::ops::is_merge(&l.call.name.name) {
            return l
                .call
                .args
                .iter()
                .filter(|a| a.name.is_none())
                .map(|a| match &a.value.kind {
                    ValueKind::Call(c) if !c.parens => Ref::Name(&c.name),
                    _ => Ref::NotAName(&a.value),
                })
                .collect();
        }
        l.source.iter().map(Ref::Name).collect()
    }

    fn refs(&self, _stmt: usize, l: &'a ast::Layer) -> Vec<Ref<'a>> {
        Self::explicit(l)
    }

    /// The statement that defines `name` as seen from statement `at`: the
    /// last one before it, or else the first one from it on (a forward
    /// reference, which is an error).
    fn def(&self, name: &str, at: usize) -> Option<usize> {
        let defs = self.defs.get(name)?;
        defs.iter()
            .rev()
            .find(|&&d| d < at)
            .or_else(|| defs.iter().find(|&&d| d >= at))
            .copied()
    }

    /// Whether statement `from` depends on statement `target`.
    fn depends(&self, from: usize, target: usize) -> bool {
        let mut stack = vec![from];
        let mut seen = vec![false; self.reads.len()];
        while let Some(i) = stack.pop() {
            if i == target {
                return true;
            }
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            if self.reads[i].is_empty() {
                if let Some(prev) = i.checked_sub(1) {
                    stack.push(prev);
                }
            }
            for name in &self.reads[i] {
                stack.extend(self.def(name, i));
            }
        }
        false
    }
}

#[derive(Default)]
pub(crate) struct Checker {
    diags: Vec<Diagnostic>,
}

pub(crate) fn fmt_shape(s: &[usize]) -> String {
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

/// Rust's primitive types: a network of one of these names would shadow
/// the type in the module it is written in (generated code, and the
/// user's own, use `f32`, `usize`, ...).
const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16",
    "u32", "u64", "u128", "usize",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
        && !KEYWORDS.contains(&s)
}

/// `f32` → `F32`.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Whether rustc's `non_camel_case_types` lint accepts `name` (a valid
/// identifier) as a type name: once the `_` at either end are trimmed, it
/// does not start with a lowercase letter and no `_` touches a letter
/// (`Net2_3` passes, `Mnist_Cnn` does not).
fn is_upper_camel_case(name: &str) -> bool {
    let core = name.trim_matches('_');
    let letter_beside_underscore = core.as_bytes().windows(2).any(|w| {
        (w[0] == b'_' && w[1].is_ascii_alphabetic()) || (w[1] == b'_' && w[0].is_ascii_alphabetic())
    });
    !core.starts_with(|c: char| c.is_ascii_lowercase()) && !letter_beside_underscore
}

/// `mlp` → `Mlp`, `mnist_cnn` → `MnistCnn`, `myNet` → `MyNet`: each
/// `_`-separated part capitalised, the parts joined. A `_` stays between
/// two digits (`net_2_3` → `Net2_3`), where dropping it would merge two
/// numbers, and before a leading digit (`_2_net` → `_2Net`).
fn upper_camel_case(name: &str) -> String {
    let mut out = String::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let digits_meet = out.ends_with(|c: char| c.is_ascii_digit())
            && part.starts_with(|c: char| c.is_ascii_digit());
        if digits_meet || (out.is_empty() && part.starts_with(|c: char| c.is_ascii_digit())) {
            out.push('_');
        }
        out.push_str(&capitalised(part));
    }
    out
}

/// `a__b___c` → `a_b_c` (leading and trailing underscores kept single too).
fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

impl Checker {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
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
    pub(crate) fn elements(&mut self, dims: &[usize], span: Span, what: &str) -> Option<usize> {
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
        let diags_before = self.diags.len();
        if let Some(extra) = n.layers.get(MAX_LAYERS) {
            self.push(
                Diagnostic::error(
                    codes::TOO_MANY_LAYERS,
                    format!(
                        "network `{}` has {} layers; at most {MAX_LAYERS} are supported",
                        n.name.name,
                        n.layers.len()
                    ),
                    extra.call.span,
                    format!("layer {} of {}", MAX_LAYERS + 1, n.layers.len()),
                )
                .with_help(format!("generated code and rustc's work grow with every layer; split the model, or keep it to {MAX_LAYERS} layers")),
            );
        }
        if !is_identifier(&n.name.name) {
            self.invalid_name(&n.name.name, n.name.span, "a network name");
        } else if !self.reserved_name(&n.name.name, n.name.span, "network")
            && PRIMITIVES.contains(&n.name.name.as_str())
        {
            let name = &n.name.name;
            self.push(
                Diagnostic::error(
                    codes::PRIMITIVE_NAME,
                    format!("a network cannot be named `{name}`: the generated struct would shadow the primitive type `{name}` in your module"),
                    n.name.span,
                    "a primitive type",
                )
                .with_help(format!("give the network a type-like name such as `{}Net`", capitalised(name))),
            );
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

        // The value flowing into the next layer: its source, shape, and the
        // activation that produced it (for the loss checks).
        let input_src = Some(ir::Source::Input);
        let mut cur = Val {
            src: input_src,
            shape: input_shape.clone(),
            act: Some(Activation::Linear),
            act_span: n.inputs.first().map_or(n.signature, |i| i.span),
        };
        let mut values: HashMap<String, Named> = HashMap::new();
        if let [one] = n.inputs.as_slice() {
            values.insert(
                one.name.name.clone(),
                Named {
                    val: cur.clone(),
                    span: one.name.span,
                    used: true,
                },
            );
        }
        let graph = Graph::of(&n.layers);
        let mut layers = Vec::with_capacity(n.layers.len());
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut names: HashMap<String, (String, Span)> = HashMap::new();
        for (stmt, layer) in n.layers.iter().enumerate() {
            let kind = layer.call.name.name.as_str();
            let count = counts.entry(kind).or_insert(0);
            *count += 1;
            let auto_name = format!("{kind}{count}");
            // The values the layer reads: named arguments of a merge, `name >>`,
            // or the previous layer's output.
            let refs = graph.refs(stmt, layer);
            if let (false, Some(prev)) = (refs.is_empty(), stmt.checked_sub(1)) {
                self.dropped_output(&n.layers[prev], layer);
            }
            let inputs: Vec<Val> = if refs.is_empty() {
                // Reading the previous layer's output reads its `let` too.
                if let Some(b) = stmt
                    .checked_sub(1)
                    .and_then(|p| n.layers[p].binding.as_ref())
                {
                    if let Some(v) = values.get_mut(&b.name) {
                        v.used = true;
                    }
                }
                vec![cur.clone()]
            } else {
                refs.iter()
                    .map(|r| self.resolve(r, stmt, &graph, &mut values))
                    .collect()
            };
            let (op, out, name) = if crate::ops::is_merge(kind) {
                let shapes: Vec<Option<&[usize]>> =
                    inputs.iter().map(|v| v.shape.as_deref()).collect();
                let c = crate::ops::check_merge(self, layer, &shapes);
                (c.op, c.output, c.name)
            } else {
                self.layer(layer, inputs[0].shape.as_deref())
            };
            let name = match name {
                Some(name) => Some(name),
                None if op.is_some() => Some(auto_name),
                None => None,
            };
            if let (Some(name), Some(_)) = (&name, &op) {
                // Unique ignoring case: generated code names each layer's
                // kernel descriptor `<NAME>__KERNEL`.
                if let Some((first_name, first)) = names.get(&name.to_lowercase()) {
                    let named = if first_name == name {
                        format!("`{name}`")
                    } else {
                        format!("`{first_name}` and `{name}` (the same ignoring case)")
                    };
                    self.push(
                        Diagnostic::error(
                            codes::DUPLICATE_LAYER,
                            format!(
                                "two layers of `{}` are named {named}; layer names must be unique",
                                n.name.name
                            ),
                            layer.call.span,
                            format!("this layer is also named `{name}`"),
                        )
                        .with_label(*first, "first layer of this name")
                        .with_help("give one of them another `name = \"...\"`"),
                    );
                } else {
                    names.insert(name.to_lowercase(), (name.clone(), layer.call.span));
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
            let (act, act_span) = match op.as_ref().map(|op| op.def().output_activation()) {
                Some(Some(act)) => (Some(act), layer.span),
                // The layer passes its input's values through.
                Some(None) => (inputs[0].act, inputs[0].act_span),
                None => (None, layer.span),
            };
            let srcs: Option<Vec<ir::Source>> = inputs.iter().map(|v| v.src).collect();
            let shapes: Option<Vec<Shape>> = inputs.iter().map(|v| v.shape.clone()).collect();
            let mut src = None;
            if let (Some(op), Some(srcs), Some(shapes), Some(output), Some(name)) =
                (op, srcs, shapes, out.clone(), name)
            {
                let source = source_text(layer);
                src = Some(ir::Source::Layer(layers.len()));
                layers.push(ir::Layer {
                    name,
                    source,
                    docs: layer.docs.clone(),
                    op,
                    input: shapes[0].clone(),
                    inputs: srcs,
                    input_shapes: shapes,
                    output,
                    span: layer.span,
                });
            }
            cur = Val {
                src,
                shape: out,
                act,
                act_span,
            };
            if let Some(b) = &layer.binding {
                // A later `let` of the same name shadows this one, as in Rust.
                if let Some(old) = values.get(&b.name) {
                    self.unused(&b.name, old);
                }
                values.insert(
                    b.name.clone(),
                    Named {
                        val: cur.clone(),
                        span: b.span,
                        used: false,
                    },
                );
            }
        }
        for (name, v) in &values {
            // The network's output is used by whoever calls it.
            if v.val.src != cur.src || v.val.src.is_none() {
                self.unused(name, v);
            }
        }
        let last_act = cur.act;
        let last_span = cur.act_span;
        let result = cur.src;
        let cur = cur.shape;
        self.dropout_at_output(&layers, result);

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
        for (shape, lit, what) in [
            (&input_shape, n.inputs.first().map(|i| &i.shape), "input"),
            (&declared, Some(&n.output), "output"),
        ] {
            if let (Some(shape), Some(lit)) = (shape, lit) {
                if shape.len() > MAX_RANK {
                    self.push(
                        Diagnostic::error(
                            codes::RANK_LIMIT,
                            format!(
                                "the {what} of `{}` has rank {}; at most {MAX_RANK} is supported",
                                n.name.name,
                                shape.len()
                            ),
                            lit.span,
                            format!("rank {}", shape.len()),
                        )
                        .with_help(format!("with the batch axis, `predict` works on ndarray views of rank up to {}; merge axes (`reshape`) to at most {MAX_RANK}", MAX_RANK + 1)),
                    );
                }
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
            result: result.unwrap_or(ir::Source::Input),
            train: None,
            text: n.to_string(),
        };
        let sound = self.diags[diags_before..]
            .iter()
            .all(|d| d.severity == Severity::Warning);
        if sound {
            self.sizes(&net, n);
        }
        let info = NetInfo {
            output: cur,
            last_act,
            last_span,
        };
        (net, info)
    }

    /// The size limits of a network otherwise sound: parameters
    /// ([`MAX_PARAMS`]) and workspace elements per sample
    /// ([`MAX_ACTIVATIONS`]), counted on the plan the code is generated
    /// from. Each error names the largest layer.
    fn sizes(&mut self, net: &ir::Network, n: &ast::Network) {
        let plan = crate::lower::lower(net);
        let numel = |s: &[usize]| s.iter().map(|&d| d as u128).product::<u128>();
        let mut params = vec![0u128; net.layers.len()];
        for p in &plan.params {
            let layer = p.name.split('.').next().unwrap_or_default();
            if let Some(i) = net.layers.iter().position(|l| l.name == layer) {
                params[i] += numel(&p.shape);
            }
        }
        let mut acts = vec![0u128; net.layers.len()];
        let mut total_acts = 0u128;
        for buf in &plan.buffers {
            let w = buf.width as u128 * if buf.has_grad { 2 } else { 1 };
            total_acts += w;
            let layer = buf.ident.split_once("__").map(|(l, _)| l);
            if let Some(i) = net
                .layers
                .iter()
                .position(|l| Some(l.name.as_str()) == layer)
            {
                acts[i] += w;
            }
        }
        total_acts += plan.one_scratch.iter().map(|s| s.len as u128).sum::<u128>();
        let largest = |v: &[u128]| {
            v.iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .map(|(i, n)| (i, *n))
        };
        let total_params: u128 = params.iter().sum();
        if total_params > u128::from(MAX_PARAMS) {
            let mut d = Diagnostic::error(
                codes::TOO_MANY_PARAMS,
                format!(
                    "network `{}` has {total_params} parameters; at most {MAX_PARAMS} (2^31) are supported",
                    n.name.name
                ),
                n.name.span,
                "too many parameters",
            )
            .with_help("2^31 f32 parameters are 8 GiB, and training keeps gradients and optimizer state beside them; use fewer or narrower layers");
            if let Some((i, count)) = largest(&params) {
                let l = &net.layers[i];
                d = d.with_label(l.span, format!("`{}` alone has {count}", l.name));
            }
            self.push(d);
        }
        if total_acts > u128::from(MAX_ACTIVATIONS) {
            let mut d = Diagnostic::error(
                codes::TOO_MANY_ACTIVATIONS,
                format!(
                    "network `{}` needs {total_acts} workspace elements per sample (layer outputs, their gradients and scratch); at most {MAX_ACTIVATIONS} (2^28) are supported",
                    n.name.name
                ),
                n.name.span,
                "too large per sample",
            )
            .with_help("2^28 f32 are 1 GiB for every sample of a batch; use smaller images, fewer filters or a stride");
            if let Some((i, count)) = largest(&acts) {
                let l = &net.layers[i];
                d = d.with_label(l.span, format!("`{}` alone needs {count}", l.name));
            }
            self.push(d);
        }
    }

    /// A value a layer reads by name: marks it used, or reports why it
    /// cannot be read (not a name, not defined yet, defined in terms of
    /// this very layer, or unknown).
    fn resolve(
        &mut self,
        r: &Ref<'_>,
        stmt: usize,
        graph: &Graph<'_>,
        values: &mut HashMap<String, Named>,
    ) -> Val {
        let id = match r {
            Ref::Name(id) => *id,
            Ref::NotAName(v) => {
                self.wrong_type(v, "the name of a value such as `h`", "a merge argument");
                return Val::unknown(v.span);
            }
        };
        if let Some(v) = values.get_mut(&id.name) {
            v.used = true;
            return v.val.clone();
        }
        match graph.def(&id.name, stmt) {
            Some(def) if graph.depends(def, stmt) => self.push(
                Diagnostic::error(
                    codes::CYCLE,
                    format!(
                        "this layer reads `{}`, which is computed from this layer's own output: the network would have a cycle",
                        id.name
                    ),
                    id.span,
                    "read here, before it exists",
                )
                .with_help("a layer can only read the input and values defined above it"),
            ),
            Some(_) => self.push(
                Diagnostic::error(
                    codes::UNKNOWN_VALUE,
                    format!("`{}` is used before its definition", id.name),
                    id.span,
                    "not defined yet",
                )
                .with_help("move its `let` above this layer"),
            ),
            None => {
                let mut known: Vec<&str> = values.keys().map(String::as_str).collect();
                known.sort_unstable();
                let d = Diagnostic::error(
                    codes::UNKNOWN_VALUE,
                    format!(
                        "no value named `{}`: expected the input or a name bound with `let`",
                        id.name
                    ),
                    id.span,
                    "unknown value",
                );
                self.push(d.with_help(suggestion(&id.name, &known)));
            }
        }
        Val::unknown(id.span)
    }

    /// Warns about a `let` nothing reads.
    fn unused(&mut self, name: &str, v: &Named) {
        if v.used {
            return;
        }
        self.push(
            Diagnostic::warning(
                codes::UNUSED_VALUE,
                format!("value `{name}` is never used"),
                v.span,
                "defined here, read nowhere",
            )
            .with_help(
                "read it in a later layer (`name >> ...`, `add(name, ...)`), or remove the `let`",
            ),
        );
    }

    /// Warns about a layer whose output nothing can read (W0003): it has no
    /// `let`, and `next`, the statement after it, names its own inputs. The
    /// layer (and whatever only it reads) would be computed and never
    /// trained: in a residual block, `add(h, h)` for `add(branch, h)`.
    fn dropped_output(&mut self, layer: &ast::Layer, next: &ast::Layer) {
        if layer.binding.is_some() {
            return;
        }
        let (reads, at) = match &next.source {
            Some(src) => (
                format!("`{0} >> ...` reads only `{0}`", src.name),
                src.span.to(next.call.span),
            ),
            None => (
                format!("`{}` reads only the values it names", next.call.name.name),
                next.call.span,
            ),
        };
        self.push(
            Diagnostic::warning(
                codes::DROPPED_OUTPUT,
                format!("the output of `{}` is never used", source_text(layer)),
                layer.call.span,
                "its output goes nowhere",
            )
            .with_label(at, format!("{reads}, not the line above"))
            .with_help(
                "name it (`let name = ...`) and read it (`add(name, ...)`), or remove the layer",
            ),
        );
    }

    /// Warns about a `dropout` of the network's outputs themselves (W0004):
    /// only `flatten`, `reshape` or more dropout lie between it and the
    /// output. In training the loss then compares zeroed and rescaled
    /// outputs (after a `softmax`, no longer a distribution) with the
    /// targets. Dropout before a final activation or merge is left alone:
    /// the values are transformed after it, as on purpose.
    fn dropout_at_output(&mut self, layers: &[ir::Layer], result: Option<ir::Source>) {
        let mut at = result;
        while let Some(ir::Source::Layer(i)) = at {
            let l = &layers[i];
            match &l.op {
                Op::Dropout(_) => self.push(
                    Diagnostic::warning(
                        codes::DROPOUT_AT_OUTPUT,
                        format!(
                            "`{}` drops the network's outputs: in training the loss compares zeroed and rescaled outputs with the targets",
                            l.source
                        ),
                        l.span,
                        "only reshaping after it",
                    )
                    .with_help("put `dropout` before the last `dense` (as Keras models do), or remove it"),
                ),
                Op::Flatten | Op::Reshape => {}
                _ => return,
            }
            at = l.inputs.first().copied();
        }
    }

    /// Warns about a network name rustc would call non-camel-case (W0002)
    /// and suggests one that is, not taken by another network of `names`.
    /// Names with an error of their own (not identifiers, `__`, primitive
    /// types) are left to it. The generated struct carries
    /// `#[allow(non_camel_case_types)]`, so this is the one warning, and it
    /// points at the spec rather than at generated code.
    fn name_case(&mut self, name: &str, span: Span, names: &[&str]) {
        if !is_identifier(name)
            || name.contains("__")
            || PRIMITIVES.contains(&name)
            || is_upper_camel_case(name)
        {
            return;
        }
        let camel = upper_camel_case(name);
        let free = |s: &String| is_identifier(s) && !names.contains(&s.as_str());
        let suggestion = std::iter::once(camel.clone())
            .chain((1..).map(|k| match k {
                1 => format!("{camel}Net"),
                k => format!("{camel}Net{k}"),
            }))
            .find(free)
            .unwrap_or_default();
        self.push(
            Diagnostic::warning(
                codes::NETWORK_NAME_CASE,
                format!("network name `{name}` is not UpperCamelCase, the style of Rust type names: the network is a struct"),
                span,
                "not UpperCamelCase",
            )
            .with_help(format!("call it `{suggestion}` (in its `train` block too)")),
        );
    }

    /// Reports a name containing `__` (E0405) and returns whether it did:
    /// generated fields, locals and modules are `<name>__<suffix>` and
    /// `__nnc_<network>`, so such a name could collide with one of them.
    fn reserved_name(&mut self, name: &str, span: Span, what: &str) -> bool {
        if !name.contains("__") {
            return false;
        }
        self.push(
            Diagnostic::error(
                codes::RESERVED_NAME,
                format!("a {what} name cannot contain `__`, found `{name}`: generated code reserves names with `__`"),
                span,
                "contains `__`",
            )
            .with_help(format!("use a single `_`: `{}`", collapse_underscores(name))),
        );
        true
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
        if let Some(c) = crate::ops::check_layer(self, layer, input) {
            return (c.op, c.output, c.name);
        }
        let call = &layer.call;
        let kind = call.name.name.as_str();
        // Keras' class names count too: `BatchNormalization`, `LSTM`.
        let lower = kind.to_ascii_lowercase();
        let planned = crate::ops::PLANNED
            .iter()
            .find(|p| **p == lower || crate::diag::keras_name(kind) == Some(**p));
        let help = if let Some(planned) = planned {
            format!(
                "`{planned}` is planned but not built yet; the layers nnc has: {}",
                crate::ops::LAYERS.join(", ")
            )
        } else {
            suggestion(kind, &names::layer_names())
        };
        self.push(
            Diagnostic::error(
                codes::UNKNOWN_LAYER,
                format!("unknown layer `{kind}`: expected a layer such as `dense`, `flatten` or an activation"),
                call.name.span,
                "unknown layer",
            )
            .with_help(help),
        );
        (None, None, None)
    }

    pub(crate) fn softmax_width(&mut self, span: Span, shape: &[usize]) {
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

    pub(crate) fn missing<T>(&mut self, call: &Call, param: &str, example: &str) -> Option<T> {
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
    pub(crate) fn layer_name(&mut self, v: Option<&Value>) -> Option<String> {
        let v = v?;
        let s = self.string(v, "the layer `name`")?;
        if !is_identifier(s) {
            self.invalid_name(s, v.span, "a layer name");
            return None;
        }
        if self.reserved_name(s, v.span, "layer") {
            return None;
        }
        Some(s.to_string())
    }

    /// An activation call: standalone as a layer (which may be named), or
    /// fused after `dense` (which may not: the name belongs to the dense).
    pub(crate) fn activation(
        &mut self,
        call: &Call,
        standalone: bool,
    ) -> (Option<Activation>, Option<String>) {
        self.activation_in(call, standalone, false)
    }

    /// An activation written after a layer (`dense(8) relu`), which the
    /// parser fused into it.
    pub(crate) fn fused_activation(&mut self, call: &Call) -> Option<Activation> {
        self.activation_in(call, false, true).0
    }

    fn activation_in(
        &mut self,
        call: &Call,
        standalone: bool,
        fused_after: bool,
    ) -> (Option<Activation>, Option<String>) {
        let kind = call.name.name.as_str();
        let what = format!("`{kind}`");
        let with_alpha: &[Param] = &[("alpha", &[]), ("name", &[])];
        let gelu: &[Param] = &[("approximate", &[]), ("name", &[])];
        let plain: &[Param] = &[("name", &[])];
        let Some(default) = Activation::named(kind) else {
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
        };
        let params = match default {
            Activation::LeakyRelu { .. } | Activation::Elu { .. } => with_alpha,
            Activation::Gelu | Activation::GeluExact => gelu,
            Activation::Linear
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::Relu
            | Activation::Softplus
            | Activation::Softmax => plain,
        };
        let params = if standalone {
            params
        } else {
            &params[..params.len() - 1]
        };
        // A fused activation is no layer of its own: a `name` on it would
        // otherwise be "unknown" with no word on why.
        let mut args: &[ast::Arg] = &call.args;
        let kept: Vec<ast::Arg>;
        if fused_after {
            if let Some(named) = call
                .args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == "name"))
            {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_ARGUMENT,
                        format!("{what} directly after a layer is fused into that layer as its activation, so it has no `name` of its own"),
                        named.span,
                        "a fused activation cannot be named",
                    )
                    .with_help(format!(
                        "to make {what} a separate layer with this name, end the layer before it with `;` (`dense(8); {kind}(name = ...)`); or name the layer it is fused into"
                    )),
                );
                kept = call
                    .args
                    .iter()
                    .filter(|a| !std::ptr::eq(*a, named))
                    .cloned()
                    .collect();
                args = &kept;
            }
        }
        let b = self.bind(
            &what,
            args,
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
        let act = match default {
            Activation::LeakyRelu { alpha: a } => {
                alpha(self, a, NON_NEGATIVE).map(|alpha| Activation::LeakyRelu { alpha })
            }
            Activation::Elu { alpha: a } => {
                alpha(self, a, POSITIVE).map(|alpha| Activation::Elu { alpha })
            }
            // `gelu` is the tanh form; `approximate = false` asks for erf.
            Activation::Gelu => b.get(0).map_or(Some(Activation::Gelu), |v| {
                self.boolean(v, "the `approximate` of `gelu`")
                    .map(Activation::gelu)
            }),
            other => Some(other),
        };
        (act, name)
    }

    pub(crate) fn init(&mut self, v: &Value) -> Option<Init> {
        let c = self.callee(
            v,
            "an initialiser such as `he_normal`",
            "an initialiser argument",
        )?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        let Some(default) = Init::named(kind) else {
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
        };
        let params: &[Param] = match default {
            Init::Constant(_) => &[("value", &[])],
            Init::Normal { .. } => &[("mean", &[]), ("std", &["stddev"])],
            Init::Uniform { .. } => &[("low", &["minval"]), ("high", &["maxval"])],
            Init::Zeros
            | Init::Ones
            | Init::GlorotUniform
            | Init::GlorotNormal
            | Init::HeUniform
            | Init::HeNormal
            | Init::LecunNormal => &[],
        };
        let b = self.bind(&what, &c.args, params, params.len());
        Some(match default {
            // `constant` has no default value.
            Init::Constant(_) => match b.get(0) {
                Some(v) => Init::Constant(self.float(v, "the `value` of `constant`", ANY)?),
                None => return self.missing(c, "value", "`constant(0.1)`"),
            },
            Init::Normal { mean, std } => {
                let mean = b
                    .get(0)
                    .map_or(Some(mean), |v| self.float(v, "the `mean` of `normal`", ANY));
                let std = b.get(1).map_or(Some(std), |v| {
                    self.float(v, "the `std` of `normal`", POSITIVE)
                });
                Init::Normal {
                    mean: mean?,
                    std: std?,
                }
            }
            Init::Uniform { low, high } => {
                let low = b
                    .get(0)
                    .map_or(Some(low), |v| self.float(v, "the `low` of `uniform`", ANY));
                let high = b.get(1).map_or(Some(high), |v| {
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
            other => other,
        })
    }
}
