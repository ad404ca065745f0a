nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(2, init = he_normall)
    }
}

fn main() {}
