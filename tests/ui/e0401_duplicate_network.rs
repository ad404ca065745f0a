nnc::network! {
    network Net(x: [4]) -> [1] {
        dense(1)
    }

    network Net(x: [2]) -> [1] {
        dense(1)
    }
}

fn main() {}
