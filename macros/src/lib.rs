//! The `network!` and `include_network!` proc macros: thin fronts over
//! `nnc-dsl`, which does all the work (see `nnc_dsl::expand`).

use proc_macro::TokenStream;

/// Compiles an inline network spec into Rust.
///
/// ```ignore
/// nnc::network! {
///     /// Exclusive or.
///     network Xor(x: [2]) -> [1] {
///         dense(4) tanh
///         dense(1) sigmoid
///     }
/// }
/// ```
///
/// A shape error is a compile error on the offending tokens. See the
/// language reference (`docs/language.md`) for what a spec can say.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    nnc_dsl::expand::expand(input.into()).into()
}

/// Compiles the `.nn` spec file at the given path, relative to the crate root
/// (`CARGO_MANIFEST_DIR`), as `network!` would; the crate is rebuilt when the
/// file changes. Errors are rendered with the spec's path, line and column.
///
/// ```ignore
/// nnc::include_network!("specs/mnist.nn");
/// ```
#[proc_macro]
pub fn include_network(input: TokenStream) -> TokenStream {
    nnc_dsl::expand::expand_file(input.into()).into()
}
