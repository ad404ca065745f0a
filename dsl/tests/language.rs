//! The language as built: each construct parses and checks to the IR it
//! should, with defaults filled in.

use nnc_dsl::ir::*;
use nnc_dsl::summary::{summary, thousands};
use nnc_dsl::{compile, parse};

fn net(src: &str) -> Network {
    let mut p = compile(src).unwrap_or_else(|d| panic!("{}", nnc_dsl::render(&d, "test.nn", src)));
    p.networks.remove(0)
}

const MNIST: &str = "\
/// Handwritten digits: 28×28 grey pixels in, 10 class scores out.
/// Second doc line.
network Mnist(image: [28, 28]) -> [10] {
    flatten                    // [784]
    dense(128) relu : [128]
    /* a block comment */
    dropout(0.2)
    /// The hidden layer.
    dense(64, init = he_normal, bias_init = constant(0.1), l2 = 1e-4) relu
    dense(10) softmax
}

train Mnist {
    loss      categorical_crossentropy(classes = 10)
    optimizer rmsprop(lr = 1e-3)
    batch     64
    epochs    10
    shuffle   false
    seed      42
    validation_split 0.1
    metrics   [accuracy, mae]
    early_stopping(monitor = \"val_accuracy\", patience = 3, min_delta = 0.001, restore_best = false)
    clip_norm 1.0
}
";

#[test]
fn mnist_checks_to_the_expected_ir() {
    let n = net(MNIST);
    assert_eq!(n.name, "Mnist");
    assert_eq!(
        n.docs,
        [
            "Handwritten digits: 28×28 grey pixels in, 10 class scores out.",
            "Second doc line."
        ]
    );
    assert_eq!(
        n.input,
        Input {
            name: "image".into(),
            shape: vec![28, 28]
        }
    );
    assert_eq!(n.output, vec![10]);
    let names: Vec<&str> = n.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["flatten1", "dense1", "dropout1", "dense2", "dense3"]
    );
    let shapes: Vec<&[usize]> = n.layers.iter().map(|l| l.output.as_slice()).collect();
    assert_eq!(shapes, [&[784][..], &[128], &[128], &[64], &[10]]);
    assert_eq!(n.layers[0].input, vec![28, 28]);
    assert_eq!(n.layers[3].docs, ["The hidden layer."]);
    assert_eq!(
        n.layers[3].source,
        "dense(64, init = he_normal, bias_init = constant(0.1), l2 = 1e-4) relu"
    );
    let Op::Dense(d) = &n.layers[3].op else {
        panic!("not dense")
    };
    assert_eq!(
        *d,
        Dense {
            units: 64,
            activation: Activation::Relu,
            kernel_init: Init::HeNormal,
            bias_init: Init::Constant(0.1),
            use_bias: true,
            l1: 0.0,
            l2: 1e-4,
            trainable: true,
        }
    );
    assert_eq!(n.layers[2].op, Op::Dropout(Dropout { rate: 0.2 }));
    let t = n.train.expect("train block");
    assert_eq!(t.loss, Loss::CategoricalCrossentropy { from_logits: false });
    assert_eq!(
        t.optimizer,
        Optimizer::RmsProp {
            lr: 1e-3,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            eps_placement: EpsPlacement::Keras,
        }
    );
    assert_eq!(
        (t.batch_size, t.epochs, t.shuffle, t.seed),
        (64, 10, false, 42)
    );
    assert_eq!(t.validation_split, 0.1);
    assert_eq!(t.metrics, [Metric::Accuracy, Metric::Mae]);
    assert_eq!(
        t.early_stopping,
        Some(EarlyStopping {
            monitor: "val_accuracy".into(),
            patience: 3,
            min_delta: 0.001,
            restore_best_weights: false
        })
    );
    assert_eq!(t.clip_norm, Some(1.0));
}

#[test]
fn defaults_are_filled_in() {
    let n = net("network A(x: [3]) -> [2] { dense(2) } train A { loss mse }");
    let Op::Dense(d) = &n.layers[0].op else {
        panic!()
    };
    assert_eq!(d.activation, Activation::Linear);
    assert_eq!(d.kernel_init, Init::GlorotUniform);
    assert_eq!(d.bias_init, Init::Zeros);
    assert!(d.use_bias && d.trainable);
    let t = n.train.unwrap();
    assert_eq!(t.loss, Loss::Mse);
    // The same default as the runtime's `TrainConfig::default()`: one place decides.
    assert_eq!(
        t.optimizer,
        Optimizer::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            eps_placement: EpsPlacement::Keras,
        }
    );
    assert_eq!(t.optimizer, nnc_core::TrainConfig::default().optimizer);
    assert_eq!(
        (
            t.batch_size,
            t.epochs,
            t.shuffle,
            t.seed,
            t.validation_split
        ),
        (32, 1, true, 0, 0.0)
    );
    assert!(t.metrics.is_empty() && t.early_stopping.is_none() && t.clip_norm.is_none());
    assert_eq!(t.verbose, nnc_core::Verbosity::Auto);
}

#[test]
fn verbose_takes_keras_levels() {
    for (level, want) in [
        (0, nnc_core::Verbosity::Silent),
        (1, nnc_core::Verbosity::ProgressBar),
        (2, nnc_core::Verbosity::EpochLines),
    ] {
        let n = net(&format!(
            "network A(x: [3]) -> [2] {{ dense(2) }} train A {{ loss mse verbose {level} }}"
        ));
        assert_eq!(n.train.unwrap().verbose, want, "verbose {level}");
    }
    for bad in ["3", "-1", "true", "1.5"] {
        let errs = compile(&format!(
            "network A(x: [3]) -> [2] {{ dense(2) }} train A {{ loss mse verbose {bad} }}"
        ))
        .unwrap_err();
        assert!(
            errs.iter().any(|d| d.code == "E0202" || d.code == "E0201"),
            "verbose {bad}: {errs:?}"
        );
    }
}

#[test]
fn every_optimizer_with_keras_defaults() {
    let cases = [
        (
            "sgd",
            Optimizer::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false,
            },
        ),
        (
            "sgd(0.1, momentum = 0.9, nesterov = true)",
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
            },
        ),
        (
            "adagrad",
            Optimizer::Adagrad {
                lr: 0.001,
                initial_accumulator: 0.1,
                epsilon: 1e-7,
                eps_placement: EpsPlacement::Keras,
            },
        ),
        (
            "adadelta(rho = 0.9)",
            Optimizer::Adadelta {
                lr: 0.001,
                rho: 0.9,
                epsilon: 1e-7,
            },
        ),
        (
            "adam(learning_rate = 3e-4)",
            Optimizer::Adam {
                lr: 3e-4,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
                eps_placement: EpsPlacement::Keras,
            },
        ),
        (
            "adamw(beta_1 = 0.8, weight_decay = 0.01)",
            Optimizer::AdamW {
                lr: 0.001,
                beta1: 0.8,
                beta2: 0.999,
                epsilon: 1e-7,
                eps_placement: EpsPlacement::Keras,
                weight_decay: 0.01,
            },
        ),
        (
            "adam(lr = 1e-3, eps = 1e-8, eps_placement = pytorch)",
            Optimizer::Adam {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                eps_placement: EpsPlacement::PyTorch,
            },
        ),
        (
            "rmsprop(eps_placement = torch)",
            Optimizer::rmsprop(1e-3).with_eps_placement(EpsPlacement::PyTorch),
        ),
        ("adagrad(eps_placement = keras)", Optimizer::adagrad(1e-3)),
        (
            "adamw(eps_placement = pytorch)",
            Optimizer::adamw(1e-3, 0.004).with_eps_placement(EpsPlacement::PyTorch),
        ),
    ];
    for (text, want) in cases {
        let n = net(&format!(
            "network A(x: [3]) -> [2] {{ dense(2) }} train A {{ loss mse optimizer {text} }}"
        ));
        assert_eq!(n.train.unwrap().optimizer, want, "{text}");
    }
}

#[test]
fn every_loss() {
    let cases = [
        ("dense(2)", "mae", Loss::Mae),
        ("dense(2)", "huber(delta = 2.0)", Loss::Huber { delta: 2.0 }),
        (
            "dense(2) sigmoid",
            "binary_crossentropy",
            Loss::BinaryCrossentropy { from_logits: false },
        ),
        (
            "dense(2)",
            "binary_crossentropy(from_logits = true)",
            Loss::BinaryCrossentropy { from_logits: true },
        ),
        (
            "dense(2)",
            "categorical_crossentropy(from_logits = true)",
            Loss::CategoricalCrossentropy { from_logits: true },
        ),
        (
            "dense(2) softmax",
            "sparse_categorical_crossentropy(2)",
            Loss::SparseCategoricalCrossentropy { from_logits: false },
        ),
    ];
    for (layer, loss, want) in cases {
        let n = net(&format!(
            "network A(x: [3]) -> [2] {{ {layer} }} train A {{ loss {loss} }}"
        ));
        assert_eq!(n.train.unwrap().loss, want, "{loss}");
    }
}

#[test]
fn every_initialiser() {
    let cases = [
        ("zeros", Init::Zeros),
        ("ones", Init::Ones),
        ("constant(- 0.5)", Init::Constant(-0.5)),
        (
            "normal",
            Init::Normal {
                mean: 0.0,
                std: 0.05,
            },
        ),
        (
            "normal(1, std = 0.1)",
            Init::Normal {
                mean: 1.0,
                std: 0.1,
            },
        ),
        (
            "uniform(-1, 1)",
            Init::Uniform {
                low: -1.0,
                high: 1.0,
            },
        ),
        ("glorot_uniform", Init::GlorotUniform),
        ("xavier_uniform", Init::GlorotUniform),
        ("glorot_normal", Init::GlorotNormal),
        ("xavier_normal()", Init::GlorotNormal),
        ("he_uniform", Init::HeUniform),
        ("he_normal", Init::HeNormal),
        ("lecun_normal", Init::LecunNormal),
    ];
    for (text, want) in cases {
        let n = net(&format!(
            "network A(x: [3]) -> [2] {{ dense(2, kernel_init = {text}) }}"
        ));
        let Op::Dense(d) = &n.layers[0].op else {
            panic!()
        };
        assert_eq!(d.kernel_init, want, "{text}");
    }
}

#[test]
fn every_activation_layer() {
    let src = "network A(x: [4]) -> [4] {
        sigmoid tanh relu leaky_relu(alpha = 0.2) elu gelu softplus linear softmax
        gelu(approximate = false) gelu(approximate = true)
    }";
    let n = net(src);
    let ops: Vec<&Op> = n.layers.iter().map(|l| &l.op).collect();
    use Activation::*;
    let want = [
        Sigmoid,
        Tanh,
        Relu,
        LeakyRelu { alpha: 0.2 },
        Elu { alpha: 1.0 },
        Gelu,
        Softplus,
        Linear,
        Softmax,
        GeluExact,
        Gelu,
    ];
    assert_eq!(
        ops,
        want.iter()
            .map(|a| Op::Activation(*a))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(n.layers[3].name, "leaky_relu1");
}

#[test]
fn activation_fuses_into_dense_unless_separated() {
    let fused = net("network A(x: [4]) -> [2] { dense(2) relu }");
    assert_eq!(fused.layers.len(), 1);
    let separate = net("network A(x: [4]) -> [2] { dense(2); relu }");
    assert_eq!(separate.layers.len(), 2);
    assert_eq!(separate.layers[1].op, Op::Activation(Activation::Relu));
    // An assertion ends the layer too.
    let asserted = net("network A(x: [4]) -> [2] { dense(2) : [2] relu }");
    assert_eq!(asserted.layers.len(), 2);
    // Only one activation fuses.
    let two = net("network A(x: [4]) -> [2] { dense(2) relu sigmoid }");
    assert_eq!(two.layers.len(), 2);
}

#[test]
fn reshape_infers_minus_one() {
    let n = net("network A(x: [784]) -> [28, 28] { reshape([28, -1]) : [28, 28] }");
    assert_eq!(n.layers[0].output, vec![28, 28]);
    assert_eq!(n.layers[0].op, Op::Reshape);
}

#[test]
fn named_and_frozen_layers() {
    let n = net("network A(x: [4]) -> [2] { dense(3, name = \"hidden\", trainable = false) dense(2, use_bias = false) }");
    assert_eq!(n.layers[0].name, "hidden");
    assert_eq!(n.layers[1].name, "dense2");
    let s = summary(&n);
    assert_eq!((s.total, s.trainable, s.frozen), (15 + 6, 6, 15));
}

#[test]
fn numbers_as_rust_literals() {
    let n = net("network A(x: [1_000]) -> [10] { dense(10, l1 = 1.5e-4, l2 = 1E-3) }");
    assert_eq!(n.input.shape, vec![1000]);
    let Op::Dense(d) = &n.layers[0].op else {
        panic!()
    };
    assert_eq!((d.l1, d.l2), (1.5e-4, 1e-3));
}

#[test]
fn several_networks_and_train_blocks_in_any_order() {
    let src =
        "train B { loss mse } network A(x: [2]) -> [2] {} network B(x: [3]) -> [1] { dense(1) }";
    let p = compile(src).unwrap();
    assert_eq!(p.networks.len(), 2);
    assert!(p.networks[0].train.is_none());
    assert!(p.networks[1].train.is_some());
}

#[test]
fn the_token_form_compiles_to_the_same_program() {
    // What `network!` hands over: tokens joined by single spaces, comments
    // gone, doc comments back as `///` lines.
    let tokens = "/// Handwritten digits: 28×28 grey pixels in, 10 class scores out.\n/// Second doc line.\n\
        network Mnist ( image : [ 28 , 28 ] ) -> [ 10 ] { flatten dense ( 128 ) relu : [ 128 ] dropout ( 0.2 ) \
        /// The hidden layer.\n\
        dense ( 64 , init = he_normal , bias_init = constant ( 0.1 ) , l2 = 1e-4 ) relu dense ( 10 ) softmax } \
        train Mnist { loss categorical_crossentropy ( classes = 10 ) optimizer rmsprop ( lr = 1e-3 ) batch 64 \
        epochs 10 shuffle false seed 42 validation_split 0.1 metrics [ accuracy , mae ] \
        early_stopping ( monitor = \"val_accuracy\" , patience = 3 , min_delta = 0.001 , restore_best = false ) \
        clip_norm 1.0 }";
    let a = net(MNIST);
    let b = net(tokens);
    assert_eq!(summary(&a), summary(&b));
    assert_eq!(a.docs, b.docs);
    assert_eq!(a.layers[3].docs, b.layers[3].docs);
    let strip = |n: &Network| {
        let mut n = n.clone();
        n.span = Default::default();
        for l in &mut n.layers {
            l.span = Default::default();
        }
        if let Some(t) = &mut n.train {
            t.span = Default::default();
        }
        n
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn every_ast_node_has_a_span_into_the_source() {
    let src = "network A(x: [4]) -> [2] {\n  dense(2, init = normal(0, 0.1)) relu : [2]\n}";
    let file = parse(src).unwrap();
    let nnc_dsl::ast::Item::Network(n) = &file.items[0] else {
        panic!()
    };
    let at = |s: nnc_dsl::Span| &src[s.start..s.end];
    assert_eq!(at(n.name.span), "A");
    assert_eq!(at(n.inputs[0].span), "x: [4]");
    assert_eq!(at(n.output.span), "[2]");
    assert_eq!(at(n.signature), "network A(x: [4]) -> [2]");
    let l = &n.layers[0];
    assert_eq!(at(l.span), "dense(2, init = normal(0, 0.1)) relu : [2]");
    assert_eq!(at(l.call.span), "dense(2, init = normal(0, 0.1))");
    assert_eq!(at(l.activation.as_ref().unwrap().span), "relu");
    assert_eq!(at(l.call.args[1].span), "init = normal(0, 0.1)");
    assert_eq!(at(l.call.args[1].value.span), "normal(0, 0.1)");
}

#[test]
fn summary_counts_match_keras() {
    let tiny = net("network Tiny(x: [2]) -> [2] { dense(3) sigmoid dense(2) softmax }");
    assert_eq!(summary(&tiny).total, 17);
    let big = net("network Big(x: [784]) -> [10] { dense(64) relu dense(32) relu dense(32) relu dense(10) softmax }");
    let s = summary(&big);
    assert_eq!((s.total, s.trainable, s.frozen), (53_706, 53_706, 0));
    let params: Vec<u64> = s.rows.iter().map(|r| r.params).collect();
    assert_eq!(params, [50_240, 2_080, 1_056, 330]);
    let table = s.to_string();
    assert!(table.contains("dense1 (dense(64) relu)"), "{table}");
    assert!(table.contains("Total params: 53,706"), "{table}");
    assert!(table.contains("Frozen params: 0"), "{table}");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(thousands(999), "999");
}

/// The fenced blocks of a markdown file under `docs/`: the nearest `## `
/// heading above each, its language, its text.
fn blocks(path: &str) -> Vec<(String, String, String)> {
    let text =
        std::fs::read_to_string(format!("{}/../docs/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut block: Option<(String, String)> = None;
    for line in text.lines() {
        match &mut block {
            Some(_) if line == "```" => {
                let (lang, body) = block.take().unwrap();
                out.push((heading.clone(), lang, body));
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None if line.starts_with("```") => block = Some((line[3..].to_string(), String::new())),
            None if line.starts_with("## ") => heading = line.to_string(),
            None => {}
        }
    }
    out
}

fn nn_blocks(path: &str) -> Vec<(String, String)> {
    blocks(path)
        .into_iter()
        .filter(|b| b.1 == "nn")
        .map(|(h, _, b)| (h, b))
        .collect()
}

#[test]
fn complete_specs_in_the_language_reference_compile() {
    let mut n = 0;
    for (_, src) in nn_blocks("language.md") {
        let first = src.trim_start();
        if first.starts_with("network") || first.starts_with("train") || first.starts_with("///") {
            net(&src);
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn each_example_in_errors_md_gives_its_code() {
    let blocks = nn_blocks("errors.md");
    assert!(blocks.len() >= 30);
    for (heading, src) in blocks {
        let code = &heading[3..8];
        // A warning's spec compiles, with the warning beside the program.
        let diags = match compile(&src) {
            Ok(p) if code.starts_with('W') => p.warnings,
            r => r.expect_err(&heading),
        };
        let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, [code], "{heading}");
    }
}

#[test]
fn activation_as_a_named_argument() {
    let n = net("network A(x: [4]) -> [2] { dense(2, activation = leaky_relu(0.1)) }");
    let Op::Dense(d) = &n.layers[0].op else {
        panic!()
    };
    assert_eq!(d.activation, Activation::LeakyRelu { alpha: 0.1 });
}

#[test]
fn the_output_shown_in_errors_md_is_what_render_prints() {
    let all = blocks("errors.md");
    let mut n = 0;
    for pair in all.windows(2) {
        let [(heading, lang, src), (_, next_lang, shown)] = pair else {
            unreachable!()
        };
        if lang != "nn" || next_lang != "text" {
            continue;
        }
        let diags = match compile(src) {
            Ok(p) => p.warnings,
            Err(d) => d,
        };
        assert_eq!(&nnc_dsl::render(&diags, "spec.nn", src), shown, "{heading}");
        n += 1;
    }
    assert!(n >= 30);
}

#[test]
fn aliases() {
    let src = "network A(x: [4]) -> [3] {
        dense(8, init = normal(stddev = 0.1), bias_init = uniform(minval = -1, maxval = 1)) elu(0.5)
        dense(3) softmax
    }
    train A {
        loss sparse_categorical_crossentropy(num_classes = 3)
        optimizer adam(learning_rate = 0.01, beta_1 = 0.8, eps = 1e-8)
        metrics [acc]
        early_stopping(monitor = \"val_acc\", restore_best_weights = false)
    }";
    let n = net(src);
    let t = n.train.unwrap();
    assert_eq!(
        t.optimizer,
        Optimizer::Adam {
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.999,
            epsilon: 1e-8,
            eps_placement: EpsPlacement::Keras,
        }
    );
    assert_eq!(t.metrics, [Metric::Accuracy]);
    let es = t.early_stopping.clone().unwrap();
    assert_eq!(
        (es.monitor.as_str(), es.restore_best_weights),
        ("val_accuracy", false)
    );
    let Op::Dense(d) = &n.layers[0].op else {
        panic!()
    };
    assert_eq!(
        d.kernel_init,
        Init::Normal {
            mean: 0.0,
            std: 0.1
        }
    );
    assert_eq!(
        d.bias_init,
        Init::Uniform {
            low: -1.0,
            high: 1.0
        }
    );
    assert_eq!(d.activation, Activation::Elu { alpha: 0.5 });

    let b = net("network B(x: [4]) -> [1] { dense(1) sigmoid } train B { loss binary_crossentropy early_stopping true metrics accuracy }");
    let t = b.train.unwrap();
    // `early_stopping true` is the runtime's `EarlyStopping::default()`, and
    // `accuracy` with binary cross-entropy is the thresholded one.
    assert_eq!(t.early_stopping, Some(nnc_core::EarlyStopping::default()));
    assert_eq!(t.metrics, [Metric::BinaryAccuracy { threshold: 0.5 }]);
}
