//! Small helpers that generated code calls at the boundary of a network:
//! checking and copying batches in, shaping results out. They never allocate
//! for per-sample ranks up to 3, so a training step stays allocation-free.

use crate::{Error, Result};
use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, Dimension, IxDyn};

/// `[n, ..shape]` as a stack buffer (ranks up to 7).
fn batch_dims(n: usize, shape: &[usize]) -> ([usize; 8], usize) {
    let mut dims = [0usize; 8];
    let k = (shape.len() + 1).min(8);
    dims[0] = n;
    dims[1..k].copy_from_slice(&shape[..k - 1]);
    (dims, k)
}

fn shape_error(expected_rows: Option<usize>, shape: &[usize], found: &[usize]) -> Error {
    let mut expected = vec![expected_rows.unwrap_or(usize::MAX)];
    expected.extend_from_slice(shape);
    Error::Shape {
        context: "batch".into(),
        help: shape_help(&expected, found),
        expected,
        found: found.to_vec(),
    }
}

/// What to do when a batch `[n, ..]` does not fit `expected` (`[*, ..shape]`
/// or `[rows, ..shape]`): says how many features the model takes and what
/// the data has, and whether a reshape would do.
pub fn shape_help(expected: &[usize], found: &[usize]) -> String {
    let shape = expected.get(1..).unwrap_or(&[]);
    let want: usize = shape.iter().product();
    if found.is_empty() {
        return format!(
            "pass a batch [n, {}] (one row per sample), not a scalar",
            join(shape)
        );
    }
    let rows_ok = expected
        .first()
        .is_none_or(|&r| r == usize::MAX || r == found[0]);
    let sample = &found[1..];
    let have: usize = sample.iter().product();
    if sample == shape {
        return if rows_ok {
            String::new()
        } else {
            format!(
                "the batch has {} rows where {} were expected",
                found[0], expected[0]
            )
        };
    }
    match (shape, sample) {
        ([f], [c]) => format!("the model takes {f} features; the data has {c} columns"),
        ([f], []) => format!(
            "the model takes {f} features; the data has one value per sample: reshape it to [n, {f}]"
        ),
        _ if want == have => format!(
            "the model takes samples of shape {}; the data's samples are {}, with the same number of values: reshape the data to [n, {}]",
            crate::error::show_shape(shape),
            crate::error::show_shape(sample),
            join(shape)
        ),
        _ => format!(
            "the model takes samples of shape {} ({want} values); the data's samples are {} ({have} values)",
            crate::error::show_shape(shape),
            crate::error::show_shape(sample),
        ),
    }
}

/// What to do when targets with per-sample shape `y_rest` do not fit a
/// model whose output is `output`. The class-index hint is given only for
/// categorical cross-entropy, where integer labels are the likely mistake.
pub fn targets_help(categorical: bool, output: &[usize], y_rest: &[usize]) -> String {
    let per_sample: usize = y_rest.iter().product();
    let outputs: usize = output.iter().product();
    if categorical && per_sample == 1 && outputs > 1 {
        return "class indices need sparse_categorical_crossentropy, or one-hot encode them"
            .to_string();
    }
    if per_sample == outputs {
        return format!("reshape the targets to [n, {}]", join(output));
    }
    let what = match y_rest {
        [] => "one value per sample".to_string(),
        [c] => format!("{c} columns"),
        _ => format!("samples of shape {}", crate::error::show_shape(y_rest)),
    };
    format!(
        "the model outputs {outputs} value{} per sample; the targets have {what}",
        if outputs == 1 { "" } else { "s" }
    )
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `x` is a batch `[n, ..shape]` and returns `n`.
pub fn check_batch(x: &ArrayViewD<'_, f32>, shape: &[usize]) -> Result<usize> {
    let found = x.shape();
    if found.len() != shape.len() + 1 || found[1..] != *shape {
        return Err(shape_error(None, shape, found));
    }
    Ok(found[0])
}

/// Copies the batch `src` (`[rows, ..shape]`, any memory layout) into the
/// `[rows, width]` matrix `dst`, after checking its shape.
pub fn copy_batch(
    src: &ArrayViewD<'_, f32>,
    shape: &[usize],
    mut dst: ArrayViewMut2<'_, f32>,
) -> Result<()> {
    let found = src.shape();
    if found.len() != shape.len() + 1 || found[0] != dst.nrows() || found[1..] != *shape {
        return Err(shape_error(Some(dst.nrows()), shape, found));
    }
    match (src.as_slice(), dst.as_slice_mut()) {
        (Some(s), Some(d)) => d.copy_from_slice(s),
        _ => dst.iter_mut().zip(src.iter()).for_each(|(d, s)| *d = *s),
    }
    Ok(())
}

/// The batch `src` (`[rows, ..shape]`, checked by [`check_batch`]) as a
/// `[rows, width]` matrix without a copy, if it is contiguous in standard
/// order; `None` otherwise (then [`copy_batch`] it).
pub fn batch_in_place<'a>(src: &ArrayViewD<'a, f32>) -> Option<ArrayView2<'a, f32>> {
    let rows = *src.shape().first()?;
    let width = src.shape()[1..].iter().product::<usize>();
    let data = src.to_slice()?;
    ArrayView2::from_shape((rows, width), data).ok()
}

/// Views the flat row-major `data` as a batch `[n, ..shape]`; its length
/// must be exactly that of the batch.
pub fn batch_view<'a>(data: &'a [f32], n: usize, shape: &[usize]) -> Result<ArrayViewD<'a, f32>> {
    let (dims, k) = batch_dims(n, shape);
    let dims = IxDyn(&dims[..k]);
    let wrong = || shape_error(Some(n), shape, &[data.len()]);
    if dims.size_checked() != Some(data.len()) {
        return Err(wrong());
    }
    ArrayViewD::from_shape(dims, data).map_err(|_| wrong())
}

/// Views the `[n, width]` matrix `v` as `[n, ..shape]`.
pub fn unflatten<'a>(v: ArrayView2<'a, f32>, shape: &[usize]) -> Result<ArrayViewD<'a, f32>> {
    let (dims, k) = batch_dims(v.nrows(), shape);
    let found = [v.nrows(), v.ncols()];
    v.into_shape_with_order(IxDyn(&dims[..k]))
        .map_err(|_| shape_error(Some(dims[0]), shape, &found))
}

/// Converts a dynamic-rank view to a fixed rank `D`.
pub fn fixed_rank<D: Dimension>(y: ArrayViewD<'_, f32>) -> Result<ndarray::ArrayView<'_, f32, D>> {
    let found = y.shape().to_vec();
    y.into_dimensionality::<D>().map_err(|_| Error::Shape {
        context: "output rank".into(),
        expected: vec![usize::MAX; D::NDIM.unwrap_or(0)],
        found,
        help: String::new(),
    })
}

/// `rows` rows of `C` zeros on the heap, built without a `[0.0; C]`
/// temporary: generated `new()` stores a wide layer's kernel this way, and a
/// row of a `dense(600000)` kernel would not fit on a 2 MiB thread stack.
pub fn zeros_rows<const C: usize>(rows: usize) -> Box<[[f32; C]]> {
    let mut v: Vec<[f32; C]> = Vec::with_capacity(rows);
    // SAFETY: the capacity holds `rows` elements, and all-zero bytes are a
    // valid `[f32; C]` (each element 0.0), so the first `rows` are initialised.
    unsafe {
        std::ptr::write_bytes(v.as_mut_ptr(), 0, rows);
        v.set_len(rows);
    }
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn copy_and_check_batches() {
        let x = Array3::from_shape_fn((2, 2, 3), |(i, j, k)| (i * 6 + j * 3 + k) as f32);
        assert_eq!(check_batch(&x.view().into_dyn(), &[2, 3]).unwrap(), 2);
        assert!(check_batch(&x.view().into_dyn(), &[3, 2]).is_err());
        let mut dst = Array2::zeros((2, 6));
        copy_batch(&x.view().into_dyn(), &[2, 3], dst.view_mut()).unwrap();
        assert_eq!(dst[[1, 5]], 11.0);
        // A transposed (non-contiguous) source is copied in logical order.
        let t = x.view().permuted_axes([0, 2, 1]);
        copy_batch(&t.into_dyn(), &[3, 2], dst.view_mut()).unwrap();
        assert_eq!(dst.row(0).to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let mut wrong = Array2::zeros((3, 6));
        assert!(copy_batch(&x.view().into_dyn(), &[2, 3], wrong.view_mut()).is_err());
        let v = unflatten(dst.view(), &[3, 2]).unwrap();
        assert_eq!(v.shape(), &[2, 3, 2]);
    }
}
