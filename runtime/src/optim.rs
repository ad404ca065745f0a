//! Optimizers with per-parameter state, gradient clipping and learning-rate
//! schedules. Update rules and defaults follow Keras 3.

use crate::{Model, Param};
use std::ops::Range;

pub use nnc_core::optim::{EpsPlacement, Optimizer, Schedule};

/// One parameter's state vectors (momentum, moments, accumulators), for
/// its values `start..start + a.len()`: all of them, unless ranks of a
/// data-parallel run share the parameter's update ([`crate::dist`]).
#[derive(Debug, Clone, Default)]
struct Slot {
    a: Vec<f32>,
    b: Vec<f32>,
    start: usize,
}

impl Slot {
    /// Makes the slot hold the state of values `part` of a parameter of
    /// `len` values: as it is when it already does (every step after the
    /// first), cut from a whole parameter's state (restored from a
    /// checkpoint, then updated in parts), else fresh.
    fn hold(&mut self, opt: Optimizer, len: usize, part: Range<usize>) {
        let n = part.len();
        if self.start == part.start && self.a.len() == n && self.b.len() == n {
            return;
        }
        if self.start == 0 && self.a.len() == len && self.b.len() == len {
            self.a = self.a[part.clone()].to_vec();
            self.b = self.b[part.clone()].to_vec();
        } else {
            let init = match opt {
                Optimizer::Adagrad {
                    initial_accumulator,
                    ..
                } => initial_accumulator,
                _ => 0.0,
            };
            self.a = vec![init; n];
            self.b = vec![0.0; n];
        }
        self.start = part.start;
    }
}

/// Calls `f(param, part, offset)` for every parameter with values in
/// `range` of the flat parameter vector (every parameter's values,
/// concatenated in visiting order): `part` are those values' indices in the
/// parameter, `offset` the position of the first one in `range`.
fn overlaps(
    model: &mut dyn Model,
    range: Range<usize>,
    f: &mut dyn FnMut(Param<'_>, Range<usize>, usize),
) {
    let mut at = 0usize;
    model.visit_params(&mut |p: Param<'_>| {
        let len = p.value.len();
        let (lo, hi) = (range.start.max(at), range.end.min(at + len));
        if lo < hi {
            f(p, lo - at..hi - at, lo - range.start);
        }
        at += len;
    });
}

/// An optimizer with its per-parameter state, keyed by [`Param::index`].
///
/// State vectors are allocated on the first [`OptimizerState::step`] that
/// sees a parameter and reused afterwards: steps after the first allocate nothing.
#[derive(Debug, Clone)]
pub struct OptimizerState {
    optimizer: Optimizer,
    lr: f32,
    clip_norm: Option<f32>,
    iterations: u64,
    slots: Vec<Slot>,
    /// Layers frozen for this run (see [`OptimizerState::with_frozen`]).
    frozen: Vec<String>,
}

impl OptimizerState {
    /// Fresh state for `optimizer`, at its base learning rate, without clipping.
    pub fn new(optimizer: Optimizer) -> Self {
        OptimizerState {
            optimizer,
            lr: optimizer.lr(),
            clip_norm: None,
            iterations: 0,
            slots: Vec::new(),
            frozen: Vec::new(),
        }
    }

    /// Leaves the parameters of these layers (`<layer>.weight`,
    /// `<layer>.bias`, ...) unchanged, as if they were declared
    /// `trainable = false`, and out of the clipping norm. This is how a
    /// layer is frozen for one phase of training and trained in the next
    /// (fine-tuning) without recompiling: backward still computes their
    /// gradients, the update skips them.
    pub fn with_frozen(mut self, layers: Vec<String>) -> Self {
        self.frozen = layers;
        self
    }

    /// Whether parameter `name` belongs to a layer frozen by [`OptimizerState::with_frozen`].
    fn is_frozen(frozen: &[String], name: &str) -> bool {
        frozen.iter().any(|layer| {
            name.strip_prefix(layer.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    /// Rescales gradients whose global L2 norm (over all trainable
    /// parameters) exceeds `clip_norm`, as Keras' `global_clipnorm`.
    pub fn with_clip_norm(mut self, clip_norm: Option<f32>) -> Self {
        self.clip_norm = clip_norm;
        self
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The learning rate in use (the base rate unless a schedule changed it).
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Sets the learning rate (schedules call this at each epoch).
    pub fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    /// Number of steps taken (Adam's `t`).
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Restores the step count, e.g. when resuming from a checkpoint.
    pub fn set_iterations(&mut self, iterations: u64) {
        self.iterations = iterations;
    }

    /// Applies one update from the gradients the model's last backward
    /// stored, and returns the global gradient norm (before clipping).
    ///
    /// If that norm is NaN or infinite the parameters are left untouched
    /// (so a bad batch cannot poison the weights) and the caller should stop:
    /// [`crate::train::fit`] reports it as [`crate::Error::NonFinite`].
    pub fn step(&mut self, model: &mut dyn Model) -> f32 {
        let norm = self.sum_sq(model, 0..usize::MAX, None, 1.0).sqrt() as f32;
        if norm.is_finite() {
            self.apply(model, 0..usize::MAX, None, 1.0, norm);
        }
        norm
    }

    /// The sum of squares, over the positions `range` of the flat
    /// parameter vector (every parameter's values, concatenated in visiting
    /// order), of the gradients of the parameters the update changes
    /// (trainable, not frozen): one rank's share of the squared global norm
    /// when ranks split the update ([`crate::dist`]). `grads` holds the
    /// gradients of those positions, each multiplied by `pre` first.
    pub(crate) fn sum_sq_range(
        &self,
        model: &mut dyn Model,
        range: Range<usize>,
        grads: &[f32],
        pre: f32,
    ) -> f64 {
        self.sum_sq(model, range, Some(grads), pre)
    }

    /// The update of the positions `range` of the flat parameter vector
    /// only, from their gradients `grads` (each multiplied by `pre`) and
    /// the global gradient norm `norm` (for clipping; the caller checked
    /// that it is finite). Parameters may be cut anywhere: every update
    /// rule is elementwise. The state kept is that of `range` alone (see
    /// [`OptimizerState::state`]); a full state restored from a checkpoint
    /// is cut down to it on the first call.
    pub(crate) fn step_range(
        &mut self,
        model: &mut dyn Model,
        range: Range<usize>,
        grads: &[f32],
        pre: f32,
        norm: f32,
    ) {
        self.apply(model, range, Some(grads), pre, norm);
    }

    /// [`OptimizerState::sum_sq_range`] from `grads`, or from the model's
    /// own gradients when `None`.
    fn sum_sq(
        &self,
        model: &mut dyn Model,
        range: Range<usize>,
        grads: Option<&[f32]>,
        pre: f32,
    ) -> f64 {
        let mut sq = 0.0f64;
        let frozen = &self.frozen;
        overlaps(model, range, &mut |p, part, off| {
            if !p.trainable || Self::is_frozen(frozen, p.name) {
                return;
            }
            sq += match grads {
                Some(g) => sum_sq_fast(&g[off..off + part.len()], pre),
                None if p.grad.len() == p.value.len() => sum_sq_fast(&p.grad[part], pre),
                // Counted whole, as ever, by the one call it gets (`range` is everything).
                None => sum_sq_fast(p.grad, pre),
            };
        });
        sq
    }

    /// The update of `range`; see [`OptimizerState::step_range`].
    fn apply(
        &mut self,
        model: &mut dyn Model,
        range: Range<usize>,
        grads: Option<&[f32]>,
        pre: f32,
        norm: f32,
    ) {
        let scale = match self.clip_norm {
            Some(c) if norm > c && c > 0.0 => c / norm,
            _ => 1.0,
        };
        self.iterations += 1;
        let t = self.iterations;
        let lr = self.lr;
        let opt = self.optimizer;
        let frozen = &self.frozen;
        let slots = &mut self.slots;
        overlaps(model, range, &mut |p, part, off| {
            if !p.trainable || Self::is_frozen(frozen, p.name) {
                return;
            }
            let g = match grads {
                Some(g) => &g[off..off + part.len()],
                None if p.grad.len() == p.value.len() => &p.grad[part.clone()],
                None => return,
            };
            if slots.len() <= p.index {
                slots.resize_with(p.index + 1, Slot::default);
            }
            let slot = &mut slots[p.index];
            slot.hold(opt, p.value.len(), part.clone());
            let (w, a, b) = (&mut p.value[part], &mut slot.a[..], &mut slot.b[..]);
            let update = |(w, g, a, b): Part<'_>| update_fast(opt, lr, t, pre, scale, w, g, a, b);
            let share = match crate::pool::pool() {
                Some(pool) if w.len() >= PARALLEL_UPDATE => pool.share((0, 0)),
                _ => None,
            };
            match share {
                // Memory-bound: two cores, two caches, twice the bandwidth.
                Some(share) => {
                    let parts = update_parts((w, g, a, b));
                    share.for_each(parts, &mut (Vec::new(), Vec::new()), |p, _| update(p));
                }
                None => update((w, g, a, b)),
            }
        });
    }

    /// The state vectors, as `(param index, slot name, values)`, for
    /// checkpoints. During a data-parallel run each rank holds only the
    /// state of its share of the values ([`crate::dist`] gathers the whole
    /// state before writing a checkpoint); otherwise, and after that
    /// gathering, every vector covers its whole parameter.
    pub fn state(&self) -> Vec<(usize, &'static str, &[f32])> {
        let names = self.optimizer.slot_names();
        let mut out = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.a.is_empty() {
                continue;
            }
            for (k, name) in names.iter().enumerate() {
                out.push((index, *name, if k == 0 { &slot.a[..] } else { &slot.b[..] }));
            }
        }
        out
    }

    /// Restores one state vector saved by [`OptimizerState::state`]; returns
    /// `false` (and changes nothing) if this optimizer has no such slot.
    pub fn set_state(&mut self, index: usize, name: &str, values: Vec<f32>) -> bool {
        let Some(k) = self.optimizer.slot_names().iter().position(|n| *n == name) else {
            return false;
        };
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, Slot::default);
        }
        let slot = &mut self.slots[index];
        let len = values.len();
        slot.start = 0;
        if k == 0 {
            slot.a = values;
            if slot.b.len() != len {
                slot.b = vec![0.0; len];
            }
        } else {
            slot.b = values;
            if slot.a.len() != len {
                slot.a = vec![0.0; len];
            }
        }
        true
    }

    /// Writes state vector `k` (0 or 1, as in [`Optimizer::slot_names`]) of
    /// the positions `range` of the flat parameter vector into `out`
    /// (`range.len()` long), zeros where this state holds none: this rank's
    /// contribution to [`OptimizerState::import_whole`].
    pub(crate) fn export_range(
        &self,
        model: &mut dyn Model,
        range: Range<usize>,
        k: usize,
        out: &mut [f32],
    ) {
        out.fill(0.0);
        let slots = &self.slots;
        overlaps(model, range, &mut |p, part, off| {
            let Some(slot) = slots.get(p.index) else {
                return;
            };
            let v = if k == 0 { &slot.a } else { &slot.b };
            let end = slot.start + v.len();
            if slot.start <= part.start && part.end <= end {
                out[off..off + part.len()]
                    .copy_from_slice(&v[part.start - slot.start..part.end - slot.start]);
            }
        });
    }

    /// Replaces state vector `k` of every parameter the update changes with
    /// its values in `whole`, the flat state of all parameters (gathered
    /// from every rank's [`OptimizerState::export_range`]). Does nothing
    /// before the first step, when no rank holds state yet.
    pub(crate) fn import_whole(&mut self, model: &mut dyn Model, k: usize, whole: &[f32]) {
        if self.iterations == 0 {
            return;
        }
        let frozen = &self.frozen;
        let slots = &mut self.slots;
        overlaps(model, 0..whole.len(), &mut |p, part, off| {
            if !p.trainable || Self::is_frozen(frozen, p.name) || part.start != 0 {
                return;
            }
            if slots.len() <= p.index {
                slots.resize_with(p.index + 1, Slot::default);
            }
            let slot = &mut slots[p.index];
            let (len, v) = (part.len(), &whole[off..off + part.len()]);
            if slot.start != 0 || slot.a.len() != len {
                slot.a = vec![0.0; len];
            }
            if slot.start != 0 || slot.b.len() != len {
                slot.b = vec![0.0; len];
            }
            slot.start = 0;
            let dst = if k == 0 { &mut slot.a } else { &mut slot.b };
            dst.copy_from_slice(v);
        });
    }
}

/// Defines `$fast`, which runs `$inner` compiled for the widest vectors
/// this CPU has (AVX-512, AVX2, else baseline). For [`sum_sq`] and [`update`]:
/// the crate targets baseline x86-64 (SSE2), where the update's square roots
/// and divisions, four at a time, were a sixth of an MNIST training step.
/// The arithmetic is the same in every copy (Rust never fuses `a·b + c`
/// on its own, and lane counts are fixed in the code), so results do not
/// depend on the CPU.
macro_rules! widest {
    ($fast:ident = $inner:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[allow(clippy::too_many_arguments)]
        fn $fast($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}

widest!(sum_sq_fast = sum_sq(xs: &[f32], pre: f32) -> f64);
widest!(update_fast = update(
    opt: Optimizer,
    lr: f32,
    t: u64,
    pre: f32,
    scale: f32,
    w: &mut [f32],
    grad: &[f32],
    a: &mut [f32],
    b: &mut [f32]
));

/// `sum((x·pre)²)` in 32 f32 lanes (the compiler vectorises them; one
/// running sum could not be reordered and would wait on every add), f64
/// across chunks of 4096. `pre = 1` changes nothing (`x·1` is `x`).
#[inline(always)]
fn sum_sq(xs: &[f32], pre: f32) -> f64 {
    xs.chunks(4096)
        .map(|chunk| {
            let mut lanes = [0.0f32; 32];
            let mut it = chunk.chunks_exact(32);
            for c in &mut it {
                for (l, &v) in lanes.iter_mut().zip(c) {
                    let v = v * pre;
                    *l += v * v;
                }
            }
            let tail: f32 = it.remainder().iter().map(|&v| (v * pre) * (v * pre)).sum();
            lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
        })
        .sum()
}

/// Parameters at least this long are updated by two threads, when there are two.
const PARALLEL_UPDATE: usize = 1 << 15;

/// `p` in an even number of parts of at least `PARALLEL_UPDATE / 2` values
/// (whole cache lines), at most `pool::MAX_PARTS`, for the helper and the
/// caller to claim.
fn update_parts(p: Part<'_>) -> impl Iterator<Item = Part<'_>> {
    let len = p.0.len();
    let count = ((2 * len / PARALLEL_UPDATE) & !1).clamp(2, crate::pool::MAX_PARTS);
    let mut rest = Some(p);
    let mut start = 0;
    (1..=count).map_while(move |i| {
        let end = if i == count {
            len
        } else {
            (i * len / count).next_multiple_of(16)
        };
        let (w, g, a, b) = rest.take()?;
        let mid = end - start;
        let ((w0, w1), (g0, g1)) = (w.split_at_mut(mid), g.split_at(mid));
        let ((a0, a1), (b0, b1)) = (a.split_at_mut(mid), b.split_at_mut(mid));
        rest = Some((w1, g1, a1, b1));
        start = end;
        Some((w0, g0, a0, b0))
    })
}

/// A slice of one parameter: values, gradients, and the two state slots.
type Part<'p> = (&'p mut [f32], &'p [f32], &'p mut [f32], &'p mut [f32]);

/// One parameter's update (or part of one). Each gradient is multiplied
/// by `pre` (1, or a data-parallel run's 1 / global rows), then by `scale`,
/// the clipping factor; `a` and `b` are the optimizer's state for these
/// values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn update(
    opt: Optimizer,
    lr: f32,
    t: u64,
    pre: f32,
    scale: f32,
    w: &mut [f32],
    grad: &[f32],
    a: &mut [f32],
    b: &mut [f32],
) {
    match opt {
        Optimizer::Sgd {
            momentum, nesterov, ..
        } => {
            if momentum == 0.0 {
                for (w, &g) in w.iter_mut().zip(grad) {
                    let g = g * pre;
                    *w -= lr * g * scale;
                }
            } else {
                for ((w, &g), v) in w.iter_mut().zip(grad).zip(a.iter_mut()) {
                    let g = g * pre * scale;
                    *v = momentum * *v - lr * g;
                    *w += if nesterov { momentum * *v - lr * g } else { *v };
                }
            }
        }
        Optimizer::Adagrad {
            epsilon,
            eps_placement,
            ..
        } => {
            // One loop per placement: a branch inside would keep the
            // compiler from vectorising.
            let pairs = w.iter_mut().zip(grad).zip(a.iter_mut());
            match eps_placement {
                EpsPlacement::Keras => {
                    for ((w, &g), acc) in pairs {
                        let g = g * pre * scale;
                        *acc += g * g;
                        *w -= lr * g / (*acc + epsilon).sqrt();
                    }
                }
                EpsPlacement::PyTorch => {
                    for ((w, &g), acc) in pairs {
                        let g = g * pre * scale;
                        *acc += g * g;
                        *w -= lr * g / (acc.sqrt() + epsilon);
                    }
                }
            }
        }
        Optimizer::Adadelta { rho, epsilon, .. } => {
            for (((w, &g), ag), ad) in w.iter_mut().zip(grad).zip(a.iter_mut()).zip(b.iter_mut()) {
                let g = g * pre * scale;
                *ag = rho * *ag + (1.0 - rho) * g * g;
                let delta = (*ad + epsilon).sqrt() / (*ag + epsilon).sqrt() * g;
                *ad = rho * *ad + (1.0 - rho) * delta * delta;
                *w -= lr * delta;
            }
        }
        Optimizer::RmsProp {
            rho,
            momentum,
            epsilon,
            eps_placement,
            ..
        } => {
            let quads = w.iter_mut().zip(grad).zip(a.iter_mut()).zip(b.iter_mut());
            match eps_placement {
                EpsPlacement::Keras => {
                    for (((w, &g), v), m) in quads {
                        let g = g * pre * scale;
                        *v = rho * *v + (1.0 - rho) * g * g;
                        let inc = lr * g / (*v + epsilon).sqrt();
                        if momentum > 0.0 {
                            *m = momentum * *m + inc;
                            *w -= *m;
                        } else {
                            *w -= inc;
                        }
                    }
                }
                // torch.optim.RMSprop: the buffer holds g / (sqrt(v) + eps), lr comes after.
                EpsPlacement::PyTorch => {
                    for (((w, &g), v), m) in quads {
                        let g = g * pre * scale;
                        *v = rho * *v + (1.0 - rho) * g * g;
                        let step = g / (v.sqrt() + epsilon);
                        if momentum > 0.0 {
                            *m = momentum * *m + step;
                            *w -= lr * *m;
                        } else {
                            *w -= lr * step;
                        }
                    }
                }
            }
        }
        Optimizer::Adam {
            beta1,
            beta2,
            epsilon,
            eps_placement,
            ..
        }
        | Optimizer::AdamW {
            beta1,
            beta2,
            epsilon,
            eps_placement,
            ..
        } => {
            let decay = match opt {
                Optimizer::AdamW { weight_decay, .. } => weight_decay,
                _ => 0.0,
            };
            let t = t.min(i32::MAX as u64) as i32;
            let quads = w.iter_mut().zip(grad).zip(a.iter_mut()).zip(b.iter_mut());
            match eps_placement {
                EpsPlacement::Keras => {
                    let alpha = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
                    for (((w, &g), m), v) in quads {
                        let g = g * pre * scale;
                        *w -= lr * decay * *w;
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        *w -= alpha * *m / (v.sqrt() + epsilon);
                    }
                }
                // torch.optim.Adam: eps is added to the bias-corrected sqrt(v̂).
                EpsPlacement::PyTorch => {
                    let step = lr / (1.0 - beta1.powi(t));
                    let root2 = (1.0 - beta2.powi(t)).sqrt();
                    for (((w, &g), m), v) in quads {
                        let g = g * pre * scale;
                        *w -= lr * decay * *w;
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        *w -= step * *m / (v.sqrt() / root2 + epsilon);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Activation, GradAt, LayerInfo, Result};
    use ndarray::{ArrayD, ArrayViewD, IxDyn};

    /// `f(w) = 0.5 · sum a_i (w_i - c_i)²`: minimum at `c`, curvatures `a`
    /// differing by 20× so that per-coordinate scaling matters.
    pub(crate) struct Quadratic {
        pub w: Vec<f32>,
        pub g: Vec<f32>,
        pub frozen: Vec<f32>,
        a: Vec<f32>,
        c: Vec<f32>,
        out: ArrayD<f32>,
    }

    impl Quadratic {
        pub(crate) fn new() -> Self {
            Quadratic {
                w: vec![0.0; 3],
                g: vec![0.0; 3],
                frozen: vec![5.0],
                a: vec![1.0, 5.0, 20.0],
                c: vec![1.0, -2.0, 0.5],
                out: ArrayD::zeros(IxDyn(&[1, 1])),
            }
        }
        pub(crate) fn distance(&self) -> f32 {
            self.w
                .iter()
                .zip(&self.c)
                .map(|(w, c)| (w - c).abs())
                .fold(0.0, f32::max)
        }
        fn grad(&mut self) {
            for i in 0..3 {
                self.g[i] = self.a[i] * (self.w[i] - self.c[i]);
            }
        }
    }

    impl Model for Quadratic {
        fn name(&self) -> &str {
            "quadratic"
        }
        fn input_shape(&self) -> &[usize] {
            &[1]
        }
        fn output_shape(&self) -> &[usize] {
            &[1]
        }
        fn output_activation(&self) -> Activation {
            Activation::Linear
        }
        fn forward(
            &mut self,
            _x: ArrayViewD<'_, f32>,
            _training: bool,
        ) -> Result<ArrayViewD<'_, f32>> {
            Ok(self.out.view())
        }
        fn backward(&mut self, _grad: ArrayViewD<'_, f32>, _at: GradAt) -> Result<()> {
            self.grad();
            Ok(())
        }
        fn penalty(&self) -> f32 {
            0.0
        }
        fn visit_params(&mut self, f: &mut dyn FnMut(Param<'_>)) {
            f(Param {
                index: 0,
                name: "w",
                shape: &[3],
                value: &mut self.w,
                grad: &self.g,
                trainable: true,
            });
            f(Param {
                index: 1,
                name: "frozen",
                shape: &[1],
                value: &mut self.frozen,
                grad: &[1.0],
                trainable: false,
            });
        }
        fn reseed(&mut self, _seed: u64) {}
        fn layers(&self) -> Vec<LayerInfo> {
            Vec::new()
        }
    }

    fn minimise(opt: Optimizer, steps: usize) -> Quadratic {
        let mut q = Quadratic::new();
        let mut state = OptimizerState::new(opt);
        for _ in 0..steps {
            q.grad();
            let norm = state.step(&mut q);
            assert!(norm.is_finite());
        }
        assert_eq!(q.frozen, [5.0], "{}: a frozen parameter moved", opt.name());
        q
    }

    #[test]
    fn every_optimizer_reaches_the_known_minimum() {
        let cases = [
            (Optimizer::sgd(0.04), 500),
            (Optimizer::momentum(0.02, 0.9, false), 500),
            (Optimizer::momentum(0.02, 0.9, true), 500),
            (Optimizer::adagrad(0.5), 2000),
            (Optimizer::adadelta(1.0), 3000),
            (Optimizer::rmsprop(0.01), 2000),
            (
                Optimizer::RmsProp {
                    lr: 0.005,
                    rho: 0.9,
                    momentum: 0.5,
                    epsilon: 1e-7,
                    eps_placement: EpsPlacement::Keras,
                },
                2000,
            ),
            (Optimizer::adam(0.05), 2000),
            (Optimizer::adamw(0.05, 0.0), 2000),
        ];
        for (opt, steps) in cases {
            let q = minimise(opt, steps);
            assert!(q.distance() < 1e-2, "{opt:?}: ended at {:?}", q.w);
        }
        // AdamW's decay pulls the minimum towards 0 (decoupled from the gradient).
        let q = minimise(Optimizer::adamw(0.05, 0.1), 2000);
        assert!(q.w[0] < 0.999 && q.w[0] > 0.9, "{:?}", q.w);
    }

    #[test]
    fn first_adam_step_is_lr_sized() {
        let mut q = Quadratic::new();
        q.grad();
        OptimizerState::new(Optimizer::adam(0.1)).step(&mut q);
        // Bias correction makes the first step lr·sign(g) whatever |g| is.
        for (w, c) in q.w.iter().zip([1.0f32, -2.0, 0.5]) {
            assert!(
                (w.abs() - 0.1).abs() < 1e-4 && w.signum() == c.signum(),
                "{:?}",
                q.w
            );
        }
    }

    #[test]
    fn clipping_bounds_the_step_and_nan_leaves_weights_alone() {
        let mut q = Quadratic::new();
        q.grad();
        let mut state = OptimizerState::new(Optimizer::sgd(1.0)).with_clip_norm(Some(0.5));
        let norm = state.step(&mut q);
        assert!(norm > 0.5);
        let moved = q.w.iter().map(|w| w * w).sum::<f32>().sqrt();
        assert!((moved - 0.5).abs() < 1e-5, "{moved}");
        let before = q.w.clone();
        q.g[1] = f32::NAN;
        assert!(state.step(&mut q).is_nan());
        assert_eq!(q.w, before);
        assert_eq!(state.iterations(), 1);
    }

    /// Two states updating the two halves of the flat parameter vector
    /// (cut inside `w`) give the bits one state updating all of it gives,
    /// with clipping acting, for several steps; gathered, their state is
    /// the whole state.
    #[test]
    fn an_update_in_parts_is_the_whole_update() {
        for opt in [
            Optimizer::adam(0.1),
            Optimizer::momentum(0.1, 0.9, false),
            Optimizer::adagrad(0.5),
        ] {
            let mut whole = Quadratic::new();
            let mut parts = Quadratic::new();
            let new = || OptimizerState::new(opt).with_clip_norm(Some(2.0));
            let mut one = new();
            let mut halves = [(new(), 0..2), (new(), 2..4)];
            for _ in 0..4 {
                whole.grad();
                assert!(one.step(&mut whole) > 2.0, "clipping must act");
                parts.grad();
                let g = parts.g.clone();
                let grads = |r: &Range<usize>| {
                    let mut v: Vec<f32> = g.iter().chain(&[1.0]).copied().collect();
                    v.truncate(r.end);
                    v.split_off(r.start)
                };
                let sq: f64 = halves
                    .iter()
                    .map(|(s, r)| s.sum_sq_range(&mut parts, r.clone(), &grads(r), 0.5))
                    .sum();
                // pre = 0.5 on doubled gradients: the same gradients.
                let norm = (sq.sqrt() * 2.0) as f32;
                for (s, r) in halves.iter_mut() {
                    let doubled: Vec<f32> = grads(r).iter().map(|v| v * 2.0).collect();
                    s.step_range(&mut parts, r.clone(), &doubled, 0.5, norm);
                }
                assert_eq!(parts.w, whole.w, "{opt:?}");
                assert_eq!(parts.frozen, [5.0]);
            }
            let mut gathered = halves[0].0.clone();
            for k in 0..opt.slot_names().len() {
                let mut flat = vec![0.0; 4];
                for (s, r) in &halves {
                    let mut part = vec![0.0; r.len()];
                    s.export_range(&mut parts, r.clone(), k, &mut part);
                    flat[r.clone()].copy_from_slice(&part);
                }
                gathered.import_whole(&mut parts, k, &flat);
            }
            assert_eq!(gathered.state(), one.state(), "{opt:?}");
        }
    }

    #[test]
    fn sum_sq_matches_the_plain_sum() {
        let x: Vec<f32> = (0..10_007).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
        let plain: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
        assert!((sum_sq(&x, 1.0) - plain).abs() < 1e-6 * plain);
        assert!(sum_sq(&[f32::NAN, 1.0], 1.0).is_nan());
        assert_eq!(sum_sq(&[], 1.0), 0.0);
    }

    #[test]
    fn schedules() {
        assert_eq!(Schedule::Constant.lr(0.1, 7), 0.1);
        assert!(
            (Schedule::Step {
                every: 2,
                factor: 0.5
            }
            .lr(1.0, 5)
                - 0.25)
                .abs()
                < 1e-7
        );
        assert!((Schedule::Exponential { rate: 0.9 }.lr(1.0, 2) - 0.81).abs() < 1e-6);
        let cos = Schedule::Cosine {
            epochs: 10,
            min_lr: 0.0,
        };
        assert_eq!(cos.lr(1.0, 0), 1.0);
        assert!((cos.lr(1.0, 5) - 0.5).abs() < 1e-6);
        assert_eq!(cos.lr(1.0, 12), 0.0);
        assert_eq!(
            Schedule::Step {
                every: 0,
                factor: 0.5
            }
            .lr(1.0, 5),
            1.0
        );
    }

    #[test]
    fn state_round_trips() {
        let mut q = Quadratic::new();
        let mut s = OptimizerState::new(Optimizer::adam(0.01));
        q.grad();
        s.step(&mut q);
        let saved: Vec<(usize, String, Vec<f32>)> = s
            .state()
            .into_iter()
            .map(|(i, n, v)| (i, n.to_string(), v.to_vec()))
            .collect();
        assert_eq!(saved.len(), 2);
        let mut r = OptimizerState::new(Optimizer::adam(0.01));
        for (i, n, v) in saved {
            assert!(r.set_state(i, &n, v));
        }
        r.set_iterations(s.iterations());
        let mut q2 = Quadratic::new();
        q2.w = q.w.clone();
        q.grad();
        q2.grad();
        s.step(&mut q);
        r.step(&mut q2);
        assert_eq!(q.w, q2.w);
        assert!(!r.set_state(0, "nonsense", vec![]));
    }

    /// The optimizers of [`placement_cases`], all with `epsilon = 0.1`, large
    /// enough that where it goes changes the trajectory visibly.
    fn placement_cases(placement: EpsPlacement) -> Vec<(&'static str, Optimizer)> {
        let p = placement;
        vec![
            (
                "adagrad",
                Optimizer::Adagrad {
                    lr: 0.1,
                    initial_accumulator: 0.1,
                    epsilon: 0.1,
                    eps_placement: p,
                },
            ),
            (
                "rmsprop",
                Optimizer::RmsProp {
                    lr: 0.01,
                    rho: 0.9,
                    momentum: 0.0,
                    epsilon: 0.1,
                    eps_placement: p,
                },
            ),
            (
                "rmsprop_momentum",
                Optimizer::RmsProp {
                    lr: 0.01,
                    rho: 0.9,
                    momentum: 0.5,
                    epsilon: 0.1,
                    eps_placement: p,
                },
            ),
            (
                "adam",
                Optimizer::Adam {
                    lr: 0.1,
                    beta1: 0.9,
                    beta2: 0.999,
                    epsilon: 0.1,
                    eps_placement: p,
                },
            ),
            (
                "adamw",
                Optimizer::AdamW {
                    lr: 0.1,
                    beta1: 0.9,
                    beta2: 0.999,
                    epsilon: 0.1,
                    eps_placement: p,
                    weight_decay: 0.1,
                },
            ),
        ]
    }

    /// Five steps on [`Quadratic`] (from `w = 0`) in f64, written from the
    /// published update equations (Keras 3's `optimizers/*.py`, PyTorch's
    /// `torch.optim` docs), independently of [`update`].
    fn reference(name: &str, placement: EpsPlacement) -> [f64; 3] {
        let (a, c) = ([1.0f64, 5.0, 20.0], [1.0f64, -2.0, 0.5]);
        let torch = placement == EpsPlacement::PyTorch;
        let mut w = [0.0f64; 3];
        let (mut s1, mut s2) = ([0.0f64; 3], [0.0f64; 3]);
        if name == "adagrad" {
            s1 = [0.1; 3];
        }
        let eps = 0.1;
        for t in 1..=5 {
            for i in 0..3 {
                let g = a[i] * (w[i] - c[i]);
                match name {
                    "adagrad" => {
                        s1[i] += g * g;
                        let d = if torch {
                            s1[i].sqrt() + eps
                        } else {
                            (s1[i] + eps).sqrt()
                        };
                        w[i] -= 0.1 * g / d;
                    }
                    "rmsprop" | "rmsprop_momentum" => {
                        let (lr, mu) = (0.01, if name == "rmsprop" { 0.0 } else { 0.5 });
                        s1[i] = 0.9 * s1[i] + 0.1 * g * g;
                        if torch {
                            s2[i] = mu * s2[i] + g / (s1[i].sqrt() + eps);
                            w[i] -= lr * s2[i];
                        } else {
                            s2[i] = mu * s2[i] + lr * g / (s1[i] + eps).sqrt();
                            w[i] -= s2[i];
                        }
                    }
                    _ => {
                        let (lr, b1, b2) = (0.1, 0.9f64, 0.999f64);
                        if name == "adamw" {
                            w[i] -= lr * 0.1 * w[i];
                        }
                        s1[i] = b1 * s1[i] + (1.0 - b1) * g;
                        s2[i] = b2 * s2[i] + (1.0 - b2) * g * g;
                        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                        w[i] -= if torch {
                            // m̂ / (sqrt(v̂) + eps)
                            lr * (s1[i] / c1) / ((s2[i] / c2).sqrt() + eps)
                        } else {
                            // lr_t · m / (sqrt(v) + eps), lr_t = lr sqrt(c2) / c1
                            lr * c2.sqrt() / c1 * s1[i] / (s2[i].sqrt() + eps)
                        };
                    }
                }
            }
        }
        w
    }

    /// Both placements for every optimizer that has them, five steps each,
    /// against [`reference`]; the PyTorch trajectories also against
    /// `torch.optim` itself (float64), pasted from this script:
    ///
    /// ```python
    /// import torch
    /// a = torch.tensor([1.0, 5.0, 20.0], dtype=torch.float64)
    /// c = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    /// def run(make, steps=5):
    ///     w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    ///     opt = make([w])
    ///     for _ in range(steps):
    ///         opt.zero_grad()
    ///         (0.5 * (a * (w - c) ** 2).sum()).backward()
    ///         opt.step()
    ///     return [float(x) for x in w.detach()]
    /// # Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.1)
    /// # RMSprop(p, lr=0.01, alpha=0.9, eps=0.1), the same with momentum=0.5
    /// # Adam(p, lr=0.1, betas=(0.9, 0.999), eps=0.1)
    /// # AdamW(p, lr=0.1, betas=(0.9, 0.999), eps=0.1, weight_decay=0.1)
    /// ```
    #[test]
    fn both_epsilon_placements_follow_their_equations() {
        let torch: [(&str, [f64; 3]); 5] = [
            (
                "adagrad",
                [
                    0.2761089020807001,
                    -0.31096706285454656,
                    0.27547251954394203,
                ],
            ),
            (
                "rmsprop",
                [
                    0.08530991941965016,
                    -0.10313811533399694,
                    0.10010725058364597,
                ],
            ),
            (
                "rmsprop_momentum",
                [0.1417562718274027, -0.1728906175497237, 0.16601665339279392],
            ),
            (
                "adam",
                [
                    0.44438676151883066,
                    -0.49190864541786594,
                    0.46708772683977706,
                ],
            ),
            (
                "adamw",
                [
                    0.43560041359224433,
                    -0.48217386901891507,
                    0.4580710855355767,
                ],
            ),
        ];
        let close = |x: f64, y: f64| (x - y).abs() <= 2e-6 * (1.0 + y.abs());
        for placement in [EpsPlacement::Keras, EpsPlacement::PyTorch] {
            for (name, opt) in placement_cases(placement) {
                let mut q = Quadratic::new();
                let mut state = OptimizerState::new(opt);
                for _ in 0..5 {
                    q.grad();
                    state.step(&mut q);
                }
                let want = reference(name, placement);
                for i in 0..3 {
                    assert!(
                        close(q.w[i] as f64, want[i]),
                        "{name} {placement:?}: {:?}, want {want:?}",
                        q.w
                    );
                }
                if placement == EpsPlacement::PyTorch {
                    let (_, t) = torch.iter().find(|(n, _)| *n == name).unwrap();
                    for i in 0..3 {
                        assert!(close(want[i], t[i]), "{name}: {want:?} vs torch {t:?}");
                    }
                }
                // The placements give different trajectories here, so the
                // comparisons above can tell them apart.
                let other = match placement {
                    EpsPlacement::Keras => EpsPlacement::PyTorch,
                    EpsPlacement::PyTorch => EpsPlacement::Keras,
                };
                let elsewhere = reference(name, other);
                assert!(
                    (0..3).any(|i| !close(want[i], elsewhere[i])),
                    "{name}: the placements agree, the test proves nothing"
                );
            }
        }
    }

    /// The update compiled for AVX-512 or AVX2 gives the bits of the
    /// baseline one, for every optimizer and placement.
    #[test]
    fn the_widest_update_is_the_portable_update() {
        let len = 1000;
        let f = |i: usize| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5;
        let mut opts = vec![
            Optimizer::sgd(0.1),
            Optimizer::momentum(0.1, 0.9, true),
            Optimizer::adadelta(1.0),
        ];
        for p in [EpsPlacement::Keras, EpsPlacement::PyTorch] {
            opts.extend(placement_cases(p).into_iter().map(|(_, o)| o));
        }
        for opt in opts {
            let g: Vec<f32> = (0..len).map(|i| f(i + 3)).collect();
            let (mut w1, mut a1, mut b1) = (
                (0..len).map(f).collect::<Vec<_>>(),
                vec![0.1; len],
                vec![0.2; len],
            );
            let (mut w2, mut a2, mut b2) = (w1.clone(), a1.clone(), b1.clone());
            for t in 1..4 {
                update(opt, 1e-2, t, 1.0, 0.7, &mut w1, &g, &mut a1, &mut b1);
                update_fast(opt, 1e-2, t, 1.0, 0.7, &mut w2, &g, &mut a2, &mut b2);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&w1) == bits(&w2) && bits(&a1) == bits(&a2) && bits(&b1) == bits(&b2),
                "{opt:?}"
            );
        }
    }

    /// The parts the helper and the caller share cover a parameter in
    /// order, and the update gives the same bits whoever does which part.
    #[test]
    fn a_split_update_is_the_same_update() {
        use crate::pool::{Pool, MAX_PARTS};
        let pools = [Pool::for_tests(0, true), Pool::for_tests(1_000_000, false)];
        for len in [PARALLEL_UPDATE, 50_176, 100_352, (1 << 20) + 5] {
            let f = |i: usize| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5;
            let (w0, g): (Vec<f32>, Vec<f32>) = (0..len).map(|i| (f(i), f(i + 1))).unzip();
            let (mut w, mut a, mut b) = (w0.clone(), vec![0.1; len], vec![0.2; len]);
            let bounds: Vec<usize> = update_parts((&mut w, &g, &mut a, &mut b))
                .map(|p| p.0.len())
                .collect();
            assert!(
                bounds.len().is_multiple_of(2) && bounds.len() <= MAX_PARTS,
                "{bounds:?}"
            );
            assert_eq!(bounds.iter().sum::<usize>(), len);
            let opt = Optimizer::adam(1e-3);
            update_fast(opt, 1e-3, 3, 1.0, 0.5, &mut w, &g, &mut a, &mut b);
            for pool in pools {
                let (mut w2, mut a2, mut b2) = (w0.clone(), vec![0.1; len], vec![0.2; len]);
                let parts = update_parts((&mut w2, &g, &mut a2, &mut b2));
                pool.share_now((0, 0))
                    .for_each(parts, &mut (Vec::new(), Vec::new()), |p, _| {
                        update_fast(opt, 1e-3, 3, 1.0, 0.5, p.0, p.1, p.2, p.3)
                    });
                assert!(w2 == w && a2 == a && b2 == b, "length {len}");
            }
        }
    }
}
