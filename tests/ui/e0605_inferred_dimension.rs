// `-1` would be 2^26, above the largest dimension 2^24.
nnc::network! {
    network Long(x: [8192, 8192]) -> [4096, 16384] {
        reshape([-1])
        reshape([4096, 16384])
    }
}

fn main() {}
