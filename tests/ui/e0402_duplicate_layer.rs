nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(8, name = "hidden") relu
        dense(2, name = "hidden")
    }
}

fn main() {}
