// `=>` where `->` goes: a help line says so.
nnc::network! {
    network Net(x: [4]) => [2] {
        dense(2)
    }
}

fn main() {}
