//! Tuning the (KC, MC) blocking under a noisy machine: every candidate runs once per round,
//! rounds alternate, and the table gives each candidate's median GFLOP/s over the rounds.
//! `cargo bench -p lnopt-gemm --bench blocking`.

use lnopt_gemm::{gemm_blocked, Isa, MatMut, MatRef, PackedB, Start};
use std::time::Instant;

const CANDIDATES: &[(usize, usize)] = &[(256, 192), (512, 192), (768, 96), (768, 192), (1024, 192)];
const SHAPES: &[(usize, usize, usize)] = &[
    (128, 768, 3072),
    (197, 3072, 768),
    (1500, 512, 512),
    (197, 197, 64),
];

fn main() {
    let isa = Isa::detect();
    print!("| m×k×n |");
    for c in CANDIDATES {
        print!(" {},{} |", c.0, c.1);
    }
    println!();
    println!("|---|{}", "---|".repeat(CANDIDATES.len()));
    for &(m, k, n) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut c = vec![0f32; m * n];
        let packed = PackedB::pack(isa, (k, n), &b, (n, 1)).expect("pack");
        let aref = MatRef {
            ptr: a.as_ptr(),
            rs: k as isize,
            cs: 1,
        };
        let cmut = MatMut {
            ptr: c.as_mut_ptr(),
            rs: n as isize,
            cs: 1,
        };
        let reps = (2e8 / (m * k * n) as f64).ceil() as usize;
        let mut samples = vec![Vec::new(); CANDIDATES.len()];
        for _round in 0..15 {
            for (ci, &blk) in CANDIDATES.iter().enumerate() {
                let t = Instant::now();
                for _ in 0..reps {
                    // SAFETY: a, b, c hold m×k, k×n, m×n row-major floats.
                    unsafe {
                        gemm_blocked(blk, m, aref, &packed, cmut, Start::Zero, 0..usize::MAX)
                    };
                }
                samples[ci].push(2.0 * (m * k * n * reps) as f64 / t.elapsed().as_secs_f64() / 1e9);
            }
        }
        print!("| {m}×{k}×{n} |");
        for s in &mut samples {
            s.sort_by(f64::total_cmp);
            print!(" {:.1} |", s[s.len() / 2]);
        }
        println!();
        std::hint::black_box(&c);
    }
}
