// A network named like a primitive type would shadow it in this module.
nnc::network! {
    network f32(x: [4]) -> [2] {
        dense(2)
    }
}

fn main() {}
