//! From the tokens of a `network! { ... }` block to spec text, and back from
//! byte ranges of that text to the tokens, so that a diagnostic lands on the
//! user's tokens like a rustc error.

use crate::span::Span;
use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Spec text rebuilt from tokens, with the source span of every piece.
#[derive(Debug)]
pub struct SpecText {
    /// The spec as text, ready for [`crate::parse()`].
    pub text: String,
    /// `(byte range in text, token span)` in text order.
    pieces: Vec<(Span, proc_macro2::Span)>,
}

impl SpecText {
    /// Rebuilds spec text from a macro's input tokens.
    ///
    /// Spacing follows the usual way of writing specs (`dense(128) relu`,
    /// `[28, 28]`) so that a layer's text, which summaries and generated docs
    /// quote, reads the same as in a `.nn` file. `#[doc = "..."]` attributes
    /// (what `///` comments become in tokens) turn back into `///` lines.
    pub fn from_tokens(tokens: TokenStream) -> SpecText {
        let mut out = SpecText {
            text: String::new(),
            pieces: Vec::new(),
        };
        out.push_stream(tokens);
        out
    }

    /// The first and last token spans covering `span` of the text; what a
    /// compile error should point at.
    pub fn token_spans(&self, span: Span) -> Option<(proc_macro2::Span, proc_macro2::Span)> {
        let first = self
            .pieces
            .iter()
            .find(|(r, _)| r.end > span.start)
            .or(self.pieces.last())?;
        let last = self
            .pieces
            .iter()
            .rev()
            .find(|(r, _)| r.start < span.end.max(span.start + 1))
            .unwrap_or(first);
        // An empty or reversed range (e.g. an error at the very end) points at one token.
        if last.0.start < first.0.start {
            return Some((first.1, first.1));
        }
        Some((first.1, last.1))
    }

    fn push(&mut self, s: &str, span: proc_macro2::Span) {
        let start = self.text.len();
        self.text.push_str(s);
        self.pieces.push((Span::new(start, self.text.len()), span));
    }

    /// Separates the next token from the text so far, as a person would.
    fn space_before(&mut self, next: &str) {
        let Some(prev) = self.text.chars().last() else {
            return;
        };
        let glued_to_prev = matches!(prev, '(' | '[' | ' ' | '\n');
        let glued_to_next = matches!(next, ")" | "]" | "," | ":" | ";" | ".");
        let call = next == "(" && (prev.is_alphanumeric() || prev == '_');
        if !(glued_to_prev || glued_to_next || call) {
            self.text.push(' ');
        }
    }

    fn newline(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    fn push_stream(&mut self, tokens: TokenStream) {
        let mut iter = tokens.into_iter().peekable();
        let mut joint = false;
        while let Some(tt) = iter.next() {
            match tt {
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    if let Some(TokenTree::Group(g)) = iter.peek() {
                        if g.delimiter() == Delimiter::Bracket {
                            if let Some(doc) = doc_text(g.stream()) {
                                let span = p.span();
                                iter.next();
                                self.newline();
                                self.push(&format!("///{doc}"), span);
                                self.newline();
                                joint = false;
                                continue;
                            }
                        }
                    }
                    self.token(
                        &p.to_string(),
                        p.span(),
                        &mut joint,
                        p.spacing() == Spacing::Joint,
                    );
                }
                TokenTree::Punct(p) => {
                    let s = p.to_string();
                    let before_literal = matches!(iter.peek(), Some(TokenTree::Literal(_)));
                    // A sign stays with its number: `-0.05`.
                    let glue =
                        p.spacing() == Spacing::Joint || (p.as_char() == '-' && before_literal);
                    self.token(&s, p.span(), &mut joint, glue);
                }
                TokenTree::Ident(i) => self.token(&i.to_string(), i.span(), &mut joint, false),
                TokenTree::Literal(l) => self.token(&l.to_string(), l.span(), &mut joint, false),
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::None => ("", ""),
                    };
                    let brace = g.delimiter() == Delimiter::Brace;
                    if !open.is_empty() {
                        self.token(open, g.span_open(), &mut joint, false);
                    }
                    if brace {
                        self.newline();
                    }
                    self.push_stream(g.stream());
                    if brace {
                        self.newline();
                    }
                    if !close.is_empty() {
                        self.token(close, g.span_close(), &mut joint, false);
                    }
                    if brace {
                        self.newline();
                    }
                }
            }
        }
    }

    fn token(&mut self, s: &str, span: proc_macro2::Span, joint: &mut bool, glue_next: bool) {
        if !*joint {
            self.space_before(s);
        }
        self.push(s, span);
        *joint = glue_next;
    }
}

/// The names after each `network` keyword of a spec, found without parsing,
/// for fallback items when a spec has errors (so the user sees the spec's
/// errors, not also "cannot find type").
pub fn network_names(src: &str, span: proc_macro2::Span) -> Vec<proc_macro2::Ident> {
    let words: Vec<&str> = src
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut names: Vec<proc_macro2::Ident> = Vec::new();
    for w in words.windows(2) {
        if w[0] == "network"
            && syn::parse_str::<syn::Ident>(w[1]).is_ok()
            && !names.iter().any(|n| n == w[1])
        {
            names.push(proc_macro2::Ident::new(w[1], span));
        }
    }
    names
}

/// The text of a `doc = "..."` attribute body, if that is what `stream` is.
fn doc_text(stream: TokenStream) -> Option<String> {
    let mut it = stream.into_iter();
    match (it.next(), it.next(), it.next(), it.next()) {
        (
            Some(TokenTree::Ident(i)),
            Some(TokenTree::Punct(eq)),
            Some(TokenTree::Literal(lit)),
            None,
        ) if i == "doc" && eq.as_char() == '=' => {
            let lit: syn::LitStr = syn::parse2(TokenTree::Literal(lit).into()).ok()?;
            // Multi-line doc strings (from `/** */`) become several `///` lines.
            Some(lit.value().replace('\n', "\n///"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn text(src: &str) -> String {
        SpecText::from_tokens(TokenStream::from_str(src).unwrap()).text
    }

    #[test]
    fn spacing_reads_like_a_spec_file() {
        let t = text(
            "/// Digits.\nnetwork Mnist(image: [28, 28]) -> [10] { flatten dense(128) relu dropout(0.2) \
             dense(10, init = uniform(low = -0.05, high = 0.05)) softmax : [10] }",
        );
        assert_eq!(
            t,
            "/// Digits.\nnetwork Mnist(image: [28, 28]) -> [10] {\nflatten dense(128) relu dropout(0.2) \
             dense(10, init = uniform(low = -0.05, high = 0.05)) softmax: [10]\n}\n"
        );
    }

    #[test]
    fn reshape_and_lists() {
        assert_eq!(
            text("reshape([7, 112]) metrics [accuracy, mae]"),
            "reshape([7, 112]) metrics [accuracy, mae]"
        );
        assert_eq!(text("lr = 1e-3"), "lr = 1e-3");
    }

    #[test]
    fn spans_map_back_to_tokens() {
        let spec = SpecText::from_tokens(TokenStream::from_str("dense(128) relu").unwrap());
        let start = spec.text.find("relu").unwrap();
        assert!(spec.token_spans(Span::new(start, start + 4)).is_some());
        assert!(spec
            .token_spans(Span::new(spec.text.len(), spec.text.len()))
            .is_some());
        assert!(SpecText::from_tokens(TokenStream::new())
            .token_spans(Span::new(0, 0))
            .is_none());
    }
}
