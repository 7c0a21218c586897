//! `Attention` (opsets 23-25): scaled dot-product attention over 3-D (`B x S x H*D`, with
//! `q_num_heads` / `kv_num_heads`) or 4-D (`B x H x S x D`) inputs, with the KV cache
//! (`past_key` / `past_value` → `present_*`), grouped-query heads, additive or boolean masks,
//! offset-aligned causal masking, sliding windows, `nonpad_kv_seqlen`, `softcap`,
//! `softmax_precision` and the four `qk_matmul_output_mode`s.
//!
//! Values are rounded to the input dtype where the op's function body holds a tensor of
//! that dtype: the scaled Q and K, the QK product, the biased logits and the probabilities.

use crate::arr::{round_float, Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::broadcast_index;
use lnopt_ir::DType;

/// A `B x H x S x D` view as f64.
struct Heads {
    b: usize,
    h: usize,
    s: usize,
    d: usize,
    v: Vec<f64>,
}

impl Heads {
    fn at(&self, b: usize, h: usize, s: usize, d: usize) -> f64 {
        self.v[((b * self.h + h) * self.s + s) * self.d + d]
    }
}

/// Reads Q, K or V as heads: 4-D as is, 3-D `B x S x (H*D)` split into `heads`.
fn heads(a: &Arr, heads: Option<i64>, what: &str) -> OpResult<Heads> {
    let v = a.float_values(what)?.to_vec();
    match a.rank() {
        4 => Ok(Heads {
            b: a.shape[0],
            h: a.shape[1],
            s: a.shape[2],
            d: a.shape[3],
            v,
        }),
        3 => {
            let h = match heads {
                Some(h) if h > 0 && a.shape[2].is_multiple_of(h as usize) => h as usize,
                Some(h) => bail!(
                    "{what} hidden size {} is not divisible by {h} heads",
                    a.shape[2]
                ),
                None => bail!("3-D inputs need q_num_heads and kv_num_heads"),
            };
            let (b, s, d) = (a.shape[0], a.shape[1], a.shape[2] / h);
            let mut out = vec![0.0; v.len()];
            for bi in 0..b {
                for si in 0..s {
                    for hi in 0..h {
                        for di in 0..d {
                            out[((bi * h + hi) * s + si) * d + di] =
                                v[(bi * s + si) * h * d + hi * d + di];
                        }
                    }
                }
            }
            Ok(Heads { b, h, s, d, v: out })
        }
        r => bail!("{what} must be 3-D or 4-D, has rank {r}"),
    }
}

/// Concatenates a past cache and new keys/values along the sequence axis.
fn with_past(past: Option<&Arr>, new: Heads, what: &str) -> OpResult<Heads> {
    let Some(p) = past else { return Ok(new) };
    if p.rank() != 4 || p.shape[0] != new.b || p.shape[1] != new.h || p.shape[3] != new.d {
        bail!(
            "{what} {:?} does not match [{}, {}, *, {}]",
            p.shape,
            new.b,
            new.h,
            new.d
        );
    }
    let pv = p.float_values(what)?;
    let ps = p.shape[2];
    let s = ps + new.s;
    let mut v = Vec::with_capacity(new.b * new.h * s * new.d);
    for bh in 0..new.b * new.h {
        v.extend_from_slice(&pv[bh * ps * new.d..(bh + 1) * ps * new.d]);
        v.extend_from_slice(&new.v[bh * new.s * new.d..(bh + 1) * new.s * new.d]);
    }
    Ok(Heads { s, v, ..new })
}

/// Runs `Attention`.
pub(crate) fn attention(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let (qa, ka, va) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let t = qa.dtype;
    if qa.rank() != ka.rank() || qa.rank() != va.rank() {
        bail!("Q, K and V must have the same rank");
    }
    let qh = c.opt_int("q_num_heads")?;
    let kvh = c.opt_int("kv_num_heads")?;
    if qa.rank() == 4 && c.opset >= 25 && (qh.is_some() || kvh.is_some()) {
        bail!("q_num_heads and kv_num_heads must not be set for 4-D inputs");
    }
    let q = heads(qa, qh, "Q")?;
    let k = heads(ka, kvh, "K")?;
    let v = heads(va, kvh, "V")?;
    if k.b != q.b || v.b != q.b || k.h != v.h || k.s != v.s || k.d != q.d {
        bail!("Q, K and V shapes do not fit together");
    }
    let (past_k, past_v) = (c.opt_input(4), c.opt_input(5));
    if past_k.is_some() != past_v.is_some() {
        bail!("past_key and past_value must be given together");
    }
    let nonpad = match c.opt_input(6) {
        Some(n) => {
            if past_k.is_some() {
                bail!("nonpad_kv_seqlen cannot be combined with past_key / past_value");
            }
            let nv = n.int_values("nonpad_kv_seqlen")?.to_vec();
            if nv.len() != q.b {
                bail!("nonpad_kv_seqlen must have {} entries", q.b);
            }
            Some(nv)
        }
        None => None,
    };
    let past_len = past_k.map_or(0, |p| p.shape.get(2).copied().unwrap_or(0));
    let k = with_past(past_k, k, "past_key")?;
    let v = with_past(past_v, v, "past_value")?;
    let (b, hq, sq, sk) = (q.b, q.h, q.s, k.s);
    if !hq.is_multiple_of(k.h) {
        bail!(
            "{hq} query heads are not a multiple of {} key/value heads",
            k.h
        );
    }
    let reps = hq / k.h;
    // Scale Q and K by sqrt(scale), each a tensor of T.
    let scale = match c.node.attr_float("scale")? {
        Some(s) => s as f64,
        None => 1.0 / (q.d as f64).sqrt(),
    };
    let sc = round_float(t, scale.sqrt());
    let softcap = c.float("softcap", 0.0)? as f64;
    let mode = c.int("qk_matmul_output_mode", 0)?;
    if !(0..=3).contains(&mode) {
        bail!("qk_matmul_output_mode {mode} is not defined");
    }
    if mode == 0 && softcap > 0.0 && c.n_outputs > 3 {
        bail!("qk_matmul_output with mode 0 and softcap: the spec (raw product) and the reference implementation (soft-capped) disagree");
    }
    let smx = match c.opt_int("softmax_precision")? {
        Some(code) => {
            let dt = DType::from_onnx(code as i32);
            if !matches!(dt, DType::F32 | DType::F16 | DType::F64 | DType::BF16) {
                bail!("softmax_precision {code} is not a supported float type");
            }
            dt
        }
        None => t,
    };
    let bias = attn_bias(c, b, hq, sq, sk, past_len, nonpad.as_deref())?;
    let mut y = vec![0.0; b * hq * sq * v.d];
    let mut qk_out = vec![0.0; b * hq * sq * sk];
    let mut logits = vec![0.0; sk];
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / reps;
            for i in 0..sq {
                let row = ((bi * hq + h) * sq + i) * sk;
                for (j, l) in logits.iter_mut().enumerate() {
                    let mut s = 0.0;
                    for d in 0..q.d {
                        s += round_float(t, q.at(bi, h, i, d) * sc)
                            * round_float(t, k.at(bi, kh, j, d) * sc);
                    }
                    let raw = round_float(t, s);
                    let capped = if softcap > 0.0 {
                        round_float(t, softcap * round_float(t, (raw / softcap).tanh()))
                    } else {
                        raw
                    };
                    let biased = round_float(t, capped + bias[row + j]);
                    qk_out[row + j] = match mode {
                        0 => raw,
                        1 => capped,
                        _ => biased,
                    };
                    *l = round_float(smx, biased);
                }
                let probs = softmax_row(&logits, smx);
                let masked = bias[row..row + sk].iter().all(|&x| x == f64::NEG_INFINITY);
                for j in 0..sk {
                    let p = if masked {
                        0.0
                    } else {
                        round_float(t, probs[j])
                    };
                    if mode == 3 {
                        qk_out[row + j] = p;
                    }
                    logits[j] = p;
                }
                for d in 0..v.d {
                    let mut s = 0.0;
                    for (j, &p) in logits.iter().enumerate() {
                        s += p * v.at(bi, kh, j, d);
                    }
                    y[((bi * hq + h) * sq + i) * v.d + d] = s;
                }
            }
        }
    }
    let y = if qa.rank() == 3 {
        let mut out = vec![0.0; y.len()];
        for bi in 0..b {
            for h in 0..hq {
                for i in 0..sq {
                    for d in 0..v.d {
                        out[(bi * sq + i) * hq * v.d + h * v.d + d] =
                            y[((bi * hq + h) * sq + i) * v.d + d];
                    }
                }
            }
        }
        Arr::floats(t, vec![b, sq, hq * v.d], out)
    } else {
        Arr::floats(t, vec![b, hq, sq, v.d], y)
    };
    let mut outs = vec![y];
    if c.n_outputs > 1 {
        outs.push(Arr::floats(ka.dtype, vec![b, k.h, sk, k.d], k.v));
    }
    if c.n_outputs > 2 {
        outs.push(Arr::floats(va.dtype, vec![b, v.h, sk, v.d], v.v));
    }
    if c.n_outputs > 3 {
        outs.push(Arr::floats(t, vec![b, hq, sq, sk], qk_out));
    }
    Ok(outs)
}

/// Softmax of one row in the precision `dt`; an all `-inf` row gives zeros, a NaN anywhere
/// gives NaNs.
fn softmax_row(x: &[f64], dt: DType) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, |a, b| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        }
    });
    let m = if m == f64::NEG_INFINITY { 0.0 } else { m };
    let e: Vec<f64> = x.iter().map(|&v| round_float(dt, (v - m).exp())).collect();
    let s = e.iter().sum::<f64>();
    let s = if s == 0.0 { 1.0 } else { round_float(dt, s) };
    e.iter().map(|&v| round_float(dt, v / s)).collect()
}

/// The additive bias `B x Hq x Sq x Sk`: the mask (padded to Sk with -inf / false, boolean
/// turned into 0 / -inf), the causal and window constraints and the non-pad lengths.
fn attn_bias(
    c: &Call<'_>,
    b: usize,
    hq: usize,
    sq: usize,
    sk: usize,
    past_len: usize,
    nonpad: Option<&[i64]>,
) -> OpResult<Vec<f64>> {
    let full = [b, hq, sq, sk];
    let mut bias = vec![0.0; b * hq * sq * sk];
    if let Some(m) = c.opt_input(3) {
        if m.rank() == 0 || m.rank() > 4 {
            bail!("attn_mask must have rank 1 to 4, has {:?}", m.shape);
        }
        let last = m.shape[m.rank() - 1];
        if last > sk {
            bail!("attn_mask's last dim {last} exceeds the key length {sk}");
        }
        let mut padded_shape = m.shape.clone();
        *padded_shape.last_mut().unwrap_or(&mut 0) = sk;
        let mv: Vec<f64> = match &m.buf {
            Buf::I(v) if m.dtype == DType::Bool => v
                .iter()
                .map(|&x| if x != 0 { 0.0 } else { f64::NEG_INFINITY })
                .collect(),
            Buf::F(v) => v.clone(),
            Buf::I(_) | Buf::S(_) => bail!("attn_mask must be bool or float, got {}", m.dtype),
        };
        let idx = broadcast_index(&padded_shape, &full)
            .map_err(|_| format!("attn_mask {:?} does not broadcast to {full:?}", m.shape))?;
        for (at, &src) in idx.iter().enumerate() {
            let (row, j) = (src / sk, src % sk);
            bias[at] = if j < last {
                mv[row * last + j]
            } else {
                f64::NEG_INFINITY
            };
        }
    }
    let causal = c.int("is_causal", 0)? != 0;
    let left = c.int("left_window_size", -1)?;
    let right = c.int("right_window_size", -1)?;
    if left < -1 || right < -1 {
        bail!("window sizes must be -1 or nonnegative");
    }
    for bi in 0..b {
        let offset = match nonpad {
            Some(n) => n[bi] - sq as i64,
            None => past_len as i64,
        };
        for h in 0..hq {
            for i in 0..sq {
                for j in 0..sk {
                    let diff = i as i64 + offset - j as i64;
                    let mut allowed = !causal || diff >= 0;
                    allowed &= left < 0 || diff <= left;
                    allowed &= right < 0 || -diff <= right;
                    if let Some(n) = nonpad {
                        allowed &= (j as i64) < n[bi];
                    }
                    if !allowed {
                        bias[((bi * hq + h) * sq + i) * sk + j] += f64::NEG_INFINITY;
                    }
                }
            }
        }
    }
    Ok(bias)
}
