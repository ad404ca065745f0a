nnc::network! {
    network A(x: [2, 3]) -> [2, 5] {
        let h = x >> flatten
        concat(x, h)
    }
}

fn main() {}
