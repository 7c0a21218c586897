//! Precision of the one-pass LayerNorm statistics on rows that defeat a naive
//! `E[x²] - E[x]²`: large offsets with tiny spread, an outlier in the row's first element (the
//! shift the kernel uses), constant rows, and row lengths around the vector/unroll boundaries.
//! The reference is a plain two-pass computation in f64 (`common::norm_ref`).

mod common;

use common::lcg;
use lnopt_jit::{NormKernel, NormKey};

fn key(rms: bool, hidden: usize) -> NormKey {
    NormKey::affine(rms, hidden, 1e-5)
}

/// Runs the kernel on `rows` and returns the largest error against the reference, relative to
/// `1 + |want|`.
fn worst(rms: bool, hidden: usize, rows: &[Vec<f32>], threads: usize) -> f64 {
    let k = NormKernel::compile(key(rms, hidden)).expect("compiles");
    let mut r = lcg(99);
    let g: Vec<f32> = (0..hidden).map(|_| 1.0 + r()).collect();
    let b: Vec<f32> = (0..hidden).map(|_| r()).collect();
    let x: Vec<f32> = rows.concat();
    let mut y = vec![0f32; x.len()];
    k.run(&x, &g, &b, &mut y, threads).expect("runs");
    let mut worst = 0f64;
    for (row, got) in rows.iter().zip(y.chunks(hidden)) {
        for (w, &gv) in common::norm_ref(row, &g, &b, rms, 1e-5f32 as f64)
            .iter()
            .zip(got)
        {
            worst = worst.max(common::rel_err(gv as f64, *w));
        }
    }
    worst
}

const HIDDEN: [usize; 9] = [1, 3, 4, 15, 16, 17, 67, 768, 4099];

#[test]
fn offsets_and_first_element_outliers_keep_precision() {
    for &h in &HIDDEN {
        let mut r = lcg(h as u64);
        let mut rows = Vec::new();
        // Offset 1000, spread 1: plain E[x²]-E[x]² in f32 would lose ~20 bits.
        rows.push((0..h).map(|_| 1000.0 + r()).collect::<Vec<f32>>());
        // Spread 1e-2 around 0 with an outlier of 1e4 first: the shift is far from the mean.
        let mut o: Vec<f32> = (0..h).map(|_| 1e-2 * r()).collect();
        o[0] = 1e4;
        rows.push(o);
        // Outlier in the last element instead.
        let mut o: Vec<f32> = (0..h).map(|_| 1e-2 * r()).collect();
        if let Some(l) = o.last_mut() {
            *l = -3e3;
        }
        rows.push(o);
        // Constant row: variance exactly 0, output is the bias.
        rows.push(vec![7.25; h]);
        for rms in [false, true] {
            let e = worst(rms, h, &rows, 1);
            assert!(e < 2e-4, "rms={rms} hidden={h}: error {e}");
        }
    }
}

#[test]
fn threaded_runs_match_single_threaded() {
    let h = 768;
    let mut r = lcg(5);
    let rows: Vec<Vec<f32>> = (0..200)
        .map(|i| (0..h).map(|_| i as f32 + r()).collect())
        .collect();
    for rms in [false, true] {
        let e1 = worst(rms, h, &rows, 1);
        let e2 = worst(rms, h, &rows, 2);
        assert!(e1 < 1e-4 && e2 < 1e-4, "rms={rms}: {e1} {e2}");
    }
}

#[test]
fn large_outputs_are_complete() {
    // 17 MiB of output split over threads; an odd row length makes most rows start unaligned.
    let h = 771;
    let rows_n = (17 << 20) / (4 * h) + 3;
    let mut r = lcg(11);
    let rows: Vec<Vec<f32>> = (0..rows_n)
        .map(|i| (0..h).map(|_| (i % 13) as f32 + r()).collect())
        .collect();
    for threads in [1, 2] {
        for rms in [false, true] {
            let e = worst(rms, h, &rows, threads);
            assert!(e < 1e-4, "rms={rms} threads={threads}: {e}");
        }
    }
}
