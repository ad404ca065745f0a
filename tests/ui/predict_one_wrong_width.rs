// A sample of the wrong width is a rustc type error, not a run-time check.
nnc::network! {
    network Tiny(x: [2]) -> [2] {
        dense(3) sigmoid
        dense(2) softmax
    }
}

fn main() {
    let net = Tiny::new(0);
    let _ = net.predict_one(&[1.0, 2.0, 3.0]);
}
