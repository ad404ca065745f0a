//! The graph the compiler builds from a spec (what `nnc export-onnx`
//! uses) is the one the generated code returns from `Model::graph`. Here
//! rather than beside the ONNX test in the root crate because it needs
//! `nnc-dsl`, which would otherwise be a dev-dependency of `nnc` (and
//! compiled by every `cargo run --example`).

use std::path::{Path, PathBuf};

use nnc::Model;

// Paths are relative to this crate, `tests/compile/`.
mod mnist {
    nnc::include_network!("../../examples/specs/mnist.nn");
}
mod boston {
    nnc::include_network!("../../examples/specs/boston_housing.nn");
}
mod digits {
    nnc::include_network!("../../examples/specs/digits.nn");
}
mod mnist_cnn {
    nnc::include_network!("../../examples/specs/mnist_cnn.nn");
}
mod residual {
    nnc::include_network!("../../examples/specs/residual.nn");
}
mod layers {
    nnc::include_network!("../specs/layers.nn");
}
mod cnn {
    nnc::include_network!("../specs/cnn.nn");
}

/// A file of the workspace, given relative to its root.
fn workspace_file(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file)
}

#[test]
fn spec_graphs_equal_generated_graphs() {
    let generated: Vec<(&str, Box<dyn Model>)> = vec![
        ("examples/specs/mnist.nn", Box::new(mnist::Mnist::new(0))),
        (
            "examples/specs/mnist.nn",
            Box::new(mnist::MnistBest::new(0)),
        ),
        (
            "examples/specs/boston_housing.nn",
            Box::new(boston::Boston::new(0)),
        ),
        (
            "examples/specs/digits.nn",
            Box::new(digits::DigitsBinary::new(0)),
        ),
        ("examples/specs/digits.nn", Box::new(digits::Digits::new(0))),
        (
            "examples/specs/mnist_cnn.nn",
            Box::new(mnist_cnn::MnistCnn::new(0)),
        ),
        (
            "examples/specs/mnist_cnn.nn",
            Box::new(mnist_cnn::StrongCnn::new(0)),
        ),
        (
            "examples/specs/residual.nn",
            Box::new(residual::PlainDigits::new(0)),
        ),
        (
            "examples/specs/residual.nn",
            Box::new(residual::ResidualDigits::new(0)),
        ),
        ("tests/specs/layers.nn", Box::new(layers::Layers::new(0))),
        (
            "tests/specs/layers.nn",
            Box::new(layers::Activations::new(0)),
        ),
        ("tests/specs/cnn.nn", Box::new(cnn::Cnn::new(0))),
        ("tests/specs/cnn.nn", Box::new(cnn::Options::new(0))),
    ];
    for (file, net) in generated {
        let path = workspace_file(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let program = nnc_dsl::compile(&text).unwrap();
        let ir = program
            .networks
            .iter()
            .find(|n| n.name == net.name())
            .unwrap();
        let from_spec = nnc_dsl::graph::graph(ir);
        assert_eq!(
            Some(&from_spec),
            net.graph().as_ref(),
            "{file}: {}",
            net.name()
        );
        // The recorded spec text compiles to the same network again.
        let again = nnc_dsl::compile(&from_spec.spec).unwrap();
        assert_eq!(nnc_dsl::graph::graph(&again.networks[0]), from_spec);
    }
}
