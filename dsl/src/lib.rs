//! The nnc model language and its compiler.
//!
//! A spec goes through four stages, one module each, in this order:
//!
//! 1. [`parse()`]: text → AST with spans (a pest grammar, `grammar.pest`);
//! 2. [`check()`]: AST → [`ir::Program`], inferring and proving every shape and
//!    collecting every error as a [`diag::Diagnostic`];
//! 3. `lower`: IR → a plan of kernels and buffers for one network;
//! 4. `emit`: plan → Rust tokens.
//!
//! The `network!` macro, build scripts and the `nnc` command-line tool are thin
//! fronts over the same pipeline, so one spec gives the same code whichever
//! way it is compiled.
//!
//! ```
//! let src = "network Tiny(x: [2]) -> [2] { dense(3) sigmoid  dense(2) softmax }";
//! let program = nnc_dsl::compile(src).unwrap();
//! assert_eq!(nnc_dsl::summary::summary(&program.networks[0]).total, 17);
//!
//! let bad = "network Tiny(x: [2]) -> [3] { dense(2) }";
//! let diags = nnc_dsl::compile(bad).unwrap_err();
//! assert_eq!(diags[0].code, "E0301");
//! assert!(nnc_dsl::render(&diags, "tiny.nn", bad).contains("--> tiny.nn:1:25"));
//! ```

#![warn(missing_docs)]

pub mod ast;
pub mod build;
pub mod check;
pub mod diag;
pub mod emit;
pub mod expand;
pub mod graph;
pub mod ir;
pub mod lower;
pub mod names;
pub mod ops;
pub mod parse;
pub mod render;
pub mod span;
pub mod summary;
pub mod tokens;

pub use diag::{codes, Diagnostic, Severity};
pub use render::{line_col, render};
pub use span::Span;

/// Parses spec text into a syntax tree, or reports the syntax error.
pub fn parse(src: &str) -> Result<ast::File, Vec<Diagnostic>> {
    parse::parse(src)
}

/// Checks a syntax tree: every name, argument and shape, and each train
/// block against its network. Reports every error found, not only the first.
pub fn check(file: &ast::File) -> Result<ir::Program, Vec<Diagnostic>> {
    check::check(file)
}

/// Parses and checks spec text.
pub fn compile(src: &str) -> Result<ir::Program, Vec<Diagnostic>> {
    check(&parse(src)?)
}

/// Decodes spec bytes (as read from a file) as UTF-8, or reports where the
/// first invalid byte is, so callers that read files never panic on binary input.
pub fn decode(bytes: &[u8]) -> Result<&str, Vec<Diagnostic>> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let d = Diagnostic::error(
            codes::INVALID_UTF8,
            format!(
                "a spec must be UTF-8 text, found an invalid byte 0x{:02x} at offset {at}",
                bytes[at]
            ),
            Span::new(at, at),
            "invalid UTF-8 here",
        )
        .with_help("save the file as UTF-8");
        vec![d]
    })
}
