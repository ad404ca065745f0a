nnc::network! {
    network A(x: [4]) -> [4] {
        let h = dense(4) relu
        add(h, g)
    }
}

fn main() {}
