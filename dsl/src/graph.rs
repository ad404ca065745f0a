//! A checked network → its inference graph ([`nnc_core::graph::Graph`]),
//! the neutral description exporters read (`nnc-onnx`).
//!
//! The command-line tool builds it from a spec without compiling the
//! network, and generated code returns the same value from `Model::graph`
//! (emitted from this function), so both describe a network alike.
//! Parameter names are the ones lowering gives (`<layer>.<suffix>`, in the
//! op's order, kernel before bias), which `visit_params` and weight files use.

pub use nnc_core::graph::Graph;
use nnc_core::graph::{self, Node};

use crate::ir::{self, Op, PoolKind};

fn source(src: ir::Source) -> graph::Source {
    match src {
        ir::Source::Input => graph::Source::Input,
        ir::Source::Layer(i) => graph::Source::Node(i),
    }
}

/// The inference graph of a checked network.
pub fn graph(net: &ir::Network) -> Graph {
    let nodes = net
        .layers
        .iter()
        .map(|layer| {
            // The op's own parameter list, so the names are the ones
            // lowering declares.
            let mut names = layer
                .op
                .def()
                .params(layer)
                .into_iter()
                .map(|d| format!("{}.{}", layer.name, d.suffix));
            let mut weight = || names.next().unwrap_or_default();
            let op = match &layer.op {
                Op::Dense(d) => graph::Op::Dense {
                    units: d.units,
                    weight: weight(),
                    bias: d.use_bias.then(&mut weight),
                    activation: d.activation,
                },
                Op::Activation(a) => graph::Op::Activation(*a),
                Op::Flatten => graph::Op::Flatten,
                Op::Reshape => graph::Op::Reshape,
                Op::Dropout(d) => graph::Op::Dropout { rate: d.rate },
                Op::Add(_) => graph::Op::Add,
                Op::Concat(_) => graph::Op::Concat,
                Op::Conv2d(c) => graph::Op::Conv2d {
                    filters: c.filters,
                    kernel: c.kernel,
                    strides: c.strides,
                    padding: c.padding,
                    weight: weight(),
                    bias: c.use_bias.then(&mut weight),
                    activation: c.activation,
                },
                Op::Pool2d(p) => graph::Op::Pool2d {
                    kind: match p.kind {
                        PoolKind::Max => graph::PoolKind::Max,
                        PoolKind::Avg => graph::PoolKind::Avg,
                    },
                    size: p.size,
                    strides: p.strides,
                    padding: p.padding,
                },
                Op::GlobalAvgPool2d => graph::Op::GlobalAvgPool2d,
            };
            Node {
                name: layer.name.clone(),
                op,
                inputs: layer.inputs.iter().map(|&s| source(s)).collect(),
                output: layer.output.clone(),
            }
        })
        .collect();
    Graph {
        name: net.name.clone(),
        spec: net.text.clone(),
        input_name: net.input.name.clone(),
        input_shape: net.input.shape.clone(),
        nodes,
        result: source(net.result),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_lowering_and_the_text_is_canonical() {
        let src = "/// Doc.\nnetwork N(x: [4, 4, 1]) -> [3] {\n  // a comment\n  let c = conv2d(2, 3, padding = same)  relu\n  max_pool2d(2)\n  flatten\n  let h = dense(3, use_bias = false)\n  dropout(0.5)\n  let s = add(h, h)\n  s >> softmax\n}\ntrain N { loss sparse_categorical_crossentropy\n optimizer adam(lr = 1e-3) }";
        let program = crate::compile(src).unwrap_or_else(|d| panic!("{d:?}"));
        let net = &program.networks[0];
        let g = graph(net);
        let plan = crate::lower::lower(net);
        let planned: Vec<&str> = plan.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(g.params(), planned);
        assert_eq!(
            g.params(),
            ["conv2d1.weight", "conv2d1.bias", "dense1.weight"]
        );
        assert_eq!(g.input_name, "x");
        assert_eq!(g.output_shape(), &[3]);
        assert_eq!(
            g.nodes[5].inputs,
            [graph::Source::Node(3), graph::Source::Node(3)]
        );
        assert_eq!(
            g.spec,
            "/// Doc.\nnetwork N(x: [4, 4, 1]) -> [3] {\n    let c = conv2d(2, 3, padding = same) relu\n    max_pool2d(2)\n    flatten\n    let h = dense(3, use_bias = false)\n    dropout(0.5)\n    let s = add(h, h)\n    s >> softmax\n}\n\ntrain N {\n    loss sparse_categorical_crossentropy\n    optimizer adam(lr = 1e-3)\n}"
        );
        // The canonical text is a spec that compiles to the same network.
        let again = crate::compile(&g.spec).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(graph(&again.networks[0]).spec, g.spec);
        assert_eq!(graph(&again.networks[0]).nodes, g.nodes);
    }
}
