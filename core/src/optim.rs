//! Optimizers and learning-rate schedules with their defaults (Keras 3's).
//! The update rules and per-parameter state are the runtime's (`nnc::optim`).

/// Where an adaptive optimizer adds its `epsilon`, the one difference
/// between Keras' and PyTorch's update equations for the same
/// hyper-parameters (Keras is the default, as for every default of nnc).
///
/// | optimizer | [`EpsPlacement::Keras`] | [`EpsPlacement::PyTorch`] |
/// | --- | --- | --- |
/// | RMSprop | `lr·g / sqrt(v + eps)` | `lr·g / (sqrt(v) + eps)` |
/// | Adagrad | `lr·g / sqrt(a + eps)` | `lr·g / (sqrt(a) + eps)` |
/// | Adam, AdamW | `lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) · m / (sqrt(v) + eps)` | `lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + eps)` |
///
/// With momentum, PyTorch's RMSprop keeps `buf = momentum·buf + g / (sqrt(v) + eps)`
/// and steps `lr·buf`; Keras keeps the step itself. The two agree while the
/// learning rate is constant. Only the placement changes: PyTorch's other
/// defaults (eps 1e-8, RMSprop's alpha 0.99 and lr 0.01, Adagrad's lr 0.01
/// and initial accumulator 0, AdamW's weight decay 0.01) are set as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpsPlacement {
    /// Keras 3's equations (the default).
    #[default]
    Keras,
    /// PyTorch's `torch.optim` equations.
    PyTorch,
}

impl EpsPlacement {
    /// The value's name in the model language (`eps_placement = pytorch`).
    pub fn name(self) -> &'static str {
        match self {
            EpsPlacement::Keras => "keras",
            EpsPlacement::PyTorch => "pytorch",
        }
    }
}

/// An optimizer and its hyper-parameters. The constructors (`Optimizer::adam(lr)`, ...)
/// fill in Keras' defaults for everything but the learning rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent: `v = momentum·v - lr·g; w += v`
    /// (Nesterov: `w += momentum·v - lr·g`).
    Sgd {
        /// Learning rate (Keras default 0.01).
        lr: f32,
        /// Momentum in `[0, 1)`; 0 is plain SGD.
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// Adagrad: `a += g²; w -= lr·g / sqrt(a + eps)` (PyTorch: see [`EpsPlacement`]).
    Adagrad {
        /// Learning rate (Keras default 0.001).
        lr: f32,
        /// Starting value of the accumulator (Keras default 0.1).
        initial_accumulator: f32,
        /// Added inside the square root (Keras default 1e-7).
        epsilon: f32,
        /// Inside the square root (Keras) or outside (PyTorch).
        eps_placement: EpsPlacement,
    },
    /// Adadelta: step sizes from running averages of squared gradients and updates.
    Adadelta {
        /// Learning rate (Keras default 0.001; the paper uses 1.0).
        lr: f32,
        /// Decay of the running averages (Keras default 0.95).
        rho: f32,
        /// Added inside the square roots (Keras default 1e-7).
        epsilon: f32,
    },
    /// RMSprop: `v = rho·v + (1 - rho)·g²; w -= lr·g / sqrt(v + eps)` (with
    /// optional momentum; PyTorch: see [`EpsPlacement`]).
    RmsProp {
        /// Learning rate (Keras default 0.001).
        lr: f32,
        /// Decay of the squared-gradient average (Keras default 0.9).
        rho: f32,
        /// Momentum (Keras default 0).
        momentum: f32,
        /// Added inside the square root (Keras default 1e-7).
        epsilon: f32,
        /// Inside the square root (Keras) or outside (PyTorch).
        eps_placement: EpsPlacement,
    },
    /// Adam with bias correction (where epsilon goes: [`EpsPlacement`]).
    Adam {
        /// Learning rate (Keras default 0.001).
        lr: f32,
        /// Decay of the first moment (Keras default 0.9).
        beta1: f32,
        /// Decay of the second moment (Keras default 0.999).
        beta2: f32,
        /// Added to the denominator (Keras default 1e-7).
        epsilon: f32,
        /// To the uncorrected `sqrt(v)` (Keras) or the corrected one (PyTorch).
        eps_placement: EpsPlacement,
    },
    /// Adam with decoupled weight decay: `w -= lr·wd·w` before the Adam step.
    AdamW {
        /// Learning rate (Keras default 0.001).
        lr: f32,
        /// Decay of the first moment (Keras default 0.9).
        beta1: f32,
        /// Decay of the second moment (Keras default 0.999).
        beta2: f32,
        /// Added to the denominator (Keras default 1e-7).
        epsilon: f32,
        /// To the uncorrected `sqrt(v)` (Keras) or the corrected one (PyTorch).
        eps_placement: EpsPlacement,
        /// Decoupled weight decay (Keras default 0.004).
        weight_decay: f32,
    },
}

impl Optimizer {
    /// Every optimizer name of the model language.
    pub const NAMES: &'static [&'static str] =
        &["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw"];

    /// The optimizer called `name` with all of Keras' defaults, the learning
    /// rate included (0.01 for SGD, 0.001 for the others; AdamW's weight
    /// decay 0.004), or `None` for an unknown name. The compiler fills in
    /// every hyper-parameter a spec leaves out from this.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "sgd" => Optimizer::sgd(0.01),
            "adagrad" => Optimizer::adagrad(1e-3),
            "adadelta" => Optimizer::adadelta(1e-3),
            "rmsprop" => Optimizer::rmsprop(1e-3),
            "adam" => Optimizer::adam(1e-3),
            "adamw" => Optimizer::adamw(1e-3, 0.004),
            _ => return None,
        })
    }

    /// Plain SGD.
    pub fn sgd(lr: f32) -> Self {
        Optimizer::Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
        }
    }

    /// SGD with (optionally Nesterov) momentum.
    pub fn momentum(lr: f32, momentum: f32, nesterov: bool) -> Self {
        Optimizer::Sgd {
            lr,
            momentum,
            nesterov,
        }
    }

    /// Adagrad with Keras' defaults.
    pub fn adagrad(lr: f32) -> Self {
        Optimizer::Adagrad {
            lr,
            initial_accumulator: 0.1,
            epsilon: 1e-7,
            eps_placement: EpsPlacement::Keras,
        }
    }

    /// Adadelta with Keras' defaults.
    pub fn adadelta(lr: f32) -> Self {
        Optimizer::Adadelta {
            lr,
            rho: 0.95,
            epsilon: 1e-7,
        }
    }

    /// RMSprop with Keras' defaults.
    pub fn rmsprop(lr: f32) -> Self {
        Optimizer::RmsProp {
            lr,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            eps_placement: EpsPlacement::Keras,
        }
    }

    /// Adam with Keras' defaults.
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            eps_placement: EpsPlacement::Keras,
        }
    }

    /// AdamW with Keras' defaults.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        Optimizer::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            eps_placement: EpsPlacement::Keras,
            weight_decay,
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adagrad { lr, .. }
            | Optimizer::Adadelta { lr, .. }
            | Optimizer::RmsProp { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. } => lr,
        }
    }

    /// The optimizer's name as the model language spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adagrad { .. } => "adagrad",
            Optimizer::Adadelta { .. } => "adadelta",
            Optimizer::RmsProp { .. } => "rmsprop",
            Optimizer::Adam { .. } => "adam",
            Optimizer::AdamW { .. } => "adamw",
        }
    }

    /// Where the optimizer adds its epsilon (`None` for SGD and Adadelta,
    /// which have one convention).
    pub fn eps_placement(&self) -> Option<EpsPlacement> {
        match *self {
            Optimizer::Adagrad { eps_placement, .. }
            | Optimizer::RmsProp { eps_placement, .. }
            | Optimizer::Adam { eps_placement, .. }
            | Optimizer::AdamW { eps_placement, .. } => Some(eps_placement),
            Optimizer::Sgd { .. } | Optimizer::Adadelta { .. } => None,
        }
    }

    /// The same optimizer with its epsilon placed as `placement` says; SGD
    /// and Adadelta are returned unchanged.
    pub fn with_eps_placement(mut self, placement: EpsPlacement) -> Self {
        match &mut self {
            Optimizer::Adagrad { eps_placement, .. }
            | Optimizer::RmsProp { eps_placement, .. }
            | Optimizer::Adam { eps_placement, .. }
            | Optimizer::AdamW { eps_placement, .. } => *eps_placement = placement,
            Optimizer::Sgd { .. } | Optimizer::Adadelta { .. } => {}
        }
        self
    }

    /// Names of the per-parameter state slots the optimizer keeps (the
    /// runtime's `OptimizerState` stores them in this order).
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self {
            Optimizer::Sgd { momentum, .. } if *momentum == 0.0 => &[],
            Optimizer::Sgd { .. } => &["momentum"],
            Optimizer::Adagrad { .. } => &["accumulator"],
            Optimizer::Adadelta { .. } => &["accumulated_grad", "accumulated_delta"],
            Optimizer::RmsProp { momentum, .. } if *momentum == 0.0 => &["velocity"],
            Optimizer::RmsProp { .. } => &["velocity", "momentum"],
            Optimizer::Adam { .. } | Optimizer::AdamW { .. } => &["m", "v"],
        }
    }
}

impl Default for Optimizer {
    /// Adam with learning rate 0.001: the optimizer of a `train` block that
    /// names none, and of [`crate::TrainConfig::default`].
    fn default() -> Self {
        Optimizer::adam(1e-3)
    }
}

/// A learning-rate schedule, as a function of the (0-based) epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Multiply by `factor` every `every` epochs.
    Step {
        /// Epochs between drops (0 means never).
        every: usize,
        /// Factor applied at each drop, e.g. 0.5.
        factor: f32,
    },
    /// `lr · rate^epoch`.
    Exponential {
        /// Decay per epoch, e.g. 0.95.
        rate: f32,
    },
    /// Cosine decay from the base rate to `min_lr` over `epochs` epochs, then `min_lr`.
    Cosine {
        /// Length of the decay.
        epochs: usize,
        /// Final rate.
        min_lr: f32,
    },
}

impl Schedule {
    /// Every schedule name of the model language.
    pub const NAMES: &'static [&'static str] = &["constant", "step", "exponential", "cosine"];

    /// The schedule called `name` with its defaults (`step`: every 10
    /// epochs by 0.5; `exponential`: 0.95 per epoch; `cosine`: to 0 over
    /// `train_epochs`), or `None` for an unknown name.
    pub fn named(name: &str, train_epochs: usize) -> Option<Self> {
        Some(match name {
            "constant" => Schedule::Constant,
            "step" => Schedule::Step {
                every: 10,
                factor: 0.5,
            },
            "exponential" => Schedule::Exponential { rate: 0.95 },
            "cosine" => Schedule::Cosine {
                epochs: train_epochs,
                min_lr: 0.0,
            },
            _ => return None,
        })
    }

    /// The learning rate for `epoch` (0-based) given the base rate.
    pub fn lr(&self, base: f32, epoch: usize) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, factor } => {
                let drops = epoch.checked_div(every).unwrap_or(0);
                base * factor.powi(drops.min(i32::MAX as usize) as i32)
            }
            Schedule::Exponential { rate } => base * rate.powi(epoch.min(i32::MAX as usize) as i32),
            Schedule::Cosine { epochs, min_lr } => {
                if epochs == 0 || epoch >= epochs {
                    min_lr
                } else {
                    let t = epoch as f32 / epochs as f32;
                    min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f32::consts::PI * t).cos())
                }
            }
        }
    }
}
