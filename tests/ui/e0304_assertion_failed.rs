nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(8) relu : [16]
        dense(2)
    }
}

fn main() {}
