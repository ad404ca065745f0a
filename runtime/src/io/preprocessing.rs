//! Preprocessing saved beside the weights, so that a loaded model predicts
//! on raw inputs: the scaler fitted on the training inputs (and on the
//! targets, for a regression trained on scaled targets) is stored as
//! `preprocessing/<inputs|targets>/<kind>/<field>` tensors in the same
//! safetensors file.

use super::{collect_params, parse, read, serialize, to_f32, F32Tensor, PREP_PREFIX};
use crate::data::transform::{MinMaxScaler, Standardizer};
use crate::{Error, Model, Result};
use ndarray::Array1;
use std::collections::HashMap;
use std::path::Path;

/// A fitted scaler.
#[derive(Debug, Clone, PartialEq)]
pub enum Scaler {
    /// `(x - mean) / std` per feature.
    Standardize(Standardizer),
    /// Per-feature min-max scaling.
    MinMax(MinMaxScaler),
}

impl Scaler {
    /// Scales `x` in place.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` has another number of features.
    pub fn transform(&self, x: &mut ndarray::ArrayD<f32>) -> Result<()> {
        match self {
            Scaler::Standardize(s) => s.transform(x),
            Scaler::MinMax(s) => s.transform(x),
        }
    }

    /// Undoes [`Scaler::transform`] in place (e.g. on predicted targets).
    ///
    /// # Errors
    /// As [`Scaler::transform`].
    pub fn inverse_transform(&self, x: &mut ndarray::ArrayD<f32>) -> Result<()> {
        match self {
            Scaler::Standardize(s) => s.inverse_transform(x),
            Scaler::MinMax(s) => s.inverse_transform(x),
        }
    }

    fn tensors(&self, role: &str) -> Vec<(String, F32Tensor)> {
        let t = |field: &str, v: &[f32]| {
            (
                format!("{PREP_PREFIX}{role}/{}/{field}", self.kind()),
                F32Tensor::new(&[v.len()], v),
            )
        };
        match self {
            Scaler::Standardize(s) => vec![
                t("mean", s.mean.as_slice().unwrap_or(&s.mean.to_vec())),
                t("std", s.std.as_slice().unwrap_or(&s.std.to_vec())),
            ],
            Scaler::MinMax(s) => vec![
                t("min", s.min.as_slice().unwrap_or(&s.min.to_vec())),
                t("max", s.max.as_slice().unwrap_or(&s.max.to_vec())),
                t("range", &[s.range.0, s.range.1]),
            ],
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Scaler::Standardize(_) => "standardize",
            Scaler::MinMax(_) => "min_max",
        }
    }
}

impl From<Standardizer> for Scaler {
    fn from(s: Standardizer) -> Scaler {
        Scaler::Standardize(s)
    }
}

impl From<MinMaxScaler> for Scaler {
    fn from(s: MinMaxScaler) -> Scaler {
        Scaler::MinMax(s)
    }
}

/// The preprocessing a model was trained with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preprocessing {
    /// Applied to raw inputs before the network.
    pub inputs: Option<Scaler>,
    /// Applied to raw targets for training; undo it on predictions.
    pub targets: Option<Scaler>,
}

/// Saves the model's weights as [`super::save_weights`] does, plus
/// `preprocessing`, in one file. [`super::load_weights`] reads the weights of
/// such a file as usual; [`load_preprocessing`] reads the scalers back.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::{io, data::transform::Standardizer, sequential::Sequential, Activation};
/// use nnc::ndarray::array;
/// # let dir = std::env::temp_dir().join(format!("nnc-doc-prep-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("model.safetensors");
/// let raw = array![[1.0f32, 200.0], [3.0, 400.0]].into_dyn();
/// let scaler = Standardizer::fit(raw.view()).unwrap();
/// let mut model = Sequential::builder(&[2]).dense(1, Activation::Linear).build(0).unwrap();
/// let prep = io::Preprocessing { inputs: Some(scaler.into()), targets: None };
/// io::save_weights_with(&path, &mut model, &prep).unwrap();
/// // Later, elsewhere: the same scaling for raw inputs.
/// io::load_weights(&path, &mut model).unwrap();
/// let loaded = io::load_preprocessing(&path).unwrap();
/// assert_eq!(loaded, prep);
/// let mut x = raw.clone();
/// loaded.inputs.unwrap().transform(&mut x).unwrap();
/// assert_eq!(x[[0, 1]], -1.0);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn save_weights_with(
    path: impl AsRef<Path>,
    model: &mut dyn Model,
    preprocessing: &Preprocessing,
) -> Result<()> {
    let path = path.as_ref();
    let mut tensors = collect_params(model);
    for (role, scaler) in [
        ("inputs", &preprocessing.inputs),
        ("targets", &preprocessing.targets),
    ] {
        if let Some(s) = scaler {
            tensors.extend(s.tensors(role));
        }
    }
    let meta = HashMap::from([
        ("format".to_string(), "nnc".to_string()),
        ("model".to_string(), model.name().to_string()),
    ]);
    serialize(path, &tensors, meta)
}

/// Reads the scalers saved by [`save_weights_with`]; a file without any
/// gives `Preprocessing::default()` (none).
///
/// # Errors
/// [`Error::Io`], or [`Error::Format`] for a truncated file or a scaler
/// whose tensors are incomplete, of different lengths or not finite.
pub fn load_preprocessing(path: impl AsRef<Path>) -> Result<Preprocessing> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let st = parse(path, &bytes)?;
    let get = |name: &str| -> Result<Option<Vec<f32>>> {
        let Ok(t) = st.tensor(name) else {
            return Ok(None);
        };
        let v = to_f32(t.data());
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::format(
                path,
                format!("`{name}` holds a NaN or infinite value"),
            ));
        }
        Ok(Some(v))
    };
    let mut out = Preprocessing::default();
    for role in ["inputs", "targets"] {
        let p = |kind: &str, field: &str| format!("{PREP_PREFIX}{role}/{kind}/{field}");
        let incomplete = |kind: &str| {
            Error::format(
                path,
                format!("the `{role}` {kind} scaler is incomplete or its tensors differ in length"),
            )
        };
        let scaler = match (
            get(&p("standardize", "mean"))?,
            get(&p("standardize", "std"))?,
        ) {
            (Some(mean), Some(std)) if mean.len() == std.len() => {
                Some(Scaler::Standardize(Standardizer {
                    mean: Array1::from(mean),
                    std: Array1::from(std),
                }))
            }
            (None, None) => None,
            _ => return Err(incomplete("standardize")),
        };
        let minmax = match (
            get(&p("min_max", "min"))?,
            get(&p("min_max", "max"))?,
            get(&p("min_max", "range"))?,
        ) {
            (Some(min), Some(max), Some(range)) if min.len() == max.len() && range.len() == 2 => {
                Some(Scaler::MinMax(MinMaxScaler {
                    min: Array1::from(min),
                    max: Array1::from(max),
                    range: (range[0], range[1]),
                }))
            }
            (None, None, None) => None,
            _ => return Err(incomplete("min_max")),
        };
        let scaler = match (scaler, minmax) {
            (Some(_), Some(_)) => {
                return Err(Error::format(path, format!("two scalers for `{role}`")))
            }
            (a, b) => a.or(b),
        };
        match role {
            "inputs" => out.inputs = scaler,
            _ => out.targets = scaler,
        }
    }
    Ok(out)
}
