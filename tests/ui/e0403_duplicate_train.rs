nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    train Net { loss mse optimizer sgd }
    train Net { loss mae optimizer adam }
}

fn main() {}
