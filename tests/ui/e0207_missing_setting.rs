nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Net {
        optimizer sgd
    }
}

fn main() {}
