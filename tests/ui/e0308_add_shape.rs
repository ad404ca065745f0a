nnc::network! {
    network A(x: [4]) -> [8] {
        let h = dense(8) relu
        add(h, x)
    }
}

fn main() {}
