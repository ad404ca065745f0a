//! Data-parallel training over real MPI, on loopback.
//!
//! `cargo test` runs this file's `main` as the launcher: it starts the same
//! executable under `mpirun -np 2` as workers and checks what they report.
//!
//! - `equivalence` (twice): W1 (784-128-64-10) on 1,788 MNIST rows, a
//!   global batch of 255 (odd: the ranks get 128 and 127 rows) and a last
//!   partial batch of 3 (1 + 2 rows), for 2 epochs (16 steps), with SGD+momentum and
//!   with Adam. The 2-rank parameters must equal a single process's with
//!   the same global batch to float32 rounding (see `TOLERANCE`), be
//!   bit-identical on both ranks, and be bit-identical between the two
//!   `mpirun` runs. Sharded data must also leave both ranks identical.
//! - `die`: rank 1 exits in the middle of training; `mpirun` must end the
//!   job with a failure within a minute instead of leaving rank 0 waiting.

use nnc::data::idx::read_images_and_labels_rows;
use nnc::train::{TrainConfig, Verbosity};
use nnc::{Dataset, Loss, Metric, Model, Optimizer, Param};
use nnc_mpi::{DataLayout, GradientSync, Mpi};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

nnc::network! {
    /// W1 of the benchmarks, on 28x28 images.
    network W1(image: [28, 28]) -> [10] {
        flatten
        dense(128) relu
        dense(64) relu
        dense(10) softmax
    }
}

/// Largest |2 ranks - 1 process| allowed, relative to the largest weight.
/// The two compute the same sums in a different order: one process's
/// weight gradient is one gemm over 255 rows, two ranks add a gemm over
/// 128 rows to one over 127 (each scaled by its row count, then divided by
/// 255 after the reduce-scatter). Each gradient element therefore differs by a
/// few float32 ulps (2^-24 relative each), and 16 steps carry that into the
/// weights: measured 1e-7 of the largest weight (about 2^-23) with SGD and
/// with Adam (printed by the test). Adam could amplify it where a gradient
/// is almost exactly zero (a rounding difference there is a large relative
/// difference under its sqrt(v)), hence the margin: 1e-5 is 50 times the
/// measured difference and far below what a wrong weighting gives (weighting
/// every rank's mean gradient equally instead of by its rows, the last
/// batch of 3 rows split 1 + 2 moves the weights by 7.6e-2).
const TOLERANCE: f32 = 1e-5;

fn main() {
    match std::env::var("NNC_MPI_WORKER").as_deref() {
        Ok("equivalence") => equivalence(),
        Ok("die") => die(),
        Ok(other) => panic!("unknown worker {other}"),
        Err(_) => launcher(),
    }
}

fn mnist_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    assert!(dir.exists(), "{} not found", dir.display());
    dir
}

fn mnist_rows(rows: std::ops::Range<usize>) -> Dataset {
    let dir = mnist_dir();
    read_images_and_labels_rows(
        dir.join("train-images-idx3-ubyte.gz"),
        dir.join("train-labels-idx1-ubyte.gz"),
        10,
        rows,
    )
    .expect("MNIST rows")
}

fn params(m: &mut dyn Model) -> Vec<f32> {
    let mut v = Vec::new();
    m.visit_params(&mut |p: Param<'_>| v.extend_from_slice(p.value));
    v
}

/// FNV-1a over the bits, to compare runs by one line of output.
fn digest(v: &[f32]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        x.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    })
}

/// Whether every rank holds exactly rank 0's `v`.
fn same_on_all_ranks(mpi: &mut Mpi, v: &[f32]) -> bool {
    let mut root = v.to_vec();
    mpi.broadcast_f32(&mut root).unwrap();
    let differ = root
        .iter()
        .zip(v)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    let mut total = [differ as f64];
    mpi.sum_f64(&mut total).unwrap();
    total[0] == 0.0
}

fn cfg(optimizer: Optimizer) -> TrainConfig {
    TrainConfig {
        loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
        optimizer,
        batch_size: 255,
        epochs: 2,
        metrics: vec![Metric::Accuracy],
        verbose: Verbosity::Silent,
        seed: 5,
        ..TrainConfig::default()
    }
}

fn equivalence() {
    let mut mpi = Mpi::init().unwrap();
    let data = mnist_rows(0..1788);
    for (name, opt) in [
        (
            "sgd",
            Optimizer::Sgd {
                lr: 0.05,
                momentum: 0.9,
                nesterov: false,
            },
        ),
        ("adam", Optimizer::adam(1e-3)),
    ] {
        let c = cfg(opt);
        // Rank 0's initial weights must win: start the others elsewhere.
        let mut net = W1::new(1 + 100 * mpi.rank() as u64);
        let h = mpi
            .fit(&mut net, &c, &data, DataLayout::Replicated)
            .unwrap();
        let got = params(&mut net);
        assert!(same_on_all_ranks(&mut mpi, &got), "{name}: ranks differ");
        if mpi.is_root() {
            let mut single = W1::new(1);
            let h1 = nnc::fit(&mut single, &c, &data).unwrap();
            let want = params(&mut single);
            let scale = want.iter().fold(0.0f32, |m, w| m.max(w.abs()));
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            println!(
                "{name}: max |2 ranks - 1 process| = {worst:e} (largest weight {scale:.3}); loss {:?} vs {:?}",
                h.get("loss").unwrap(),
                h1.get("loss").unwrap()
            );
            assert!(
                worst <= TOLERANCE * scale,
                "{name}: {worst} > {TOLERANCE} x {scale}"
            );
            for (a, b) in h.rows.iter().flatten().zip(h1.rows.iter().flatten()) {
                assert!((a - b).abs() < 1e-4, "{name}: history {h:?} vs {h1:?}");
            }
            println!("digest {name} {:016x}", digest(&got));
        }
    }
    // Sharded: each rank reads only its rows; the ranks must still agree.
    let part = mnist_rows(nnc_mpi::split_rows(2000, mpi.rank(), mpi.size()));
    let mut net = W1::new(3);
    let c = TrainConfig {
        validation_split: 0.1,
        ..cfg(Optimizer::adam(1e-3))
    };
    let h = mpi.fit(&mut net, &c, &part, DataLayout::Sharded).unwrap();
    let got = params(&mut net);
    assert!(same_on_all_ranks(&mut mpi, &got), "sharded: ranks differ");
    if mpi.is_root() {
        let loss = h.get("loss").unwrap();
        assert!(loss[1] < loss[0], "sharded: {loss:?}");
        println!("digest sharded {:016x}", digest(&got));
    }
}

fn die() {
    let mut mpi = Mpi::init().unwrap();
    if mpi.rank() == 1 {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(2));
            eprintln!("rank 1 exits on purpose");
            std::process::exit(3);
        });
    }
    let data = mnist_rows(0..1000);
    let c = TrainConfig {
        epochs: 100_000,
        ..cfg(Optimizer::adam(1e-3))
    };
    let mut net = W1::new(0);
    let _ = mpi.fit(&mut net, &c, &data, DataLayout::Replicated);
    panic!(
        "rank {} finished a run that should have been stopped",
        mpi.rank()
    );
}

/// `mpirun -np 2` on this executable as `worker`; returns (status, stdout,
/// stderr), or `None` if it ran past `timeout` (then it is killed).
fn mpirun(worker: &str, timeout: Duration) -> Option<(std::process::ExitStatus, String, String)> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe"])
        .arg(&exe)
        .env("NNC_MPI_WORKER", worker)
        .env("NNC_NUM_THREADS", "1")
        // CI runs as root, which Open MPI refuses without these.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mpirun ({e}): install openmpi-bin"));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((status, out.join().unwrap(), err.join().unwrap()));
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn launcher() {
    let limit = Duration::from_secs(120);
    let mut digests = Vec::new();
    for run in 1..=2 {
        let (status, out, err) = mpirun("equivalence", limit).expect("equivalence timed out");
        print!("{out}");
        assert!(
            status.success(),
            "equivalence run {run} failed: {status}\n{err}"
        );
        let d: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("digest "))
            .map(String::from)
            .collect();
        assert_eq!(d.len(), 3, "{out}");
        digests.push(d);
    }
    assert_eq!(digests[0], digests[1], "two 2-rank runs differ");
    println!("equivalence: ok, and two runs are bit-identical");

    let started = Instant::now();
    let (status, _, err) = mpirun("die", Duration::from_secs(60))
        .expect("a dead rank left the job hanging for a minute");
    assert!(!status.success(), "the job survived a dead rank");
    assert!(err.contains("rank 1 exits on purpose"), "{err}");
    println!(
        "die: mpirun ended the job {:.1} s after start ({status})",
        started.elapsed().as_secs_f64()
    );
}
