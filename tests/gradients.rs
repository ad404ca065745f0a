//! Generated backward code against central finite differences, for every
//! layer kind, activation and loss, on random inputs.

use nnc::loss::{Loss, LossExt};
use nnc::ndarray::{ArrayD, IxDyn};
use nnc::{Model, Rng};

nnc::network! {
    /// Every element-wise activation, fused into dense layers.
    network Fused(x: [2, 3]) -> [4] {
        flatten
        dense(5) tanh
        dense(5) sigmoid
        dense(5) elu(alpha = 0.5)
        dense(5) gelu
        dense(5) gelu(approximate = false)
        dense(5) softplus
        dense(5) leaky_relu(alpha = 0.1)
        dense(5) relu
        dense(4)
    }

    /// Standalone activation layers, dropout, reshape, a layer without bias
    /// and penalties.
    network Standalone(x: [3]) -> [2, 2] {
        sigmoid
        dense(6, l1 = 0.001, l2 = 0.01)
        dropout(0.3)
        tanh
        dense(4, use_bias = false)
        dropout(0.25)
        gelu
        gelu(approximate = false)
        reshape([2, 2])
    }

    /// A frozen layer in the middle: gradients flow through it, but it gets none.
    network Frozen(x: [3]) -> [3] {
        dense(4) tanh
        dense(4, trainable = false) sigmoid
        dense(3) softmax
    }

    network Probs(x: [3]) -> [3] {
        dense(4) tanh
        dense(3) softmax
    }

    network Logits(x: [3]) -> [3] {
        dense(4) tanh
        dense(3)
    }

    network Binary(x: [3]) -> [2] {
        dense(4) relu
        dense(2) sigmoid
    }

    /// A zero slope: the sign of the output no longer tells the branch, so
    /// backward needs the pre-activation, fused and standalone (it once
    /// panicked for want of that buffer).
    network ZeroSlope(x: [3]) -> [2] {
        dense(8) leaky_relu(0)
        dense(6) tanh
        dropout(0.2)
        leaky_relu(alpha = 0)
        dense(2)
    }

    /// The graph form: `h` feeds four reads (a dense layer, `add` twice
    /// over, `concat`), so backward adds their gradients into one buffer;
    /// `add` of one value with itself; a branch read with `name >>`.
    network Graph(x: [2, 2]) -> [3] {
        flatten
        let h = dense(5) tanh
        let a = h >> dense(5) sigmoid
        let r = add(a, h)
        let d = add(h, h)
        let c = concat(r, d, h)
        let s = c >> dense(4) tanh
        let t = dropout(0.2)
        let xf = x >> flatten
        concat(t, xf)
        dense(3)
    }

    /// Convolution with `valid` padding and relu, max pooling, a strided
    /// `same` convolution with an even kernel and gelu (which keeps its
    /// pre-activation).
    network ConvValid(x: [6, 6, 2]) -> [3] {
        conv2d(3, 3) relu
        max_pool2d(2)
        conv2d(4, [2, 1], stride = 2, padding = same) gelu
        flatten
        dense(3)
    }

    /// A frozen first convolution, `same` padding, average pooling with
    /// border windows, explicit padding with stride 2 and an L2 penalty,
    /// global average pooling, and a 1x1 convolution.
    network ConvSame(x: [5, 5, 1]) -> [2] {
        conv2d(2, 3, padding = same, trainable = false) tanh
        avg_pool2d(2, padding = same)
        conv2d(3, 2, stride = 2, padding = 1, l1 = 0.001, l2 = 0.01) tanh
        conv2d(2, 1, use_bias = false)
        global_avg_pool2d
        dense(2) softmax
    }

    /// Dead cells (see `lower`): a pooling that drops a row and a column,
    /// so the convolution before it reads 5 of the 6 rows and columns of a
    /// dense layer's reshaped output (a crop step, with a gradient); and a
    /// convolution whose padding is wider than its kernel (border outputs
    /// over padding only).
    network ConvCrop(x: [4]) -> [2] {
        dense(36) tanh
        reshape([6, 6, 1])
        conv2d(2, 2) tanh
        max_pool2d(2)
        conv2d(2, 1, padding = 2) tanh
        flatten
        dense(2)
    }

    /// A feature map read by a convolution, `add`, max pooling and global
    /// pooling: the convolution and pool kernels overwrite their input
    /// gradient, so lowering gives them scratch and adds it in.
    network ConvGraph(x: [6, 6, 2]) -> [3] {
        let h = conv2d(2, 3, padding = same) tanh
        let a = h >> conv2d(2, 3, padding = same) tanh
        let r = add(a, h)
        let m = h >> max_pool2d(2)
        let g = h >> global_avg_pool2d
        let f = r >> flatten
        let mf = m >> flatten
        concat(f, mf, g)
        dense(3)
    }

    /// Softmax as its own layer at the end (not fused into the dense layer).
    network SoftmaxLayer(x: [3]) -> [3] {
        dense(3) relu
        dropout(0.1)
        softmax
    }
}

fn random(shape: &[usize], rng: &mut Rng, low: f32, high: f32) -> ArrayD<f32> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.uniform(low, high))
}

fn one_hot(n: usize, k: usize, rng: &mut Rng) -> (ArrayD<f32>, ArrayD<f32>) {
    let labels: Vec<usize> = (0..n).map(|_| rng.below(k)).collect();
    let sparse = ArrayD::from_shape_fn(IxDyn(&[n]), |i| labels[i[0]] as f32);
    let dense = ArrayD::from_shape_fn(IxDyn(&[n, k]), |i| f32::from(labels[i[0]] == i[1]));
    (dense, sparse)
}

/// Loss of a training forward pass (same dropout mask every time), penalty included.
fn loss_at(model: &mut dyn Model, loss: Loss, x: &ArrayD<f32>, y: &ArrayD<f32>) -> f64 {
    model.reseed(99);
    let act = model.output_activation();
    let out = model.forward(x.view(), true).unwrap();
    let data = loss.loss_value(out, y.view(), act).unwrap();
    f64::from(data) + f64::from(model.penalty())
}

fn perturb(model: &mut dyn Model, index: usize, k: usize, delta: f32) {
    model.visit_params(&mut |p| {
        if p.index == index {
            p.value[k] += delta;
        }
    });
}

/// Checks every trainable parameter's gradient (a spread of its elements)
/// against central differences; frozen parameters must get no gradient.
fn check(model: &mut dyn Model, loss: Loss, x: &ArrayD<f32>, y: &ArrayD<f32>) {
    model.reseed(99);
    let act = model.output_activation();
    let out = model.forward(x.view(), true).unwrap().to_owned();
    let mut grad = ArrayD::zeros(out.shape());
    let (_, at) = loss
        .loss_and_grad(out.view(), y.view(), act, grad.view_mut())
        .unwrap();
    model.backward(grad.view(), at).unwrap();
    let mut analytic = Vec::new();
    model.visit_params(&mut |p| {
        analytic.push((p.index, p.name.to_string(), p.grad.to_vec(), p.trainable))
    });
    let eps = 1e-2f32;
    let mut checked = 0;
    for (index, name, grad, trainable) in analytic {
        if !trainable {
            assert!(
                grad.iter().all(|&g| g == 0.0),
                "{}: frozen {name} got a gradient",
                model.name()
            );
            continue;
        }
        let step = (grad.len() / 7).max(1);
        for k in (0..grad.len()).step_by(step) {
            perturb(model, index, k, eps);
            let plus = loss_at(model, loss, x, y);
            perturb(model, index, k, -2.0 * eps);
            let minus = loss_at(model, loss, x, y);
            perturb(model, index, k, eps);
            let numeric = (plus - minus) / (2.0 * f64::from(eps));
            let a = f64::from(grad[k]);
            let tol = 2e-3 + 2e-2 * a.abs().max(numeric.abs());
            assert!(
                (a - numeric).abs() <= tol,
                "{} {}: d/d {name}[{k}] analytic {a} vs numeric {numeric}",
                model.name(),
                loss.name()
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

const N: usize = 5;

#[test]
fn every_activation_fused_into_dense() {
    let mut rng = Rng::seed_from(1);
    let mut net = Fused::new(3);
    let x = random(&[N, 2, 3], &mut rng, -1.0, 1.0);
    let y = random(&[N, 4], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);
}

#[test]
fn leaky_relu_with_zero_slope() {
    // A seed whose pre-activations stay farther from the kink at 0 than the
    // finite-difference step (across it the difference quotient is meaningless).
    let mut rng = Rng::seed_from(13);
    let mut net = ZeroSlope::new(12);
    let x = random(&[N, 3], &mut rng, -1.0, 1.0);
    let y = random(&[N, 2], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);
}

#[test]
fn graph_add_concat_and_a_value_read_four_times() {
    let mut rng = Rng::seed_from(21);
    let mut net = Graph::new(22);
    let x = random(&[N, 2, 2], &mut rng, -1.0, 1.0);
    let y = random(&[N, 3], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);
    // Inference agrees with predict_one (which reads no dropout).
    let out = net
        .predict(x.view().into_dimensionality().unwrap())
        .unwrap()
        .to_owned();
    for (i, row) in out.rows().into_iter().enumerate() {
        let sample = [[x[[i, 0, 0]], x[[i, 0, 1]]], [x[[i, 1, 0]], x[[i, 1, 1]]]];
        let one = net.predict_one(&sample);
        for (a, b) in row.iter().zip(one) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn standalone_activations_dropout_reshape_penalties() {
    let mut rng = Rng::seed_from(2);
    let mut net = Standalone::new(4);
    let x = random(&[N, 3], &mut rng, -2.0, 2.0);
    let y = random(&[N, 2, 2], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);
    check(&mut net, Loss::Huber { delta: 0.3 }, &x, &y);
    check(&mut net, Loss::Mae, &x, &y);
}

#[test]
fn frozen_layer_passes_gradients_but_gets_none() {
    let mut rng = Rng::seed_from(3);
    let mut net = Frozen::new(5);
    let x = random(&[N, 3], &mut rng, -1.0, 1.0);
    let (y, _) = one_hot(N, 3, &mut rng);
    check(
        &mut net,
        Loss::CategoricalCrossentropy { from_logits: false },
        &x,
        &y,
    );
}

#[test]
fn cross_entropies_fused_and_from_logits() {
    let mut rng = Rng::seed_from(4);
    let x = random(&[N, 3], &mut rng, -1.0, 1.0);
    let (onehot, sparse) = one_hot(N, 3, &mut rng);
    let mut probs = Probs::new(6);
    check(
        &mut probs,
        Loss::CategoricalCrossentropy { from_logits: false },
        &x,
        &onehot,
    );
    check(
        &mut probs,
        Loss::SparseCategoricalCrossentropy { from_logits: false },
        &x,
        &sparse,
    );
    // Softmax output with a loss that cannot fuse: the softmax Jacobian path.
    check(&mut probs, Loss::Mse, &x, &onehot);
    let mut logits = Logits::new(7);
    check(
        &mut logits,
        Loss::CategoricalCrossentropy { from_logits: true },
        &x,
        &onehot,
    );
    check(
        &mut logits,
        Loss::SparseCategoricalCrossentropy { from_logits: true },
        &x,
        &sparse,
    );
    let mut layer = SoftmaxLayer::new(8);
    check(
        &mut layer,
        Loss::CategoricalCrossentropy { from_logits: false },
        &x,
        &onehot,
    );
    check(&mut layer, Loss::Mse, &x, &onehot);
}

#[test]
fn binary_cross_entropy_multi_label() {
    let mut rng = Rng::seed_from(5);
    let x = random(&[N, 3], &mut rng, -1.0, 1.0);
    let y = ArrayD::from_shape_fn(IxDyn(&[N, 2]), |_| f32::from(rng.below(2) == 1));
    let mut net = Binary::new(9);
    check(
        &mut net,
        Loss::BinaryCrossentropy { from_logits: false },
        &x,
        &y,
    );
    let mut logits = Logits::new(10);
    let y3 = ArrayD::from_shape_fn(IxDyn(&[N, 3]), |i| f32::from((i[0] + i[1]) % 2 == 0));
    check(
        &mut logits,
        Loss::BinaryCrossentropy { from_logits: true },
        &x,
        &y3,
    );
}

#[test]
fn convolution_and_pooling() {
    let mut rng = Rng::seed_from(21);
    let mut net = ConvValid::new(22);
    let x = random(&[3, 6, 6, 2], &mut rng, -1.0, 1.0);
    let y = random(&[3, 3], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);

    let mut net = ConvSame::new(23);
    let x = random(&[2, 5, 5, 1], &mut rng, -1.0, 1.0);
    let (onehot, sparse) = one_hot(2, 2, &mut rng);
    check(
        &mut net,
        Loss::CategoricalCrossentropy { from_logits: false },
        &x,
        &onehot,
    );
    check(
        &mut net,
        Loss::SparseCategoricalCrossentropy { from_logits: false },
        &x,
        &sparse,
    );
    let mut net = ConvGraph::new(24);
    let x = random(&[2, 6, 6, 2], &mut rng, -1.0, 1.0);
    let y = random(&[2, 3], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);
    let mut net = ConvCrop::new(25);
    let x = random(&[3, 4], &mut rng, -1.0, 1.0);
    let y = random(&[3, 2], &mut rng, -1.0, 1.0);
    check(&mut net, Loss::Mse, &x, &y);
}
