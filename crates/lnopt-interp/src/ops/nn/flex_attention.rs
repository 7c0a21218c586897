//! `FlexAttention` (`ai.onnx.preview` 1): attention over `B x H x S x D` inputs whose
//! scores and probabilities may be rewritten by the `score_mod` / `prob_mod` graphs (run by
//! the executor through a callback). Softmax runs in `softmax_precision`, by default f32 for
//! 16-bit inputs and the input dtype otherwise.

use crate::arr::{round_float, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::{AttrValue, DType, Graph};

/// Runs one attribute graph on one tensor, returning its single output.
pub(crate) type ModRunner<'r> = dyn FnMut(&Graph, Arr) -> OpResult<Arr> + 'r;

/// The graph attribute `name`, if present.
fn graph_attr<'a>(c: &'a Call<'_>, name: &str) -> OpResult<Option<&'a Graph>> {
    match c.node.attr(name) {
        None => Ok(None),
        Some(AttrValue::Graph(g)) => Ok(Some(g)),
        Some(other) => bail!(
            "attribute '{name}' must be GRAPH, found {}",
            other.type_name()
        ),
    }
}

/// Runs `FlexAttention`.
pub(crate) fn flex_attention(c: &Call<'_>, run_mod: &mut ModRunner<'_>) -> OpResult<Vec<Arr>> {
    let (q, k, v) = (c.input(0)?, c.input(1)?, c.input(2)?);
    if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
        bail!("Q, K and V must be 4-D");
    }
    let (b, hq, l, e) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
    let (hk, s, dv) = (k.shape[1], k.shape[2], v.shape[3]);
    if k.shape[0] != b || v.shape[0] != b || k.shape[3] != e || v.shape[1] != hk || v.shape[2] != s
    {
        bail!(
            "Q {:?}, K {:?}, V {:?} do not fit together",
            q.shape,
            k.shape,
            v.shape
        );
    }
    if hk == 0 || !hq.is_multiple_of(hk) {
        bail!("{hq} query heads are not a multiple of {hk} key/value heads");
    }
    let reps = hq / hk;
    let t = q.dtype;
    let smx = match c.opt_int("softmax_precision")? {
        Some(code) => {
            let dt = DType::from_onnx(code as i32);
            if !matches!(dt, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
                bail!("softmax_precision {code} is not supported");
            }
            dt
        }
        None if matches!(t, DType::F16 | DType::BF16) => DType::F32,
        None => t,
    };
    let scale = match c.node.attr_float("scale")? {
        Some(s) => s,
        None => 1.0 / (e as f32).sqrt(),
    };
    let sc = round_float(t, (scale.sqrt()) as f64);
    let (qv, kv, vv) = (q.to_f64(), k.to_f64(), v.to_f64());
    let mut scores = vec![0.0; b * hq * l * s];
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / reps;
            for i in 0..l {
                for j in 0..s {
                    let mut acc = 0.0;
                    for d in 0..e {
                        acc += round_float(t, qv[((bi * hq + h) * l + i) * e + d] * sc)
                            * round_float(t, kv[((bi * hk + kh) * s + j) * e + d] * sc);
                    }
                    scores[((bi * hq + h) * l + i) * s + j] = round_float(smx, round_float(t, acc));
                }
            }
        }
    }
    let mut scores = Arr::floats(smx, vec![b, hq, l, s], scores);
    let check = |a: Arr, what: &str| -> OpResult<Arr> {
        if a.shape != [b, hq, l, s] || !a.is_float() {
            bail!(
                "{what} returned {:?} ({}), expected [{b}, {hq}, {l}, {s}] floats",
                a.shape,
                a.dtype
            );
        }
        Ok(Arr::floats(smx, a.shape.clone(), a.to_f64()))
    };
    if let Some(g) = graph_attr(c, "score_mod")? {
        scores = check(run_mod(g, scores)?, "score_mod")?;
    }
    let sv = scores.to_f64();
    let mut probs = vec![0.0; sv.len()];
    for row in 0..b * hq * l {
        let r = &sv[row * s..(row + 1) * s];
        let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ex: Vec<f64> = r.iter().map(|&x| round_float(smx, (x - m).exp())).collect();
        let sum = round_float(smx, ex.iter().sum::<f64>());
        for j in 0..s {
            probs[row * s + j] = round_float(smx, ex[j] / sum);
        }
    }
    let mut probs = Arr::floats(smx, vec![b, hq, l, s], probs);
    if let Some(g) = graph_attr(c, "prob_mod")? {
        probs = check(run_mod(g, probs)?, "prob_mod")?;
    }
    let pv = probs.to_f64();
    let mut y = vec![0.0; b * hq * l * dv];
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / reps;
            for i in 0..l {
                for d in 0..dv {
                    let mut acc = 0.0;
                    for j in 0..s {
                        acc += pv[((bi * hq + h) * l + i) * s + j]
                            * round_float(smx, vv[((bi * hk + kh) * s + j) * dv + d]);
                    }
                    y[((bi * hq + h) * l + i) * dv + d] = acc;
                }
            }
        }
    }
    Ok(vec![Arr::floats(v.dtype, vec![b, hq, l, dv], y)])
}
