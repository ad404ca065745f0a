nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Net {
        loss      mean_squared
        optimizer sgd
    }
}

fn main() {}
