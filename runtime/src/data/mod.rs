//! Datasets: a features/targets pair, readers (IDX, CSV), transforms
//! (standardisation, min-max, one-hot), seeded shuffling, batching,
//! validation split and k-fold cross-validation.

pub mod checksum;
pub mod csv;
pub mod idx;
pub mod transform;

pub use checksum::verify_checksums;

use crate::{Error, Result, Rng};
use ndarray::{ArrayD, ArrayViewD, Axis, Slice};

/// Features and targets, sample-major: `x` is `[n, ..features]`, `y` is
/// `[n, ..targets]` (class labels as `[n]` or `[n, 1]`, stored as `f32`).
///
/// ```
/// # extern crate nnc_runtime as nnc;
/// use nnc::ndarray::{Array1, Array2};
/// use nnc::Dataset;
///
/// // Ten samples of two features; targets are class indices, [n].
/// let x = Array2::from_shape_fn((10, 2), |(i, j)| (i * 2 + j) as f32);
/// let y = Array1::from_shape_fn(10, |i| (i % 2) as f32);
/// let mut data = Dataset::new(x.into_dyn(), y.into_dyn())?;
/// assert_eq!(data.len(), 10);
///
/// data.shuffle(42); // seeded: the same order every run
/// let (train, test) = data.train_test_split(0.2, 0)?; // 8 and 2 samples
/// assert_eq!((train.len(), test.len()), (8, 2));
/// let (fit_on, val) = train.validation_split(0.25)?; // the last 2 of the 8, as Keras
/// assert_eq!((fit_on.len(), val.len()), (6, 2));
/// for (x, y) in train.batches(3)? {
///     assert!(x.shape()[0] <= 3 && y.shape()[0] == x.shape()[0]); // views: 3, 3, then 2 samples
/// }
/// // Every sample validates in exactly one of the k folds.
/// let folds = data.kfold(5, 7)?;
/// assert_eq!(folds.len(), 5);
/// assert!(folds.iter().all(|(tr, va)| tr.len() == 8 && va.len() == 2));
/// # Ok::<(), nnc::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Features `[n, ...]`.
    pub x: ArrayD<f32>,
    /// Targets `[n, ...]`.
    pub y: ArrayD<f32>,
}

impl Dataset {
    /// Pairs features and targets.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` and `y` do not have the same number of samples
    /// (or are scalars).
    pub fn new(x: ArrayD<f32>, y: ArrayD<f32>) -> Result<Self> {
        if x.ndim() == 0 || y.ndim() == 0 || x.shape()[0] != y.shape()[0] {
            return Err(Error::Shape {
                context: "dataset: x and y must have the same number of samples (axis 0)".into(),
                expected: x.shape().to_vec(),
                found: y.shape().to_vec(),
                help: String::new(),
            });
        }
        // Row-major storage: batches are then contiguous slices, and every
        // consumer may assume it (a column-major CSV selection is not).
        let standard = |a: ArrayD<f32>| {
            if a.is_standard_layout() {
                a
            } else {
                a.as_standard_layout().into_owned()
            }
        };
        Ok(Dataset {
            x: standard(x),
            y: standard(y),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.shape().first().copied().unwrap_or(0)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `indices`, in that order (indices past the end are skipped).
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let n = self.len();
        let keep: Vec<usize> = indices.iter().copied().filter(|&i| i < n).collect();
        Dataset {
            x: self.x.select(Axis(0), &keep),
            y: self.y.select(Axis(0), &keep),
        }
    }

    /// Samples `range.start..range.end` (clamped to the dataset).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let n = self.len();
        let (a, b) = (range.start.min(n), range.end.min(n).max(range.start.min(n)));
        Dataset {
            x: self.x.slice_axis(Axis(0), Slice::from(a..b)).to_owned(),
            y: self.y.slice_axis(Axis(0), Slice::from(a..b)).to_owned(),
        }
    }

    /// Shuffles the samples with a seeded permutation (same seed, same order).
    pub fn shuffle(&mut self, seed: u64) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        Rng::seed_from(seed).shuffle(&mut order);
        *self = self.select(&order);
    }

    /// Splits off the last `fraction` of the samples as a validation set,
    /// before any shuffling, exactly as Keras' `validation_split`: the first
    /// `floor(n · (1 - fraction))` samples train, the rest validate.
    ///
    /// # Errors
    /// [`Error::Config`] if `fraction` is not in `(0, 1)` or either part would be empty.
    pub fn validation_split(&self, fraction: f32) -> Result<(Dataset, Dataset)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::Config(format!(
                "validation_split {fraction} is not in (0, 1)"
            )));
        }
        let n = self.len();
        // Keras computes in f64 from the decimal the user wrote (0.3, not the
        // f32 0.30000001): take the f32's shortest decimal form back to f64.
        let f: f64 = fraction.to_string().parse().unwrap_or(fraction as f64);
        let n_val = n - (n as f64 * (1.0 - f)).floor() as usize;
        if n_val == 0 || n_val == n {
            return Err(Error::Config(format!(
                "validation_split {fraction} of {n} samples leaves an empty training or validation set"
            )));
        }
        Ok((self.slice(0..n - n_val), self.slice(n - n_val..n)))
    }

    /// Splits into a training and a test set after a seeded shuffle;
    /// the test set gets `n - floor(n·(1 - test_fraction))` samples (the
    /// training part is rounded down, as in [`Dataset::validation_split`]).
    ///
    /// # Errors
    /// As [`Dataset::validation_split`].
    pub fn train_test_split(&self, test_fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        let mut shuffled = self.clone();
        shuffled.shuffle(seed);
        shuffled.validation_split(test_fraction)
    }

    /// `k` folds for cross-validation: for each fold, `(train, validation)`,
    /// the validation parts partitioning the (seeded-shuffled) samples.
    ///
    /// ```
    /// # extern crate nnc_runtime as nnc;
    /// use nnc::data::csv::{read_csv, CsvOptions};
    /// use nnc::{evaluate, fit, metrics::Metric, sequential::Sequential, train, Activation, Loss, Optimizer};
    ///
    /// let path = "data/sklearn/iris.csv";
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sklearn/iris.csv");
    /// let opts = CsvOptions { header: false, skip_lines: 1, ..Default::default() };
    /// let iris = read_csv(path, &opts)?;
    /// let cfg = train::TrainConfig {
    ///     loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
    ///     optimizer: Optimizer::adam(0.05),
    ///     epochs: 40,
    ///     batch_size: 16,
    ///     verbose: train::Verbosity::Silent,
    ///     ..Default::default()
    /// };
    /// let mut scores = Vec::new();
    /// for (k, (mut train, mut val)) in iris.kfold(3, 0)?.into_iter().enumerate() {
    ///     // Scaling fitted on the fold's training part only.
    ///     let scaler = nnc::data::transform::Standardizer::fit(train.x.view())?;
    ///     scaler.transform(&mut train.x)?;
    ///     scaler.transform(&mut val.x)?;
    ///     // A fresh model per fold.
    ///     let mut model = Sequential::builder(&[4])
    ///         .dense(8, Activation::Relu)
    ///         .dense(3, Activation::Softmax)
    ///         .build(k as u64)?;
    ///     fit(&mut model, &cfg, &train)?;
    ///     let eval = evaluate(&mut model, cfg.loss, &[Metric::Accuracy], &val, 64)?;
    ///     scores.push(eval.metrics[0].1);
    /// }
    /// let mean = scores.iter().sum::<f32>() / scores.len() as f32;
    /// assert!(mean > 0.8, "{scores:?}"); // chance is 1/3
    /// # Ok::<(), nnc::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] if `k < 2` or there are fewer samples than folds.
    pub fn kfold(&self, k: usize, seed: u64) -> Result<Vec<(Dataset, Dataset)>> {
        let folds = kfold_indices(self.len(), k, seed)?;
        Ok(folds
            .into_iter()
            .map(|(tr, va)| (self.select(&tr), self.select(&va)))
            .collect())
    }

    /// Contiguous mini-batches of `batch_size` samples (the last may be
    /// smaller), as views; `batch_size = len()` is batch gradient descent,
    /// 1 is stochastic.
    ///
    /// # Errors
    /// [`Error::Config`] if `batch_size` is 0.
    pub fn batches(&self, batch_size: usize) -> Result<Batches<'_>> {
        if batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        Ok(Batches {
            data: self,
            batch_size,
            pos: 0,
        })
    }
}

/// Index sets for k-fold cross-validation: `(train, validation)` per fold.
///
/// # Errors
/// [`Error::Config`] if `k < 2` or `n < k`.
pub fn kfold_indices(n: usize, k: usize, seed: u64) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if k < 2 || n < k {
        return Err(Error::Config(format!(
            "{k}-fold cross-validation needs k >= 2 and at least k samples (have {n})"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    Rng::seed_from(seed).shuffle(&mut order);
    // The first n % k folds get one extra sample, as scikit-learn's KFold.
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for f in 0..k {
        let size = n / k + usize::from(f < n % k);
        let val = order[start..start + size].to_vec();
        let train = order[..start]
            .iter()
            .chain(&order[start + size..])
            .copied()
            .collect();
        out.push((train, val));
        start += size;
    }
    Ok(out)
}

/// Iterator over contiguous mini-batches; see [`Dataset::batches`].
#[derive(Debug)]
pub struct Batches<'a> {
    data: &'a Dataset,
    batch_size: usize,
    pos: usize,
}

impl<'a> Iterator for Batches<'a> {
    type Item = (ArrayViewD<'a, f32>, ArrayViewD<'a, f32>);

    fn next(&mut self) -> Option<Self::Item> {
        let n = self.data.len();
        if self.pos >= n {
            return None;
        }
        let end = (self.pos + self.batch_size).min(n);
        let s = Slice::from(self.pos..end);
        self.pos = end;
        Some((
            self.data.x.slice_axis(Axis(0), s),
            self.data.y.slice_axis(Axis(0), s),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    fn toy(n: usize) -> Dataset {
        let x = Array2::from_shape_fn((n, 2), |(i, j)| (i * 10 + j) as f32).into_dyn();
        let y = Array1::from_shape_fn(n, |i| i as f32).into_dyn();
        Dataset::new(x, y).unwrap()
    }

    #[test]
    fn validation_split_takes_the_tail() {
        let (tr, va) = toy(10).validation_split(0.2).unwrap();
        assert_eq!(tr.len(), 8);
        assert_eq!(va.y.as_slice().unwrap(), &[8.0, 9.0]);
        assert!(toy(10).validation_split(0.0).is_err());
        // Keras' rounding: int(n * (1 - split)) samples train.
        let (tr, va) = toy(3).validation_split(0.2).unwrap();
        assert_eq!((tr.len(), va.len()), (2, 1));
        let (tr, va) = toy(404).validation_split(0.2).unwrap();
        assert_eq!((tr.len(), va.len()), (323, 81));
        let (tr, va) = toy(10).validation_split(0.3).unwrap();
        assert_eq!((tr.len(), va.len()), (7, 3));
        assert!(toy(1).validation_split(0.2).is_err());
        assert!(Dataset::new(
            Array2::zeros((3, 2)).into_dyn(),
            Array1::zeros(4).into_dyn()
        )
        .is_err());
    }

    #[test]
    fn shuffle_is_seeded_and_keeps_pairs_together() {
        let mut a = toy(20);
        let mut b = toy(20);
        a.shuffle(5);
        b.shuffle(5);
        assert_eq!(a, b);
        assert_ne!(a, toy(20));
        for i in 0..20 {
            assert_eq!(a.x[[i, 0]], a.y[[i]] * 10.0);
        }
    }

    #[test]
    fn kfold_partitions_every_sample_once() {
        let folds = kfold_indices(11, 3, 1).unwrap();
        let mut all: Vec<usize> = folds.iter().flat_map(|(_, v)| v.clone()).collect();
        all.sort();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert_eq!(
            folds.iter().map(|(_, v)| v.len()).collect::<Vec<_>>(),
            [4, 4, 3]
        );
        for (tr, va) in &folds {
            assert_eq!(tr.len() + va.len(), 11);
            assert!(va.iter().all(|i| !tr.contains(i)));
        }
        assert_eq!(toy(11).kfold(3, 1).unwrap()[2].1.len(), 3);
        assert!(kfold_indices(2, 3, 0).is_err());
        assert!(kfold_indices(5, 1, 0).is_err());
    }

    #[test]
    fn batches_cover_everything_and_reject_zero() {
        let d = toy(7);
        let sizes: Vec<usize> = d
            .batches(3)
            .unwrap()
            .map(|(x, y)| {
                assert_eq!(x.shape()[0], y.shape()[0]);
                x.shape()[0]
            })
            .collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert_eq!(d.batches(100).unwrap().count(), 1);
        assert_eq!(d.batches(1).unwrap().count(), 7);
        assert!(d.batches(0).is_err());
    }
}
