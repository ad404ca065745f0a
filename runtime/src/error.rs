//! The runtime's error type.

/// Everything the runtime can fail with. Library code returns these; it never
/// panics on user input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor arrived with a shape other than the one the network was compiled for.
    #[error("shape mismatch in {context}: expected {expected:?}, found {found:?}")]
    Shape {
        /// Where the mismatch was found (a function or layer name).
        context: String,
        /// The shape that was expected (`usize::MAX` for "any", e.g. the batch axis).
        expected: Vec<usize>,
        /// The shape that arrived.
        found: Vec<usize>,
    },
}

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
