//! Metrics: the streaming ones the training loop reports per epoch
//! ([`Metric`]), and evaluation tools (confusion matrix, precision, recall,
//! F1 per class and macro, MSE, MAE, R²).

use crate::loss::class_index;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView1, ArrayViewD, Axis, Zip};

pub use nnc_core::metrics::Metric;

/// Computing a [`Metric`] on arrays. (The enum itself is shared with the
/// compiler, in `nnc-core`.)
pub trait MetricExt {
    /// `(sum, count)` over one batch, so that epoch values are exact sample
    /// averages whatever the batch sizes. Allocates nothing.
    ///
    /// # Errors
    /// [`Error::Shape`] if target and output do not fit, [`Error::Label`] for a bad class index.
    fn batch_sum(
        &self,
        output: ArrayViewD<'_, f32>,
        target: ArrayViewD<'_, f32>,
    ) -> Result<(f64, usize)>;

    /// The metric over a whole output/target pair.
    ///
    /// # Errors
    /// As [`MetricExt::batch_sum`].
    fn compute(&self, output: ArrayViewD<'_, f32>, target: ArrayViewD<'_, f32>) -> Result<f32>;
}

impl MetricExt for Metric {
    fn batch_sum(
        &self,
        output: ArrayViewD<'_, f32>,
        target: ArrayViewD<'_, f32>,
    ) -> Result<(f64, usize)> {
        let same = output.shape() == target.shape();
        match *self {
            Metric::Mse | Metric::Mae => {
                if !same {
                    return Err(Error::shape(self.name(), output.shape(), target.shape()));
                }
                let square = *self == Metric::Mse;
                let s = Zip::from(&output).and(&target).fold(0.0f64, |s, &o, &t| {
                    let d = (o - t) as f64;
                    s + if square { d * d } else { d.abs() }
                });
                Ok((s, output.len()))
            }
            Metric::BinaryAccuracy { threshold } => {
                if !same {
                    return Err(Error::shape(self.name(), output.shape(), target.shape()));
                }
                let s = Zip::from(&output).and(&target).fold(0.0f64, |s, &o, &t| {
                    s + f64::from((o > threshold) == (t > 0.5))
                });
                Ok((s, output.len()))
            }
            Metric::Accuracy => {
                let last = Axis(output.ndim().saturating_sub(1));
                let classes = output.len_of(last);
                if classes == 0 {
                    return Err(Error::shape(
                        "accuracy (no output classes)",
                        &[1],
                        output.shape(),
                    ));
                }
                if output.ndim() < 2 || classes == 1 {
                    return Metric::BinaryAccuracy { threshold: 0.5 }.batch_sum(output, target);
                }
                let rows = output.len() / classes;
                let mut correct = 0usize;
                if same {
                    for (o, t) in output.lanes(last).into_iter().zip(target.lanes(last)) {
                        correct += usize::from(argmax(o) == argmax(t));
                    }
                } else if target.len() == rows {
                    for (i, (o, &t)) in output
                        .lanes(last)
                        .into_iter()
                        .zip(target.iter())
                        .enumerate()
                    {
                        correct +=
                            usize::from(argmax(o) == class_index(t, classes, i, "accuracy")?);
                    }
                } else {
                    return Err(Error::shape(
                        "accuracy target",
                        output.shape(),
                        target.shape(),
                    ));
                }
                Ok((correct as f64, rows))
            }
        }
    }

    fn compute(&self, output: ArrayViewD<'_, f32>, target: ArrayViewD<'_, f32>) -> Result<f32> {
        let (s, n) = self.batch_sum(output, target)?;
        Ok(if n == 0 { 0.0 } else { (s / n as f64) as f32 })
    }
}

/// Index of the largest element (the first on ties; NaN never wins).
pub fn argmax(row: ArrayView1<'_, f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Predicted class per row: argmax, or `output > 0.5` for a single output unit.
pub fn predicted_classes(output: ArrayViewD<'_, f32>) -> Vec<usize> {
    let last = Axis(output.ndim().saturating_sub(1));
    if output.ndim() < 2 || output.len_of(last) == 1 {
        return output.iter().map(|&p| usize::from(p > 0.5)).collect();
    }
    output.lanes(last).into_iter().map(argmax).collect()
}

/// True class per row from one-hot rows (`[n, c]`, `c > 1`) or class indices (`[n]`, `[n, 1]`).
///
/// # Errors
/// [`Error::Label`] for an index outside `0..classes`.
pub fn true_classes(target: ArrayViewD<'_, f32>, classes: usize) -> Result<Vec<usize>> {
    let last = Axis(target.ndim().saturating_sub(1));
    if target.ndim() >= 2 && target.len_of(last) > 1 {
        return Ok(target.lanes(last).into_iter().map(argmax).collect());
    }
    target
        .iter()
        .enumerate()
        .map(|(i, &t)| class_index(t, classes, i, "true_classes"))
        .collect()
}

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[[t, p]]`: samples of true class `t` predicted as `p`.
    pub counts: Array2<usize>,
}

impl ConfusionMatrix {
    /// From class indices.
    ///
    /// # Errors
    /// [`Error::Shape`] if the lists differ in length, [`Error::Label`] for an index `>= classes`.
    pub fn new(truth: &[usize], predicted: &[usize], classes: usize) -> Result<Self> {
        if truth.len() != predicted.len() {
            return Err(Error::shape(
                "confusion matrix",
                &[truth.len()],
                &[predicted.len()],
            ));
        }
        let mut counts = Array2::zeros((classes, classes));
        for (i, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
            if t >= classes || p >= classes {
                return Err(Error::Label {
                    context: "confusion matrix".into(),
                    row: i,
                    value: t.max(p) as f32,
                    classes,
                });
            }
            counts[[t, p]] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// From a network's output and the targets (one-hot or indices; a
    /// single sigmoid output counts as two classes).
    ///
    /// # Errors
    /// As [`ConfusionMatrix::new`] and [`true_classes`].
    pub fn from_output(output: ArrayViewD<'_, f32>, target: ArrayViewD<'_, f32>) -> Result<Self> {
        let last = Axis(output.ndim().saturating_sub(1));
        let classes = if output.ndim() < 2 {
            2
        } else {
            output.len_of(last).max(2)
        };
        let predicted = predicted_classes(output.view());
        let truth = if classes == 2 && (output.ndim() < 2 || output.len_of(last) == 1) {
            target.iter().map(|&t| usize::from(t > 0.5)).collect()
        } else {
            true_classes(target, classes)?
        };
        ConfusionMatrix::new(&truth, &predicted, classes)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.counts.nrows()
    }

    /// Fraction on the diagonal.
    pub fn accuracy(&self) -> f32 {
        let total = self.counts.sum();
        ratio(self.counts.diag().sum(), total)
    }

    /// Of the samples predicted as `class`, the fraction that are (0 if none were).
    pub fn precision(&self, class: usize) -> f32 {
        if class >= self.classes() {
            return 0.0;
        }
        ratio(self.counts[[class, class]], self.counts.column(class).sum())
    }

    /// Of the samples of `class`, the fraction predicted as such (0 if there are none).
    pub fn recall(&self, class: usize) -> f32 {
        if class >= self.classes() {
            return 0.0;
        }
        ratio(self.counts[[class, class]], self.counts.row(class).sum())
    }

    /// Harmonic mean of precision and recall (0 when both are).
    pub fn f1(&self, class: usize) -> f32 {
        let (p, r) = (self.precision(class), self.recall(class));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Unweighted mean of the per-class precisions.
    pub fn macro_precision(&self) -> f32 {
        self.mean_over_classes(Self::precision)
    }

    /// Unweighted mean of the per-class recalls.
    pub fn macro_recall(&self) -> f32 {
        self.mean_over_classes(Self::recall)
    }

    /// Unweighted mean of the per-class F1 scores.
    pub fn macro_f1(&self) -> f32 {
        self.mean_over_classes(Self::f1)
    }

    fn mean_over_classes(&self, f: fn(&Self, usize) -> f32) -> f32 {
        let c = self.classes();
        if c == 0 {
            return 0.0;
        }
        (0..c).map(|k| f(self, k)).sum::<f32>() / c as f32
    }
}

impl std::fmt::Display for ConfusionMatrix {
    /// The matrix (rows: true class, columns: predicted), then a per-class report.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "true \\ predicted")?;
        for row in self.counts.rows() {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
            writeln!(f, "{}", cells.join(""))?;
        }
        writeln!(f, "class  precision  recall      f1")?;
        for k in 0..self.classes() {
            writeln!(
                f,
                "{k:>5}  {:>9.4}  {:>6.4}  {:>6.4}",
                self.precision(k),
                self.recall(k),
                self.f1(k)
            )?;
        }
        write!(
            f,
            "macro  {:>9.4}  {:>6.4}  {:>6.4}   accuracy {:.4}",
            self.macro_precision(),
            self.macro_recall(),
            self.macro_f1(),
            self.accuracy()
        )
    }
}

fn ratio(a: usize, b: usize) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

/// Mean squared error.
///
/// # Errors
/// [`Error::Shape`] if the shapes differ.
pub fn mse(output: ArrayViewD<'_, f32>, target: ArrayViewD<'_, f32>) -> Result<f32> {
    Metric::Mse.compute(output, target)
}

/// Mean absolute error.
///
/// # Errors
/// [`Error::Shape`] if the shapes differ.
pub fn mae(output: ArrayViewD<'_, f32>, target: ArrayViewD<'_, f32>) -> Result<f32> {
    Metric::Mae.compute(output, target)
}

/// Coefficient of determination `1 - SS_res / SS_tot` over all elements
/// (1 is perfect, 0 is no better than predicting the mean; a constant target gives 0).
///
/// # Errors
/// [`Error::Shape`] if the shapes differ.
pub fn r2(output: ArrayViewD<'_, f32>, target: ArrayViewD<'_, f32>) -> Result<f32> {
    if output.shape() != target.shape() {
        return Err(Error::shape("r2", output.shape(), target.shape()));
    }
    let n = target.len().max(1) as f64;
    let mean = target.iter().map(|&t| t as f64).sum::<f64>() / n;
    let ss_tot: f64 = target.iter().map(|&t| (t as f64 - mean).powi(2)).sum();
    let ss_res = Zip::from(&output)
        .and(&target)
        .fold(0.0f64, |s, &o, &t| s + ((o - t) as f64).powi(2));
    Ok(if ss_tot == 0.0 {
        0.0
    } else {
        (1.0 - ss_res / ss_tot) as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn accuracy_handles_onehot_indices_and_binary() {
        let out = arr2(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]]).into_dyn();
        let onehot = arr2(&[[0.0f32, 1.0], [0.0, 1.0], [0.0, 1.0]]).into_dyn();
        let idx = arr1(&[1.0f32, 0.0, 1.0]).into_dyn();
        assert!(
            (Metric::Accuracy.compute(out.view(), onehot.view()).unwrap() - 2.0 / 3.0).abs() < 1e-6
        );
        assert_eq!(
            Metric::Accuracy.compute(out.view(), idx.view()).unwrap(),
            1.0
        );
        let bin = arr2(&[[0.2f32], [0.7]]).into_dyn();
        let t = arr2(&[[0.0f32], [0.0]]).into_dyn();
        assert_eq!(Metric::Accuracy.compute(bin.view(), t.view()).unwrap(), 0.5);
        assert_eq!(
            Metric::BinaryAccuracy { threshold: 0.1 }
                .compute(bin.view(), t.view())
                .unwrap(),
            0.0
        );
        let bad = arr1(&[5.0f32, 0.0, 1.0]).into_dyn();
        assert!(Metric::Accuracy.compute(out.view(), bad.view()).is_err());
    }

    #[test]
    fn confusion_precision_recall_f1() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let cm = ConfusionMatrix::new(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3).unwrap();
        assert_eq!(cm.counts, arr2(&[[2, 1, 0], [0, 1, 1], [0, 0, 1]]));
        assert_eq!(cm.precision(0), 1.0);
        assert!((cm.recall(0) - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(cm.precision(1), 0.5);
        assert!((cm.f1(0) - 0.8).abs() < 1e-6);
        assert!((cm.macro_f1() - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-6);
        assert!((cm.accuracy() - 4.0 / 6.0).abs() < 1e-6);
        assert!(cm.to_string().contains("macro"));
        assert!(ConfusionMatrix::new(&[3], &[0], 3).is_err());
        let out = arr2(&[[0.9f32], [0.2]]).into_dyn();
        let cm =
            ConfusionMatrix::from_output(out.view(), arr2(&[[1.0f32], [1.0]]).into_dyn().view())
                .unwrap();
        assert_eq!(cm.counts, arr2(&[[0, 0], [1, 1]]));
    }

    #[test]
    fn regression_metrics() {
        let o = arr1(&[1.0f32, 2.0, 4.0]).into_dyn();
        let t = arr1(&[1.0f32, 3.0, 5.0]).into_dyn();
        assert!((mse(o.view(), t.view()).unwrap() - 2.0 / 3.0).abs() < 1e-6);
        assert!((mae(o.view(), t.view()).unwrap() - 2.0 / 3.0).abs() < 1e-6);
        // SS_tot = (1-3)² + 0 + (5-3)² = 8, SS_res = 2.
        assert!((r2(o.view(), t.view()).unwrap() - 0.75).abs() < 1e-6);
        assert_eq!(r2(t.view(), t.view()).unwrap(), 1.0);
    }
}
