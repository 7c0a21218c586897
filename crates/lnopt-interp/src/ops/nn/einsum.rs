//! `Einsum`: explicit (`->`) and implicit output, repeated labels (diagonals), ellipsis
//! with broadcasting. Sums are taken in f64 (wrapping i64 for integers).

use crate::arr::{checked_numel, Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};

/// Label of the `k`-th ellipsis dim counted from the last (outside a..z, A..Z).
fn ellipsis_label(k: usize) -> char {
    char::from_u32(0x100 + k as u32).unwrap_or('\u{100}')
}

/// Labels of one operand term for an operand of `rank` dims.
fn term_labels(term: &str, rank: usize) -> OpResult<Vec<char>> {
    let parts: Vec<&str> = term.split("...").collect();
    let letters = |s: &str| -> OpResult<Vec<char>> {
        s.chars()
            .map(|ch| {
                if ch.is_ascii_alphabetic() {
                    Ok(ch)
                } else {
                    Err(format!("invalid label '{ch}' in '{term}'").into())
                }
            })
            .collect()
    };
    match parts.len() {
        1 => {
            let l = letters(term)?;
            if l.len() != rank {
                bail!("term '{term}' has {} labels for rank {rank}", l.len());
            }
            Ok(l)
        }
        2 => {
            let (a, b) = (letters(parts[0])?, letters(parts[1])?);
            let ne = rank
                .checked_sub(a.len() + b.len())
                .ok_or(format!("term '{term}' has too many labels for rank {rank}"))?;
            let mut l = a;
            l.extend((0..ne).rev().map(ellipsis_label));
            l.extend(b);
            Ok(l)
        }
        _ => bail!("term '{term}' has more than one ellipsis"),
    }
}

/// Runs `Einsum`.
pub(crate) fn einsum(c: &Call<'_>) -> OpResult<Arr> {
    let eq: String = c
        .string("equation", "")?
        .chars()
        .filter(|ch| !ch.is_whitespace())
        .collect();
    let ins = c.present_inputs();
    if ins.is_empty() {
        bail!("Einsum needs at least one input");
    }
    let dt = ins[0].dtype;
    if ins.iter().any(|a| a.dtype != dt) {
        bail!("inputs must share one dtype");
    }
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != ins.len() {
        bail!(
            "equation '{eq}' names {} operands, {} given",
            terms.len(),
            ins.len()
        );
    }
    let labels: Vec<Vec<char>> = terms
        .iter()
        .zip(&ins)
        .map(|(t, a)| term_labels(t, a.rank()))
        .collect::<OpResult<_>>()?;
    // Size of every label (1 broadcasts in ellipsis dims).
    let mut size: Vec<(char, usize)> = Vec::new();
    for (ls, a) in labels.iter().zip(&ins) {
        for (&l, &d) in ls.iter().zip(&a.shape) {
            match size.iter_mut().find(|(k, _)| *k == l) {
                Some((_, s)) if *s == d || d == 1 && !l.is_ascii_alphabetic() => {}
                Some((_, s)) if *s == 1 && !l.is_ascii_alphabetic() => *s = d,
                Some((_, s)) => bail!("label '{l}' has sizes {s} and {d}"),
                None => size.push((l, d)),
            }
        }
    }
    let max_ell = labels
        .iter()
        .map(|ls| ls.iter().filter(|l| !l.is_ascii_alphabetic()).count())
        .max()
        .unwrap_or(0);
    let ell: Vec<char> = (0..max_ell).rev().map(ellipsis_label).collect();
    let out: Vec<char> = match rhs {
        Some(r) => {
            let parts: Vec<&str> = r.split("...").collect();
            if parts.len() > 2 {
                bail!("output '{r}' has more than one ellipsis");
            }
            let mut o: Vec<char> = parts[0].chars().collect();
            if parts.len() == 2 {
                o.extend(&ell);
                o.extend(parts[1].chars());
            }
            for &l in &o {
                if !size.iter().any(|(k, _)| *k == l) {
                    bail!("output label '{l}' is not in any input");
                }
            }
            o
        }
        None => {
            let mut once: Vec<char> = size
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| k.is_ascii_alphabetic())
                .filter(|k| labels.iter().flatten().filter(|l| *l == k).count() == 1)
                .collect();
            once.sort_unstable();
            let mut o = ell.clone();
            o.extend(once);
            o
        }
    };
    let sz = |l: char| size.iter().find(|(k, _)| *k == l).map_or(1, |(_, s)| *s);
    let mut all: Vec<char> = out.clone();
    for (k, _) in &size {
        if !all.contains(k) {
            all.push(*k);
        }
    }
    let dims: Vec<usize> = all.iter().map(|&l| sz(l)).collect();
    let out_shape: Vec<usize> = out.iter().map(|&l| sz(l)).collect();
    let n_out = checked_numel(&out_shape)?;
    let n_sum: usize = dims[out.len()..].iter().product();
    checked_numel(&[n_out, n_sum.max(1)])?;
    // For each operand and each position in `all`, its stride (0 if absent or broadcast).
    let strides: Vec<Vec<usize>> = labels
        .iter()
        .zip(&ins)
        .map(|(ls, a)| {
            let st = crate::index::strides(&a.shape);
            all.iter()
                .map(|&l| {
                    ls.iter()
                        .enumerate()
                        .filter(|(i, k)| **k == l && (a.shape[*i] != 1 || sz(l) == 1))
                        .map(|(i, _)| st[i])
                        .sum()
                })
                .collect()
        })
        .collect();
    let vals: Vec<Vec<f64>> = ins.iter().map(|a| a.to_f64()).collect();
    let int = !ins[0].is_float();
    let mut y = vec![0.0; n_out];
    let mut yi = vec![0i64; n_out];
    let mut counter = vec![0usize; all.len()];
    let total = n_out * n_sum;
    for flat in 0..total {
        let mut rest = flat;
        for p in (0..all.len()).rev() {
            counter[p] = rest % dims[p];
            rest /= dims[p];
        }
        let o = flat / n_sum.max(1);
        if int {
            let mut prod: i64 = 1;
            for (k, a) in ins.iter().enumerate() {
                let off: usize = counter.iter().zip(&strides[k]).map(|(c, s)| c * s).sum();
                if let Buf::I(v) = &a.buf {
                    prod = prod.wrapping_mul(v[off]);
                }
            }
            yi[o] = yi[o].wrapping_add(prod);
        } else {
            let mut prod = 1.0;
            for (k, v) in vals.iter().enumerate() {
                let off: usize = counter.iter().zip(&strides[k]).map(|(c, s)| c * s).sum();
                prod *= v[off];
            }
            y[o] += prod;
        }
    }
    Ok(if int {
        Arr::ints(dt, out_shape, yi)
    } else {
        Arr::floats(dt, out_shape, y)
    })
}
