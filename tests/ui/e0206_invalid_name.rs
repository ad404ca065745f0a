nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(2, name = "first layer")
    }
}

fn main() {}
