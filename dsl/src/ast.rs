//! The syntax tree of a spec, as written: names are not resolved, numbers are
//! kept as text, nothing is checked yet. Every node carries its [`Span`].

use crate::span::Span;

/// A whole spec file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Networks and train blocks in source order.
    pub items: Vec<Item>,
    /// The whole text.
    pub span: Span,
}

/// A top-level definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `network Name(...) -> [...] { ... }`
    Network(Network),
    /// `train Name { ... }`
    Train(Train),
}

/// A name as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// `network Name(input: [dims]) -> [dims] { layers }`
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// `///` lines before it, without the `///`.
    pub docs: Vec<String>,
    /// The network's name.
    pub name: Ident,
    /// The signature's inputs.
    pub inputs: Vec<Input>,
    /// The declared output shape.
    pub output: ShapeLit,
    /// The layers in order.
    pub layers: Vec<Layer>,
    /// `network Name(...) -> [...]`: the signature, labelled by shape errors.
    pub signature: Span,
    /// The whole definition, docs excluded.
    pub span: Span,
}

/// `name: [dims]` in a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The input's name.
    pub name: Ident,
    /// Its per-sample shape.
    pub shape: ShapeLit,
    /// Where.
    pub span: Span,
}

/// `[d1, d2, ...]` where a shape is expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeLit {
    /// The dimensions as written.
    pub dims: Vec<Number>,
    /// Brackets included.
    pub span: Span,
}

/// One layer: a call, maybe a fused activation, maybe a shape assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `///` lines before it.
    pub docs: Vec<String>,
    /// `let name =` before the layer: names its output (graph form).
    pub binding: Option<Ident>,
    /// `name >>` before the layer: its input is this named value instead
    /// of the previous layer's output (graph form).
    pub source: Option<Ident>,
    /// The layer itself, e.g. `dense(64, l2 = 1e-4)`.
    pub call: Call,
    /// An activation written right after a `dense(..)`, e.g. `relu` in
    /// `dense(64) relu`.
    pub activation: Option<Call>,
    /// `: [dims]` after the layer.
    pub assertion: Option<ShapeLit>,
    /// Call, activation and assertion.
    pub span: Span,
}

/// `name` or `name(args)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// What is called.
    pub name: Ident,
    /// The arguments, empty if there were no parentheses.
    pub args: Vec<Arg>,
    /// Whether `( ... )` was written.
    pub parens: bool,
    /// Name and arguments.
    pub span: Span,
}

/// A positional (`64`) or named (`l2 = 1e-4`) argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The name for a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Value,
    /// Name and value.
    pub span: Span,
}

/// A value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What it is.
    pub kind: ValueKind,
    /// Where.
    pub span: Span,
}

/// The kinds of values.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A number literal.
    Number(Number),
    /// A string, escapes resolved.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// `[a, b, ...]`.
    List(Vec<Value>),
    /// A name, maybe with arguments: `he_normal`, `normal(0, 0.1)`.
    Call(Call),
}

/// A number literal, kept as text so the checker decides whether it must be
/// an integer or a float and reports overflow itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// The literal without `_` separators or blanks, with its `-` if any:
    /// `-0.05`, `1000`, `1e-3`.
    pub text: String,
    /// Where, sign included.
    pub span: Span,
}

impl Number {
    /// The value as an integer, if the literal is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.text.parse().ok()
    }

    /// Whether the literal is written as an integer (no `.`, no exponent).
    pub fn is_integer(&self) -> bool {
        !self.text.contains(['.', 'e', 'E'])
    }

    /// The value as a float (may be infinite for huge literals).
    pub fn as_f64(&self) -> f64 {
        self.text.parse().unwrap_or(f64::NAN)
    }
}

/// `train Name { settings }`
#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    /// `///` lines before it.
    pub docs: Vec<String>,
    /// The network it trains.
    pub network: Ident,
    /// The settings in order.
    pub settings: Vec<Setting>,
    /// The whole block.
    pub span: Span,
}

/// One train setting: `key value` or `key(args)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The setting's name, e.g. `loss`.
    pub key: Ident,
    /// Its value.
    pub value: SettingValue,
    /// Key and value.
    pub span: Span,
}

/// The right-hand side of a setting.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    /// `loss mse`, `batch 64`, `metrics [accuracy]`.
    Value(Value),
    /// `early_stopping(patience = 3)`.
    Args(Vec<Arg>),
}

// Canonical text of calls and values: the `source` of IR layers is printed
// from the tree, not copied from the text, so a spec read from a file and the
// same spec re-joined from macro tokens (`dense ( 64 )`) summarise alike.

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name.name)?;
        if self.parens {
            f.write_str("(")?;
            for (i, a) in self.args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if let Some(n) = &a.name {
                    write!(f, "{} = ", n.name)?;
                }
                write!(f, "{}", a.value)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ValueKind::Number(n) => f.write_str(&n.text),
            ValueKind::Str(s) => write!(f, "{s:?}"),
            ValueKind::Bool(b) => write!(f, "{b}"),
            ValueKind::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            ValueKind::Call(c) => write!(f, "{c}"),
        }
    }
}

// Canonical text of whole definitions: what `ir::Network::text` holds and
// exporters record (ONNX metadata), the same for every front.

fn write_docs(f: &mut std::fmt::Formatter<'_>, docs: &[String], indent: &str) -> std::fmt::Result {
    for line in docs {
        let sep = if line.is_empty() || line.starts_with(' ') {
            ""
        } else {
            " "
        };
        writeln!(f, "{indent}///{sep}{line}")?;
    }
    Ok(())
}

impl std::fmt::Display for ShapeLit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&d.text)?;
        }
        f.write_str("]")
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(b) = &self.binding {
            write!(f, "let {} = ", b.name)?;
        }
        if let Some(s) = &self.source {
            write!(f, "{} >> ", s.name)?;
        }
        write!(f, "{}", self.call)?;
        if let Some(a) = &self.activation {
            write!(f, " {a}")?;
        }
        if let Some(s) = &self.assertion {
            write!(f, " : {s}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Network {
    /// The definition with its doc comments, one layer per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_docs(f, &self.docs, "")?;
        write!(f, "network {}(", self.name.name)?;
        for (i, input) in self.inputs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", input.name.name, input.shape)?;
        }
        writeln!(f, ") -> {} {{", self.output)?;
        for layer in &self.layers {
            write_docs(f, &layer.docs, "    ")?;
            writeln!(f, "    {layer}")?;
        }
        f.write_str("}")
    }
}

impl std::fmt::Display for Train {
    /// The block with its doc comments, one setting per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_docs(f, &self.docs, "")?;
        writeln!(f, "train {} {{", self.network.name)?;
        for s in &self.settings {
            write!(f, "    {}", s.key.name)?;
            match &s.value {
                SettingValue::Value(v) => writeln!(f, " {v}")?,
                SettingValue::Args(args) => {
                    f.write_str("(")?;
                    for (i, a) in args.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        if let Some(n) = &a.name {
                            write!(f, "{} = ", n.name)?;
                        }
                        write!(f, "{}", a.value)?;
                    }
                    writeln!(f, ")")?;
                }
            }
        }
        f.write_str("}")
    }
}
