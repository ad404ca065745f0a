//! Parameter initialisers: what fills a parameter tensor before training.
//! The drawing itself (`init::fill`, seeded) is in the runtime.

/// How a parameter tensor is filled before training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros (Keras' default for biases).
    Zeros,
    /// All ones.
    Ones,
    /// Every element equal to the value.
    Constant(f32),
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
    /// Uniform in `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f32,
        /// Upper bound (exclusive).
        high: f32,
    },
    /// Glorot/Xavier uniform: `U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))` (Keras' default for kernels).
    GlorotUniform,
    /// Glorot/Xavier normal: truncated normal, variance `2 / (fan_in + fan_out)`.
    GlorotNormal,
    /// He uniform: `U(-l, l)`, `l = sqrt(6 / fan_in)`; for relu layers.
    HeUniform,
    /// He normal: truncated normal, variance `2 / fan_in`.
    HeNormal,
    /// LeCun normal: truncated normal, variance `1 / fan_in`; for selu/tanh.
    LecunNormal,
}

impl Init {
    /// Every initialiser name of the model language, aliases included.
    pub const NAMES: &'static [&'static str] = &[
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

    /// The initialiser called `name` (or an alias: `xavier_*` for `glorot_*`)
    /// with its default settings: `normal` mean 0 and std 0.05, `uniform` on
    /// `[-0.05, 0.05)`. `constant` has no default value (the language
    /// requires one); it is returned as `Constant(0.0)`.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            "constant" => Init::Constant(0.0),
            "normal" => Init::Normal {
                mean: 0.0,
                std: 0.05,
            },
            "uniform" => Init::Uniform {
                low: -0.05,
                high: 0.05,
            },
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "he_uniform" => Init::HeUniform,
            "he_normal" => Init::HeNormal,
            "lecun_normal" => Init::LecunNormal,
            _ => return None,
        })
    }

    /// The initialiser's name as the model language spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Init::Zeros => "zeros",
            Init::Ones => "ones",
            Init::Constant(_) => "constant",
            Init::Normal { .. } => "normal",
            Init::Uniform { .. } => "uniform",
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::HeUniform => "he_uniform",
            Init::HeNormal => "he_normal",
            Init::LecunNormal => "lecun_normal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        for name in Init::NAMES {
            let init = Init::named(name).unwrap();
            assert_eq!(init.name(), name.replace("xavier", "glorot"));
        }
        assert_eq!(Init::named("orthogonal"), None);
    }
}
