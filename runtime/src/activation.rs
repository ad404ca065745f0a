//! Element-wise activations and their derivatives.

/// An activation function, as a value the training loop can inspect (e.g. to
/// fuse softmax with categorical cross-entropy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Identity.
    Linear,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `x` for `x > 0`, `alpha * x` otherwise.
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
    /// `x` for `x > 0`, `alpha * (e^x - 1)` otherwise.
    Elu {
        /// Scale of the negative branch.
        alpha: f32,
    },
    /// Gaussian error linear unit (tanh approximation).
    Gelu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// Softmax over the last axis.
    Softmax,
}
