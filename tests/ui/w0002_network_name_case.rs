// Warnings are errors here, so that the test sees W0002 on each name.
#![deny(deprecated)]

nnc::network! {
    network mlp(x: [4]) -> [2] { dense(2) softmax }
    network my_net(x: [4]) -> [2] { dense(2) }
    network Mnist_Cnn(x: [4]) -> [2] { dense(2) }
    network CamelCase(x: [4]) -> [2] { dense(2) }
    train my_net { loss mse }
}

fn main() {}
