//! `LinearAttention`: recurrent linear attention over `[B, T, H*D]` inputs with a
//! `[B, H_kv, d_k, d_v]` state, update rules linear / gated (decay) / delta (beta) /
//! gated_delta, grouped query heads and `scale`. The state is carried in f32, as the op
//! defines it.

use crate::arr::{round_float, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::DType;

/// A `[B, T, H*D]` input as `[B][H][T][D]`.
fn heads(a: &Arr, h: usize, what: &str) -> OpResult<(usize, Vec<f64>)> {
    if a.rank() != 3 || !a.shape[2].is_multiple_of(h) {
        bail!("{what} {:?} must be [B, T, H*D] with {h} heads", a.shape);
    }
    let (b, t, d) = (a.shape[0], a.shape[1], a.shape[2] / h);
    let v = a.to_f64();
    let mut o = vec![0.0; v.len()];
    for bi in 0..b {
        for ti in 0..t {
            for hi in 0..h {
                for di in 0..d {
                    o[((bi * h + hi) * t + ti) * d + di] =
                        round_float(DType::F32, v[((bi * t + ti) * h + hi) * d + di]);
                }
            }
        }
    }
    Ok((d, o))
}

/// Runs `LinearAttention`; outputs `[Y, present_state]`.
pub(crate) fn linear_attention(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let (q, k, v) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let rule = c.string("update_rule", "gated_delta")?;
    let (gating, delta) = match rule.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        r => bail!("unknown update_rule '{r}'"),
    };
    let hq = c.opt_int("q_num_heads")?.ok_or("q_num_heads is required")?;
    let hk = c
        .opt_int("kv_num_heads")?
        .ok_or("kv_num_heads is required")?;
    if hq <= 0 || hk <= 0 || hq % hk != 0 {
        bail!("q_num_heads {hq} must be a positive multiple of kv_num_heads {hk}");
    }
    let (hq, hk) = (hq as usize, hk as usize);
    let (decay, beta) = (c.opt_input(4), c.opt_input(5));
    if gating != decay.is_some() || delta != beta.is_some() {
        bail!("update_rule '{rule}' needs decay iff gated and beta iff delta");
    }
    let (dk, qv) = heads(q, hq, "query")?;
    let (dk2, kv) = heads(k, hk, "key")?;
    let (dv, vv) = heads(v, hk, "value")?;
    let (b, t) = (q.shape[0], q.shape[1]);
    if dk2 != dk || k.shape[..2] != q.shape[..2] || v.shape[..2] != q.shape[..2] {
        bail!("query, key and value shapes do not fit together");
    }
    let f32r = |x: f64| round_float(DType::F32, x);
    // decay per (b, h, t, d_k-or-1), beta per (b, h-or-1, t).
    let decay = match decay {
        Some(d)
            if d.rank() == 3
                && d.shape[..2] == [b, t]
                && (d.shape[2] == hk || d.shape[2] == hk * dk) =>
        {
            Some((d.shape[2] / hk, d.to_f64()))
        }
        Some(d) => bail!(
            "decay {:?} must be [{b}, {t}, {hk} or {}]",
            d.shape,
            hk * dk
        ),
        None => None,
    };
    let beta = match beta {
        Some(be)
            if be.rank() == 3
                && be.shape[..2] == [b, t]
                && (be.shape[2] == hk || be.shape[2] == 1) =>
        {
            Some((be.shape[2], be.to_f64()))
        }
        Some(be) => bail!("beta {:?} must be [{b}, {t}, {hk} or 1]", be.shape),
        None => None,
    };
    let (state_dt, mut state) = match c.opt_input(3) {
        Some(p) if p.shape == [b, hk, dk, dv] => {
            (p.dtype, p.to_f64().into_iter().map(f32r).collect())
        }
        Some(p) => bail!("past_state {:?} must be [{b}, {hk}, {dk}, {dv}]", p.shape),
        None => (q.dtype, vec![0.0; b * hk * dk * dv]),
    };
    let scale = match c.node.attr_float("scale")? {
        Some(s) if s != 0.0 => s as f64,
        _ => 1.0 / (dk as f64).sqrt(),
    };
    let group = hq / hk;
    let mut y = vec![0.0; b * t * hq * dv];
    for bi in 0..b {
        for ti in 0..t {
            for h in 0..hk {
                let st = &mut state[(bi * hk + h) * dk * dv..(bi * hk + h + 1) * dk * dv];
                let kt = &kv[((bi * hk + h) * t + ti) * dk..((bi * hk + h) * t + ti + 1) * dk];
                let mut vt: Vec<f64> =
                    vv[((bi * hk + h) * t + ti) * dv..((bi * hk + h) * t + ti + 1) * dv].to_vec();
                if let Some((per, dvals)) = &decay {
                    for i in 0..dk {
                        let g = f32r(
                            dvals[(bi * t + ti) * hk * per
                                + h * per
                                + if *per == 1 { 0 } else { i }],
                        );
                        let e = f32r(g.exp());
                        for j in 0..dv {
                            st[i * dv + j] = f32r(st[i * dv + j] * e);
                        }
                    }
                }
                if let Some((per, bvals)) = &beta {
                    let be = f32r(bvals[(bi * t + ti) * per + if *per == 1 { 0 } else { h }]);
                    for (j, vj) in vt.iter_mut().enumerate() {
                        let r = f32r((0..dk).map(|i| st[i * dv + j] * kt[i]).sum::<f64>());
                        *vj = f32r(be * f32r(*vj - r));
                    }
                }
                for i in 0..dk {
                    for j in 0..dv {
                        st[i * dv + j] = f32r(st[i * dv + j] + f32r(kt[i] * vt[j]));
                    }
                }
                for g in 0..group {
                    let qh = h * group + g;
                    let qt =
                        &qv[((bi * hq + qh) * t + ti) * dk..((bi * hq + qh) * t + ti + 1) * dk];
                    for j in 0..dv {
                        let s = f32r((0..dk).map(|i| qt[i] * st[i * dv + j]).sum::<f64>());
                        y[((bi * t + ti) * hq + qh) * dv + j] = f32r(scale * s);
                    }
                }
            }
        }
    }
    let mut outs = vec![Arr::floats(q.dtype, vec![b, t, hq * dv], y)];
    if c.n_outputs > 1 {
        outs.push(Arr::floats(state_dt, vec![b, hk, dk, dv], state));
    }
    Ok(outs)
}
