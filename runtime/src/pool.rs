//! A second core for the heavy kernels: one helper thread that takes half
//! of a large matrix product (a block of columns or rows of `c`, see
//! `kernels::gemm`) or of an optimizer update, with no allocation per job.
//!
//! # Why not rayon
//! `rayon::join` from a thread outside its pool pushes the job through an
//! injector queue that allocates a block every few dozen jobs, which breaks
//! the guarantee that a training step allocates nothing. This pool is one
//! parked thread and a slot: the caller publishes the job, does its own half,
//! and waits. The helper spins briefly between jobs (a training step issues
//! them back to back) and then parks, so an idle program costs nothing.
//!
//! Jobs are split so that each output element is computed by exactly one
//! thread, in the same order as without the helper, so the results are
//! bit-identical either way.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper spins for the next job before parking.
const SPIN: Duration = Duration::from_micros(200);

/// A job for the helper: a type-erased call that the caller keeps alive
/// until [`Pool::run`] returns.
struct Slot(UnsafeCell<Option<*const (dyn Fn() + Sync)>>);

// SAFETY: the slot is written by the caller only while the helper is idle
// (before `posted` is bumped) and read by the helper only between that bump
// and its `done` store; `Pool::busy` admits one caller at a time.
unsafe impl Sync for Slot {}

/// The helper and the state both sides share.
pub(crate) struct Pool {
    slot: Slot,
    /// Jobs posted so far.
    posted: AtomicU64,
    /// Jobs finished so far.
    done: AtomicU64,
    /// Whether the last job panicked on the helper.
    panicked: AtomicBool,
    /// The helper is parked (or about to park) and must be unparked.
    sleeping: AtomicBool,
    /// The caller's floating-point control word (x86-64 MXCSR), which the
    /// helper adopts for the job: a training step flushes subnormals
    /// (`train.rs`), and the helper's half must round the same way.
    fp_mode: AtomicU32,
    /// Held by the one caller whose job is in the slot.
    busy: Mutex<()>,
    helper: OnceLock<Thread>,
}

/// The pool, if this process may use a second thread: more than one CPU is
/// available to it (`taskset` and cgroup limits count) and `NNC_NUM_THREADS`
/// is not `1`.
pub(crate) fn pool() -> Option<&'static Pool> {
    #[cfg(test)]
    if SERIAL.with(|s| s.get()) {
        return None;
    }
    static POOL: OnceLock<Option<&'static Pool>> = OnceLock::new();
    *POOL.get_or_init(|| {
        let wanted = std::env::var("NNC_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if wanted.unwrap_or(cpus).min(cpus) < 2 {
            return None;
        }
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            slot: Slot(UnsafeCell::new(None)),
            posted: AtomicU64::new(0),
            done: AtomicU64::new(0),
            panicked: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            fp_mode: AtomicU32::new(fp_mode()),
            busy: Mutex::new(()),
            helper: OnceLock::new(),
        }));
        let handle = std::thread::Builder::new()
            .name("nnc-gemm".into())
            .spawn(move || pool.serve())
            .ok()?;
        pool.helper.set(handle.thread().clone()).ok()?;
        Some(pool)
    })
}

#[cfg(test)]
thread_local! {
    /// Set by [`serially`]: this thread gets no pool.
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as if `NNC_NUM_THREADS=1` on this thread, so tests can compare
/// one and two threads in one process.
#[cfg(test)]
pub(crate) fn serially<R>(f: impl FnOnce() -> R) -> R {
    SERIAL.with(|s| s.set(true));
    let r = f();
    SERIAL.with(|s| s.set(false));
    r
}

impl Pool {
    /// Runs `theirs` on the helper and `mine` here, and returns when both
    /// are done. If another thread is using the helper, runs both here.
    pub(crate) fn run(&self, mine: impl FnOnce(), theirs: &(dyn Fn() + Sync)) {
        let Ok(_guard) = self.busy.try_lock() else {
            mine();
            theirs();
            return;
        };
        // SAFETY: the helper is idle (every posted job is done, see `Wait`),
        // and the pointer stays valid until `Wait` has seen this job finish.
        unsafe {
            *self.slot.0.get() =
                Some(std::mem::transmute::<_, *const (dyn Fn() + Sync + 'static)>(theirs))
        };
        self.fp_mode.store(fp_mode(), Ordering::Relaxed);
        let ticket = self.posted.fetch_add(1, Ordering::SeqCst) + 1;
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = self.helper.get() {
                t.unpark();
            }
        }
        // Waits even if `mine` panics: `theirs` borrows from our caller's frame.
        let wait = Wait { pool: self, ticket };
        mine();
        drop(wait);
        if self.panicked.swap(false, Ordering::Relaxed) {
            panic!("gemm: the helper thread panicked");
        }
    }

    /// `f(mine)` here and `f(theirs)` on the helper, both done on return.
    pub(crate) fn for_both<T: Send>(&self, mine: T, theirs: T, f: impl Fn(T) + Sync) {
        // The helper's part, taken out exactly once (the job is a `Fn`).
        let cell = Mutex::new(Some(theirs));
        let their_half = || {
            let part = cell.lock().ok().and_then(|mut c| c.take());
            if let Some(part) = part {
                f(part);
            }
        };
        self.run(|| f(mine), &their_half);
    }

    /// The helper's loop.
    fn serve(&self) {
        let mut seen = 0u64;
        loop {
            let started = Instant::now();
            let mut spins = 0u32;
            while self.posted.load(Ordering::Acquire) == seen {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) && started.elapsed() > SPIN {
                    self.sleeping.store(true, Ordering::SeqCst);
                    // Re-check after announcing: a caller that posted before
                    // seeing `sleeping` is caught here, one after it unparks us.
                    if self.posted.load(Ordering::SeqCst) == seen {
                        std::thread::park();
                    }
                    self.sleeping.store(false, Ordering::SeqCst);
                } else {
                    std::hint::spin_loop();
                }
            }
            seen += 1;
            // SAFETY: a job was posted and its caller waits for `done`.
            let job = unsafe { (*self.slot.0.get()).take() };
            if let Some(job) = job {
                set_fp_mode(self.fp_mode.load(Ordering::Relaxed));
                // SAFETY: see `run`: the closure outlives this call.
                let job = unsafe { &*job };
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    self.panicked.store(true, Ordering::Relaxed);
                }
            }
            self.done.store(seen, Ordering::Release);
        }
    }
}

/// This thread's floating-point control word (MXCSR on x86-64, else 0).
fn fp_mode() -> u32 {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)]
    // SAFETY: reading MXCSR has no effect.
    unsafe {
        std::arch::x86_64::_mm_getcsr()
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// Makes `mode` (from [`fp_mode`] on another thread) this thread's.
fn set_fp_mode(mode: u32) {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)]
    // SAFETY: a control word read from MXCSR on this machine is valid; it
    // changes only how this thread rounds and flushes.
    unsafe {
        if std::arch::x86_64::_mm_getcsr() != mode {
            std::arch::x86_64::_mm_setcsr(mode);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = mode;
}

/// Waits for the helper to finish job `ticket`.
struct Wait<'p> {
    pool: &'p Pool,
    ticket: u64,
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut spins = 0u32;
        while self.pool.done.load(Ordering::Acquire) < self.ticket {
            spins = spins.wrapping_add(1);
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                // The helper lost its core (a loaded machine): stop burning ours.
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With subnormals flushed on the caller (as in a training step), the
    /// helper's half flushes too, so both halves compute the same bits.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_helper_adopts_the_callers_float_mode() {
        let Some(pool) = pool() else { return };
        let saved = fp_mode();
        set_fp_mode(saved | 0x8040);
        let out = [Mutex::new(1.0f32), Mutex::new(1.0f32)];
        let tiny = std::hint::black_box(1e-30f32);
        pool.for_both(&out[0], &out[1], |slot| {
            *slot.lock().unwrap() = std::hint::black_box(tiny) * 1e-10;
        });
        set_fp_mode(saved);
        assert_eq!(*out[0].lock().unwrap(), 0.0);
        assert_eq!(*out[1].lock().unwrap(), 0.0, "the helper did not flush");
        // And back: without FTZ both halves keep the subnormal.
        pool.for_both(&out[0], &out[1], |slot| {
            *slot.lock().unwrap() = std::hint::black_box(tiny) * 1e-10;
        });
        assert!(*out[1].lock().unwrap() > 0.0);
    }
}
