//! Dead-cell elimination: which rows and columns of each feature map reach
//! the output.
//!
//! A `valid` pooling or a stride that does not divide its input leaves the
//! last rows and columns of a feature map unread (warning W0301), and the
//! cells of earlier maps that only those cells read feed nothing either. In
//! the tutorial CNN, the first pooling reads 24x24 of the first
//! convolution's 25x25 map, and the second pooling reads the top-left 3x3
//! of the second convolution's 5x5 map (its output is 1x1): per image,
//! 0.47 M of the 1.14 M multiply-adds of a forward pass reach the output.
//!
//! This pass walks the layers from the output back and gives each layer
//! the shape it is computed at: an image `[H, W, C]` is computed for its
//! first `h <= H` rows and `w <= W` columns when no reader needs more.
//! - Window layers (convolution, pooling) compute a prefix of their output
//!   from a prefix of their input with the same windows
//!   ([`WindowAxis::prefix`]), so every computed cell has the value it has
//!   in the whole computation, and every gradient is the whole
//!   computation's (the cells left out have none).
//! - Element-wise layers, `add` and `concat` (along channels) pass the
//!   prefix through to their inputs.
//! - Every other layer, and the network's input, is computed whole; where a
//!   reader wants less, lowering copies the prefix out (a crop step).
//!
//! Shapes the user sees (summaries, `layers()`, ONNX export) stay the
//! spec's; only the plan's buffers and kernel geometries shrink.

use crate::ir::{self, Op, Shape, Source};
use crate::ops::window::WindowAxis;

/// The shapes each layer is computed at.
#[derive(Debug, Clone)]
pub(crate) struct Regions {
    /// Per layer: the shape its output is computed at.
    pub out: Vec<Shape>,
    /// Per layer and input: the shape the layer reads that input at.
    pub reads: Vec<Vec<Shape>>,
    /// Per window layer (convolution, pooling): its axes as computed.
    pub axes: Vec<Option<[WindowAxis; 2]>>,
}

/// The axes of a window layer over its whole input.
fn whole_axes(l: &ir::Layer) -> Option<[WindowAxis; 2]> {
    match &l.op {
        Op::Conv2d(c) => Some(c.axes(&l.input)),
        Op::Pool2d(p) => Some(p.axes(&l.input)),
        _ => None,
    }
}

/// Computes [`Regions`]; with `enabled = false` every layer is computed
/// whole (the plan the spec reads as, for comparisons).
pub(crate) fn regions(net: &ir::Network, enabled: bool) -> Regions {
    let n = net.layers.len();
    let whole = Regions {
        out: net.layers.iter().map(|l| l.output.clone()).collect(),
        reads: net.layers.iter().map(|l| l.input_shapes.clone()).collect(),
        axes: net.layers.iter().map(whole_axes).collect(),
    };
    if !enabled {
        return whole;
    }
    let mut regions = whole;
    // Per layer: the smallest shape covering what its readers read; `None`
    // while no reader has been seen (and for a value nothing reads).
    let mut wanted: Vec<Option<Shape>> = vec![None; n];
    let ask = |wanted: &mut [Option<Shape>], src: Source, shape: &[usize]| {
        if let Source::Layer(j) = src {
            wanted[j] = Some(match wanted[j].take() {
                Some(w) => w.iter().zip(shape).map(|(a, b)| *a.max(b)).collect(),
                None => shape.to_vec(),
            });
        }
    };
    let result_shape = match net.result {
        Source::Layer(j) => net.layers[j].output.clone(),
        Source::Input => net.input.shape.clone(),
    };
    ask(&mut wanted, net.result, &result_shape);
    for li in (0..n).rev() {
        let l = &net.layers[li];
        if let Some(want) = wanted[li].take() {
            // A window layer computed whole may still read only part of
            // its input (the cells its windows never cover at the end).
            let window = regions.axes[li].is_some();
            if (want != l.output || window) && l.output.len() == 3 {
                if let Some((reads, axes)) = prefix(l, &want) {
                    regions.out[li] = want;
                    regions.reads[li] = reads;
                    regions.axes[li] = axes;
                }
            }
        }
        for (src, shape) in l.inputs.iter().zip(&regions.reads[li]) {
            ask(&mut wanted, *src, shape);
        }
    }
    regions
}

/// Multiply-adds per sample of the forward pass as the plan computes it
/// (convolutions over their computed part).
pub(crate) fn computed_macs(net: &ir::Network) -> u64 {
    let r = regions(net, true);
    net.layers
        .iter()
        .zip(&r.axes)
        .map(|(l, axes)| match (&l.op, axes) {
            (Op::Conv2d(c), Some([rows, cols])) => [
                rows.output(),
                cols.output(),
                c.filters,
                rows.kernel,
                cols.kernel,
                l.input[2],
            ]
            .iter()
            .fold(1u64, |a, &d| a.saturating_mul(d as u64)),
            _ => l.op.def().macs(l),
        })
        .fold(0u64, u64::saturating_add)
}

/// What layer `l` reads to compute the prefix `want` of its output image,
/// and its axes then; `None` if it can only be computed whole.
#[allow(clippy::type_complexity)]
fn prefix(l: &ir::Layer, want: &[usize]) -> Option<(Vec<Shape>, Option<[WindowAxis; 2]>)> {
    let (h, w) = (want[0], want[1]);
    match &l.op {
        Op::Conv2d(_) | Op::Pool2d(_) => {
            let [rows, cols] = whole_axes(l)?;
            let (rows, cols) = (rows.prefix(h)?, cols.prefix(w)?);
            Some((
                vec![vec![rows.input, cols.input, l.input[2]]],
                Some([rows, cols]),
            ))
        }
        Op::Activation(_) | Op::Dropout(_) | Op::Add(_) | Op::Concat(_) => {
            let reads = l.input_shapes.iter().map(|s| vec![h, w, s[2]]).collect();
            Some((reads, None))
        }
        Op::Dense(_) | Op::Flatten | Op::Reshape | Op::GlobalAvgPool2d => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(src: &str) -> ir::Network {
        crate::compile(src).expect("compiles").networks.remove(0)
    }

    #[test]
    fn the_tutorial_cnn_computes_what_reaches_the_output() {
        let net = net("network T(x: [28, 28, 1]) -> [10] {
                conv2d(32, 4) relu
                max_pool2d(3)
                conv2d(64, 4) relu
                max_pool2d(3)
                flatten
                dense(10)
            }");
        let r = regions(&net, true);
        // 3 of conv2's 5 rows reach the 1x1 pool output; they read 6 of
        // pool1's 8 rows, which read 18 of conv1's 25, which read 21 of 28.
        assert_eq!(r.out[0], [18, 18, 32]);
        assert_eq!(r.reads[0], [[21, 21, 1]]);
        assert_eq!(r.out[1], [6, 6, 32]);
        assert_eq!(r.out[2], [3, 3, 64]);
        assert_eq!(r.out[3], [1, 1, 64]);
        assert_eq!(r.reads[4], [[1, 1, 64]]);
        let whole = regions(&net, false);
        assert_eq!(whole.out[0], [25, 25, 32]);
        assert_eq!(whole.reads[0], [[28, 28, 1]]);
        // 18·18·32·16 + 3·3·64·512 + 64·10, of 25·25·32·16 + 5·5·64·512 + 640.
        assert_eq!(computed_macs(&net), 165_888 + 294_912 + 640);
        assert_eq!(crate::summary::summary(&net).macs, 320_000 + 819_200 + 640);
    }

    #[test]
    fn a_map_read_twice_is_computed_for_the_larger_reader() {
        let net = net("network G(x: [9, 9, 2]) -> [6] {
                let h = conv2d(2, 2) relu
                let a = h >> max_pool2d(3)
                let fa = a >> flatten
                let b = h >> max_pool2d(2)
                let fb = b >> flatten
                concat(fa, fb)
                dense(6)
            }");
        let r = regions(&net, true);
        // h is 8x8; a 3x3 pool reads 6 rows, a 2x2 pool all 8.
        assert_eq!(r.out[0], [8, 8, 2]);
        assert_eq!(r.reads[1], [[6, 6, 2]]);
        assert_eq!(r.reads[3], [[8, 8, 2]]);
    }
}
