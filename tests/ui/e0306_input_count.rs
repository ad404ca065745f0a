nnc::network! {
    network Net(a: [4], b: [4]) -> [2] {
        dense(2)
    }
}

fn main() {}
