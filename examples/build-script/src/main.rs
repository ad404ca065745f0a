//! A network compiled from `specs/iris.nn` by `build.rs`, trained on iris.
//!
//! `cargo run -p nnc-example-build-script --release [path/to/iris.csv]`

use nnc::data::csv::{read_csv, CsvOptions};
use nnc::data::transform::Standardizer;

include!(concat!(env!("OUT_DIR"), "/iris.rs"));

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sklearn/iris.csv").into()
    });
    let data = read_csv(&path, &CsvOptions::default())?;
    let (mut train, mut test) = data.train_test_split(0.3, 42)?;
    let scaler = Standardizer::fit(train.x.view())?;
    scaler.transform(&mut train.x)?;
    scaler.transform(&mut test.x)?;

    let mut net = Iris::new(7);
    let cfg = Iris::train_config();
    nnc::fit(&mut net, &cfg, &train)?;
    let eval = nnc::evaluate(&mut net, cfg.loss, &cfg.metrics, &test, 64)?;
    println!(
        "iris: test accuracy {:.1}% on {} flowers",
        100.0 * eval.metrics[0].1,
        test.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_script_generated_the_network() {
        assert_eq!(Iris::INPUT_SHAPE, [4]);
        assert_eq!(Iris::PARAM_COUNT, 4 * 16 + 16 + 16 * 3 + 3);
        let p = Iris::new(0).predict_one(&[5.1, 3.5, 1.4, 0.2]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
