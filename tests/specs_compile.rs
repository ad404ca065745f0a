//! The snapshot specs compile as Rust (through `include_network!`), so the
//! code in `tests/snapshots/` is known to build, and a frozen layer keeps its
//! weights through training.

nnc::include_network!("tests/specs/layers.nn");
nnc::include_network!("tests/specs/losses.nn");
nnc::include_network!("tests/specs/cnn.nn");

use nnc::ndarray::ArrayD;
use nnc::{Dataset, Model};

fn params(model: &mut dyn Model) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    model.visit_params(&mut |p| out.push((p.name.to_string(), p.value.to_vec())));
    out
}

#[test]
fn every_loss_and_optimizer_trains_a_step() {
    let x = ArrayD::from_shape_fn(vec![16, 3], |i| ((i[0] * 3 + i[1]) % 5) as f32 / 5.0 - 0.4);
    let labels = ArrayD::from_shape_fn(vec![16], |i| (i[0] % 5) as f32);
    let onehot = ArrayD::from_shape_fn(vec![16, 5], |i| f32::from(i[0] % 5 == i[1]));
    let binary = ArrayD::from_shape_fn(vec![16, 1], |i| (i[0] % 2) as f32);
    let multi = ArrayD::from_shape_fn(vec![16, 3], |i| ((i[0] + i[1]) % 2) as f32);
    let real = ArrayD::from_shape_fn(vec![16, 1], |i| i[0] as f32 / 8.0);

    let run = |model: &mut dyn Model, cfg: nnc::TrainConfig, y: &ArrayD<f32>| {
        let before = params(model);
        let data = Dataset::new(x.clone(), y.clone()).unwrap();
        let history = nnc::fit(model, &cfg, &data).unwrap();
        assert!(history.get("loss").unwrap().iter().all(|l| l.is_finite()));
        assert_ne!(
            before,
            params(model),
            "{}: nothing was trained",
            model.name()
        );
    };
    run(&mut Regression::new(0), Regression::train_config(), &real);
    run(&mut Robust::new(0), Robust::train_config(), &real);
    run(&mut Median::new(0), Median::train_config(), &real);
    run(&mut Binary::new(0), Binary::train_config(), &binary);
    run(
        &mut BinaryLogits::new(0),
        BinaryLogits::train_config(),
        &multi,
    );
    run(&mut Classes::new(0), Classes::train_config(), &onehot);
    run(
        &mut ClassLogits::new(0),
        ClassLogits::train_config(),
        &onehot,
    );
    run(&mut Labels::new(0), Labels::train_config(), &labels);
    run(
        &mut LabelLogits::new(0),
        LabelLogits::train_config(),
        &labels,
    );
}

#[test]
fn frozen_layers_keep_their_weights() {
    let mut net = Layers::new(3);
    let before = params(&mut net);
    let x = ArrayD::from_shape_fn(vec![8, 4, 3], |i| (i[0] + i[1] + i[2]) as f32 / 10.0);
    let y = ArrayD::from_shape_fn(vec![8, 2, 3], |i| (i[1] * 3 + i[2]) as f32 / 6.0);
    let cfg = nnc::TrainConfig {
        epochs: 3,
        batch_size: 4,
        ..Default::default()
    };
    nnc::fit(&mut net, &cfg, &Dataset::new(x, y).unwrap()).unwrap();
    let after = params(&mut net);
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        if name.starts_with("dense2.") {
            assert_eq!(a, b, "{name} is frozen but changed");
        } else {
            assert_ne!(a, b, "{name} did not train");
        }
    }
    let mut inits = Inits::new(0);
    assert_eq!(
        params(&mut inits)[2].1,
        vec![1.0; 4],
        "dense2.weight is init = ones"
    );
    assert_eq!(
        Activations::PARAM_COUNT,
        3 * 4 + 4 + 8 * (4 * 4 + 4) + 4 * 3 + 3
    );
}
