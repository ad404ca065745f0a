//! A second core for the heavy kernels, that is never waited for when it is
//! not running: one helper thread that takes parts of a large matrix product
//! (blocks of whole row tiles or column panels of `c`, see `kernels::gemm`)
//! or of an optimizer update, with no allocation per job.
//!
//! # Why not rayon
//! `rayon::join` from a thread outside its pool pushes the job through an
//! injector queue that allocates a block every few dozen jobs, which breaks
//! the guarantee that a training step allocates nothing. This pool is one
//! parked thread and a slot.
//!
//! # Parts claimed, not assigned
//! A job is cut into a few parts (at most [`MAX_PARTS`]). The caller
//! publishes it and claims parts from the front, the helper from the back,
//! both through one atomic word, so whoever is running takes the next part.
//! When the caller runs out of unclaimed parts it waits only for parts the
//! helper has *started*; a helper that is not running (another process has
//! its core) leaves its parts to the caller, which then does the job alone
//! at the cost of a few atomic operations. Splitting a product into two
//! fixed halves instead made the caller wait for a helper without a core
//! (BENCHMARKS.md, section 5: with the other core busy, the MNIST example
//! took 5.3× as long with the helper as without, a W1 step 3-8×).
//!
//! # Measured progress, not assumed
//! After each job the caller looks at what the helper did. A helper that
//! was spinning for the job, or was unparked more than [`WAKE_LATE`] ago
//! and has still not run, but took no part, twice in a row (it had no
//! core; one parked, or unparked a moment ago, was only late: counting
//! those as misses kept an idle machine's helper out of most jobs, and W1
//! at batch 64 ran 12% slower on two threads than on one), or whose started part held
//! the caller up for longer than both [`STALL`] and the caller's own work,
//! is not offered jobs for a while (doubling from 100 µs up to 50 ms, and at
//! least 4 times the wait it caused), after which one job probes it again.
//!
//! # Waiting without competing
//! A spinning helper takes its core from whoever else wants it, and with
//! Linux's per-session group scheduling that can be its own caller. So the
//! helper spins for the next job for at most [`SPIN`] (a training step
//! issues its jobs back to back), parks at once if it notices that it was
//! preempted while spinning, and does not spin at all for [`QUIET`] after
//! a job it was awake for but did not help with (it spun without a core);
//! the caller then unparks it for each job. The caller spins at most
//! [`WAIT_SPIN`] for a part the helper started, then parks until the helper
//! unparks it.
//!
//! Each output element is computed by exactly one thread, by the same code
//! as without the helper, so the results are bit-identical whoever computes
//! which part.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Most parts a job is cut into: enough that the caller can take back most
/// of a job the helper does not start, few enough that each part is large.
pub(crate) const MAX_PARTS: usize = 8;

/// Longest time the helper spins for the next job before parking.
const SPIN: Duration = Duration::from_micros(200);
/// A gap this long between two looks at the clock while spinning means the
/// spinner was preempted: its core is wanted by another thread.
const PREEMPTED: Duration = Duration::from_micros(50);
/// How long the caller spins for a part the helper has started.
const WAIT_SPIN: Duration = Duration::from_micros(30);
/// A wait this long for the helper's parts (and longer than the caller's
/// own work) means the helper was preempted in a part.
const STALL: Duration = Duration::from_micros(200);
/// A helper unparked this long ago that has still not started running has
/// no core (another thread has it); a shorter delay is only a slow wake-up
/// (tens of microseconds on a VM).
const WAKE_LATE: Duration = Duration::from_micros(500);
/// How long the helper does not spin after a job it did not help with.
const QUIET: Duration = Duration::from_millis(10);
/// First time the helper is left out after jobs it did not help with.
const BACKOFF: Duration = Duration::from_micros(100);
/// Longest time the helper is left out before it is offered a job again.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Working memory of one thread's parts (the gemm's packing buffers).
pub(crate) type Scratch = (Vec<f32>, Vec<f32>);

/// One part of a job, called with the part's index and the scratch of the
/// thread that runs it.
type Job = dyn Fn(usize, &mut Scratch) + Sync;

/// State only the helper reads and only an idle helper's caller writes.
struct Posted {
    /// The job, type-erased; its caller keeps it alive until it returns.
    job: Option<*const Job>,
    /// The helper's scratch, which the helper grows to `need` (once per
    /// size: on its own thread, so a caller's step never allocates for it).
    scratch: Scratch,
    /// The scratch lengths the posted job's parts use.
    need: (usize, usize),
}

/// [`Posted`], shared.
struct Slot(UnsafeCell<Posted>);

// SAFETY: the caller writes the slot only while the helper cannot claim a
// part (before the job's ticket is published, see `Share::for_each`), and
// the helper reads it only while it holds a claimed part, which the caller
// waits for before it returns.
unsafe impl Sync for Slot {}

/// The helper and the state both sides share.
pub(crate) struct Pool {
    slot: Slot,
    /// `ticket << 32 | front << 16 | back`: parts `front..back` of job
    /// `ticket` are unclaimed. The caller claims at the front, the helper
    /// at the back.
    claims: AtomicU64,
    /// Parts of the current job the helper has finished.
    helper_done: AtomicU32,
    /// Whether a part panicked on the helper.
    panicked: AtomicBool,
    /// The helper is parked (or about to park) and must be unparked.
    sleeping: AtomicBool,
    /// The helper is running its spin loop, waiting for a job. Unlike
    /// `!sleeping`, this is false while an unparked helper has not run yet,
    /// so a helper that misses a job it was spinning for had no core, while
    /// one that was still waking up was only late.
    spinning: AtomicBool,
    /// How long the helper spins for the next job, in nanoseconds (set by
    /// the caller from the helper's progress).
    spin_ns: AtomicU32,
    /// The caller is parked (or about to park), waiting for the helper.
    waiting: AtomicBool,
    /// The parked caller, to unpark.
    waiter: Mutex<Option<Thread>>,
    /// The caller's floating-point control word (x86-64 MXCSR), which the
    /// helper adopts for the job: a training step flushes subnormals
    /// (`train.rs`), and the helper's parts must round the same way.
    fp_mode: AtomicU32,
    /// Held by the one caller whose job is posted; what the helper did lately.
    progress: Mutex<Progress>,
    helper: OnceLock<Thread>,
    /// Test hook: the helper sleeps this many microseconds before claiming.
    #[cfg(test)]
    helper_delay_us: AtomicU64,
    /// Test hook: the caller claims nothing and waits for the helper.
    #[cfg(test)]
    caller_idle: AtomicBool,
}

/// What the caller learnt from the last jobs.
#[derive(Default)]
struct Progress {
    ticket: u32,
    /// Jobs in a row the helper did not help with.
    misses: u32,
    /// Jobs run on the caller alone until then.
    solo_until: Option<Instant>,
    /// When the caller last unparked the helper.
    unparked_at: Option<Instant>,
    /// How long the helper should spin for the next job.
    spin: Duration,
    /// The helper does not spin until then.
    quiet_until: Option<Instant>,
}

/// The pool, if this process may use a second thread: more than one CPU is
/// available to it (`taskset` and cgroup limits count) and `NNC_NUM_THREADS`
/// is not `1`.
pub(crate) fn pool() -> Option<&'static Pool> {
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
        Pool::start()
    })
}

thread_local! {
    /// Set by [`serially`]: this thread gets no pool.
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as if `NNC_NUM_THREADS=1` on this thread: for work too small
/// to gain from the helper (one sample through `predict_one`, where waking
/// it cost more than it saved: W7 took 59 µs with it, 44 µs without), and
/// for tests that compare one and two threads in one process.
pub(crate) fn serially<R>(f: impl FnOnce() -> R) -> R {
    let before = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(before));
    r
}

impl Pool {
    /// A new pool and its helper thread, which lives as long as the process.
    fn start() -> Option<&'static Pool> {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            slot: Slot(UnsafeCell::new(Posted {
                job: None,
                scratch: (Vec::new(), Vec::new()),
                need: (0, 0),
            })),
            claims: AtomicU64::new(0),
            helper_done: AtomicU32::new(0),
            panicked: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            spinning: AtomicBool::new(false),
            spin_ns: AtomicU32::new(SPIN.as_nanos() as u32),
            waiting: AtomicBool::new(false),
            waiter: Mutex::new(None),
            fp_mode: AtomicU32::new(fp_mode()),
            progress: Mutex::new(Progress {
                spin: SPIN,
                ..Progress::default()
            }),
            helper: OnceLock::new(),
            #[cfg(test)]
            helper_delay_us: AtomicU64::new(0),
            #[cfg(test)]
            caller_idle: AtomicBool::new(false),
        }));
        let handle = std::thread::Builder::new()
            .name("nnc-helper".into())
            .spawn(move || pool.serve())
            .ok()?;
        pool.helper.set(handle.thread().clone()).ok()?;
        Some(pool)
    }

    /// The helper for the next job, or `None` if the caller should do it
    /// alone: another thread is using the helper, or the helper did not keep
    /// up lately. `need` is the scratch the job's parts use (lengths of the
    /// two buffers); the helper grows its own to it on its thread, so the
    /// calling thread never allocates for the helper.
    pub(crate) fn share(&self, need: (usize, usize)) -> Option<Share<'_>> {
        let mut progress = self.progress.try_lock().ok()?;
        if let Some(until) = progress.solo_until {
            if Instant::now() < until {
                return None;
            }
            progress.solo_until = None;
        }
        Some(Share {
            pool: self,
            progress,
            need,
        })
    }

    /// A pool of its own for a test, whose helper waits `delay_us` before
    /// claiming parts of each job and whose caller, if `caller_idle`, leaves
    /// all parts to the helper.
    #[cfg(test)]
    pub(crate) fn for_tests(delay_us: u64, caller_idle: bool) -> &'static Pool {
        let pool = Pool::start().expect("the test pool's helper thread starts");
        pool.helper_delay_us.store(delay_us, Ordering::Relaxed);
        pool.caller_idle.store(caller_idle, Ordering::Relaxed);
        pool
    }

    /// The helper for the next job even if it did not keep up lately (tests
    /// that must exercise it); waits for another thread using it.
    #[cfg(test)]
    pub(crate) fn share_now(&self, need: (usize, usize)) -> Share<'_> {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.solo_until = None;
        Share {
            pool: self,
            progress,
            need,
        }
    }

    /// Claims the next unclaimed part of job `ticket`: the first one for the
    /// caller, the last one for the helper.
    fn claim(&self, ticket: u32, from_back: bool) -> Option<usize> {
        let mut word = self.claims.load(Ordering::Acquire);
        loop {
            let (t, front, back) = unpack(word);
            if t != ticket || front >= back {
                return None;
            }
            let (new, part) = if from_back {
                (pack(t, front, back - 1), back - 1)
            } else {
                (pack(t, front + 1, back), front)
            };
            match self
                .claims
                .compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(part as usize),
                Err(now) => word = now,
            }
        }
    }

    /// Test hook: whether the caller leaves every part to the helper.
    fn caller_idle(&self) -> bool {
        #[cfg(test)]
        return self.caller_idle.load(Ordering::Relaxed);
        #[cfg(not(test))]
        false
    }

    /// The helper's loop.
    fn serve(&self) {
        let mut seen = 0u32;
        loop {
            let ticket = self.next_ticket(seen);
            seen = ticket;
            #[cfg(test)]
            {
                let us = self.helper_delay_us.load(Ordering::Relaxed);
                if us > 0 {
                    // As if it had seen the job late for want of a core:
                    // still spinning, as far as the caller can tell.
                    self.spinning.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(us));
                    self.spinning.store(false, Ordering::SeqCst);
                }
            }
            while let Some(part) = self.claim(ticket, true) {
                set_fp_mode(self.fp_mode.load(Ordering::Relaxed));
                // SAFETY: holding a claimed part of the current job, nobody
                // writes the slot (see `Slot`).
                let posted = unsafe { &mut *self.slot.0.get() };
                if let Some(job) = posted.job {
                    // Grown here, not by the caller: a caller that found the
                    // pool busy during its warm-up must still not allocate later.
                    grow(&mut posted.scratch, posted.need);
                    // SAFETY: the caller keeps the job alive until this part is done.
                    let job = unsafe { &*job };
                    let run = || job(part, &mut posted.scratch);
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
                        self.panicked.store(true, Ordering::Relaxed);
                    }
                }
                self.helper_done.fetch_add(1, Ordering::SeqCst);
                if self.waiting.load(Ordering::SeqCst) {
                    if let Some(t) = self.waiter.lock().ok().and_then(|w| w.clone()) {
                        t.unpark();
                    }
                }
            }
        }
    }

    /// Waits (spins as long as the caller last said, then parks) for a job
    /// whose ticket is not `seen`.
    fn next_ticket(&self, seen: u32) -> u32 {
        let spin = Duration::from_nanos(self.spin_ns.load(Ordering::Relaxed).into());
        let started = Instant::now();
        let mut last = started;
        let mut spins = 0u32;
        let mut parked = false;
        self.spinning.store(true, Ordering::SeqCst);
        loop {
            let ticket = unpack(self.claims.load(Ordering::Acquire)).0;
            if ticket != seen {
                self.spinning.store(false, Ordering::SeqCst);
                return ticket;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            // Preempted while spinning: another thread wants this core, so
            // stop spinning at once rather than take its time.
            let preempted = now - last > PREEMPTED;
            last = now;
            if !parked && !preempted && now - started < spin {
                continue;
            }
            self.spinning.store(false, Ordering::SeqCst);
            self.sleeping.store(true, Ordering::SeqCst);
            // Re-check after announcing: a caller that posted before
            // seeing `sleeping` is caught here, one after it unparks us.
            if unpack(self.claims.load(Ordering::SeqCst)).0 == seen {
                std::thread::park();
            }
            self.sleeping.store(false, Ordering::SeqCst);
            parked = true;
        }
    }
}

/// The helper, held by one caller for one job.
pub(crate) struct Share<'p> {
    pool: &'p Pool,
    progress: MutexGuard<'p, Progress>,
    /// Scratch each part may use.
    need: (usize, usize),
}

impl Share<'_> {
    /// Runs `f(part, scratch)` for each of `parts` (at most [`MAX_PARTS`];
    /// more panics), on this thread and the helper, and returns when all are
    /// done. Each thread passes its own scratch: the caller `mine`, the
    /// helper its own, each grown (on its own thread, once per size) to the
    /// `need` given to [`Pool::share`] before the parts run.
    ///
    /// # Panics
    /// If a part panics, here or on the helper.
    pub(crate) fn for_each<T: Send>(
        mut self,
        parts: impl IntoIterator<Item = T>,
        mine: &mut Scratch,
        f: impl Fn(T, &mut Scratch) + Sync,
    ) {
        // Each part is taken out of its cell exactly once (the job is a `Fn`).
        let mut cells: [Mutex<Option<T>>; MAX_PARTS] = std::array::from_fn(|_| Mutex::new(None));
        let mut count = 0;
        for part in parts {
            assert!(count < MAX_PARTS, "pool: more than {MAX_PARTS} parts");
            cells[count] = Mutex::new(Some(part));
            count += 1;
        }
        let job = |i: usize, scratch: &mut Scratch| {
            let part = cells[i].lock().ok().and_then(|mut c| c.take());
            if let Some(part) = part {
                f(part, scratch);
            }
        };
        grow(mine, self.need);
        if count < 2 {
            (0..count).for_each(|i| job(i, mine));
            return;
        }
        let pool = self.pool;
        let progress = &mut *self.progress;
        // SAFETY: the helper is between jobs (it finished every part it
        // claimed of the last one, which its caller waited for) and cannot
        // claim a part before the store to `claims` below. The pointer stays
        // valid until `Finish` has seen the helper's parts done.
        unsafe {
            let posted = &mut *pool.slot.0.get();
            let job: *const (dyn Fn(usize, &mut Scratch) + Sync + '_) = &job;
            posted.need = self.need;
            posted.job = Some(std::mem::transmute::<
                *const (dyn Fn(usize, &mut Scratch) + Sync + '_),
                *const Job,
            >(job));
        }
        pool.fp_mode.store(fp_mode(), Ordering::Relaxed);
        pool.helper_done.store(0, Ordering::Relaxed);
        pool.panicked.store(false, Ordering::Relaxed);
        progress.ticket = progress.ticket.wrapping_add(1);
        let ticket = progress.ticket;
        let was_spinning = pool.spinning.load(Ordering::SeqCst);
        pool.claims
            .store(pack(ticket, 0, count as u32), Ordering::SeqCst);
        let was_asleep = pool.sleeping.swap(false, Ordering::SeqCst);
        let now = Instant::now();
        // Neither spinning nor parked: unparked for an earlier job and not
        // running yet. Late, or without a core if that was long ago.
        let coreless = was_spinning
            || (!was_asleep
                && progress
                    .unparked_at
                    .is_some_and(|t| now.saturating_duration_since(t) > WAKE_LATE));
        if was_asleep {
            progress.unparked_at = Some(now);
            if let Some(t) = pool.helper.get() {
                t.unpark();
            }
        }
        // Waits even if a part panics here: the helper's parts borrow from
        // our caller's frame.
        let finish = Finish {
            pool,
            ticket,
            count: count as u32,
        };
        let started = Instant::now();
        let idle = pool.caller_idle();
        if !idle {
            while let Some(part) = pool.claim(ticket, false) {
                job(part, mine);
            }
        }
        let own = started.elapsed();
        let (helper_parts, waited) = finish.wait();
        std::mem::forget(finish);
        if !idle {
            progress.record(helper_parts, coreless, own, waited);
            pool.spin_ns
                .store(progress.spin.as_nanos() as u32, Ordering::Relaxed);
        }
        if pool.panicked.swap(false, Ordering::Relaxed) {
            panic!("pool: a part panicked on the helper thread");
        }
    }
}

impl Progress {
    /// Leaves the helper out for a while if it did not help with the last job.
    fn record(&mut self, helper_parts: u32, coreless: bool, own: Duration, waited: Duration) {
        let stalled = waited > own.max(STALL);
        if helper_parts > 0 && !stalled {
            self.misses = 0;
            // It was running when the job came: spinning for the next pays,
            // unless it lately spun without a core.
            if self.quiet_until.is_none_or(|t| Instant::now() >= t) {
                self.spin = SPIN;
            }
            return;
        }
        if helper_parts == 0 && !coreless {
            // Parked, or unparked a moment ago and not running yet: late,
            // but no sign of another thread on its core.
            return;
        }
        // The helper spun without a core (another thread has it) or was
        // preempted in a part: its spinning takes time from some other
        // thread, perhaps ours, so it parks at once after each job until it
        // helps again, and is left out for a while.
        self.spin = Duration::ZERO;
        self.quiet_until = Some(Instant::now() + QUIET);
        self.misses = (self.misses + 1).min(16);
        if self.misses < 2 && !stalled {
            // Once may be a late wake-up: the next job tells.
            return;
        }
        let doubling = BACKOFF.saturating_mul(1 << self.misses.saturating_sub(2).min(9));
        let pause = doubling.max(waited.saturating_mul(4)).min(MAX_BACKOFF);
        self.solo_until = Some(Instant::now() + pause);
    }
}

/// Closes a posted job and waits for the parts the helper started; also on
/// unwinding, since those parts borrow from the caller's frame.
struct Finish<'p> {
    pool: &'p Pool,
    ticket: u32,
    count: u32,
}

impl Finish<'_> {
    /// Waits, and returns how many parts the helper did and how long the
    /// caller waited for them.
    fn wait(&self) -> (u32, Duration) {
        let pool = self.pool;
        // Claim whatever is left (nothing, unless a part panicked here or a
        // test idles the caller) so the helper starts nothing more.
        let mut word = pool.claims.load(Ordering::Acquire);
        let back = loop {
            let (t, front, back) = unpack(word);
            debug_assert_eq!(t, self.ticket);
            if pool.caller_idle() && front < back {
                // The test wants the helper to do it all: let it.
                std::hint::spin_loop();
                word = pool.claims.load(Ordering::Acquire);
                continue;
            }
            match pool.claims.compare_exchange_weak(
                word,
                pack(t, back, back),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break back,
                Err(now) => word = now,
            }
        };
        let helper_parts = self.count - back;
        let started = Instant::now();
        let done = || pool.helper_done.load(Ordering::Acquire) >= helper_parts;
        let mut spins = 0u32;
        while !done() {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || started.elapsed() < WAIT_SPIN {
                std::hint::spin_loop();
                continue;
            }
            // The helper was preempted in a part: sleep until it is done.
            if let Ok(mut w) = pool.waiter.lock() {
                *w = Some(std::thread::current());
            }
            pool.waiting.store(true, Ordering::SeqCst);
            while pool.helper_done.load(Ordering::SeqCst) < helper_parts {
                std::thread::park();
            }
            pool.waiting.store(false, Ordering::SeqCst);
        }
        (helper_parts, started.elapsed())
    }
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.wait();
    }
}

fn pack(ticket: u32, front: u32, back: u32) -> u64 {
    (ticket as u64) << 32 | (front as u64) << 16 | back as u64
}

fn unpack(word: u64) -> (u32, u32, u32) {
    (
        (word >> 32) as u32,
        (word >> 16) as u32 & 0xffff,
        word as u32 & 0xffff,
    )
}

/// Grows both buffers to at least `need` (never shrinks them).
fn grow(s: &mut Scratch, need: (usize, usize)) {
    if s.0.len() < need.0 {
        s.0.resize(need.0, 0.0);
    }
    if s.1.len() < need.1 {
        s.1.resize(need.1, 0.0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::thread::ThreadId;

    /// Runs `parts` trivial parts and returns the thread that ran each.
    fn who_runs(share: Share<'_>, parts: usize) -> Vec<Option<ThreadId>> {
        let ran: Vec<Mutex<Option<ThreadId>>> = (0..parts).map(|_| Mutex::new(None)).collect();
        share.for_each(0..parts, &mut (Vec::new(), Vec::new()), |i, _| {
            *ran[i].lock().unwrap() = Some(std::thread::current().id());
        });
        ran.into_iter().map(|r| r.into_inner().unwrap()).collect()
    }

    /// With subnormals flushed on the caller (as in a training step), the
    /// helper's parts flush too, so every part computes the same bits.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_helper_adopts_the_callers_float_mode() {
        let pool = Pool::for_tests(0, true);
        let run = || {
            let out = [Mutex::new(1.0f32), Mutex::new(1.0f32)];
            let tiny = std::hint::black_box(1e-30f32);
            pool.share_now((0, 0))
                .for_each(&out, &mut (Vec::new(), Vec::new()), |slot, _| {
                    assert_eq!(std::thread::current().name(), Some("nnc-helper"));
                    *slot.lock().unwrap() = std::hint::black_box(tiny) * 1e-10;
                });
            out.map(|o| o.into_inner().unwrap())
        };
        let saved = fp_mode();
        set_fp_mode(saved | 0x8040);
        let flushed = run();
        set_fp_mode(saved);
        assert_eq!(flushed, [0.0, 0.0], "the helper did not flush");
        // And back: without FTZ the helper keeps the subnormal.
        assert!(run().iter().all(|&v| v > 0.0));
    }

    /// The test hook really hands every part to the helper (so the other
    /// tests that use it test the helper).
    #[test]
    fn an_idle_caller_leaves_every_part_to_the_helper() {
        let pool = Pool::for_tests(0, true);
        let me = std::thread::current().id();
        let ran = who_runs(pool.share_now((0, 0)), 5);
        assert!(ran.iter().all(|t| t.is_some() && *t != Some(me)), "{ran:?}");
    }

    /// A helper that does not run (another process has its core) is not
    /// waited for: the caller takes back every part and returns long before
    /// the helper wakes up.
    #[test]
    fn the_caller_does_everything_when_the_helper_is_absent() {
        let delay = Duration::from_secs(2);
        let pool = Pool::for_tests(delay.as_micros() as u64, false);
        let me = std::thread::current().id();
        let started = Instant::now();
        for parts in [2, 3, MAX_PARTS] {
            let ran = who_runs(pool.share_now((0, 0)), parts);
            assert!(ran.iter().all(|t| *t == Some(me)), "{ran:?}");
        }
        assert!(
            started.elapsed() < delay / 2,
            "the caller waited for the helper"
        );
    }

    /// Measured progress: a helper that does not help is left out (the
    /// caller gets no `Share`), and offered jobs again once it can.
    #[test]
    fn a_helper_that_does_not_help_is_left_out_then_probed_again() {
        let pool = Pool::for_tests(300_000, false);
        // A parked helper is only late, not without a core: wake it with a
        // first job, after which it "spins" through its delay.
        drop(who_runs(pool.share_now((0, 0)), 4));
        let start = Instant::now();
        while !pool.spinning.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut left_out = false;
        for _ in 0..10 {
            match pool.share((0, 0)) {
                Some(share) => drop(who_runs(share, 4)),
                None => {
                    left_out = true;
                    break;
                }
            }
        }
        assert!(
            left_out,
            "the caller kept posting to a helper that never helped"
        );
        pool.helper_delay_us.store(0, Ordering::Relaxed);
        // Let the last delayed wait end, and any back-off expire.
        std::thread::sleep(Duration::from_millis(400) + MAX_BACKOFF);
        let helped = (0..200).any(|_| {
            let Some(share) = pool.share((0, 0)) else {
                std::thread::sleep(MAX_BACKOFF / 10);
                return false;
            };
            let me = std::thread::current().id();
            // Parts long enough for a running helper to claim one.
            let count = AtomicUsize::new(0);
            share.for_each(0..MAX_PARTS, &mut (Vec::new(), Vec::new()), |_, _| {
                std::thread::sleep(Duration::from_micros(200));
                if std::thread::current().id() != me {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
            count.into_inner() > 0
        });
        assert!(helped, "the helper was never offered a job again");
    }

    /// A part that panics on the helper panics the caller, and the pool
    /// still works afterwards.
    #[test]
    fn a_panic_on_the_helper_reaches_the_caller() {
        let pool = Pool::for_tests(0, true);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.share_now((0, 0))
                .for_each(0..2, &mut (Vec::new(), Vec::new()), |i, _| {
                    assert!(i != 1, "part 1 fails");
                });
        }));
        assert!(result.is_err());
        let ran = who_runs(pool.share_now((0, 0)), 2);
        assert!(ran.iter().all(Option::is_some));
    }

    /// A part that panics on the caller unwinds only after the helper's
    /// started parts are done (they borrow from the caller's frame).
    #[test]
    fn a_panic_on_the_caller_waits_for_the_helpers_parts() {
        let pool = Pool::for_tests(0, false);
        let running = AtomicUsize::new(0);
        for _ in 0..20 {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.share_now((0, 0))
                    .for_each(0..4, &mut (Vec::new(), Vec::new()), |i, _| {
                        running.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(300));
                        running.fetch_sub(1, Ordering::SeqCst);
                        assert!(i != 0, "part 0 fails");
                    });
            }));
            assert!(result.is_err());
            assert_eq!(
                running.load(Ordering::SeqCst),
                0,
                "a helper part outlived the job"
            );
        }
    }
}
