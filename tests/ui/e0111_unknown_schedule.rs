nnc::network! {
    network Net(x: [4]) -> [3] {
        dense(8) relu
        dense(3) softmax
    }

    train Net {
        loss     categorical_crossentropy
        schedule cosin(min_lr = 1e-5)
    }
}

fn main() {}
