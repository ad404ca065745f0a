//! Compares this crate's gemm with ndarray's `general_mat_mul` and the
//! `gemm` crate at MLP shapes, interleaving the candidates and keeping the
//! best of many runs, which is robust to a busy machine.
//!
//! `cargo bench -p nnc-benches --bench gemm_compare`

use nnc_runtime::kernels::gemm;
use nnc_runtime::ndarray::{linalg::general_mat_mul, Array2};
use std::time::Instant;
use support::{gemm_crate, random};

#[path = "support/mod.rs"]
mod support;

fn main() {
    let shapes = [
        ("1x784x128 (predict)", 1, 784, 128, false, false),
        ("fwd 64x784x128", 64, 784, 128, false, false),
        ("fwd 256x784x128", 256, 784, 128, false, false),
        ("fwd 64x128x64", 64, 128, 64, false, false),
        ("fwd 256x64x10", 256, 64, 10, false, false),
        ("dW 784x64x128 aT", 784, 64, 128, true, false),
        ("dW 784x256x128 aT", 784, 256, 128, true, false),
        ("dx 64x128x784 bT", 64, 128, 784, false, true),
        ("dx 256x10x64 bT", 256, 10, 64, false, true),
        ("1024x1024x1024", 1024, 1024, 1024, false, false),
        ("fwd 1024x784x128", 1024, 784, 128, false, false),
        ("16x256x32 (in L1)", 16, 256, 32, false, false),
        ("16x256x32 aT (in L1)", 16, 256, 32, true, false),
    ];
    println!("GFLOP/s, best of many interleaved runs, single-threaded unless noted");
    println!(
        "{:<20} {:>8} {:>9} {:>10} {:>12}",
        "m x k x n", "nnc", "ndarray", "gemm 1t", "gemm rayon2"
    );
    for (label, m, k, n, ta, tb) in shapes {
        let a = if ta { random(k, m, 1) } else { random(m, k, 1) };
        let b = if tb { random(n, k, 2) } else { random(k, n, 2) };
        let av = if ta { a.t() } else { a.view() };
        let bv = if tb { b.t() } else { b.view() };
        let mut c = Array2::<f32>::zeros((m, n));
        let flops = (2 * m * n * k) as f64;
        let reps = ((2e8 / flops) as usize).clamp(5, 2000);
        let mut best = [f64::INFINITY; 4];
        for _round in 0..15 {
            for (which, slot) in best.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..reps {
                    match which {
                        0 => gemm(1.0, av, bv, 0.0, c.view_mut()),
                        1 => general_mat_mul(1.0, &av, &bv, 0.0, &mut c),
                        2 => gemm_crate(av, bv, c.view_mut(), gemm::Parallelism::None),
                        _ => gemm_crate(av, bv, c.view_mut(), gemm::Parallelism::Rayon(2)),
                    }
                }
                *slot = slot.min(t.elapsed().as_secs_f64() / reps as f64);
            }
        }
        let g: Vec<f64> = best.iter().map(|t| flops / t / 1e9).collect();
        println!(
            "{label:<20} {:>8.1} {:>9.1} {:>10.1} {:>12.1}",
            g[0], g[1], g[2], g[3]
        );
    }
}
