//! Layers that join values: `add` (element-wise sum, a residual connection)
//! and `concat` (along the last axis), forward and backward side by side.
//!
//! Batches are `[n, width]` with each sample's shape flattened row-major, so
//! joining along the last axis of per-sample shape `[.., c_i]` joins rows
//! of `c_i` elements: each input is read as `[n * outer, c_i]`.

use crate::kernels::Grad;
use ndarray::{s, ArrayView2, ArrayViewMut2, Ix2, Zip};

/// `y = x_0 + x_1 + ...` on batches of one shape.
///
/// # Panics
/// If the shapes differ (a caller bug).
pub fn add<const N: usize>(xs: [ArrayView2<'_, f32>; N], mut y: ArrayViewMut2<'_, f32>) {
    let (first, rest) = xs.split_first().expect("add needs inputs");
    y.assign(first);
    for x in rest {
        y += x;
    }
}

/// Backward of [`add`]: every input's gradient is `dy`.
pub fn add_backward<const N: usize>(dy: ArrayView2<'_, f32>, dxs: [Option<Grad<'_, Ix2>>; N]) {
    for dx in dxs.into_iter().flatten() {
        let (mut dx, accumulate) = dx.into_parts();
        if accumulate {
            dx += &dy;
        } else {
            dx.assign(&dy);
        }
    }
}

/// [`add`] on one sample held in slices.
pub fn add_one<const N: usize>(xs: [&[f32]; N], y: &mut [f32]) {
    y.copy_from_slice(&xs[0][..y.len()]);
    for x in &xs[1..] {
        y.iter_mut().zip(x.iter()).for_each(|(y, x)| *y += x);
    }
}

/// A concatenation along the last axis of inputs whose per-sample shapes
/// are `[.., widths[i]]` with `outer` elements before the last axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat<const N: usize> {
    /// Product of the per-sample axes before the last (1 for vectors).
    pub outer: usize,
    /// Each input's last axis.
    pub widths: [usize; N],
}

impl<const N: usize> Concat<N> {
    fn total(&self) -> usize {
        self.widths.iter().sum()
    }

    /// `y = [x_0, x_1, ...]` along the last axis.
    ///
    /// # Panics
    /// If a batch is not contiguous or the shapes disagree (a caller bug).
    pub fn forward(&self, xs: [ArrayView2<'_, f32>; N], y: ArrayViewMut2<'_, f32>) {
        let n = y.nrows();
        let mut y = rows_mut(y, n * self.outer, self.total());
        let mut at = 0;
        for (x, &w) in xs.into_iter().zip(&self.widths) {
            let x = rows(x, n * self.outer, w);
            y.slice_mut(s![.., at..at + w]).assign(&x);
            at += w;
        }
    }

    /// Backward of [`Concat::forward`]: each input's gradient is its part of `dy`.
    pub fn backward(&self, dy: ArrayView2<'_, f32>, dxs: [Option<Grad<'_, Ix2>>; N]) {
        let n = dy.nrows();
        let dy = rows(dy, n * self.outer, self.total());
        let mut at = 0;
        for (dx, &w) in dxs.into_iter().zip(&self.widths) {
            if let Some(dx) = dx {
                let (dx, accumulate) = dx.into_parts();
                let mut dx = rows_mut(dx, n * self.outer, w);
                let part = dy.slice(s![.., at..at + w]);
                if accumulate {
                    Zip::from(&mut dx).and(&part).for_each(|d, &g| *d += g);
                } else {
                    dx.assign(&part);
                }
            }
            at += w;
        }
    }

    /// [`Concat::forward`] on one sample held in slices.
    pub fn forward_one(&self, xs: [&[f32]; N], y: &mut [f32]) {
        let total = self.total();
        for r in 0..self.outer {
            let mut at = r * total;
            for (x, &w) in xs.iter().zip(&self.widths) {
                y[at..at + w].copy_from_slice(&x[r * w..(r + 1) * w]);
                at += w;
            }
        }
    }
}

fn rows<'a>(x: ArrayView2<'a, f32>, r: usize, c: usize) -> ArrayView2<'a, f32> {
    x.into_shape_with_order((r, c))
        .expect("concat: a contiguous batch of the declared shape")
}

fn rows_mut<'a>(x: ArrayViewMut2<'a, f32>, r: usize, c: usize) -> ArrayViewMut2<'a, f32> {
    x.into_shape_with_order((r, c))
        .expect("concat: a contiguous batch of the declared shape")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, dot, vec};
    use ndarray::Array2;

    #[test]
    fn concat_joins_the_last_axis_and_splits_the_gradient() {
        // Two samples of per-sample shapes [2, 1] and [2, 3]: outer 2.
        let c = Concat {
            outer: 2,
            widths: [1, 3],
        };
        let (a, b) = (vec(4, 1), vec(12, 2));
        let run = |a: &[f32], b: &[f32]| {
            let mut y = Array2::zeros((2, 8));
            c.forward(
                [
                    ArrayView2::from_shape((2, 2), a).unwrap(),
                    ArrayView2::from_shape((2, 6), b).unwrap(),
                ],
                y.view_mut(),
            );
            y
        };
        let y = run(&a, &b);
        assert_eq!(y[[0, 0]], a[0]);
        assert_eq!(&y.row(0).to_vec()[1..4], &b[0..3]);
        assert_eq!(y[[0, 4]], a[1]);
        let mut one = [0.0f32; 8];
        c.forward_one([&a[..2], &b[..6]], &mut one);
        assert_eq!(one.to_vec(), y.row(0).to_vec());
        let r = vec(16, 3);
        let dy = ArrayView2::from_shape((2, 8), &r[..]).unwrap();
        let (mut da, mut db) = (Array2::zeros((2, 2)), Array2::from_elem((2, 6), 1.0f32));
        c.backward(
            dy,
            [
                Some(Grad::Write(da.view_mut())),
                Some(Grad::Add(db.view_mut())),
            ],
        );
        check("concat a", &a, da.as_slice().unwrap(), |a| {
            dot(run(a, &b).as_slice().unwrap(), &r)
        });
        let db: Vec<f32> = db.iter().map(|v| v - 1.0).collect();
        check("concat b", &b, &db, |b| {
            dot(run(&a, b).as_slice().unwrap(), &r)
        });
    }

    #[test]
    fn add_sums_and_passes_the_gradient_to_each_input() {
        let (a, b) = (vec(6, 4), vec(6, 5));
        let av = ArrayView2::from_shape((2, 3), &a[..]).unwrap();
        let bv = ArrayView2::from_shape((2, 3), &b[..]).unwrap();
        let mut y = Array2::zeros((2, 3));
        add([av, bv], y.view_mut());
        assert_eq!(y, &av + &bv);
        let mut one = [0.0f32; 3];
        add_one([&a[..3], &b[..3]], &mut one);
        assert_eq!(one.to_vec(), y.row(0).to_vec());
        let dy = Array2::from_elem((2, 3), 0.5f32);
        let (mut da, mut db) = (Array2::zeros((2, 3)), Array2::from_elem((2, 3), 1.0f32));
        add_backward(
            dy.view(),
            [
                Some(Grad::Write(da.view_mut())),
                Some(Grad::Add(db.view_mut())),
            ],
        );
        assert!(da.iter().all(|&v| v == 0.5) && db.iter().all(|&v| v == 1.5));
    }
}
