nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Net {
        loss      mse
        optimizer sgd
        batch_size 32
    }
}

fn main() {}
