//! Training losses: which one, and with what settings. Their values and
//! gradients are computed in the runtime (`nnc::loss`).

use crate::Activation;

/// A training loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Squared error below `delta`, linear above: robust to outliers.
    Huber {
        /// Where the loss turns from quadratic to linear.
        delta: f32,
    },
    /// Binary cross-entropy per element (also multi-label: independent sigmoids).
    BinaryCrossentropy {
        /// Whether the output is a logit (no sigmoid applied yet).
        from_logits: bool,
    },
    /// Categorical cross-entropy with one-hot (or soft) targets over the last axis.
    CategoricalCrossentropy {
        /// Whether the output is logits (no softmax applied yet).
        from_logits: bool,
    },
    /// Categorical cross-entropy with integer class targets (stored as `f32`).
    SparseCategoricalCrossentropy {
        /// Whether the output is logits (no softmax applied yet).
        from_logits: bool,
    },
}

impl Loss {
    /// Every loss name of the model language.
    pub const NAMES: &'static [&'static str] = &[
        "mse",
        "mae",
        "huber",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
    ];

    /// The loss called `name` with its default settings (`huber`: `delta`
    /// 1; the cross-entropies expect probabilities, `from_logits = false`),
    /// or `None` for an unknown name.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "mse" => Loss::Mse,
            "mae" => Loss::Mae,
            "huber" => Loss::Huber { delta: 1.0 },
            "binary_crossentropy" => Loss::BinaryCrossentropy { from_logits: false },
            "categorical_crossentropy" => Loss::CategoricalCrossentropy { from_logits: false },
            "sparse_categorical_crossentropy" => {
                Loss::SparseCategoricalCrossentropy { from_logits: false }
            }
            _ => return None,
        })
    }

    /// The loss's name as the model language spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber { .. } => "huber",
            Loss::BinaryCrossentropy { .. } => "binary_crossentropy",
            Loss::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Loss::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
        }
    }

    /// Whether the gradient goes straight to the logits for a network whose
    /// last activation is `out_act`: softmax with (sparse) categorical
    /// cross-entropy, sigmoid with binary cross-entropy. Then it is `p - y`
    /// and the model skips its last activation's backward.
    pub fn fuses_with(&self, out_act: Activation) -> bool {
        matches!(
            (self, out_act),
            (
                Loss::CategoricalCrossentropy { from_logits: false },
                Activation::Softmax
            ) | (
                Loss::SparseCategoricalCrossentropy { from_logits: false },
                Activation::Softmax
            ) | (
                Loss::BinaryCrossentropy { from_logits: false },
                Activation::Sigmoid
            )
        )
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
