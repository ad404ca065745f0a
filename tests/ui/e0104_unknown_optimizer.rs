nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Net {
        loss      mse
        optimizer adamm(lr = 1e-3)
    }
}

fn main() {}
