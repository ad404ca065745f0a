// Warnings are errors here, so that the test sees W0001 on the user's tokens.
#![deny(deprecated)]

nnc::network! {
    network A(x: [4]) -> [2] {
        let h = dense(8) relu
        let unused = dense(8) tanh
        h >> dense(2)
    }
}

fn main() {}
