nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Nett {
        loss      mse
        optimizer sgd
    }
}

fn main() {}
