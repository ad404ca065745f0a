// 2^24 inputs times 2^24 units: 2.8e14 parameters, far past 2^31.
nnc::network! {
    network Huge(x: [16777216]) -> [10] {
        dense(16777216) relu
        dense(10)
    }
}

fn main() {}
