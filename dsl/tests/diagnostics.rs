//! One test per diagnostic code: its code, its exact message, and the line
//! and column its primary span starts at. Most also assert that the mistake
//! gives exactly one diagnostic (no cascade).

use nnc_dsl::{codes, compile, line_col, Diagnostic, Severity};

/// Compiles `src`, expects exactly one diagnostic, and checks it.
#[track_caller]
fn one(src: &str, code: &str, message: &str, line: usize, col: usize) -> Diagnostic {
    let diags = compile(src).expect_err("the spec should not compile");
    assert_eq!(diags.len(), 1, "expected one diagnostic, got {diags:#?}");
    check(src, &diags[0], code, message, line, col);
    diags.into_iter().next().unwrap()
}

#[track_caller]
fn check(src: &str, d: &Diagnostic, code: &str, message: &str, line: usize, col: usize) {
    assert_eq!(d.code, code, "{d:#?}");
    assert_eq!(d.message, message);
    assert_eq!(line_col(src, d.span.start), (line, col), "{d:#?}");
}

/// A sound classifier; train blocks are appended to it (they start on line 5).
const NET: &str = "network Net(x: [4]) -> [3] {
    dense(8) relu
    dense(3) softmax
}
";

fn with_train(train: &str) -> String {
    format!("{NET}{train}")
}

// ---------------------------------------------------------------- syntax

#[test]
fn e0001_syntax_error() {
    let src = "network A(x: [28x28]) -> [1] {\n    dense(1)\n}\n";
    let d = one(
        src,
        codes::SYNTAX,
        "syntax error: expected `,` or `]`, found `x28`",
        1,
        17,
    );
    assert_eq!(
        d.help.as_deref(),
        Some("separate dimensions with commas: `[28, 28]`, not `[28x28]`")
    );
}

#[test]
fn e0001_unclosed_call_points_at_the_next_token() {
    let src = "network A(x: [2]) -> [1] {\n    dense(1\n}\n";
    one(
        src,
        codes::SYNTAX,
        "syntax error: expected `)` or `,`, found `}`",
        3,
        1,
    );
}

#[test]
fn e0001_garbage_at_top_level() {
    one(
        "netwrk A",
        codes::SYNTAX,
        "syntax error: expected `network` or `train`, found `netwrk`",
        1,
        1,
    );
}

#[test]
fn e0005_unterminated_string_at_its_opening() {
    let src = "network A(x: [2]) -> [1] { dense(1, name = \"oops) }";
    one(
        src,
        codes::UNTERMINATED,
        "unterminated string: this `\"` has no closing `\"`",
        1,
        44,
    );
}

#[test]
fn e0002_nesting_too_deep() {
    let src = format!("network A(x: [2]) -> [1] {{ dense{} }}", "(".repeat(100));
    one(
        &src,
        codes::TOO_DEEP,
        "brackets nested too deep: at most 64 levels are accepted, found more",
        1,
        96,
    );
}

#[test]
fn e0003_invalid_utf8() {
    let bytes = b"network A(x: [2]) -> [1] { dense(1) } \xff";
    let d = nnc_dsl::decode(bytes).unwrap_err().remove(0);
    assert_eq!(d.code, codes::INVALID_UTF8);
    assert_eq!(
        d.message,
        "a spec must be UTF-8 text, found an invalid byte 0xff at offset 38"
    );
    let lossy = String::from_utf8_lossy(bytes);
    assert_eq!(line_col(&lossy, d.span.start), (1, 39));
}

// ---------------------------------------------------------------- names

#[test]
fn e0101_unknown_layer() {
    let src = "network A(x: [4]) -> [2] {\n    dense(8)\n    dropuot(0.5)\n    dense(2)\n}\n";
    let d = one(
        src,
        codes::UNKNOWN_LAYER,
        "unknown layer `dropuot`: expected a layer such as `dense`, `flatten` or an activation",
        3,
        5,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `dropout`?"));
}

#[test]
fn e0102_unknown_activation() {
    let src = "network A(x: [4]) -> [2] {\n    dense(8) relo\n    dense(2)\n}\n";
    let d = one(
        src,
        codes::UNKNOWN_ACTIVATION,
        "unknown activation `relo`: expected one of linear, sigmoid, tanh, relu, leaky_relu, elu, gelu, softplus, softmax",
        2,
        14,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `relu`?"));
}

#[test]
fn e0103_unknown_loss() {
    let src = with_train("train Net {\n    loss categorical_crossentropi\n}\n");
    let d = one(
        &src,
        codes::UNKNOWN_LOSS,
        "unknown loss `categorical_crossentropi`: expected one of mse, mae, huber, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy",
        6,
        10,
    );
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `categorical_crossentropy`?")
    );
}

#[test]
fn e0104_unknown_optimizer() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    optimizer adamm(lr = 0.01)\n}\n",
    );
    let d = one(
        &src,
        codes::UNKNOWN_OPTIMIZER,
        "unknown optimizer `adamm`: expected one of sgd, adagrad, adadelta, rmsprop, adam, adamw",
        7,
        15,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `adam`?"));
}

#[test]
fn e0105_unknown_initialiser() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2, init = he_norml)\n}\n";
    let d = one(
        src,
        codes::UNKNOWN_INIT,
        "unknown initialiser `he_norml`: expected one of zeros, ones, constant, normal, uniform, glorot_uniform, xavier_uniform, glorot_normal, xavier_normal, he_uniform, he_normal, lecun_normal",
        2,
        21,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `he_normal`?"));
}

#[test]
fn e0106_unknown_argument() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2, l3 = 0.1)\n}\n";
    let d = one(
        src,
        codes::UNKNOWN_ARGUMENT,
        "unknown argument `l3` for `dense`: expected one of units, kernel_init, init, bias_init, use_bias, l1, l2, trainable, name, activation",
        2,
        14,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `l1`?"));
}

#[test]
fn e0107_unknown_setting() {
    let src = with_train("train Net {\n    loss categorical_crossentropy\n    epoch 3\n}\n");
    let d = one(
        &src,
        codes::UNKNOWN_SETTING,
        "unknown train setting `epoch`: expected one of loss, optimizer, batch, epochs, shuffle, seed, validation_split, metrics, early_stopping, clip_norm, schedule, verbose",
        7,
        5,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `epochs`?"));
}

/// Keras' spellings get nnc's in the help: settings, arguments, layers,
/// losses; layers nnc plans say so, under their Keras names too.
#[test]
fn keras_habits_get_the_nnc_spelling() {
    let help = |src: &str| {
        let diags = compile(src).expect_err("should not compile");
        assert_eq!(diags.len(), 1, "{diags:#?}");
        diags[0].help.clone().unwrap_or_default()
    };
    let train = |body: &str| {
        with_train(&format!(
            "train Net {{\n    loss categorical_crossentropy\n    {body}\n}}\n"
        ))
    };
    assert_eq!(
        help(&train("batch_size 32")),
        "did you mean `batch`? (Keras' `batch_size`)"
    );
    assert_eq!(
        help(&train("learning_rate 0.01")),
        "the learning rate is an argument of the optimizer: `optimizer adam(lr = 1e-3)`"
    );
    let net = |layer: &str| {
        format!("network A(x: [8, 8, 1]) -> [2] {{\n    {layer}\n    flatten\n    dense(2)\n}}\n")
    };
    let vector =
        |layer: &str| format!("network A(x: [8]) -> [2] {{\n    {layer}\n    dense(2)\n}}\n");
    assert_eq!(
        help(&vector("dense(4, kernel_regularizer = 0.01)")),
        "nnc writes Keras' `kernel_regularizer` as `l2 = 1e-4` (or `l1 = ...`, or both)"
    );
    assert_eq!(
        help(&vector("dense(4, input_shape = [8])")),
        "the input shape is the network's signature: `network Net(x: [28, 28]) -> [10]`"
    );
    assert_eq!(
        help(&net("MaxPooling2D(2)")),
        "did you mean `max_pool2d`? (Keras' `MaxPooling2D`)"
    );
    assert_eq!(help(&net("Conv2D(4, 3)")), "did you mean `conv2d`?");
    for planned in ["BatchNormalization", "batch_norm", "LSTM"] {
        let h = help(&net(planned));
        assert!(h.contains("is planned but not built yet"), "{planned}: {h}");
    }
    let loss = with_train("train Net {\n    loss mean_squared_error\n}\n");
    let diags = compile(&loss).expect_err("unknown loss");
    assert_eq!(
        diags[0].help.as_deref(),
        Some("did you mean `mse`? (Keras' `mean_squared_error`)")
    );
}

#[test]
fn e0111_unknown_schedule() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    schedule cosin(min_lr = 1e-5)\n}\n",
    );
    let d = one(
        &src,
        codes::UNKNOWN_SCHEDULE,
        "unknown learning-rate schedule `cosin`: expected one of constant, step, exponential, cosine",
        7,
        14,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `cosine`?"));
}

#[test]
fn schedules_compile_with_their_defaults() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    epochs 12\n    schedule cosine\n}\n",
    );
    let program = nnc_dsl::compile(&src).unwrap();
    let train = program.networks[0].train.as_ref().unwrap();
    assert_eq!(
        train.schedule,
        nnc_dsl::ir::Schedule::Cosine {
            epochs: 12,
            min_lr: 0.0
        }
    );
    let src =
        with_train("train Net {\n    loss mse\n    schedule step(every = 3, factor = 1.5)\n}\n");
    let d = nnc_dsl::compile(&src).unwrap_err();
    assert_eq!(d[0].code, codes::OUT_OF_RANGE);
}

#[test]
fn e0108_unknown_metric() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    metrics [accuracy, precison]\n}\n",
    );
    one(
        &src,
        codes::UNKNOWN_METRIC,
        "unknown metric `precison`: expected one of accuracy, mae, mse",
        7,
        24,
    );
}

#[test]
fn e0109_train_for_unknown_network() {
    let src = with_train("train Nett {\n    loss mse\n}\n");
    let d = one(
        &src,
        codes::UNKNOWN_NETWORK,
        "train block for unknown network `Nett`: expected the name of a network in this spec",
        5,
        7,
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `Net`?"));
}

#[test]
fn e0110_unknown_monitor() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    early_stopping(monitor = \"val_accuracy\")\n}\n",
    );
    one(
        &src,
        codes::UNKNOWN_MONITOR,
        "early stopping monitors `val_accuracy`, which training does not compute: expected one of loss, val_loss",
        7,
        30,
    );
}

// ---------------------------------------------------------------- arguments

#[test]
fn e0201_wrong_argument_type() {
    let src = "network A(x: [4]) -> [2] {\n    dense(\"two\")\n}\n";
    one(
        src,
        codes::WRONG_TYPE,
        "the `units` of `dense` expects an integer, found the string \"two\"",
        2,
        11,
    );
}

#[test]
fn e0201_float_where_an_integer_goes() {
    let src = with_train("train Net {\n    loss categorical_crossentropy\n    batch 6.4\n}\n");
    one(
        &src,
        codes::WRONG_TYPE,
        "`batch` expects an integer, found `6.4`",
        7,
        11,
    );
}

#[test]
fn e0202_dropout_rate_out_of_range() {
    let src = "network A(x: [4]) -> [4] {\n    dropout(1.0)\n}\n";
    one(
        src,
        codes::OUT_OF_RANGE,
        "the `rate` of `dropout` must be in [0, 1), found `1.0`",
        2,
        13,
    );
}

#[test]
fn e0202_zero_units() {
    let src = "network A(x: [4]) -> [2] {\n    dense(0)\n    dense(2)\n}\n";
    one(
        src,
        codes::OUT_OF_RANGE,
        "the `units` of `dense` must be in 1..=16777216, found `0`",
        2,
        11,
    );
}

#[test]
fn e0202_absurd_number_is_an_error_not_a_panic() {
    let src = "network A(x: [4]) -> [2] {\n    dense(99999999999999999999)\n    dense(2)\n}\n";
    one(
        src,
        codes::OUT_OF_RANGE,
        "the `units` of `dense` must be in 1..=16777216, found `99999999999999999999`",
        2,
        11,
    );
}

#[test]
fn e0202_negative_learning_rate_with_spaced_minus() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    optimizer sgd(lr = - 0.05)\n}\n",
    );
    one(
        &src,
        codes::OUT_OF_RANGE,
        "`lr` of `sgd` must be greater than 0, found `-0.05`",
        7,
        24,
    );
}

#[test]
fn e0202_float_overflow() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2, l2 = 1e999)\n}\n";
    one(
        src,
        codes::OUT_OF_RANGE,
        "the `l2` penalty must be a finite 32-bit float, found `1e999`",
        2,
        19,
    );
}

#[test]
fn e0203_missing_argument() {
    let src = "network A(x: [4]) -> [4] {\n    dense\n}\n";
    let d = one(
        src,
        codes::MISSING_ARGUMENT,
        "`dense` needs the argument `units`, found none",
        2,
        5,
    );
    assert_eq!(d.help.as_deref(), Some("for example `dense(64)`"));
}

#[test]
fn e0203_a_merge_of_fewer_than_two_values_is_one_error() {
    // Whatever the declared output, and whether layers follow: the merge's
    // output is unknown, so nothing after it is blamed (an `add(a)` read as
    // `a` once made E0301 follow when `[16]` was meant by `concat(a, x)`).
    for kind in ["add", "concat"] {
        for values in ["", "a", "x"] {
            for (out, tail) in [
                ("[16]", ""),
                ("[8]", ""),
                ("[3]", "\n    dense(3)"),
                ("[5]", "\n    dense(2)"),
            ] {
                let src = format!(
                    "network A(x: [8]) -> {out} {{\n    let a = dense(8)\n    {kind}({values}){tail}\n}}\n"
                );
                let diags: Vec<Diagnostic> = compile(&src)
                    .expect_err(&src)
                    .into_iter()
                    // `add(x)` leaves `a` unread: W0001, beside the point here.
                    .filter(|d| d.severity == Severity::Error)
                    .collect();
                let got: Vec<&str> = diags.iter().map(|d| d.code).collect();
                let want: &[&str] = if out == "[5]" {
                    // A real second mistake after the merge is still
                    // reported (sorted by position: the declaration first).
                    &[codes::OUTPUT_MISMATCH, codes::MISSING_ARGUMENT]
                } else {
                    &[codes::MISSING_ARGUMENT]
                };
                assert_eq!(got, want, "{src}");
                check(
                    &src,
                    &diags[got.len() - 1],
                    codes::MISSING_ARGUMENT,
                    &format!(
                        "`{kind}` joins at least two values, found {}",
                        usize::from(!values.is_empty())
                    ),
                    3,
                    5,
                );
            }
        }
    }
}

#[test]
fn e0204_too_many_arguments() {
    let src = "network A(x: [4]) -> [4] {\n    flatten(2)\n}\n";
    one(
        src,
        codes::TOO_MANY_ARGUMENTS,
        "`flatten` takes no positional arguments, found more",
        2,
        13,
    );
}

#[test]
fn e0205_duplicate_argument() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2, kernel_init = zeros, init = ones)\n}\n";
    let d = one(
        src,
        codes::DUPLICATE_ARGUMENT,
        "argument `kernel_init` of `dense` is given twice; expected it at most once",
        2,
        35,
    );
    assert_eq!(line_col(src, d.labels[0].span.start), (2, 14));
}

#[test]
fn e0206_invalid_layer_name() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2, name = \"2nd layer\")\n}\n";
    one(
        src,
        codes::INVALID_NAME,
        "a layer name must be a Rust identifier that is not a keyword, found `2nd layer`",
        2,
        21,
    );
}

#[test]
fn e0206_keyword_network_name() {
    let src = "network type(x: [4]) -> [4] {}\n";
    one(
        src,
        codes::INVALID_NAME,
        "a network name must be a Rust identifier that is not a keyword, found `type`",
        1,
        9,
    );
}

#[test]
fn e0207_missing_loss() {
    let src = with_train("train Net {\n    epochs 3\n}\n");
    one(
        &src,
        codes::MISSING_SETTING,
        "train block for `Net` has no `loss`, which is required",
        5,
        1,
    );
}

// ---------------------------------------------------------------- shapes

#[test]
fn e0301_declared_output_differs() {
    let src = "network A(x: [4]) -> [10] {\n    dense(8) relu\n    dense(12) softmax\n}\n";
    let d = one(
        src,
        codes::OUTPUT_MISMATCH,
        "network `A` declares output [10], but its layers produce [12]",
        1,
        22,
    );
    assert_eq!(d.labels.len(), 1);
    assert_eq!(line_col(src, d.labels[0].span.start), (3, 5));
    assert_eq!(d.labels[0].message, "the last layer outputs [12]");
}

#[test]
fn e0302_dense_on_a_matrix() {
    let src = "network A(x: [28, 28]) -> [10] {\n    dense(128) relu\n    dense(10) softmax\n}\n";
    let d = one(
        src,
        codes::RANK_MISMATCH,
        "`dense` expects a vector input, but its input is [28, 28]",
        2,
        5,
    );
    assert_eq!(d.label, "input here is [28, 28]");
    assert_eq!(d.help.as_deref(), Some("add `flatten` before this layer"));
}

#[test]
fn e0303_reshape_element_count() {
    let src = "network A(x: [784]) -> [28, 27] {\n    reshape([28, 27])\n}\n";
    one(
        src,
        codes::RESHAPE_COUNT,
        "`reshape` must keep the element count: the input [784] has 784 elements, the target [28, 27] has 756",
        2,
        13,
    );
}

#[test]
fn e0304_shape_assertion_failed() {
    let src = "network A(x: [4]) -> [64] {\n    dense(64) relu : [128]\n}\n";
    let d = one(
        src,
        codes::ASSERTION_FAILED,
        "shape assertion failed: expected [128], found [64]",
        2,
        22,
    );
    assert_eq!(line_col(src, d.labels[0].span.start), (2, 5));
}

#[test]
fn e0305_zero_dimension() {
    let src = "network A(x: [28, 0]) -> [10] {\n    flatten\n    dense(10)\n}\n";
    one(
        src,
        codes::BAD_SHAPE,
        "a dimension of the input shape must be an integer in 1..=16777216, found `0`",
        1,
        19,
    );
}

#[test]
fn e0306_two_inputs() {
    let src = "network A(x: [4], y: [4]) -> [4] {}\n";
    one(
        src,
        codes::INPUT_COUNT,
        "a sequential network takes exactly one input, found 2",
        1,
        19,
    );
}

#[test]
fn e0307_softmax_on_one_unit() {
    let src = "network A(x: [4]) -> [1] {\n    dense(1) softmax\n}\n";
    one(
        src,
        codes::SOFTMAX_ONE_UNIT,
        "softmax over a last axis of length 1 always outputs 1: expected at least 2 units, found input [1]",
        2,
        14,
    );
}

// ---------------------------------------------------------------- duplicates

#[test]
fn e0401_duplicate_network() {
    let src = "network A(x: [4]) -> [4] {}\nnetwork A(x: [2]) -> [2] {}\n";
    let d = one(
        src,
        codes::DUPLICATE_NETWORK,
        "network `A` is defined twice; network names must be unique",
        2,
        9,
    );
    assert_eq!(line_col(src, d.labels[0].span.start), (1, 9));
}

#[test]
fn e0402_duplicate_layer_name() {
    let src = "network A(x: [4]) -> [2] {\n    dense(8, name = \"dense2\")\n    dense(2)\n}\n";
    one(
        src,
        codes::DUPLICATE_LAYER,
        "two layers of `A` are named `dense2`; layer names must be unique",
        3,
        5,
    );
    // Names differing only in case would give the same kernel constant.
    let src = "network A(x: [4]) -> [2] {\n    dense(8, name = \"Hidden\")\n    dense(2, name = \"hidden\")\n}\n";
    one(
        src,
        codes::DUPLICATE_LAYER,
        "two layers of `A` are named `Hidden` and `hidden` (the same ignoring case); layer names must be unique",
        3,
        5,
    );
}

#[test]
fn e0403_duplicate_train_block() {
    let src = with_train("train Net { loss categorical_crossentropy }\ntrain Net { loss categorical_crossentropy }\n");
    one(
        &src,
        codes::DUPLICATE_TRAIN,
        "network `Net` has two train blocks; expected at most one",
        6,
        7,
    );
}

#[test]
fn e0404_duplicate_setting() {
    let src = with_train(
        "train Net {\n    loss categorical_crossentropy\n    batch 32\n    batch 64\n}\n",
    );
    let d = one(
        &src,
        codes::DUPLICATE_SETTING,
        "train setting `batch` is given twice; expected each setting at most once",
        8,
        5,
    );
    assert_eq!(line_col(&src, d.labels[0].span.start), (7, 5));
}

// ---------------------------------------------------------------- loss versus output

#[test]
fn e0501_binary_crossentropy_on_ten_way_softmax() {
    let src = "network A(x: [784]) -> [10] {\n    dense(10) softmax\n}\ntrain A {\n    loss binary_crossentropy\n}\n";
    let d = one(
        src,
        codes::BINARY_ON_SOFTMAX,
        "binary cross-entropy expects independent per-unit probabilities, but the output is a 10-way softmax",
        5,
        10,
    );
    assert_eq!(line_col(src, d.labels[0].span.start), (2, 5));
}

#[test]
fn e0502_categorical_on_one_unit() {
    let src = "network A(x: [4]) -> [1] {\n    dense(1) sigmoid\n}\ntrain A {\n    loss categorical_crossentropy\n}\n";
    one(
        src,
        codes::CATEGORICAL_ON_ONE_UNIT,
        "`categorical_crossentropy` needs one output unit per class (at least 2), but the output has a single unit",
        5,
        10,
    );
}

#[test]
fn e0503_from_logits_after_softmax() {
    let src = with_train("train Net {\n    loss categorical_crossentropy(from_logits = true)\n}\n");
    let d = one(
        &src,
        codes::DOUBLE_ACTIVATION,
        "`from_logits = true` expects raw scores, but the output already goes through `softmax`: \
         the loss would apply it a second time",
        6,
        35,
    );
    assert_eq!(line_col(&src, d.labels[0].span.start), (3, 5));
}

#[test]
fn e0503_from_logits_after_sigmoid_layer() {
    let src = "network A(x: [4]) -> [1] {\n    dense(1)\n    sigmoid\n}\ntrain A { loss binary_crossentropy(from_logits = true) }\n";
    one(
        src,
        codes::DOUBLE_ACTIVATION,
        "`from_logits = true` expects raw scores, but the output already goes through `sigmoid`: \
         the loss would apply it a second time",
        5,
        36,
    );
}

#[test]
fn e0504_probability_loss_after_linear_output() {
    let src = "network A(x: [4]) -> [3] {\n    dense(3)\n}\ntrain A {\n    loss sparse_categorical_crossentropy\n}\n";
    let d = one(
        src,
        codes::NOT_PROBABILITIES,
        "`sparse_categorical_crossentropy` expects a probability distribution (a `softmax` output), \
         but the output is `linear`",
        5,
        10,
    );
    assert_eq!(
        d.help.as_deref(),
        Some(
            "end the network with `softmax`, or write `sparse_categorical_crossentropy(from_logits = true)` \
             to let the loss apply it stably"
        )
    );
}

#[test]
fn e0504_binary_after_relu_looks_through_dropout() {
    let src = "network A(x: [4]) -> [1] {\n    dense(1) relu\n    dropout(0.1)\n}\ntrain A { loss binary_crossentropy }\n";
    let diags = compile(src).expect_err("the spec should not compile");
    // The dropout at the output is a warning of its own (W0004).
    let [w, e] = diags.as_slice() else {
        panic!("{diags:#?}")
    };
    assert_eq!(w.code, codes::DROPOUT_AT_OUTPUT);
    check(
        src,
        e,
        codes::NOT_PROBABILITIES,
        "`binary_crossentropy` expects probabilities in (0, 1) (a `sigmoid` output), but the output is `relu`",
        5,
        16,
    );
}

#[test]
fn e0505_class_count_differs_from_output_width() {
    let src =
        with_train("train Net {\n    loss sparse_categorical_crossentropy(classes = 10)\n}\n");
    let d = one(
        &src,
        codes::CLASS_COUNT,
        "`sparse_categorical_crossentropy` expects 10 classes, but the output has 3 units",
        6,
        52,
    );
    assert_eq!(d.labels[0].message, "3 units here");
}

// ---------------------------------------------------------------- all at once

#[test]
fn every_error_of_a_spec_is_reported_once() {
    let src = "network A(x: [28, 28]) -> [12] {
    dense(128) relo
    dropout(1.5)
    densse(3)
    dense(10) softmax
}
train A { loss binary_crossentropy  optimizer adamm }
train B { loss mse }
";
    let diags = compile(src).unwrap_err();
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    // Sorted by position; the unknown layer `densse` does not make the
    // next `dense(10)` fail, and the output mismatch is reported once.
    assert_eq!(
        codes,
        ["E0301", "E0302", "E0102", "E0202", "E0101", "E0501", "E0104", "E0109"]
    );
}

#[test]
fn a_failed_layer_does_not_cascade() {
    // The unknown layer's output is unknown, so the shape checks after it
    // are skipped instead of failing against a guess.
    let src = "network A(x: [4]) -> [3] {\n    lstm(8)\n    relu\n    dropout(0.5)\n}\n";
    let diags = compile(src).unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, codes::UNKNOWN_LAYER);
}

#[test]
fn rendered_output_has_file_line_column_caret_and_help() {
    let src = "network A(x: [28, 28]) -> [10] {\n    dense(128) relu\n    dense(10) softmax\n}\n";
    let diags = compile(src).unwrap_err();
    let text = nnc_dsl::render(&diags, "specs/a.nn", src);
    let expected = "\
error[E0302]: `dense` expects a vector input, but its input is [28, 28]
  --> specs/a.nn:2:5
  |
2 |     dense(128) relu
  |     ^^^^^^^^^^ input here is [28, 28]
  |
  = help: add `flatten` before this layer

";
    assert_eq!(text, expected);
}

#[test]
fn e0004_too_many_errors() {
    let src = format!(
        "network A(x: [1]) -> [1] {{\n{}}}\n",
        "    dense(0)\n".repeat(150)
    );
    let diags = compile(&src).unwrap_err();
    assert_eq!(diags.len(), 101);
    let last = diags.last().unwrap();
    check(
        &src,
        last,
        codes::TOO_MANY_ERRORS,
        "too many errors: showing the first 100 of 150",
        102,
        11,
    );
}

#[test]
fn every_code_is_distinct_and_documented() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for code in codes::ALL {
        assert!(seen.insert(code), "{code} is used twice");
        assert!(
            docs.contains(&format!("## {code}: ")),
            "{code} is not in docs/errors.md"
        );
    }
    assert!(codes::ALL.len() >= 30);
}

#[test]
fn e0001_doc_comment_documenting_nothing() {
    let src = "network A(x: [2]) -> [2] {\n    dense(2)\n    /// Nothing follows.\n}\n";
    let d = one(
        src,
        codes::SYNTAX,
        "syntax error: expected a name, found `}`",
        4,
        1,
    );
    assert!(d
        .help
        .unwrap()
        .starts_with("a `///` doc comment must be followed by"));
}

#[test]
fn brackets_in_comments_and_strings_do_not_count_as_nesting() {
    let deep = "(".repeat(100);
    let src = format!(
        "// {deep}\n/* {deep} */\nnetwork A(x: [2]) -> [2] {{ dense(2, name = \"{deep}\") }}\n"
    );
    let diags = compile(&src).unwrap_err();
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, codes::INVALID_NAME);
}

#[test]
fn e0205_activation_both_fused_and_named() {
    let src = "network A(x: [4]) -> [2] {\n    dense(2, activation = relu) relu\n}\n";
    let d = one(
        src,
        codes::DUPLICATE_ARGUMENT,
        "the activation of `dense` is given twice; expected it at most once",
        2,
        14,
    );
    assert_eq!(line_col(src, d.labels[0].span.start), (2, 33));
}

// ---------------------------------------------------------------- convolution

#[test]
fn e0308_conv_needs_an_image() {
    let src =
        "network A(x: [28, 28]) -> [10] {\n    conv2d(8, 3) relu\n    flatten\n    dense(10)\n}\n";
    let d = one(
        src,
        codes::IMAGE_RANK,
        "`conv2d` expects an image `[height, width, channels]` (rank 3), but its input is [28, 28] (rank 2)",
        2,
        5,
    );
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("`reshape([28, 28, 1])` before this layer for a 28x28 grayscale image"),
        "{d:#?}"
    );
    // A flat 784-vector is recognised as a 28x28 image.
    let src = "network A(x: [784]) -> [2] {\n    max_pool2d(2)\n    flatten\n    dense(2)\n}\n";
    let d = one(
        src,
        codes::IMAGE_RANK,
        "`max_pool2d` expects an image `[height, width, channels]` (rank 3), but its input is [784] (rank 1)",
        2,
        5,
    );
    assert!(d.help.unwrap().contains("28x28 image"));
}

#[test]
fn dense_after_an_image_asks_for_flatten() {
    let src = "network A(x: [8, 8, 1]) -> [2] {\n    conv2d(4, 3)\n    dense(2)\n}\n";
    let d = one(
        src,
        codes::RANK_MISMATCH,
        "`dense` expects a vector input, but its input is [6, 6, 4]",
        3,
        5,
    );
    assert_eq!(d.help.as_deref(), Some("add `flatten` before this layer"));
}

#[test]
fn e0309_kernel_larger_than_its_padded_input() {
    let src = "network A(x: [4, 6, 1]) -> [2] {\n    conv2d(8, 5)\n    flatten\n    dense(2)\n}\n";
    let d = one(
        src,
        codes::WINDOW_TOO_LARGE,
        "the kernel of `conv2d` spans 5 rows, more than the 4 rows of its padded input [4, 6, 1]: the output would have no rows",
        2,
        5,
    );
    assert_eq!(d.label, "5 rows > 4 + 0 padding");
    // Padding makes it fit.
    assert!(compile("network A(x: [4, 6, 1]) -> [2] {\n    conv2d(8, 5, padding = 1)\n    flatten\n    dense(2)\n}\n").is_ok());
    let src =
        "network A(x: [8, 2, 3]) -> [3] {\n    max_pool2d([2, 3])\n    global_avg_pool2d\n}\n";
    one(
        src,
        codes::WINDOW_TOO_LARGE,
        "the pooling window of `max_pool2d` spans 3 columns, more than the 2 columns of its padded input [8, 2, 3]: the output would have no columns",
        2,
        5,
    );
}

#[test]
fn e0310_pool_padding_not_smaller_than_the_window() {
    let src = "network A(x: [8, 8, 1]) -> [1] {\n    avg_pool2d(2, padding = 2)\n    global_avg_pool2d\n}\n";
    one(
        src,
        codes::POOL_PADDING,
        "the padding of `avg_pool2d` (2 rows) must be smaller than its window (2 rows): a window over padding only has no value",
        2,
        5,
    );
}

#[test]
fn w0301_dropped_rows_are_a_warning_not_an_error() {
    let src = "network A(x: [25, 24, 2]) -> [2] {\n    max_pool2d(3)\n    conv2d(4, 1, stride = 3)\n    flatten\n    dense(2)\n}\n";
    let program = compile(src).expect("warnings do not fail a compile");
    let w = &program.warnings;
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w
        .iter()
        .all(|d| d.severity == Severity::Warning && d.code == codes::DROPPED_CELLS));
    check(
        src,
        &w[0],
        codes::DROPPED_CELLS,
        "`max_pool2d` never reads 1 of 25 rows of its input [25, 24, 2]: no window covers them",
        2,
        5,
    );
    // 8x8 through a 1x1 kernel with stride 3: cells 1, 2, 4, 5 and 7 of each axis.
    check(
        src,
        &w[1],
        codes::DROPPED_CELLS,
        "`conv2d` never reads 5 of 8 rows and 5 of 8 columns of its input [8, 8, 2]: no window covers them",
        3,
        5,
    );
    // With an error elsewhere, warnings come along in the error list.
    let bad = src.replace("dense(2)", "dense(2, units = 3)");
    let diags = compile(&bad).unwrap_err();
    assert!(diags.iter().any(|d| d.code == codes::DROPPED_CELLS));
}

#[test]
fn bad_window_arguments() {
    let src = "network A(x: [8, 8, 1]) -> [2] {\n    conv2d(4, [3, 3, 3], padding = full)\n    flatten\n    dense(2)\n}\n";
    let diags = compile(src).unwrap_err();
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, [codes::WRONG_TYPE, codes::WRONG_TYPE]);
    assert_eq!(
        diags[1].message,
        "the `padding` of `conv2d` expects `valid`, `same` or a number of zero cells, found `full`"
    );
}

#[test]
fn planned_layers_say_so() {
    let src = "network A(x: [8, 8, 1]) -> [8, 8, 1] {\n    batch_norm\n}\n";
    let d = one(
        src,
        codes::UNKNOWN_LAYER,
        "unknown layer `batch_norm`: expected a layer such as `dense`, `flatten` or an activation",
        2,
        5,
    );
    assert!(d
        .help
        .unwrap()
        .starts_with("`batch_norm` is planned but not built yet"));
}

// ---------------------------------------------------------------- generated names

#[test]
fn e0405_names_with_double_underscores() {
    for (src, msg, line, col) in [
        (
            "network A(x: [4]) -> [2] {\n    dense(2, name = \"a__out\")\n}\n",
            "a layer name cannot contain `__`, found `a__out`: generated code reserves names with `__`",
            2,
            21,
        ),
        (
            "network __nnc_B(x: [4]) -> [2] {\n    dense(2)\n}\n",
            "a network name cannot contain `__`, found `__nnc_B`: generated code reserves names with `__`",
            1,
            9,
        ),
        (
            "network A(x: [4]) -> [2] {\n    relu(name = \"x__\")\n    dense(2)\n}\n",
            "a layer name cannot contain `__`, found `x__`: generated code reserves names with `__`",
            2,
            17,
        ),
    ] {
        one(src, codes::RESERVED_NAME, msg, line, col);
    }
}

#[test]
fn e0406_networks_named_like_primitive_types() {
    for prim in ["f32", "usize", "bool", "u8", "str", "i128"] {
        let src = format!("network {prim}(x: [4]) -> [2] {{\n    dense(2)\n}}\n");
        let d = one(
            &src,
            codes::PRIMITIVE_NAME,
            &format!("a network cannot be named `{prim}`: the generated struct would shadow the primitive type `{prim}` in your module"),
            1,
            9,
        );
        assert!(d.help.unwrap().contains("Net`"));
    }
    // Standard library types and generated-looking names are accepted:
    // generated code no longer depends on what they mean in the module.
    for name in [
        "Box", "Vec", "Result", "Option", "Model", "String", "Self_", "AParams",
    ] {
        let src = format!(
            "network A(x: [4]) -> [2] {{ dense(2) }}\nnetwork {name}(x: [4]) -> [2] {{ dense(2) }}"
        );
        compile(&src).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
    }
}

#[test]
fn e0106_a_name_on_a_fused_activation_explains_the_fusion() {
    let src =
        "network A(x: [4]) -> [2] {\n    dense(2, name = \"d\")\n    softmax(name = \"p\")\n}\n";
    let d = one(
        src,
        codes::UNKNOWN_ARGUMENT,
        "`softmax` directly after a layer is fused into that layer as its activation, so it has no `name` of its own",
        3,
        13,
    );
    assert!(d.help.unwrap().contains("`dense(8); softmax(name = ...)`"));
    // With `;` it is a layer of its own, and the name is its.
    let kept =
        "network A(x: [4]) -> [2] {\n    dense(2, name = \"d\");\n    softmax(name = \"p\")\n}\n";
    let program = compile(kept).unwrap();
    assert_eq!(program.networks[0].layers[1].name, "p");
    // Other mistakes in the fused call are still reported.
    let both = "network A(x: [4]) -> [2] {\n    dense(2) leaky_relu(-1, name = \"p\")\n}\n";
    let diags = compile(both).unwrap_err();
    assert_eq!(diags.len(), 2, "{diags:#?}");
}

// ---------------------------------------------------------------- limits

#[test]
fn e0601_too_many_parameters_names_the_largest_layer() {
    let src = "network Huge(x: [65536]) -> [2] {\n    dense(32768, name = \"big\") relu\n    dense(2)\n}\n";
    let d = one(
        src,
        codes::TOO_MANY_PARAMS,
        "network `Huge` has 2147581954 parameters; at most 2147483648 (2^31) are supported",
        1,
        9,
    );
    assert_eq!(d.labels[0].message, "`big` alone has 2147516416");
    assert_eq!(line_col(src, d.labels[0].span.start), (2, 5));
    // Just under the limit (2147450876 parameters) is accepted.
    let ok = "network Big(x: [65536]) -> [2] {\n    dense(32766)\n    dense(2)\n}\n";
    compile(ok).unwrap();
}

#[test]
fn e0602_too_many_activations_per_sample() {
    let src = "network Wide(image: [1024, 1024, 3]) -> [10] {\n    conv2d(64, 3, padding = same) relu\n    conv2d(64, 3, padding = same) relu\n    global_avg_pool2d\n    dense(10)\n}\n";
    let d = one(
        src,
        codes::TOO_MANY_ACTIVATIONS,
        "network `Wide` needs 1536163988 workspace elements per sample (layer outputs, their gradients and scratch); at most 268435456 (2^28) are supported",
        1,
        9,
    );
    assert_eq!(line_col(src, d.labels[0].span.start), (3, 5));
}

#[test]
fn e0603_too_many_layers() {
    let layers = |n: usize| "    dense(4) relu\n".repeat(n);
    let src = format!("network Tall(x: [4]) -> [4] {{\n{}}}\n", layers(1001));
    one(
        &src,
        codes::TOO_MANY_LAYERS,
        "network `Tall` has 1001 layers; at most 1000 are supported",
        1002,
        5,
    );
    compile(&format!(
        "network Tall(x: [4]) -> [4] {{\n{}}}\n",
        layers(1000)
    ))
    .unwrap();
}

#[test]
fn e0604_input_and_output_ranks() {
    one(
        "network Deep(x: [2, 2, 2, 2, 2, 2]) -> [64] {\n    flatten\n}\n",
        codes::RANK_LIMIT,
        "the input of `Deep` has rank 6; at most 5 is supported",
        1,
        17,
    );
    one(
        "network Deep(x: [64]) -> [2, 2, 2, 2, 2, 2] {\n    reshape([2, 2, 2, 2, 2, 2])\n}\n",
        codes::RANK_LIMIT,
        "the output of `Deep` has rank 6; at most 5 is supported",
        1,
        26,
    );
    compile("network Deep(x: [2, 2, 2, 2, 2]) -> [2, 2, 2, 2, 2] {\n}\n").unwrap();
}

#[test]
fn e0605_inferred_dimension_above_the_maximum() {
    let src = "network Long(x: [8192, 8192]) -> [4096, 16384] {\n    reshape([-1])\n    reshape([4096, 16384])\n}\n";
    one(
        src,
        codes::INFERRED_DIM,
        "`reshape` infers `-1` as 67108864, above the largest dimension 16777216: the input [8192, 8192] has 67108864 elements, the other dimensions 1",
        2,
        14,
    );
    compile("network Long(x: [4096, 4096]) -> [16777216] {\n    reshape([-1])\n}\n").unwrap();
}

#[test]
fn w0002_network_names_rustc_would_call_non_camel_case() {
    // Name, and the suggestion: each `_`-separated part capitalised, a `_`
    // kept only where two digits (or a leading digit) would run together.
    let lowercase = [
        ("mlp", "Mlp"),
        ("std", "Std"),
        ("my_net", "MyNet"),
        ("myNet", "MyNet"),
        ("Mnist_Cnn", "MnistCnn"),
        ("mnist_CNN", "MnistCNN"),
        ("_net", "Net"),
        ("net_", "Net"),
        ("net2", "Net2"),
        ("net_2_3", "Net2_3"),
        ("_2_net", "_2Net"),
        ("Net_a", "NetA"),
        ("x", "X"),
    ];
    for (name, suggested) in lowercase {
        let src = format!("// {name}\nnetwork {name}(x: [4]) -> [2] {{\n    dense(2)\n}}\ntrain {name} {{\n    loss mse\n}}\n");
        let program = compile(&src).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        let [w] = program.warnings.as_slice() else {
            panic!("{name}: {:#?}", program.warnings)
        };
        check(
            &src,
            w,
            codes::NETWORK_NAME_CASE,
            &format!("network name `{name}` is not UpperCamelCase, the style of Rust type names: the network is a struct"),
            2,
            9,
        );
        assert_eq!(w.severity, Severity::Warning);
        assert_eq!(
            w.help.as_deref(),
            Some(format!("call it `{suggested}` (in its `train` block too)").as_str()),
            "{name}"
        );
        // The suggestion is one rustc accepts, so following it ends the warning.
        let fixed = src.replace(&format!(" {name}"), &format!(" {suggested}"));
        assert!(compile(&fixed).unwrap().warnings.is_empty(), "{fixed}");
    }
    // What rustc accepts gets no warning: an uppercase start after any
    // leading `_`, and `_` only between non-letters or at the ends.
    for name in [
        "Mnist", "MnistCNN", "M", "Net2_3", "Net_", "_Net", "_2net", "CNN2D", "N1_2",
    ] {
        let src = format!("network {name}(x: [4]) -> [2] {{ dense(2) }}");
        let warnings = compile(&src).unwrap().warnings;
        assert!(warnings.is_empty(), "{name}: {warnings:#?}");
    }
    // A name with an error of its own gets that error, not the warning too.
    for (name, code) in [
        ("f32", codes::PRIMITIVE_NAME),
        ("my__net", codes::RESERVED_NAME),
        ("match", codes::INVALID_NAME),
    ] {
        let src = format!("network {name}(x: [4]) -> [2] {{ dense(2) }}");
        let codes: Vec<&str> = compile(&src).unwrap_err().iter().map(|d| d.code).collect();
        assert_eq!(codes, [code], "{name}");
    }
    // The suggestion is not another network's name; a duplicate is warned
    // about once (with its E0401).
    let src = "network mlp(x: [4]) -> [2] { dense(2) }\nnetwork Mlp(x: [4]) -> [2] { dense(2) }\nnetwork MlpNet(x: [4]) -> [2] { dense(2) }\n";
    let w = compile(src).unwrap().warnings;
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(
        w[0].help.as_deref(),
        Some("call it `MlpNet2` (in its `train` block too)")
    );
    let twice =
        "network mlp(x: [4]) -> [2] { dense(2) }\nnetwork mlp(x: [4]) -> [2] { dense(2) }\n";
    let codes: Vec<&str> = compile(twice).unwrap_err().iter().map(|d| d.code).collect();
    assert_eq!(codes, [codes::NETWORK_NAME_CASE, codes::DUPLICATE_NETWORK]);
}

#[test]
fn w0003_a_layer_whose_output_goes_nowhere() {
    // A residual block with its branch left unnamed: `add` reads `h` twice.
    let src = "network Block(x: [8]) -> [8] {\n    let h = dense(8) relu\n    dense(8) relu\n    add(h, h)\n}\n";
    let program = compile(src).unwrap();
    let [w] = program.warnings.as_slice() else {
        panic!("{:#?}", program.warnings)
    };
    check(
        src,
        w,
        codes::DROPPED_OUTPUT,
        "the output of `dense(8) relu` is never used",
        3,
        5,
    );
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(
        w.labels[0].message,
        "`add` reads only the values it names, not the line above"
    );
    assert_eq!(line_col(src, w.labels[0].span.start), (4, 5));
    // `name >>` drops the line above the same way; the label covers `h >> ...`.
    let src = "network F(x: [8]) -> [4] {\n    let h = dense(8) relu\n    dense(8)\n    h >> dense(4)\n}\n";
    let [w] = compile(src)
        .unwrap()
        .warnings
        .try_into()
        .unwrap_or_else(|w| panic!("{w:#?}"));
    check(
        src,
        &w,
        codes::DROPPED_OUTPUT,
        "the output of `dense(8)` is never used",
        3,
        5,
    );
    assert_eq!(
        w.labels[0].message,
        "`h >> ...` reads only `h`, not the line above"
    );
    assert_eq!(line_col(src, w.labels[0].span.start), (4, 5));
    // Named, the branch is read: no warning.
    let fixed = src
        .replace("    dense(8)\n", "    let b = dense(8)\n")
        .replace("h >> dense(4)", "add(b, h)\n    dense(4)");
    assert!(compile(&fixed).unwrap().warnings.is_empty(), "{fixed}");
}

/// One statement of a generated graph-form body (every value is `[8]`):
/// `dense(8)`, `add(a, b)` or `a >> dense(8)`, where `a` and `b` index the
/// values named so far (0 is the input), with or without a `let` of its own.
#[derive(Debug, Clone)]
enum Stmt {
    Dense,
    Add(usize, usize),
    From(usize),
    /// `dropout(0.5)` or `flatten` on the previous output (an activation
    /// name on the line after a `dense` would be that dense's activation).
    Dropout,
    Flatten,
}

mod liveness {
    use super::*;
    use proptest::prelude::*;

    fn stmt() -> impl Strategy<Value = (Stmt, bool)> {
        (
            prop_oneof![
                Just(Stmt::Dense),
                Just(Stmt::Dropout),
                Just(Stmt::Flatten),
                (0..64usize, 0..64usize).prop_map(|(a, b)| Stmt::Add(a, b)),
                (0..64usize).prop_map(Stmt::From),
            ],
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Every computation that reaches neither the output nor another
        /// layer is reported once: W0001 on its `let`, or W0003 on the layer
        /// when it has none; a dropout followed by nothing but dropout and
        /// `flatten` gets W0004; nothing else is reported, and
        /// every such spec compiles. The expected sets come from the
        /// statements' reads alone, not from the checker.
        #[test]
        fn every_dead_end_is_warned_once(body in proptest::collection::vec(stmt(), 1..10)) {
            // Values named so far: statement index (None: the input `x`) and name.
            let mut named: Vec<(Option<usize>, String)> = vec![(None, "x".into())];
            let mut reads: Vec<Vec<Option<usize>>> = Vec::new();
            let mut src = String::from("network G(x: [8]) -> [8] {\n");
            for (i, (s, bound)) in body.iter().enumerate() {
                let pick = |k: usize| named[k % named.len()].clone();
                let (text, read) = match s {
                    Stmt::Dense => ("dense(8)".to_string(), vec![i.checked_sub(1)]),
                    Stmt::Dropout => ("dropout(0.5)".to_string(), vec![i.checked_sub(1)]),
                    Stmt::Flatten => ("flatten".to_string(), vec![i.checked_sub(1)]),
                    Stmt::Add(a, b) => {
                        let (a, b) = (pick(*a), pick(*b));
                        (format!("add({}, {})", a.1, b.1), vec![a.0, b.0])
                    }
                    Stmt::From(a) => {
                        let a = pick(*a);
                        (format!("{} >> dense(8)", a.1), vec![a.0])
                    }
                };
                reads.push(read);
                let text = if *bound {
                    named.push((Some(i), format!("v{i}")));
                    format!("let v{i} = {text}")
                } else {
                    text
                };
                src.push_str(&format!("    {text}\n"));
            }
            src.push_str("}\n");
            let n = body.len();
            let mut live = vec![false; n];
            let mut stack = vec![n - 1];
            while let Some(s) = stack.pop() {
                if !std::mem::replace(&mut live[s], true) {
                    stack.extend(reads[s].iter().flatten());
                }
            }
            let read_by_any: Vec<bool> =
                (0..n).map(|s| reads.iter().any(|r| r.contains(&Some(s)))).collect();
            let mut want: Vec<(&str, usize)> = (0..n)
                .filter(|&s| !live[s] && !read_by_any[s])
                .map(|s| {
                    let code = if body[s].1 { codes::UNUSED_VALUE } else { codes::DROPPED_OUTPUT };
                    (code, s + 2)
                })
                .collect();
            // W0004: a dropout from which only dropout and `flatten` lead
            // to the output (each reads the statement before it).
            let mut bare = vec![false; n];
            let mut s = n - 1;
            loop {
                bare[s] = true;
                match (&body[s].0, s.checked_sub(1)) {
                    (Stmt::Dropout | Stmt::Flatten, Some(prev)) => s = prev,
                    _ => break,
                }
            }
            want.extend(
                (0..n)
                    .filter(|&s| matches!(body[s].0, Stmt::Dropout) && bare[s])
                    .map(|s| (codes::DROPOUT_AT_OUTPUT, s + 2)),
            );
            let program = compile(&src).unwrap_or_else(|e| panic!("{src}{e:#?}"));
            let mut got: Vec<(&str, usize)> = program
                .warnings
                .iter()
                .map(|w| (w.code, line_col(&src, w.span.start).0))
                .collect();
            want.sort();
            got.sort();
            prop_assert_eq!(got, want, "{}", src);
        }
    }
}
