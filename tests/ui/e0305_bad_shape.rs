nnc::network! {
    network Net(x: [4, 0]) -> [2] {
        flatten
        dense(2)
    }
}

fn main() {}
