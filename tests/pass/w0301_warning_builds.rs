// W0301 (a pool that drops a row and a column) is a warning: the network builds.
nnc::network! {
    network Cnn(image: [28, 28, 1]) -> [10] {
        conv2d(32, 4) relu
        max_pool2d(3)
        flatten
        dense(10)
    }
}

fn main() {
    let net = Cnn::new(0);
    let y: [f32; 10] = net.predict_one(&[[[0.5; 1]; 28]; 28]);
    assert!(y.iter().all(|v| v.is_finite()));
}
