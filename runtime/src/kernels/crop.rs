//! The top-left corner `[out_h, out_w, C]` of each `[in_h, in_w, C]` image
//! of a batch, forward and backward. The compiler inserts it where a layer
//! reads fewer rows and columns of a feature map than were computed (a
//! `valid` pooling that drops the last rows of the network's input, say):
//! see the compiler's dead-cell pass (`nnc_dsl::lower`).

use crate::kernels::Grad;
use ndarray::{ArrayView2, ArrayViewMut2, Ix2};

/// The sizes of a crop: input image, kept corner, channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// Input rows.
    pub in_h: usize,
    /// Input columns.
    pub in_w: usize,
    /// Rows kept (the first `out_h`).
    pub out_h: usize,
    /// Columns kept (the first `out_w`).
    pub out_w: usize,
    /// Channels.
    pub c: usize,
}

impl Crop {
    /// Per-sample input length.
    pub fn in_width(&self) -> usize {
        self.in_h * self.in_w * self.c
    }

    /// Per-sample output length.
    pub fn out_width(&self) -> usize {
        self.out_h * self.out_w * self.c
    }

    /// Calls `f(input offset, output offset, length)` for each kept row.
    fn rows(&self, mut f: impl FnMut(usize, usize, usize)) {
        let len = self.out_w * self.c;
        for r in 0..self.out_h {
            f(r * self.in_w * self.c, r * len, len);
        }
    }

    fn check(&self, x: usize, y: usize) {
        assert!(
            self.out_h <= self.in_h && self.out_w <= self.in_w,
            "crop {self:?} is larger than its input"
        );
        assert_eq!(
            (x, y),
            (self.in_width(), self.out_width()),
            "crop {self:?}: sample lengths"
        );
    }

    /// `y[i] = x[i][..out_h, ..out_w, ..]` for every sample `i`.
    ///
    /// # Panics
    /// If the widths disagree with the sizes (a caller bug).
    pub fn forward(&self, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        self.check(x.ncols(), y.ncols());
        for (x, mut y) in x.outer_iter().zip(y.outer_iter_mut()) {
            match (x.as_slice(), y.as_slice_mut()) {
                (Some(x), Some(y)) => self.forward_one(x, y),
                (_, y_slice) => {
                    debug_assert!(y_slice.is_none() || x.as_slice().is_none());
                    self.rows(|from, to, len| {
                        for k in 0..len {
                            y[to + k] = x[from + k];
                        }
                    });
                }
            }
        }
    }

    /// Backward of [`Crop::forward`]: `dy` goes to the kept corner of `dx`,
    /// zeros (or nothing, when adding) to the rest.
    pub fn backward(&self, dy: ArrayView2<'_, f32>, dx: Grad<'_, Ix2>) {
        let (mut dx, accumulate) = dx.into_parts();
        self.check(dx.ncols(), dy.ncols());
        if !accumulate {
            dx.fill(0.0);
        }
        for (dy, mut dx) in dy.outer_iter().zip(dx.outer_iter_mut()) {
            self.rows(|from, to, len| {
                for k in 0..len {
                    dx[from + k] += dy[to + k];
                }
            });
        }
    }

    /// [`Crop::forward`] on one sample held in slices.
    pub fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.check(x.len(), y.len());
        self.rows(|from, to, len| y[to..to + len].copy_from_slice(&x[from..from + len]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn keeps_the_corner_and_scatters_back() {
        let c = Crop {
            in_h: 3,
            in_w: 4,
            out_h: 2,
            out_w: 3,
            c: 2,
        };
        let x = Array2::from_shape_fn((2, 24), |(i, j)| (i * 100 + j) as f32);
        let mut y = Array2::zeros((2, 12));
        c.forward(x.view(), y.view_mut());
        // Sample 1, row 1, column 2, channel 1: input cell (1 * 4 + 2) * 2 + 1.
        assert_eq!(y[[1, (3 + 2) * 2 + 1]], 100.0 + 13.0);
        let mut one = [0.0; 12];
        c.forward_one(x.row(1).as_slice().unwrap(), &mut one);
        assert_eq!(one.as_slice(), y.row(1).as_slice().unwrap());
        // A column-major batch takes the element-wise path.
        let xt = x.t().to_owned();
        let mut y2 = Array2::zeros((2, 12));
        c.forward(xt.t(), y2.view_mut());
        assert_eq!(y, y2);

        let mut dx = Array2::from_elem((2, 24), 7.0);
        c.backward(y.view(), Grad::Write(dx.view_mut()));
        for (j, v) in dx.row(0).iter().enumerate() {
            let (r, col) = (j / 8, j % 8 / 2);
            let want = if r < 2 && col < 3 { j as f32 } else { 0.0 };
            assert_eq!(*v, want, "cell {j}");
        }
        c.backward(y.view(), Grad::Add(dx.view_mut()));
        assert_eq!(dx[[1, 1]], 2.0 * 101.0);
        assert_eq!(dx[[1, 7]], 0.0);
    }
}
