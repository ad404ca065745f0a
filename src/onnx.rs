//! ONNX export: a trained network as a standard ONNX model that
//! onnxruntime, tract and other ONNX runtimes run.
//!
//! ```no_run
//! # nnc::network! { network Tiny(x: [2]) -> [1] { dense(1) sigmoid } }
//! let mut net = Tiny::new(0);
//! // ... train it ...
//! nnc::onnx::export(&mut net, "tiny.onnx")?;
//! # Ok::<(), nnc::Error>(())
//! ```
//!
//! The model takes the network's input under its name in the spec, shaped
//! `[batch, ..input shape]` (channels last for images, as `predict`), and
//! returns `output`, `[batch, ..output shape]`: what [`Model`]'s forward at
//! inference (`predict`) returns, last activation included. It uses opset
//! [`OPSET`] and standard operators only; dropout is left out. The spec
//! text and the nnc version are in the model's metadata (`nnc.spec`,
//! `nnc.version`). `docs/onnx.md` lists the operators each layer becomes.
//!
//! The command line does the same from a spec and a weights file, without
//! compiling the network: `nnc export-onnx SPEC WEIGHTS -o model.onnx`.

use std::path::Path;

use crate::{Error, Model, Result};

pub use nnc_onnx::{Tensor, Weights, IR_VERSION, OPSET, OUTPUT_NAME};

/// The model's parameters by name, copied.
pub fn weights(net: &mut dyn Model) -> Weights {
    let mut weights = Weights::new();
    net.visit_params(&mut |p| {
        weights.insert(
            p.name.to_string(),
            Tensor::new(p.shape.to_vec(), p.value.to_vec()),
        );
    });
    weights
}

/// The ONNX model of `net` with its current parameters, encoded.
///
/// Takes `&mut` because parameters are lent through
/// [`Model::visit_params`]; nothing is changed.
///
/// # Errors
/// [`Error::Export`] for a network without a graph description (one not
/// generated from a spec, such as [`crate::sequential::Sequential`]) or
/// with a layer ONNX cannot express, naming the layer and why.
pub fn to_bytes(net: &mut dyn Model) -> Result<Vec<u8>> {
    let model = net.name().to_string();
    let graph = net.graph().ok_or_else(|| Error::Export {
        format: "ONNX",
        model: model.clone(),
        layer: None,
        message:
            "the network has no graph description (only networks generated from a spec have one)"
                .into(),
    })?;
    let weights = weights(net);
    nnc_onnx::to_bytes(&graph, &weights).map_err(|e| Error::Export {
        format: "ONNX",
        model,
        layer: e.layer,
        message: e.message,
    })
}

/// Writes the ONNX model of `net` to `path` (atomically, as weights are
/// saved).
///
/// # Errors
/// As [`to_bytes`], and [`Error::Io`] if the file cannot be written.
pub fn export(net: &mut dyn Model, path: impl AsRef<Path>) -> Result<()> {
    let bytes = to_bytes(net)?;
    crate::io::write_atomic(path.as_ref(), &bytes)
}
