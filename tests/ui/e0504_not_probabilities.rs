nnc::network! {
    network Digits(x: [64]) -> [10] {
        dense(32) relu
        dense(10)
    }

    train Digits {
        loss      categorical_crossentropy
        optimizer adam
    }
}

fn main() {}
