// Generated names are `<layer>__<suffix>`: a name with `__` is rejected on
// its own span, not left to collide in rustc.
nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(8, name = "hidden__1") relu
        dense(2)
    }
}

fn main() {}
