// Warnings are errors here, so that the test sees W0003 on the user's tokens.
#![deny(deprecated)]

nnc::network! {
    network Block(x: [8]) -> [8] {
        let h = dense(8) relu
        dense(8) relu
        add(h, h)
    }
}

fn main() {}
