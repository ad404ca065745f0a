nnc::network! {
    network Net(x: [12]) -> [5, 3] {
        reshape([5, 3])
    }
}

fn main() {}
