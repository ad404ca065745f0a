//! Diagnostics as rustc-style text: `error[E0302]: message`, then
//! `--> file:line:col`, the source line, carets under the span and
//! `= help:` lines. Rendering is codespan-reporting's; this module only maps
//! our [`Diagnostic`] onto its types.

use codespan_reporting::diagnostic::{
    Diagnostic as CsDiagnostic, Label as CsLabel, Severity as CsSeverity,
};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};

use crate::diag::{Diagnostic, Severity};
use crate::span::Span;

/// Renders diagnostics about `src` (named `file_name`) as plain text, no
/// colour, one block per diagnostic, separated by blank lines.
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str) -> String {
    let file = SimpleFile::new(file_name, src);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = String::new();
    for d in diags {
        let severity = match d.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut labels = vec![CsLabel::primary((), clamp(src, d.span)).with_message(&d.label)];
        labels.extend(
            d.labels
                .iter()
                .map(|l| CsLabel::secondary((), clamp(src, l.span)).with_message(&l.message)),
        );
        let cs = CsDiagnostic::new(severity)
            .with_code(d.code)
            .with_message(&d.message)
            .with_labels(labels)
            .with_notes(d.help.iter().map(|h| format!("help: {h}")).collect());
        match term::emit_into_string(&config, &file, &cs) {
            Ok(s) => out.push_str(&s),
            // Only reachable with a span outside the text, which `clamp`
            // prevents; fall back to a line without source rather than fail.
            Err(_) => out.push_str(&format!("error[{}]: {}\n", d.code, d.message)),
        }
    }
    out
}

/// Keeps a span inside the text and on character boundaries, so that a
/// diagnostic computed against slightly different text cannot break rendering.
fn clamp(src: &str, span: Span) -> std::ops::Range<usize> {
    let fix = |mut i: usize| {
        i = i.min(src.len());
        while !src.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = fix(span.start);
    start..fix(span.end).max(start)
}

/// 1-based line and column (in characters) of a byte offset, as editors and
/// the renderer count them. Offsets past the end map to the end.
pub fn line_col(src: &str, byte: usize) -> (usize, usize) {
    let mut byte = byte.min(src.len());
    while !src.is_char_boundary(byte) {
        byte -= 1;
    }
    let before = &src[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
