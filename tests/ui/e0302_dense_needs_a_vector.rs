nnc::network! {
    network Mnist(image: [28, 28]) -> [10] {
        dense(128) relu
        dense(10) softmax
    }
}

fn main() {
    // No follow-on errors about `Mnist` itself: only the spec's error is reported.
    let mut net = Mnist::new(0);
    let _ = net.predict_one(&[[0.0; 28]; 28]);
}
