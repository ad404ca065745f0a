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
    /// Gaussian error linear unit, tanh approximation:
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))`. The language's
    /// `gelu` (and `gelu(approximate = true)`).
    Gelu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// Softmax over the last axis.
    Softmax,
    /// Gaussian error linear unit, exact: `x Φ(x) = 0.5 x (1 + erf(x / sqrt 2))`,
    /// PyTorch's `nn.GELU()` and Keras' `activation="gelu"`. The language's
    /// `gelu(approximate = false)`.
    GeluExact,
}

/// `sqrt(2 / pi)`, the scale inside GELU's tanh approximation.
const GELU_C: f32 = 0.797_884_6;
/// The cubic coefficient of GELU's tanh approximation.
const GELU_K: f32 = 0.044_715;

/// The standard normal distribution function `Φ(x) = P(X <= x)`, `X ~ N(0, 1)`,
/// to f64 precision (well below f32 rounding) in both tails: `0.5 erfc(-x / sqrt 2)`.
pub fn normal_cdf(x: f64) -> f64 {
    let z = -x / std::f64::consts::SQRT_2;
    0.5 * if z < 0.0 {
        2.0 - erfc_pos(-z)
    } else {
        erfc_pos(z)
    }
}

/// `erfc(z)` for `z >= 0`: the Maclaurin series of `erf` below 3 (terms
/// at most e^9 ≈ 8100 in size: 12 of f64's 16 digits survive the
/// cancellation), Laplace's continued fraction from 3 on (60 levels
/// converge to f64 precision there), so the tail keeps its relative precision.
fn erfc_pos(z: f64) -> f64 {
    const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    if z < 3.0 {
        // erf(z) = 2/sqrt(pi) · Σ (-1)^n z^(2n+1) / (n! (2n+1))
        let z2 = z * z;
        let (mut term, mut sum) = (z, z);
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -z2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        1.0 - FRAC_2_SQRT_PI * sum
    } else {
        // erfc(z) = e^(-z²)/sqrt(pi) · 1 / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...))))
        let mut f = z;
        for k in (1..=60).rev() {
            f = z + f64::from(k) / 2.0 / f;
        }
        (-z * z).exp() / f * (FRAC_2_SQRT_PI / 2.0)
    }
}

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

    /// The exact GELU (`gelu(approximate = false)`) when `approximate` is
    /// false, else the tanh form that `gelu` alone means.
    pub fn gelu(approximate: bool) -> Self {
        if approximate {
            Activation::Gelu
        } else {
            Activation::GeluExact
        }
    }

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
            Activation::Gelu | Activation::GeluExact => "gelu",
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
            Activation::Gelu | Activation::GeluExact => true,
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
            Activation::GeluExact => {
                let x = f64::from(x);
                (x * normal_cdf(x)) as f32
            }
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
            // d/dx x Φ(x) = Φ(x) + x φ(x).
            Activation::GeluExact => {
                let x = f64::from(x);
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (normal_cdf(x) + x * pdf) as f32
            }
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                write!(f, "{}(alpha = {alpha})", self.name())
            }
            Activation::GeluExact => f.write_str("gelu(approximate = false)"),
            _ => f.write_str(self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const ALL: [Activation; 12] = [
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::LeakyRelu { alpha: -0.5 },
        Activation::Elu { alpha: 1.0 },
        Activation::Elu { alpha: -0.3 },
        Activation::Gelu,
        Activation::GeluExact,
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

    /// Φ and the exact GELU against tabulated values of erf (Abramowitz and
    /// Stegun, table 7.1) and of the normal distribution function.
    #[test]
    fn exact_gelu_matches_published_values() {
        // erf(z) = 2 Φ(z sqrt 2) - 1.
        let erf = |z: f64| 2.0 * normal_cdf(z * std::f64::consts::SQRT_2) - 1.0;
        for (z, want) in [
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (2.0, 0.995_322_265_0),
            (3.5, 0.999_999_256_9),
        ] {
            assert!((erf(z) - want).abs() < 1e-9, "erf({z}) = {}", erf(z));
        }
        // erfc(5) = 1.5374597944e-12: the tail keeps its relative precision.
        let erfc5 = 2.0 * normal_cdf(-5.0 * std::f64::consts::SQRT_2);
        assert!((erfc5 / 1.537_459_794_4e-12 - 1.0).abs() < 1e-9, "{erfc5}");
        // x Φ(x) with Φ(-3) = 0.0013498980316, Φ(-1) = 0.1586552539,
        // Φ(1) = 0.8413447461, Φ(3) = 0.9986501020 (normal tables).
        for (x, want) in [
            (-3.0f32, -0.004_049_694_1f64),
            (-1.0, -0.158_655_253_9),
            (0.0, 0.0),
            (1.0, 0.841_344_746_1),
            (3.0, 2.995_950_306_0),
        ] {
            let got = f64::from(Activation::GeluExact.apply(x));
            assert!((got - want).abs() <= 1e-7 * want.abs(), "gelu({x}) = {got}");
        }
        // The tanh form differs in the fourth digit: 0.5 (1 + tanh(0.7978846 · 1.044715)) = 0.8411920.
        assert!((Activation::Gelu.apply(1.0) - 0.841_192).abs() < 1e-6);
        assert_eq!(
            Activation::GeluExact.to_string(),
            "gelu(approximate = false)"
        );
        assert_eq!(Activation::gelu(false), Activation::GeluExact);
        assert_eq!(Activation::gelu(true), Activation::Gelu);
    }

    #[test]
    fn stable_at_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-30);
        assert!(Activation::Gelu.apply(-20.0).abs() < 1e-6);
        assert!(Activation::GeluExact.apply(-20.0).abs() < 1e-6);
        assert_eq!(Activation::GeluExact.apply(20.0), 20.0);
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
