// A rate that is below 1 as written but 1.0 as the f32 it becomes.
nnc::network! {
    network Net(x: [4]) -> [4] {
        dropout(0.99999999)
    }
}

fn main() {}
