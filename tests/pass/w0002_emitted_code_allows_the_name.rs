// Code emitted for lowercase network names (`nnc emit`, build scripts) is
// an ordinary source file, where rustc's own `non_camel_case_types` would
// point at generated code: the struct allows it, and the checker's W0002
// names the spec's line instead. `compiletest.rs` writes the file and
// passes its path in `NNC_EMITTED_LOWERCASE`.
#![deny(non_camel_case_types)]

mod emitted {
    include!(env!("NNC_EMITTED_LOWERCASE"));
}

fn main() {
    let y: [f32; 2] = emitted::mlp::new(0).predict_one(&[0.5; 4]);
    assert!((y[0] + y[1] - 1.0).abs() < 1e-5);
    let _ = emitted::std::new(0);
    let _ = emitted::my_net2::new(0);
}
