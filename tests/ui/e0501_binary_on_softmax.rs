nnc::network! {
    network Digits(x: [64]) -> [10] {
        dense(32) relu
        dense(10) softmax
    }

    train Digits {
        loss      binary_crossentropy
        optimizer adam
    }
}

fn main() {}
