//! Values as Rust tokens for generated code (feature `tokens`).
//!
//! Each type implements [`ToTokens`] with its full path through the `nnc`
//! facade (`::nnc::init::Init::HeNormal`), so generated code names the same
//! values the runtime defines, without the compiler keeping a copy.
//! [`Activation::tokens_at`] writes an activation under a shorter path for
//! code that imports the type.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, ToTokens};

use crate::graph::{Graph, Node, Op, Padding, PoolKind, Source};
use crate::{Activation, EarlyStopping, EpsPlacement, Init, Loss, Metric, Optimizer, Schedule};

fn f32_lit(v: f32) -> Literal {
    Literal::f32_suffixed(v)
}

fn usize_lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

impl Activation {
    /// The activation as a value of the type at `path` (e.g. `Activation`
    /// where the generated code has imported it).
    pub fn tokens_at(self, path: &TokenStream) -> TokenStream {
        match self {
            Activation::Linear => quote!(#path::Linear),
            Activation::Sigmoid => quote!(#path::Sigmoid),
            Activation::Tanh => quote!(#path::Tanh),
            Activation::Relu => quote!(#path::Relu),
            Activation::LeakyRelu { alpha } => {
                let a = f32_lit(alpha);
                quote!(#path::LeakyRelu { alpha: #a })
            }
            Activation::Elu { alpha } => {
                let a = f32_lit(alpha);
                quote!(#path::Elu { alpha: #a })
            }
            Activation::Gelu => quote!(#path::Gelu),
            Activation::Softplus => quote!(#path::Softplus),
            Activation::Softmax => quote!(#path::Softmax),
            Activation::GeluExact => quote!(#path::GeluExact),
        }
    }
}

impl ToTokens for Activation {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.tokens_at(&quote!(::nnc::Activation)));
    }
}

impl ToTokens for Init {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Init::Zeros => quote!(::nnc::init::Init::Zeros),
            Init::Ones => quote!(::nnc::init::Init::Ones),
            Init::Constant(v) => {
                let v = f32_lit(v);
                quote!(::nnc::init::Init::Constant(#v))
            }
            Init::Normal { mean, std } => {
                let (m, s) = (f32_lit(mean), f32_lit(std));
                quote!(::nnc::init::Init::Normal { mean: #m, std: #s })
            }
            Init::Uniform { low, high } => {
                let (l, h) = (f32_lit(low), f32_lit(high));
                quote!(::nnc::init::Init::Uniform { low: #l, high: #h })
            }
            Init::GlorotUniform => quote!(::nnc::init::Init::GlorotUniform),
            Init::GlorotNormal => quote!(::nnc::init::Init::GlorotNormal),
            Init::HeUniform => quote!(::nnc::init::Init::HeUniform),
            Init::HeNormal => quote!(::nnc::init::Init::HeNormal),
            Init::LecunNormal => quote!(::nnc::init::Init::LecunNormal),
        });
    }
}

impl ToTokens for Loss {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Loss::Mse => quote!(::nnc::loss::Loss::Mse),
            Loss::Mae => quote!(::nnc::loss::Loss::Mae),
            Loss::Huber { delta } => {
                let d = f32_lit(delta);
                quote!(::nnc::loss::Loss::Huber { delta: #d })
            }
            Loss::BinaryCrossentropy { from_logits } => {
                quote!(::nnc::loss::Loss::BinaryCrossentropy { from_logits: #from_logits })
            }
            Loss::CategoricalCrossentropy { from_logits } => {
                quote!(::nnc::loss::Loss::CategoricalCrossentropy { from_logits: #from_logits })
            }
            Loss::SparseCategoricalCrossentropy { from_logits } => {
                quote!(::nnc::loss::Loss::SparseCategoricalCrossentropy { from_logits: #from_logits })
            }
        });
    }
}

impl ToTokens for Optimizer {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                nesterov,
            } => {
                let (lr, m) = (f32_lit(lr), f32_lit(momentum));
                quote!(::nnc::optim::Optimizer::Sgd { lr: #lr, momentum: #m, nesterov: #nesterov })
            }
            Optimizer::Adagrad {
                lr,
                initial_accumulator,
                epsilon,
                eps_placement: p,
            } => {
                let (lr, a, e) = (f32_lit(lr), f32_lit(initial_accumulator), f32_lit(epsilon));
                quote!(::nnc::optim::Optimizer::Adagrad { lr: #lr, initial_accumulator: #a, epsilon: #e, eps_placement: #p })
            }
            Optimizer::Adadelta { lr, rho, epsilon } => {
                let (lr, r, e) = (f32_lit(lr), f32_lit(rho), f32_lit(epsilon));
                quote!(::nnc::optim::Optimizer::Adadelta { lr: #lr, rho: #r, epsilon: #e })
            }
            Optimizer::RmsProp {
                lr,
                rho,
                momentum,
                epsilon,
                eps_placement: p,
            } => {
                let (lr, r, m, e) = (
                    f32_lit(lr),
                    f32_lit(rho),
                    f32_lit(momentum),
                    f32_lit(epsilon),
                );
                quote!(::nnc::optim::Optimizer::RmsProp { lr: #lr, rho: #r, momentum: #m, epsilon: #e, eps_placement: #p })
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
                eps_placement: p,
            } => {
                let (lr, b1, b2, e) = (
                    f32_lit(lr),
                    f32_lit(beta1),
                    f32_lit(beta2),
                    f32_lit(epsilon),
                );
                quote!(::nnc::optim::Optimizer::Adam { lr: #lr, beta1: #b1, beta2: #b2, epsilon: #e, eps_placement: #p })
            }
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                epsilon,
                eps_placement: p,
                weight_decay,
            } => {
                let (lr, b1, b2, e, wd) = (
                    f32_lit(lr),
                    f32_lit(beta1),
                    f32_lit(beta2),
                    f32_lit(epsilon),
                    f32_lit(weight_decay),
                );
                quote!(::nnc::optim::Optimizer::AdamW { lr: #lr, beta1: #b1, beta2: #b2, epsilon: #e, eps_placement: #p, weight_decay: #wd })
            }
        });
    }
}

impl ToTokens for EpsPlacement {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            EpsPlacement::Keras => quote!(::nnc::optim::EpsPlacement::Keras),
            EpsPlacement::PyTorch => quote!(::nnc::optim::EpsPlacement::PyTorch),
        });
    }
}

impl ToTokens for Schedule {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Schedule::Constant => quote!(::nnc::optim::Schedule::Constant),
            Schedule::Step { every, factor } => {
                let (e, f) = (usize_lit(every), f32_lit(factor));
                quote!(::nnc::optim::Schedule::Step { every: #e, factor: #f })
            }
            Schedule::Exponential { rate } => {
                let r = f32_lit(rate);
                quote!(::nnc::optim::Schedule::Exponential { rate: #r })
            }
            Schedule::Cosine { epochs, min_lr } => {
                let (e, m) = (usize_lit(epochs), f32_lit(min_lr));
                quote!(::nnc::optim::Schedule::Cosine { epochs: #e, min_lr: #m })
            }
        });
    }
}

impl ToTokens for Metric {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Metric::Accuracy => quote!(::nnc::metrics::Metric::Accuracy),
            Metric::BinaryAccuracy { threshold } => {
                let t = f32_lit(threshold);
                quote!(::nnc::metrics::Metric::BinaryAccuracy { threshold: #t })
            }
            Metric::Mse => quote!(::nnc::metrics::Metric::Mse),
            Metric::Mae => quote!(::nnc::metrics::Metric::Mae),
        });
    }
}

impl ToTokens for EarlyStopping {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let EarlyStopping {
            monitor,
            patience,
            min_delta,
            restore_best_weights,
        } = self;
        let (patience, min_delta) = (usize_lit(*patience), f32_lit(*min_delta));
        tokens.extend(quote!(::nnc::train::EarlyStopping {
            monitor: #monitor.to_string(),
            patience: #patience,
            min_delta: #min_delta,
            restore_best_weights: #restore_best_weights,
        }));
    }
}

fn pair(v: [usize; 2]) -> TokenStream {
    let (a, b) = (usize_lit(v[0]), usize_lit(v[1]));
    quote!([#a, #b])
}

fn opt_string(v: &Option<String>) -> TokenStream {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s.to_string())),
        None => quote!(::core::option::Option::None),
    }
}

impl ToTokens for Padding {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Padding::Valid => quote!(::nnc::graph::Padding::Valid),
            Padding::Same => quote!(::nnc::graph::Padding::Same),
            Padding::Explicit(n) => {
                let n = usize_lit(n);
                quote!(::nnc::graph::Padding::Explicit(#n))
            }
        });
    }
}

impl ToTokens for Source {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match *self {
            Source::Input => quote!(::nnc::graph::Source::Input),
            Source::Node(i) => {
                let i = usize_lit(i);
                quote!(::nnc::graph::Source::Node(#i))
            }
        });
    }
}

impl ToTokens for Op {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Op::Dense {
                units,
                weight,
                bias,
                activation,
            } => {
                let (units, bias) = (usize_lit(*units), opt_string(bias));
                quote!(::nnc::graph::Op::Dense {
                    units: #units,
                    weight: #weight.to_string(),
                    bias: #bias,
                    activation: #activation,
                })
            }
            Op::Activation(a) => quote!(::nnc::graph::Op::Activation(#a)),
            Op::Dropout { rate } => {
                let rate = f32_lit(*rate);
                quote!(::nnc::graph::Op::Dropout { rate: #rate })
            }
            Op::Flatten => quote!(::nnc::graph::Op::Flatten),
            Op::Reshape => quote!(::nnc::graph::Op::Reshape),
            Op::Conv2d {
                filters,
                kernel,
                strides,
                padding,
                weight,
                bias,
                activation,
            } => {
                let (filters, kernel, strides, bias) = (
                    usize_lit(*filters),
                    pair(*kernel),
                    pair(*strides),
                    opt_string(bias),
                );
                quote!(::nnc::graph::Op::Conv2d {
                    filters: #filters,
                    kernel: #kernel,
                    strides: #strides,
                    padding: #padding,
                    weight: #weight.to_string(),
                    bias: #bias,
                    activation: #activation,
                })
            }
            Op::Pool2d {
                kind,
                size,
                strides,
                padding,
            } => {
                let kind = match kind {
                    PoolKind::Max => quote!(::nnc::graph::PoolKind::Max),
                    PoolKind::Avg => quote!(::nnc::graph::PoolKind::Avg),
                };
                let (size, strides) = (pair(*size), pair(*strides));
                quote!(::nnc::graph::Op::Pool2d {
                    kind: #kind,
                    size: #size,
                    strides: #strides,
                    padding: #padding,
                })
            }
            Op::GlobalAvgPool2d => quote!(::nnc::graph::Op::GlobalAvgPool2d),
            Op::Add => quote!(::nnc::graph::Op::Add),
            Op::Concat => quote!(::nnc::graph::Op::Concat),
        });
    }
}

impl ToTokens for Graph {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Graph {
            name,
            spec,
            input_name,
            input_shape,
            nodes,
            result,
        } = self;
        let dims = |s: &[usize]| {
            let d = s.iter().map(|&d| usize_lit(d));
            quote!(vec![#(#d),*])
        };
        let input_shape = dims(input_shape);
        let nodes = nodes.iter().map(|n| {
            let Node {
                name,
                op,
                inputs,
                output,
            } = n;
            let output = dims(output);
            quote!(::nnc::graph::Node {
                name: #name.to_string(),
                op: #op,
                inputs: vec![#(#inputs),*],
                output: #output,
            })
        });
        tokens.extend(quote!(::nnc::graph::Graph {
            name: #name.to_string(),
            spec: #spec.to_string(),
            input_name: #input_name.to_string(),
            input_shape: #input_shape,
            nodes: vec![#(#nodes),*],
            result: #result,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_name_the_facade_paths() {
        let t = |v: &dyn ToTokens| v.to_token_stream().to_string();
        assert_eq!(
            t(&Activation::LeakyRelu { alpha: 0.5 }),
            ":: nnc :: Activation :: LeakyRelu { alpha : 0.5f32 }"
        );
        assert_eq!(t(&Init::HeNormal), ":: nnc :: init :: Init :: HeNormal");
        assert_eq!(
            t(&Schedule::Exponential { rate: 0.9 }),
            ":: nnc :: optim :: Schedule :: Exponential { rate : 0.9f32 }"
        );
        assert!(t(&Optimizer::default()).starts_with(":: nnc :: optim :: Optimizer :: Adam {"));
    }
}
