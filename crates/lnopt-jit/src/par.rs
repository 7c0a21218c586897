//! Splitting row loops across threads: the calling thread takes the first chunk and a
//! persistent pool of `cores - 1` workers the others; small jobs stay on one thread.

/// Below this many elements a kernel runs on one thread. Measured for LN (docs/jit-bench.md):
/// with the pool thread awake (back-to-back calls) 2 threads win from 64 Ki elements
/// (256 KiB: 67 vs 45 GB/s) and break even at 32 Ki; with the pool thread asleep (2 ms between
/// calls) its wake-up on this VM costs ~10-200 us and 2 threads lose up to 8 MiB. Models call
/// kernels with other work in between, so the threshold stays on the safe side.
const PAR_MIN: usize = 1 << 18;

/// A raw pointer that may cross into a scoped worker thread.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub usize);

/// Splits `0..n` into at most `t` contiguous chunks.
fn chunks(n: usize, t: usize) -> Vec<(usize, usize)> {
    let t = t.clamp(1, n.max(1));
    let per = n.div_ceil(t);
    (0..t)
        .map(|i| (i * per, ((i + 1) * per).min(n)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// Runs `f(start, end)` over chunks of `0..n`, in parallel when worthwhile: the calling thread
/// takes the first chunk and the persistent [`workers`] the others (no thread is spawned per
/// call).
pub(crate) fn par_for(n: usize, work: usize, threads: usize, f: impl Fn(usize, usize) + Sync) {
    let t = if work < PAR_MIN { 1 } else { threads };
    let cs = chunks(n, t);
    if cs.len() <= 1 {
        if let Some(&(a, b)) = cs.first() {
            f(a, b);
        }
        return;
    }
    let Some(pool) = workers() else {
        // No worker threads could be started: the chunks run here, one after the other.
        for &(a, b) in &cs {
            f(a, b);
        }
        return;
    };
    pool.in_place_scope(|s| {
        for &(a, b) in &cs[1..] {
            let f = &f;
            s.spawn(move |_| f(a, b));
        }
        f(cs[0].0, cs[0].1);
    });
}

/// The worker threads parallel loops hand chunks to: one fewer than the cores, because the
/// calling thread takes a chunk itself. With as many workers as cores (rayon's global pool),
/// an idle worker looking for work competes with the caller for a core: BERT-base on 2 threads
/// ran at a median of 147–149 ms instead of 126–128 (`lnopt bench`, 20 runs, alternated).
/// `None` when no thread could be started.
fn workers() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores.saturating_sub(1).max(1))
            .thread_name(|i| format!("lnopt-jit-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}
