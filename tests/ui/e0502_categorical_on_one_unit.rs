nnc::network! {
    network Spam(x: [20]) -> [1] {
        dense(8) relu
        dense(1) sigmoid
    }

    train Spam {
        loss      categorical_crossentropy
        optimizer adam
    }
}

fn main() {}
