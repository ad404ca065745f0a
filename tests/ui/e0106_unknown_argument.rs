nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(2, unit = 3)
    }
}

fn main() {}
