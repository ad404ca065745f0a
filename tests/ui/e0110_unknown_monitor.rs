nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Net {
        loss      mse
        optimizer sgd
        early_stopping(monitor = "val_acc")
    }
}

fn main() {}
