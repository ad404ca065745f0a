nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(2, l2 = 0.1, l2 = 0.2)
    }
}

fn main() {}
