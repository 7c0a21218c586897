//! Training losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (with its optional
//! log-probability output), with `reduction` (none / sum / mean), `ignore_index` and
//! per-class weights.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};

/// The negative log-likelihood of `logp` (`N x C x D` flattened, `d` = prod of trailing
/// dims) at the class indices `target` (`N x D`), weighted and reduced.
fn nll(
    c: &Call<'_>,
    logp: &[f64],
    shape: &[usize],
    target: &Arr,
    weight: Option<&Arr>,
) -> OpResult<(Vec<usize>, Vec<f64>)> {
    if shape.len() < 2 {
        bail!("input must be N x C x ..., got {shape:?}");
    }
    let (n, ch) = (shape[0], shape[1]);
    let d: usize = shape[2..].iter().product();
    let mut tshape = vec![n];
    tshape.extend(&shape[2..]);
    if target.shape != tshape {
        bail!("target {:?} must have shape {tshape:?}", target.shape);
    }
    let tv = target.int_values("target")?;
    let wv = match weight {
        Some(w) if w.shape == [ch] => Some(w.to_f64()),
        Some(w) => bail!("weight {:?} must have shape [{ch}]", w.shape),
        None => None,
    };
    let ignore = c.opt_int("ignore_index")?;
    let mut loss = vec![0.0; n * d];
    let mut wsum = 0.0;
    for b in 0..n {
        for i in 0..d {
            let t = tv[b * d + i];
            if Some(t) == ignore {
                continue;
            }
            let k = match usize::try_from(t) {
                Ok(k) if k < ch => k,
                _ => bail!("target {t} is outside [0, {ch})"),
            };
            let w = wv.as_ref().map_or(1.0, |w| w[k]);
            loss[b * d + i] = -logp[(b * ch + k) * d + i] * w;
            wsum += w;
        }
    }
    Ok(match c.string("reduction", "mean")?.as_str() {
        "none" => (tshape, loss),
        "sum" => (vec![], vec![loss.iter().sum()]),
        "mean" => (vec![], vec![loss.iter().sum::<f64>() / wsum]),
        r => bail!("unknown reduction '{r}'"),
    })
}

/// `NegativeLogLikelihoodLoss`.
pub(crate) fn nll_loss(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("input")?;
    let (shape, v) = nll(c, xv, &x.shape, c.input(1)?, c.opt_input(2))?;
    Ok(Arr::floats(x.dtype, shape, v))
}

/// `SoftmaxCrossEntropyLoss`: log-softmax over the class axis 1, then the NLL; outputs
/// `[loss]` or `[loss, log_prob]`.
pub(crate) fn softmax_cross_entropy(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let xv = x.float_values("scores")?;
    if x.rank() < 2 {
        bail!("scores must be N x C x ..., got {:?}", x.shape);
    }
    let (n, ch) = (x.shape[0], x.shape[1]);
    let d: usize = x.shape[2..].iter().product();
    let mut logp = vec![0.0; xv.len()];
    for b in 0..n {
        for i in 0..d {
            let at = |k: usize| (b * ch + k) * d + i;
            let m = (0..ch).map(|k| xv[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let lse = (0..ch).map(|k| (xv[at(k)] - m).exp()).sum::<f64>().ln() + m;
            for k in 0..ch {
                // The log-probabilities are a tensor of X's dtype before the NLL reads them.
                logp[at(k)] = crate::arr::round_float(x.dtype, xv[at(k)] - lse);
            }
        }
    }
    let (shape, v) = nll(c, &logp, &x.shape, c.input(1)?, c.opt_input(2))?;
    let mut outs = vec![Arr::floats(x.dtype, shape, v)];
    if c.n_outputs > 1 {
        outs.push(Arr::floats(x.dtype, x.shape.clone(), logp));
    }
    Ok(outs)
}
