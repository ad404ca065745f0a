nnc::network! {
    network Digits(x: [64]) -> [10] {
        dense(32) relu
        dense(10) softmax
    }

    train Digits {
        loss      sparse_categorical_crossentropy(from_logits = true)
        optimizer adam
    }
}

fn main() {}
