//! Random specs that are mostly sound: sequential and graph form (`let`,
//! `>>`, `add`, `concat`), dense, convolution and pooling, every
//! activation, every loss family, and names taken from the classes that
//! used to collide with generated code (workspace fields and locals,
//! `<Other>Params`, standard types). Shared by the checker's property test
//! (`dsl/tests/robustness.rs`) and the test that builds and trains what the
//! checker accepts (`tests/compile/accepted_build.rs`).
#![allow(dead_code)]

/// SplitMix64: small, seedable, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

/// Names of things generated code has or uses: workspace fields, locals of
/// `predict_one`, `forward` and `backward`, parameter and buffer suffixes,
/// associated constants, prelude items.
pub const LAYER_NAMES: &[&str] = &[
    "x",
    "rows",
    "d_x",
    "x_pre",
    "x_mask",
    "x_col",
    "x_grad",
    "x_out",
    "one",
    "one_rest",
    "p",
    "g",
    "y",
    "n",
    "ws",
    "rng",
    "skip",
    "training",
    "grad",
    "at",
    "f",
    "self_",
    "kernels",
    "s",
    "Activation",
    "INPUT_SHAPE",
    "PARAM_COUNT",
    "SUMMARY",
    "params",
    "grads",
    "batch",
    "trained",
    "h",
    "h_x",
    "weight",
    "bias",
    "out",
    "Box",
    "f32",
    "usize",
    "new",
    "predict_one",
    "Self_",
    "model",
    "layer",
    "a",
    "A",
    "b_weight",
    "c_",
    "_d",
];

/// Network names: standard and facade types, prelude items, generated-looking names.
pub const NET_NAMES: &[&str] = &[
    "Box",
    "Vec",
    "Result",
    "Option",
    "Model",
    "String",
    "Net",
    "Mutex",
    "Rng",
    "Activation",
    "Dataset",
    "Param",
    "LayerInfo",
    "GradAt",
    "Error",
    "nnc",
    "std",
    "core",
    "kernels",
    "ndarray",
    "Self_",
    "Params",
    "Workspace",
    "Debug",
    "Default",
    "Clone",
    "Send",
    "Sync",
    "Sized",
    "Ok",
    "Some",
    "None",
    "main",
    "run",
    "Drop",
    "Iterator",
    "TrainConfig",
    "s",
    "x",
    "N",
];

/// Names of the input and of `let` values.
pub const VALUE_NAMES: &[&str] = &["x", "h", "input", "rows", "p", "n", "y", "g", "one", "ws"];

/// What training targets a generated network needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Targets {
    /// Any real values of the output's shape.
    Values,
    /// Values in `[0, 1]` of the output's shape (binary cross-entropy).
    Probabilities,
    /// One-hot rows over the last axis (categorical cross-entropy).
    OneHot,
    /// Class indices `[n]` (sparse categorical cross-entropy).
    Labels(usize),
}

/// One network of a generated spec.
#[derive(Debug, Clone)]
pub struct GenNet {
    pub name: String,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub targets: Targets,
}

/// A generated spec: its text and what its networks expect.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub src: String,
    pub nets: Vec<GenNet>,
}

const ACTS: &[&str] = &[
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "leaky_relu(0.2)",
    "elu",
    "elu(0.5)",
    "gelu",
    "softplus",
    "softmax",
];

struct Body<'r> {
    rng: &'r mut Rng,
    lines: Vec<String>,
    /// The current value's shape.
    shape: Vec<usize>,
    /// Named values and their shapes.
    values: Vec<(String, Vec<usize>)>,
    /// Layer names used, lower-cased (unique ignoring case).
    names: Vec<String>,
    /// Whether the last line may take a fused activation.
    fusable: bool,
}

impl Body<'_> {
    fn name_arg(&mut self) -> String {
        if !self.rng.chance(40) {
            return String::new();
        }
        let name = *self.rng.pick(LAYER_NAMES);
        if self.names.contains(&name.to_lowercase()) {
            return String::new();
        }
        self.names.push(name.to_lowercase());
        format!("name = \"{name}\"")
    }

    fn call(&mut self, kind: &str, args: &[String]) -> String {
        let mut args: Vec<String> = args.iter().filter(|a| !a.is_empty()).cloned().collect();
        let name = self.name_arg();
        if !name.is_empty() {
            args.push(name);
        }
        if args.is_empty() && self.rng.chance(50) {
            kind.to_string()
        } else {
            format!("{kind}({})", args.join(", "))
        }
    }

    /// Pushes a layer line, maybe binding it with `let` or reading a named value.
    fn push(&mut self, layer: String, out: Vec<usize>) {
        let mut line = layer;
        if self.rng.chance(20) {
            let v = self.rng.pick(VALUE_NAMES).to_string();
            line = format!("let {v} = {line}");
            self.values.retain(|(n, _)| *n != v);
            self.values.push((v, out.clone()));
        }
        // A `;` keeps a following activation apart from this layer.
        if self.rng.chance(30) {
            line.push(';');
            self.fusable = false;
        }
        self.lines.push(line);
        self.shape = out;
    }

    /// A named activation right after `dense` or `conv2d` would be fused
    /// into it, and a fused activation cannot be named (E0106): end the
    /// line before with `;`.
    fn keep_apart(&mut self, layer: &str) {
        if layer.contains("name =") && !layer.contains(">>") {
            if let Some(last) = self.lines.last_mut() {
                if !last.ends_with(';') {
                    last.push(';');
                }
            }
        }
    }

    /// Optionally reads a named value of the same rank instead of the
    /// previous output: `v >> layer`.
    fn source(&mut self, rank: usize) -> String {
        if !self.rng.chance(25) {
            return String::new();
        }
        let same: Vec<(String, Vec<usize>)> = self
            .values
            .iter()
            .filter(|(_, s)| s.len() == rank)
            .cloned()
            .collect();
        if same.is_empty() {
            return String::new();
        }
        let (name, shape) = self.rng.pick(&same).clone();
        self.shape = shape;
        format!("{name} >> ")
    }

    fn activation(&mut self) -> String {
        let mut act = self.rng.pick(ACTS).to_string();
        if act == "softmax" && self.shape.last() == Some(&1) {
            act = "tanh".into();
        }
        act
    }

    fn vector_layer(&mut self) {
        let (before, pushed) = (self.shape.clone(), self.lines.len());
        self.vector_layer_from(before.clone());
        if self.lines.len() == pushed {
            // Nothing written: the value read is still the previous one.
            self.shape = before;
        }
    }

    fn vector_layer_from(&mut self, before: Vec<usize>) {
        let src = self.source(1);
        let k = self.shape[0];
        match self.rng.range(0, 9) {
            0..=3 => {
                // Now and then wide enough that `predict_one` keeps its
                // outputs on the heap (above 64 KiB).
                let units = if self.rng.chance(4) {
                    self.rng.range(16_385, 20_000)
                } else {
                    self.rng.range(1, 12)
                };
                let mut args = vec![units.to_string()];
                if self.rng.chance(20) {
                    args.push("use_bias = false".into());
                }
                if self.rng.chance(15) {
                    args.push("l2 = 1e-4".into());
                }
                if self.rng.chance(10) {
                    args.push("trainable = false".into());
                }
                if self.rng.chance(15) {
                    let init =
                        *self
                            .rng
                            .pick(&["he_normal", "lecun_normal", "normal(0, 0.1)", "ones"]);
                    args.push(format!("init = {init}"));
                }
                let mut layer = format!("{src}{}", self.call("dense", &args));
                self.shape = vec![units];
                if self.rng.chance(60) {
                    let act = self.activation();
                    layer = format!("{layer} {act}");
                    self.fusable = false;
                } else {
                    self.fusable = src.is_empty();
                }
                self.push(layer, vec![units]);
            }
            4 => {
                let act = self.activation();
                let (kind, args) = match act.split_once('(') {
                    Some((k, rest)) => {
                        (k.to_string(), vec![rest.trim_end_matches(')').to_string()])
                    }
                    None => (act.clone(), vec![]),
                };
                let layer = format!("{src}{}", self.call(&kind, &args));
                self.keep_apart(&layer);
                let shape = self.shape.clone();
                self.fusable = false;
                self.push(layer, shape);
            }
            5 => {
                let rate = *self.rng.pick(&["0.1", "0.25", "0.5"]);
                let layer = format!("{src}{}", self.call("dropout", &[rate.to_string()]));
                let shape = self.shape.clone();
                self.fusable = false;
                self.push(layer, shape);
            }
            6 if k > 1 && k.is_multiple_of(2) => {
                // Through rank 2 and back.
                let layer = format!("{src}{}", self.call("reshape", &["[2, -1]".to_string()]));
                self.fusable = false;
                self.push(layer, vec![2, k / 2]);
                let layer = self.call("flatten", &[]);
                self.push(layer, vec![k]);
            }
            7 | 8 => {
                // A merge reads named values, not `src`.
                self.shape = before;
                self.merge();
            }
            _ => {
                let layer = format!("{src}{}", self.call("flatten", &[]));
                let shape = self.shape.clone();
                self.fusable = false;
                self.push(layer, shape);
            }
        }
    }

    /// `add` or `concat` of named values (binding the current one first).
    fn merge(&mut self) {
        let cur = self.shape.clone();
        let same: Vec<String> = self
            .values
            .iter()
            .filter(|(_, s)| *s == cur)
            .map(|(n, _)| n.clone())
            .collect();
        let rank1: Vec<(String, usize)> = self
            .values
            .iter()
            .filter(|(_, s)| s.len() == 1)
            .map(|(n, s)| (n.clone(), s[0]))
            .collect();
        self.fusable = false;
        if self.rng.chance(50) && same.len() >= 2 {
            let a = self.rng.pick(&same).clone();
            let b = self.rng.pick(&same).clone();
            let layer = self.call("add", &[a, b]);
            self.push(layer, cur);
        } else if rank1.len() >= 2 {
            let (a, wa) = self.rng.pick(&rank1).clone();
            let (b, wb) = self.rng.pick(&rank1).clone();
            let layer = self.call("concat", &[a, b]);
            self.push(layer, vec![wa + wb]);
        }
    }

    fn image_layer(&mut self) {
        let (before, pushed) = (self.shape.clone(), self.lines.len());
        self.image_layer_from();
        if self.lines.len() == pushed {
            self.shape = before;
        }
    }

    fn image_layer_from(&mut self) {
        let src = self.source(3);
        let (h, w, c) = (self.shape[0], self.shape[1], self.shape[2]);
        match self.rng.range(0, 5) {
            0..=2 => {
                let filters = self.rng.range(1, 4);
                let k = self.rng.range(1, 3.min(h).min(w));
                let mut args = vec![filters.to_string(), k.to_string()];
                // Valid, same, or explicit padding up to past the kernel
                // (windows over padding only at the edges).
                let pad = match self.rng.range(0, 9) {
                    0..=3 => Some(0),
                    4..=6 => None,
                    _ => Some(self.rng.range(0, k + 1)),
                };
                match pad {
                    None => args.push("padding = same".into()),
                    Some(p) if p > 0 => args.push(format!("padding = {p}")),
                    Some(_) => {}
                }
                // Strides that drop rows and columns: what the dead-cell
                // pass of lowering cuts away.
                let stride = *self.rng.pick(&[1, 1, 1, 2, 3]);
                if stride > 1 {
                    args.push(format!("stride = {stride}"));
                }
                let out = |n: usize| match pad {
                    None => n.div_ceil(stride),
                    Some(p) => (n + 2 * p - k) / stride + 1,
                };
                let mut layer = format!("{src}{}", self.call("conv2d", &args));
                if self.rng.chance(60) {
                    let mut act = self.activation();
                    if act == "softmax" && filters == 1 {
                        act = "relu".into();
                    }
                    layer = format!("{layer} {act}");
                }
                self.fusable = false;
                self.push(layer, vec![out(h), out(w), filters]);
            }
            3 if h >= 2 && w >= 2 => {
                let kind = *self.rng.pick(&["max_pool2d", "avg_pool2d"]);
                let size = self.rng.range(2, 3.min(h).min(w));
                let mut args = vec![size.to_string()];
                let stride = if self.rng.chance(30) {
                    let s = self.rng.range(1, 3);
                    args.push(format!("stride = {s}"));
                    s
                } else {
                    size
                };
                let same = self.rng.chance(25);
                if same {
                    args.push("padding = same".into());
                }
                let out = |n: usize| {
                    if same {
                        n.div_ceil(stride)
                    } else {
                        (n - size) / stride + 1
                    }
                };
                let layer = format!("{src}{}", self.call(kind, &args));
                self.fusable = false;
                self.push(layer, vec![out(h), out(w), c]);
            }
            4 => {
                let act = self.activation();
                let act = if act == "softmax" && c == 1 {
                    "relu".to_string()
                } else {
                    act
                };
                let (kind, args) = match act.split_once('(') {
                    Some((k, rest)) => {
                        (k.to_string(), vec![rest.trim_end_matches(')').to_string()])
                    }
                    None => (act.clone(), vec![]),
                };
                let layer = format!("{src}{}", self.call(&kind, &args));
                self.keep_apart(&layer);
                self.fusable = false;
                self.push(layer, vec![h, w, c]);
            }
            _ => {
                let layer = format!("{src}{}", self.call("dropout", &["0.2".to_string()]));
                self.fusable = false;
                self.push(layer, vec![h, w, c]);
            }
        }
    }
}

fn dims(s: &[usize]) -> String {
    let d: Vec<String> = s.iter().map(|x| x.to_string()).collect();
    format!("[{}]", d.join(", "))
}

/// One network with its train block.
fn network(rng: &mut Rng, name: &str) -> (String, GenNet) {
    let image = rng.chance(35);
    let input = if image {
        vec![rng.range(2, 9), rng.range(2, 9), rng.range(1, 3)]
    } else if rng.chance(20) {
        vec![rng.range(1, 4), rng.range(1, 4)]
    } else {
        vec![rng.range(1, 10)]
    };
    let in_name = rng.pick(VALUE_NAMES).to_string();
    let mut body = Body {
        rng,
        lines: Vec::new(),
        shape: input.clone(),
        values: vec![(in_name.clone(), input.clone())],
        names: Vec::new(),
        fusable: false,
    };
    if image {
        for _ in 0..body.rng.range(0, 4) {
            body.image_layer();
        }
        let head = if body.rng.chance(50) {
            "global_avg_pool2d"
        } else {
            "flatten"
        };
        let (h, w, c) = (body.shape[0], body.shape[1], body.shape[2]);
        let layer = body.call(head, &[]);
        let out = if head == "flatten" {
            vec![h * w * c]
        } else {
            vec![c]
        };
        body.fusable = false;
        body.push(layer, out);
    } else if input.len() == 2 {
        let layer = body.call("flatten", &[]);
        body.push(layer, vec![input[0] * input[1]]);
    }
    for _ in 0..body.rng.range(0, 5) {
        body.vector_layer();
    }
    // Head and loss.
    let (loss, act, targets, units) = match body.rng.range(0, 5) {
        0 => (
            "mse",
            body.activation(),
            Targets::Values,
            body.rng.range(1, 6),
        ),
        1 => (
            "huber",
            "linear".to_string(),
            Targets::Values,
            body.rng.range(1, 6),
        ),
        2 => (
            "binary_crossentropy",
            "sigmoid".into(),
            Targets::Probabilities,
            body.rng.range(1, 4),
        ),
        3 => (
            "categorical_crossentropy",
            "softmax".into(),
            Targets::OneHot,
            body.rng.range(2, 6),
        ),
        _ => {
            let k = body.rng.range(2, 6);
            (
                "sparse_categorical_crossentropy",
                "softmax".into(),
                Targets::Labels(k),
                k,
            )
        }
    };
    let act = if act == "softmax" && loss == "mse" && units == 1 {
        "tanh".into()
    } else {
        act
    };
    let head = body.call("dense", &[units.to_string()]);
    // The head's activation is fused: keep it off a named softmax layer.
    if body.fusable {
        if let Some(last) = body.lines.last_mut() {
            last.push(';');
        }
    }
    body.lines.push(format!("{head} {act}"));
    let mut output = vec![units];
    if targets == Targets::Values && units.is_multiple_of(2) && body.rng.chance(30) {
        let layer = body.call("reshape", &[format!("[2, {}]", units / 2)]);
        body.lines.push(layer);
        output = vec![2, units / 2];
    }
    let lines = body.lines;
    let mut src = format!(
        "network {name}({in_name}: {}) -> {} {{\n",
        dims(&input),
        dims(&output)
    );
    for l in &lines {
        src.push_str(&format!("    {l}\n"));
    }
    src.push_str("}\n");
    let optimizer = *rng.pick(&[
        "sgd(lr = 0.01)",
        "sgd(lr = 0.01, momentum = 0.9, nesterov = true)",
        "adam",
        "adamw(lr = 1e-3)",
        "rmsprop",
        "adagrad",
        "adadelta",
    ]);
    let mut settings = format!(
        "    loss {loss}\n    optimizer {optimizer}\n    batch {}\n    epochs 1\n",
        rng.range(1, 8)
    );
    let classes = matches!(targets, Targets::OneHot | Targets::Labels(_));
    let extra: &[(&str, bool)] = &[
        ("validation_split 0.25", true),
        ("shuffle false", true),
        ("seed 9", true),
        ("clip_norm 1.0", true),
        ("schedule cosine", true),
        ("metrics [accuracy]", classes),
        ("metrics [mae]", !classes),
        ("early_stopping(monitor = \"loss\", patience = 1)", true),
    ];
    for (line, fits) in extra {
        if *fits
            && rng.chance(15)
            && !settings.contains(&line[..line.find(' ').unwrap_or(line.len())])
        {
            settings.push_str(&format!("    {line}\n"));
        }
    }
    src.push_str(&format!("train {name} {{\n{settings}}}\n"));
    let net = GenNet {
        name: name.to_string(),
        input,
        output,
        targets,
    };
    (src, net)
}

/// A spec of one or two networks (the second may be named `<First>Params`).
pub fn spec(rng: &mut Rng) -> GenSpec {
    let first = rng.pick(NET_NAMES).to_string();
    let (mut src, net) = network(rng, &first);
    let mut nets = vec![net];
    if rng.chance(30) {
        let suffix = *rng.pick(&["Params", "Workspace", "2"]);
        let second = format!("{first}{suffix}");
        let (s, n) = network(rng, &second);
        src.push_str(&s);
        nets.push(n);
    }
    GenSpec { src, nets }
}
