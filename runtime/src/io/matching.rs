//! Loading weights by name into another network, for transfer learning:
//! the trained layers of one network seed a second one that shares some of
//! its layers (Keras' `load_weights(by_name=True, skip_mismatch=True)`).

use super::{parse, read, to_f32, OPT_PREFIX, PREP_PREFIX};
use crate::{Error, Model, Param, Result};
use safetensors::tensor::Dtype;
use std::fmt;
use std::path::Path;

/// What [`load_weights_matching`] tolerates, and how it maps names.
///
/// The default tolerates nothing, like [`super::load_weights`], but reports
/// what matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// Name prefixes to rewrite in the file before matching, first match
    /// wins: `("dense1.", "features.")` loads the file's `dense1.weight`
    /// into the model's `features.weight`.
    pub rename: Vec<(String, String)>,
    /// Leave model parameters that the file does not have as they are.
    pub skip_missing: bool,
    /// Ignore tensors of the file that the model has no parameter for.
    pub skip_extra: bool,
    /// Leave a parameter as it is when the file's tensor of that name has
    /// another shape or dtype.
    pub skip_mismatched: bool,
}

impl LoadOptions {
    /// Loads what matches and skips the rest: the usual start of transfer
    /// learning, where the new network shares some layers with the old one.
    pub fn lenient() -> LoadOptions {
        LoadOptions {
            rename: Vec::new(),
            skip_missing: true,
            skip_extra: true,
            skip_mismatched: true,
        }
    }

    /// Adds a rename of the file's name prefix `from` to the model's `to`.
    pub fn rename(mut self, from: impl Into<String>, to: impl Into<String>) -> LoadOptions {
        self.rename.push((from.into(), to.into()));
        self
    }

    /// The model-side name of a file tensor.
    fn map(&self, name: &str) -> String {
        for (from, to) in &self.rename {
            if let Some(rest) = name.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        name.to_string()
    }
}

/// What [`load_weights_matching`] did, parameter by parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Model parameters loaded from the file (model-side names).
    pub loaded: Vec<String>,
    /// Model parameters the file has no tensor for (left as they were).
    pub missing: Vec<String>,
    /// File tensors no model parameter takes (file-side names).
    pub extra: Vec<String>,
    /// Parameters left as they were because the file's tensor differs, with why.
    pub mismatched: Vec<String>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loaded {} parameter tensor(s), {} missing from the file, {} extra in the file, {} mismatched",
            self.loaded.len(),
            self.missing.len(),
            self.extra.len(),
            self.mismatched.len()
        )?;
        for (what, names) in [
            ("loaded", &self.loaded),
            ("missing", &self.missing),
            ("extra", &self.extra),
            ("mismatched", &self.mismatched),
        ] {
            for n in names {
                writeln!(f, "  {what:<10} {n}")?;
            }
        }
        Ok(())
    }
}

/// Loads the tensors of a weights file (or checkpoint) into the model
/// parameters of the same name (after `options.rename`), and reports what
/// matched. Nothing is changed if anything that `options` does not
/// tolerate differs: the error then lists every difference.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::{io, sequential::Sequential, Activation};
/// # let dir = std::env::temp_dir().join(format!("nnc-doc-match-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("base.safetensors");
/// let mut base = Sequential::builder(&[4]).dense(8, Activation::Relu).dense(3, Activation::Softmax).build(0).unwrap();
/// io::save_weights(&path, &mut base).unwrap();
/// // A new head on the same first layer: load what fits, skip the rest.
/// let mut fine = Sequential::builder(&[4]).dense(8, Activation::Relu).dense(2, Activation::Softmax).build(1).unwrap();
/// let report = io::load_weights_matching(&path, &mut fine, &io::LoadOptions::lenient()).unwrap();
/// assert_eq!(report.loaded, ["dense1.weight", "dense1.bias"]);
/// assert_eq!(report.mismatched.len(), 2); // dense2 is [8, 2] here, [8, 3] in the file
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::Io`], [`Error::Format`] for a truncated or corrupted file,
/// [`Error::WeightsMismatch`] listing the differences not tolerated.
pub fn load_weights_matching(
    path: impl AsRef<Path>,
    model: &mut dyn Model,
    options: &LoadOptions,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let st = parse(path, &bytes)?;
    let mut expected = Vec::new();
    model.visit_params(&mut |p: Param<'_>| expected.push((p.name.to_string(), p.shape.to_vec())));

    // File tensors by model-side name; optimizer state and preprocessing are not weights.
    let mut by_model_name = std::collections::HashMap::new();
    let mut report = LoadReport::default();
    let mut file_names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    file_names.sort();
    for name in file_names {
        if name.starts_with(OPT_PREFIX) || name.starts_with(PREP_PREFIX) {
            continue;
        }
        let mapped = options.map(&name);
        if expected.iter().any(|(e, _)| *e == mapped) {
            by_model_name.insert(mapped, name);
        } else {
            report.extra.push(name);
        }
    }
    let mut values = Vec::new();
    for (name, shape) in &expected {
        let Some(file_name) = by_model_name.get(name) else {
            report.missing.push(name.clone());
            continue;
        };
        let t = st
            .tensor(file_name)
            .map_err(|e| Error::format(path, e.to_string()))?;
        let why = if t.dtype() != Dtype::F32 {
            Some(format!("dtype {:?}, the model needs F32", t.dtype()))
        } else if t.shape() != shape.as_slice() {
            Some(format!("shape {:?}, the model needs {shape:?}", t.shape()))
        } else {
            None
        };
        match why {
            Some(why) => report
                .mismatched
                .push(format!("`{name}`: the file's `{file_name}` has {why}")),
            None => {
                let v = to_f32(t.data());
                if let Some(bad) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::format(
                        path,
                        format!("tensor `{file_name}` holds {} at element {bad}", v[bad]),
                    ));
                }
                report.loaded.push(name.clone());
                values.push((name.clone(), v));
            }
        }
    }
    let mut differences = Vec::new();
    if !options.skip_missing {
        differences.extend(
            report
                .missing
                .iter()
                .map(|n| format!("missing tensor `{n}`")),
        );
    }
    if !options.skip_extra {
        differences.extend(
            report
                .extra
                .iter()
                .map(|n| format!("unexpected tensor `{n}` (not a parameter of this model)")),
        );
    }
    if !options.skip_mismatched {
        differences.extend(report.mismatched.iter().cloned());
    }
    if !differences.is_empty() {
        return Err(Error::WeightsMismatch {
            path: path.to_path_buf(),
            model: model.name().to_string(),
            differences,
        });
    }
    model.visit_params(&mut |p: Param<'_>| {
        if let Some((_, v)) = values.iter().find(|(n, _)| n == p.name) {
            p.value.copy_from_slice(v);
        }
    });
    Ok(report)
}
