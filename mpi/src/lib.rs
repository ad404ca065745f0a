//! # nnc-mpi: data-parallel training of nnc networks over MPI
//!
//! Start one process per rank with `mpirun`; every process builds the same
//! network and calls [`Mpi::fit`]. Rank 0's initial weights are broadcast,
//! each global batch is split across the ranks, every rank runs forward and
//! the generated backward on its rows, the gradients are summed with
//! `MPI_Reduce_scatter` so that each rank holds the sum for its share
//! of the parameters, each rank applies the optimizer update to that share
//! only (keeping the optimizer state of that share only), and
//! `MPI_Allgather` gives every rank all the updated parameters. The
//! training loop is nnc's own ([`nnc::dist`] describes the hook); this crate
//! only implements [`GradientSync`] over an MPI communicator.
//!
//! ```no_run
//! nnc::network! {
//!     network Net(x: [4]) -> [3] {
//!         dense(16) relu
//!         dense(3) softmax
//!     }
//!     train Net {
//!         loss      sparse_categorical_crossentropy
//!         optimizer adam(lr = 1e-3)
//!         batch     64
//!         epochs    5
//!     }
//! }
//! # fn data() -> nnc::Dataset {
//! #     // Eight rows of four features and class labels; a real program reads its files.
//! #     let x = nnc::ndarray::Array2::<f32>::zeros((8, 4)).into_dyn();
//! #     let y = nnc::ndarray::Array1::<f32>::zeros(8).into_dyn();
//! #     nnc::Dataset::new(x, y).expect("consistent shapes")
//! # }
//! let mut mpi = nnc_mpi::Mpi::init()?;
//! let mut net = Net::new(0);
//! let history = mpi.fit(&mut net, &Net::train_config(), &data(), nnc_mpi::DataLayout::Replicated)?;
//! if mpi.is_root() {
//!     nnc::io::save_weights("net.safetensors", &mut net)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Run it with `mpirun -np 2 target/release/my-program` (add
//! `--hostfile hosts` to spread the ranks over machines).
//!
//! Failures: an error on one rank reaches the others at the next
//! collective operation, and they return [`nnc::Error::PeerFailed`]; a rank
//! that dies (killed, out of memory) is noticed by `mpirun`, which ends the
//! whole job with a message naming the rank, and a rank that panics aborts
//! the job when its [`Mpi`] is dropped, so no rank hangs. An error only your
//! code on one rank knows about should end in [`Mpi::abort`].

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Threading;
use nnc::train::{TrainConfig, TrainState};
use nnc::{Dataset, Error, History, Model, Result};

pub use mpi;
pub use nnc::dist::{split_rows, DataLayout, GradientSync};

/// An MPI communicator as nnc's [`GradientSync`], with the buffers the
/// collectives need (allocated on first use, reused after).
pub struct Mpi {
    comm: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// The send side of an allreduce: rsmpi has no in-place form, and
    /// mpi-sys does not export `MPI_IN_PLACE` (a macro whose value differs
    /// between MPI libraries: `(void *) 1` in Open MPI, `(void *) -1` in
    /// MPICH), so this copy stays. A training step no longer calls
    /// `sum_f32`, only `sum_f64` on a few values.
    send32: Vec<f32>,
    send64: Vec<f64>,
    /// Every rank's block length, for `MPI_Reduce_scatter`.
    counts: Vec<i32>,
    /// Declared last: dropping it finalizes MPI, after the communicator.
    _universe: Option<Universe>,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Mpi {
    /// Initialises MPI and uses its world communicator. MPI is finalised
    /// when the returned value is dropped. nnc's compute threads never call
    /// MPI, so the `funneled` threading level is asked for.
    ///
    /// # Errors
    /// [`Error::Config`] if MPI was already initialised in this process
    /// (use [`Mpi::with_communicator`] then).
    pub fn init() -> Result<Mpi> {
        let (universe, _) =
            mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
                Error::Config(
                    "MPI is already initialised in this process; use Mpi::with_communicator".into(),
                )
            })?;
        let mut mpi = Mpi::with_communicator(universe.world());
        mpi._universe = Some(universe);
        Ok(mpi)
    }

    /// Trains over `comm` (e.g. a sub-communicator), with MPI initialised
    /// and finalised by the caller.
    pub fn with_communicator(comm: SimpleCommunicator) -> Mpi {
        Mpi {
            rank: comm.rank() as usize,
            size: comm.size() as usize,
            comm,
            send32: Vec::new(),
            send64: Vec::new(),
            counts: Vec::new(),
            _universe: None,
        }
    }

    /// This process's rank, `0..size`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the one that should print and write files.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Ends every rank of the job (`MPI_Abort`): for an error that only
    /// this rank has and that the others would otherwise wait on forever.
    /// Returning from `main` with an error instead finalises MPI, which
    /// waits for every rank.
    pub fn abort(&self, code: i32) -> ! {
        self.comm.abort(code)
    }

    /// The communicator, for the caller's own collectives.
    pub fn communicator(&self) -> &SimpleCommunicator {
        &self.comm
    }

    /// [`nnc::fit`] as one rank of a data-parallel run over this
    /// communicator: see [`nnc::dist::fit_distributed`]. Every rank calls it
    /// with the same `cfg`; with [`DataLayout::Replicated`] every rank
    /// passes the same data, with [`DataLayout::Sharded`] its own part
    /// (e.g. read with [`nnc::data::idx::read_images_and_labels_rows`] and
    /// [`split_rows`]).
    ///
    /// # Errors
    /// As [`nnc::dist::fit_distributed`].
    pub fn fit(
        &mut self,
        model: &mut dyn Model,
        cfg: &TrainConfig,
        data: &Dataset,
        layout: DataLayout,
    ) -> Result<History> {
        nnc::dist::fit_distributed(model, cfg, data, layout, self)
    }

    /// [`nnc::train::resume`] as one rank of a data-parallel run: every
    /// rank loads the same checkpoint (written by rank 0; a shared file
    /// system or a copy on each machine) and passes its state. The number
    /// of ranks may differ from the run that wrote it.
    ///
    /// # Errors
    /// As [`nnc::dist::resume_distributed`].
    pub fn resume(
        &mut self,
        model: &mut dyn Model,
        cfg: &TrainConfig,
        train: &Dataset,
        val: Option<&Dataset>,
        state: TrainState,
        layout: DataLayout,
    ) -> Result<History> {
        nnc::dist::resume_distributed(model, cfg, train, val, state, layout, self)
    }
}

impl Drop for Mpi {
    /// A rank unwinding from a panic must not reach `MPI_Finalize`, which
    /// waits for ranks that are themselves waiting for this one in a
    /// collective: abort the job instead, as a crashed rank would.
    fn drop(&mut self) {
        if std::thread::panicking() && self.size > 1 {
            eprintln!(
                "nnc-mpi: rank {} of {} panicked; aborting the job",
                self.rank, self.size
            );
            self.comm.abort(101);
        }
    }
}

/// MPI counts elements in a C `int`.
fn count(len: usize) -> Result<()> {
    if len > i32::MAX as usize {
        return Err(Error::Config(format!(
            "a buffer of {len} elements is more than one MPI call can carry ({})",
            i32::MAX
        )));
    }
    Ok(())
}

impl GradientSync for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    // MPI's built-in SUM over MPI_FLOAT. Open MPI's allreduce algorithms
    // (recursive doubling, ring, Rabenseifner) combine the same partial sums
    // on every rank, so all ranks get the same bits, and they are chosen by
    // message size and rank count only, so a rerun reduces in the same
    // order: the tests check both. Errors abort the job (MPI's default
    // handler, MPI_ERRORS_ARE_FATAL), so these never return one from MPI.
    fn sum_f32(&mut self, buf: &mut [f32]) -> Result<()> {
        count(buf.len())?;
        self.send32.clear();
        self.send32.extend_from_slice(buf);
        self.comm
            .all_reduce_into(&self.send32[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn sum_f64(&mut self, buf: &mut [f64]) -> Result<()> {
        count(buf.len())?;
        self.send64.clear();
        self.send64.extend_from_slice(buf);
        self.comm
            .all_reduce_into(&self.send64[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn broadcast_f32(&mut self, buf: &mut [f32]) -> Result<()> {
        count(buf.len())?;
        self.comm.process_at_rank(0).broadcast_into(buf);
        Ok(())
    }

    // MPI_Reduce_scatter with equal counts (nnc pads the flat parameter
    // vector to a multiple of the rank count), through `mpi::ffi`: rsmpi
    // wraps only the _block form, and Open MPI 4.1's default algorithms
    // for this one were faster for W1's gradient on 2 ranks here (best of
    // 12 runs of `w1_speed --comm-only 2000` on a loaded machine: 0.049 ms
    // against 0.062 ms). Send and receive buffers are distinct by design,
    // not for want of MPI_IN_PLACE (which mpi-sys does not export): the
    // send buffer is the one nnc packs the gradients into anyway, and the
    // receive buffer is the all-gather's send buffer, so nothing is copied.
    // Open MPI picks the algorithm from the sizes alone, so a rerun sums in
    // the same order (the mpirun test compares two runs bit for bit).
    fn reduce_scatter_f32(&mut self, send: &mut [f32], recv: &mut [f32]) -> Result<()> {
        blocks(recv.len(), send.len(), self.size)?;
        self.counts.clear();
        self.counts.resize(self.size, recv.len() as i32);
        // SAFETY: `send` holds `size` blocks of `recv.len()` floats (checked
        // above; `blocks` also keeps the counts within a C int), `counts`
        // has one entry per rank, and MPI returns only when done with both
        // buffers. Errors abort the job (MPI_ERRORS_ARE_FATAL), so the
        // return code is always MPI_SUCCESS.
        unsafe {
            mpi::ffi::MPI_Reduce_scatter(
                send.as_ptr().cast(),
                recv.as_mut_ptr().cast(),
                self.counts.as_ptr(),
                mpi::ffi::RSMPI_FLOAT,
                mpi::ffi::RSMPI_SUM,
                self.comm.as_raw(),
            );
        }
        Ok(())
    }

    // MPI_Allgather, equal blocks as above: this rank's block is the send
    // buffer, the receive buffer is the whole vector.
    fn all_gather_f32(&mut self, send: &[f32], recv: &mut [f32]) -> Result<()> {
        blocks(send.len(), recv.len(), self.size)?;
        self.comm.all_gather_into(send, recv);
        Ok(())
    }
}

/// Checks that `whole` is `size` blocks of `block` elements (rsmpi derives
/// one count from the other) and that MPI can count them.
fn blocks(block: usize, whole: usize, size: usize) -> Result<()> {
    count(whole)?;
    if block.checked_mul(size) != Some(whole) {
        return Err(Error::Config(format!(
            "a buffer of {whole} elements is not {size} blocks of {block}"
        )));
    }
    Ok(())
}
