//! Signal processing: `DFT` (opsets 17 and 20: forward, inverse, one-sided, inverse
//! one-sided = irfft, `dft_length`), `STFT`, the Hann / Hamming / Blackman windows and
//! `MelWeightMatrix`. Transforms are direct sums in f64.

use crate::arr::{checked_numel, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::norm_axis;
use lnopt_ir::DType;
use std::f64::consts::PI;

/// The `output_datatype` attribute (default float).
fn out_dtype(c: &Call<'_>) -> OpResult<DType> {
    let dt = DType::from_onnx(c.int("output_datatype", 1)? as i32);
    if !(dt.is_float() || dt.is_int()) {
        bail!("output_datatype {dt} is not supported");
    }
    Ok(dt)
}

/// `HannWindow`, `HammingWindow` or `BlackmanWindow` of the scalar length input.
pub(crate) fn window(c: &Call<'_>, op: &str) -> OpResult<Arr> {
    let size = c.input(0)?.scalar_i64("size")?;
    if !(0..=1 << 24).contains(&size) {
        bail!("window size {size} is out of range");
    }
    let n = size as usize;
    let periodic = c.int("periodic", 1)? != 0;
    let denom = if periodic { n as f64 } else { n as f64 - 1.0 };
    let v = (0..n)
        .map(|i| {
            let a = 2.0 * PI * i as f64 / denom;
            match op {
                "HannWindow" => 0.5 - 0.5 * a.cos(),
                "HammingWindow" => 25.0 / 46.0 - (1.0 - 25.0 / 46.0) * a.cos(),
                _ => 0.42 - 0.5 * a.cos() + 0.08 * (2.0 * a).cos(),
            }
        })
        .collect();
    Ok(Arr::from_f64(out_dtype(c)?, vec![n], v))
}

/// A complex signal: `(re, im)` pairs.
type Complex = Vec<(f64, f64)>;

/// Direct DFT of `x` at length `len` (zero-padded / truncated), `sign` -1 forward, +1
/// inverse (unscaled); `bins` output bins.
fn dft1(x: &[(f64, f64)], len: usize, bins: usize, sign: f64) -> Complex {
    (0..bins)
        .map(|k| {
            let mut acc = (0.0, 0.0);
            for (t, &(re, im)) in x.iter().take(len).enumerate() {
                let ang = sign * 2.0 * PI * ((k * t) % len) as f64 / len as f64;
                let (s, co) = ang.sin_cos();
                acc.0 += re * co - im * s;
                acc.1 += re * s + im * co;
            }
            acc
        })
        .collect()
}

/// `DFT`.
pub(crate) fn dft(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("input")?;
    let r = x.rank();
    if r < 2 || !(x.shape[r - 1] == 1 || x.shape[r - 1] == 2) {
        bail!(
            "input must end in a dim of 1 (real) or 2 (complex), got {:?}",
            x.shape
        );
    }
    let axis = if c.opset >= 20 {
        match c.opt_input(2) {
            Some(a) => a.scalar_i64("axis")?,
            None => -2,
        }
    } else {
        c.int("axis", 1)?
    };
    let a = norm_axis(axis, r)?;
    if a == r - 1 {
        bail!("axis {axis} names the real/imaginary dim");
    }
    let inverse = c.int("inverse", 0)? != 0;
    let onesided = c.int("onesided", 0)? != 0;
    let n_in = x.shape[a];
    let len = match c.opt_input(1).filter(|l| l.len() > 0) {
        Some(l) => {
            let l = l.scalar_i64("dft_length")?;
            if !(1..=1 << 20).contains(&l) {
                bail!("dft_length {l} is out of range");
            }
            l as usize
        }
        None if inverse && onesided => 2 * n_in.max(1) - 2,
        None => n_in,
    };
    if len == 0 {
        bail!("the DFT length is zero");
    }
    let comp = x.shape[r - 1];
    let outer: usize = x.shape[..a].iter().product();
    let inner: usize = x.shape[a + 1..r - 1].iter().product();
    let (bins, out_comp) = match (inverse, onesided) {
        (false, true) => (len / 2 + 1, 2),
        (true, true) => (len, 1),
        _ => (len, 2),
    };
    let mut shape = x.shape.clone();
    shape[a] = bins;
    shape[r - 1] = out_comp;
    let mut y = vec![0.0; checked_numel(&shape)?];
    for o in 0..outer {
        for i in 0..inner {
            let sig: Complex = (0..n_in)
                .map(|t| {
                    let base = ((o * n_in + t) * inner + i) * comp;
                    (xv[base], if comp == 2 { xv[base + 1] } else { 0.0 })
                })
                .collect();
            let res: Complex = if inverse && onesided {
                // Hermitian completion of the first len/2 + 1 bins (irfft).
                let half = len / 2 + 1;
                let mut full = vec![(0.0, 0.0); len];
                let m = half.min(sig.len());
                full[..m].copy_from_slice(&sig[..m]);
                full[0].1 = 0.0;
                if len.is_multiple_of(2) {
                    full[len / 2].1 = 0.0;
                }
                for k in 1..len.div_ceil(2) {
                    full[len - k] = (full[k].0, -full[k].1);
                }
                dft1(&full, len, len, 1.0)
            } else {
                dft1(&sig, len, bins, if inverse { 1.0 } else { -1.0 })
            };
            let scale = if inverse { 1.0 / len as f64 } else { 1.0 };
            for (k, &(re, im)) in res.iter().enumerate() {
                let base = ((o * bins + k) * inner + i) * out_comp;
                y[base] = re * scale;
                if out_comp == 2 {
                    y[base + 1] = im * scale;
                }
            }
        }
    }
    Ok(Arr::floats(x.dtype, shape, y))
}

/// `STFT`: frames of `frame_length` every `frame_step` samples, windowed, transformed.
pub(crate) fn stft(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("signal")?;
    if x.rank() != 3 || !(x.shape[2] == 1 || x.shape[2] == 2) {
        bail!("signal must be [batch, length, 1 or 2], got {:?}", x.shape);
    }
    let (b, n, comp) = (x.shape[0], x.shape[1], x.shape[2]);
    let step = c.input(1)?.scalar_i64("frame_step")?;
    let window = c.opt_input(2).filter(|w| w.len() > 0).map(|w| w.to_f64());
    let flen = match (c.opt_input(3).filter(|l| l.len() > 0), &window) {
        (Some(l), _) => l.scalar_i64("frame_length")?,
        (None, Some(w)) => w.len() as i64,
        (None, None) => bail!("one of window and frame_length is required"),
    };
    if step < 1 || flen < 1 || flen as usize > n {
        bail!("frame_step {step} / frame_length {flen} do not fit a signal of {n}");
    }
    let (step, flen) = (step as usize, flen as usize);
    if window.as_ref().is_some_and(|w| w.len() != flen) {
        bail!("window length differs from frame_length {flen}");
    }
    let onesided = c.int("onesided", 1)? != 0;
    if onesided && comp == 2 {
        bail!("onesided is defined for real signals only");
    }
    let frames = 1 + (n - flen) / step;
    let bins = if onesided { flen / 2 + 1 } else { flen };
    let shape = vec![b, frames, bins, 2];
    let mut y = vec![0.0; checked_numel(&shape)?];
    for bi in 0..b {
        for f in 0..frames {
            let sig: Complex = (0..flen)
                .map(|t| {
                    let w = window.as_ref().map_or(1.0, |w| w[t]);
                    let base = (bi * n + f * step + t) * comp;
                    (xv[base] * w, if comp == 2 { xv[base + 1] * w } else { 0.0 })
                })
                .collect();
            for (k, &(re, im)) in dft1(&sig, flen, bins, -1.0).iter().enumerate() {
                let base = ((bi * frames + f) * bins + k) * 2;
                y[base] = re;
                y[base + 1] = im;
            }
        }
    }
    Ok(Arr::floats(x.dtype, shape, y))
}

/// `MelWeightMatrix`: `[dft_length / 2 + 1, num_mel_bins]` triangular filters, as the
/// onnx reference builds them (mel points spaced by (high - low) / (bins + 2), rounded
/// down to DFT bins).
pub(crate) fn mel_weight_matrix(c: &Call<'_>) -> OpResult<Arr> {
    let mels = c.input(0)?.scalar_i64("num_mel_bins")?;
    let dft_len = c.input(1)?.scalar_i64("dft_length")?;
    let rate = c.input(2)?.scalar_i64("sample_rate")?;
    let lo = c.input(3)?.scalar_f64("lower_edge_hertz")?;
    let hi = c.input(4)?.scalar_f64("upper_edge_hertz")?;
    if !(1..=1 << 16).contains(&mels) || !(1..=1 << 20).contains(&dft_len) || rate < 1 {
        bail!("num_mel_bins {mels}, dft_length {dft_len}, sample_rate {rate} out of range");
    }
    let (mels, dft_len) = (mels as usize, dft_len as usize);
    let spec_bins = dft_len / 2 + 1;
    let to_mel = |hz: f64| 2595.0 * (hz / 700.0).ln_1p() / 10f64.ln();
    let (lm, hm) = (to_mel(lo), to_mel(hi));
    let step = (hm - lm) / (mels + 2) as f64;
    let mut points = Vec::with_capacity(mels + 2);
    for i in 0..mels + 2 {
        let hz = 700.0 * ((i as f64 * step + lm) / 2595.0 * 10f64.ln()).exp_m1();
        let bin = ((dft_len + 1) as f64 * hz / rate as f64).floor();
        if !(0.0..spec_bins as f64).contains(&bin) {
            bail!("mel point {hz} Hz falls outside the {spec_bins} spectrogram bins");
        }
        points.push(bin as usize);
    }
    let mut y = vec![0.0; spec_bins * mels];
    for i in 0..mels {
        let (l, ce, h) = (points[i], points[i + 1], points[i + 2]);
        if ce == l {
            y[ce * mels + i] = 1.0;
        } else {
            for j in l..=ce {
                y[j * mels + i] = (j - l) as f64 / (ce - l) as f64;
            }
        }
        for j in ce..h {
            y[j * mels + i] = (h - j) as f64 / (h - ce) as f64;
        }
    }
    Ok(Arr::from_f64(out_dtype(c)?, vec![spec_bins, mels], y))
}
