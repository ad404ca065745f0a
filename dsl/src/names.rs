//! The vocabulary of the language: known layer, activation, loss,
//! optimizer, initialiser, metric and setting names. The parser needs the
//! activations (to fuse `dense(..) relu`), the checker all of them.

/// Activation names, usable as layers and after `dense(..)`.
pub const ACTIVATIONS: &[&str] = nnc_core::Activation::NAMES;

/// Layer kinds other than activations.
pub const LAYERS: &[&str] = crate::ops::LAYERS;

/// Every name that may start a layer.
pub fn layer_names() -> Vec<&'static str> {
    LAYERS.iter().chain(ACTIVATIONS).copied().collect()
}

/// Losses.
pub const LOSSES: &[&str] = nnc_core::Loss::NAMES;

/// Optimizers.
pub const OPTIMIZERS: &[&str] = nnc_core::Optimizer::NAMES;

/// Learning-rate schedules.
pub const SCHEDULES: &[&str] = nnc_core::Schedule::NAMES;

/// Initialisers.
pub const INITS: &[&str] = nnc_core::Init::NAMES;

/// Metrics.
pub const METRICS: &[&str] = nnc_core::Metric::NAMES;

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
    "verbose",
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
