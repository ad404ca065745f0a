//! The runtime's error type.

use std::path::PathBuf;

/// Everything the runtime can fail with. Library code returns these; it never
/// panics on user input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor arrived with a shape other than the one the network was compiled for.
    /// Shown as `expected [*, 2], found [10, 3]`, `*` for an axis of any length.
    #[error(
        "shape mismatch in {context}: expected {}, found {}{}",
        show_shape(expected),
        show_shape(found),
        show_help(help)
    )]
    Shape {
        /// Where the mismatch was found (a function or layer name).
        context: String,
        /// The shape that was expected (`usize::MAX` for "any", e.g. the batch axis).
        expected: Vec<usize>,
        /// The shape that arrived.
        found: Vec<usize>,
        /// What to do about it, when the runtime can tell (empty otherwise).
        help: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file's contents do not follow its format (bad header, wrong size, ...).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the offending values.
        message: String,
    },
    /// A cell of a text file could not be used.
    #[error("{}:{row}{}: field {field}: {message}", path.display(), show_column(*column))]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file.
        row: usize,
        /// 1-based column (in characters) where the cell starts; 0 when the
        /// whole line is at fault.
        column: usize,
        /// The column (name from the header, or 1-based index).
        field: String,
        /// What is wrong with the cell.
        message: String,
    },
    /// A class label that is not an integer in `0..classes`.
    #[error("{context}: label {value} at row {row} is not a class index in 0..{classes}")]
    Label {
        /// Where the label was read (function or file).
        context: String,
        /// 0-based sample index.
        row: usize,
        /// The offending value.
        value: f32,
        /// The number of classes.
        classes: usize,
    },
    /// A loss or gradient became NaN or infinite during training.
    #[error("non-finite {what} ({value}) at epoch {epoch}, batch {batch}; try a lower learning rate, gradient clipping (clip_norm) or standardised inputs")]
    NonFinite {
        /// What went bad: `loss` or `gradient`.
        what: &'static str,
        /// The value seen.
        value: f32,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch.
        batch: usize,
    },
    /// A setting that cannot work (batch size 0, empty dataset, split outside (0, 1), ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A weights file that does not fit the model: every difference is listed.
    #[error("{} does not match model `{model}`:\n  - {}", path.display(), differences.join("\n  - "))]
    WeightsMismatch {
        /// The weights file.
        path: PathBuf,
        /// The model's name.
        model: String,
        /// One line per missing, unexpected or differently shaped/typed tensor.
        differences: Vec<String>,
    },
    /// Drawing a plot failed.
    #[error("plot {}: {message}", path.display())]
    Plot {
        /// The image being written.
        path: PathBuf,
        /// What the drawing library said.
        message: String,
    },
    /// A network that cannot be written in an exchange format (ONNX):
    /// which layer and why.
    #[error("cannot export {} to {format}: {message}", match layer { Some(l) => format!("layer `{l}` of `{model}`"), None => format!("`{model}`") })]
    Export {
        /// The format, e.g. `ONNX`.
        format: &'static str,
        /// The model's name.
        model: String,
        /// The layer at fault, if one is.
        layer: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Another process of a distributed run ([`crate::dist`]) failed, so
    /// this one stops too instead of waiting for it forever.
    #[error("rank {rank} of {size} failed ({during}); its own error is in its output")]
    PeerFailed {
        /// The (lowest) rank that failed.
        rank: usize,
        /// The number of ranks.
        size: usize,
        /// What the ranks were doing, e.g. `epoch 3, batch 7`.
        during: String,
    },
}

impl Error {
    /// A [`Error::Shape`] for `context`.
    pub fn shape(context: impl Into<String>, expected: &[usize], found: &[usize]) -> Self {
        Error::Shape {
            context: context.into(),
            expected: expected.to_vec(),
            found: found.to_vec(),
            help: String::new(),
        }
    }

    /// A [`Error::Shape`] for `context` that says what to do.
    pub fn shape_with_help(
        context: impl Into<String>,
        expected: &[usize],
        found: &[usize],
        help: impl Into<String>,
    ) -> Self {
        Error::Shape {
            context: context.into(),
            expected: expected.to_vec(),
            found: found.to_vec(),
            help: help.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `[*, 2]`: a shape with `*` for an axis of any length (`usize::MAX`),
/// so that a batch axis never prints as 18446744073709551615.
pub fn show_shape(dims: &[usize]) -> String {
    let dims: Vec<String> = dims
        .iter()
        .map(|&d| {
            if d == usize::MAX {
                "*".to_string()
            } else {
                d.to_string()
            }
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

fn show_help(help: &str) -> String {
    if help.is_empty() {
        String::new()
    } else {
        format!("; {help}")
    }
}

fn show_column(column: usize) -> String {
    if column == 0 {
        String::new()
    } else {
        format!(":{column}")
    }
}

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
