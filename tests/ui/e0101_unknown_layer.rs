nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(8) relu
        desne(2)
    }
}

fn main() {}
