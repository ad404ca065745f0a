// Two same-padded 64-filter convolutions of a 1024x1024 image need 1.5e9
// workspace elements per sample.
nnc::network! {
    network Wide(image: [1024, 1024, 3]) -> [10] {
        conv2d(64, 3, padding = same) relu
        conv2d(64, 3, padding = same) relu
        global_avg_pool2d
        dense(10)
    }
}

fn main() {}
