// Inline specs, used through the generated API.
use nnc::Model;

nnc::network! {
    network Mnist(image: [28, 28]) -> [10] {
        flatten
        dense(64) relu
        dense(32) relu
        dense(32) relu
        dense(10) softmax
    }

    train Mnist {
        loss      sparse_categorical_crossentropy
        optimizer rmsprop(lr = 1e-3)
        batch     64
    }

    /// Documented network.
    network Tiny(x: [2]) -> [2] {
        dense(3) sigmoid
        dense(2) softmax
    }
}


fn main() {
    let tiny = Tiny::new(0);
    let p: [f32; 2] = tiny.predict_one(&[0.5, -0.5]);
    assert!((p[0] + p[1] - 1.0).abs() < 1e-6);
    let mnist = Mnist::new(1);
    assert_eq!(Mnist::INPUT_SHAPE, [28, 28]);
    assert_eq!(mnist.input_shape(), &[28, 28]);
    assert_eq!(Mnist::train_config().batch_size, 64);
    let y: [f32; 10] = mnist.predict_one(&[[0.0; 28]; 28]);
    assert_eq!(y.len(), 10);
    assert_eq!(mnist.layers().len(), 5);
    assert!(Mnist::SUMMARY.contains("Total params: 53,706"));
}
