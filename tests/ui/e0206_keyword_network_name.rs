// A keyword as the network's name: the spec's own error, not rustc's
// suggestion to write `r#match`.
nnc::network! {
    network match(x: [4]) -> [2] {
        dense(2)
    }
}

fn main() {}
