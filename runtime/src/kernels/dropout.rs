//! Inverted dropout: at training time each element is kept with probability
//! `1 - rate` and scaled by `1 / (1 - rate)`, so inference needs no rescaling.

use crate::kernels::Grad;
use crate::rng::Rng;
use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

/// A dropout layer: the fraction of elements dropped in training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Fraction zeroed; 0 or less keeps everything, 1 or more drops everything.
    pub rate: f32,
}

impl Dropout {
    /// `y = x ⊙ mask`, drawing `mask` (0 or `1 / (1 - rate)` per element)
    /// from `rng`.
    ///
    /// # Shapes
    /// `x`, `mask`, `y`: the same shape.
    pub fn forward<D: Dimension>(
        &self,
        x: ArrayView<'_, f32, D>,
        mut mask: ArrayViewMut<'_, f32, D>,
        mut y: ArrayViewMut<'_, f32, D>,
        rng: &mut Rng,
    ) {
        let rate = self.rate;
        if rate <= 0.0 {
            mask.fill(1.0);
        } else if rate >= 1.0 {
            mask.fill(0.0);
        } else {
            let keep = 1.0 / (1.0 - rate);
            mask.map_inplace(|m| *m = if rng.next_f32() < rate { 0.0 } else { keep });
        }
        Zip::from(&mut y)
            .and(&x)
            .and(&mask)
            .for_each(|y, &x, &m| *y = x * m);
    }

    /// `dx = dy ⊙ mask` (or `dx +=`), the mask being the one
    /// [`Dropout::forward`] drew.
    ///
    /// # Shapes
    /// `mask`, `dy`, `dx`: the same shape.
    pub fn backward<D: Dimension>(
        &self,
        mask: ArrayView<'_, f32, D>,
        dy: ArrayView<'_, f32, D>,
        dx: Grad<'_, D>,
    ) {
        let (mut dx, add) = dx.into_parts();
        let z = Zip::from(&mut dx).and(&dy).and(&mask);
        if add {
            z.for_each(|dx, &dy, &m| *dx += dy * m);
        } else {
            z.for_each(|dx, &dy, &m| *dx = dy * m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gradcheck::{check, dot, vec};
    use ndarray::{Array1, ArrayView1};

    #[test]
    fn keeps_the_expected_fraction_and_preserves_the_mean() {
        let x = Array1::<f32>::ones(10_000);
        let (mut mask, mut y) = (Array1::zeros(10_000), Array1::zeros(10_000));
        Dropout { rate: 0.2 }.forward(
            x.view(),
            mask.view_mut(),
            y.view_mut(),
            &mut Rng::seed_from(1),
        );
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f32 / 10_000.0;
        assert!((kept - 0.8).abs() < 0.02, "kept {kept}");
        assert!((y.mean().unwrap() - 1.0).abs() < 0.03);
        assert!(mask.iter().all(|&m| m == 0.0 || m == 1.25));
    }

    #[test]
    fn same_seed_same_mask_and_edge_rates() {
        let x = Array1::<f32>::ones(64);
        let draw = |rate, seed| {
            let (mut m, mut y) = (Array1::zeros(64), Array1::zeros(64));
            Dropout { rate }.forward(
                x.view(),
                m.view_mut(),
                y.view_mut(),
                &mut Rng::seed_from(seed),
            );
            m
        };
        assert_eq!(draw(0.5, 9), draw(0.5, 9));
        assert_ne!(draw(0.5, 9), draw(0.5, 10));
        assert!(draw(0.0, 1).iter().all(|&m| m == 1.0));
        assert!(draw(1.0, 1).iter().all(|&m| m == 0.0));
    }

    #[test]
    fn backward_matches_finite_differences_for_a_fixed_mask() {
        let (x, r) = (vec(20, 1), vec(20, 2));
        let (mut mask, mut y) = (Array1::zeros(20), Array1::zeros(20));
        Dropout { rate: 0.5 }.forward(
            ArrayView1::from(&x[..]),
            mask.view_mut(),
            y.view_mut(),
            &mut Rng::seed_from(3),
        );
        let mut dx = Array1::zeros(20);
        let d = Dropout { rate: 0.5 };
        d.backward(
            mask.view(),
            ArrayView1::from(&r[..]),
            Grad::Write(dx.view_mut()),
        );
        let mut acc = Array1::from_elem(20, 2.0f32);
        d.backward(
            mask.view(),
            ArrayView1::from(&r[..]),
            Grad::Add(acc.view_mut()),
        );
        assert!((&acc - &dx - 2.0).iter().all(|e| e.abs() < 1e-6));
        // With the mask fixed, dropout is the linear map x -> x ⊙ mask.
        check("dropout", &x, dx.as_slice().unwrap(), |x| {
            let y: Vec<f32> = x.iter().zip(mask.iter()).map(|(a, m)| a * m).collect();
            dot(&y, &r)
        });
    }
}
