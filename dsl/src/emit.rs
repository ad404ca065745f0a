//! Emission: a [`Plan`] → Rust tokens.
//!
//! For each network the generated code has:
//! - a struct `Name` holding parameters, their gradients, a workspace of
//!   activation buffers (allocated once for a batch size, reused after) and
//!   the dropout RNG;
//! - `Name::new(seed)` applying the spec's initialisers, shape constants, the
//!   summary, `predict` (batch, shape-checked at run time) and `predict_one`
//!   (one sample as fixed-size arrays, so a wrong width is a rustc error),
//!   and for a softmax or sigmoid output `predict_logits` and
//!   `predict_one_logits`, the same before that activation;
//! - an implementation of `nnc::Model`: straight-line forward and backward,
//!   each step one call to a runtime kernel with its sizes as constants;
//! - `Name::train_config()` from the spec's `train` block.
//!
//! Generated code names everything through the `::nnc` facade.
//!
//! # Generated names
//!
//! Nothing a spec names can collide with a generated name or shadow a
//! type the code uses:
//! - only the network's struct is written into the caller's module; every
//!   other item (parameter and workspace structs, the impls) is in a
//!   private module `__nnc_<Network>` that sees nothing of the caller's
//!   module (the struct is imported there as `Net`), and the struct's own
//!   fields name their types by absolute paths (`::core::primitive::f32`);
//! - each field, local and constant made from a layer name `L` is `L__`
//!   followed by a fixed suffix (`L__out`, `L__out_grad`, `L__pre`,
//!   `L__weight`, `L__KERNEL`), and the other generated names have no `__`;
//!   since the checker rejects names containing `__` (E0405), the first
//!   `__` of a generated name says which layer it belongs to.

use crate::ir::{self, Activation};
use crate::lower::{self, BufId, Plan, Value};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Emits every network of a checked program.
pub fn emit_program(program: &ir::Program) -> TokenStream {
    emit_program_with(program, lower::Options::default())
}

/// [`emit_program`] with lowering options other than the defaults (tests
/// compare the plan that skips dead cells with the whole one).
pub fn emit_program_with(program: &ir::Program, options: lower::Options) -> TokenStream {
    let nets = program
        .networks
        .iter()
        .map(|net| emit_network(&lower::lower_with(net, options)));
    quote!(#(#nets)*)
}

/// Formats emitted tokens as Rust source with prettyplease.
pub fn format(tokens: TokenStream) -> Result<String, syn::Error> {
    let file: syn::File = syn::parse2(tokens)?;
    Ok(prettyplease::unparse(&file))
}

/// Local imports at the top of each generated function body, so the body
/// reads `kernels::dense::Dense { .. }.forward(..)` without
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

/// Where a step's backward puts an input's gradient: a `kernels::Grad`
/// that writes or adds into `<input>_grad`.
pub(crate) fn grad_target(plan: &Plan<'_>, t: crate::ops::GradTarget) -> TokenStream {
    let v = if t.scratch {
        view_mut(plan, t.buf)
    } else {
        grad_view_mut(plan, t.buf)
    };
    if t.accumulate {
        quote!(kernels::Grad::Add(#v))
    } else {
        quote!(kernels::Grad::Write(#v))
    }
}

/// `Self::DENSE1__KERNEL`: the associated constant holding a step's kernel
/// descriptor ([`crate::ops::StepDef::descriptor`]).
pub fn descriptor(plan: &Plan<'_>, step: &lower::Step) -> TokenStream {
    let name = kernel_const(&plan.net.layers[step.layer].name);
    quote!(Self::#name)
}

/// `dense1` → `DENSE1__KERNEL` (the `__` keeps layer names such as
/// `input_shape` clear of the network's other constants; layer names are
/// unique ignoring case).
fn kernel_const(layer: &str) -> syn::Ident {
    format_ident!("{}__KERNEL", layer.to_uppercase())
}

/// The workspace field holding buffer `ident`'s gradient.
fn grad_ident(ident: &str) -> syn::Ident {
    format_ident!("{ident}_grad")
}

/// The `&mut [f32]` local bound to `predict_one` scratch `id`.
pub fn one_scratch(plan: &Plan<'_>, id: lower::OneId) -> syn::Ident {
    format_ident!("{}", plan.one_scratch[id].ident)
}

/// An untyped integer literal.
pub(crate) fn usize_lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

/// An `f32`-suffixed literal.
pub(crate) fn f32_lit(v: f32) -> Literal {
    Literal::f32_suffixed(v)
}

fn shape_tokens(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| usize_lit(d));
    quote!([#(#dims),*])
}

/// An activation value in a generated body, which imports `Activation`.
pub(crate) fn activation(act: Activation) -> TokenStream {
    act.tokens_at(&quote!(Activation))
}

/// Emits one network: its struct, and everything else in a private module
/// (see [Generated names](self#generated-names)). The struct is re-exported
/// with a `pub use`, which also works where a `network!` block sits inside
/// a function body (a module there cannot see the function's items, so the
/// struct is defined in the module rather than the module reaching out).
pub fn emit_network(plan: &Plan<'_>) -> TokenStream {
    let net = plan.net;
    let name = format_ident!("{}", net.name);
    let module = format_ident!("__nnc_{}", net.name);
    let params_ty = format_ident!("__Params");
    let ws_ty = format_ident!("__Workspace");
    let name_str = &net.name;

    let docs = struct_docs(plan);
    let one = one_plan(plan);
    let one_field = if !one.bound {
        quote!()
    } else {
        quote! {
            /// `predict_one`'s scratch, on the heap and allocated once (locked
            /// so that `predict_one` can take `&self`).
            one: ::std::sync::Mutex<::std::boxed::Box<[f32]>>,
        }
    };
    let params_struct = params_struct(plan, &params_ty);
    let ws_struct = workspace_struct(plan, &ws_ty);
    let inherent = inherent_impl(plan, &one, &name, &params_ty, &ws_ty);
    let model = model_impl(plan, &name, &params_ty, &ws_ty);

    quote! {
        pub use #module::#name;

        #[allow(non_snake_case)]
        mod #module {
            #docs
            // A lowercase network name is the checker's warning W0002, at
            // the spec's name; rustc's would point here.
            #[allow(non_camel_case_types)]
            pub struct #name {
                params: #params_ty,
                grads: #params_ty,
                ws: #ws_ty,
                rng: ::nnc::rng::Rng,
                /// Rows of the last forward pass, and whether it was a training pass.
                batch: usize,
                trained: bool,
                #one_field
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

/// How a parameter tensor is stored in the generated struct.
enum Storage {
    /// Rank 1: `Box<[f32]>` of `len`.
    Vector(usize),
    /// Rank 2 and more: `Box<[[f32; cols]]>` of `rows`, the leading axes
    /// flattened into rows (`[KH, KW, C_in, C_out]` as `[KH*KW*C_in, C_out]`).
    Matrix(usize, usize),
}

fn storage(shape: &[usize]) -> Storage {
    match shape {
        [] => Storage::Vector(1),
        [len] => Storage::Vector(*len),
        [rows @ .., cols] => Storage::Matrix(rows.iter().product(), *cols),
    }
}

fn params_struct(plan: &Plan<'_>, ty: &syn::Ident) -> TokenStream {
    let fields = plan.params.iter().map(|p| {
        let ident = format_ident!("{}", p.ident);
        let doc = format!(" `{}`, shape `{:?}`.", p.name, p.shape);
        match storage(&p.shape) {
            Storage::Matrix(_, cols) => {
                let cols = usize_lit(cols);
                quote!(#[doc = #doc] #ident: ::std::boxed::Box<[[f32; #cols]]>)
            }
            Storage::Vector(_) => quote!(#[doc = #doc] #ident: ::std::boxed::Box<[f32]>),
        }
    });
    let zeros = plan.params.iter().map(|p| {
        let ident = format_ident!("{}", p.ident);
        match storage(&p.shape) {
            Storage::Matrix(rows, cols) => {
                let (rows, cols) = (usize_lit(rows), usize_lit(cols));
                // No `[0.0; cols]` temporary: a wide layer's row would
                // not fit on a thread's stack.
                quote!(#ident: ::nnc::support::zeros_rows::<#cols>(#rows))
            }
            Storage::Vector(len) => {
                let len = usize_lit(len);
                quote!(#ident: ::std::vec![0.0; #len].into_boxed_slice())
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
            names.push(grad_ident(&buf.ident));
        }
        let elem = if buf.indices {
            quote!(u32)
        } else {
            quote!(f32)
        };
        for ident in names {
            let doc = format!(" `[rows, {}]`", buf.width);
            fields.push(quote!(#[doc = #doc] #ident: ::nnc::ndarray::Array2<#elem>));
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

/// `ws.<buf>.slice(s![..n, ..])`; the network's input is `x_in`, which
/// the forward and backward bodies bind (see `model_impl`).
pub(crate) fn view(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    if buf == lower::INPUT_BUFFER {
        return quote!(x_in);
    }
    let ident = format_ident!("{}", plan.buffers[buf].ident);
    quote!(ws.#ident.slice(s![..n, ..]))
}

/// `ws.<buf>.slice_mut(s![..n, ..])`
pub(crate) fn view_mut(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = format_ident!("{}", plan.buffers[buf].ident);
    quote!(ws.#ident.slice_mut(s![..n, ..]))
}

/// `ws.<buf>_grad.slice(s![..n, ..])`
pub(crate) fn grad_view(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = grad_ident(&plan.buffers[buf].ident);
    quote!(ws.#ident.slice(s![..n, ..]))
}

/// `ws.<buf>_grad.slice_mut(s![..n, ..])`
pub(crate) fn grad_view_mut(plan: &Plan<'_>, buf: BufId) -> TokenStream {
    let ident = grad_ident(&plan.buffers[buf].ident);
    quote!(ws.#ident.slice_mut(s![..n, ..]))
}

/// A value as a batch view in the forward pass (which buffer depends on the mode
/// only downstream of a dropout).
pub(crate) fn value_view(plan: &Plan<'_>, v: Value) -> TokenStream {
    if v.train == v.infer {
        view(plan, v.train)
    } else {
        let (t, i) = (view(plan, v.train), view(plan, v.infer));
        quote!(if training { #t } else { #i })
    }
}

/// A parameter as an array view (`ArrayView2` of its storage matrix, or
/// `ArrayView1`) in the forward and backward bodies, where `p` is the
/// parameter struct.
pub(crate) fn param_view(plan: &Plan<'_>, p: usize) -> TokenStream {
    param_view_in(plan, p, quote!(p))
}

/// [`param_view`] of the parameter struct `owner`.
pub(crate) fn param_view_in(plan: &Plan<'_>, p: usize, owner: TokenStream) -> TokenStream {
    let ident = format_ident!("{}", plan.params[p].ident);
    match storage(&plan.params[p].shape) {
        Storage::Matrix(..) => quote!(ArrayView2::from(&*#owner.#ident)),
        Storage::Vector(_) => quote!(ArrayView1::from(&*#owner.#ident)),
    }
}

/// A parameter's gradient as a mutable array view (`g` is the gradient struct).
pub(crate) fn grad_param_view_mut(plan: &Plan<'_>, p: usize) -> TokenStream {
    let ident = format_ident!("{}", plan.params[p].ident);
    match storage(&plan.params[p].shape) {
        Storage::Matrix(..) => quote!(ArrayViewMut2::from(&mut *g.#ident)),
        Storage::Vector(_) => quote!(ArrayViewMut1::from(&mut *g.#ident)),
    }
}

fn flat(p: &lower::ParamPlan, owner: TokenStream) -> TokenStream {
    let ident = format_ident!("{}", p.ident);
    match storage(&p.shape) {
        Storage::Matrix(..) => quote!(#owner.#ident.as_flattened()),
        Storage::Vector(_) => quote!(&#owner.#ident[..]),
    }
}

fn flat_mut(p: &lower::ParamPlan, owner: TokenStream) -> TokenStream {
    let ident = format_ident!("{}", p.ident);
    match storage(&p.shape) {
        Storage::Matrix(..) => quote!(#owner.#ident.as_flattened_mut()),
        Storage::Vector(_) => quote!(&mut #owner.#ident[..]),
    }
}

fn forward_steps(plan: &Plan<'_>) -> Vec<TokenStream> {
    plan.steps
        .iter()
        .map(|step| step.op.def().forward(plan, step))
        .collect()
}

fn backward_steps(plan: &Plan<'_>) -> Vec<TokenStream> {
    plan.backward_steps()
        .into_iter()
        .map(|(i, bw)| {
            let step = &plan.steps[i];
            let call = step.op.def().backward(plan, step, &bw);
            let merges = bw.merge.iter().map(|&(scratch, buf)| {
                let (from, to) = (view(plan, scratch), grad_view_mut(plan, buf));
                quote!({
                    let mut d = #to;
                    d += &#from;
                })
            });
            quote!(#call #(#merges)*)
        })
        .collect()
}

/// Bytes of `predict_one` layer outputs kept on the stack. A network whose
/// outputs add up to more keeps all of them in its heap scratch instead
/// (allocated once in `new`): threads other than `main` get 2 MiB stacks,
/// and one `dense(600000)` output alone is 2.4 MB. So does a network whose
/// ops need scratch (a convolution), which locks the scratch anyway.
pub const ONE_STACK_BYTES: usize = 64 * 1024;

/// Output elements above which `predict_one` returns `Box<[f32; N]>` (one
/// allocation per call, small beside the work of computing such an output)
/// instead of an array the caller's stack would have to hold.
pub const ONE_RETURN_MAX: usize = ONE_STACK_BYTES / 4;

/// Where `predict_one` keeps each step's output.
struct OnePlan {
    /// Per step: the local its output is bound to and its width, or `None`
    /// when inference skips the step.
    outputs: Vec<Option<(syn::Ident, usize)>>,
    /// Whether the outputs live in the heap scratch (else on the stack).
    heap: bool,
    /// Ops' own scratch (im2col rows), always on the heap.
    op_scratch: usize,
    /// Whether `predict_one` binds scratch slices at all (an op may ask
    /// for an empty one: a 1x1 convolution needs no im2col rows).
    bound: bool,
}

impl OnePlan {
    /// Elements of the heap scratch.
    fn total(&self) -> usize {
        let outputs: usize = if self.heap {
            self.outputs.iter().flatten().map(|(_, w)| w).sum()
        } else {
            0
        };
        self.op_scratch + outputs
    }
}

fn one_plan(plan: &Plan<'_>) -> OnePlan {
    let probe = quote!(out);
    let outputs: Vec<Option<(syn::Ident, usize)>> = plan
        .steps
        .iter()
        .map(|step| {
            let inputs: Vec<TokenStream> = step.inputs.iter().map(|_| quote!(x)).collect();
            step.op.def().predict_one(plan, step, &inputs, &probe)?;
            let buf = &plan.buffers[step.out];
            Some((format_ident!("{}", buf.ident), buf.width))
        })
        .collect();
    let stack: usize = outputs.iter().flatten().map(|(_, w)| w).sum::<usize>() + plan.output_width;
    // Outputs go to the heap scratch when they would not fit on the stack,
    // and whenever the scratch is locked anyway for an op's own (a
    // convolution's im2col rows): stack arrays are zeroed on every call.
    let heap = stack.saturating_mul(4) > ONE_STACK_BYTES || !plan.one_scratch.is_empty();
    OnePlan {
        outputs,
        heap,
        op_scratch: plan.one_scratch.iter().map(|s| s.len).sum(),
        bound: heap || !plan.one_scratch.is_empty(),
    }
}

/// Single-sample inference with constant sizes and no allocation: the
/// statements, the returned expression and the return type.
fn predict_one_steps(
    plan: &Plan<'_>,
    one: &OnePlan,
) -> (Vec<TokenStream>, TokenStream, TokenStream) {
    let mut stmts = Vec::new();
    let local = |buf: BufId| -> TokenStream {
        if buf == 0 {
            quote!(x)
        } else {
            let h = format_ident!("{}", plan.buffers[buf].ident);
            quote!(&#h[..])
        }
    };
    for (step, out) in plan.steps.iter().zip(&one.outputs) {
        let Some((h, width)) = out else { continue };
        let inputs: Vec<TokenStream> = step.inputs.iter().map(|v| local(v.infer)).collect();
        let output = if one.heap {
            // Bound to a `&mut [f32; width]` of the scratch.
            quote!(&mut *#h)
        } else {
            let width = usize_lit(*width);
            stmts.push(quote!(let mut #h = [0.0f32; #width];));
            quote!(&mut #h)
        };
        stmts.extend(step.op.def().predict_one(plan, step, &inputs, &output));
    }
    let n = usize_lit(plan.output_width);
    let src = local(plan.output.infer);
    if plan.output_width > ONE_RETURN_MAX {
        stmts.push(quote! {
            let mut y: ::std::boxed::Box<[f32; #n]> = ::std::vec![0.0f32; #n]
                .into_boxed_slice()
                .try_into()
                .expect("a boxed slice of the output's length");
            y.copy_from_slice(#src);
        });
        return (stmts, quote!(y), quote!(::std::boxed::Box<[f32; #n]>));
    }
    if !one.heap && plan.output.infer != 0 {
        let h = format_ident!("{}", plan.buffers[plan.output.infer].ident);
        return (stmts, quote!(#h), quote!([f32; #n]));
    }
    stmts.push(quote! {
        let mut y = [0.0f32; #n];
        y.copy_from_slice(#src);
    });
    (stmts, quote!(y), quote!([f32; #n]))
}

/// What `predict_one_logits` runs, for a softmax or sigmoid output (where
/// `predict_logits` exists): the plan without the output's activation (a
/// fused dense or convolution made linear, a standalone activation left
/// out) and the matching [`OnePlan`]. The scratch layout is predict_one's
/// (same heap choice, the same slices in the same order, one fewer at
/// most), so both share the one scratch allocated in `new`.
fn logits_plans<'a>(plan: &Plan<'a>, one: &OnePlan) -> Option<(Plan<'a>, OnePlan)> {
    plan.logits?;
    let mut logits = plan.clone();
    let last = logits.steps.last_mut()?;
    match &mut last.op {
        lower::StepOp::Dense(d) => d.act = Activation::Linear,
        lower::StepOp::Conv2d(c) => c.act = Activation::Linear,
        lower::StepOp::Activation(_) => {
            logits.output = last.inputs[0];
            logits.steps.pop();
        }
        _ => return None,
    }
    let one = OnePlan {
        outputs: one.outputs[..logits.steps.len()].to_vec(),
        heap: one.heap,
        op_scratch: one.op_scratch,
        bound: one.bound,
    };
    Some((logits, one))
}

/// Binds `predict_one`'s scratch slices (ops' scratch, then the heap
/// outputs) from the locked scratch.
fn bind_one_scratch(plan: &Plan<'_>, one: &OnePlan) -> TokenStream {
    if !one.bound {
        return quote!();
    }
    let op_slices = plan.one_scratch.iter().map(|s| {
        let (ident, len) = (format_ident!("{}", s.ident), usize_lit(s.len));
        quote!(let (#ident, one_rest) = one_rest.split_at_mut(#len);)
    });
    let out_slices = one
        .outputs
        .iter()
        .flatten()
        .filter(|_| one.heap)
        .map(|(h, w)| {
            let w = usize_lit(*w);
            quote! {
                let (#h, one_rest) = one_rest
                    .split_first_chunk_mut::<#w>()
                    .expect("the scratch holds every output");
            }
        });
    quote! {
        // Another thread's `predict_one` in progress waits; a panic in
        // one left nothing that needs repair (the scratch is overwritten).
        let mut one = self.one.lock().unwrap_or_else(::std::sync::PoisonError::into_inner);
        let one_rest: &mut [f32] = &mut one;
        #(#op_slices)*
        #(#out_slices)*
        let _ = one_rest;
    }
}

fn input_array_type(shape: &[usize]) -> TokenStream {
    shape.iter().rev().fold(quote!(f32), |inner, &d| {
        let d = usize_lit(d);
        quote!([#inner; #d])
    })
}

fn inherent_impl(
    plan: &Plan<'_>,
    one: &OnePlan,
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

    let inits = plan.params.iter().map(|p| {
        let i = p.init;
        let (fi, fo) = (usize_lit(p.fan_in), usize_lit(p.fan_out));
        let dst = flat_mut(p, quote!(params));
        quote!(::nnc::init::fill(#i, #fi, #fo, #dst, &mut rng);)
    });

    // `&[[f32; 28]; 28]` is flattened to `&[f32]` once; its length is checked by rustc.
    let in_ty = input_array_type(&net.input.shape);
    let flatten = (1..net.input.shape.len()).fold(quote!(x), |acc, _| quote!(#acc.as_flattened()));
    let (one_steps, one_result, one_ty) = predict_one_steps(plan, one);
    let one_total = usize_lit(one.total());
    let one_init = if !one.bound {
        quote!()
    } else {
        quote!(one: ::std::sync::Mutex::new(::std::vec![0.0f32; #one_total].into_boxed_slice()),)
    };
    let one_bind = bind_one_scratch(plan, one);
    let prelude = prelude();
    let batch_in = format_ident!("ArrayView{}", net.input.shape.len() + 1);
    let batch_out = format_ident!("ArrayView{}", net.output.len() + 1);
    let batch_out_dim = format_ident!("Ix{}", net.output.len() + 1);

    let predict_logits = match plan.logits {
        Some(buf) => {
            let ident = format_ident!("{}", plan.buffers[buf].ident);
            let act = plan.output_activation.name();
            let doc = format!(
                " Runs inference on a batch like [`Self::predict`], but returns the logits: \
                 what the output's `{act}` receives, so that `{act}` of them is what `predict` \
                 returns. For a loss with `from_logits`, calibration, or comparison with \
                 another framework's logits."
            );
            quote! {
                #[doc = #doc]
                pub fn predict_logits(&mut self, x: ::nnc::ndarray::#batch_in<'_, f32>)
                    -> ::nnc::Result<::nnc::ndarray::#batch_out<'_, f32>>
                {
                    ::nnc::Model::forward(self, x.into_dyn(), false)?;
                    let n = self.batch;
                    let z = ::nnc::support::unflatten(
                        self.ws.#ident.slice(::nnc::ndarray::s![..n, ..]),
                        &Self::OUTPUT_SHAPE,
                    )?;
                    ::nnc::support::fixed_rank::<::nnc::ndarray::#batch_out_dim>(z)
                }
            }
        }
        None => quote!(),
    };

    let predict_one_logits = match logits_plans(plan, one) {
        Some((logits, logits_one)) => {
            let (steps, result, ty) = predict_one_steps(&logits, &logits_one);
            let bind = bind_one_scratch(&logits, &logits_one);
            let act = plan.output_activation.name();
            let doc = format!(
                " Runs inference on one sample like [`Self::predict_one`], but returns the \
                 logits: what the output's `{act}` receives, so that `{act}` of them is what \
                 `predict_one` returns, and they are the sample's row of \
                 [`Self::predict_logits`] (both to rounding). Sizes are checked by rustc; \
                 nothing is allocated (except the returned box of an output above 16384 \
                 elements)."
            );
            quote! {
                #[doc = #doc]
                pub fn predict_one_logits(&self, x: &#in_ty) -> #ty {
                    #prelude
                    let p = &self.params;
                    let x: &[f32] = #flatten;
                    #bind
                    #(#steps)*
                    #result
                }
            }
        }
        None => quote!(),
    };

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

    let descriptors = plan.steps.iter().filter_map(|step| {
        let (ty, value) = step.op.def().descriptor(plan)?;
        let layer = &net.layers[step.layer];
        let cname = kernel_const(&layer.name);
        let doc = format!(" The kernel of `{}` (`{}`).", layer.name, layer.source);
        Some(quote! {
            #[doc = #doc]
            const #cname: #ty = #value;
        })
    });

    quote! {
        impl #name {
            #(#descriptors)*

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
                    #one_init
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

            #predict_logits

            /// Runs inference on one sample. Sizes are checked by rustc; nothing
            /// is allocated (except the returned box of an output above 16384
            /// elements, and on a thread's first call the matrix products' packing
            /// buffers, which the thread keeps).
            pub fn predict_one(&self, x: &#in_ty) -> #one_ty {
                #prelude
                let p = &self.params;
                let x: &[f32] = #flatten;
                #one_bind
                #(#one_steps)*
                #one_result
            }

            #predict_one_logits

            #train_config
        }
    }
}

fn train_config(t: &ir::Train) -> TokenStream {
    // Every field named, so a new one must be decided on here: the spec
    // has no checkpointing or frozen layers (run-time choices).
    let ir::TrainConfig {
        loss,
        optimizer,
        batch_size,
        epochs,
        shuffle,
        seed,
        validation_split,
        metrics,
        early_stopping,
        clip_norm,
        schedule,
        checkpoint: _,
        frozen: _,
        verbose,
    } = &t.config;
    // Only a `verbose` the spec sets is written out (the default is `Auto`).
    let verbose = match verbose {
        nnc_core::Verbosity::Auto => quote!(),
        nnc_core::Verbosity::Silent => quote!(verbose: ::nnc::train::Verbosity::Silent,),
        nnc_core::Verbosity::ProgressBar => {
            quote!(verbose: ::nnc::train::Verbosity::ProgressBar,)
        }
        nnc_core::Verbosity::EpochLines => quote!(verbose: ::nnc::train::Verbosity::EpochLines,),
    };
    let (batch, epochs, seed, split) = (
        usize_lit(*batch_size),
        usize_lit(*epochs),
        Literal::u64_unsuffixed(*seed),
        f32_lit(*validation_split),
    );
    let early = match early_stopping {
        Some(es) => quote!(Some(#es)),
        None => quote!(None),
    };
    let clip = match clip_norm {
        Some(c) => {
            let c = f32_lit(*c);
            quote!(Some(#c))
        }
        None => quote!(None),
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
            metrics: ::std::vec![#(#metrics),*],
            early_stopping: #early,
            clip_norm: #clip,
            schedule: #schedule,
            #verbose
            ..::core::default::Default::default()
        }
    }
}

fn model_impl(
    plan: &Plan<'_>,
    name: &syn::Ident,
    params_ty: &syn::Ident,
    ws_ty: &syn::Ident,
) -> TokenStream {
    let net = plan.net;
    let name_str = &net.name;
    let out_act = activation(plan.output_activation);
    let fwd = forward_steps(plan);
    let bwd = backward_steps(plan);
    // `forward` in training copies the batch (`backward` reads it after
    // this call returns); inference, and `train_pass` (forward and backward
    // in one call), read a contiguous batch where it lies (W4 at batch 1024
    // spent a tenth of its time on the copy), unless the output is the
    // input itself and must live in the workspace.
    let input_out = [plan.output.train, plan.output.infer].contains(&lower::INPUT_BUFFER);
    let may_borrow = if input_out {
        quote!(false)
    } else {
        quote!(in_place)
    };
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
    let uses_rng = plan.steps.iter().any(|s| s.op.def().uses_rng());
    let rng_param = if uses_rng { quote!(rng) } else { quote!(_rng) };

    let penalty_terms: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| s.op.def().penalty(plan))
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

    let graph = crate::graph::graph(net);

    let prelude = prelude();
    let unused_skip = if bwd.is_empty() {
        quote!(let _ = skip;)
    } else {
        quote!()
    };

    quote! {
        // The forward and backward bodies, shared by `forward`, `backward`
        // and `train_pass`.
        impl #name {
            /// Checks the batch, sizes the workspace for it and records the
            /// pass; returns the batch's rows.
            fn start_pass(&mut self, x: &::nnc::ndarray::ArrayViewD<'_, f32>, training: bool) -> ::nnc::Result<usize> {
                let n = ::nnc::support::check_batch(x, &Self::INPUT_SHAPE)?;
                if n > self.ws.rows {
                    self.ws = #ws_ty::with_rows(n);
                }
                self.batch = n;
                self.trained = training;
                Ok(n)
            }

            /// The forward pass of `x` (rows checked by `start_pass`) into the
            /// workspace. With `in_place`, a contiguous `x` is read where it
            /// lies and returned, for `backward_pass`; otherwise it is copied
            /// into the workspace.
            #[allow(unused_variables)]
            fn forward_pass<'x>(
                p: &#params_ty,
                ws: &mut #ws_ty,
                #rng_param: &mut ::nnc::rng::Rng,
                x: &::nnc::ndarray::ArrayViewD<'x, f32>,
                training: bool,
                in_place: bool,
            ) -> ::nnc::Result<::core::option::Option<::nnc::ndarray::ArrayView2<'x, f32>>> {
                #prelude
                let n = x.shape()[0];
                let borrowed = if #may_borrow { ::nnc::support::batch_in_place(x) } else { None };
                if borrowed.is_none() {
                    ::nnc::support::copy_batch(x, &Self::INPUT_SHAPE, ws.x.slice_mut(s![..n, ..]))?;
                }
                #[allow(unused_variables)]
                let x_in = match &borrowed {
                    Some(v) => v.view(),
                    None => ws.x.slice(s![..n, ..]),
                };
                #(#fwd)*
                Ok(borrowed)
            }

            /// The backward pass from `grad` (the loss gradient at `at`) over
            /// the last training forward pass of `n` rows, whose input is
            /// `borrowed` when it was read in place.
            #[allow(clippy::too_many_arguments, unused_variables)]
            fn backward_pass(
                p: &#params_ty,
                g: &mut #params_ty,
                ws: &mut #ws_ty,
                borrowed: ::core::option::Option<::nnc::ndarray::ArrayView2<'_, f32>>,
                grad: ::nnc::ndarray::ArrayViewD<'_, f32>,
                at: ::nnc::GradAt,
                n: usize,
            ) -> ::nnc::Result<()> {
                #prelude
                let skip = at == ::nnc::GradAt::Logits;
                #unused_skip
                #d_out
                #[allow(unused_variables)]
                let x_in = match borrowed {
                    Some(v) => v,
                    None => ws.x.slice(s![..n, ..]),
                };
                #(#bwd)*
                Ok(())
            }
        }

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
                let n = self.start_pass(&x, training)?;
                let ws = &mut self.ws;
                Self::forward_pass(&self.params, ws, &mut self.rng, &x, training, !training)?;
                ::nnc::support::unflatten(#out_view, &Self::OUTPUT_SHAPE)
            }

            fn train_pass(
                &mut self,
                x: ::nnc::ndarray::ArrayViewD<'_, f32>,
                grad: &mut [f32],
                loss: &mut ::nnc::PassLoss<'_>,
            ) -> ::nnc::Result<()> {
                #prelude
                let n = self.start_pass(&x, true)?;
                let (p, ws) = (&self.params, &mut self.ws);
                let training = true;
                let borrowed = Self::forward_pass(p, ws, &mut self.rng, &x, training, true)?;
                let at = {
                    let ws = &*ws;
                    loss(::nnc::support::unflatten(#out_view, &Self::OUTPUT_SHAPE)?, grad)?
                };
                let grad = ::nnc::support::batch_view(grad, n, &Self::OUTPUT_SHAPE)?;
                Self::backward_pass(p, &mut self.grads, ws, borrowed, grad, at, n)
            }

            fn backward(&mut self, grad: ::nnc::ndarray::ArrayViewD<'_, f32>, at: ::nnc::GradAt) -> ::nnc::Result<()> {
                if !self.trained {
                    return Err(::nnc::Error::Config("backward needs a training forward pass first".into()));
                }
                Self::backward_pass(&self.params, &mut self.grads, &mut self.ws, None, grad, at, self.batch)
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

            fn layers(&self) -> ::std::vec::Vec<::nnc::LayerInfo> {
                ::std::vec![#(#layer_infos),*]
            }

            fn graph(&self) -> ::core::option::Option<::nnc::graph::Graph> {
                ::core::option::Option::Some(#graph)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict_one_scratch_is_one_heap_slice_split_per_op() {
        let program = crate::compile("network A(x: [3]) -> [2] { dense(2) }").unwrap();
        let mut plan = lower::lower(&program.networks[0]);
        let none = format(emit_network(&plan)).unwrap();
        assert!(!none.contains("Mutex"), "no scratch, no arena");
        plan.one_scratch.push(lower::OneScratch {
            ident: "s_a".into(),
            len: 5,
        });
        plan.one_scratch.push(lower::OneScratch {
            ident: "s_b".into(),
            len: 7,
        });
        let code = format(emit_network(&plan)).unwrap();
        assert!(
            code.contains("one: ::std::sync::Mutex<::std::boxed::Box<[f32]>>"),
            "{code}"
        );
        // The ops' 12 and, since the scratch is locked anyway, the layer
        // outputs (2): no stack array to zero on every call.
        assert!(
            code.contains("::std::vec![0.0f32; 14].into_boxed_slice()"),
            "{code}"
        );
        assert!(code.contains("let (s_a, one_rest) = one_rest.split_at_mut(5);"));
        assert!(code.contains("let (s_b, one_rest) = one_rest.split_at_mut(7);"));
        assert!(code.contains(".split_first_chunk_mut::<2>()"), "{code}");
    }
}
