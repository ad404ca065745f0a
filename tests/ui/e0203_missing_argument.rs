nnc::network! {
    network Net(x: [4]) -> [2] {
        dense
    }
}

fn main() {}
