// An activation right after `dense` is fused into it, so it cannot be
// named: the message says so and how to keep it apart.
nnc::network! {
    network Net(x: [4]) -> [2] {
        dense(2, name = "logits")
        softmax(name = "probabilities")
    }
}

fn main() {}
