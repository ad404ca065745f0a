//! W1-W4 in candle (CPU), same protocol as the nnc runner: one JSON object
//! per line with seconds per iteration for each repetition. Threads follow
//! `RAYON_NUM_THREADS` (candle's CPU matmul uses the `gemm` crate over rayon).
//!
//! `candle-compare-runner [--reps N] [--secs S] [--only W1,W4]`

use candle_core::{DType, Device, Module, Result, Tensor, Var, D};
use candle_nn::{
    linear, loss, ops, AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap, SGD,
};
use std::hint::black_box;
use std::time::Instant;

struct Opts {
    reps: usize,
    secs: f64,
    only: Vec<String>,
}

fn measure(o: &Opts, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let t = Instant::now();
    let mut iters = 0u64;
    while t.elapsed().as_secs_f64() < o.secs.max(0.1) || iters < 3 {
        f()?;
        iters += 1;
    }
    let per = t.elapsed().as_secs_f64() / iters as f64;
    let n = ((o.secs / per) as u64).max(1);
    let mut out = Vec::new();
    for _ in 0..o.reps {
        let t = Instant::now();
        for _ in 0..n {
            f()?;
        }
        out.push(t.elapsed().as_secs_f64() / n as f64);
    }
    Ok(out)
}

fn emit(workload: &str, samples: usize, unit: &str, per_iter: &[f64]) {
    let list: Vec<String> = per_iter.iter().map(|v| format!("{v:e}")).collect();
    println!(
        "{{\"system\": \"candle 0.9\", \"workload\": \"{workload}\", \"unit\": \"{unit}\", \"samples\": {samples}, \"per_iter\": [{}]}}",
        list.join(", ")
    );
}

#[derive(Clone, Copy)]
enum Hidden {
    Relu,
    Sigmoid,
}

struct Mlp {
    layers: Vec<Linear>,
    hidden: Hidden,
}

impl Mlp {
    fn new(vb: VarBuilder, sizes: &[usize], hidden: Hidden) -> Result<Self> {
        let layers = (0..sizes.len() - 1)
            .map(|i| linear(sizes[i], sizes[i + 1], vb.pp(format!("l{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp { layers, hidden })
    }

    /// Logits.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i < last {
                h = match self.hidden {
                    Hidden::Relu => h.relu()?,
                    Hidden::Sigmoid => ops::sigmoid(&h)?,
                };
            }
        }
        Ok(h)
    }
}

/// RMSprop as Keras defines it (rho 0.9, eps 1e-7), which candle-nn lacks.
struct RmsProp {
    vars: Vec<(Var, Var)>,
    lr: f64,
}

impl RmsProp {
    fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        let vars = vars
            .into_iter()
            .map(|v| {
                let s = Var::zeros(v.shape(), DType::F32, v.device())?;
                Ok((v, s))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RmsProp { vars, lr })
    }

    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        for (v, s) in &self.vars {
            if let Some(g) = grads.get(v) {
                let s_new = ((s.as_tensor() * 0.9)? + (g.sqr()? * 0.1)?)?;
                let upd = (g / (s_new.sqrt()? + 1e-7)?)?;
                v.set(&(v.as_tensor() - (upd * self.lr)?)?)?;
                s.set(&s_new)?;
            }
        }
        Ok(())
    }
}

fn data(n: usize, width: usize, classes: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    let mut state = 7u64;
    let xs: Vec<f32> = (0..n * width)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let ys: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    Ok((
        Tensor::from_vec(xs, (n, width), dev)?,
        Tensor::from_vec(ys, n, dev)?,
    ))
}

enum Opt {
    Adam,
    RmsProp,
    Sgd,
}

fn train(
    o: &Opts,
    name: &str,
    sizes: &[usize],
    hidden: Hidden,
    opt: Opt,
    n: usize,
    lr: f64,
) -> Result<()> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = Mlp::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        sizes,
        hidden,
    )?;
    let (x, y) = data(n, sizes[0], *sizes.last().unwrap(), &dev)?;
    let step_loss = |m: &Mlp| -> Result<Tensor> { loss::cross_entropy(&m.forward(&x)?, &y) };
    let r = match opt {
        Opt::Adam => {
            let p = ParamsAdamW {
                lr,
                weight_decay: 0.0,
                eps: 1e-7,
                ..Default::default()
            };
            let mut opt = AdamW::new(vm.all_vars(), p)?;
            measure(o, || opt.backward_step(&step_loss(&model)?))?
        }
        Opt::RmsProp => {
            let mut opt = RmsProp::new(vm.all_vars(), lr)?;
            measure(o, || opt.backward_step(&step_loss(&model)?))?
        }
        Opt::Sgd => {
            let mut opt = SGD::new(vm.all_vars(), lr)?;
            measure(o, || opt.backward_step(&step_loss(&model)?))?
        }
    };
    emit(name, n, "step", &r);
    Ok(())
}

fn main() -> Result<()> {
    let mut o = Opts {
        reps: 7,
        secs: 0.3,
        only: Vec::new(),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--reps" => o.reps = args[i + 1].parse().unwrap(),
            "--secs" => o.secs = args[i + 1].parse().unwrap(),
            "--only" => o.only = args[i + 1].split(',').map(str::to_string).collect(),
            a => panic!("unknown argument {a}"),
        }
        i += 2;
    }
    let want = |w: &str| o.only.is_empty() || o.only.iter().any(|p| w.starts_with(p.as_str()));
    let w1 = [784, 128, 64, 10];
    if want("W1") {
        for n in [64, 256] {
            train(
                &o,
                &format!("W1_b{n}"),
                &w1,
                Hidden::Relu,
                Opt::Adam,
                n,
                1e-3,
            )?;
        }
    }
    if want("W2") {
        train(
            &o,
            "W2_b64",
            &[784, 64, 32, 32, 10],
            Hidden::Relu,
            Opt::RmsProp,
            64,
            1e-3,
        )?;
    }
    let dev = Device::Cpu;
    if want("W3") {
        let vm = VarMap::new();
        let m = Mlp::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            &[2, 3, 2],
            Hidden::Sigmoid,
        )?;
        let x = Tensor::from_vec(vec![0.3f32, -0.7], (1, 2), &dev)?;
        let r = measure(&o, || {
            black_box(ops::softmax(&m.forward(&x)?, D::Minus1)?);
            Ok(())
        })?;
        emit("W3_predict1", 1, "call", &r);
        train(
            &o,
            "W3_sgd_b4",
            &[2, 3, 2],
            Hidden::Sigmoid,
            Opt::Sgd,
            4,
            0.1,
        )?;
    }
    if want("W4") {
        let vm = VarMap::new();
        let m = Mlp::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            &w1,
            Hidden::Relu,
        )?;
        for n in [1, 1024] {
            let (x, _) = data(n, 784, 10, &dev)?;
            let r = measure(&o, || {
                black_box(ops::softmax(&m.forward(&x)?, D::Minus1)?);
                Ok(())
            })?;
            emit(&format!("W4_b{n}"), n, "call", &r);
        }
    }
    Ok(())
}
