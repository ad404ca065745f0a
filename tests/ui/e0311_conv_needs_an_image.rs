nnc::network! {
    network Cnn(image: [28, 28]) -> [10] {
        conv2d(32, 4) relu
        max_pool2d(3)
        flatten
        dense(10)
    }
}

fn main() {
    let net = Cnn::new(0);
    let _ = net.predict_one(&[[0.0; 28]; 28]);
}
