// Names that used to collide with generated code: networks named like
// types the code uses or like another network's generated items, layers
// named like workspace fields, locals and scratch buffers, and a `network!`
// block inside a function body.
use nnc::Model as _;

nnc::network! {
    network Box(x: [4]) -> [2] {
        dense(3, name = "x") relu
        dense(3, name = "rows") tanh
        dense(3, name = "d_x") gelu
        dense(3, name = "x_pre");
        gelu(name = "x_mask")
        dropout(0.1, name = "one")
        dense(3, name = "one_rest") relu
        dense(3, name = "p")
        dense(2, name = "y") softmax
    }
    network BoxParams(x: [4]) -> [2] { dense(2, name = "Box") }
    network Vec(x: [4]) -> [2] { dense(2, name = "ws") }
    network Option(x: [4]) -> [2] { dense(2, name = "self_") }
    network Result(x: [4]) -> [2] { dense(2, name = "n") }
    network Model(x: [4]) -> [2] { dense(2, name = "training") }
    network Activation(x: [4]) -> [2] { dense(2, name = "kernels") }
    network String(input: [4]) -> [4] {
        let h = dense(4, name = "s") relu
        let g = dense(4, name = "h") relu
        add(h, g, name = "g")
    }
}

fn main() {
    nnc::network! {
        network Local(x: [4]) -> [2] { dense(2, name = "INPUT_SHAPE") softmax }
    }
    let x = [0.1f32, 0.2, 0.3, 0.4];
    let b = Box::new(0);
    let y: [f32; 2] = b.predict_one(&x);
    assert!((y[0] + y[1] - 1.0).abs() < 1e-5);
    assert_eq!(BoxParams::new(0).predict_one(&x).len(), 2);
    assert_eq!(Vec::new(0).predict_one(&x).len(), 2);
    assert_eq!(Option::new(0).predict_one(&x).len(), 2);
    assert_eq!(Result::new(0).predict_one(&x).len(), 2);
    assert_eq!(Model::new(0).predict_one(&x).len(), 2);
    assert_eq!(Activation::new(0).predict_one(&x).len(), 2);
    assert_eq!(String::new(0).predict_one(&x).len(), 4);
    let local = Local::new(0);
    assert_eq!(local.layers()[0].name, "INPUT_SHAPE");
    let _ = local.predict_one(&x);
}
