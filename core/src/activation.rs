//! Element-wise activations and their derivatives, side by side.
//!
//! The slice and array kernels built on these (including the row-wise
//! softmax) live in the runtime's `kernels::act` and `kernels::softmax`.

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

/// `sqrt(2 / pi)`, the scale inside GELU's tanh approximation.
const GELU_C: f32 = 0.797_884_6;
/// The cubic coefficient of GELU's tanh approximation.
const GELU_K: f32 = 0.044_715;

/// Logistic sigmoid, written so that `e^x` never overflows.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` without overflow for large `x` or loss of precision for very negative `x`.
#[inline]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

impl Activation {
    /// Every activation name of the model language.
    pub const NAMES: &'static [&'static str] = &[
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

    /// The activation called `name` in the model language, with its default
    /// settings (`leaky_relu`: `alpha` 0.01, `elu`: `alpha` 1), or `None` for
    /// an unknown name.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "linear" => Activation::Linear,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { alpha: 0.01 },
            "elu" => Activation::Elu { alpha: 1.0 },
            "gelu" => Activation::Gelu,
            "softplus" => Activation::Softplus,
            "softmax" => Activation::Softmax,
            _ => return None,
        })
    }

    /// The activation's name as the model language spells it.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Gelu => "gelu",
            Activation::Softplus => "softplus",
            Activation::Softmax => "softmax",
        }
    }

    /// Whether this activation acts on whole rows (softmax) rather than element-wise.
    pub fn is_rowwise(self) -> bool {
        matches!(self, Activation::Softmax)
    }

    /// Whether [`Activation::derivative`] reads the pre-activation `x`; for
    /// the others the output `y` is enough, so the forward pass need not keep
    /// `x` (one buffer less per layer). The compiler allocates a
    /// pre-activation buffer exactly when this says so.
    pub fn backward_needs_input(self) -> bool {
        match self {
            Activation::Gelu => true,
            // With a non-positive slope the sign of y no longer tells the branch.
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => alpha <= 0.0,
            // ELU (alpha > 0) and softplus have derivatives in terms of y.
            Activation::Linear
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::Relu
            | Activation::Softplus
            | Activation::Softmax => false,
        }
    }

    /// `f(x)` for the element-wise activations. For [`Activation::Softmax`],
    /// which needs the whole row, this is the identity: use the runtime's
    /// `kernels::softmax::forward`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Linear | Activation::Softmax => x,
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + (GELU_C * (x + GELU_K * x * x * x)).tanh()),
            Activation::Softplus => softplus(x),
        }
    }

    /// `f'(x)`, given the output `y = f(x)` and, when
    /// [`Activation::backward_needs_input`] says so, the input `x` (otherwise
    /// `x` is ignored and may be anything). For [`Activation::Softmax`] this
    /// is only the Jacobian's diagonal `y (1 - y)`; its backward is the
    /// runtime's `kernels::softmax::backward`.
    #[inline]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Linear => 1.0,
            Activation::Sigmoid | Activation::Softmax => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { alpha } => {
                let positive = if alpha > 0.0 { y > 0.0 } else { x > 0.0 };
                if positive {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Elu { alpha } => {
                let positive = if alpha > 0.0 { y > 0.0 } else { x > 0.0 };
                // For x <= 0: d/dx alpha (e^x - 1) = alpha e^x = y + alpha.
                if positive {
                    1.0
                } else if alpha > 0.0 {
                    y + alpha
                } else {
                    alpha * x.exp()
                }
            }
            Activation::Gelu => {
                let x2 = x * x;
                let t = (GELU_C * (x + GELU_K * x2 * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * x2)
            }
            // softplus' = sigmoid(x) = 1 - e^-y, computed from y without cancellation.
            Activation::Softplus => -(-y).exp_m1(),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                write!(f, "{}(alpha = {alpha})", self.name())
            }
            _ => f.write_str(self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const ALL: [Activation; 11] = [
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::LeakyRelu { alpha: -0.5 },
        Activation::Elu { alpha: 1.0 },
        Activation::Elu { alpha: -0.3 },
        Activation::Gelu,
        Activation::Softplus,
        Activation::Linear,
    ];

    #[test]
    fn derivatives_match_central_differences() {
        let h = 1e-2f64;
        for act in ALL {
            // Points away from the kinks at 0.
            for &x in &[-3.1f32, -1.2, -0.3, 0.4, 1.7, 2.9] {
                let f = |x: f64| act.apply(x as f32) as f64;
                let numeric = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
                let analytic = act.derivative(x, act.apply(x)) as f64;
                assert!(
                    (numeric - analytic).abs() < 2e-3 * (1.0 + numeric.abs()),
                    "{act} at {x}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn stable_at_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-30);
        assert!(Activation::Gelu.apply(-20.0).abs() < 1e-6);
        assert_eq!(Activation::Elu { alpha: 1.0 }.apply(-1000.0), -1.0);
    }

    #[test]
    fn names_round_trip() {
        for name in Activation::NAMES {
            assert_eq!(Activation::named(name).unwrap().name(), *name);
        }
        assert_eq!(Activation::named("relu6"), None);
    }

    #[test]
    fn needs_input_only_where_y_is_ambiguous() {
        assert!(Activation::LeakyRelu { alpha: 0.0 }.backward_needs_input());
        assert!(!Activation::Softplus.backward_needs_input());
        assert!(Activation::Gelu.backward_needs_input());
        assert!(!Activation::Relu.backward_needs_input());
        assert!(!Activation::Elu { alpha: 1.0 }.backward_needs_input());
        assert!(Activation::LeakyRelu { alpha: -1.0 }.backward_needs_input());
        assert_eq!(
            Activation::LeakyRelu { alpha: 0.2 }.to_string(),
            "leaky_relu(alpha = 0.2)"
        );
    }
}
