//! Feature scaling fitted on the training set and applied to others, and
//! one-hot encoding.
//!
//! Scalers treat every axis but the first as a feature: an image set
//! `[n, 28, 28]` gets 784 per-pixel statistics.

use crate::loss::class_index;
use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayD, ArrayViewD, Axis, Ix2, IxDyn};

/// `[n, ...]` viewed as `[n, features]`.
fn as_matrix<'a>(
    x: &'a ArrayViewD<'a, f32>,
    context: &str,
) -> Result<ndarray::ArrayView2<'a, f32>> {
    if x.ndim() == 0 || x.shape()[0] == 0 {
        return Err(Error::Config(format!("{context}: no samples to fit on")));
    }
    let n = x.shape()[0];
    let f = x.len() / n;
    x.view()
        .into_shape_with_order((n, f))
        .map_err(|_| Error::shape(context, &[n, f], x.shape()))
}

fn features(x: &ArrayD<f32>) -> usize {
    x.shape()
        .first()
        .map_or(0, |&n| x.len().checked_div(n).unwrap_or(0))
}

fn apply(
    x: &mut ArrayD<f32>,
    width: usize,
    context: &str,
    mut f: impl FnMut(usize, f32) -> f32,
) -> Result<()> {
    if x.ndim() == 0 || x.shape()[1..].iter().product::<usize>() != width {
        return Err(Error::shape(context, &[usize::MAX, width], x.shape()));
    }
    // Logical order is row-major, so element k of a row is feature k % width.
    for (k, v) in x.iter_mut().enumerate() {
        *v = f(k % width, *v);
    }
    Ok(())
}

/// Standardisation: `(x - mean) / std` per feature, with the statistics of
/// the data it was fitted on. Constant features get `std = 1` (left centred, not blown up).
///
/// Fit it on the training set only, then apply the same scaling to the
/// test set and to anything predicted later; save it with the weights
/// ([`crate::io::save_weights_with`]) so that a loaded model takes raw inputs.
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::data::transform::Standardizer;
/// use nnc::ndarray::array;
///
/// let mut train = array![[1.0f32, 100.0], [3.0, 300.0]].into_dyn();
/// let mut test = array![[2.0f32, 500.0]].into_dyn();
/// let scaler = Standardizer::fit(train.view())?; // mean [2, 200], std [1, 100]
/// scaler.transform(&mut train)?;
/// scaler.transform(&mut test)?; // the training statistics, not the test set's
/// assert_eq!(train, array![[-1.0f32, -1.0], [1.0, 1.0]].into_dyn());
/// assert_eq!(test, array![[0.0f32, 3.0]].into_dyn());
/// scaler.inverse_transform(&mut test)?; // back to raw units, e.g. for predicted targets
/// assert_eq!(test, array![[2.0f32, 500.0]].into_dyn());
/// # Ok::<(), nnc::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Array1<f32>,
    /// Per-feature standard deviation (population).
    pub std: Array1<f32>,
}

impl Standardizer {
    /// Fits on `x` (the training set).
    ///
    /// # Errors
    /// [`Error::Config`] for an empty `x`.
    pub fn fit(x: ArrayViewD<'_, f32>) -> Result<Self> {
        // Any memory layout (a column-major CSV read, a transposed view) is fine.
        let x = x.as_standard_layout();
        let x = x.view();
        let m = as_matrix(&x, "standardize")?;
        let mean = m.map_axis(Axis(0), |c| {
            (c.iter().map(|&v| v as f64).sum::<f64>() / c.len() as f64) as f32
        });
        let std = Array1::from_iter(m.axis_iter(Axis(1)).zip(mean.iter()).map(|(c, &mu)| {
            let var = c.iter().map(|&v| ((v - mu) as f64).powi(2)).sum::<f64>() / c.len() as f64;
            let s = var.sqrt() as f32;
            if s > 1e-12 {
                s
            } else {
                1.0
            }
        }));
        Ok(Standardizer { mean, std })
    }

    /// Scales `x` in place.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` has a different number of features.
    pub fn transform(&self, x: &mut ArrayD<f32>) -> Result<()> {
        apply(x, self.mean.len(), "standardize", |k, v| {
            (v - self.mean[k]) / self.std[k]
        })
    }

    /// Undoes [`Standardizer::transform`] in place (e.g. on predicted targets).
    ///
    /// # Errors
    /// As [`Standardizer::transform`].
    pub fn inverse_transform(&self, x: &mut ArrayD<f32>) -> Result<()> {
        apply(x, self.mean.len(), "standardize (inverse)", |k, v| {
            v * self.std[k] + self.mean[k]
        })
    }
}

/// Min-max scaling of each feature to `[low, high]` (default `[0, 1]`),
/// with the range of the data it was fitted on. Constant features map to `low`.
#[derive(Debug, Clone, PartialEq)]
pub struct MinMaxScaler {
    /// Per-feature minimum seen in fitting.
    pub min: Array1<f32>,
    /// Per-feature maximum seen in fitting.
    pub max: Array1<f32>,
    /// Target range.
    pub range: (f32, f32),
}

impl MinMaxScaler {
    /// Fits on `x` for the target range `[0, 1]`.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty `x`.
    pub fn fit(x: ArrayViewD<'_, f32>) -> Result<Self> {
        Self::fit_range(x, (0.0, 1.0))
    }

    /// Fits on `x` for the target range `range`.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty `x`.
    pub fn fit_range(x: ArrayViewD<'_, f32>, range: (f32, f32)) -> Result<Self> {
        let x = x.as_standard_layout();
        let x = x.view();
        let m = as_matrix(&x, "min-max scaling")?;
        Ok(MinMaxScaler {
            min: m.map_axis(Axis(0), |c| c.fold(f32::INFINITY, |a, &v| a.min(v))),
            max: m.map_axis(Axis(0), |c| c.fold(f32::NEG_INFINITY, |a, &v| a.max(v))),
            range,
        })
    }

    /// Scales `x` in place (values outside the fitted range map outside the target range).
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` has a different number of features.
    pub fn transform(&self, x: &mut ArrayD<f32>) -> Result<()> {
        let (lo, hi) = self.range;
        apply(x, self.min.len(), "min-max scaling", |k, v| {
            let span = self.max[k] - self.min[k];
            if span > 0.0 {
                lo + (v - self.min[k]) / span * (hi - lo)
            } else {
                lo
            }
        })
    }

    /// Undoes [`MinMaxScaler::transform`] in place (a constant feature maps
    /// back to its one value).
    ///
    /// # Errors
    /// As [`MinMaxScaler::transform`].
    pub fn inverse_transform(&self, x: &mut ArrayD<f32>) -> Result<()> {
        let (lo, hi) = self.range;
        apply(x, self.min.len(), "min-max scaling (inverse)", |k, v| {
            let span = self.max[k] - self.min[k];
            if span > 0.0 && hi != lo {
                self.min[k] + (v - lo) / (hi - lo) * span
            } else {
                self.min[k]
            }
        })
    }
}

/// One-hot encodes class indices (`[n]` or `[n, 1]`, stored as `f32`) into `[n, classes]`.
///
/// # Errors
/// [`Error::Label`] naming the first value that is not a class index in `0..classes`.
pub fn one_hot(labels: ArrayViewD<'_, f32>, classes: usize) -> Result<ArrayD<f32>> {
    let n = labels.shape().first().copied().unwrap_or(0);
    if labels.len() != n || labels.ndim() > 2 {
        return Err(Error::shape(
            "one_hot labels (one per sample)",
            &[n],
            labels.shape(),
        ));
    }
    let mut out = Array2::zeros((n, classes));
    for (i, &v) in labels.iter().enumerate() {
        out[[i, class_index(v, classes, i, "one_hot")?]] = 1.0;
    }
    Ok(out.into_dyn())
}

/// Inverse of [`one_hot`]: the argmax of each row, as `[n]` class indices.
///
/// # Errors
/// [`Error::Shape`] if `onehot` is not 2-D.
pub fn argmax_rows(onehot: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
    let m = onehot
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape("argmax_rows", &[usize::MAX, usize::MAX], onehot.shape()))?;
    let v: Vec<f32> = m
        .rows()
        .into_iter()
        .map(|r| crate::metrics::argmax(r) as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).map_err(|e| Error::Config(e.to_string()))
}

/// Number of features per sample of a dataset array (`0` when empty).
pub fn feature_count(x: &ArrayD<f32>) -> usize {
    features(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn standardizer_fits_on_train_and_applies_to_test() {
        let train = arr2(&[[1.0f32, 10.0, 5.0], [3.0, 30.0, 5.0]]).into_dyn();
        let s = Standardizer::fit(train.view()).unwrap();
        assert_eq!(s.mean.as_slice().unwrap(), &[2.0, 20.0, 5.0]);
        assert_eq!(s.std.as_slice().unwrap(), &[1.0, 10.0, 1.0]);
        let mut test = arr2(&[[2.0f32, 40.0, 6.0]]).into_dyn();
        s.transform(&mut test).unwrap();
        assert_eq!(test.as_slice().unwrap(), &[0.0, 2.0, 1.0]);
        s.inverse_transform(&mut test).unwrap();
        assert_eq!(test.as_slice().unwrap(), &[2.0, 40.0, 6.0]);
        let mut wrong = arr2(&[[1.0f32, 2.0]]).into_dyn();
        assert!(s.transform(&mut wrong).is_err());
        assert!(Standardizer::fit(Array2::<f32>::zeros((0, 3)).into_dyn().view()).is_err());
    }

    #[test]
    fn min_max_and_images() {
        let x = arr2(&[[0.0f32, -1.0], [10.0, 1.0]]).into_dyn();
        let m = MinMaxScaler::fit(x.view()).unwrap();
        let mut y = arr2(&[[5.0f32, 0.0], [20.0, -1.0]]).into_dyn();
        m.transform(&mut y).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[0.5, 0.5, 2.0, 0.0]);
        // Images: per-pixel statistics.
        let img = ArrayD::from_shape_fn(IxDyn(&[4, 2, 2]), |d| (d[0] * 4 + d[1] * 2 + d[2]) as f32);
        let s = Standardizer::fit(img.view()).unwrap();
        assert_eq!(s.mean.len(), 4);
        assert_eq!(feature_count(&img), 4);
    }

    #[test]
    fn one_hot_round_trips_and_rejects_bad_labels() {
        let l = arr1(&[2.0f32, 0.0, 1.0]).into_dyn();
        let h = one_hot(l.view(), 3).unwrap();
        assert_eq!(
            h,
            arr2(&[[0.0f32, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).into_dyn()
        );
        assert_eq!(argmax_rows(h.view()).unwrap(), l);
        let err = one_hot(arr1(&[0.0f32, 3.0]).into_dyn().view(), 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("label 3 at row 1"), "{err}");
        assert!(one_hot(arr1(&[-1.0f32]).into_dyn().view(), 3).is_err());
        assert!(one_hot(arr2(&[[0.0f32, 1.0]]).into_dyn().view(), 3).is_err());
    }
}
