//! Emission: a [`Plan`] → Rust tokens.
//!
//! For each network the generated code has:
//! - a struct `Name` holding parameters, their gradients, a workspace of
//!   activation buffers (allocated once for a batch size, reused after) and
//!   the dropout RNG;
//! - `Name::new(seed)` applying the spec's initialisers, shape constants, the
//!   summary, `predict` (batch, shape-checked at run time) and `predict_one`
//!   (one sample as fixed-size arrays, so a wrong width is a rustc error);
//! - an implementation of `nnc::Model`: straight-line forward and backward,
//!   each step one call to a runtime kernel with its sizes as constants;
//! - `Name::train_config()` from the spec's `train` block.
//!
//! Generated code names everything through the `::nnc` facade.

use crate::ir::{self, Activation, Init};
use crate::lower::{self, BufId, Plan, Step, Value};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Emits every network of a checked program.
pub fn emit_program(program: &ir::Program) -> TokenStream {
    let nets = program
        .networks
        .iter()
        .map(|net| emit_network(&lower::lower(net)));
    quote!(#(#nets)*)
}

/// Formats emitted tokens as Rust source with prettyplease.
pub fn format(tokens: TokenStream) -> Result<String, syn::Error> {
    let file: syn::File = syn::parse2(tokens)?;
    Ok(prettyplease::unparse(&file))
}

/// Local imports at the top of each generated function body, so the body
/// reads `kernels::dense::forward(ws.x.slice(s![..n, ..]), ...)` without
/// naming the user's module namespace.
fn prelude() -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use ::nnc::{
            kernels,
            ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2},
            Activation,
        };
    }
}

fn usize_lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

fn f32_lit(v: f32) -> Literal {
    Literal::f32_suffixed(v)
}

fn shape_tokens(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| usize_lit(d));
    quote!([#(#dims),*])
}

/// The runtime value of an activation.
fn activation(act: Activation) -> TokenStream {
    match act {
        Activation::Linear => quote!(Activation::Linear),
        Activation::Sigmoid => quote!(Activation::Sigmoid),
        Activation::Tanh => quote!(Activation::Tanh),
        Activation::Relu => quote!(Activation::Relu),
        Activation::LeakyRelu { alpha } => {
            let a = f32_lit(alpha);
            quote!(Activation::LeakyRelu { alpha: #a })
        }
        Activation::Elu { alpha } => {
            let a = f32_lit(alpha);
            quote!(Activation::Elu { alpha: #a })
        }
        Activation::Gelu => quote!(Activation::Gelu),
        Activation::Softplus => quote!(Activation::Softplus),
        Activation::Softmax => quote!(Activation::Softmax),
    }
}

/// The runtime value of an initialiser.
fn init(init: Init) -> TokenStream {
    match init {
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
    }
}

/// Emits one network.
pub fn emit_network(plan: &Plan<'_>) -> TokenStream {
    let net = plan.net;
    let name = format_ident!("{}", net.name);
    let params_ty = format_ident!("{}Params", net.name);
    let ws_ty = format_ident!("{}Workspace", net.name);
    let name_str = &net.name;

    let docs = struct_docs(plan);
    let params_struct = params_struct(plan, &params_ty);
    let ws_struct = workspace_struct(plan, &ws_ty);
    let inherent = inherent_impl(plan, &name, &params_ty, &ws_ty);
    let model = model_impl(plan, &name, &ws_ty);

    quote! {
        #docs
        pub struct #name {
            params: #params_ty,
            grads: #params_ty,
            ws: #ws_ty,
            rng: ::nnc::rng::Rng,
            /// Rows of the last forward pass, and whether it was a training pass.
            batch: usize,
            trained: bool,
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name_str).field("params", &Self::PARAM_COUNT).finish_non_exhaustive()
            }
        }

        #params_struct
        #ws_struct
        #inherent
        #model
    }
}

/// A `///` line's text as rustdoc expects it, with its leading space.
fn doc_line(text: &str) -> String {
    if text.is_empty() || text.starts_with(' ') {
        text.to_string()
    } else {
        format!(" {text}")
    }
}

fn struct_docs(plan: &Plan<'_>) -> TokenStream {
    let net = plan.net;
    let mut lines: Vec<String> = net.docs.iter().map(|l| doc_line(l)).collect();
    if !lines.is_empty() {
        lines.push(String::new());
    }
    lines.push(format!(
        " Generated by nnc from `network {}`: input `{:?}`, output `{:?}`, {} parameters.",
        net.name,
        net.input.shape,
        net.output,
        plan.param_count()
    ));
    lines.push(String::new());
    lines.push(" | layer | spec | output | params |".into());
    lines.push(" | --- | --- | --- | --- |".into());
    for layer in &net.layers {
        let n: usize = plan
            .params
            .iter()
            .filter(|p| p.name.starts_with(&format!("{}.", layer.name)))
            .map(|p| p.shape.iter().product::<usize>())
            .sum();
        let mut doc = layer.docs.join(" ");
        if !doc.is_empty() {
            doc = format!(" ({})", doc.trim());
        }
        lines.push(format!(
            " | `{}` | `{}`{} | `{:?}` | {} |",
            layer.name, layer.source, doc, layer.output, n
        ));
    }
    quote!(#(#[doc = #lines])*)
}

fn params_struct(plan: &Plan<'_>, ty: &syn::Ident) -> TokenStream {
    let fields = plan.params.iter().map(|p| {
        let ident = format_ident!("{}", p.ident);
        let doc = format!(" `{}`, shape `{:?}`.", p.name, p.shape);
        match p.shape[..] {
            [_, cols] => {
                let cols = usize_lit(cols);
                quote!(#[doc = #doc] #ident: Box<[[f32; #cols]]>)
            }
            _ => quote!(#[doc = #doc] #ident: Box<[f32]>),
        }
    });
    let zeros = plan.params.iter().map(|p| {
        let ident = format_ident!("{}", p.ident);
        match p.shape[..] {
            [rows, cols] => {
                let (rows, cols) = (usize_lit(rows), usize_lit(cols));
                quote!(#ident: vec![[0.0; #cols]; #rows].into_boxed_slice())
            }
            _ => {
                let len = usize_lit(p.shape.iter().product());
                quote!(#ident: vec![0.0; #len].into_boxed_slice())
            }
        }
    });
    quote! {
        /// Parameter tensors (also used for their gradients), row-major.
        #[derive(Clone)]
        struct #ty { #(#fields,)* }

        impl #ty {
            fn zeros() -> Self {
                Self { #(#zeros,)* }
            }
        }
    }
}

fn workspace_struct(plan: &Plan<'_>, ty: &syn::Ident) -> TokenStream {
    let mut fields = Vec::new();
    let mut inits = Vec::new();
    for buf in &plan.buffers {
        let width = usize_lit(buf.width);
        let mut names = vec![format_ident!("{}", buf.ident)];
        if buf.has_grad {
            names.push(format_ident!("d_{}", buf.ident));
        }
        for ident in names {
            let doc = format!(" `[rows, {}]`", buf.width);
            fields.push(quote!(#[doc = #doc] #ident: ::nnc::ndarray::Array2<f32>));
            inits.push(quote!(#ident: ::nnc::ndarray::Array2::zeros((rows, #width))));
        }
    }
    quote! {
        /// Activation, gradient and mask buffers for up to `rows` samples,
        /// planned at compile time and allocated when the batch grows.
        struct #ty {
            rows: usize,
            #(#fields,)*
        }

        impl #ty {
            fn with_rows(rows: usize) -> Self {
                Self { rows, #(#inits,)* }
            }
        }
    }
}

/// `ws.<buf>.slice(s![..n, ..])`
fn view(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("{}", plan.buffers[buf].ident);
    quote!(ws.#ident.slice(s![..n, ..]))
}

fn view_mut(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("{}", plan.buffers[buf].ident);
    quote!(ws.#ident.slice_mut(s![..n, ..]))
}

fn grad_view(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("d_{}", plan.buffers[buf].ident);
    quote!(ws.#ident.slice(s![..n, ..]))
}

fn grad_view_mut(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("d_{}", plan.buffers[buf].ident);
    quote!(ws.#ident.slice_mut(s![..n, ..]))
}

/// A value as a batch view in the forward pass (which buffer depends on the mode
/// only downstream of a dropout).
fn value_view(plan: &Plan<'_>, v: Value) -> TokenStream {
    if v.train == v.infer {
        view(plan, v.train)
    } else {
        let (t, i) = (view(plan, v.train), view(plan, v.infer));
        quote!(if training { #t } else { #i })
    }
}

fn param_view(plan: &Plan<'_>, p: usize) -> TokenStream {
    let ident = format_ident!("{}", plan.params[p].ident);
    if plan.params[p].shape.len() == 2 {
        quote!(ArrayView2::from(&*p.#ident))
    } else {
        quote!(ArrayView1::from(&*p.#ident))
    }
}

fn grad_param_view_mut(plan: &Plan<'_>, p: usize) -> TokenStream {
    let ident = format_ident!("{}", plan.params[p].ident);
    if plan.params[p].shape.len() == 2 {
        quote!(ArrayViewMut2::from(&mut *g.#ident))
    } else {
        quote!(ArrayViewMut1::from(&mut *g.#ident))
    }
}

fn flat(p: &lower::ParamPlan, owner: TokenStream) -> TokenStream {
    let ident = format_ident!("{}", p.ident);
    if p.shape.len() == 2 {
        quote!(#owner.#ident.as_flattened())
    } else {
        quote!(&#owner.#ident[..])
    }
}

fn flat_mut(p: &lower::ParamPlan, owner: TokenStream) -> TokenStream {
    let ident = format_ident!("{}", p.ident);
    if p.shape.len() == 2 {
        quote!(#owner.#ident.as_flattened_mut())
    } else {
        quote!(&mut #owner.#ident[..])
    }
}

fn forward_steps(plan: &Plan<'_>) -> Vec<TokenStream> {
    plan.steps
        .iter()
        .map(|step| {
            let input = value_view(plan, step.input());
            match step {
                Step::Dense {
                    w,
                    b,
                    act,
                    pre,
                    out,
                    ..
                } => {
                    let wv = param_view(plan, *w);
                    let bv = match b {
                        Some(b) => {
                            let bv = param_view(plan, *b);
                            quote!(Some(#bv))
                        }
                        None => quote!(None),
                    };
                    let act = activation(*act);
                    let pre = match pre {
                        Some(pre) => {
                            let v = view_mut(plan, *pre);
                            quote!(Some(#v))
                        }
                        None => quote!(None),
                    };
                    let outv = view_mut(plan, *out);
                    quote!(kernels::dense::forward(#input, #wv, #bv, #act, #pre, #outv);)
                }
                Step::Activation { act, out, .. } => {
                    let act = activation(*act);
                    let outv = view_mut(plan, *out);
                    quote!(kernels::act::forward(#act, #input, #outv);)
                }
                Step::Dropout {
                    rate, mask, out, ..
                } => {
                    let rate = f32_lit(*rate);
                    let (m, o) = (view_mut(plan, *mask), view_mut(plan, *out));
                    quote! {
                        if training {
                            kernels::dropout::forward(#rate, #input, #m, #o, rng);
                        }
                    }
                }
            }
        })
        .collect()
}

fn backward_steps(plan: &Plan<'_>) -> Vec<TokenStream> {
    let Some(first) = plan.backward_until else {
        return Vec::new();
    };
    let last = plan.steps.len() - 1;
    (first..plan.steps.len())
        .rev()
        .map(|i| {
            let step = &plan.steps[i];
            let input = step.input().train;
            let out = step.out();
            // The final activation is skipped when the loss handed us the
            // gradient at the logits (fused softmax/sigmoid + cross-entropy).
            let fused_out = i == last && plan.output.train == out;
            let skip_act = if fused_out { quote!(skip) } else { quote!(false) };
            let dx = if plan.needs_input_grad(i) {
                let v = grad_view_mut(plan, input);
                quote!(Some(#v))
            } else {
                quote!(None)
            };
            match step {
                Step::Dense { w, b, act, pre, l1, l2, .. } => {
                    let trainable = plan.params[*w].trainable;
                    let (xv, wv, yv) = (view(plan, input), param_view(plan, *w), view(plan, out));
                    let act = activation(*act);
                    let pre = match pre {
                        Some(pre) => {
                            let v = view(plan, *pre);
                            quote!(Some(#v))
                        }
                        None => quote!(None),
                    };
                    let dy = grad_view_mut(plan, out);
                    let (dw, db) = if trainable {
                        let dw = grad_param_view_mut(plan, *w);
                        let db = match b {
                            Some(b) => {
                                let v = grad_param_view_mut(plan, *b);
                                quote!(Some(#v))
                            }
                            None => quote!(None),
                        };
                        (quote!(Some(#dw)), db)
                    } else {
                        (quote!(None), quote!(None))
                    };
                    let penalty = if trainable && (*l1 != 0.0 || *l2 != 0.0) {
                        let (l1, l2) = (f32_lit(*l1), f32_lit(*l2));
                        let wv = param_view(plan, *w);
                        let gv = grad_param_view_mut(plan, *w);
                        quote!(kernels::penalty::add_grad(#l1, #l2, #wv, #gv);)
                    } else {
                        quote!()
                    };
                    quote! {
                        kernels::dense::backward(#xv, #wv, #act, #yv, #pre, #dy, #skip_act, #dw, #db, #dx);
                        #penalty
                    }
                }
                Step::Activation { act, .. } => {
                    let act = activation(*act);
                    let (xv, yv, dy) = (view(plan, input), view(plan, out), grad_view(plan, out));
                    let dxv = grad_view_mut(plan, input);
                    let call = quote!(kernels::act::backward(#act, Some(#xv), #yv, #dy, #dxv););
                    if fused_out {
                        let (dy2, dx2) = (grad_view(plan, out), grad_view_mut(plan, input));
                        quote! {
                            if skip {
                                #dx2.assign(&#dy2);
                            } else {
                                #call
                            }
                        }
                    } else {
                        call
                    }
                }
                Step::Dropout { mask, .. } => {
                    let (m, dy, dxv) = (view(plan, *mask), grad_view(plan, out), grad_view_mut(plan, input));
                    quote!(kernels::dropout::backward(#m, #dy, #dxv);)
                }
            }
        })
        .collect()
}

/// Single-sample inference on stack arrays: sizes are constants, nothing allocates.
fn predict_one_steps(plan: &Plan<'_>) -> (Vec<TokenStream>, TokenStream) {
    let local = |buf: BufId| {
        if buf == 0 {
            format_ident!("x")
        } else {
            format_ident!("h_{}", plan.buffers[buf].ident)
        }
    };
    let mut stmts = Vec::new();
    for step in &plan.steps {
        // `x` is already a slice; the stack arrays are borrowed.
        let input = match step.input().infer {
            0 => quote!(x),
            buf => {
                let h = local(buf);
                quote!(&#h)
            }
        };
        match step {
            Step::Dense { w, b, act, out, .. } => {
                let y = local(*out);
                let (inw, outw) = (
                    usize_lit(plan.params[*w].shape[0]),
                    usize_lit(plan.params[*w].shape[1]),
                );
                let wi = format_ident!("{}", plan.params[*w].ident);
                let bv = match b {
                    Some(b) => {
                        let bi = format_ident!("{}", plan.params[*b].ident);
                        quote!(Some(&p.#bi[..]))
                    }
                    None => quote!(None),
                };
                let act = activation(*act);
                stmts.push(quote! {
                    let mut #y = [0.0f32; #outw];
                    kernels::dense::forward_one::<#inw, #outw>(#input, &p.#wi, #bv, #act, &mut #y);
                });
            }
            Step::Activation { act, out, .. } => {
                let y = local(*out);
                let width = usize_lit(plan.buffers[*out].width);
                let act = activation(*act);
                stmts.push(quote! {
                    let mut #y = [0.0f32; #width];
                    kernels::act::forward_slice(#act, #input, &mut #y);
                });
            }
            Step::Dropout { .. } => {}
        }
    }
    if plan.output.infer == 0 {
        // No computing layer: the output is the (reshaped) input.
        let width = usize_lit(plan.output_width);
        stmts.push(quote! {
            let mut y = [0.0f32; #width];
            y.copy_from_slice(x);
        });
        return (stmts, quote!(y));
    }
    let result = local(plan.output.infer);
    (stmts, quote!(#result))
}

fn input_array_type(shape: &[usize]) -> TokenStream {
    shape.iter().rev().fold(quote!(f32), |inner, &d| {
        let d = usize_lit(d);
        quote!([#inner; #d])
    })
}

fn inherent_impl(
    plan: &Plan<'_>,
    name: &syn::Ident,
    params_ty: &syn::Ident,
    ws_ty: &syn::Ident,
) -> TokenStream {
    let net = plan.net;
    let in_shape = shape_tokens(&net.input.shape);
    let out_shape = shape_tokens(&net.output);
    let (in_rank, out_rank) = (
        usize_lit(net.input.shape.len()),
        usize_lit(net.output.len()),
    );
    let param_count = usize_lit(plan.param_count());
    let summary = crate::summary::summary(net).to_string();
    let out_width = usize_lit(plan.output_width);

    let inits = plan.params.iter().map(|p| {
        let i = init(p.init);
        let (fi, fo) = (usize_lit(p.fan_in), usize_lit(p.fan_out));
        let dst = flat_mut(p, quote!(params));
        quote!(::nnc::init::fill(#i, #fi, #fo, #dst, &mut rng);)
    });

    // `&[[f32; 28]; 28]` is flattened to `&[f32]` once; its length is checked by rustc.
    let in_ty = input_array_type(&net.input.shape);
    let flatten = (1..net.input.shape.len()).fold(quote!(x), |acc, _| quote!(#acc.as_flattened()));
    let (one_steps, one_result) = predict_one_steps(plan);
    let prelude = prelude();
    let batch_in = format_ident!("ArrayView{}", net.input.shape.len() + 1);
    let batch_out = format_ident!("ArrayView{}", net.output.len() + 1);
    let batch_out_dim = format_ident!("Ix{}", net.output.len() + 1);

    let train_config = match &net.train {
        Some(train) => {
            let cfg = train_config(train);
            quote! {
                /// The training settings of the spec's `train` block.
                pub fn train_config() -> ::nnc::train::TrainConfig {
                    #cfg
                }
            }
        }
        None => quote!(),
    };

    quote! {
        impl #name {
            /// Per-sample input shape.
            pub const INPUT_SHAPE: [usize; #in_rank] = #in_shape;
            /// Per-sample output shape.
            pub const OUTPUT_SHAPE: [usize; #out_rank] = #out_shape;
            /// Number of scalar parameters.
            pub const PARAM_COUNT: usize = #param_count;
            /// The model summary (layers, output shapes, parameter counts), as
            /// `nnc summary` prints it.
            pub const SUMMARY: &str = #summary;

            /// A network initialised as the spec says, reproducibly from `seed`.
            pub fn new(seed: u64) -> Self {
                let mut rng = ::nnc::rng::Rng::seed_from(seed);
                let mut params = #params_ty::zeros();
                #(#inits)*
                Self {
                    params,
                    grads: #params_ty::zeros(),
                    ws: #ws_ty::with_rows(0),
                    rng,
                    batch: 0,
                    trained: false,
                }
            }

            /// Runs inference on a batch `[n, ..INPUT_SHAPE]`. A batch of another
            /// shape is an error.
            pub fn predict(&mut self, x: ::nnc::ndarray::#batch_in<'_, f32>)
                -> ::nnc::Result<::nnc::ndarray::#batch_out<'_, f32>>
            {
                let y = ::nnc::Model::forward(self, x.into_dyn(), false)?;
                ::nnc::support::fixed_rank::<::nnc::ndarray::#batch_out_dim>(y)
            }

            /// Runs inference on one sample. Sizes are checked by rustc; nothing
            /// is allocated.
            pub fn predict_one(&self, x: &#in_ty) -> [f32; #out_width] {
                #prelude
                let p = &self.params;
                let x: &[f32] = #flatten;
                #(#one_steps)*
                #one_result
            }

            #train_config
        }
    }
}

fn train_config(t: &ir::Train) -> TokenStream {
    let loss = match t.loss {
        ir::Loss::Mse => quote!(::nnc::loss::Loss::Mse),
        ir::Loss::Mae => quote!(::nnc::loss::Loss::Mae),
        ir::Loss::Huber { delta } => {
            let d = f32_lit(delta);
            quote!(::nnc::loss::Loss::Huber { delta: #d })
        }
        ir::Loss::BinaryCrossentropy { from_logits } => {
            quote!(::nnc::loss::Loss::BinaryCrossentropy { from_logits: #from_logits })
        }
        ir::Loss::CategoricalCrossentropy { from_logits } => {
            quote!(::nnc::loss::Loss::CategoricalCrossentropy { from_logits: #from_logits })
        }
        ir::Loss::SparseCategoricalCrossentropy { from_logits } => {
            quote!(::nnc::loss::Loss::SparseCategoricalCrossentropy { from_logits: #from_logits })
        }
    };
    let optimizer = match t.optimizer {
        ir::Optimizer::Sgd {
            lr,
            momentum,
            nesterov,
        } => {
            let (lr, m) = (f32_lit(lr), f32_lit(momentum));
            quote!(::nnc::optim::Optimizer::Sgd { lr: #lr, momentum: #m, nesterov: #nesterov })
        }
        ir::Optimizer::Adagrad {
            lr,
            initial_accumulator,
            epsilon,
        } => {
            let (lr, a, e) = (f32_lit(lr), f32_lit(initial_accumulator), f32_lit(epsilon));
            quote!(::nnc::optim::Optimizer::Adagrad { lr: #lr, initial_accumulator: #a, epsilon: #e })
        }
        ir::Optimizer::Adadelta { lr, rho, epsilon } => {
            let (lr, r, e) = (f32_lit(lr), f32_lit(rho), f32_lit(epsilon));
            quote!(::nnc::optim::Optimizer::Adadelta { lr: #lr, rho: #r, epsilon: #e })
        }
        ir::Optimizer::RmsProp {
            lr,
            rho,
            momentum,
            epsilon,
        } => {
            let (lr, r, m, e) = (
                f32_lit(lr),
                f32_lit(rho),
                f32_lit(momentum),
                f32_lit(epsilon),
            );
            quote!(::nnc::optim::Optimizer::RmsProp { lr: #lr, rho: #r, momentum: #m, epsilon: #e })
        }
        ir::Optimizer::Adam {
            lr,
            beta1,
            beta2,
            epsilon,
        } => {
            let (lr, b1, b2, e) = (
                f32_lit(lr),
                f32_lit(beta1),
                f32_lit(beta2),
                f32_lit(epsilon),
            );
            quote!(::nnc::optim::Optimizer::Adam { lr: #lr, beta1: #b1, beta2: #b2, epsilon: #e })
        }
        ir::Optimizer::AdamW {
            lr,
            beta1,
            beta2,
            epsilon,
            weight_decay,
        } => {
            let (lr, b1, b2, e, wd) = (
                f32_lit(lr),
                f32_lit(beta1),
                f32_lit(beta2),
                f32_lit(epsilon),
                f32_lit(weight_decay),
            );
            quote!(::nnc::optim::Optimizer::AdamW { lr: #lr, beta1: #b1, beta2: #b2, epsilon: #e, weight_decay: #wd })
        }
    };
    let (batch, epochs, shuffle, seed, split) = (
        usize_lit(t.batch_size),
        usize_lit(t.epochs),
        t.shuffle,
        Literal::u64_unsuffixed(t.seed),
        f32_lit(t.validation_split),
    );
    // `accuracy` means what fits the loss, as in Keras: per output unit for
    // binary cross-entropy (multi-label, or one unit), thresholded at p = 0.5
    // (a logit of 0 when the network outputs logits); argmax otherwise.
    let accuracy = match t.loss {
        ir::Loss::BinaryCrossentropy { from_logits } => {
            let threshold = f32_lit(if from_logits { 0.0 } else { 0.5 });
            quote!(::nnc::metrics::Metric::BinaryAccuracy { threshold: #threshold })
        }
        _ => quote!(::nnc::metrics::Metric::Accuracy),
    };
    let metrics = t.metrics.iter().map(|m| match m {
        ir::Metric::Accuracy => accuracy.clone(),
        ir::Metric::Mae => quote!(::nnc::metrics::Metric::Mae),
        ir::Metric::Mse => quote!(::nnc::metrics::Metric::Mse),
    });
    let early = match &t.early_stopping {
        Some(es) => {
            let (monitor, patience, min_delta, restore) = (
                &es.monitor,
                usize_lit(es.patience),
                f32_lit(es.min_delta),
                es.restore_best,
            );
            quote!(Some(::nnc::train::EarlyStopping {
                monitor: #monitor.to_string(),
                patience: #patience,
                min_delta: #min_delta,
                restore_best_weights: #restore,
            }))
        }
        None => quote!(None),
    };
    let clip = match t.clip_norm {
        Some(c) => {
            let c = f32_lit(c);
            quote!(Some(#c))
        }
        None => quote!(None),
    };
    let schedule = match t.schedule {
        ir::Schedule::Constant => quote!(::nnc::optim::Schedule::Constant),
        ir::Schedule::Step { every, factor } => {
            let (e, f) = (usize_lit(every), f32_lit(factor));
            quote!(::nnc::optim::Schedule::Step { every: #e, factor: #f })
        }
        ir::Schedule::Exponential { rate } => {
            let r = f32_lit(rate);
            quote!(::nnc::optim::Schedule::Exponential { rate: #r })
        }
        ir::Schedule::Cosine { epochs, min_lr } => {
            let (e, m) = (usize_lit(epochs), f32_lit(min_lr));
            quote!(::nnc::optim::Schedule::Cosine { epochs: #e, min_lr: #m })
        }
    };
    quote! {
        ::nnc::train::TrainConfig {
            loss: #loss,
            optimizer: #optimizer,
            batch_size: #batch,
            epochs: #epochs,
            shuffle: #shuffle,
            seed: #seed,
            validation_split: #split,
            metrics: vec![#(#metrics),*],
            early_stopping: #early,
            clip_norm: #clip,
            schedule: #schedule,
            ..::core::default::Default::default()
        }
    }
}

fn model_impl(plan: &Plan<'_>, name: &syn::Ident, ws_ty: &syn::Ident) -> TokenStream {
    let net = plan.net;
    let name_str = &net.name;
    let out_act = activation(plan.output_activation);
    let fwd = forward_steps(plan);
    let bwd = backward_steps(plan);
    let out_view = {
        let v = plan.output;
        let (t, i) = (
            format_ident!("{}", plan.buffers[v.train].ident),
            format_ident!("{}", plan.buffers[v.infer].ident),
        );
        if v.train == v.infer {
            quote!(ws.#t.slice(s![..n, ..]))
        } else {
            quote!(if training { ws.#t.slice(s![..n, ..]) } else { ws.#i.slice(s![..n, ..]) })
        }
    };
    let d_out = if plan.buffers[plan.output.train].has_grad {
        let v = grad_view_mut(plan, plan.output.train);
        quote!(::nnc::support::copy_batch(&grad, &Self::OUTPUT_SHAPE, #v)?;)
    } else {
        quote!(::nnc::support::check_batch(&grad, &Self::OUTPUT_SHAPE)?;)
    };
    let uses_rng = plan.steps.iter().any(|s| matches!(s, Step::Dropout { .. }));
    let rng_binding = if uses_rng {
        quote!(let rng = &mut self.rng;)
    } else {
        quote!()
    };

    let penalty_terms: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Dense { w, l1, l2, .. } if *l1 != 0.0 || *l2 != 0.0 => {
                let (l1, l2) = (f32_lit(*l1), f32_lit(*l2));
                let wi = format_ident!("{}", plan.params[*w].ident);
                Some(quote!(kernels::penalty::value(#l1, #l2, ArrayView2::from(&*self.params.#wi))))
            }
            _ => None,
        })
        .collect();
    let penalty = if penalty_terms.is_empty() {
        quote!(0.0)
    } else {
        quote!(#(#penalty_terms)+*)
    };

    let visits = plan.params.iter().enumerate().map(|(i, p)| {
        let index = usize_lit(i);
        let pname = &p.name;
        let shape = shape_tokens(&p.shape);
        let value = flat_mut(p, quote!(self.params));
        let grad = flat(p, quote!(self.grads));
        let trainable = p.trainable;
        quote!(f(::nnc::Param {
            index: #index,
            name: #pname,
            shape: &#shape,
            value: #value,
            grad: #grad,
            trainable: #trainable,
        });)
    });

    let layer_infos = net.layers.iter().map(|layer| {
        let lname = &layer.name;
        let kind = &layer.source;
        let shape = shape_tokens(&layer.output);
        let owned: Vec<_> = plan
            .params
            .iter()
            .filter(|p| p.name.starts_with(&format!("{lname}.")))
            .collect();
        let count = usize_lit(
            owned
                .iter()
                .map(|p| p.shape.iter().product::<usize>())
                .sum(),
        );
        let trainable = owned.iter().all(|p| p.trainable);
        quote!(::nnc::LayerInfo {
            name: #lname.to_string(),
            kind: #kind.to_string(),
            output_shape: #shape.to_vec(),
            params: #count,
            trainable: #trainable,
        })
    });

    let prelude = prelude();
    let unused_skip = if bwd.is_empty() {
        quote!(let _ = skip;)
    } else {
        quote!()
    };

    quote! {
        impl ::nnc::Model for #name {
            fn name(&self) -> &'static str {
                #name_str
            }

            fn input_shape(&self) -> &'static [usize] {
                &Self::INPUT_SHAPE
            }

            fn output_shape(&self) -> &'static [usize] {
                &Self::OUTPUT_SHAPE
            }

            fn output_activation(&self) -> ::nnc::Activation {
                #prelude
                #out_act
            }

            fn forward(&mut self, x: ::nnc::ndarray::ArrayViewD<'_, f32>, training: bool)
                -> ::nnc::Result<::nnc::ndarray::ArrayViewD<'_, f32>>
            {
                #prelude
                let n = ::nnc::support::check_batch(&x, &Self::INPUT_SHAPE)?;
                if n > self.ws.rows {
                    self.ws = #ws_ty::with_rows(n);
                }
                self.batch = n;
                self.trained = training;
                let (p, ws) = (&self.params, &mut self.ws);
                #rng_binding
                ::nnc::support::copy_batch(&x, &Self::INPUT_SHAPE, ws.x.slice_mut(s![..n, ..]))?;
                #(#fwd)*
                ::nnc::support::unflatten(#out_view, &Self::OUTPUT_SHAPE)
            }

            fn backward(&mut self, grad: ::nnc::ndarray::ArrayViewD<'_, f32>, at: ::nnc::GradAt) -> ::nnc::Result<()> {
                #prelude
                if !self.trained {
                    return Err(::nnc::Error::Config("backward needs a training forward pass first".into()));
                }
                let n = self.batch;
                let skip = at == ::nnc::GradAt::Logits;
                #unused_skip
                let (p, g, ws) = (&self.params, &mut self.grads, &mut self.ws);
                #d_out
                #(#bwd)*
                Ok(())
            }

            fn penalty(&self) -> f32 {
                #prelude
                #penalty
            }

            fn visit_params(&mut self, f: &mut dyn FnMut(::nnc::Param<'_>)) {
                #(#visits)*
            }

            fn reseed(&mut self, seed: u64) {
                self.rng = ::nnc::rng::Rng::seed_from(seed);
            }

            fn layers(&self) -> Vec<::nnc::LayerInfo> {
                vec![#(#layer_infos),*]
            }
        }
    }
}
