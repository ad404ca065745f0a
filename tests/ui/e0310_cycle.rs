nnc::network! {
    network A(x: [4]) -> [4] {
        let a = b >> dense(4) relu
        let b = dense(4) relu
        add(a, b)
    }
}

fn main() {}
