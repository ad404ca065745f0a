//! The nnc model language and its compiler.
//!
//! A spec goes through four stages, one module each, in this order:
//!
//! 1. [`parse`]: text → AST with spans (a pest grammar, `grammar.pest`);
//! 2. [`check`]: AST → [`ir::Program`], inferring and proving every shape and
//!    collecting every error as a [`diag::Diagnostic`];
//! 3. `lower`: IR → a plan of kernels and buffers for one network;
//! 4. `emit`: plan → Rust tokens.
//!
//! The `network!` macro, build scripts and the `nnc` command-line tool are thin
//! fronts over the same pipeline, so one spec gives the same code whichever
//! way it is compiled.

pub mod diag;
pub mod emit;
pub mod ir;
pub mod lower;
pub mod span;
pub mod tokens;

pub use diag::{Diagnostic, Severity};
pub use span::Span;
