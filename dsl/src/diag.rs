//! Diagnostics: what the parser and the checker report.

use crate::span::Span;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The spec cannot be compiled.
    Error,
    /// The spec compiles, but probably not as meant.
    Warning,
}

/// A secondary label: another place in the source that explains the error.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub message: String,
}

/// One error or warning about a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code such as `E0103`, listed in `docs/errors.md`; tests and
    /// editors key on it.
    pub code: &'static str,
    /// What was expected and what was found, in one sentence.
    pub message: String,
    /// The offending source.
    pub span: Span,
    /// Text under the caret of the primary span.
    pub label: String,
    /// Further places worth showing.
    pub labels: Vec<Label>,
    /// How to fix it, when a fix can be suggested.
    pub help: Option<String>,
}
