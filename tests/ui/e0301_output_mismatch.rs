nnc::network! {
    network Net(x: [4]) -> [3] {
        dense(8) relu
        dense(2)
    }
}

fn main() {}
