nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(8) relu
        dropout(1.5)
        dense(2)
    }
}

fn main() {}
