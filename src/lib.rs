//! # nnc: a neural-network compiler for Rust
//!
//! Describe a network in the nnc model language, either in a `.nn` file compiled
//! by a build script or inline with [`network!`], and nnc checks every tensor
//! shape at compile time and generates specialised forward and backward code
//! for it, linked against the [`nnc_runtime`] kernels and training loop.
//!
//! This facade is the crate users depend on: it re-exports the runtime (so
//! generated code can name everything as `::nnc::...`) and the `network!` macro.

pub use nnc_macros::{include_network, network};
pub use nnc_runtime::*;
