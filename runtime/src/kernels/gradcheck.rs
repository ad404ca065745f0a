//! Central finite differences, so that each gradient test is one line.

/// Checks `analytic` (the gradient of `f` at `x`) against central
/// differences `(f(x + h e_i) - f(x - h e_i)) / 2h` for every coordinate.
/// `f` is evaluated in f64 from f32 kernels, so `h` is large-ish and the
/// tolerance relative.
#[track_caller]
pub(crate) fn check(name: &str, x: &[f32], analytic: &[f32], f: impl Fn(&[f32]) -> f64) {
    assert_eq!(
        x.len(),
        analytic.len(),
        "{name}: gradient has the wrong length"
    );
    let h = 1e-2f32;
    let mut xp = x.to_vec();
    let mut worst = (0.0f64, 0usize, 0.0f64, 0.0f64);
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let fp = f(&xp);
        xp[i] = x[i] - h;
        let fm = f(&xp);
        xp[i] = x[i];
        let numeric = (fp - fm) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        let err = (numeric - a).abs() / (1.0 + numeric.abs());
        if err > worst.0 {
            worst = (err, i, numeric, a);
        }
    }
    assert!(
        worst.0 < 5e-3,
        "{name}: gradient NOT OK at index {}: numeric {}, analytic {} (relative error {:.2e})",
        worst.1,
        worst.2,
        worst.3,
        worst.0
    );
}

/// A fixed pseudo-random vector in `[-1, 1)`, for inputs and upstream gradients.
pub(crate) fn vec(n: usize, seed: u64) -> Vec<f32> {
    let mut r = crate::rng::Rng::seed_from(seed);
    (0..n).map(|_| r.uniform(-1.0, 1.0)).collect()
}

/// `sum(a * b)` in f64: the scalar whose gradient w.r.t. the kernel output is `b`.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}
