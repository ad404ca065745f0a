//! Parameter initialisers, seeded and reproducible, following Keras'
//! definitions (the variance-scaling ones draw normals truncated at two
//! standard deviations, rescaled so the variance is as intended).

use crate::rng::Rng;

pub use nnc_core::init::Init;

/// Keras' correction for a normal truncated at ±2σ: the standard deviation
/// of the truncated unit normal.
const TRUNCATED_STD: f32 = 0.879_625_7;

/// A normal sample truncated to ±2σ by redrawing.
fn truncated_normal(rng: &mut Rng) -> f32 {
    loop {
        let z = rng.normal();
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

/// Fills `out` with `init`, for a tensor whose layer has `fan_in` inputs and
/// `fan_out` outputs (for a dense kernel `[in, out]`: `fan_in = in`,
/// `fan_out = out`). Zero fans are treated as 1, so nothing divides by zero.
pub fn fill(init: Init, fan_in: usize, fan_out: usize, out: &mut [f32], rng: &mut Rng) {
    let fan_in = fan_in.max(1) as f32;
    let fan_out = fan_out.max(1) as f32;
    let uniform = |limit: f32, out: &mut [f32], rng: &mut Rng| {
        out.iter_mut().for_each(|v| *v = rng.uniform(-limit, limit))
    };
    let scaled = |variance: f32, out: &mut [f32], rng: &mut Rng| {
        let std = variance.sqrt() / TRUNCATED_STD;
        out.iter_mut()
            .for_each(|v| *v = std * truncated_normal(rng));
    };
    match init {
        Init::Zeros => out.fill(0.0),
        Init::Ones => out.fill(1.0),
        Init::Constant(c) => out.fill(c),
        Init::Normal { mean, std } => out.iter_mut().for_each(|v| *v = mean + std * rng.normal()),
        Init::Uniform { low, high } => out.iter_mut().for_each(|v| *v = rng.uniform(low, high)),
        Init::GlorotUniform => uniform((6.0 / (fan_in + fan_out)).sqrt(), out, rng),
        Init::GlorotNormal => scaled(2.0 / (fan_in + fan_out), out, rng),
        Init::HeUniform => uniform((6.0 / fan_in).sqrt(), out, rng),
        Init::HeNormal => scaled(2.0 / fan_in, out, rng),
        Init::LecunNormal => scaled(1.0 / fan_in, out, rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(init: Init, fan_in: usize, fan_out: usize) -> (f32, f32, f32) {
        let mut v = vec![0.0f32; 20_000];
        fill(init, fan_in, fan_out, &mut v, &mut Rng::seed_from(5));
        let n = v.len() as f32;
        let mean = v.iter().sum::<f32>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        (mean, var, max)
    }

    #[test]
    fn variances_follow_the_definitions() {
        let cases = [
            (Init::GlorotUniform, 2.0f32 / 300.0),
            (Init::GlorotNormal, 2.0 / 300.0),
            (Init::HeUniform, 2.0 / 100.0),
            (Init::HeNormal, 2.0 / 100.0),
            (Init::LecunNormal, 1.0 / 100.0),
            (
                Init::Normal {
                    mean: 0.0,
                    std: 0.5,
                },
                0.25,
            ),
            (
                Init::Uniform {
                    low: -1.0,
                    high: 1.0,
                },
                1.0 / 3.0,
            ),
        ];
        for (init, want) in cases {
            let (mean, var, _) = stats(init, 100, 200);
            assert!(
                mean.abs() < 0.2 * want.sqrt(),
                "{} mean {mean}",
                init.name()
            );
            assert!(
                (var / want - 1.0).abs() < 0.05,
                "{}: variance {var}, want {want}",
                init.name()
            );
        }
        // Uniform limits and truncation hold.
        assert!(stats(Init::HeUniform, 100, 1).2 <= (6.0f32 / 100.0).sqrt());
        assert!(stats(Init::HeNormal, 100, 1).2 <= 2.0 * (0.02f32).sqrt() / TRUNCATED_STD + 1e-6);
    }

    #[test]
    fn constants_and_reproducibility() {
        let mut v = [9.0f32; 4];
        fill(Init::Zeros, 0, 0, &mut v, &mut Rng::seed_from(0));
        assert_eq!(v, [0.0; 4]);
        fill(Init::Constant(0.5), 1, 1, &mut v, &mut Rng::seed_from(0));
        assert_eq!(v, [0.5; 4]);
        let draw = |seed| {
            let mut v = [0.0f32; 8];
            fill(Init::GlorotUniform, 4, 2, &mut v, &mut Rng::seed_from(seed));
            v
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}
