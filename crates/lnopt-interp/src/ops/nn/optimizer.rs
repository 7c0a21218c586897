//! The training optimizers of `ai.onnx.preview.training`: Adagrad, Adam and Momentum
//! (standard and Nesterov), each updating one or more tensor groups from the scalar
//! learning rate R and step count T.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};

/// A required float attribute.
fn req(c: &Call<'_>, name: &str) -> OpResult<f64> {
    Ok(c.node
        .attr_float(name)?
        .ok_or(format!("attribute '{name}' is required"))? as f64)
}

/// Runs an optimizer: inputs `R, T, X..., G..., state...` with `states` state tensors per
/// group; outputs `X'..., state'...` in the same grouping.
pub(crate) fn optimizer(c: &Call<'_>, op: &str) -> OpResult<Vec<Arr>> {
    let r = c.input(0)?.scalar_f64("R")?;
    let t = c.input(1)?.scalar_i64("T")?;
    let states = if op == "Adam" { 2 } else { 1 };
    let ins = c.inputs.len();
    if ins < 2 + 2 + states || !(ins - 2).is_multiple_of(2 + states) {
        bail!("{ins} inputs do not form groups of X, G and {states} state tensor(s)");
    }
    let n = (ins - 2) / (2 + states);
    let mut out_x = Vec::with_capacity(n);
    let mut out_s: Vec<Vec<Arr>> = vec![Vec::with_capacity(n); states];
    for i in 0..n {
        let x = c.input(2 + i)?;
        let g = c.input(2 + n + i)?;
        let st: Vec<&Arr> = (0..states)
            .map(|s| c.input(2 + n * (2 + s) + i))
            .collect::<OpResult<_>>()?;
        if g.shape != x.shape || st.iter().any(|s| s.shape != x.shape) {
            bail!(
                "group {i}: X, G and the states must share X's shape {:?}",
                x.shape
            );
        }
        let (xv, gv) = (x.float_values("X")?, g.to_f64());
        let sv: Vec<Vec<f64>> = st.iter().map(|s| s.to_f64()).collect();
        let len = xv.len();
        let (mut nx, mut ns) = (vec![0.0; len], vec![vec![0.0; len]; states]);
        match op {
            "Adagrad" => {
                let decay = c.float("decay_factor", 0.0)? as f64;
                let eps = c.float("epsilon", 1e-6)? as f64;
                let norm = c.float("norm_coefficient", 0.0)? as f64;
                let rate = r / (1.0 + t as f64 * decay);
                for k in 0..len {
                    let gr = norm * xv[k] + gv[k];
                    let h = sv[0][k] + gr * gr;
                    ns[0][k] = h;
                    nx[k] = xv[k] - rate * gr / (h.sqrt() + eps);
                }
            }
            "Adam" => {
                let alpha = c.float("alpha", 0.9)? as f64;
                let beta = c.float("beta", 0.999)? as f64;
                let eps = c.float("epsilon", 1e-6)? as f64;
                let norm = c.float("norm_coefficient", 0.0)? as f64;
                let post = c.float("norm_coefficient_post", 0.0)? as f64;
                let rate = if t > 0 {
                    r * (1.0 - beta.powi(t as i32)).sqrt() / (1.0 - alpha.powi(t as i32))
                } else {
                    r
                };
                for k in 0..len {
                    let gr = norm * xv[k] + gv[k];
                    let v = alpha * sv[0][k] + (1.0 - alpha) * gr;
                    let h = beta * sv[1][k] + (1.0 - beta) * gr * gr;
                    ns[0][k] = v;
                    ns[1][k] = h;
                    nx[k] = (1.0 - post) * (xv[k] - rate * (v / (h.sqrt() + eps)));
                }
            }
            _ => {
                let alpha = req(c, "alpha")?;
                let beta = req(c, "beta")?;
                let norm = req(c, "norm_coefficient")?;
                let nesterov = match c.string("mode", "")?.as_str() {
                    "standard" => false,
                    "nesterov" => true,
                    m => bail!("mode must be standard or nesterov, got '{m}'"),
                };
                let b = if t > 0 { beta } else { 1.0 };
                for k in 0..len {
                    let gr = norm * xv[k] + gv[k];
                    let v = alpha * sv[0][k] + b * gr;
                    ns[0][k] = v;
                    nx[k] = if nesterov {
                        xv[k] - r * (gr + alpha * v)
                    } else {
                        xv[k] - r * v
                    };
                }
            }
        }
        out_x.push(Arr::floats(x.dtype, x.shape.clone(), nx));
        for (s, v) in ns.into_iter().enumerate() {
            out_s[s].push(Arr::floats(st[s].dtype, x.shape.clone(), v));
        }
    }
    let mut outs = out_x;
    outs.extend(out_s.into_iter().flatten());
    Ok(outs)
}
