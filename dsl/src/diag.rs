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

impl Diagnostic {
    /// An error with its code, message, primary span and the label under it.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: label.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    /// A warning: the spec compiles, but probably not as meant. Warnings
    /// never fail a compile; `nnc check` prints them.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(code, message, span, label)
        }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }
}

/// The stable diagnostic codes, each documented with an example in
/// `docs/errors.md`. Tests and editors key on these; never reuse a retired one.
pub mod codes {
    /// A spec file cannot be read (reported by the command-line tool).
    pub const READ: &str = "E0000";
    /// The text does not follow the grammar.
    pub const SYNTAX: &str = "E0001";
    /// Brackets nested deeper than the parser accepts.
    pub const TOO_DEEP: &str = "E0002";
    /// The file is not UTF-8 text.
    pub const INVALID_UTF8: &str = "E0003";
    /// More errors than are worth reporting; the rest are left out.
    pub const TOO_MANY_ERRORS: &str = "E0004";
    /// A string or block comment that is never closed.
    pub const UNTERMINATED: &str = "E0005";

    /// A layer kind nnc does not know.
    pub const UNKNOWN_LAYER: &str = "E0101";
    /// An activation nnc does not know (after `dense(..)`).
    pub const UNKNOWN_ACTIVATION: &str = "E0102";
    /// A loss nnc does not know.
    pub const UNKNOWN_LOSS: &str = "E0103";
    /// An optimizer nnc does not know.
    pub const UNKNOWN_OPTIMIZER: &str = "E0104";
    /// An initialiser nnc does not know.
    pub const UNKNOWN_INIT: &str = "E0105";
    /// A named argument the layer or function does not take.
    pub const UNKNOWN_ARGUMENT: &str = "E0106";
    /// A train setting nnc does not know.
    pub const UNKNOWN_SETTING: &str = "E0107";
    /// A metric nnc does not know.
    pub const UNKNOWN_METRIC: &str = "E0108";
    /// A train block for a network the spec does not define.
    pub const UNKNOWN_NETWORK: &str = "E0109";
    /// Early stopping watches a quantity that is never computed.
    pub const UNKNOWN_MONITOR: &str = "E0110";
    /// An unknown learning-rate schedule.
    pub const UNKNOWN_SCHEDULE: &str = "E0111";

    /// An argument of the wrong type (a string where a number goes, ...).
    pub const WRONG_TYPE: &str = "E0201";
    /// An argument outside its valid range.
    pub const OUT_OF_RANGE: &str = "E0202";
    /// A required argument is missing.
    pub const MISSING_ARGUMENT: &str = "E0203";
    /// More positional arguments than the layer or function takes.
    pub const TOO_MANY_ARGUMENTS: &str = "E0204";
    /// The same argument given twice.
    pub const DUPLICATE_ARGUMENT: &str = "E0205";
    /// A name that cannot become a Rust identifier.
    pub const INVALID_NAME: &str = "E0206";
    /// A required train setting is missing.
    pub const MISSING_SETTING: &str = "E0207";

    /// The declared output shape differs from the inferred one.
    pub const OUTPUT_MISMATCH: &str = "E0301";
    /// A layer gets an input of a rank it cannot take.
    pub const RANK_MISMATCH: &str = "E0302";
    /// `reshape` to a different element count.
    pub const RESHAPE_COUNT: &str = "E0303";
    /// A `: [dims]` shape assertion does not hold.
    pub const ASSERTION_FAILED: &str = "E0304";
    /// A shape with a zero, negative or absurd dimension, or no dimension.
    pub const BAD_SHAPE: &str = "E0305";
    /// A sequential network with other than one input.
    pub const INPUT_COUNT: &str = "E0306";
    /// Softmax over an axis of length 1, which is always 1.
    pub const SOFTMAX_ONE_UNIT: &str = "E0307";
    /// A convolution or pooling layer whose input is not an image `[H, W, C]`.
    pub const IMAGE_RANK: &str = "E0311";
    /// A kernel or pooling window larger than its padded input: no output.
    pub const WINDOW_TOO_LARGE: &str = "E0312";
    /// A pooling padding not smaller than the window: a window could hold
    /// padding only, which has no maximum or mean.
    pub const POOL_PADDING: &str = "E0313";
    /// Warning: a stride or pooling window leaves input rows or columns
    /// that no window reads.
    pub const DROPPED_CELLS: &str = "W0301";

    /// Two networks with one name.
    pub const DUPLICATE_NETWORK: &str = "E0401";
    /// Two layers of one network with one name.
    pub const DUPLICATE_LAYER: &str = "E0402";
    /// Two train blocks for one network.
    pub const DUPLICATE_TRAIN: &str = "E0403";
    /// A train setting given twice.
    pub const DUPLICATE_SETTING: &str = "E0404";
    /// A network or layer name containing `__`, which generated names use.
    pub const RESERVED_NAME: &str = "E0405";
    /// A network named like a primitive type (`f32`), which it would shadow.
    pub const PRIMITIVE_NAME: &str = "E0406";

    /// A network with more than `MAX_PARAMS` parameters.
    pub const TOO_MANY_PARAMS: &str = "E0601";
    /// A network whose workspace exceeds `MAX_ACTIVATIONS` elements per sample.
    pub const TOO_MANY_ACTIVATIONS: &str = "E0602";
    /// A network with more than `MAX_LAYERS` layers.
    pub const TOO_MANY_LAYERS: &str = "E0603";
    /// An input or output shape of rank above `MAX_RANK`.
    pub const RANK_LIMIT: &str = "E0604";
    /// A `reshape` whose inferred (`-1`) dimension exceeds `MAX_DIM`.
    pub const INFERRED_DIM: &str = "E0605";

    /// Binary cross-entropy on a multi-way softmax output.
    pub const BINARY_ON_SOFTMAX: &str = "E0501";
    /// Categorical cross-entropy on a single output unit.
    pub const CATEGORICAL_ON_ONE_UNIT: &str = "E0502";
    /// A from-logits loss after a sigmoid or softmax: activation applied twice.
    pub const DOUBLE_ACTIVATION: &str = "E0503";
    /// A probability loss after an output that is not a probability.
    pub const NOT_PROBABILITIES: &str = "E0504";
    /// The loss's class count differs from the output width.
    pub const CLASS_COUNT: &str = "E0505";
    /// A name that is no value (yet): unknown, or used before its `let`.
    pub const UNKNOWN_VALUE: &str = "E0112";
    /// `add` of values of different shapes.
    pub const ADD_SHAPE: &str = "E0308";
    /// `concat` of values that differ in more than the last axis.
    pub const CONCAT_SHAPE: &str = "E0309";
    /// A value defined in terms of itself.
    pub const CYCLE: &str = "E0310";
    /// A `let` nothing reads (a warning).
    pub const UNUSED_VALUE: &str = "W0001";
    /// A network name that is not UpperCamelCase, the style of Rust type
    /// names (a warning).
    pub const NETWORK_NAME_CASE: &str = "W0002";
    /// A layer without a `let` whose output the next layer does not read,
    /// since it names its inputs (a warning).
    pub const DROPPED_OUTPUT: &str = "W0003";
    /// A `dropout` of the network's outputs: only reshaping after it (a
    /// warning).
    pub const DROPOUT_AT_OUTPUT: &str = "W0004";
    /// Every code, in order (for documentation checks).
    pub const ALL: &[&str] = &[
        READ,
        SYNTAX,
        TOO_DEEP,
        INVALID_UTF8,
        TOO_MANY_ERRORS,
        UNTERMINATED,
        UNKNOWN_LAYER,
        UNKNOWN_ACTIVATION,
        UNKNOWN_LOSS,
        UNKNOWN_OPTIMIZER,
        UNKNOWN_INIT,
        UNKNOWN_ARGUMENT,
        UNKNOWN_SETTING,
        UNKNOWN_METRIC,
        UNKNOWN_NETWORK,
        UNKNOWN_MONITOR,
        UNKNOWN_SCHEDULE,
        UNKNOWN_VALUE,
        WRONG_TYPE,
        OUT_OF_RANGE,
        MISSING_ARGUMENT,
        TOO_MANY_ARGUMENTS,
        DUPLICATE_ARGUMENT,
        INVALID_NAME,
        MISSING_SETTING,
        OUTPUT_MISMATCH,
        RANK_MISMATCH,
        RESHAPE_COUNT,
        ASSERTION_FAILED,
        BAD_SHAPE,
        INPUT_COUNT,
        SOFTMAX_ONE_UNIT,
        ADD_SHAPE,
        CONCAT_SHAPE,
        CYCLE,
        IMAGE_RANK,
        WINDOW_TOO_LARGE,
        POOL_PADDING,
        DROPPED_CELLS,
        DUPLICATE_NETWORK,
        DUPLICATE_LAYER,
        DUPLICATE_TRAIN,
        DUPLICATE_SETTING,
        RESERVED_NAME,
        PRIMITIVE_NAME,
        BINARY_ON_SOFTMAX,
        CATEGORICAL_ON_ONE_UNIT,
        DOUBLE_ACTIVATION,
        NOT_PROBABILITIES,
        CLASS_COUNT,
        TOO_MANY_PARAMS,
        TOO_MANY_ACTIVATIONS,
        TOO_MANY_LAYERS,
        RANK_LIMIT,
        INFERRED_DIM,
        UNUSED_VALUE,
        NETWORK_NAME_CASE,
        DROPPED_OUTPUT,
        DROPOUT_AT_OUTPUT,
    ];
}

/// The name of a character that prints as nothing or as a plain space
/// (no-break and other odd spaces, zero-width and direction marks, the
/// byte-order mark, control characters), or `None` for an ordinary one.
/// Such a character in a message would look like nothing or like a space.
pub fn invisible(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00A0}' => "no-break space",
        '\u{00AD}' => "soft hyphen",
        '\u{034F}' => "combining grapheme joiner",
        '\u{061C}' => "Arabic letter mark",
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => "Hangul filler",
        '\u{180E}' => "Mongolian vowel separator",
        '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{205F}' | '\u{3000}' => "space",
        '\u{202F}' => "narrow no-break space",
        '\u{200B}' => "zero-width space",
        '\u{200C}' => "zero-width non-joiner",
        '\u{200D}' => "zero-width joiner",
        '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
            "text direction mark"
        }
        '\u{2028}' => "line separator",
        '\u{2029}' => "paragraph separator",
        '\u{2060}' => "word joiner",
        '\u{2061}'..='\u{2064}' | '\u{206A}'..='\u{206F}' => "invisible format character",
        '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' => "variation selector",
        '\u{FEFF}' => "byte-order mark or zero-width no-break space",
        '\u{FFF9}'..='\u{FFFB}' => "interlinear annotation",
        '\u{E0000}'..='\u{E007F}' => "tag character",
        '\t' | '\n' => return None,
        c if c.is_control() => "control character",
        _ => return None,
    })
}

/// `U+00A0`: how messages show an [`invisible`] character.
pub fn escape(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// `text` with every [`invisible`] character written as `U+XXXX`, so that
/// a message quoting user text shows what is really there.
pub fn escape_invisible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| invisible(c).is_some()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match invisible(c) {
            Some(_) => out.push_str(&escape(c)),
            None => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Finds the candidate closest to `name` by edit distance, if close enough
/// to be a likely typo; used for "did you mean" help.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // Long garbage names would make the quadratic distance slow for nothing.
    if name.len() > 64 {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let plain = plain_words(name);
    candidates
        .iter()
        .filter_map(|&c| {
            // As written, or with both spelt the same way (`average_pool2d`,
            // `AvgPool2D`, `conv_2d` for `avg_pool2d`, `conv2d`).
            let near = levenshtein(&lower, &c.to_ascii_lowercase());
            let p = plain_words(c);
            let plain_near = levenshtein(&plain, &p);
            let ok = near <= (c.len() / 3).max(1) || plain_near <= (p.len() / 4).max(1);
            ok.then_some((near.min(plain_near), c))
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `name` with case, `_` and `-` ignored and the long forms of words that
/// layer names shorten (`average`, `pooling`, `maximum`, `convolution`,
/// `normalization`) replaced by nnc's short ones.
fn plain_words(name: &str) -> String {
    let mut s: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    for (long, short) in [
        ("convolution", "conv"),
        ("average", "avg"),
        ("pooling", "pool"),
        ("maximum", "max"),
        ("normalization", "norm"),
    ] {
        s = s.replace(long, short);
    }
    s
}

/// Edit distance where swapping two adjacent letters counts as one edit
/// (optimal string alignment), the commonest typo (`desne` for `dense`).
fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * w + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let mut best = (d[(i - 1) * w + j - 1] + usize::from(a[i - 1] != b[j - 1]))
                    .min(d[(i - 1) * w + j] + 1)
                    .min(d[i * w + j - 1] + 1);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * w + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * w + b.len()]
}

/// Keras' spellings that nnc writes differently, each with nnc's: used
/// where one of them is a candidate (`batch_size` among train settings).
const KERAS_NAMES: &[(&str, &str)] = &[
    ("batch_size", "batch"),
    ("nb_epoch", "epochs"),
    ("learning_rate", "lr"),
    ("kernel_size", "kernel"),
    ("strides", "stride"),
    ("pool_size", "size"),
    ("kernel_initializer", "kernel_init"),
    ("bias_initializer", "bias_init"),
    ("maxpooling2d", "max_pool2d"),
    ("maxpool2d", "max_pool2d"),
    ("max_pooling2d", "max_pool2d"),
    ("averagepooling2d", "avg_pool2d"),
    ("avgpool2d", "avg_pool2d"),
    ("average_pooling2d", "avg_pool2d"),
    ("globalaveragepooling2d", "global_avg_pool2d"),
    ("global_average_pooling2d", "global_avg_pool2d"),
    ("concatenate", "concat"),
    ("batchnormalization", "batch_norm"),
    ("batch_normalization", "batch_norm"),
    ("mean_squared_error", "mse"),
    ("meansquarederror", "mse"),
    ("mean_absolute_error", "mae"),
    ("meanabsoluteerror", "mae"),
    ("huber_loss", "huber"),
    ("binary_accuracy", "accuracy"),
    ("categorical_accuracy", "accuracy"),
    ("sparse_categorical_accuracy", "accuracy"),
    ("random_normal", "normal"),
    ("randomnormal", "normal"),
    ("random_uniform", "uniform"),
    ("randomuniform", "uniform"),
];

/// Keras habits with no one-word nnc spelling: the Keras name, a name that
/// must be among the candidates for the hint to apply (the context), and
/// the hint.
const KERAS_HINTS: &[(&str, &str, &str)] = &[
    (
        "kernel_regularizer",
        "l2",
        "nnc writes Keras' `kernel_regularizer` as `l2 = 1e-4` (or `l1 = ...`, or both)",
    ),
    (
        "learning_rate",
        "optimizer",
        "the learning rate is an argument of the optimizer: `optimizer adam(lr = 1e-3)`",
    ),
    (
        "lr",
        "optimizer",
        "the learning rate is an argument of the optimizer: `optimizer adam(lr = 1e-3)`",
    ),
    (
        "input_shape",
        "",
        "the input shape is the network's signature: `network Net(x: [28, 28]) -> [10]`",
    ),
    (
        "input_dim",
        "",
        "the input shape is the network's signature: `network Net(x: [784]) -> [10]`",
    ),
    (
        "callbacks",
        "early_stopping",
        "Keras' `EarlyStopping` callback is the setting `early_stopping(monitor = \"val_loss\", patience = 5)`",
    ),
    (
        "activation",
        "",
        "write the activation after the layer (`dense(64) relu`) or as a layer of its own (`relu`)",
    ),
    (
        "input",
        "",
        "the input is the network's signature: `network Net(x: [784]) -> [10]`",
    ),
    (
        "inputlayer",
        "",
        "the input is the network's signature: `network Net(x: [784]) -> [10]`",
    ),
];

/// nnc's name for a Keras spelling (`batch_size` → `batch`, `MaxPooling2D`
/// → `max_pool2d`), compared without case; `None` if `name` is not one.
pub fn keras_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    KERAS_NAMES
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|&(_, nnc)| nnc)
}

/// The help for a Keras habit among `candidates`, if `name` is one.
fn keras_help(name: &str, candidates: &[&str]) -> Option<String> {
    if let Some(nnc) = keras_name(name).filter(|n| candidates.contains(n)) {
        return Some(format!("did you mean `{nnc}`? (Keras' `{name}`)"));
    }
    let lower = name.to_ascii_lowercase();
    KERAS_HINTS
        .iter()
        .find(|(k, context, _)| *k == lower && (context.is_empty() || candidates.contains(context)))
        .map(|&(_, _, hint)| hint.to_string())
}

/// Formats a "did you mean" help line for `name` among `candidates` (with
/// nnc's spelling of common Keras names), or lists the candidates when none
/// is close.
pub fn suggestion(name: &str, candidates: &[&str]) -> String {
    if let Some(help) = keras_help(name, candidates) {
        return help;
    }
    match did_you_mean(name, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

/// `error[E0302]: message`: the one-line form, for contexts without the
/// source text (the macro's `compile_error!`, logs).
impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity}[{}]: {}",
            self.code,
            escape_invisible(&self.message)
        )?;
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {}", escape_invisible(help))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("relo", &["relu", "elu", "tanh"]), Some("relu"));
        assert_eq!(did_you_mean("Dense", &["dense"]), Some("dense"));
        assert_eq!(did_you_mean("conv2d", &["dense", "relu"]), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(did_you_mean("desne", &["dense", "dropout"]), Some("dense"));
        // Spelt another way: case, `_`, and long forms of shortened words.
        let layers = [
            "dense",
            "conv2d",
            "max_pool2d",
            "avg_pool2d",
            "global_avg_pool2d",
        ];
        for (name, want) in [
            ("average_pool2d", "avg_pool2d"),
            ("AvgPool2D", "avg_pool2d"),
            ("average_pooling_2d", "avg_pool2d"),
            ("global_average_pool2d", "global_avg_pool2d"),
            ("GlobalAvgPool2D", "global_avg_pool2d"),
            ("maximum_pool2d", "max_pool2d"),
            ("max_pool_2d", "max_pool2d"),
            ("conv_2d", "conv2d"),
            ("Convolution2D", "conv2d"),
        ] {
            assert_eq!(did_you_mean(name, &layers), Some(want), "{name}");
        }
        // Not every name is close to something.
        assert_eq!(did_you_mean("lstm", &layers), None);
        assert_eq!(did_you_mean("pool", &layers), None);
    }

    #[test]
    fn keras_spellings() {
        let settings = ["loss", "optimizer", "batch", "epochs", "early_stopping"];
        assert_eq!(
            suggestion("batch_size", &settings),
            "did you mean `batch`? (Keras' `batch_size`)"
        );
        assert!(suggestion("learning_rate", &settings).contains("adam(lr = 1e-3)"));
        assert!(suggestion("callbacks", &settings).contains("early_stopping("));
        let dense = ["units", "kernel_init", "l1", "l2", "name"];
        assert!(suggestion("kernel_regularizer", &dense).contains("`l2 = 1e-4`"));
        assert!(suggestion("input_shape", &dense).contains("signature"));
        assert_eq!(
            suggestion("MaxPooling2D", &["dense", "max_pool2d"]),
            "did you mean `max_pool2d`? (Keras' `MaxPooling2D`)"
        );
        assert_eq!(
            suggestion("mean_squared_error", &["mse", "mae"]),
            "did you mean `mse`? (Keras' `mean_squared_error`)"
        );
        // Out of its context a hint is not given: `learning_rate` among
        // optimizer arguments is an alias, and `kernel_regularizer` where
        // there is no `l2` is just unknown.
        assert_eq!(keras_help("kernel_regularizer", &["rate", "name"]), None);
        assert_eq!(keras_help("relu", &["relu"]), None);
    }

    #[test]
    fn one_line_display() {
        let d =
            Diagnostic::error(codes::SYNTAX, "bad", Span::new(0, 1), "here").with_help("fix it");
        assert_eq!(d.to_string(), "error[E0001]: bad\nhelp: fix it");
    }
}
