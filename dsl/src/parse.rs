//! Text → [`crate::ast::File`]: the pest grammar (`grammar.pest`), syntax errors as
//! [`Diagnostic`]s, and the one rewrite the grammar leaves to code: fusing an
//! activation written right after `dense(..)` into that layer.

use pest::iterators::Pair;
use pest::Parser as _;

use crate::ast::*;
use crate::diag::{codes, Diagnostic};
use crate::names;
use crate::span::Span;

/// The generated parser, private: `Rule` is not part of the API.
mod generated {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub struct Grammar;
}
use generated::{Grammar, Rule};

/// Deepest bracket nesting accepted. Real specs need 3 or 4 levels; the bound
/// keeps the recursive-descent parser's stack small on hostile input.
pub const MAX_NESTING: usize = 64;

/// Parses spec text into a syntax tree, or reports the first syntax error.
pub fn parse(src: &str) -> Result<File, Vec<Diagnostic>> {
    if let Some(d) = check_nesting(src) {
        return Err(vec![d]);
    }
    pest::set_error_detail(true);
    let mut pairs = Grammar::parse(Rule::file, src).map_err(|e| vec![syntax_error(src, e)])?;
    let file = pairs.next().expect("the file rule matched");
    let mut items = Vec::new();
    for pair in file.into_inner() {
        match pair.as_rule() {
            Rule::network => items.push(Item::Network(network(pair))),
            Rule::train => items.push(Item::Train(train(pair))),
            _ => {} // EOI
        }
    }
    Ok(File {
        items,
        span: Span::new(0, src.len()),
    })
}

/// Rejects input nested deeper than [`MAX_NESTING`] before pest sees it.
/// Brackets inside comments and strings do not count.
fn check_nesting(src: &str) -> Option<Diagnostic> {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = src[i..].find(['\n', '\r']).map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = src[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(
                        Diagnostic::error(
                            codes::TOO_DEEP,
                            format!(
                                "brackets nested too deep: at most {MAX_NESTING} levels are accepted, found more"
                            ),
                            Span::new(i, i + 1),
                            format!("level {}", MAX_NESTING + 1),
                        )
                        .with_help("a spec needs only a few levels of `(`, `[` and `{`; check for unclosed brackets"),
                    );
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Turns pest's error into a diagnostic that names what was expected and
/// what was found, at the furthest position the parser reached.
fn syntax_error(src: &str, err: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};

    let mut pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    fn add(expected: &mut Vec<String>, s: &str) {
        if !expected.iter().any(|e| e == s) {
            expected.push(s.to_string());
        }
    }
    let attempts = err.parse_attempts();
    if let Some(a) = &attempts {
        pos = pos.max(a.max_position);
    }
    let prev = src[..floor_char_boundary(src, pos.min(src.len()))]
        .chars()
        .next_back();
    if let Some(a) = attempts.as_ref().filter(|a| a.max_position == pos) {
        // pest does not export the token type; its Display is the literal
        // itself, or `a..z` for a character range. A range that would only
        // continue the previous token (another digit after `28`) says nothing.
        for t in a.expected_tokens() {
            let token = t.to_string();
            if token.starts_with("0..") {
                if !prev.is_some_and(|c| c.is_ascii_digit()) {
                    add(&mut expected, "a number");
                }
            } else if token.len() == 4 && token.get(1..3) == Some("..") {
                if !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    add(&mut expected, "a name");
                }
            } else if let Some(s) = describe_literal(&token) {
                add(&mut expected, &s);
            }
        }
    }
    // pest's rule-level positives are coarser and sometimes stale; use them
    // only when the token-level detail is empty.
    if expected.is_empty() {
        if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
            for r in positives {
                if let Some(s) = describe_rule(*r) {
                    add(&mut expected, s);
                }
            }
        }
    }
    let pos = floor_char_boundary(src, pos.min(src.len()));
    if let Some(d) = unterminated(src, pos) {
        return d;
    }
    let (found, len) = found_at(src, pos);
    if found == "end of input" && expected == ["a string"] {
        expected = vec!["`\"` to close the string".into()];
    }
    let expected = if expected.is_empty() {
        "something else".to_string()
    } else {
        join_or(&expected)
    };
    let mut d = Diagnostic::error(
        codes::SYNTAX,
        format!("syntax error: expected {expected}, found {found}"),
        Span::new(pos, pos + len),
        format!("expected {expected}"),
    );
    if found.starts_with("`x") && pos > 0 && src.as_bytes()[pos - 1].is_ascii_digit() {
        d = d.with_help("separate dimensions with commas: `[28, 28]`, not `[28x28]`");
    } else if found == "`///`" {
        d = d.with_help(
            "doc comments go right before a network, a layer, a train block or a setting",
        );
    } else if after_doc_comment(src, pos) {
        d = d.with_help("a `///` doc comment must be followed by the network, layer, train block or setting it documents; use `//` for a plain comment");
    } else if found == "`=>`" && expected.contains("`->`") {
        d = d.with_help(
            "the output shape follows `->`, as in Rust: `network Net(x: [4]) -> [2] { ... }`",
        );
    } else if found == "`=>`" {
        d = d.with_help("`=>` is not part of the language: a network's signature uses `->`, and train settings are written `key value`, e.g. `loss mse`");
    } else if found == "`=`" {
        d = d.with_help("train settings are written `key value`, e.g. `batch 64`, without `=`");
    }
    d
}

/// When the parser ran off the end of the text inside a string or a block
/// comment, the mistake is where that string or comment opened: report it
/// there rather than at the end of the file.
fn unterminated(src: &str, pos: usize) -> Option<Diagnostic> {
    if pos < src.len() {
        return None;
    }
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = src[i..].find(['\n', '\r']).map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match src[i + 2..].find("*/") {
                Some(n) => i += 2 + n + 2,
                None => {
                    return Some(
                        Diagnostic::error(
                            codes::UNTERMINATED,
                            "unterminated block comment: this `/*` has no closing `*/`",
                            Span::new(i, i + 2),
                            "comment starts here",
                        )
                        .with_help("close it with `*/` (block comments do not nest)"),
                    )
                }
            },
            b'"' => {
                let open = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Some(
                        Diagnostic::error(
                            codes::UNTERMINATED,
                            "unterminated string: this `\"` has no closing `\"`",
                            Span::new(open, open + 1),
                            "string starts here",
                        )
                        .with_help(
                            "close the string with `\"` (write `\\\"` for a quote inside it)",
                        ),
                    );
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Whether the last thing before `pos` (blanks aside) is a `///` line.
fn after_doc_comment(src: &str, pos: usize) -> bool {
    let before = src[..pos].trim_end();
    let line = &before[before.rfind(['\n', '\r']).map_or(0, |i| i + 1)..];
    let line = line.trim_start();
    line.starts_with("///") && !line.starts_with("////")
}

fn describe_rule(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::kw_network => "`network`",
        Rule::kw_train => "`train`",
        // Wherever `let` may start a layer, so may a name: listing it too
        // would only lengthen the message.
        Rule::kw_let | Rule::binding => return None,
        Rule::source => "`name >>`",
        Rule::ident => "a name",
        Rule::number | Rule::unsigned | Rule::neg => "a number",
        Rule::string => "a string",
        Rule::boolean => "a boolean",
        Rule::list | Rule::shape => "`[`",
        Rule::args | Rule::inputs => "`(`",
        Rule::arg => "an argument",
        Rule::input => "an input `name: [dims]`",
        Rule::layer | Rule::call => "a layer",
        Rule::setting => "a train setting",
        Rule::assertion => "`:`",
        Rule::sep => "`;`",
        Rule::body => "`{`",
        Rule::EOI => "end of input",
        _ => return None,
    })
}

fn describe_literal(tok: &str) -> Option<String> {
    match tok {
        // Blanks, comments and doc comments may go nearly anywhere; listing
        // them would only hide what is really missing.
        " " | "\t" | "\r" | "\n" | "//" | "/*" | "///" | "/" | "_" | "." | "e" | "E" | "+"
        | "\u{feff}" | "BUILTIN_RULE" | "let" => None,
        "true" | "false" => Some("a boolean".into()),
        "\"" => Some("a string".into()),
        "-" => Some("a number".into()),
        t => Some(format!("`{t}`")),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Describes the token at `pos` for "found ..." and returns its byte length.
fn found_at(src: &str, pos: usize) -> (String, usize) {
    let rest = &src[pos..];
    let Some(c) = rest.chars().next() else {
        return ("end of input".into(), 0);
    };
    if c.is_ascii_alphanumeric() || c == '_' {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let shown = &rest[..len.min(32)];
        let dots = if len > 32 { "..." } else { "" };
        return (format!("`{shown}{dots}`"), len);
    }
    if rest.starts_with("///") {
        return ("`///`".into(), 3);
    }
    for op in ["->", "=>"] {
        if rest.starts_with(op) {
            return (format!("`{op}`"), 2);
        }
    }
    if c == '\n' || c == '\r' {
        return ("end of line".into(), 1);
    }
    if let Some(name) = crate::diag::invisible(c) {
        return (
            format!(
                "the invisible character {} ({name})",
                crate::diag::escape(c)
            ),
            c.len_utf8(),
        );
    }
    (format!("`{c}`"), c.len_utf8())
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn span_of(p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

fn ident(p: Pair<Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span_of(&p),
    }
}

/// Doc text after `///`, with the one conventional leading blank removed.
fn doc(p: Pair<Rule>) -> String {
    let text = p.into_inner().next().map(|t| t.as_str()).unwrap_or("");
    let text = text.strip_suffix('\r').unwrap_or(text);
    text.strip_prefix(' ').unwrap_or(text).to_string()
}

fn network(p: Pair<Rule>) -> Network {
    let mut docs = Vec::new();
    let mut start = None;
    let mut name = None;
    let mut inputs = Vec::new();
    let mut output = None;
    let mut layers = Vec::new();
    let mut end = 0;
    let mut sig_end = 0;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::doc => docs.push(doc(q)),
            Rule::kw_network => start = Some(span_of(&q).start),
            Rule::ident => name = Some(ident(q)),
            Rule::inputs => inputs = q.into_inner().map(input).collect(),
            Rule::shape => {
                sig_end = span_of(&q).end;
                output = Some(shape(q));
            }
            Rule::body => {
                end = span_of(&q).end;
                layers = fuse(q.into_inner().map(layer).collect());
            }
            _ => {}
        }
    }
    let start = start.unwrap_or_default();
    Network {
        docs,
        name: name.expect("grammar: network has a name"),
        inputs,
        output: output.expect("grammar: network has an output shape"),
        layers,
        signature: Span::new(start, sig_end),
        span: Span::new(start, end),
    }
}

fn input(p: Pair<Rule>) -> Input {
    let span = span_of(&p);
    let mut it = p.into_inner();
    let name = ident(it.next().expect("grammar: input name"));
    let shape = shape(it.next().expect("grammar: input shape"));
    Input { name, shape, span }
}

fn shape(p: Pair<Rule>) -> ShapeLit {
    ShapeLit {
        span: span_of(&p),
        dims: p.into_inner().map(number).collect(),
    }
}

fn number(p: Pair<Rule>) -> Number {
    let span = span_of(&p);
    let mut text = String::new();
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::neg => text.push('-'),
            _ => text.extend(q.as_str().chars().filter(|&c| c != '_')),
        }
    }
    Number { text, span }
}

/// A layer before fusion, with whether `;` ended it.
struct RawLayer {
    layer: Layer,
    sep: bool,
}

fn layer(p: Pair<Rule>) -> RawLayer {
    let span = span_of(&p);
    let mut docs = Vec::new();
    let mut call_ = None;
    let mut assertion = None;
    let mut sep = false;
    let mut binding = None;
    let mut source = None;
    let mut start = None;
    let mut end = span.end;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::doc => docs.push(doc(q)),
            Rule::binding => {
                start.get_or_insert(span_of(&q).start);
                binding = q
                    .into_inner()
                    .find(|r| r.as_rule() == Rule::ident)
                    .map(ident);
            }
            Rule::source => {
                start.get_or_insert(span_of(&q).start);
                source = q.into_inner().next().map(ident);
            }
            Rule::call => call_ = Some(call(q)),
            Rule::assertion => {
                let s = q.into_inner().next().expect("grammar: assertion shape");
                end = span_of(&s).end;
                assertion = Some(shape(s));
            }
            Rule::sep => sep = true,
            _ => {}
        }
    }
    let call = call_.expect("grammar: layer has a call");
    if assertion.is_none() {
        end = call.span.end;
    }
    RawLayer {
        layer: Layer {
            docs,
            span: Span::new(start.unwrap_or(call.span.start), end),
            binding,
            source,
            call,
            activation: None,
            assertion,
        },
        sep,
    }
}

/// Fuses `dense(..) act` (and `conv2d(..) act`) into one layer. The text `dense(64) relu` reaches
/// us the same way from a file and from macro tokens (newlines are lost in
/// tokens), so fusion cannot depend on line breaks: an activation directly
/// after a `dense` without an assertion or `;` belongs to it.
fn fuse(raw: Vec<RawLayer>) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::with_capacity(raw.len());
    let mut fusable = false;
    for RawLayer { layer, sep } in raw {
        let name = layer.call.name.name.as_str();
        let plain = layer.binding.is_none() && layer.source.is_none();
        if fusable && plain && layer.docs.is_empty() && names::looks_like_activation(name) {
            let prev = out.last_mut().expect("fusable implies a previous layer");
            prev.span = prev.span.to(layer.span);
            prev.assertion = layer.assertion;
            prev.activation = Some(layer.call);
            fusable = false;
            continue;
        }
        fusable = crate::ops::FUSES_ACTIVATION.contains(&name) && layer.assertion.is_none() && !sep;
        out.push(layer);
    }
    out
}

fn call(p: Pair<Rule>) -> Call {
    let mut it = p.into_inner();
    let name = ident(it.next().expect("grammar: call name"));
    // Not the pair's own span: pest lets a rule that ends in a failed
    // optional (`args?`) swallow the blanks and comments after it.
    let mut span = name.span;
    let (args, parens) = match it.next() {
        Some(a) => {
            span = span.to(span_of(&a));
            (args(a), true)
        }
        None => (Vec::new(), false),
    };
    Call {
        name,
        args,
        parens,
        span,
    }
}

fn args(p: Pair<Rule>) -> Vec<Arg> {
    p.into_inner().map(arg).collect()
}

fn arg(p: Pair<Rule>) -> Arg {
    let span = span_of(&p);
    let mut name = None;
    let mut value_ = None;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::ident => name = Some(ident(q)),
            _ => value_ = Some(value(q)),
        }
    }
    Arg {
        name,
        value: value_.expect("grammar: argument has a value"),
        span,
    }
}

fn value(p: Pair<Rule>) -> Value {
    let span = span_of(&p);
    let kind = match p.as_rule() {
        Rule::number => ValueKind::Number(number(p)),
        Rule::string => ValueKind::Str(unescape(p.as_str())),
        Rule::boolean => ValueKind::Bool(p.as_str() == "true"),
        Rule::list => ValueKind::List(p.into_inner().map(value).collect()),
        Rule::call => ValueKind::Call(call(p)),
        r => unreachable!("grammar: {r:?} is not a value"),
    };
    Value { kind, span }
}

/// The string literal's content with `\"`, `\\`, `\n`, `\t` resolved.
fn unescape(lit: &str) -> String {
    let inner = &lit[1..lit.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn train(p: Pair<Rule>) -> Train {
    let mut docs = Vec::new();
    let mut start = None;
    let mut network = None;
    let mut settings = Vec::new();
    let end = span_of(&p).end;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::doc => docs.push(doc(q)),
            Rule::kw_train => start = Some(span_of(&q).start),
            Rule::ident => network = Some(ident(q)),
            Rule::setting => settings.push(setting(q)),
            _ => {}
        }
    }
    Train {
        docs,
        network: network.expect("grammar: train names a network"),
        settings,
        span: Span::new(start.unwrap_or_default(), end),
    }
}

fn setting(p: Pair<Rule>) -> Setting {
    let mut key = None;
    let mut val = None;
    let mut start = None;
    let mut end = 0;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::doc | Rule::sep => {}
            Rule::ident if key.is_none() => {
                start = Some(span_of(&q).start);
                key = Some(ident(q));
            }
            Rule::args => {
                end = span_of(&q).end;
                val = Some(SettingValue::Args(args(q)));
            }
            _ => {
                end = span_of(&q).end;
                val = Some(SettingValue::Value(value(q)));
            }
        }
    }
    Setting {
        key: key.expect("grammar: setting has a key"),
        value: val.expect("grammar: setting has a value"),
        span: Span::new(start.unwrap_or_default(), end),
    }
}
