//! The metrics training reports per epoch. Computing them on arrays is the
//! runtime's (`nnc::metrics`).

use crate::Loss;

/// A metric the training loop tracks per epoch, averaged over samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Fraction of correct predictions. Multi-class outputs use the argmax,
    /// against one-hot targets or class indices; a single output unit is
    /// thresholded at 0.5 (binary classification).
    Accuracy,
    /// Element-wise `(output > threshold) == (target > 0.5)`: binary and multi-label accuracy.
    BinaryAccuracy {
        /// Decision threshold, usually 0.5.
        threshold: f32,
    },
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
}

impl Metric {
    /// The metric names of the model language (`acc` is accepted for `accuracy`).
    pub const NAMES: &'static [&'static str] = &["accuracy", "mae", "mse"];

    /// The metric called `name` in the model language, or `None`.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "accuracy" | "acc" => Metric::Accuracy,
            "mae" => Metric::Mae,
            "mse" => Metric::Mse,
            _ => return None,
        })
    }

    /// What `accuracy` means for a given loss, as in Keras: per output unit
    /// for binary cross-entropy (multi-label, or one unit), thresholded at
    /// p = 0.5 (a logit of 0 when the network outputs logits); argmax
    /// otherwise. Other metrics are returned unchanged.
    pub fn for_loss(self, loss: Loss) -> Self {
        match (self, loss) {
            (Metric::Accuracy, Loss::BinaryCrossentropy { from_logits }) => {
                Metric::BinaryAccuracy {
                    threshold: if from_logits { 0.0 } else { 0.5 },
                }
            }
            (m, _) => m,
        }
    }

    /// The metric's name in histories and progress output.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            // Named as users ask for it: `metrics [accuracy]` with a binary
            // cross-entropy compiles to this (as in Keras).
            Metric::BinaryAccuracy { .. } => "accuracy",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
        }
    }

    /// Whether larger values are better (for early stopping's direction).
    pub fn higher_is_better(&self) -> bool {
        matches!(self, Metric::Accuracy | Metric::BinaryAccuracy { .. })
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
