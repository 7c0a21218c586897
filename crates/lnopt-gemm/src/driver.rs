//! The blocked product: `KC`-deep slices of the inner dimension, `MC`-row blocks of A, and for
//! each column panel of B every micro-tile of the block. AVX-512 reads A where it lies; the
//! other families pack each block of A into micro-panels first.

use crate::kernels::{self, Dest};
use crate::{Isa, PackedB};
use std::cell::RefCell;
use std::ops::Range;

/// Depth of one pass over the inner dimension. Measured by `benches/blocking.rs` (AVX-512,
/// one core; 128×768×3072, 197×3072×768, 1500×512×512 and 197×197×64): 768 beat 256–512 by
/// 3–20 % on the first three and tied on the last; fewer passes mean fewer read-modify-writes
/// of C, and a 768-deep panel slice (96 KiB) still streams well from L2.
const KC_DEFAULT: usize = 768;
/// Rows of A packed at once (a multiple of every MR): `MC·KC·4` = 576 KiB, inside L2.
const MC_DEFAULT: usize = 192;

/// The blocking in use: the defaults, or `LNOPT_GEMM_BLOCKING=KC,MC` (for tuning
/// measurements; MC is rounded up to a multiple of 12).
fn blocking() -> (usize, usize) {
    static B: std::sync::OnceLock<(usize, usize)> = std::sync::OnceLock::new();
    *B.get_or_init(|| {
        let env = std::env::var("LNOPT_GEMM_BLOCKING").ok();
        let parsed = env.as_deref().and_then(|s| {
            let (k, m) = s.split_once(',')?;
            Some((k.trim().parse().ok()?, m.trim().parse::<usize>().ok()?))
        });
        match parsed {
            Some((kc, mc)) if kc > 0 && mc > 0 => (kc, mc.next_multiple_of(12)),
            _ => (KC_DEFAULT, MC_DEFAULT),
        }
    })
}

/// A read-only strided matrix: element (r, c) is at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef {
    /// Element (0, 0).
    pub ptr: *const f32,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

/// A writable strided matrix: element (r, c) is at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy, Debug)]
pub struct MatMut {
    /// Element (0, 0).
    pub ptr: *mut f32,
    /// Row stride in elements.
    pub rs: isize,
    /// Column stride in elements.
    pub cs: isize,
}

// SAFETY: the matrices are plain addresses; the callers of `gemm` promise that what they
// address is valid and that concurrent calls write disjoint elements.
unsafe impl Send for MatRef {}
// SAFETY: as above.
unsafe impl Sync for MatRef {}
// SAFETY: as above.
unsafe impl Send for MatMut {}
// SAFETY: as above.
unsafe impl Sync for MatMut {}

thread_local! {
    /// Each thread's buffer for packed A blocks, kept between calls (no page faults per call).
    static A_PANELS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// What a product's result starts from.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// Zero: `C = A·B`.
    Zero,
    /// C's own values: `C += A·B`.
    Keep,
    /// A bias row of `n` values broadcast down the rows: `C = bias + A·B`. The bias is added
    /// to the first pass's products in registers, so C is written once instead of being
    /// filled with the bias first; the results are the same bits.
    Bias(&'a [f32]),
}

/// `C[:, cols] = start + A·B[:, cols]` for the m×k matrix `a`, the packed k×n `b` and the m×n
/// matrix `c`, over the columns of B's panels `panels` (clamped to B's panels).
///
/// # Safety
/// Every element of the m×k matrix `a` and of the m×n matrix `c` must be valid to read (and,
/// for `c`, write); `c` must not overlap `a` or `b`; a bias holds at least n values.
/// Concurrent calls must write disjoint parts of `c` (disjoint panel ranges or rows) or
/// different matrices.
pub unsafe fn gemm(
    m: usize,
    a: MatRef,
    b: &PackedB,
    c: MatMut,
    start: Start<'_>,
    panels: Range<usize>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { gemm_blocked(blocking(), m, a, b, c, start, panels) }
}

/// [`gemm`] with an explicit `(KC, MC)` blocking (MC a multiple of 12), for tuning benches.
///
/// # Safety
/// As [`gemm`].
#[doc(hidden)]
pub unsafe fn gemm_blocked(
    (kc_max, mc_max): (usize, usize),
    m: usize,
    a: MatRef,
    b: &PackedB,
    c: MatMut,
    start: Start<'_>,
    panels: Range<usize>,
) {
    let (add, bias) = match start {
        Start::Zero => (false, None),
        Start::Keep => (true, None),
        Start::Bias(v) => (false, Some(v)),
    };
    if let Some(v) = bias {
        assert!(
            v.len() >= b.n(),
            "a bias of {} values for {} columns",
            v.len(),
            b.n()
        );
    }
    let (kc_max, mc_max) = (kc_max.max(1), mc_max.max(1).next_multiple_of(12));
    let (k, n, isa) = (b.k(), b.n(), b.isa());
    let nr = isa.nr();
    let panels = panels.start..panels.end.min(b.panels());
    if m == 0 || panels.is_empty() {
        return;
    }
    if k == 0 {
        if !add {
            for r in 0..m {
                for j in panels.start * nr..(panels.end * nr).min(n) {
                    let v = bias.map_or(0.0, |v| v[j]);
                    // SAFETY: (r, j) lies inside C (caller).
                    unsafe { *c.ptr.offset(r as isize * c.rs + j as isize * c.cs) = v };
                }
            }
        }
        return;
    }
    let mr = isa.mr();
    let mc_max = row_block(m, mc_max, mr);
    let packing = !in_place_a(isa);
    A_PANELS.with(|cell| {
        let mut buf = cell.borrow_mut();
        let want = mc_max.min(m.next_multiple_of(mr)) * kc_max.min(k);
        if packing && buf.len() < want {
            buf.resize(want, 0.0);
        }
        for p0 in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - p0);
            for i0 in (0..m).step_by(mc_max) {
                let mc = mc_max.min(m - i0);
                if packing {
                    // SAFETY: rows i0..i0+mc and columns p0..p0+kc lie inside A (caller).
                    unsafe { pack_a(&mut buf, a, (i0, mc), (p0, kc), mr) };
                }
                for p in panels.clone() {
                    let bp = b.panel_rows(p, p0);
                    let cols = nr.min(n - p * nr);
                    for t in 0..mc.div_ceil(mr) {
                        let r0 = i0 + t * mr;
                        let d = Dest {
                            // SAFETY: (r0, p·nr) lies inside C (caller).
                            c: unsafe {
                                c.ptr.offset(r0 as isize * c.rs + (p * nr) as isize * c.cs)
                            },
                            rs: c.rs,
                            cs: c.cs,
                            rows: mr.min(m - r0),
                            cols,
                            add: add || p0 > 0,
                            // The tile's columns of the bias (it holds n ≥ p·nr + cols).
                            bias: bias.map_or(std::ptr::null(), |v| v[p * nr..].as_ptr()),
                        };
                        // The tile's rows of A: its packed micro-panel (rows past the block
                        // are zero there), or A itself from (r0, p0).
                        let src = if packing {
                            ASource::Packed(buf[t * mr * kc..].as_ptr())
                        } else {
                            ASource::InPlace {
                                at: a
                                    .ptr
                                    .wrapping_offset(r0 as isize * a.rs + p0 as isize * a.cs),
                                strides: (a.rs, a.cs),
                                rows: d.rows,
                            }
                        };
                        // SAFETY: the micro-panel holds kc·mr floats, or rows r0..r0+d.rows and
                        // columns p0..p0+kc lie inside A; the panel slice holds kc·nr (B's panel
                        // has k ≥ p0 + kc rows); the tile lies inside C; the CPU runs `isa`
                        // (PackedB::pack checked it).
                        unsafe { tile(isa, kc, src, bp, &d) };
                    }
                }
            }
        }
    });
}

/// Whether a product reads A in place rather than packing it. On AVX-512 always: packing
/// copies every element of A once per call (and once per thread when threads split the
/// panels), and the in-place kernel ran as fast or faster on every shape measured
/// (`scripts/bench_gemm.py`, one core, alternating runs: 128×768×3072 95–103 → 104–105
/// GFLOP/s, 1500×512×512 94–100 → 104–105, 197×197×64 80–87 → 104–109). The AVX2 and portable
/// families pack.
fn in_place_a(isa: Isa) -> bool {
    cfg!(target_arch = "x86_64") && matches!(isa, Isa::Avx512)
}

/// Where a micro-tile reads its rows of A.
#[derive(Clone, Copy)]
enum ASource {
    /// A packed micro-panel: `kc` steps of `mr` floats.
    Packed(*const f32),
    /// A itself: element (r, s) of the tile at `at + r·rs + s·cs`, for its `rows` rows.
    InPlace {
        at: *const f32,
        strides: (isize, isize),
        rows: usize,
    },
}

/// The rows of A per block for an m-row product with blocks of at most `mc_max` rows:
/// blocks of equal size (rounded up to the micro-tile's `mr`), and one block up to a quarter
/// over `mc_max` rather than a short second one. Every block streams all of B's panels again,
/// so a short tail block (ViT-B's 197 rows as 192 + 5) pays a full pass over B for a few rows:
/// one 204-row block ran ViT-B 3–5 % faster on one core.
fn row_block(m: usize, mc_max: usize, mr: usize) -> usize {
    if m <= mc_max + mc_max / 4 {
        return m.next_multiple_of(mr);
    }
    let blocks = m.div_ceil(mc_max);
    m.div_ceil(blocks).next_multiple_of(mr)
}

/// Runs the family's micro-kernel on A from `src` (only the AVX-512 kernel reads A in place;
/// [`in_place_a`] gives the others packed micro-panels).
///
/// # Safety
/// As the kernels' `tile`.
unsafe fn tile(isa: Isa, kc: usize, src: ASource, b: *const f32, d: &Dest) {
    let mr = isa.mr();
    // SAFETY: forwarded from the caller.
    unsafe {
        match (isa, src) {
            #[cfg(target_arch = "x86_64")]
            // A packed micro-panel is A with row stride 1 and column stride MR.
            (Isa::Avx512, ASource::Packed(a)) => {
                kernels::avx512::tile_strided(kc, a, (1, mr as isize), mr, b, d)
            }
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, ASource::InPlace { at, strides, rows }) => {
                kernels::avx512::tile_strided(kc, at, strides, rows, b, d)
            }
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2Fma, ASource::Packed(a)) => kernels::avx2::tile(kc, a, b, d),
            (_, ASource::Packed(a)) => kernels::portable::tile(kc, a, b, d),
            (_, ASource::InPlace { .. }) => {
                unreachable!("only the AVX-512 family reads A in place (in_place_a)")
            }
        }
    }
}

/// Packs rows `i0..i0+mc`, columns `p0..p0+kc` of A into micro-panels of `mr` rows: panel t
/// holds `kc` steps of `mr` floats (rows past the block are zero).
///
/// # Safety
/// The block must lie inside A.
unsafe fn pack_a(
    buf: &mut [f32],
    a: MatRef,
    (i0, mc): (usize, usize),
    (p0, kc): (usize, usize),
    mr: usize,
) {
    for t in 0..mc.div_ceil(mr) {
        let panel = &mut buf[t * mr * kc..(t + 1) * mr * kc];
        let rows = mr.min(mc - t * mr);
        if rows < mr {
            panel.fill(0.0);
        }
        // Every family's MR is at most 16.
        let mut base = [0isize; 16];
        for (r, b) in base[..rows].iter_mut().enumerate() {
            *b = (i0 + t * mr + r) as isize * a.rs + p0 as isize * a.cs;
        }
        // Step by step through the depth, all rows of the micro-panel at once: the writes
        // run contiguously and the reads advance along `rows` rows together (row by row,
        // the writes strode by `mr` floats over a panel larger than L1).
        for (s, step) in panel.chunks_exact_mut(mr).enumerate() {
            let off = s as isize * a.cs;
            for (d, &b) in step[..rows].iter_mut().zip(&base[..rows]) {
                // SAFETY: (row, p0 + s) lies inside A (caller).
                *d = unsafe { *a.ptr.offset(b + off) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::row_block;

    #[test]
    fn row_blocks_are_equal_and_avoid_short_tails() {
        assert_eq!(row_block(197, 192, 12), 204); // one block, not 192 + 5
        assert_eq!(row_block(240, 192, 12), 240);
        assert_eq!(row_block(241, 192, 12), 132); // two equal blocks
        assert_eq!(row_block(1500, 192, 12), 192); // eight of 188, rounded to the tile
        assert_eq!(row_block(5, 192, 12), 12);
        assert_eq!(row_block(30, 24, 12), 36);
        assert_eq!(row_block(31, 24, 12), 24);
    }
}
