nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(2)
        dropout(0.1, 0.2)
    }
}

fn main() {}
