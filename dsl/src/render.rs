//! Diagnostics as rustc-style text: `error[E0302]: message`, then
//! `--> file:line:col`, the source line, carets under the span and
//! `= help:` lines. Rendering is codespan-reporting's; this module only maps
//! our [`Diagnostic`] onto its types.

use std::ops::Range;

use codespan_reporting::diagnostic::{
    Diagnostic as CsDiagnostic, Label as CsLabel, Severity as CsSeverity,
};
use codespan_reporting::files::{self, Files};
use codespan_reporting::term::{self, Chars, Config};

use crate::diag::{escape_invisible, Diagnostic, Severity};
use crate::span::Span;

/// Lines longer than this many bytes are shown as a window around the
/// span, so that a diagnostic on a 100 KB line is not 100 KB long.
const LONG_LINE: usize = 160;
/// Bytes of context kept on each side of the span in a long line.
const CONTEXT: usize = 60;
/// The most of a long span shown.
const SPAN_SHOWN: usize = 120;

/// Renders diagnostics about `src` (named `file_name`) as plain text, no
/// colour, one block per diagnostic, separated by blank lines.
///
/// A `\r` alone ends a line, as `\n` does (old Mac files); a line longer
/// than 160 bytes is cut to a window around the spans, marked `...`;
/// invisible characters in messages are written `U+00A0`.
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str) -> String {
    // Same length, same offsets: only line breaks change.
    let text = lone_cr_to_lf(src);
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
        let spans: Vec<Range<usize>> = std::iter::once(d.span)
            .chain(d.labels.iter().map(|l| l.span))
            .map(|s| clamp(&text, s))
            .collect();
        let file = Windowed::new(file_name, &text, &spans);
        let mut labels = vec![CsLabel::primary((), file.map_range(&spans[0]))
            .with_message(escape_invisible(&d.label))];
        labels.extend(d.labels.iter().zip(&spans[1..]).map(|(l, r)| {
            CsLabel::secondary((), file.map_range(r)).with_message(escape_invisible(&l.message))
        }));
        let cs = CsDiagnostic::new(severity)
            .with_code(d.code)
            .with_message(escape_invisible(&d.message))
            .with_labels(labels)
            .with_notes(
                d.help
                    .iter()
                    .map(|h| format!("help: {}", escape_invisible(h)))
                    .collect(),
            );
        match term::emit_into_string(&config, &file, &cs) {
            Ok(s) => out.push_str(&s),
            // Only reachable with a span outside the text, which `clamp`
            // prevents; fall back to a line without source rather than fail.
            Err(_) => out.push_str(&format!(
                "error[{}]: {}\n",
                d.code,
                escape_invisible(&d.message)
            )),
        }
    }
    out
}

/// `src` with each `\r` not followed by `\n` replaced by `\n`.
fn lone_cr_to_lf(src: &str) -> std::borrow::Cow<'_, str> {
    let bytes = src.as_bytes();
    let lone = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    if !(0..bytes.len()).any(lone) {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut out = bytes.to_vec();
    for (i, b) in out.iter_mut().enumerate() {
        if lone(i) {
            *b = b'\n';
        }
    }
    // Replacing one ASCII byte by another keeps the text UTF-8.
    std::borrow::Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| src.to_string()))
}

/// The source as shown for one diagnostic: long lines that its spans touch
/// cut down to a window, everything else as it is. Line numbers stay those
/// of the original text, and columns are computed on the original too.
struct Windowed<'a> {
    name: &'a str,
    original: &'a str,
    shown: String,
    /// Kept pieces: `(original range, start in shown)`, in order.
    pieces: Vec<(Range<usize>, usize)>,
    line_starts: Vec<usize>,
}

impl<'a> Windowed<'a> {
    fn new(name: &'a str, original: &'a str, spans: &[Range<usize>]) -> Self {
        // Each long line a span touches, and the window to keep of it.
        let mut cuts: std::collections::BTreeMap<usize, (Range<usize>, Range<usize>)> =
            std::collections::BTreeMap::new();
        for r in spans {
            let mut at = r.start;
            loop {
                let line = line_around(original, at);
                if line.len() > LONG_LINE && !cuts.contains_key(&line.start) {
                    let keep = window(original, &line, spans);
                    cuts.insert(line.start, (line.clone(), keep));
                }
                if line.end >= r.end || line.end >= original.len() {
                    break;
                }
                at = line.end + 1;
            }
        }
        let mut shown = String::with_capacity(original.len().min(64 * 1024));
        let mut pieces = Vec::new();
        let mut at = 0;
        for (line, keep) in cuts.values() {
            let before = at..line.start;
            pieces.push((before.clone(), shown.len()));
            shown.push_str(&original[before]);
            if keep.start > line.start {
                shown.push_str("...");
            }
            pieces.push((keep.clone(), shown.len()));
            shown.push_str(&original[keep.clone()]);
            if keep.end < line.end {
                shown.push_str("...");
            }
            at = line.end;
        }
        pieces.push((at..original.len(), shown.len()));
        shown.push_str(&original[at..]);
        let line_starts = files::line_starts(&shown).collect();
        Windowed {
            name,
            original,
            shown,
            pieces,
            line_starts,
        }
    }

    /// Where an original offset is shown; an offset in a cut part goes to
    /// the nearest kept text before it.
    fn map(&self, b: usize) -> usize {
        let i = self.pieces.partition_point(|(r, _)| r.start <= b).max(1) - 1;
        let (r, at) = &self.pieces[i];
        at + (b.min(r.end) - r.start)
    }

    fn map_range(&self, r: &Range<usize>) -> Range<usize> {
        let start = self.map(r.start);
        start..self.map(r.end).max(start)
    }

    /// The original offset of a shown one (for columns).
    fn unmap(&self, b: usize) -> usize {
        let i = self.pieces.partition_point(|(_, at)| *at <= b).max(1) - 1;
        let (r, at) = &self.pieces[i];
        r.start + (b - at).min(r.len())
    }
}

impl<'f> Files<'f> for Windowed<'_> {
    type FileId = ();
    type Name = &'f str;
    type Source = &'f str;

    fn name(&'f self, (): ()) -> Result<&'f str, files::Error> {
        Ok(self.name)
    }

    fn source(&'f self, (): ()) -> Result<&'f str, files::Error> {
        Ok(&self.shown)
    }

    fn line_index(&'f self, (): (), byte_index: usize) -> Result<usize, files::Error> {
        Ok(self
            .line_starts
            .partition_point(|&s| s <= byte_index)
            .saturating_sub(1))
    }

    fn column_number(
        &'f self,
        (): (),
        _line_index: usize,
        byte_index: usize,
    ) -> Result<usize, files::Error> {
        Ok(line_col(self.original, self.unmap(byte_index)).1)
    }

    fn line_range(&'f self, (): (), line_index: usize) -> Result<Range<usize>, files::Error> {
        let start = *self
            .line_starts
            .get(line_index)
            .ok_or(files::Error::LineTooLarge {
                given: line_index,
                max: self.line_starts.len() - 1,
            })?;
        let end = self
            .line_starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(self.shown.len());
        Ok(start..end)
    }
}

/// What to keep of a long `line`: the first span that starts or ends on it
/// (its start and at most SPAN_SHOWN bytes of it) with CONTEXT bytes on
/// each side, or the line's start if spans only pass through it.
fn window(src: &str, line: &Range<usize>, spans: &[Range<usize>]) -> Range<usize> {
    let on_line = |b: usize| line.start <= b && b <= line.end;
    let (from, to) = spans
        .iter()
        .filter(|s| on_line(s.start) || on_line(s.end))
        .map(|s| {
            let from = s.start.max(line.start);
            (from, s.end.min(from + SPAN_SHOWN).max(from))
        })
        .min()
        .unwrap_or((line.start, line.start));
    floor(src, from.saturating_sub(CONTEXT).max(line.start))
        ..ceil(src, (to + CONTEXT).min(line.end))
}

/// The byte range of the line holding `at`, without its line break.
fn line_around(src: &str, at: usize) -> Range<usize> {
    let start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = src[at..].find('\n').map_or(src.len(), |i| at + i);
    start..end
}

fn floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Keeps a span inside the text and on character boundaries, so that a
/// diagnostic computed against slightly different text cannot break rendering.
fn clamp(src: &str, span: Span) -> Range<usize> {
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
/// the renderer count them: `\n`, `\r\n` and a lone `\r` each end a line.
/// Offsets past the end map to the end.
pub fn line_col(src: &str, byte: usize) -> (usize, usize) {
    let mut byte = byte.min(src.len());
    while !src.is_char_boundary(byte) {
        byte -= 1;
    }
    let before = &src[..byte];
    let bytes = before.as_bytes();
    let mut line = 1;
    let mut line_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let lone_cr = b == b'\r' && src.as_bytes().get(i + 1) != Some(&b'\n');
        if b == b'\n' || lone_cr {
            line += 1;
            line_start = i + 1;
        }
    }
    (line, before[line_start..].chars().count() + 1)
}
