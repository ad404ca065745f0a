//! The README's tour, run for real on a slice of MNIST, so it cannot rot.

use nnc::Model;

nnc::include_network!("examples/specs/mnist.nn");

#[test]
fn train_evaluate_save_load_predict() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme");
    std::fs::create_dir_all(&dir)?;
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");
    let (train, test) = nnc::data::idx::load_mnist(data)?;
    let (train, test) = (train.slice(0..3000), test.slice(0..1000));
    let mut net = Mnist::new(42);
    assert!(Mnist::SUMMARY.contains("53,706"));
    let mut cfg = Mnist::train_config();
    cfg.epochs = 2;
    cfg.verbose = nnc::train::Verbosity::Silent;
    let history = nnc::fit(&mut net, &cfg, &train)?;
    let eval = nnc::evaluate(&mut net, cfg.loss, &cfg.metrics, &test, 1000)?;
    assert!(eval.metrics[0].1 > 0.6, "accuracy {:?}", eval.metrics);
    nnc::io::save_weights(dir.join("mnist.safetensors"), &mut net)?;
    // Deploy anywhere (tests/onnx.rs runs such files in onnxruntime).
    nnc::onnx::export(&mut net, dir.join("mnist.onnx"))?;
    assert!(std::fs::metadata(dir.join("mnist.onnx"))?.len() > 4 * 53_706);
    nnc::plot::learning_curves(&history, dir.join("mnist.png"))?;

    let mut again = Mnist::new(0);
    nnc::io::load_weights(dir.join("mnist.safetensors"), &mut again)?;
    let probs = again
        .predict(test.x.view().into_dimensionality()?)?
        .to_owned();
    let images = test.x.view().into_dimensionality::<nnc::ndarray::Ix3>()?;
    let first = images.slice(nnc::ndarray::s![0, .., ..]);
    let mut image = [[0.0f32; 28]; 28];
    for ((r, c), v) in first.indexed_iter() {
        let (r, c): (usize, usize) = (r, c);
        image[r][c] = *v;
    }
    let one: [f32; 10] = again.predict_one(&image);
    for (a, b) in one.iter().zip(probs.row(0)) {
        assert!(
            (a - b).abs() < 1e-5,
            "predict_one and predict disagree: {a} vs {b}"
        );
    }
    // The logits: their softmax is what predict returned.
    let logits = again
        .predict_logits(test.x.view().into_dimensionality()?)?
        .to_owned();
    let z = logits.row(0);
    let top = z.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f32 = z.iter().map(|&v| (v - top).exp()).sum();
    for (&v, &p) in z.iter().zip(probs.row(0)) {
        let q = (v - top).exp() / sum;
        assert!((q - p).abs() < 1e-5, "softmax(logits) {q} vs predict {p}");
    }
    // One sample's logits are its row of the batch's.
    let one_logits: [f32; 10] = again.predict_one_logits(&image);
    for (a, b) in one_logits.iter().zip(z) {
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + b.abs()),
            "predict_one_logits {a} vs predict_logits {b}"
        );
    }
    assert_eq!(again.output_shape(), &[10]);
    Ok(())
}
