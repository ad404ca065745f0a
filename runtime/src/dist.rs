//! Data-parallel training: the hook through which a communication library
//! joins several processes ("ranks") into one training run. The runtime
//! itself does no communication; `nnc-mpi` implements [`GradientSync`] over
//! MPI, and any other transport can do the same.
//!
//! [`fit_distributed`] runs [`crate::fit`]'s loop on every rank with these
//! differences:
//! - before the first step, rank 0's weights are broadcast to every rank;
//! - each global batch of `batch_size` rows is split across the ranks
//!   ([`DataLayout`] says how the rows are chosen); each rank runs forward
//!   and the generated backward on its rows only;
//! - the optimizer update is split across the ranks (ZeRO stage 1): the
//!   parameters' values, concatenated in visiting order into one flat
//!   vector and padded to a multiple of the rank count, are cut into equal
//!   blocks, rank `r` owning block `r` (a block may end inside a
//!   parameter: every update rule is elementwise). A step packs every
//!   gradient, weighted by this rank's row count, into that vector and
//!   [`GradientSync::reduce_scatter_f32`] leaves each rank the sum over
//!   the ranks of its own block. Each rank multiplies it by 1 / the global
//!   row count (known to all in advance; the multiplication is folded into
//!   the norm and the update, not a pass of its own): the mean gradient
//!   over the global batch, whatever the split (uneven, a last partial
//!   batch, a rank with no rows). It adds up
//!   its block's share of the squared gradient norm (trainable, unfrozen
//!   parameters only), and one small [`GradientSync::sum_f64`] of
//!   `(rows, loss, norm², failure flag per rank)` gives every rank the
//!   global loss, the global norm (for `clip_norm`, and the non-finite
//!   check, which stops every rank together) and any rank's failure. Each
//!   rank then updates its block only, and
//!   [`GradientSync::all_gather_f32`] gives every rank all the updated
//!   values, bit for bit the owner's: the ranks cannot drift apart;
//! - so the optimizer state (moments, accumulators) lives sharded: each
//!   rank keeps the state of its block only. It is gathered whole, one
//!   all-gather per state vector, only where a whole state is needed: a
//!   checkpoint (written by rank 0) holds the state one process would
//!   have, so it resumes on any number of ranks; a resumed state is cut
//!   down to each rank's block at its first step;
//! - the loss and metrics of an epoch are summed over the ranks, so the
//!   history is the global one; validation, early stopping, the learning-rate
//!   schedule and checkpoint decisions are therefore identical on every rank;
//! - only rank 0 prints and writes checkpoints.
//!
//! An error on one rank (a bad label, a non-finite loss, a failed checkpoint
//! write) is made known to every rank at the next collective operation, so
//! the others return [`Error::PeerFailed`] instead of waiting forever.
//!
//! A step allocates nothing after the first: the buffers are sized once for
//! the whole model, the optimizer state once for the rank's block.

use crate::data::Dataset;
use crate::history::History;
use crate::metrics::Metric;
use crate::train::{Evaluation, TrainConfig, TrainState};
use crate::{Error, Model, Param, Result};
use ndarray::ArrayViewD;

/// The collective operations data-parallel training needs. Every rank calls
/// them in the same order with buffers of the same length.
///
/// A step calls [`GradientSync::reduce_scatter_f32`],
/// [`GradientSync::sum_f64`] (a few values) and
/// [`GradientSync::all_gather_f32`]. The first and last have defaults built
/// on [`GradientSync::sum_f32`], correct but moving more data than a
/// transport's own collectives: implement them where the transport has
/// them, and forward them in a wrapper around another implementation.
pub trait GradientSync {
    /// This process's index, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of processes in the run.
    fn size(&self) -> usize;

    /// Replaces `buf` with its elementwise sum over all ranks. Every rank
    /// must receive the same bits (the weights would drift apart otherwise),
    /// and two runs with the same inputs should too.
    ///
    /// # Errors
    /// Whatever the transport reports.
    fn sum_f32(&mut self, buf: &mut [f32]) -> Result<()>;

    /// As [`GradientSync::sum_f32`], for the loss and metric sums.
    ///
    /// # Errors
    /// Whatever the transport reports.
    fn sum_f64(&mut self, buf: &mut [f64]) -> Result<()>;

    /// Replaces `buf` on every rank with rank 0's.
    ///
    /// # Errors
    /// Whatever the transport reports.
    fn broadcast_f32(&mut self, buf: &mut [f32]) -> Result<()>;

    /// Sums `send` over all ranks and leaves this rank's block of the sum
    /// in `recv`: with `b = recv.len()`, rank `r` receives elements
    /// `r·b .. (r+1)·b`, and `send` holds `size()·b` elements on every
    /// rank. `send` may be overwritten. Two runs with the same inputs
    /// should give the same bits (MPI: `MPI_Reduce_scatter`).
    ///
    /// The default sums the whole of `send` with
    /// [`GradientSync::sum_f32`], in place, and copies the block out:
    /// correct for any transport, but it moves `size()` times the data a
    /// real reduce-scatter moves.
    ///
    /// # Errors
    /// [`Error::Config`] if `send` is not `size()·recv.len()` long;
    /// whatever the transport reports.
    fn reduce_scatter_f32(&mut self, send: &mut [f32], recv: &mut [f32]) -> Result<()> {
        let (b, r) = (recv.len(), self.rank());
        block_lengths("reduce-scatter", recv.len(), send.len(), self.size())?;
        self.sum_f32(send)?;
        recv.copy_from_slice(&send[r * b..(r + 1) * b]);
        Ok(())
    }

    /// Every rank's `send`, in rank order, in `recv` on every rank:
    /// `recv` holds `size()·send.len()` elements and rank `r`'s block is
    /// `r·b .. (r+1)·b` with `b = send.len()`. The blocks must arrive
    /// unchanged, bit for bit (MPI: `MPI_Allgather`).
    ///
    /// The default fills the other ranks' blocks with `-0.0` and sums with
    /// [`GradientSync::sum_f32`]: `-0.0` is the identity of IEEE addition
    /// (`x + -0.0` is `x` for every `x`, `+0.0` included), so the sum is
    /// exact as long as `sum_f32` only adds the ranks' values (it must not
    /// start from `+0.0`, which would turn a `-0.0` into `+0.0`).
    ///
    /// # Errors
    /// [`Error::Config`] if `recv` is not `size()·send.len()` long;
    /// whatever the transport reports.
    fn all_gather_f32(&mut self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        let (b, r) = (send.len(), self.rank());
        block_lengths("all-gather", send.len(), recv.len(), self.size())?;
        recv.fill(-0.0);
        recv[r * b..(r + 1) * b].copy_from_slice(send);
        self.sum_f32(recv)
    }
}

/// Checks that `whole` is `size` blocks of `block` elements.
fn block_lengths(op: &str, block: usize, whole: usize, size: usize) -> Result<()> {
    if block.checked_mul(size) != Some(whole) {
        return Err(Error::Config(format!(
            "{op}: a buffer of {whole} elements is not {size} blocks of {block}"
        )));
    }
    Ok(())
}

/// Where each rank's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataLayout {
    /// Every rank holds the whole training set. The epoch's shuffle is the
    /// same on every rank (it comes from the seed) and each global batch is
    /// the one a single process would take; rank `r` of `p` takes rows
    /// `m·r/p .. m·(r+1)/p` of it. The result equals single-process
    /// training with the same global batch, up to float rounding (the
    /// gradient sum runs in a different order). For data that fits in
    /// every machine's memory.
    #[default]
    Replicated,
    /// Each rank holds a different part of the training set (e.g. read with
    /// [`crate::data::idx::read_idx_rows`]) and shuffles it on its own; a
    /// step takes `batch_size·(r+1)/p - batch_size·r/p` rows from rank `r`'s
    /// part, and an epoch lasts until the rank needing the most steps has
    /// used all its rows (ranks that ran out contribute no rows to the last
    /// steps). Global batches are therefore drawn differently from a single
    /// process, as with PyTorch's `DistributedSampler`. Validation data
    /// (from `validation_split`, the end of each rank's part) is evaluated
    /// on each rank's part and averaged by row count.
    Sharded,
}

/// Trains `model` on `data` with `cfg` as one rank of a data-parallel run:
/// [`crate::fit`] with the gradients of every step summed over `sync`'s
/// ranks (see the [module documentation](self)). Every rank calls it with the
/// same `cfg` and a model of the same architecture; rank 0's initial weights
/// win. With [`DataLayout::Replicated`] every rank passes the same `data`.
///
/// # Errors
/// As [`crate::fit`]; [`Error::Config`] if the ranks disagree on the data
/// size (replicated) or the batch is smaller than the number of ranks
/// (sharded); [`Error::PeerFailed`] when another rank failed.
pub fn fit_distributed(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    data: &Dataset,
    layout: DataLayout,
    sync: &mut dyn GradientSync,
) -> Result<History> {
    let mut dist = Dist::new(sync, layout);
    if cfg.validation_split > 0.0 {
        let split = dist.agree(
            data.validation_split(cfg.validation_split),
            "validation split",
        )?;
        crate::train::run_distributed(
            model,
            cfg,
            &split.0,
            Some(&split.1),
            TrainState::new(cfg),
            &mut dist,
        )
    } else {
        crate::train::run_distributed(model, cfg, data, None, TrainState::new(cfg), &mut dist)
    }
}

/// [`crate::train::resume`] as one rank of a data-parallel run: every rank
/// passes the state it loaded from the same checkpoint (a checkpoint holds
/// no per-rank state, so it resumes on any number of ranks), and rank 0's
/// weights are broadcast as in [`fit_distributed`].
///
/// # Errors
/// As [`fit_distributed`].
pub fn resume_distributed(
    model: &mut dyn Model,
    cfg: &TrainConfig,
    train: &Dataset,
    val: Option<&Dataset>,
    state: TrainState,
    layout: DataLayout,
    sync: &mut dyn GradientSync,
) -> Result<History> {
    let mut dist = Dist::new(sync, layout);
    crate::train::run_distributed(model, cfg, train, val, state, &mut dist)
}

/// Rows `n·r/p .. n·(r+1)/p`: rank `r`'s part of `n` rows split `p` ways
/// (parts differ in size by at most one).
pub fn split_rows(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    let at = |r: usize| ((n as u128 * r as u128) / size as u128) as usize;
    at(rank)..at(rank + 1)
}

/// The training loop's view of a distributed run.
pub(crate) struct Dist<'a> {
    sync: &'a mut dyn GradientSync,
    layout: DataLayout,
    rank: usize,
    size: usize,
    /// Rows of this rank per step ([`DataLayout::Sharded`]).
    local_batch: usize,
    /// The global batch size.
    batch_size: usize,
    /// Every rank's number of training rows.
    rows: Vec<usize>,
    /// `size` blocks of `part.len()` values, covering the flat parameter
    /// vector (every parameter's values in visiting order) and a few zeros
    /// of padding: every parameter's gradient, row-weighted, going into
    /// the reduce-scatter; the updated parameters coming out of the
    /// all-gather.
    flat: Vec<f32>,
    /// This rank's block: the summed gradient of its share of the
    /// parameters, then their updated values.
    part: Vec<f32>,
    /// The number of parameter values.
    n_grad: usize,
    /// The step's small sums: rows, row-weighted loss, squared gradient
    /// norm of each rank's share, then one failure flag per rank.
    tail: Vec<f64>,
    /// The epoch's `(sum, count)` pairs, flattened, plus failure flags.
    sums: Vec<f64>,
}

impl<'a> Dist<'a> {
    pub(crate) fn new(sync: &'a mut dyn GradientSync, layout: DataLayout) -> Self {
        let (rank, size) = (sync.rank(), sync.size().max(1));
        Dist {
            sync,
            layout,
            rank,
            size,
            local_batch: 0,
            batch_size: 0,
            rows: Vec::new(),
            flat: Vec::new(),
            part: Vec::new(),
            n_grad: 0,
            tail: vec![0.0; 3 + size],
            sums: Vec::new(),
        }
    }

    pub(crate) fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Mixed into the epoch seed for dropout (and, sharded, the shuffle):
    /// 0 on rank 0, so one rank behaves exactly as [`crate::fit`], and
    /// different on every other rank, so their masks are independent.
    pub(crate) fn salt(&self) -> u64 {
        (self.rank as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }

    pub(crate) fn layout(&self) -> DataLayout {
        self.layout
    }

    fn peer_failed(&self, flags: impl Iterator<Item = bool>, during: &str) -> Result<()> {
        let failed = flags
            .enumerate()
            .find(|&(r, f)| f && r != self.rank)
            .map(|(r, _)| r);
        match failed {
            Some(rank) => Err(Error::PeerFailed {
                rank,
                size: self.size,
                during: during.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Tells every rank whether this one failed: this rank's own error if it
    /// did, [`Error::PeerFailed`] if another did, else `r`'s value.
    pub(crate) fn agree<T>(&mut self, r: Result<T>, during: &str) -> Result<T> {
        let mut flags = vec![0.0f64; self.size];
        flags[self.rank] = f64::from(u8::from(r.is_err()));
        self.sync.sum_f64(&mut flags)?;
        let r = r?;
        self.peer_failed(flags.iter().map(|&f| f > 0.0), during)?;
        Ok(r)
    }

    /// Makes rank 0's weights everyone's and sizes the buffers; returns the
    /// global batch size and the number of steps per epoch. `n` is this
    /// rank's number of training rows.
    pub(crate) fn start(
        &mut self,
        model: &mut dyn Model,
        n: usize,
        batch_size: usize,
    ) -> Result<(usize, usize)> {
        let mut len = 0;
        model.visit_params(&mut |p: Param<'_>| len += p.value.len());
        self.n_grad = len;
        let block = len.div_ceil(self.size);
        self.flat = vec![0.0; block * self.size];
        self.part = vec![0.0; block];
        let w = &mut self.flat[..len];
        let mut at = 0;
        model.visit_params(&mut |p: Param<'_>| {
            w[at..at + p.value.len()].copy_from_slice(p.value);
            at += p.value.len();
        });
        self.sync.broadcast_f32(w)?;
        let w = &self.flat[..len];
        let mut at = 0;
        model.visit_params(&mut |p: Param<'_>| {
            p.value.copy_from_slice(&w[at..at + p.value.len()]);
            at += p.value.len();
        });

        let mut rows = vec![0.0f64; self.size];
        rows[self.rank] = n as f64;
        self.sync.sum_f64(&mut rows)?;
        let rows: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
        self.rows = rows.clone();
        match self.layout {
            DataLayout::Replicated => {
                if let Some(r) = rows.iter().position(|&r| r != rows[0]) {
                    return Err(Error::Config(format!(
                        "rank {r} holds {} training rows and rank 0 holds {}: DataLayout::Replicated needs the same data on every rank (use DataLayout::Sharded for parts)",
                        rows[r], rows[0]
                    )));
                }
                let bs = batch_size.min(n);
                self.batch_size = bs;
                Ok((bs, n.div_ceil(bs)))
            }
            DataLayout::Sharded => {
                let total: usize = rows.iter().sum();
                let bs = batch_size.min(total);
                if bs < self.size {
                    return Err(Error::Config(format!(
                        "a batch of {bs} rows cannot be split across {} ranks holding parts of the data; use a batch of at least {} rows",
                        self.size, self.size
                    )));
                }
                let share = |r: usize| split_rows(bs, r, self.size).len();
                self.batch_size = bs;
                self.local_batch = share(self.rank);
                let steps = (0..self.size)
                    .map(|r| rows[r].div_ceil(share(r)))
                    .max()
                    .unwrap_or(0);
                Ok((bs, steps))
            }
        }
    }

    /// The most rows this rank takes in one step.
    pub(crate) fn max_rows(&self, batch_size: usize) -> usize {
        match self.layout {
            DataLayout::Replicated => batch_size.div_ceil(self.size),
            DataLayout::Sharded => self.local_batch,
        }
    }

    /// This rank's rows of step `b` (0-based) from the epoch's `order`
    /// (global for replicated data, local for sharded data); may be empty.
    pub(crate) fn rows<'o>(&self, order: &'o [usize], b: usize, batch_size: usize) -> &'o [usize] {
        let n = order.len();
        match self.layout {
            DataLayout::Replicated => {
                let global = &order[(b * batch_size).min(n)..((b + 1) * batch_size).min(n)];
                &global[split_rows(global.len(), self.rank, self.size)]
            }
            DataLayout::Sharded => {
                let lb = self.local_batch;
                &order[(b * lb).min(n)..((b + 1) * lb).min(n)]
            }
        }
    }

    /// The rows of step `b` (0-based) over all ranks: the sum of what
    /// [`Dist::rows`] gives each rank, known to all without asking.
    fn global_rows(&self, b: usize) -> usize {
        let take = |n: usize, per: usize| ((b + 1) * per).min(n) - (b * per).min(n);
        match self.layout {
            DataLayout::Replicated => {
                take(self.rows.first().copied().unwrap_or(0), self.batch_size)
            }
            DataLayout::Sharded => (0..self.size)
                .map(|r| {
                    take(
                        self.rows[r],
                        split_rows(self.batch_size, r, self.size).len(),
                    )
                })
                .sum(),
        }
    }

    /// The positions of the flat parameter vector whose update is this
    /// rank's: its block, without the padding.
    fn own(&self) -> std::ops::Range<usize> {
        let block = self.part.len();
        let lo = (self.rank * block).min(self.n_grad);
        lo..(lo + block).min(self.n_grad)
    }

    /// One distributed step on this rank's rows `(x, y)` (possibly none):
    /// forward and backward here; the row-weighted gradient reduce-scattered,
    /// so that each rank holds the sum over all ranks of its block; the
    /// global gradient norm from every rank's share; this rank's share of
    /// the optimizer update; the updated parameters all-gathered. Returns
    /// the global batch's mean loss.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &mut self,
        model: &mut dyn Model,
        cfg: &TrainConfig,
        opt: &mut crate::OptimizerState,
        grad: &mut [f32],
        sums: &mut [(f64, usize)],
        x: ArrayViewD<'_, f32>,
        y: ArrayViewD<'_, f32>,
        (epoch, batch): (usize, usize),
    ) -> Result<f32> {
        let _ftz = crate::train::FlushDenormals::new();
        let m = x.shape().first().copied().unwrap_or(0);
        let local = if m == 0 {
            Ok(0.0)
        } else {
            crate::train::forward_backward(model, cfg, grad, sums, x, y, (epoch, batch))
        };
        let own = self.own();
        // Known on every rank before any sum, so each can scale its block
        // (1 / total, as one process's mean) before the norm is taken.
        let total = self.global_rows(batch.saturating_sub(1));
        let pre = if total > 0 { 1.0 / total as f32 } else { 1.0 };
        self.tail.fill(0.0);
        self.tail[0] = m as f64;
        let (grads, padding) = self.flat.split_at_mut(self.n_grad);
        padding.fill(0.0);
        match &local {
            Ok(loss) if m > 0 => {
                // The loss is a mean over this rank's rows: weight it by them.
                let w = m as f32;
                let mut at = 0;
                model.visit_params(&mut |p: Param<'_>| {
                    let dst = &mut grads[at..at + p.value.len()];
                    if p.grad.len() == dst.len() {
                        for (d, &g) in dst.iter_mut().zip(p.grad) {
                            *d = g * w;
                        }
                    } else {
                        dst.fill(0.0);
                    }
                    at += p.value.len();
                });
                self.tail[1] = f64::from(*loss) * m as f64;
            }
            Ok(_) => grads.fill(0.0),
            Err(_) => {
                grads.fill(0.0);
                self.tail[3 + self.rank] = 1.0;
            }
        }
        self.sync
            .reduce_scatter_f32(&mut self.flat, &mut self.part)?;
        let mine = &self.part[..own.len()];
        self.tail[2] = opt.sum_sq_range(model, own.clone(), mine, pre);
        // One small sum for rows, loss, norm and failures: a rank that
        // failed took part in every collective so far and stops here with
        // all the others.
        self.sync.sum_f64(&mut self.tail)?;
        let loss = local?;
        if self.tail[3..].iter().any(|&f| f > 0.0) {
            self.peer_failed(
                self.tail[3..].iter().map(|&f| f > 0.0),
                &format!("epoch {epoch}, batch {batch}"),
            )?;
        }
        if self.tail[0] != total as f64 {
            return Err(Error::Config(format!(
                "the ranks took {} rows in epoch {epoch}, batch {batch}, where {total} were expected",
                self.tail[0]
            )));
        }
        let global_loss = if total > 0 {
            (self.tail[1] / total as f64) as f32
        } else {
            loss
        };
        let norm = self.tail[2].sqrt() as f32;
        if !norm.is_finite() {
            // Every rank has the same norm, so all stop here together.
            return Err(Error::NonFinite {
                what: "gradient norm",
                value: norm,
                epoch,
                batch,
            });
        }
        opt.step_range(model, own.clone(), &self.part[..own.len()], pre, norm);
        copy_params(model, own.clone(), &mut self.part, false);
        self.part[own.len()..].fill(0.0);
        self.sync.all_gather_f32(&self.part, &mut self.flat)?;
        let flat = &mut self.flat[..self.n_grad];
        copy_params(model, 0..own.start, &mut flat[..own.start], true);
        copy_params(model, own.end..self.n_grad, &mut flat[own.end..], true);
        Ok(global_loss)
    }

    /// `state` with its optimizer state gathered from every rank's share,
    /// so that each vector covers its whole parameter, as one process's
    /// would: what a checkpoint must hold. Collective: every rank calls it.
    pub(crate) fn gathered(
        &mut self,
        model: &mut dyn Model,
        state: &TrainState,
    ) -> Result<TrainState> {
        let mut whole = state.clone();
        let own = self.own();
        for k in 0..state.optimizer.optimizer().slot_names().len() {
            state
                .optimizer
                .export_range(model, own.clone(), k, &mut self.part[..own.len()]);
            self.part[own.len()..].fill(0.0);
            self.sync.all_gather_f32(&self.part, &mut self.flat)?;
            whole
                .optimizer
                .import_whole(model, k, &self.flat[..self.n_grad]);
        }
        Ok(whole)
    }

    /// Sums the epoch's `(sum, count)` pairs over the ranks, in place.
    pub(crate) fn reduce_sums(&mut self, sums: &mut [(f64, usize)]) -> Result<()> {
        self.sums.clear();
        for &(s, c) in sums.iter() {
            self.sums.push(s);
            self.sums.push(c as f64);
        }
        self.sync.sum_f64(&mut self.sums)?;
        for (k, pair) in sums.iter_mut().enumerate() {
            *pair = (self.sums[2 * k], self.sums[2 * k + 1] as usize);
        }
        Ok(())
    }

    /// The validation row of the epoch: the evaluation as it is for
    /// replicated data (every rank scored the same rows), else averaged over
    /// the ranks' parts by row count.
    pub(crate) fn evaluation(
        &mut self,
        model: &mut dyn Model,
        cfg: &TrainConfig,
        metrics: &[Metric],
        val: &Dataset,
        epoch: usize,
    ) -> Result<Evaluation> {
        let e = crate::train::evaluate(model, cfg.loss, metrics, val, cfg.batch_size);
        let e = self.agree(e, &format!("validation after epoch {epoch}"))?;
        if self.layout == DataLayout::Replicated {
            return Ok(e);
        }
        let n = val.len() as f64;
        let mut v = Vec::with_capacity(e.metrics.len() + 2);
        v.push(n);
        v.push(e.loss as f64 * n);
        v.extend(e.metrics.iter().map(|(_, m)| *m as f64 * n));
        self.sync.sum_f64(&mut v)?;
        let total = v[0].max(1.0);
        Ok(Evaluation {
            loss: (v[1] / total) as f32,
            metrics: e
                .metrics
                .iter()
                .zip(&v[2..])
                .map(|((name, _), s)| (name.clone(), (s / total) as f32))
                .collect(),
        })
    }
}

/// Copies the positions `range` of the flat parameter vector between the
/// model's parameters and `buf` (`range.len()` long): into the model when
/// `into_model`, else out of it.
fn copy_params(
    model: &mut dyn Model,
    range: std::ops::Range<usize>,
    buf: &mut [f32],
    into_model: bool,
) {
    let mut at = 0usize;
    model.visit_params(&mut |p: Param<'_>| {
        let len = p.value.len();
        let (lo, hi) = (range.start.max(at), range.end.min(at + len));
        if lo < hi {
            let (w, b) = (
                &mut p.value[lo - at..hi - at],
                &mut buf[lo - range.start..hi - range.start],
            );
            if into_model {
                w.copy_from_slice(b);
            } else {
                b.copy_from_slice(w);
            }
        }
        at += len;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequential::Sequential;
    use crate::{Activation, Loss, Optimizer};
    use ndarray::{Array1, Array2};
    use std::sync::{Arc, Barrier, Mutex};

    /// Ranks as threads: each deposits its buffer, then every rank adds the
    /// deposits in rank order, so all get the same bits.
    struct Threads {
        rank: usize,
        size: usize,
        slots: Arc<Mutex<Vec<Vec<f64>>>>,
        barrier: Arc<Barrier>,
    }

    impl Threads {
        fn group(size: usize) -> Vec<Threads> {
            let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
            let barrier = Arc::new(Barrier::new(size));
            (0..size)
                .map(|rank| Threads {
                    rank,
                    size,
                    slots: slots.clone(),
                    barrier: barrier.clone(),
                })
                .collect()
        }

        fn exchange(&mut self, mine: Vec<f64>) -> Vec<Vec<f64>> {
            self.slots.lock().unwrap()[self.rank] = mine;
            self.barrier.wait();
            let all = self.slots.lock().unwrap().clone();
            self.barrier.wait();
            all
        }
    }

    impl GradientSync for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn sum_f32(&mut self, buf: &mut [f32]) -> Result<()> {
            let all = self.exchange(buf.iter().map(|&v| v as f64).collect());
            for (k, v) in buf.iter_mut().enumerate() {
                // From -0.0, the identity of addition, as an MPI sum does.
                *v = all.iter().fold(-0.0f32, |acc, r| acc + r[k] as f32);
            }
            Ok(())
        }
        fn sum_f64(&mut self, buf: &mut [f64]) -> Result<()> {
            let all = self.exchange(buf.to_vec());
            for (k, v) in buf.iter_mut().enumerate() {
                *v = all.iter().fold(0.0, |acc, r| acc + r[k]);
            }
            Ok(())
        }
        fn broadcast_f32(&mut self, buf: &mut [f32]) -> Result<()> {
            let all = self.exchange(buf.iter().map(|&v| v as f64).collect());
            for (v, &w) in buf.iter_mut().zip(&all[0]) {
                *v = w as f32;
            }
            Ok(())
        }
    }

    fn data(n: usize) -> Dataset {
        let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
        // A learnable rule of the features.
        let y = Array1::from_shape_fn(n, |i| match (x[[i, 0]] > 0.3, x[[i, 1]] > 0.0) {
            (true, _) => 0.0,
            (false, true) => 1.0,
            (false, false) => 2.0,
        });
        Dataset::new(x.into_dyn(), y.into_dyn()).unwrap()
    }

    fn model(seed: u64) -> Sequential {
        Sequential::builder(&[3])
            .dense(8, Activation::Tanh)
            .dense(3, Activation::Softmax)
            .build(seed)
            .unwrap()
    }

    fn cfg(batch_size: usize) -> TrainConfig {
        TrainConfig {
            loss: Loss::SparseCategoricalCrossentropy { from_logits: false },
            optimizer: Optimizer::sgd(0.3),
            batch_size,
            epochs: 3,
            metrics: vec![Metric::Accuracy],
            verbose: crate::train::Verbosity::Silent,
            ..TrainConfig::default()
        }
    }

    fn params(m: &mut dyn Model) -> Vec<f32> {
        let mut v = Vec::new();
        m.visit_params(&mut |p: Param<'_>| v.extend_from_slice(p.value));
        v
    }

    /// Runs `f(rank, sync)` on `size` threads and collects the results by rank.
    fn on_ranks<T: Send>(size: usize, f: impl Fn(usize, &mut Threads) -> T + Sync) -> Vec<T> {
        let group = Threads::group(size);
        std::thread::scope(|s| {
            let handles: Vec<_> = group
                .into_iter()
                .map(|mut t| {
                    let f = &f;
                    s.spawn(move || f(t.rank, &mut t))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn replicated_ranks_match_one_process() {
        // 301 rows in batches of 75: a batch that 2 and 3 ranks split
        // unevenly, and a last batch of one row that leaves ranks empty.
        let d = data(301);
        for size in [2, 3] {
            let c = cfg(75);
            let mut single = model(1);
            let h1 = crate::fit(&mut single, &c, &d).unwrap();
            let want = params(&mut single);
            let runs = on_ranks(size, |rank, sync| {
                // Rank 0's initial weights must win: start the others elsewhere.
                let mut m = model(1 + rank as u64 * 10);
                let h = fit_distributed(&mut m, &c, &d, DataLayout::Replicated, sync).unwrap();
                (params(&mut m), h)
            });
            for (rank, (got, h)) in runs.iter().enumerate() {
                assert_eq!(got, &runs[0].0, "rank {rank} of {size} drifted");
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-5, "{size} ranks: off by {worst}");
                for (a, b) in h.rows.iter().flatten().zip(h1.rows.iter().flatten()) {
                    assert!((a - b).abs() < 1e-5, "{h:?} vs {h1:?}");
                }
            }
        }
    }

    #[test]
    fn sharded_ranks_agree_and_learn() {
        let d = data(300);
        let c = TrainConfig {
            epochs: 20,
            validation_split: 0.2,
            ..cfg(32)
        };
        let runs = on_ranks(2, |rank, sync| {
            let part = d.slice(split_rows(d.len(), rank, 2));
            let mut m = model(2);
            let h = fit_distributed(&mut m, &c, &part, DataLayout::Sharded, sync).unwrap();
            (params(&mut m), h)
        });
        assert_eq!(runs[0].0, runs[1].0);
        assert_eq!(runs[0].1.rows, runs[1].1.rows);
        let loss = runs[0].1.get("loss").unwrap();
        assert!(loss[19] < loss[0] * 0.8, "{loss:?}");
    }

    #[test]
    fn a_failing_rank_stops_the_others() {
        let d = data(100);
        let results = on_ranks(2, |rank, sync| {
            let mut mine = d.clone();
            if rank == 1 {
                mine.y[[60]] = 9.0; // not a class: rank 1 fails in its first epoch
            }
            let mut m = model(3);
            fit_distributed(&mut m, &cfg(20), &mine, DataLayout::Sharded, sync).unwrap_err()
        });
        assert!(
            matches!(
                results[0],
                Error::PeerFailed {
                    rank: 1,
                    size: 2,
                    ..
                }
            ),
            "{}",
            results[0]
        );
        assert!(matches!(results[1], Error::Label { .. }), "{}", results[1]);
        // Replicated data of different sizes is refused on every rank.
        let errors = on_ranks(2, |rank, sync| {
            let mine = d.slice(0..100 - rank);
            fit_distributed(&mut model(0), &cfg(20), &mine, DataLayout::Replicated, sync)
                .unwrap_err()
                .to_string()
        });
        assert!(
            errors.iter().all(|e| e.contains("DataLayout::Replicated")),
            "{errors:?}"
        );
    }

    /// The ranks of these tests cut parameters between them (the update of
    /// a parameter is split), so the tests below cover that case.
    fn cuts_a_parameter(m: &mut dyn Model, size: usize) -> bool {
        let mut lens = Vec::new();
        m.visit_params(&mut |p: Param<'_>| lens.push(p.value.len()));
        let block = lens.iter().sum::<usize>().div_ceil(size);
        let mut at = 0;
        lens.iter().any(|&len| {
            let inside = (1..size).any(|r| r * block > at && r * block < at + len);
            at += len;
            inside
        })
    }

    /// Each rank updates only its block of the parameters, yet 2 and 3 ranks
    /// end where one process does: Adam; SGD with momentum, clipping and L2
    /// penalties; AdamW (decay) with a frozen layer.
    #[test]
    fn the_sharded_update_is_the_whole_update() {
        let d = data(301);
        let l2_model = |seed: u64| {
            Sequential::builder(&[3])
                .dense(8, Activation::Tanh)
                .regularize(1e-3, 1e-2)
                .dense(3, Activation::Softmax)
                .regularize(0.0, 1e-2)
                .build(seed)
                .unwrap()
        };
        let adam = TrainConfig {
            optimizer: Optimizer::adam(0.02),
            ..cfg(75)
        };
        let clipped = TrainConfig {
            optimizer: Optimizer::momentum(0.3, 0.9, true),
            clip_norm: Some(0.05),
            ..cfg(75)
        };
        let frozen = TrainConfig {
            optimizer: Optimizer::adamw(0.02, 0.05),
            frozen: vec!["dense2".into()],
            ..cfg(75)
        };
        // The clipping bound is below the gradient norm, so it acts.
        let mut with = l2_model(5);
        let mut without = l2_model(5);
        crate::fit(&mut with, &clipped, &d).unwrap();
        let unclipped = TrainConfig {
            clip_norm: None,
            ..clipped.clone()
        };
        crate::fit(&mut without, &unclipped, &d).unwrap();
        assert_ne!(params(&mut with), params(&mut without));

        for (name, c, l2) in [
            ("adam", &adam, false),
            ("sgd, clip, l2", &clipped, true),
            ("adamw, frozen", &frozen, false),
        ] {
            let build = |seed| if l2 { l2_model(seed) } else { model(seed) };
            let mut single = build(5);
            crate::fit(&mut single, c, &d).unwrap();
            let want = params(&mut single);
            for size in [2, 3] {
                assert!(cuts_a_parameter(&mut build(5), size));
                let runs = on_ranks(size, |rank, sync| {
                    let mut m = build(5 + rank as u64);
                    fit_distributed(&mut m, c, &d, DataLayout::Replicated, sync).unwrap();
                    params(&mut m)
                });
                for (rank, got) in runs.iter().enumerate() {
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(got), bits(&runs[0]), "{name}: rank {rank} of {size}");
                    let worst = got
                        .iter()
                        .zip(&want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    assert!(worst < 1e-5, "{name}, {size} ranks: off by {worst}");
                }
            }
            if name.contains("frozen") {
                let mut start = build(5);
                let (mut before, mut after) = (Vec::new(), Vec::new());
                start.visit_params(&mut |p: Param<'_>| {
                    if p.name.starts_with("dense2") {
                        before.extend_from_slice(p.value)
                    }
                });
                single.visit_params(&mut |p: Param<'_>| {
                    if p.name.starts_with("dense2") {
                        after.extend_from_slice(p.value)
                    }
                });
                assert_eq!(before, after, "the frozen layer moved");
            }
        }
    }

    /// The optimizer state a 2- or 3-rank run writes into a checkpoint is
    /// whole (each rank held only its block) and equals one process's.
    #[test]
    fn checkpoints_hold_the_whole_optimizer_state() {
        let dir = std::env::temp_dir().join(format!("nnc-dist-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = data(200);
        let with_ckpt = |name: &str| TrainConfig {
            epochs: 2,
            optimizer: Optimizer::adam(0.01),
            checkpoint: Some(crate::train::Checkpointing {
                path: dir.join(name),
                every: 1,
                save_best_only: false,
                monitor: "loss".into(),
            }),
            ..cfg(30)
        };
        let state = |name: &str, c: &TrainConfig| {
            let s = crate::io::load_checkpoint(dir.join(name), &mut model(0), c).unwrap();
            let mut v: Vec<(usize, String, Vec<f32>)> = s
                .optimizer
                .state()
                .into_iter()
                .map(|(i, n, v)| (i, n.to_string(), v.to_vec()))
                .collect();
            v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            (s.optimizer.iterations(), v)
        };
        let one = with_ckpt("one.safetensors");
        crate::fit(&mut model(6), &one, &d).unwrap();
        let (iterations, want) = state("one.safetensors", &one);
        // m and v of 4 parameters.
        assert_eq!(want.len(), 8);
        for size in [2, 3] {
            let name = format!("ranks{size}.safetensors");
            let c = with_ckpt(&name);
            on_ranks(size, |_, sync| {
                fit_distributed(&mut model(6), &c, &d, DataLayout::Replicated, sync).unwrap();
            });
            let (its, got) = state(&name, &c);
            assert_eq!(its, iterations);
            assert_eq!(got.len(), want.len(), "{size} ranks");
            for ((i, n, a), (_, _, b)) in got.iter().zip(&want) {
                assert_eq!(a.len(), b.len(), "{size} ranks: {i} {n}");
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() <= 1e-6 + 1e-4 * y.abs(),
                        "{size} ranks, param {i} {n}: {x} vs {y}"
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A checkpoint written during a 2-rank run resumes on 3 ranks and ends
    /// where an uninterrupted single process does.
    #[test]
    fn checkpoints_resume_on_another_number_of_ranks() {
        let dir = std::env::temp_dir().join(format!("nnc-dist-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.safetensors");
        let d = data(200);
        let full = TrainConfig {
            epochs: 4,
            validation_split: 0.2,
            optimizer: Optimizer::adam(0.01),
            ..cfg(30)
        };
        let mut single = model(4);
        let want_h = crate::fit(&mut single, &full, &d).unwrap();
        let want = params(&mut single);

        let half = TrainConfig {
            epochs: 2,
            checkpoint: Some(crate::train::Checkpointing {
                path: path.clone(),
                every: 1,
                save_best_only: false,
                monitor: "val_loss".into(),
            }),
            ..full.clone()
        };
        on_ranks(2, |_, sync| {
            let mut m = model(4);
            fit_distributed(&mut m, &half, &d, DataLayout::Replicated, sync).unwrap();
        });
        let (tr, va) = d.validation_split(0.2).unwrap();
        let runs = on_ranks(3, |_, sync| {
            let mut m = model(9);
            let state = crate::io::load_checkpoint(&path, &mut m, &full).unwrap();
            let h = resume_distributed(
                &mut m,
                &full,
                &tr,
                Some(&va),
                state,
                DataLayout::Replicated,
                sync,
            )
            .unwrap();
            (params(&mut m), h)
        });
        let _ = std::fs::remove_dir_all(&dir);
        for (got, h) in &runs {
            assert_eq!(h.epochs, [1, 2, 3, 4]);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            for (a, b) in h.rows.iter().flatten().zip(want_h.rows.iter().flatten()) {
                assert!((a - b).abs() < 1e-5, "{h:?} vs {want_h:?}");
            }
        }
    }
}
