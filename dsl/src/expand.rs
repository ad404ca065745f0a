//! What `network!` does, as a function of `proc_macro2` tokens so tests can
//! call it: rebuild the spec text, compile it, and either emit the code or
//! turn each diagnostic into a `compile_error!` on the offending tokens.

use crate::diag::{Diagnostic, Severity};
use crate::tokens::SpecText;
use proc_macro2::{Punct, Spacing, TokenStream, TokenTree};
use quote::{quote, ToTokens};

/// Expands the body of a `network! { ... }` block.
pub fn expand(input: TokenStream) -> TokenStream {
    let names = network_names(input.clone());
    let spec = SpecText::from_tokens(input);
    match crate::compile(&spec.text) {
        Ok(program) => {
            let code = crate::emit::emit_program(&program);
            let warnings = program
                .warnings
                .iter()
                .filter(|d| in_rustc(d))
                .map(|d| warning(&spec, d));
            quote!(#code #(#warnings)*)
        }
        Err(diags) => {
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| compile_error(&spec, d));
            let fallback = fallback(names);
            quote!(#(#errors)* #fallback)
        }
    }
}

/// The text rustc shows for a diagnostic: the code and message, then notes
/// and help, as in a rustc error.
pub fn message(d: &Diagnostic) -> String {
    crate::diag::escape_invisible(&raw_message(d)).into_owned()
}

fn raw_message(d: &Diagnostic) -> String {
    let mut msg = format!("{}: {}", d.code, d.message);
    if !d.label.is_empty() && !d.message.contains(&d.label) {
        msg.push_str(&format!("\n  = note: {}", d.label));
    }
    for label in &d.labels {
        msg.push_str(&format!("\n  = note: {}", label.message));
    }
    if let Some(help) = &d.help {
        msg.push_str(&format!("\n  = help: {help}"));
    }
    msg
}

/// Whether a warning is also a rustc warning of the user's build. Rows a
/// pooling window drops (W0301) are what Keras does silently, and the
/// tutorial's own model does it: `nnc check` and `nnc summary` show them,
/// the build stays quiet. A value never used (W0001) is a likely mistake,
/// and a lowercase network name (W0002) is a style rustc would warn about.
pub(crate) fn in_rustc(d: &Diagnostic) -> bool {
    d.code != crate::diag::codes::DROPPED_CELLS
}

/// A warning on stable Rust, where a proc macro cannot emit one: the use of
/// a `#[deprecated]` item whose note is the diagnostic, spanned on the
/// offending tokens, so rustc (and `#![deny(deprecated)]`) reports it there.
fn warning(spec: &SpecText, d: &Diagnostic) -> TokenStream {
    let (first, _) = spec.token_spans(d.span).unwrap_or((
        proc_macro2::Span::call_site(),
        proc_macro2::Span::call_site(),
    ));
    deprecated_use(d.code, first, &message(d))
}

/// `const _: () = { #[deprecated(note)] struct CODE; let _ = CODE; };`, the
/// use spanned at `at`.
fn deprecated_use(code: &str, at: proc_macro2::Span, note: &str) -> TokenStream {
    let item = proc_macro2::Ident::new(code, proc_macro2::Span::call_site());
    let used = proc_macro2::Ident::new(code, at);
    quote! {
        const _: () = {
            #[deprecated(note = #note)]
            struct #item;
            let _ = #used;
        };
    }
}

fn compile_error(spec: &SpecText, d: &Diagnostic) -> TokenStream {
    let (first, last) = spec.token_spans(d.span).unwrap_or((
        proc_macro2::Span::call_site(),
        proc_macro2::Span::call_site(),
    ));
    // `syn::Error::new_spanned` spans the error from the first to the last
    // token given, which on stable Rust is the way to underline a range.
    let mut a = Punct::new('*', Spacing::Alone);
    a.set_span(first);
    let mut b = Punct::new('*', Spacing::Alone);
    b.set_span(last);
    let range: TokenStream = [TokenTree::Punct(a), TokenTree::Punct(b)]
        .into_iter()
        .collect();
    syn::Error::new_spanned(range, message(d)).to_compile_error()
}

/// The `network Name` identifiers of the input, with their spans.
/// Keywords (`network match`) are left out: an alias named `match` would be
/// a Rust syntax error that hides the spec's own error about the name.
fn network_names(input: TokenStream) -> Vec<proc_macro2::Ident> {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    tokens
        .windows(2)
        .filter_map(|w| match w {
            [TokenTree::Ident(kw), TokenTree::Ident(name)]
                if kw == "network" && syn::parse2::<syn::Ident>(name.to_token_stream()).is_ok() =>
            {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

/// For every network of a spec that has errors, a type alias to a type that
/// does not exist (`SpecHasErrors`). rustc reports that once, at the
/// network's name, and then stays silent about every use of the network in
/// the user's code, so the spec's own errors are not buried under "no
/// function `new`" and the like.
fn fallback(names: Vec<proc_macro2::Ident>) -> TokenStream {
    let aliases = names.into_iter().map(|name| {
        let missing = proc_macro2::Ident::new("SpecHasErrors", name.span());
        quote!(#[allow(dead_code, non_camel_case_types)] pub type #name = #missing;)
    });
    quote!(#(#aliases)*)
}

/// Expands `include_network!("path/to/spec.nn")`: the spec file, relative to
/// the crate root (`CARGO_MANIFEST_DIR`), compiled as `network!` would.
/// Errors are rendered with the spec's path, line and column and reported at
/// the path literal.
pub fn expand_file(input: TokenStream) -> TokenStream {
    let lit: syn::LitStr = match syn::parse2(input) {
        Ok(lit) => lit,
        Err(e) => return e.to_compile_error(),
    };
    let rel = lit.value();
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let path = root.join(&rel);
    let fail = |msg: String| syn::Error::new(lit.span(), msg).to_compile_error();
    let src = match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(src) => src,
            Err(_) => return fail(format!("{rel}: spec is not valid UTF-8")),
        },
        Err(e) => {
            return fail(format!(
                "cannot read {rel} (looked in {}): {e}",
                path.display()
            ))
        }
    };
    let code = match crate::compile(&src) {
        Ok(program) => {
            let code = crate::emit::emit_program(&program);
            let warnings = program.warnings.iter().filter(|d| in_rustc(d)).map(|d| {
                let note = crate::render(std::slice::from_ref(d), &rel, &src);
                deprecated_use(d.code, lit.span(), &note)
            });
            quote!(#code #(#warnings)*)
        }
        Err(diags) => {
            let names = crate::tokens::network_names(&src, lit.span());
            let fallback = fallback(names);
            let err = fail(format!(
                "errors in network spec\n\n{}",
                crate::render(&diags, &rel, &src)
            ));
            return quote!(#err #fallback);
        }
    };
    // Makes rustc rebuild the crate when the spec changes.
    let abs = path.display().to_string();
    quote!(const _: &str = include_str!(#abs); #code)
}
