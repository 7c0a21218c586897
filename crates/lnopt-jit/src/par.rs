//! Splitting row loops across threads: a persistent pool of `cores - 1` workers that spin for
//! a short while after each job before they sleep, and the calling thread, all claiming the
//! chunks of one job; small jobs stay on one thread.
//!
//! Why not rayon's pool: a thread outside a rayon pool that hands it work sleeps on a condition
//! variable until the work is done, and rayon's idle workers go to sleep after a few
//! microseconds. A model run alternates parallel products with short serial ops, so every
//! product paid a wake-up on each side (tens of microseconds on this VM, against products of
//! 0.2–2 ms). Here the caller waits by spinning, workers spin for [`SPIN`] after their last
//! chunk, and a chunk no worker has claimed yet is run by the caller itself, so a sleeping
//! worker never delays a job: it only fails to help.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Below this many elements a kernel runs on one thread. With the workers spinning between
/// jobs a split costs about a microsecond, so LN calls of 32 Ki elements and up gain from a
/// second thread (`scripts/bench_single_norm.py`, 2 threads, 3 rounds: 64×768 7.5 → 4.2 µs,
/// 197×768 22.2 → 14.5 µs against a threshold of 256 Ki; alternating model runs, 2 threads:
/// BERT-base, LLaMA and ViT-B equal or 2–10 % faster). Under rayon's pool, whose wake-ups
/// cost 10–200 µs, the threshold was 256 Ki.
const PAR_MIN: usize = 1 << 15;

/// How long a worker keeps looking for the next job after its last chunk before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// At most this many chunks per job (the claim counter has 16 bits).
const MAX_CHUNKS: usize = 1 << 15;

/// A raw pointer that may cross into a scoped worker thread.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub usize);

/// Splits `0..n` into at most `t` contiguous chunks.
fn chunks(n: usize, t: usize) -> Vec<(usize, usize)> {
    let t = t.clamp(1, n.max(1)).min(MAX_CHUNKS);
    let per = n.div_ceil(t);
    (0..t)
        .map(|i| (i * per, ((i + 1) * per).min(n)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// Runs `f(start, end)` over chunks of `0..n`, in parallel when worthwhile: the calling thread
/// and the persistent workers claim the chunks (no thread is spawned per call). Each chunk is
/// the same range whichever thread runs it, so results do not depend on the scheduling.
pub(crate) fn par_for(n: usize, work: usize, threads: usize, f: impl Fn(usize, usize) + Sync) {
    let t = if work < PAR_MIN { 1 } else { threads };
    let cs = chunks(n, t);
    if cs.len() <= 1 {
        if let Some(&(a, b)) = cs.first() {
            f(a, b);
        }
        return;
    }
    match pool() {
        Some(p) => p.run(&cs, &f),
        // No worker thread could be started: the chunks run here, one after the other.
        None => cs.iter().for_each(|&(a, b)| f(a, b)),
    }
}

/// One job: the chunks and the function, both on the caller's stack for the job's lifetime.
struct Job<'a> {
    chunks: &'a [(usize, usize)],
    f: &'a (dyn Fn(usize, usize) + Sync),
}

/// The pool's shared state. `state` packs the job's epoch (high 32 bits), its chunk count
/// (16 bits) and the next unclaimed chunk (low 16 bits): a claim is one compare-and-swap that
/// fails once the job is over, so a worker can never run a chunk of a finished job.
struct Shared {
    state: AtomicU64,
    /// The current job (`*const Job`), valid while its epoch is current and a chunk of it is
    /// claimed but not done.
    job: AtomicUsize,
    /// Chunks of the current job finished.
    done: AtomicUsize,
    /// A chunk of the current job panicked.
    panicked: AtomicBool,
    /// Workers asleep (or about to sleep) on `wake`.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The worker pool: one job at a time (a second caller, or a nested call from inside a
/// chunk, runs its chunks itself).
struct Pool {
    shared: &'static Shared,
    busy: Mutex<()>,
}

const EPOCH_SHIFT: u32 = 32;
const COUNT_SHIFT: u32 = 16;
const FIELD: u64 = 0xffff;

fn epoch_of(state: u64) -> u64 {
    state >> EPOCH_SHIFT
}

/// Claims the next chunk of job `epoch`, or `None` when that job has no chunk left or is over.
fn claim(state: &AtomicU64, epoch: u64) -> Option<usize> {
    let mut s = state.load(SeqCst);
    loop {
        let (count, next) = ((s >> COUNT_SHIFT) & FIELD, s & FIELD);
        if epoch_of(s) != epoch || next >= count {
            return None;
        }
        match state.compare_exchange_weak(s, s + 1, SeqCst, SeqCst) {
            Ok(_) => return Some(next as usize),
            Err(now) => s = now,
        }
    }
}

impl Shared {
    /// Runs chunks of job `epoch` until none is left to claim.
    fn help(&self, epoch: u64) {
        while let Some(i) = claim(&self.state, epoch) {
            // SAFETY: the claim succeeded, so job `epoch` is current and its caller waits
            // (keeping the Job alive) until this chunk is counted done below.
            let job = unsafe { &*(self.job.load(SeqCst) as *const Job<'_>) };
            let chunk = || {
                let (a, b) = job.chunks[i];
                (job.f)(a, b)
            };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(chunk)).is_err() {
                self.panicked.store(true, SeqCst);
            }
            self.done.fetch_add(1, SeqCst);
        }
    }

    /// A worker's life: wait for a job (spinning for [`SPIN`], then asleep), help with it.
    fn work(&self) {
        let mut seen = epoch_of(self.state.load(SeqCst));
        loop {
            let mut idle = Instant::now();
            let mut spins = 0u32;
            loop {
                let e = epoch_of(self.state.load(SeqCst));
                if e != seen {
                    seen = e;
                    break;
                }
                std::hint::spin_loop();
                spins += 1;
                if spins.is_multiple_of(256) && idle.elapsed() >= SPIN {
                    self.sleep_until_new(seen);
                    idle = Instant::now();
                }
            }
            self.help(seen);
        }
    }

    /// Sleeps until the epoch differs from `seen`.
    fn sleep_until_new(&self, seen: u64) {
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleeping.fetch_add(1, SeqCst);
        while epoch_of(self.state.load(SeqCst)) == seen {
            g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        self.sleeping.fetch_sub(1, SeqCst);
    }
}

impl Pool {
    /// Runs every chunk of `chunks` through `f`, helped by the workers, and returns when all
    /// are done. Panics (after every chunk has finished) when a chunk panicked.
    fn run(&self, chunks: &[(usize, usize)], f: &(dyn Fn(usize, usize) + Sync)) {
        let _busy = match self.busy.try_lock() {
            Ok(g) => g,
            // A chunk of an earlier job panicked while its caller held the lock: the state
            // it guards is reset below, so the lock is still good.
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                // Another job holds the workers (a second caller, or a call from inside a
                // chunk): the chunks run here.
                chunks.iter().for_each(|&(a, b)| f(a, b));
                return;
            }
        };
        let s = self.shared;
        let job = Job { chunks, f };
        s.done.store(0, SeqCst);
        s.panicked.store(false, SeqCst);
        s.job.store(&job as *const Job<'_> as usize, SeqCst);
        let epoch = (epoch_of(s.state.load(SeqCst)) + 1) & 0xffff_ffff;
        s.state.store(
            (epoch << EPOCH_SHIFT) | ((chunks.len() as u64) << COUNT_SHIFT),
            SeqCst,
        );
        if s.sleeping.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        s.help(epoch);
        let mut spins = 0u32;
        while s.done.load(SeqCst) < chunks.len() {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        // Every chunk is done: no worker reads `job` again until the next epoch.
        s.job.store(0, SeqCst);
        if s.panicked.load(SeqCst) {
            panic!("a parallel chunk panicked");
        }
    }
}

/// The pool parallel loops use: one worker fewer than the cores, because the calling thread
/// claims chunks itself. With as many workers as cores an idle worker competes with the
/// caller for a core (measured with rayon's global pool: BERT-base on 2 threads ran at a
/// median of 147–149 ms instead of 126–128). `None` when no thread could be started.
fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        let mut started = 0;
        for i in 0..cores.saturating_sub(1).max(1) {
            let spawned = std::thread::Builder::new()
                .name(format!("lnopt-jit-{i}"))
                .spawn(move || shared.work());
            started += usize::from(spawned.is_ok());
        }
        (started > 0).then_some(Pool {
            shared,
            busy: Mutex::new(()),
        })
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Every index is visited exactly once, for jobs of many sizes, back to back and after
    /// the workers have gone to sleep.
    #[test]
    fn every_chunk_runs_once() {
        for round in 0..3 {
            for n in [2usize, 3, 7, 64, 1000] {
                for threads in [2usize, 3, 8] {
                    let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                    par_for(n, usize::MAX, threads, |a, b| {
                        for h in &hits[a..b] {
                            h.fetch_add(1, SeqCst);
                        }
                    });
                    assert!(
                        hits.iter().all(|h| h.load(SeqCst) == 1),
                        "n={n} t={threads}"
                    );
                }
            }
            if round == 1 {
                std::thread::sleep(SPIN * 3);
            }
        }
    }

    /// The workers take chunks: chunk 0 waits (up to 200 ms) until chunk 1 has started,
    /// which only another thread can do while chunk 0 runs. A pool whose workers died or never
    /// started runs both on the caller, one after the other. Other tests may hold the pool for
    /// a while (then the caller runs a job alone), so one attempt of many must see two threads.
    #[test]
    fn workers_take_chunks() {
        let two_threads = (0..100).any(|_| {
            let started = AtomicBool::new(false);
            let ids = Mutex::new(Vec::new());
            par_for(2, usize::MAX, 2, |a, _| {
                ids.lock().unwrap().push(std::thread::current().id());
                if a == 0 {
                    let t0 = Instant::now();
                    while !started.load(SeqCst) && t0.elapsed() < Duration::from_millis(200) {
                        std::thread::yield_now();
                    }
                } else {
                    started.store(true, SeqCst);
                }
            });
            let ids = ids.into_inner().unwrap();
            ids.len() == 2 && ids[0] != ids[1]
        });
        assert!(two_threads, "no job ran on more than one thread");
    }

    /// Calls from several threads at once, and a call from inside a chunk, all complete.
    #[test]
    fn concurrent_and_nested_calls_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        par_for(8, usize::MAX, 2, |a, b| {
                            par_for(4, usize::MAX, 2, |c, d| {
                                total.fetch_add((b - a) * (d - c), SeqCst);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 4 * 200 * 8 * 4);
    }

    /// A panic in a chunk reaches the caller, and the pool still works afterwards.
    #[test]
    fn a_panicking_chunk_reaches_the_caller() {
        let r = std::panic::catch_unwind(|| {
            par_for(4, usize::MAX, 2, |a, _| {
                if a == 2 {
                    panic!("chunk two");
                }
            })
        });
        assert!(r.is_err());
        let sum = AtomicUsize::new(0);
        par_for(10, usize::MAX, 2, |a, b| {
            sum.fetch_add((a..b).sum::<usize>(), SeqCst);
        });
        assert_eq!(sum.load(SeqCst), 45);
    }
}
