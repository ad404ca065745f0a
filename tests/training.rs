//! Generated networks train with the runtime.

use nnc::ndarray::{array, ArrayD};
use nnc::{Dataset, Model};

nnc::network! {
    /// Exclusive or: the smallest problem a linear model cannot solve.
    network Xor(x: [2]) -> [1] {
        dense(4) tanh
        dense(1) sigmoid
    }

    train Xor {
        loss      binary_crossentropy
        optimizer adam(lr = 0.05)
        batch     4
        epochs    300
        shuffle   false
        seed      1
        metrics   [accuracy]
    }
}

fn xor_data() -> Dataset {
    let x = array![[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]].into_dyn();
    let y = array![[0.0f32], [1.0], [1.0], [0.0]].into_dyn();
    Dataset::new(x, y).unwrap()
}

#[test]
fn xor_reaches_full_accuracy() {
    let data = xor_data();
    let mut net = Xor::new(1);
    let cfg = Xor::train_config();
    let history = nnc::fit(&mut net, &cfg, &data).unwrap();
    let loss = history.get("loss").unwrap();
    assert!(
        loss.last().unwrap() < &(loss[0] * 0.2),
        "loss {:?} -> {:?}",
        loss[0],
        loss.last()
    );
    for (x, want) in [
        ([0.0, 0.0], 0.0),
        ([0.0, 1.0], 1.0),
        ([1.0, 0.0], 1.0),
        ([1.0, 1.0], 0.0),
    ] {
        let p = net.predict_one(&x)[0];
        assert_eq!(f32::from(p > 0.5), want, "xor{x:?} = {p}");
    }
    let eval = nnc::evaluate(&mut net, cfg.loss, &cfg.metrics, &data, 4).unwrap();
    assert_eq!(eval.metrics[0].1, 1.0);
}

#[test]
fn same_seed_same_result() {
    let data = xor_data();
    let run = || {
        let mut net = Xor::new(5);
        let mut cfg = Xor::train_config();
        cfg.epochs = 20;
        cfg.shuffle = true;
        nnc::fit(&mut net, &cfg, &data).unwrap();
        net.predict_one(&[1.0, 0.0])
    };
    assert_eq!(run(), run());
}

#[test]
fn wrong_width_at_run_time_is_an_error_not_a_panic() {
    let mut net = Xor::new(0);
    let x = ArrayD::<f32>::zeros(vec![3, 5]);
    let err = net.forward(x.view(), false).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
    let bad = Dataset::new(x, ArrayD::zeros(vec![3, 1])).unwrap();
    assert!(nnc::fit(&mut net, &Xor::train_config(), &bad).is_err());
    // Backward before any training forward is an error too.
    let g = ArrayD::<f32>::zeros(vec![3, 1]);
    assert!(net.backward(g.view(), nnc::GradAt::Output).is_err());
}
