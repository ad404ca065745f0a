//! The vocabulary of the language: known layer, activation, loss,
//! optimizer, initialiser, metric and setting names. The parser needs the
//! activations (to fuse `dense(..) relu`), the checker all of them.

/// Activation names, usable as layers and after `dense(..)`.
pub const ACTIVATIONS: &[&str] = &[
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "softplus",
    "softmax",
];

/// Layer kinds other than activations.
pub const LAYERS: &[&str] = &["dense", "flatten", "reshape", "dropout"];

/// Every name that may start a layer.
pub fn layer_names() -> Vec<&'static str> {
    LAYERS.iter().chain(ACTIVATIONS).copied().collect()
}

/// Losses.
pub const LOSSES: &[&str] = &[
    "mse",
    "mae",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
];

/// Optimizers.
pub const OPTIMIZERS: &[&str] = &["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw"];

/// Learning-rate schedules.
pub const SCHEDULES: &[&str] = &["constant", "step", "exponential", "cosine"];

/// Initialisers.
pub const INITS: &[&str] = &[
    "zeros",
    "ones",
    "constant",
    "normal",
    "uniform",
    "glorot_uniform",
    "xavier_uniform",
    "glorot_normal",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
];

/// Metrics.
pub const METRICS: &[&str] = &["accuracy", "mae", "mse"];

/// Train settings.
pub const SETTINGS: &[&str] = &[
    "loss",
    "optimizer",
    "batch",
    "epochs",
    "shuffle",
    "seed",
    "validation_split",
    "metrics",
    "early_stopping",
    "clip_norm",
    "schedule",
];

/// Whether a layer call written right after `dense(..)` is meant as its
/// activation: a known activation, or an unknown name closer to an
/// activation than to any layer (`dense(10) softmx`), so that the typo is
/// reported as an unknown activation, not an unknown layer.
pub fn looks_like_activation(name: &str) -> bool {
    if ACTIVATIONS.contains(&name) {
        return true;
    }
    if LAYERS.contains(&name) {
        return false;
    }
    matches!(crate::diag::did_you_mean(name, &layer_names()), Some(c) if ACTIVATIONS.contains(&c))
}
