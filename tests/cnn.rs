//! Generated convolutional networks: weights in Keras' kernel layout
//! (`[KH, KW, C_in, C_out]`) written by hand into a safetensors file give
//! the outputs of a direct convolution computed here, and `predict_one`
//! (arrays checked by rustc) agrees with `predict` on a batch.

use nnc::ndarray::{Array4, ArrayD, IxDyn};
use nnc::Model;

nnc::network! {
    /// Valid padding, a rectangular kernel, two channels in and out.
    network Valid(x: [5, 6, 2]) -> [3, 5, 2] {
        conv2d(2, [3, 2])
    }

    /// `same` padding with stride 2 and an even kernel, then relu.
    network Strided(x: [5, 6, 2]) -> [3, 3, 2] {
        conv2d(2, [3, 2], stride = 2, padding = same) relu
    }

    network Small(image: [12, 12, 1]) -> [3] {
        conv2d(4, 3) relu
        max_pool2d(2)
        conv2d(6, 2, padding = same) gelu
        avg_pool2d(2)
        flatten
        dense(3) softmax
    }
}

/// A kernel with a closed form: `w[kh, kw, ci, co] = (kh + 2kw - ci)(co + 1)/10`.
fn kernel(kh: usize, kw: usize, ci: usize, co: usize) -> f32 {
    (kh as f32 + 2.0 * kw as f32 - ci as f32) * (co as f32 + 1.0) / 10.0
}

const BIAS: [f32; 2] = [0.5, -0.25];

/// A safetensors file holding `tensors` (name, shape, values), written here
/// byte by byte (8-byte little-endian header length, JSON header, data).
fn safetensors(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = Vec::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.push(format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape:?},\"data_offsets\":[{start},{}]}}",
            data.len()
        ));
    }
    let mut json = format!("{{{}}}", header.join(","));
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// The Keras-layout kernel `[3, 2, 2, 2]` row-major, and the file.
fn keras_file(name: &str) -> std::path::PathBuf {
    let mut w = Vec::new();
    for kh in 0..3 {
        for kw in 0..2 {
            for ci in 0..2 {
                for co in 0..2 {
                    w.push(kernel(kh, kw, ci, co));
                }
            }
        }
    }
    let bytes = safetensors(&[
        ("conv2d1.weight", vec![3, 2, 2, 2], w),
        ("conv2d1.bias", vec![2], BIAS.to_vec()),
    ]);
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The definition: `y[i, oh, ow, co] = b[co] + Σ x[i, oh·s + kh - pt, ow·s + kw - pl, ci] w[kh, kw, ci, co]`.
fn direct(x: &Array4<f32>, stride: usize, pad: (usize, usize), out: (usize, usize)) -> Array4<f32> {
    let (n, h, w, c) = x.dim();
    Array4::from_shape_fn((n, out.0, out.1, 2), |(i, oh, ow, co)| {
        let mut s = BIAS[co];
        for kh in 0..3 {
            for kw in 0..2 {
                let (ih, iw) = (
                    (oh * stride + kh) as isize - pad.0 as isize,
                    (ow * stride + kw) as isize - pad.1 as isize,
                );
                if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                    continue;
                }
                for ci in 0..c {
                    s += x[[i, ih as usize, iw as usize, ci]] * kernel(kh, kw, ci, co);
                }
            }
        }
        s
    })
}

fn image(n: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, 5, 6, 2), |(i, h, w, c)| {
        ((i * 7 + h * 3 + w * 5 + c * 11) % 13) as f32 / 6.0 - 1.0
    })
}

#[test]
fn keras_layout_weights_give_a_direct_convolution() {
    let x = image(2);
    let mut valid = Valid::new(0);
    nnc::io::load_weights(keras_file("keras_valid.safetensors"), &mut valid).unwrap();
    let got = valid
        .forward(x.view().into_dyn(), false)
        .unwrap()
        .to_owned();
    let want = direct(&x, 1, (0, 0), (3, 5));
    assert_eq!(got.shape(), want.shape());
    for (a, b) in got.iter().zip(want.iter()) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }

    // `same` with stride 2 on 5 rows: out 3, pad 1 above and 1 below; on
    // 6 columns with a 2-wide kernel: out 3, no padding needed.
    let mut strided = Strided::new(0);
    nnc::io::load_weights(keras_file("keras_strided.safetensors"), &mut strided).unwrap();
    let got = strided
        .forward(x.view().into_dyn(), false)
        .unwrap()
        .to_owned();
    let want = direct(&x, 2, (1, 0), (3, 3)).mapv(|v| v.max(0.0));
    for (a, b) in got.iter().zip(want.iter()) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // predict_one reads the same weights.
    let one: [[[f32; 2]; 6]; 5] =
        std::array::from_fn(|h| std::array::from_fn(|w| std::array::from_fn(|c| x[[0, h, w, c]])));
    let y = strided.predict_one(&one);
    for (a, b) in y.iter().zip(want.iter()) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn predict_one_equals_predict_row_0() {
    let mut net = Small::new(5);
    let x = ArrayD::from_shape_fn(IxDyn(&[4, 12, 12, 1]), |i| {
        ((i[0] * 31 + i[1] * 7 + i[2] * 3) % 17) as f32 / 8.0 - 1.0
    });
    let one: [[[f32; 1]; 12]; 12] =
        std::array::from_fn(|h| std::array::from_fn(|w| [x[[0, h, w, 0]]]));
    let single = net.predict_one(&one);
    let batch = net
        .predict(x.view().into_dimensionality().unwrap())
        .unwrap()
        .to_owned();
    for (a, b) in single.iter().zip(batch.row(0)) {
        assert!((a - b).abs() <= 1e-6, "{single:?} vs {batch}");
    }
    assert!(single.iter().all(|p| *p > 0.0));
}
