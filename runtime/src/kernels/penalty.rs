//! L1/L2 weight penalties, in the Keras convention: `l1 · sum|w| + l2 · sum w²`.

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

/// The penalty `l1 · sum|w| + l2 · sum w²`.
pub fn value<D: Dimension>(l1: f32, l2: f32, w: ArrayView<'_, f32, D>) -> f32 {
    let (mut a, mut s) = (0.0f32, 0.0f32);
    for &v in w.iter() {
        a += v.abs();
        s += v * v;
    }
    l1 * a + l2 * s
}

/// Adds the penalty's gradient to `dw`: `dw += l1 · sign(w) + 2 · l2 · w`
/// (the subgradient of `|w|` at 0 is taken as 0).
///
/// # Shapes
/// `w`, `dw`: the same shape.
pub fn add_grad<D: Dimension>(
    l1: f32,
    l2: f32,
    w: ArrayView<'_, f32, D>,
    mut dw: ArrayViewMut<'_, f32, D>,
) {
    Zip::from(&mut dw).and(&w).for_each(|g, &w| {
        let sign = if w > 0.0 {
            1.0
        } else if w < 0.0 {
            -1.0
        } else {
            0.0
        };
        *g += l1 * sign + 2.0 * l2 * w;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, vec};
    use ndarray::{Array1, ArrayView1};

    #[test]
    fn value_follows_keras() {
        let w = ndarray::arr1(&[1.0f32, -2.0, 3.0]);
        assert!((value(0.1, 0.0, w.view()) - 0.6).abs() < 1e-6);
        assert!((value(0.0, 0.01, w.view()) - 0.14).abs() < 1e-6);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let w = vec(16, 4);
        let mut dw = Array1::zeros(16);
        add_grad(0.03, 0.2, ArrayView1::from(&w[..]), dw.view_mut());
        check("penalty", &w, dw.as_slice().unwrap(), |w| {
            value(0.03, 0.2, ArrayView1::from(w)) as f64
        });
    }
}
