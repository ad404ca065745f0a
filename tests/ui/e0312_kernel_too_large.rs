nnc::network! {
    network Cnn(image: [4, 6, 1]) -> [2] {
        conv2d(8, 5) relu
        flatten
        dense(2)
    }
}

fn main() {
    let _ = Cnn::new(0);
}
