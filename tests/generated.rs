//! Generated networks against known values.

use nnc::ndarray::{array, Array2};
use nnc::Model;

nnc::network! {
    /// The textbook three-layer network.
    network Textbook(x: [2]) -> [2] {
        dense(3) sigmoid
        dense(2) sigmoid
        dense(2)
    }

    network Ones(x: [2]) -> [2] {
        dense(3, init = ones) sigmoid
        dense(2, init = ones) softmax
    }

    train Ones {
        loss    categorical_crossentropy
        verbose 2
    }

    /// Softmax fused into the last dense layer.
    network Classes(x: [3]) -> [4] {
        dense(5) tanh
        dense(4) softmax
    }

    /// Independent probabilities, fused.
    network Labels(x: [3]) -> [2] {
        dense(2) sigmoid
    }

    /// A standalone softmax after a join (nothing to fuse into).
    network Joined(x: [3]) -> [3] {
        let a = dense(3)
        let b = a >> dense(3)
        add(a, b)
        softmax
    }
}

mod mnist {
    nnc::include_network!("examples/specs/mnist.nn");
}
mod cnn {
    nnc::include_network!("tests/specs/cnn.nn");
}

nnc::network! {
    /// Class probabilities per pixel: a softmax over channels fused into a
    /// convolution; layer outputs in the heap scratch (68x68x16 floats are
    /// over 64 KiB) and a boxed output (68x68x4 is over 16384 elements).
    network PixelClasses(image: [70, 70, 1]) -> [68, 68, 4] {
        conv2d(16, 3) relu
        conv2d(4, 1) softmax
    }
}

/// `predict_one_logits` of one sample against `predict_one` (through the
/// output's softmax over lanes of `lane` values, or sigmoid) and against
/// the sample's row of `predict_logits`.
#[track_caller]
fn one_logits_agree(
    what: &str,
    softmax_lane: Option<usize>,
    logits: &[f32],
    probs: &[f32],
    batch_row: &[f32],
) {
    assert_eq!(
        (logits.len(), probs.len()),
        (batch_row.len(), batch_row.len())
    );
    let z: Vec<f64> = logits.iter().map(|&z| f64::from(z)).collect();
    let activated: Vec<f64> = match softmax_lane {
        Some(lane) => z
            .chunks(lane)
            .flat_map(|z| {
                let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|z| (z - max).exp()).sum();
                z.iter().map(move |z| (z - max).exp() / sum)
            })
            .collect(),
        None => z.iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect(),
    };
    for (i, (a, &p)) in activated.iter().zip(probs).enumerate() {
        assert!(
            (a - f64::from(p)).abs() < 1e-6,
            "{what}[{i}]: activated logit {a}, predict_one {p}"
        );
    }
    // Not the probabilities: a copy of predict_one would pass the above.
    assert!(
        logits.iter().zip(probs).any(|(z, p)| (z - p).abs() > 1e-3),
        "{what}: {logits:?}"
    );
    let scale = batch_row.iter().fold(1.0f32, |m, z| m.max(z.abs()));
    for (i, (a, b)) in logits.iter().zip(batch_row).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * scale,
            "{what}[{i}]: predict_one_logits {a}, predict_logits {b}"
        );
    }
}

#[test]
fn predict_one_logits_is_predict_one_before_its_activation() {
    use nnc::ndarray::{Array, Axis};
    let mut rng = nnc::Rng::seed_from(11);
    let mut uniform = |shape: &[usize]| Array::from_shape_fn(shape, |_| rng.uniform(0.0, 1.0));

    // The MNIST example's MLP (softmax fused into the last dense layer).
    let images = uniform(&[6, 28, 28]).into_dimensionality().unwrap();
    let mut mlp = mnist::Mnist::new(1);
    let batch_z = mlp.predict_logits(images.view()).unwrap().to_owned();
    for (n, image) in images.outer_iter().enumerate() {
        let one: [[f32; 28]; 28] = std::array::from_fn(|i| std::array::from_fn(|j| image[[i, j]]));
        let (z, p) = (mlp.predict_one_logits(&one), mlp.predict_one(&one));
        one_logits_agree(
            "Mnist",
            Some(10),
            &z,
            &p,
            batch_z.row(n).as_slice().unwrap(),
        );
    }
    // A CNN with a dense softmax head (im2col scratch, outputs on the stack).
    let x = uniform(&[6, 12, 10]).into_dimensionality().unwrap();
    let mut options = cnn::Options::new(2);
    let batch_z = options.predict_logits(x.view()).unwrap().to_owned();
    for (n, sample) in x.outer_iter().enumerate() {
        let one: [[f32; 10]; 12] = std::array::from_fn(|i| std::array::from_fn(|j| sample[[i, j]]));
        let (z, p) = (options.predict_one_logits(&one), options.predict_one(&one));
        one_logits_agree(
            "Options",
            Some(4),
            &z,
            &p,
            batch_z.row(n).as_slice().unwrap(),
        );
    }
    // A softmax fused into a convolution, heap scratch, boxed output.
    let x = uniform(&[2, 70, 70, 1]).into_dimensionality().unwrap();
    let mut pixels = PixelClasses::new(3);
    let batch_z = pixels.predict_logits(x.view()).unwrap().to_owned();
    for (n, sample) in x.outer_iter().enumerate() {
        let one: Box<[[[f32; 1]; 70]; 70]> = Box::new(std::array::from_fn(|i| {
            std::array::from_fn(|j| [sample[[i, j, 0]]])
        }));
        let (z, p) = (pixels.predict_one_logits(&one), pixels.predict_one(&one));
        let row = batch_z.index_axis(Axis(0), n);
        one_logits_agree(
            "PixelClasses",
            Some(4),
            &z[..],
            &p[..],
            row.as_slice().unwrap(),
        );
    }
    // A fused sigmoid, and a standalone softmax (the logits are its input).
    let x = inputs(6, 12);
    let mut labels = Labels::new(3);
    let mut joined = Joined::new(4);
    let labels_z = labels.predict_logits(x.view()).unwrap().to_owned();
    let joined_z = joined.predict_logits(x.view()).unwrap().to_owned();
    for (n, row) in x.rows().into_iter().enumerate() {
        let one: [f32; 3] = row.as_slice().unwrap().try_into().unwrap();
        let (z, p) = (labels.predict_one_logits(&one), labels.predict_one(&one));
        one_logits_agree("Labels", None, &z, &p, labels_z.row(n).as_slice().unwrap());
        let (z, p) = (joined.predict_one_logits(&one), joined.predict_one(&one));
        one_logits_agree(
            "Joined",
            Some(3),
            &z,
            &p,
            joined_z.row(n).as_slice().unwrap(),
        );
    }
}

/// Random inputs in [-2, 2).
fn inputs(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = nnc::Rng::seed_from(seed);
    Array2::from_shape_fn((n, 3), |_| rng.uniform(-2.0, 2.0))
}

/// Softmax outputs: `log p = z - logsumexp(z)`, so `z - log p` is the same
/// for every class of a row, and the logits give back the probabilities.
#[test]
fn softmax_logits_against_the_log_of_the_probabilities() {
    fn check(p: Array2<f32>, z: Array2<f32>) {
        for (pr, zr) in p.rows().into_iter().zip(z.rows()) {
            let shift: Vec<f64> = pr
                .iter()
                .zip(zr)
                .map(|(&p, &z)| f64::from(z) - f64::from(p).ln())
                .collect();
            for s in &shift {
                assert!((s - shift[0]).abs() < 1e-5, "{shift:?}");
            }
            // Not the probabilities themselves: the logits of a row do not sum to 1.
            assert!((zr.sum() - 1.0).abs() > 1e-3 || zr.iter().any(|&z| z < 0.0));
        }
    }
    let x = inputs(6, 3);
    let mut net = Classes::new(1);
    let p = net.predict(x.view()).unwrap().to_owned();
    let z = net.predict_logits(x.view()).unwrap().to_owned();
    check(p, z);
    let mut joined = Joined::new(2);
    let p = joined.predict(x.view()).unwrap().to_owned();
    let z = joined.predict_logits(x.view()).unwrap().to_owned();
    check(p, z);
    // A wrong shape is an error, as for predict.
    assert!(net.predict_logits(Array2::zeros((2, 4)).view()).is_err());
}

/// Sigmoid outputs: the logit is `ln p - ln(1 - p)`.
#[test]
fn sigmoid_logits_against_the_log_odds() {
    let x = inputs(6, 4);
    let mut net = Labels::new(5);
    let p = net.predict(x.view()).unwrap().to_owned();
    let z = net.predict_logits(x.view()).unwrap().to_owned();
    for (&p, &z) in p.iter().zip(&z) {
        let (p, z) = (f64::from(p), f64::from(z));
        assert!(
            (z - (p.ln() - (1.0 - p).ln())).abs() < 1e-4 * (1.0 + z.abs()),
            "{p} {z}"
        );
    }
    // Training keeps working with the logits buffer in place (fused backward).
    let y = nnc::ndarray::Array2::from_shape_fn((6, 2), |(i, j)| ((i + j) % 2) as f32);
    let data = nnc::Dataset::new(x.clone().into_dyn(), y.into_dyn()).unwrap();
    let cfg = nnc::train::TrainConfig {
        loss: nnc::Loss::BinaryCrossentropy { from_logits: false },
        epochs: 30,
        batch_size: 6,
        verbose: nnc::train::Verbosity::Silent,
        optimizer: nnc::Optimizer::adam(0.05),
        ..Default::default()
    };
    let h = nnc::fit(&mut net, &cfg, &data).unwrap();
    let losses = h.get("loss").unwrap();
    assert!(losses[losses.len() - 1] < losses[0], "{losses:?}");
}

/// The spec's `verbose` reaches the training settings.
#[test]
fn verbose_from_the_spec() {
    assert_eq!(
        Ones::train_config().verbose,
        nnc::train::Verbosity::EpochLines
    );
}

/// Sets a parameter by name through `visit_params`.
fn set(model: &mut dyn Model, name: &str, values: &[f32]) {
    let mut found = false;
    model.visit_params(&mut |p| {
        if p.name == name {
            p.value.copy_from_slice(values);
            found = true;
        }
    });
    assert!(found, "no parameter {name}");
}

#[test]
fn textbook_network_gives_known_outputs() {
    let mut net = Textbook::new(0);
    set(&mut net, "dense1.weight", &[0.1, 0.3, 0.5, 0.2, 0.4, 0.6]);
    set(&mut net, "dense1.bias", &[0.1, 0.2, 0.3]);
    set(&mut net, "dense2.weight", &[0.1, 0.4, 0.2, 0.5, 0.3, 0.6]);
    set(&mut net, "dense2.bias", &[0.1, 0.2]);
    set(&mut net, "dense3.weight", &[0.1, 0.3, 0.2, 0.4]);
    set(&mut net, "dense3.bias", &[0.1, 0.2]);
    // The textbook's values, to more digits than f32 holds.
    let want: [f64; 2] = [0.31682708, 0.69627909];
    let one = net.predict_one(&[1.0, 0.5]);
    for (a, b) in one.iter().zip(want) {
        assert!((f64::from(*a) - b).abs() < 1e-6, "{one:?}");
    }
    let x: Array2<f32> = array![[1.0, 0.5], [1.0, 0.5]];
    let y = net.predict(x.view()).unwrap();
    for row in y.rows() {
        for (a, b) in row.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-6, "{y:?}");
        }
    }
}

#[test]
fn ones_and_zeros_give_an_even_split() {
    let mut net = Ones::new(7);
    for x in [[0.0, 0.0], [1.0, -3.0], [100.0, 5.0]] {
        assert_eq!(net.predict_one(&x), [0.5, 0.5]);
    }
    assert_eq!(Ones::PARAM_COUNT, 17);
    let bad = Array2::<f32>::zeros((4, 3));
    assert!(net.predict(bad.view()).is_err());
}

nnc::network! {
    /// A standalone softmax on a matrix value: over its last axis.
    network LastAxis(x: [2, 3]) -> [2, 3] {
        softmax
    }
}

/// Softmax after a layer of rank 2 or more acts on the last axis (each
/// row of 3 here), as documented and as `conv2d`'s fused softmax does per
/// pixel, not over the whole sample; `predict_one` agrees with `predict`.
#[test]
fn standalone_softmax_acts_on_the_last_axis() {
    let mut net = LastAxis::new(0);
    let x = [[1.0f32, 2.0, 3.0], [0.0, 0.0, 10.0]];
    let one = net.predict_one(&x);
    let batch = nnc::ndarray::Array3::from_shape_fn((1, 2, 3), |(_, i, j)| x[i][j]);
    let y = net.predict(batch.view()).unwrap();
    for i in 0..2 {
        let row = &x[i];
        let z: f32 = row.iter().map(|v| v.exp()).sum();
        for j in 0..3 {
            let want = row[j].exp() / z;
            assert!(
                (y[[0, i, j]] - want).abs() < 1e-6,
                "{i} {j}: {}",
                y[[0, i, j]]
            );
            assert_eq!(one[3 * i + j], y[[0, i, j]]);
        }
    }
}

/// Inference reads a contiguous batch in place and copies any other
/// layout: every layout gives the same bits, and a training pass (which
/// keeps its own copy for backward) works after an inference pass on a
/// batch that has since gone away.
#[test]
fn inference_reads_any_layout_and_training_still_copies() {
    use nnc::ndarray::s;
    let x = inputs(9, 5);
    let mut net = Joined::new(3);
    let want = net.predict(x.view()).unwrap().to_owned();
    // Column-major (the transpose of a transposed copy), and every other row.
    let fortran = x.t().as_standard_layout().into_owned();
    let y = net.predict(fortran.t()).unwrap().to_owned();
    assert_eq!(y, want, "column-major batch");
    let y = net.predict(x.slice(s![..;2, ..])).unwrap().to_owned();
    assert_eq!(y, want.slice(s![..;2, ..]), "strided rows");
    // The logits follow the same pass.
    let mut labels = Labels::new(1);
    let z = labels.predict_logits(x.view()).unwrap().to_owned();
    let zf = labels.predict_logits(fortran.t()).unwrap().to_owned();
    assert_eq!(z, zf);

    // A training step after inference on a temporary batch: backward reads
    // the copy the training forward made, not the inference batch.
    let mut a = Classes::new(2);
    let mut b = Classes::new(2);
    {
        let temp = inputs(4, 9);
        a.predict(temp.view()).unwrap();
    }
    let grad = Array2::from_elem((9, 4), 0.25f32);
    for net in [&mut a, &mut b] {
        Model::forward(net, x.view().into_dyn(), true).unwrap();
        Model::backward(net, grad.view().into_dyn(), nnc::GradAt::Output).unwrap();
    }
    let grads = |m: &mut Classes| {
        let mut all = Vec::new();
        m.visit_params(&mut |p| all.extend_from_slice(p.grad));
        all
    };
    assert_eq!(grads(&mut a), grads(&mut b));
    assert!(grads(&mut a).iter().any(|g| *g != 0.0));
}

mod layers {
    nnc::include_network!("tests/specs/layers.nn");
}
mod strong {
    nnc::include_network!("examples/specs/mnist_cnn.nn");
}

/// Output and parameter gradients of one training pass, through the
/// generated `train_pass` (which reads a contiguous batch where it lies)
/// or through `forward`, the same stand-in loss, and `backward` (which
/// copy it); `at` says where the stand-in gradient is taken.
fn one_pass(
    m: &mut dyn Model,
    x: nnc::ndarray::ArrayViewD<'_, f32>,
    at: nnc::GradAt,
    fused: bool,
) -> (Vec<f32>, Vec<f32>) {
    m.reseed(11);
    // A fixed function of the output stands in for a loss gradient.
    let stand_in = |o: f32| 0.5 * o - 0.1;
    let mut out = Vec::new();
    let len = x.shape()[0] * m.output_shape().iter().product::<usize>();
    let mut grad = vec![0.0f32; len];
    if fused {
        m.train_pass(x, &mut grad, &mut |y, g| {
            out.extend(y.iter().copied());
            g.iter_mut()
                .zip(y.iter())
                .for_each(|(g, &o)| *g = stand_in(o));
            Ok(at)
        })
        .unwrap();
    } else {
        let y = m.forward(x, true).unwrap().to_owned();
        out.extend(y.iter().copied());
        let g = y.mapv(stand_in);
        m.backward(g.view(), at).unwrap();
    }
    let mut grads = Vec::new();
    m.visit_params(&mut |p| grads.extend_from_slice(p.grad));
    (out, grads)
}

/// `train_pass` is `forward`, the loss and `backward` in one call: the same
/// outputs and gradients to the bit, for a batch read in place or copied
/// (column-major, strided rows), with dropout, convolutions, joins and a
/// fused final activation.
#[test]
fn train_pass_is_forward_then_backward() {
    use nnc::ndarray::{ArrayD, Axis, IxDyn, Slice};
    use nnc::GradAt::{Logits, Output};
    type Make = fn() -> Box<dyn Model>;
    let nets: [(&str, Make, nnc::GradAt); 6] = [
        ("Classes", || Box::new(Classes::new(2)), Logits),
        ("Joined", || Box::new(Joined::new(3)), Output),
        ("Layers", || Box::new(layers::Layers::new(4)), Output),
        ("Cnn", || Box::new(cnn::Cnn::new(5)), Output),
        ("StrongCnn", || Box::new(strong::StrongCnn::new(6)), Logits),
        ("MnistBest", || Box::new(mnist::MnistBest::new(7)), Logits),
    ];
    for (name, make, at) in nets {
        let mut shape = vec![6];
        shape.extend_from_slice(make().input_shape());
        let mut rng = nnc::Rng::seed_from(1);
        let x = ArrayD::from_shape_fn(IxDyn(&shape), |_| rng.uniform(-1.0, 1.0));
        let reversed = x.t().as_standard_layout().into_owned();
        let layouts = [
            ("contiguous", x.view()),
            ("column-major", reversed.t()),
            (
                "strided rows",
                x.slice_axis(Axis(0), Slice::new(0, None, 2)),
            ),
        ];
        for (layout, v) in layouts {
            let (mut a, mut b) = (make(), make());
            let want = one_pass(&mut *a, v.clone(), at, false);
            let got = one_pass(&mut *b, v, at, true);
            assert_eq!(got.0, want.0, "{name}, {layout}: outputs");
            assert_eq!(got.1, want.1, "{name}, {layout}: gradients");
            assert!(got.1.iter().any(|g| *g != 0.0), "{name}: no gradient");
        }
    }
}

/// `train_pass` refuses what it cannot use, as an error: a batch of the
/// wrong shape (before the loss is called), a gradient slice of the wrong
/// length (after it), and an error from the loss itself (no backward).
#[test]
fn train_pass_errors_instead_of_panicking() {
    use nnc::ndarray::{Array2, ArrayD, IxDyn};
    let mut net = Classes::new(2);
    let x = Array2::<f32>::zeros((4, 3));
    let mut calls = 0;
    let mut grad = vec![0.0f32; 4 * 4];
    let bad_x = ArrayD::<f32>::zeros(IxDyn(&[4, 2]));
    let err = net
        .train_pass(bad_x.view(), &mut grad, &mut |_, _| {
            calls += 1;
            Ok(nnc::GradAt::Output)
        })
        .unwrap_err();
    assert!(matches!(err, nnc::Error::Shape { .. }), "{err}");
    assert_eq!(calls, 0, "the loss ran on a batch of the wrong shape");
    for len in [0, 4 * 4 - 1, 4 * 4 + 1] {
        let mut short = vec![0.0f32; len];
        let err = net
            .train_pass(x.view().into_dyn(), &mut short, &mut |_, _| {
                Ok(nnc::GradAt::Output)
            })
            .unwrap_err();
        assert!(
            matches!(err, nnc::Error::Shape { .. }),
            "length {len}: {err}"
        );
    }
    let before = {
        let mut all = Vec::new();
        net.visit_params(&mut |p| all.extend_from_slice(p.grad));
        all
    };
    let err = net
        .train_pass(x.view().into_dyn(), &mut grad, &mut |_, g| {
            g.fill(1.0);
            Err(nnc::Error::Config("stop".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("stop"));
    let mut after = Vec::new();
    net.visit_params(&mut |p| after.extend_from_slice(p.grad));
    assert_eq!(before, after, "backward ran after the loss failed");
}
