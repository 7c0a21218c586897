//! Every kernel family this CPU runs, against a plain f64 triple loop: odd and tile-sized
//! shapes, inner dimensions across the KC boundary, transposed operands and outputs,
//! accumulation, a bias start, and panel sub-ranges (as threads call it).

/// What the checked product starts from (the test's side of [`Start`]).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Init {
    Zero,
    Keep,
    Bias,
}

impl Init {
    /// The library's start for this init, with `bias` as the bias.
    fn start(self, bias: &[f32]) -> Start<'_> {
        match self {
            Init::Zero => Start::Zero,
            Init::Keep => Start::Keep,
            Init::Bias => Start::Bias(bias),
        }
    }
}

/// A bias of `n` values.
fn bias_of(n: usize) -> Vec<f32> {
    (0..n).map(|j| (j % 9) as f32 * 0.75 - 3.0).collect()
}

use lnopt_gemm::{gemm, gemm_blocked, Isa, MatMut, MatRef, PackedB, Start};
use proptest::prelude::*;

/// [`check_blocked`] with the default blocking and with a tiny one (7-deep passes, 24-row
/// blocks), so that multi-pass accumulation and row-block tails are exercised at small sizes.
fn check(isa: Isa, dims: (usize, usize, usize), a_t: bool, b_t: bool, c_t: bool, init: Init) {
    check_blocked(None, isa, dims, a_t, b_t, c_t, init);
    check_blocked(Some((7, 24)), isa, dims, a_t, b_t, c_t, init);
}

/// One product checked: A is m×k, B k×n, C m×n, each row-major or transposed, computed in two
/// calls over the two halves of B's panels.
fn check_blocked(
    blocking: Option<(usize, usize)>,
    isa: Isa,
    (m, k, n): (usize, usize, usize),
    a_t: bool,
    b_t: bool,
    c_t: bool,
    init: Init,
) {
    let bias = bias_of(n);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7 + 3) % 23) as f32 * 0.25 - 2.5)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 5 + 1) % 19) as f32 * 0.5 - 4.0)
        .collect();
    let a_st = if a_t { (1, m) } else { (k, 1) };
    let b_st = if b_t { (1, k) } else { (n, 1) };
    let c_st = if c_t { (1, m) } else { (n, 1) };
    let packed = PackedB::pack(isa, (k, n), &b, b_st).unwrap();
    let mut c: Vec<f32> = (0..m * n).map(|i| (i % 5) as f32).collect();
    let before = c.clone();
    let panels = packed.panels();
    let cut = panels / 2;
    for range in [0..cut, cut..panels] {
        let a_ref = MatRef {
            ptr: a.as_ptr(),
            rs: a_st.0 as isize,
            cs: a_st.1 as isize,
        };
        let c_mut = MatMut {
            ptr: c.as_mut_ptr(),
            rs: c_st.0 as isize,
            cs: c_st.1 as isize,
        };
        // SAFETY: a, b and c hold m×k, k×n and m×n elements at these strides.
        unsafe {
            match blocking {
                None => gemm(m, a_ref, &packed, c_mut, init.start(&bias), range),
                Some(b) => gemm_blocked(b, m, a_ref, &packed, c_mut, init.start(&bias), range),
            }
        };
    }
    for i in 0..m {
        for j in 0..n {
            let mut want: f64 = (0..k)
                .map(|p| a[i * a_st.0 + p * a_st.1] as f64 * b[p * b_st.0 + j * b_st.1] as f64)
                .sum();
            let at = i * c_st.0 + j * c_st.1;
            match init {
                Init::Zero => {}
                Init::Keep => want += before[at] as f64,
                Init::Bias => want += bias[j] as f64,
            }
            let got = c[at] as f64;
            assert!(
                (got - want).abs() <= 1e-5 * (k as f64 + 1.0) * want.abs().max(1.0),
                "{isa:?} {blocking:?} {m}×{k}×{n} (a_t {a_t}, b_t {b_t}, c_t {c_t}, {init:?}) [{i},{j}]: {got} vs {want}"
            );
        }
    }
}

#[test]
fn fixed_shapes_every_family() {
    let isas = Isa::all_available();
    assert!(isas.contains(&Isa::Portable));
    for isa in isas {
        for &dims in &[
            (1, 1, 1),
            (12, 256, 32),
            (13, 257, 33),
            (25, 770, 40),
            (197, 300, 70),
            (5, 600, 129),
            (200, 3, 64),
            (7, 0, 9),
        ] {
            for (a_t, b_t, c_t, init) in [
                (false, false, false, Init::Zero),
                (false, false, false, Init::Keep),
                (false, false, false, Init::Bias),
                (true, true, true, Init::Zero),
                (true, false, true, Init::Keep),
                (false, true, true, Init::Bias),
            ] {
                check(isa, dims, a_t, b_t, c_t, init);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes_every_family(
        m in 1usize..40, k in 0usize..300, n in 1usize..80,
        a_t: bool, b_t: bool, c_t: bool, init in 0u8..3,
    ) {
        let init = [Init::Zero, Init::Keep, Init::Bias][init as usize];
        for isa in Isa::all_available() {
            check(isa, (m, k, n), a_t, b_t, c_t, init);
        }
    }
}

#[test]
fn an_unavailable_family_is_refused_and_a_short_buffer_too() {
    let b = vec![1f32; 6];
    assert!(PackedB::pack(Isa::Portable, (2, 4), &b, (4, 1)).is_err());
    for isa in [Isa::Avx512, Isa::Avx2Fma] {
        let r = PackedB::pack(isa, (2, 3), &b, (3, 1));
        assert_eq!(r.is_ok(), isa.available());
    }
}

/// AVX-512 reads A in place, AVX2 packs it: both run the same fused multiply-adds per
/// element in the same order, so where the CPU has both they agree bit for bit — with strided
/// and transposed A, a row count that leaves partial tiles, a depth across the KC boundary,
/// accumulation, and panel sub-ranges of either width.
#[test]
fn in_place_and_packed_a_agree_bit_for_bit() {
    let (m, k, n) = (29usize, 800usize, 300usize);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 13) % 29) as f32 * 0.3 - 4.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 3) % 17) as f32 * 0.2 - 1.7)
        .collect();
    let isas = Isa::all_available();
    if !(isas.contains(&Isa::Avx512) && isas.contains(&Isa::Avx2Fma)) {
        eprintln!(
            "needs both AVX-512 and AVX2 (this CPU: {isas:?}); the tolerance tests above still ran"
        );
        return;
    }
    for a_st in [(k, 1), (1, m)] {
        for init in [Init::Zero, Init::Keep, Init::Bias] {
            let bias = bias_of(n);
            let run = |isa: Isa| {
                let packed = PackedB::pack(isa, (k, n), &b, (n, 1)).unwrap();
                let mut c: Vec<f32> = (0..m * n).map(|i| (i % 7) as f32 - 3.0).collect();
                let cut = packed.panels() / 3;
                for r in [0..cut, cut..packed.panels()] {
                    let a_ref = MatRef {
                        ptr: a.as_ptr(),
                        rs: a_st.0 as isize,
                        cs: a_st.1 as isize,
                    };
                    let c_mut = MatMut {
                        ptr: c.as_mut_ptr(),
                        rs: n as isize,
                        cs: 1,
                    };
                    // SAFETY: a, b and c hold m×k, k×n and m×n elements at these strides.
                    unsafe { gemm(m, a_ref, &packed, c_mut, init.start(&bias), r) };
                }
                c
            };
            let (wide, narrow) = (run(Isa::Avx512), run(Isa::Avx2Fma));
            assert!(
                wide.iter()
                    .zip(&narrow)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "A strides {a_st:?} {init:?}"
            );
        }
    }
}

/// Starting from a bias gives exactly what filling C with the bias and accumulating gives (the
/// JIT's products with a bias used to do that), for every family, whole and partial tiles,
/// one pass and several, row-major and transposed C.
#[test]
fn a_bias_start_equals_a_filled_c_bit_for_bit() {
    for isa in Isa::all_available() {
        for (m, k, n) in [(24usize, 64usize, 64usize), (29, 800, 45), (5, 3, 17)] {
            for c_t in [false, true] {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 11) % 31) as f32 * 0.1 - 1.3)
                    .collect();
                let b: Vec<f32> = (0..k * n)
                    .map(|i| ((i * 7) % 13) as f32 * 0.3 - 1.9)
                    .collect();
                let bias = bias_of(n);
                let packed = PackedB::pack(isa, (k, n), &b, (n, 1)).unwrap();
                let c_st = if c_t { (1, m) } else { (n, 1) };
                let run = |start: Start<'_>, c: &mut Vec<f32>| {
                    let a_ref = MatRef {
                        ptr: a.as_ptr(),
                        rs: k as isize,
                        cs: 1,
                    };
                    let c_mut = MatMut {
                        ptr: c.as_mut_ptr(),
                        rs: c_st.0 as isize,
                        cs: c_st.1 as isize,
                    };
                    // SAFETY: a, b and c hold m×k, k×n and m×n elements at these strides.
                    unsafe { gemm(m, a_ref, &packed, c_mut, start, 0..usize::MAX) };
                };
                let mut direct = vec![f32::NAN; m * n];
                run(Start::Bias(&bias), &mut direct);
                let mut filled = vec![0f32; m * n];
                for i in 0..m {
                    for (j, &v) in bias.iter().enumerate() {
                        filled[i * c_st.0 + j * c_st.1] = v;
                    }
                }
                run(Start::Keep, &mut filled);
                assert!(
                    direct
                        .iter()
                        .zip(&filled)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{isa:?} {m}×{k}×{n} c_t {c_t}"
                );
            }
        }
    }
}
