//! Wide layers do not overflow a thread's stack: `new()` builds parameters
//! without row temporaries, and `predict_one` keeps large layer outputs in
//! heap scratch allocated once (an output above 16,384 elements comes back
//! boxed). Each runs on a thread with a 256 KiB stack, where one
//! `dense(600000)` output alone (2.4 MB) used to abort the process.

use nnc::ndarray::Array2;

nnc::network! {
    network Wide(x: [4]) -> [3] {
        dense(600000) relu
        dense(3) softmax
    }

    network WideOut(x: [4]) -> [100000] {
        dense(100000) tanh
    }

    network WideImage(image: [64, 64, 3]) -> [4] {
        conv2d(16, 3, padding = same) relu
        max_pool2d(2)
        flatten
        dense(4)
    }

    network Small(x: [4]) -> [3] {
        dense(8) relu
        dense(3) softmax
    }
}

const STACK: usize = 256 * 1024;

/// Runs `f` on a thread with a small stack; a stack overflow aborts the
/// whole test binary, so reaching the assertion is the test.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `predict_one` agrees with `predict` (both run on `net`'s weights).
fn close(one: &[f32], batch: &[f32]) {
    assert_eq!(one.len(), batch.len());
    for (a, b) in one.iter().zip(batch) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn a_wide_dense_layer_builds_and_predicts_on_a_small_stack() {
    let x = [0.5f32, -0.25, 1.0, 0.125];
    let (one, net) = on_small_stack(move || {
        let net = Wide::new(7);
        (net.predict_one(&x), net)
    });
    assert!((one.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{one:?}");
    let mut net = net;
    let batch = net
        .predict(Array2::from_shape_vec((1, 4), x.to_vec()).unwrap().view())
        .unwrap()
        .to_owned();
    close(&one, batch.as_slice().unwrap());
}

#[test]
fn a_wide_output_is_returned_boxed() {
    let x = [0.5f32, -0.25, 1.0, 0.125];
    let (one, mut net) = on_small_stack(move || {
        let net = WideOut::new(3);
        let y: Box<[f32; 100000]> = net.predict_one(&x);
        (y, net)
    });
    let batch = net
        .predict(Array2::from_shape_vec((1, 4), x.to_vec()).unwrap().view())
        .unwrap()
        .to_owned();
    close(&one[..], batch.as_slice().unwrap());
}

#[test]
fn a_wide_convolution_predicts_on_a_small_stack() {
    let image = Box::new([[[0.25f32; 3]; 64]; 64]);
    let (one, mut net) = on_small_stack(move || {
        let net = WideImage::new(5);
        (net.predict_one(&image), net)
    });
    let x = nnc::ndarray::Array4::from_elem((1, 64, 64, 3), 0.25f32);
    let batch = net.predict(x.view()).unwrap().to_owned();
    close(&one, batch.as_slice().unwrap());
}

#[test]
fn small_networks_keep_predict_one_on_the_stack() {
    // Nothing locked or boxed: the plain array comes back.
    let y: [f32; 3] = on_small_stack(|| Small::new(1).predict_one(&[1.0, 2.0, 3.0, 4.0]));
    assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    // That its code has no lock is checked in `tests/compile/codegen.rs`
    // (`small_networks_emit_no_lock`), which has the compiler at hand.
}
