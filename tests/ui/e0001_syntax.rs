nnc::network! {
    network Broken(x: [2]) [2] {
        dense(2)
    }
}

fn main() {}
