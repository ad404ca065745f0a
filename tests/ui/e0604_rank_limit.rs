// A rank-6 input: with the batch axis, `predict` would need a rank-7 view.
nnc::network! {
    network Deep(x: [2, 2, 2, 2, 2, 2]) -> [64] {
        flatten
    }
}

fn main() {}
