//! Weights and checkpoints in safetensors, named after the layers
//! ([`Param::name`]), and atomic file writes.
//!
//! Loading checks every tensor's name, shape and dtype against the model
//! and lists every difference at once; a truncated or corrupted file is an
//! [`Error::Format`], never a panic. Writes go to a temporary file in the
//! same directory, then a rename, so a crash never leaves half a file.

use crate::history::History;
use crate::train::{TrainConfig, TrainState};
use crate::{Error, Model, Param, Result};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

mod matching;
mod preprocessing;

pub use matching::{load_weights_matching, LoadOptions, LoadReport};
pub use preprocessing::{load_preprocessing, save_weights_with, Preprocessing, Scaler};

/// Prefix of optimizer-state tensors in checkpoints: `optimizer/<param>/<slot>`.
const OPT_PREFIX: &str = "optimizer/";
/// Prefix of saved scalers: `preprocessing/<inputs|targets>/<kind>/<field>`.
const PREP_PREFIX: &str = "preprocessing/";

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed
/// to disk, then renamed over `path`.
///
/// The temporary name is unique per call (process id and a counter), so
/// saves to one path from several threads or processes do not clash: each
/// succeeds and the last rename wins. Temporaries of the same target left
/// by a save that was killed are removed first.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temporaries(path, &name);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp{}.{call}", std::process::id()));
    let write = || -> std::io::Result<()> {
        // No other save uses this name now; a file by that name can only be
        // left by an earlier process that had our id, so overwriting is right.
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Removes `.<name>.tmp<pid>[.<n>]` files beside `path` whose writer is gone:
/// another process that no longer runs (where `/proc` tells), or any other
/// process's temporary older than an hour. Our own process's temporaries
/// may belong to a save running on another thread, so they stay.
fn remove_stale_temporaries(path: &Path, name: &str) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.tmp");
    let me = std::process::id();
    let proc_fs = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Ok(pid) = rest.split('.').next().unwrap_or("").parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dead = proc_fs && !Path::new(&format!("/proc/{pid}")).exists();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if dead || old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// An f32 tensor to serialise.
struct F32Tensor {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Tensor {
    fn new(shape: &[usize], values: &[f32]) -> Self {
        F32Tensor {
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Every parameter as `(name, tensor)`.
fn collect_params(model: &mut dyn Model) -> Vec<(String, F32Tensor)> {
    let mut out = Vec::new();
    model.visit_params(&mut |p: Param<'_>| {
        out.push((p.name.to_string(), F32Tensor::new(p.shape, p.value)))
    });
    out
}

fn serialize(
    path: &Path,
    tensors: &[(String, F32Tensor)],
    meta: HashMap<String, String>,
) -> Result<()> {
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| Error::format(path, format!("cannot serialise: {e}")))?;
    write_atomic(path, &bytes)
}

/// Saves the model's parameters to `path` (safetensors, f32, one tensor per [`Param`]).
/// The write is atomic (a temporary file renamed over `path`), so a crash
/// never leaves half a file. [`load_weights`] reads it back.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::{io, sequential::Sequential, Activation};
/// use nnc::ndarray::array;
///
/// let path = std::env::temp_dir().join(format!("doc-weights-{}.safetensors", std::process::id()));
/// let build = |seed| Sequential::builder(&[2]).dense(3, Activation::Tanh).dense(1, Activation::Linear).build(seed);
/// let mut trained = build(1)?;
/// io::save_weights(&path, &mut trained)?;
///
/// let mut again = build(2)?; // other initial weights, the same architecture
/// io::load_weights(&path, &mut again)?; // checks every name, shape and dtype
/// let x = array![[0.5f32, -1.0]].into_dyn();
/// assert_eq!(
///     nnc::predict(&mut again, x.view(), 1)?,
///     nnc::predict(&mut trained, x.view(), 1)?
/// );
///
/// // Another architecture is refused, and the error lists what differs.
/// let mut other = Sequential::builder(&[2]).dense(4, Activation::Tanh).dense(1, Activation::Linear).build(0)?;
/// let err = io::load_weights(&path, &mut other).unwrap_err();
/// assert!(err.to_string().contains("dense1.weight"), "{err}");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn save_weights(path: impl AsRef<Path>, model: &mut dyn Model) -> Result<()> {
    let path = path.as_ref();
    let meta = HashMap::from([
        ("format".to_string(), "nnc".to_string()),
        ("model".to_string(), model.name().to_string()),
    ]);
    serialize(path, &collect_params(model), meta)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| {
        Error::format(
            path,
            format!("not a valid safetensors file (truncated or corrupted?): {e}"),
        )
    })
}

fn to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Loads parameters saved by [`save_weights`] (or a checkpoint) into the model.
///
/// Nothing is changed unless every parameter is present with the right
/// shape and dtype and the file has no other weight tensors; otherwise the
/// error lists every difference.
///
/// # Errors
/// [`Error::Io`], [`Error::Format`] for a truncated/corrupted file,
/// [`Error::WeightsMismatch`] listing what differs.
pub fn load_weights(path: impl AsRef<Path>, model: &mut dyn Model) -> Result<()> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let st = parse(path, &bytes)?;
    load_from(path, &st, model)
}

fn load_from(path: &Path, st: &SafeTensors<'_>, model: &mut dyn Model) -> Result<()> {
    let mut differences = Vec::new();
    let mut expected = Vec::new();
    model.visit_params(&mut |p: Param<'_>| expected.push((p.name.to_string(), p.shape.to_vec())));
    for (name, shape) in &expected {
        match st.tensor(name) {
            Err(_) => differences.push(format!("missing tensor `{name}` {shape:?}")),
            Ok(t) => {
                if t.dtype() != Dtype::F32 {
                    differences.push(format!("`{name}` has dtype {:?}, expected F32", t.dtype()));
                }
                if t.shape() != shape.as_slice() {
                    differences.push(format!(
                        "`{name}` has shape {:?}, expected {shape:?}",
                        t.shape()
                    ));
                } else if t.dtype() == Dtype::F32 {
                    let bad = to_f32(t.data())
                        .into_iter()
                        .enumerate()
                        .filter(|(_, v)| !v.is_finite());
                    let (count, first) =
                        bad.fold((0usize, None), |(c, f), (i, v)| (c + 1, f.or(Some((i, v)))));
                    if let Some((i, v)) = first {
                        differences.push(format!(
                            "`{name}` has {count} non-finite value{} (the first, {v}, at flat index {i}); the file was saved from a run that diverged or is corrupted",
                            if count == 1 { "" } else { "s" }
                        ));
                    }
                }
            }
        }
    }
    let mut extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| {
            !n.starts_with(OPT_PREFIX)
                && !n.starts_with(PREP_PREFIX)
                && !expected.iter().any(|(e, _)| e == n)
        })
        .map(|n| format!("unexpected tensor `{n}` (not a parameter of this model)"))
        .collect();
    extra.sort();
    differences.extend(extra);
    if !differences.is_empty() {
        return Err(Error::WeightsMismatch {
            path: path.to_path_buf(),
            model: model.name().to_string(),
            differences,
        });
    }
    model.visit_params(&mut |p: Param<'_>| {
        // Presence, dtype and shape were all checked above.
        if let Ok(t) = st.tensor(p.name) {
            let values = to_f32(t.data());
            if values.len() == p.value.len() {
                p.value.copy_from_slice(&values);
            }
        }
    });
    Ok(())
}

/// Saves a checkpoint: the weights, the optimizer state (as
/// `optimizer/<param>/<slot>` tensors), the epoch, the step count and the
/// history, in one safetensors file written atomically.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn save_checkpoint(
    path: impl AsRef<Path>,
    model: &mut dyn Model,
    state: &TrainState,
) -> Result<()> {
    let path = path.as_ref();
    let mut tensors = collect_params(model);
    let mut names = Vec::new();
    model.visit_params(&mut |p: Param<'_>| {
        names.push((p.index, p.name.to_string(), p.shape.to_vec()))
    });
    for (index, slot, values) in state.optimizer.state() {
        if let Some((_, name, shape)) = names
            .iter()
            .find(|(i, _, s)| *i == index && s.iter().product::<usize>() == values.len())
        {
            tensors.push((
                format!("{OPT_PREFIX}{name}/{slot}"),
                F32Tensor::new(shape, values),
            ));
        }
    }
    let meta = HashMap::from([
        ("format".to_string(), "nnc-checkpoint".to_string()),
        ("model".to_string(), model.name().to_string()),
        (
            "optimizer".to_string(),
            state.optimizer.optimizer().name().to_string(),
        ),
        ("epoch".to_string(), state.epoch.to_string()),
        (
            "iterations".to_string(),
            state.optimizer.iterations().to_string(),
        ),
        ("history".to_string(), state.history.to_csv()),
    ]);
    serialize(path, &tensors, meta)
}

/// Loads a checkpoint saved by [`save_checkpoint`] into the model and
/// returns the state to pass to [`crate::train::resume`].
///
/// # Errors
/// As [`load_weights`], plus [`Error::Format`] if the checkpoint's
/// metadata is missing or was written for another optimizer than `cfg`'s.
pub fn load_checkpoint(
    path: impl AsRef<Path>,
    model: &mut dyn Model,
    cfg: &TrainConfig,
) -> Result<TrainState> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        Error::format(
            path,
            format!("not a valid safetensors file (truncated or corrupted?): {e}"),
        )
    })?;
    let info = meta.metadata().clone().unwrap_or_default();
    let field = |k: &str| {
        info.get(k)
            .ok_or_else(|| Error::format(path, format!("checkpoint metadata has no `{k}` (is this a weights file rather than a checkpoint?)")))
    };
    let opt_name = field("optimizer")?;
    if opt_name != cfg.optimizer.name() {
        return Err(Error::format(
            path,
            format!(
                "checkpoint was written with optimizer `{opt_name}`, this run uses `{}`",
                cfg.optimizer.name()
            ),
        ));
    }
    let number = |k: &str| -> Result<u64> {
        field(k)?
            .parse()
            .map_err(|_| Error::format(path, format!("checkpoint metadata `{k}` is not a number")))
    };
    let epoch = number("epoch")?;
    let iterations = number("iterations")?;
    let history = History::from_csv(field("history")?)
        .ok_or_else(|| Error::format(path, "checkpoint history is malformed"))?;
    // A resume from an epoch past the end would silently train nothing.
    if epoch > cfg.epochs as u64 {
        return Err(Error::format(
            path,
            format!(
                "checkpoint says {epoch} epochs are done, more than the {} this run is configured for; set `epochs` above {epoch} to continue, or check the file",
                cfg.epochs
            ),
        ));
    }
    let epoch = epoch as usize;
    if history.epochs.len() > epoch {
        return Err(Error::format(
            path,
            format!(
                "checkpoint says {epoch} epochs are done, but its history has {} rows",
                history.epochs.len()
            ),
        ));
    }
    let st = parse(path, &bytes)?;
    load_from(path, &st, model)?;
    let mut state = TrainState::new(cfg);
    state.epoch = epoch;
    state.history = history;
    state.optimizer.set_iterations(iterations);
    let mut params = Vec::new();
    model.visit_params(&mut |p: Param<'_>| {
        params.push((p.index, p.name.to_string(), p.value.len()))
    });
    for (name, t) in st.iter() {
        let Some(rest) = name.strip_prefix(OPT_PREFIX) else {
            continue;
        };
        let Some((pname, slot)) = rest.rsplit_once('/') else {
            continue;
        };
        let Some((index, _, len)) = params.iter().find(|(_, n, _)| n == pname) else {
            return Err(Error::format(
                path,
                format!("optimizer state `{name}` is for an unknown parameter"),
            ));
        };
        if t.dtype() != Dtype::F32 {
            return Err(Error::format(
                path,
                format!(
                    "optimizer state `{name}` has dtype {:?}, expected F32",
                    t.dtype()
                ),
            ));
        }
        let values = to_f32(t.data());
        if values.len() != *len {
            return Err(Error::format(
                path,
                format!(
                    "optimizer state `{name}` has {} values, expected {len} (shape {:?})",
                    values.len(),
                    t.shape()
                ),
            ));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::format(
                path,
                format!("optimizer state `{name}` holds a non-finite value ({v})"),
            ));
        }
        if !state.optimizer.set_state(*index, slot, values) {
            return Err(Error::format(
                path,
                format!("optimizer state `{name}` does not belong to `{opt_name}`"),
            ));
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequential::Sequential;
    use crate::Activation;
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nnc-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn net(seed: u64, hidden: usize) -> Sequential {
        Sequential::builder(&[3])
            .dense(hidden, Activation::Relu)
            .dense(2, Activation::Linear)
            .build(seed)
            .unwrap()
    }

    fn values(m: &mut Sequential) -> Vec<f32> {
        let mut v = Vec::new();
        m.visit_params(&mut |p| v.extend_from_slice(p.value));
        v
    }

    #[test]
    fn weights_round_trip_with_layer_names() {
        let path = tmp("rt.safetensors");
        let mut a = net(1, 4);
        save_weights(&path, &mut a).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(
            names,
            [
                "dense1.bias",
                "dense1.weight",
                "dense2.bias",
                "dense2.weight"
            ]
        );
        let mut b = net(2, 4);
        assert_ne!(values(&mut a), values(&mut b));
        load_weights(&path, &mut b).unwrap();
        assert_eq!(values(&mut a), values(&mut b));
        // No temporary file of this save is left behind (other tests write
        // their own into the same directory at the same time).
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".rt.safetensors.tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn mismatch_lists_every_difference_and_changes_nothing() {
        let path = tmp("mm.safetensors");
        save_weights(&path, &mut net(1, 4)).unwrap();
        let mut other = Sequential::builder(&[3])
            .dense(5, Activation::Relu)
            .build(0)
            .unwrap();
        let before = values(&mut other);
        let err = load_weights(&path, &mut other).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`dense1.weight` has shape [3, 4], expected [3, 5]"),
            "{text}"
        );
        assert!(
            text.contains("`dense1.bias` has shape [4], expected [5]"),
            "{text}"
        );
        assert!(text.contains("unexpected tensor `dense2.weight`"), "{text}");
        assert_eq!(values(&mut other), before);
        let mut bigger = Sequential::builder(&[3])
            .dense(4, Activation::Relu)
            .dense(2, Activation::Linear)
            .dense(1, Activation::Linear)
            .build(0)
            .unwrap();
        let text = load_weights(&path, &mut bigger).unwrap_err().to_string();
        assert!(
            text.contains("missing tensor `dense3.weight` [2, 1]"),
            "{text}"
        );
    }

    #[test]
    fn wrong_dtype_truncated_and_corrupt_files_are_errors() {
        let path = tmp("bad.safetensors");
        save_weights(&path, &mut net(1, 4)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 4, 8, 20, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = load_weights(&path, &mut net(1, 4)).unwrap_err();
            assert!(matches!(err, Error::Format { .. }), "cut at {cut}: {err}");
        }
        let mut corrupt = bytes.clone();
        corrupt[10] = b'{';
        corrupt[11] = b'{';
        std::fs::write(&path, &corrupt).unwrap();
        assert!(load_weights(&path, &mut net(1, 4)).is_err());
        let huge_header = [u64::MAX.to_le_bytes().to_vec(), b"{}".to_vec()].concat();
        std::fs::write(&path, huge_header).unwrap();
        assert!(load_weights(&path, &mut net(1, 4)).is_err());
        // An f64 tensor where an f32 one is expected.
        struct F64(Vec<usize>, Vec<u8>);
        impl View for &F64 {
            fn dtype(&self) -> Dtype {
                Dtype::F64
            }
            fn shape(&self) -> &[usize] {
                &self.0
            }
            fn data(&self) -> Cow<'_, [u8]> {
                Cow::Borrowed(&self.1)
            }
            fn data_len(&self) -> usize {
                self.1.len()
            }
        }
        let t = F64(vec![1, 2], vec![0; 16]);
        std::fs::write(
            &path,
            safetensors::serialize([("dense1.weight", &t)], None).unwrap(),
        )
        .unwrap();
        let mut one = Sequential::builder(&[1])
            .dense(2, Activation::Linear)
            .build(0)
            .unwrap();
        let text = load_weights(&path, &mut one).unwrap_err().to_string();
        assert!(
            text.contains("`dense1.weight` has dtype F64, expected F32")
                && text.contains("missing tensor `dense1.bias`"),
            "{text}"
        );
        let missing = load_weights(tmp("does-not-exist"), &mut one)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("does-not-exist"), "{missing}");
    }
}
