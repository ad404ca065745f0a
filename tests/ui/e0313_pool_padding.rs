nnc::network! {
    network Cnn(image: [8, 8, 1]) -> [1] {
        avg_pool2d(2, padding = 2)
        global_avg_pool2d
    }
}

fn main() {
    let _ = Cnn::new(0);
}
