nnc::network! {
    network Net(x: [4]) -> [2] {
        dense("two")
    }
}

fn main() {}
