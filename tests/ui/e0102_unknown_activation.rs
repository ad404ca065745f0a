nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(8) relo
        dense(2)
    }
}

fn main() {}
