//! Train blocks: settings, optimizer, metrics, early stopping, and the loss
//! checked against the network's output.

use std::collections::HashMap;

use crate::ast::{self, Value, ValueKind};
use crate::diag::{codes, suggestion, Diagnostic};
use crate::ir::{self, Activation, EarlyStopping, Loss, Metric, Optimizer, Schedule};
use crate::names;
use crate::span::Span;
use nnc_core::EpsPlacement;
use nnc_core::TrainConfig;

use super::args::{Param, Range, FRACTION, NON_NEGATIVE, POSITIVE, UNIT_OPEN};
use super::{Checker, NetInfo, MAX_DIM};

impl Checker {
    pub(super) fn train(&mut self, t: &ast::Train, net: &NetInfo) -> Option<ir::Train> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut by_key: HashMap<&str, &ast::Setting> = HashMap::new();
        for s in &t.settings {
            let key = s.key.name.as_str();
            if !names::SETTINGS.contains(&key) {
                self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_SETTING,
                        format!(
                            "unknown train setting `{key}`: expected one of {}",
                            names::SETTINGS.join(", ")
                        ),
                        s.key.span,
                        "unknown setting",
                    )
                    .with_help(suggestion(key, names::SETTINGS)),
                );
                continue;
            }
            if let Some(first) = seen.get(key) {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_SETTING,
                        format!("train setting `{key}` is given twice; expected each setting at most once"),
                        s.key.span,
                        "set again here",
                    )
                    .with_label(*first, "first set here")
                    .with_help("keep one of them"),
                );
                continue;
            }
            seen.insert(key, s.key.span);
            by_key.insert(key, s);
        }
        let errors_before = self.diags.len();

        // `key value` settings; `key(args)` is only for early_stopping.
        let value = |cx: &mut Self, key: &str| -> Option<&Value> {
            let s = by_key.get(key)?;
            match &s.value {
                ast::SettingValue::Value(v) => Some(v),
                ast::SettingValue::Args(_) => {
                    cx.push(
                        Diagnostic::error(
                            codes::WRONG_TYPE,
                            format!("train setting `{key}` expects a value after it, found `(`"),
                            s.span,
                            "expected `key value`",
                        )
                        .with_help(format!("write it as `{key} value`")),
                    );
                    None
                }
            }
        };

        let loss = match by_key.get("loss") {
            Some(_) => value(self, "loss").and_then(|v| self.loss(v, net)),
            None => {
                self.push(
                    Diagnostic::error(
                        codes::MISSING_SETTING,
                        format!(
                            "train block for `{}` has no `loss`, which is required",
                            t.network.name
                        ),
                        Span::new(t.span.start, t.network.span.end),
                        "loss missing",
                    )
                    .with_help("add a loss, e.g. `loss categorical_crossentropy` or `loss mse`"),
                );
                None
            }
        };
        // What a setting left out means is decided once, in nnc-core, for
        // the compiler and the runtime alike.
        let d = TrainConfig::default();
        let optimizer = match value(self, "optimizer") {
            Some(v) => self.optimizer(v),
            None => Some(d.optimizer),
        };
        let batch_size = value(self, "batch")
            .map_or(Some(d.batch_size), |v| self.usize(v, "`batch`", 1, MAX_DIM));
        let epochs = value(self, "epochs")
            .map_or(Some(d.epochs), |v| self.usize(v, "`epochs`", 1, 1_000_000));
        let shuffle =
            value(self, "shuffle").map_or(Some(d.shuffle), |v| self.boolean(v, "`shuffle`"));
        let seed = value(self, "seed").map_or(Some(d.seed), |v| {
            self.int(v, "`seed`", 0, i128::from(u64::MAX))
                .map(|x| x as u64)
        });
        let validation_split = value(self, "validation_split")
            .map_or(Some(d.validation_split), |v| {
                self.float(v, "`validation_split`", UNIT_OPEN)
            });
        // Keras' numbering: 0 silent, 1 progress bar, 2 a line per epoch.
        let verbose = value(self, "verbose").map_or(Some(d.verbose), |v| {
            self.int(v, "`verbose`", 0, 2)
                .and_then(|x| nnc_core::Verbosity::from_level(x as u8))
        });
        let clip_norm = match value(self, "clip_norm") {
            Some(v) => self.float(v, "`clip_norm`", POSITIVE).map(Some),
            None => Some(d.clip_norm),
        };
        let metrics = value(self, "metrics")
            .map_or(Some(d.metrics.clone()), |v| self.metrics(v))
            // `accuracy` means what fits the loss (binary or categorical).
            .map(|ms| match loss {
                Some(l) => ms.into_iter().map(|m| m.for_loss(l)).collect(),
                None => ms,
            });
        let early_stopping = match by_key.get("early_stopping") {
            None => Some(None),
            Some(s) => self.early_stopping(s, metrics.as_deref().unwrap_or(&[])),
        };
        let schedule = match value(self, "schedule") {
            Some(v) => self.schedule(v, epochs.unwrap_or(d.epochs)),
            None => Some(d.schedule),
        };
        if self.diags.len() > errors_before {
            return None;
        }
        Some(ir::Train {
            span: t.span,
            config: ir::TrainConfig {
                loss: loss?,
                optimizer: optimizer?,
                batch_size: batch_size?,
                epochs: epochs?,
                shuffle: shuffle?,
                seed: seed?,
                validation_split: validation_split?,
                metrics: metrics?,
                early_stopping: early_stopping?,
                clip_norm: clip_norm?,
                schedule: schedule?,
                verbose: verbose?,
                ..ir::TrainConfig::default()
            },
        })
    }

    /// `schedule cosine(epochs = 15, min_lr = 1e-5)` and the like; what is
    /// left out comes from [`Schedule::named`].
    pub(super) fn schedule(&mut self, v: &Value, train_epochs: usize) -> Option<Schedule> {
        let c = self.callee(
            v,
            "a schedule such as `cosine(min_lr = 1e-5)`",
            "`schedule`",
        )?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        let Some(default) = Schedule::named(kind, train_epochs) else {
            self.push(
                Diagnostic::error(
                    codes::UNKNOWN_SCHEDULE,
                    format!(
                        "unknown learning-rate schedule `{kind}`: expected one of {}",
                        names::SCHEDULES.join(", ")
                    ),
                    c.name.span,
                    "unknown schedule",
                )
                .with_help(suggestion(kind, names::SCHEDULES)),
            );
            return None;
        };
        let params: &[Param] = match default {
            Schedule::Constant => &[],
            Schedule::Step { .. } => &[("every", &[]), ("factor", &[])],
            Schedule::Exponential { .. } => &[("rate", &[])],
            Schedule::Cosine { .. } => &[("epochs", &[]), ("min_lr", &[])],
        };
        let b = self.bind(&what, &c.args, params, params.len());
        let arg = |i: usize| b.get(i);
        Some(match default {
            Schedule::Constant => Schedule::Constant,
            Schedule::Step { every, factor } => {
                let every = arg(0).map_or(Some(every), |v| {
                    self.usize(v, "`every` of `step`", 1, 1_000_000)
                });
                let factor = arg(1).map_or(Some(factor), |v| {
                    self.float(v, "`factor` of `step`", FRACTION)
                });
                Schedule::Step {
                    every: every?,
                    factor: factor?,
                }
            }
            Schedule::Exponential { rate } => {
                let rate = arg(0).map_or(Some(rate), |v| {
                    self.float(v, "`rate` of `exponential`", FRACTION)
                });
                Schedule::Exponential { rate: rate? }
            }
            Schedule::Cosine { epochs, min_lr } => {
                let epochs = arg(0).map_or(Some(epochs), |v| {
                    self.usize(v, "`epochs` of `cosine`", 1, 1_000_000)
                });
                let min_lr = arg(1).map_or(Some(min_lr), |v| {
                    self.float(v, "`min_lr` of `cosine`", NON_NEGATIVE)
                });
                Schedule::Cosine {
                    epochs: epochs?,
                    min_lr: min_lr?,
                }
            }
        })
    }

    pub(super) fn metrics(&mut self, v: &Value) -> Option<Vec<Metric>> {
        let items: Vec<&Value> = match &v.kind {
            ValueKind::List(items) => items.iter().collect(),
            ValueKind::Call(_) => vec![v],
            _ => {
                self.wrong_type(v, "a list of metrics such as `[accuracy]`", "`metrics`");
                return None;
            }
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let metric = match &item.kind {
                ValueKind::Call(c) if !c.parens => match Metric::named(&c.name.name) {
                    Some(m) => Some(m),
                    None => {
                        let other = c.name.name.as_str();
                        self.push(
                            Diagnostic::error(
                                codes::UNKNOWN_METRIC,
                                format!(
                                    "unknown metric `{other}`: expected one of {}",
                                    names::METRICS.join(", ")
                                ),
                                item.span,
                                "unknown metric",
                            )
                            .with_help(suggestion(other, names::METRICS)),
                        );
                        None
                    }
                },
                _ => {
                    self.wrong_type(item, "a metric name such as `accuracy`", "`metrics`");
                    None
                }
            };
            match metric {
                Some(m) if !out.contains(&m) => out.push(m),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn early_stopping(
        &mut self,
        s: &ast::Setting,
        metrics: &[Metric],
    ) -> Option<Option<EarlyStopping>> {
        let d = EarlyStopping::default();
        let args = match &s.value {
            ast::SettingValue::Args(args) => args.as_slice(),
            ast::SettingValue::Value(v) => {
                return match v.kind {
                    ValueKind::Bool(false) => Some(None),
                    ValueKind::Bool(true) => Some(Some(d)),
                    _ => {
                        self.wrong_type(
                            v,
                            "`(...)` arguments, `true` or `false`",
                            "`early_stopping`",
                        );
                        None
                    }
                };
            }
        };
        const PARAMS: &[Param] = &[
            ("monitor", &[]),
            ("patience", &[]),
            ("min_delta", &[]),
            ("restore_best", &["restore_best_weights"]),
        ];
        let b = self.bind("`early_stopping`", args, PARAMS, 0);
        let monitor = match b.get(0) {
            Some(v) => self.string(v, "`monitor`").and_then(|m| {
                // `acc` is an alias of `accuracy` in `metrics`; here too.
                let m = match m {
                    "acc" => "accuracy",
                    "val_acc" => "val_accuracy",
                    m => m,
                };
                let mut known: Vec<String> = vec!["loss".into(), "val_loss".into()];
                for m in metrics {
                    let name = m.name();
                    known.push(name.into());
                    known.push(format!("val_{name}"));
                }
                if known.iter().any(|k| k == m) {
                    Some(m.to_string())
                } else {
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    self.push(
                        Diagnostic::error(
                            codes::UNKNOWN_MONITOR,
                            format!(
                                "early stopping monitors `{m}`, which training does not compute: expected one of {}",
                                known.join(", ")
                            ),
                            v.span,
                            "not computed",
                        )
                        .with_help(match crate::diag::did_you_mean(m, &known) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => "a metric is only computed if `metrics [...]` lists it".into(),
                        }),
                    );
                    None
                }
            }),
            None => Some(d.monitor.clone()),
        };
        let patience = b.get(1).map_or(Some(d.patience), |v| {
            self.usize(v, "`patience`", 0, 1_000_000)
        });
        let min_delta = b.get(2).map_or(Some(d.min_delta), |v| {
            self.float(v, "`min_delta`", NON_NEGATIVE)
        });
        let restore_best = b.get(3).map_or(Some(d.restore_best_weights), |v| {
            self.boolean(v, "`restore_best`")
        });
        Some(Some(EarlyStopping {
            monitor: monitor?,
            patience: patience?,
            min_delta: min_delta?,
            restore_best_weights: restore_best?,
        }))
    }

    /// `optimizer adam(lr = 3e-4)`; what is left out comes from [`Optimizer::named`].
    pub(super) fn optimizer(&mut self, v: &Value) -> Option<Optimizer> {
        let c = self.callee(v, "an optimizer such as `adam(lr = 1e-3)`", "`optimizer`")?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        let Some(default) = Optimizer::named(kind) else {
            self.push(
                Diagnostic::error(
                    codes::UNKNOWN_OPTIMIZER,
                    format!(
                        "unknown optimizer `{kind}`: expected one of {}",
                        names::OPTIMIZERS.join(", ")
                    ),
                    c.name.span,
                    "unknown optimizer",
                )
                .with_help(suggestion(kind, names::OPTIMIZERS)),
            );
            return None;
        };
        const LR: Param = ("lr", &["learning_rate"]);
        const EPS: Param = ("epsilon", &["eps"]);
        const B1: Param = ("beta1", &["beta_1"]);
        const B2: Param = ("beta2", &["beta_2"]);
        const AT: Param = ("eps_placement", &[]);
        // `eps_placement` is last, so that the numbers keep their indices.
        let params: &[Param] = match default {
            Optimizer::Sgd { .. } => &[LR, ("momentum", &[]), ("nesterov", &[])],
            Optimizer::Adagrad { .. } => &[
                LR,
                ("initial_accumulator", &["initial_accumulator_value"]),
                EPS,
                AT,
            ],
            Optimizer::Adadelta { .. } => &[LR, ("rho", &[]), EPS],
            Optimizer::RmsProp { .. } => &[LR, ("rho", &[]), ("momentum", &[]), EPS, AT],
            Optimizer::Adam { .. } => &[LR, B1, B2, EPS, AT],
            Optimizer::AdamW { .. } => &[LR, B1, B2, EPS, ("weight_decay", &[]), AT],
        };
        let b = self.bind(&what, &c.args, params, 1);
        let placement = match params.iter().any(|p| p.0 == AT.0) {
            true => b
                .value(AT.0)
                .map_or(Some(EpsPlacement::Keras), |v| self.eps_placement(v, kind)),
            false => Some(EpsPlacement::Keras),
        };
        let mut num = |i: usize, default: f32, range: Range| -> Option<f32> {
            match b.get(i) {
                Some(v) => self.float(v, &format!("`{}` of `{kind}`", params[i].0), range),
                None => Some(default),
            }
        };
        let optimizer = match default {
            Optimizer::Sgd {
                lr,
                momentum,
                nesterov,
            } => {
                let lr = num(0, lr, POSITIVE);
                let momentum = num(1, momentum, UNIT_OPEN);
                let nesterov = b
                    .get(2)
                    .map_or(Some(nesterov), |v| self.boolean(v, "`nesterov` of `sgd`"));
                Optimizer::Sgd {
                    lr: lr?,
                    momentum: momentum?,
                    nesterov: nesterov?,
                }
            }
            Optimizer::Adagrad {
                lr,
                initial_accumulator,
                epsilon,
                eps_placement,
            } => {
                let lr = num(0, lr, POSITIVE);
                let initial_accumulator = num(1, initial_accumulator, NON_NEGATIVE);
                let epsilon = num(2, epsilon, POSITIVE);
                Optimizer::Adagrad {
                    lr: lr?,
                    initial_accumulator: initial_accumulator?,
                    epsilon: epsilon?,
                    eps_placement,
                }
            }
            Optimizer::Adadelta { lr, rho, epsilon } => {
                let lr = num(0, lr, POSITIVE);
                let rho = num(1, rho, UNIT_OPEN);
                let epsilon = num(2, epsilon, POSITIVE);
                Optimizer::Adadelta {
                    lr: lr?,
                    rho: rho?,
                    epsilon: epsilon?,
                }
            }
            Optimizer::RmsProp {
                lr,
                rho,
                momentum,
                epsilon,
                eps_placement,
            } => {
                let lr = num(0, lr, POSITIVE);
                let rho = num(1, rho, UNIT_OPEN);
                let momentum = num(2, momentum, UNIT_OPEN);
                let epsilon = num(3, epsilon, POSITIVE);
                Optimizer::RmsProp {
                    lr: lr?,
                    rho: rho?,
                    momentum: momentum?,
                    epsilon: epsilon?,
                    eps_placement,
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
                eps_placement,
            } => {
                let lr = num(0, lr, POSITIVE);
                let beta1 = num(1, beta1, UNIT_OPEN);
                let beta2 = num(2, beta2, UNIT_OPEN);
                let epsilon = num(3, epsilon, POSITIVE);
                Optimizer::Adam {
                    lr: lr?,
                    beta1: beta1?,
                    beta2: beta2?,
                    epsilon: epsilon?,
                    eps_placement,
                }
            }
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                epsilon,
                eps_placement,
                weight_decay,
            } => {
                let lr = num(0, lr, POSITIVE);
                let beta1 = num(1, beta1, UNIT_OPEN);
                let beta2 = num(2, beta2, UNIT_OPEN);
                let epsilon = num(3, epsilon, POSITIVE);
                let weight_decay = num(4, weight_decay, NON_NEGATIVE);
                Optimizer::AdamW {
                    lr: lr?,
                    beta1: beta1?,
                    beta2: beta2?,
                    epsilon: epsilon?,
                    eps_placement,
                    weight_decay: weight_decay?,
                }
            }
        };
        Some(optimizer.with_eps_placement(placement?))
    }

    /// `eps_placement = keras | pytorch` (`torch` too).
    fn eps_placement(&mut self, v: &Value, kind: &str) -> Option<EpsPlacement> {
        let named = match &v.kind {
            ValueKind::Call(c) if !c.parens => Some(c.name.name.as_str()),
            ValueKind::Str(s) => Some(s.as_str()),
            _ => None,
        };
        match named {
            Some("keras") => Some(EpsPlacement::Keras),
            Some("pytorch" | "torch") => Some(EpsPlacement::PyTorch),
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::WRONG_TYPE,
                        format!(
                            "the `eps_placement` of `{kind}` expects `keras` or `pytorch`, found {}",
                            super::args::describe(v)
                        ),
                        v.span,
                        "expected `keras` or `pytorch`",
                    )
                    .with_help("`keras` (the default: Keras 3's update equations) or `pytorch` (torch.optim's)"),
                );
                None
            }
        }
    }

    /// Resolves the loss and checks that it fits the network's output: the
    /// mistakes frameworks only reveal as a loss that will not go down.
    pub(super) fn loss(&mut self, v: &Value, net: &NetInfo) -> Option<Loss> {
        let c = self.callee(v, "a loss such as `mse`", "`loss`")?;
        let kind = c.name.name.as_str();
        let what = format!("`{kind}`");
        let Some(default) = Loss::named(kind) else {
            self.push(
                Diagnostic::error(
                    codes::UNKNOWN_LOSS,
                    format!(
                        "unknown loss `{kind}`: expected one of {}",
                        names::LOSSES.join(", ")
                    ),
                    c.name.span,
                    "unknown loss",
                )
                .with_help(suggestion(kind, names::LOSSES)),
            );
            return None;
        };
        const LOGITS: Param = ("from_logits", &[]);
        const CLASSES: Param = ("classes", &["num_classes"]);
        let params: &[Param] = match default {
            Loss::Mse | Loss::Mae => &[],
            Loss::Huber { .. } => &[("delta", &[])],
            Loss::BinaryCrossentropy { .. } => &[LOGITS],
            Loss::CategoricalCrossentropy { .. } | Loss::SparseCategoricalCrossentropy { .. } => {
                &[CLASSES, LOGITS]
            }
        };
        let b = self.bind(
            &what,
            &c.args,
            params,
            usize::from(!matches!(default, Loss::BinaryCrossentropy { .. })),
        );
        let logits_arg = params.iter().position(|p| p.0 == "from_logits");
        let logits = |cx: &mut Self, default: bool| match logits_arg.and_then(|i| b.get(i)) {
            Some(v) => cx.boolean(v, "`from_logits`"),
            None => Some(default),
        };
        let loss = match default {
            Loss::Mse => Loss::Mse,
            Loss::Mae => Loss::Mae,
            Loss::Huber { delta } => Loss::Huber {
                delta: b.get(0).map_or(Some(delta), |v| {
                    self.float(v, "the `delta` of `huber`", POSITIVE)
                })?,
            },
            Loss::BinaryCrossentropy { from_logits } => Loss::BinaryCrossentropy {
                from_logits: logits(self, from_logits)?,
            },
            Loss::CategoricalCrossentropy { from_logits } => Loss::CategoricalCrossentropy {
                from_logits: logits(self, from_logits)?,
            },
            Loss::SparseCategoricalCrossentropy { from_logits } => {
                Loss::SparseCategoricalCrossentropy {
                    from_logits: logits(self, from_logits)?,
                }
            }
        };
        let from_logits = matches!(
            loss,
            Loss::BinaryCrossentropy { from_logits: true }
                | Loss::CategoricalCrossentropy { from_logits: true }
                | Loss::SparseCategoricalCrossentropy { from_logits: true }
        );
        let classes = match params
            .iter()
            .position(|p| p.0 == "classes")
            .and_then(|i| b.get(i))
        {
            Some(v) => Some((self.usize(v, "`classes`", 2, MAX_DIM)?, v.span)),
            None => None,
        };
        // Loss-versus-output checks need the network's output, known.
        let (Some(out), Some(act)) = (&net.output, net.last_act) else {
            return Some(loss);
        };
        let width = *out.last().expect("shapes have at least one dimension");
        let act_name = act.name();
        let at = net.last_span;
        let categorical = matches!(
            loss,
            Loss::CategoricalCrossentropy { .. } | Loss::SparseCategoricalCrossentropy { .. }
        );
        if matches!(loss, Loss::BinaryCrossentropy { .. })
            && act == Activation::Softmax
            && width > 1
        {
            self.push(
                Diagnostic::error(
                    codes::BINARY_ON_SOFTMAX,
                    format!(
                        "binary cross-entropy expects independent per-unit probabilities, but the output is a {width}-way softmax"
                    ),
                    c.span,
                    "binary loss",
                )
                .with_label(at, format!("{width}-way softmax here"))
                .with_help(
                    "for one class out of many use `categorical_crossentropy` (one-hot targets) or \
                     `sparse_categorical_crossentropy` (class indices); for independent labels end with `sigmoid`",
                ),
            );
            return None;
        }
        if categorical && width == 1 {
            self.push(
                Diagnostic::error(
                    codes::CATEGORICAL_ON_ONE_UNIT,
                    format!("{what} needs one output unit per class (at least 2), but the output has a single unit"),
                    c.span,
                    "categorical loss",
                )
                .with_label(at, "single output unit here")
                .with_help("for two classes use one `sigmoid` unit with `binary_crossentropy`, or two units with `softmax`"),
            );
            return None;
        }
        if let Some((n, span)) = classes {
            if n != width {
                self.push(
                    Diagnostic::error(
                        codes::CLASS_COUNT,
                        format!("{what} expects {n} classes, but the output has {width} units"),
                        span,
                        format!("{n} classes"),
                    )
                    .with_label(at, format!("{width} units here"))
                    .with_help(format!(
                        "make the last layer {n} units wide, or set `classes = {width}`"
                    )),
                );
                return None;
            }
        }
        let is_prob_loss = categorical || matches!(loss, Loss::BinaryCrossentropy { .. });
        if !is_prob_loss {
            return Some(loss);
        }
        let squashed = matches!(act, Activation::Softmax | Activation::Sigmoid);
        if from_logits && squashed {
            let span = logits_arg
                .and_then(|i| b.args[i])
                .map_or(c.span, |a| a.span);
            self.push(
                Diagnostic::error(
                    codes::DOUBLE_ACTIVATION,
                    format!(
                        "`from_logits = true` expects raw scores, but the output already goes through `{act_name}`: \
                         the loss would apply it a second time"
                    ),
                    span,
                    "expects logits",
                )
                .with_label(at, format!("`{act_name}` applied here"))
                .with_help(format!("remove `{act_name}` from the last layer, or drop `from_logits = true`")),
            );
            return None;
        }
        let wanted = if categorical {
            Activation::Softmax
        } else {
            Activation::Sigmoid
        };
        if !from_logits && act != wanted {
            let wanted_name = wanted.name();
            let expected = if categorical {
                "a probability distribution (a `softmax` output)"
            } else {
                "probabilities in (0, 1) (a `sigmoid` output)"
            };
            self.push(
                Diagnostic::error(
                    codes::NOT_PROBABILITIES,
                    format!("{what} expects {expected}, but the output is `{act_name}`"),
                    c.span,
                    "expects probabilities",
                )
                .with_label(at, format!("`{act_name}` output here"))
                .with_help(if squashed {
                    format!("end the network with `{wanted_name}`")
                } else {
                    format!(
                        "end the network with `{wanted_name}`, or write `{kind}(from_logits = true)` to let the loss apply it stably"
                    )
                }),
            );
            return None;
        }
        Some(loss)
    }
}
