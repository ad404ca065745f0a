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
