//! Recurrent layers: `RNN`, `GRU` and `LSTM` (forward / reverse / bidirectional, both
//! layouts, `sequence_lens`, initial states, `clip`, custom activations with their alpha /
//! beta, GRU's `linear_before_reset`, LSTM's peepholes and `input_forget`).

use super::attrs::{floats, strings};
use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};

/// Which cell.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Cell {
    /// One gate: `H = f(X W + H R + b)`.
    Rnn,
    /// Update, reset and hidden gates.
    Gru,
    /// Input, output, forget and cell gates.
    Lstm,
}

/// An activation function with its parameters.
#[derive(Clone, Copy)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Affine(f64, f64),
    LeakyRelu(f64),
    ThresholdedRelu(f64),
    ScaledTanh(f64, f64),
    HardSigmoid(f64, f64),
    Elu(f64),
    Softsign,
    Softplus,
}

impl Act {
    fn apply(self, x: f64) -> f64 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Tanh => x.tanh(),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Affine(a, b) => a * x + b,
            Act::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => x.exp().ln_1p(),
        }
    }
}

/// Reads `activations` (with `activation_alpha` / `activation_beta` consumed in order by
/// the functions that take them), or the cell's defaults, for `dirs` directions.
fn activations(c: &Call<'_>, cell: Cell, dirs: usize) -> OpResult<Vec<Act>> {
    let per = match cell {
        Cell::Rnn => 1,
        Cell::Gru => 2,
        Cell::Lstm => 3,
    };
    let names = match strings(c, "activations")? {
        Some(v) => v,
        None => {
            let d: &[&str] = match cell {
                Cell::Rnn => &["Tanh"],
                Cell::Gru => &["Sigmoid", "Tanh"],
                Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            };
            d.iter()
                .cycle()
                .take(per * dirs)
                .map(|s| s.to_string())
                .collect()
        }
    };
    if names.len() != per * dirs {
        bail!("activations {names:?} must name {} functions", per * dirs);
    }
    let alphas = floats(c, "activation_alpha")?.unwrap_or_default();
    let betas = floats(c, "activation_beta")?.unwrap_or_default();
    let (mut ai, mut bi) = (0, 0);
    let next = |list: &[f32], i: &mut usize, default: Option<f64>, name: &str| -> OpResult<f64> {
        let v = match list.get(*i) {
            Some(&v) => v as f64,
            None => default.ok_or(format!("activation {name} needs its parameters"))?,
        };
        *i += 1;
        Ok(v)
    };
    let mut out = Vec::with_capacity(names.len());
    for n in &names {
        out.push(match n.to_ascii_lowercase().as_str() {
            "relu" => Act::Relu,
            "tanh" => Act::Tanh,
            "sigmoid" => Act::Sigmoid,
            "affine" => Act::Affine(
                next(&alphas, &mut ai, None, n)?,
                next(&betas, &mut bi, None, n)?,
            ),
            "leakyrelu" => Act::LeakyRelu(next(&alphas, &mut ai, Some(0.01), n)?),
            "thresholdedrelu" => Act::ThresholdedRelu(next(&alphas, &mut ai, Some(1.0), n)?),
            "scaledtanh" => Act::ScaledTanh(
                next(&alphas, &mut ai, None, n)?,
                next(&betas, &mut bi, None, n)?,
            ),
            "hardsigmoid" => Act::HardSigmoid(
                next(&alphas, &mut ai, Some(0.2), n)?,
                next(&betas, &mut bi, Some(0.5), n)?,
            ),
            "elu" => Act::Elu(next(&alphas, &mut ai, Some(1.0), n)?),
            "softsign" => Act::Softsign,
            "softplus" => Act::Softplus,
            _ => bail!("unknown activation '{n}'"),
        });
    }
    Ok(out)
}

/// Runs an RNN, GRU or LSTM node.
pub(crate) fn recurrent(c: &Call<'_>, cell: Cell) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let (w, r) = (c.input(1)?, c.input(2)?);
    let t = x.dtype;
    if !x.is_float() || x.rank() != 3 || w.rank() != 3 || r.rank() != 3 {
        bail!("X, W and R must be 3-D float tensors");
    }
    let layout = if c.opset >= 14 {
        c.int("layout", 0)?
    } else {
        0
    };
    if layout != 0 && layout != 1 {
        bail!("layout {layout} is not defined");
    }
    let (seq, batch, input) = if layout == 0 {
        (x.shape[0], x.shape[1], x.shape[2])
    } else {
        (x.shape[1], x.shape[0], x.shape[2])
    };
    let direction = c.string("direction", "forward")?;
    let dirs = match direction.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        d => bail!("unknown direction '{d}'"),
    };
    let g = match cell {
        Cell::Rnn => 1,
        Cell::Gru => 3,
        Cell::Lstm => 4,
    };
    let hid = match c.opt_int("hidden_size")? {
        Some(h) if h > 0 => h as usize,
        _ => r.shape[2],
    };
    if w.shape != [dirs, g * hid, input] || r.shape != [dirs, g * hid, hid] {
        bail!(
            "W {:?} / R {:?} do not fit {dirs} directions, hidden {hid}, input {input}",
            w.shape,
            r.shape
        );
    }
    let bias = match c.opt_input(3) {
        Some(b) if b.shape == [dirs, 2 * g * hid] => b.to_f64(),
        Some(b) => bail!("B {:?} must be [{dirs}, {}]", b.shape, 2 * g * hid),
        None => vec![0.0; dirs * 2 * g * hid],
    };
    let lens: Vec<usize> = match c.opt_input(4) {
        Some(l) => {
            let v = l.int_values("sequence_lens")?;
            if v.len() != batch || v.iter().any(|&s| s < 0 || s as usize > seq) {
                bail!("sequence_lens {v:?} must hold {batch} lengths within [0, {seq}]");
            }
            v.iter().map(|&s| s as usize).collect()
        }
        None => vec![seq; batch],
    };
    // A state input of [dirs, batch, hid] (layout 0) or [batch, dirs, hid], as [dir][b][h].
    let state = |slot: usize, what: &str| -> OpResult<Vec<f64>> {
        let shape = if layout == 0 {
            [dirs, batch, hid]
        } else {
            [batch, dirs, hid]
        };
        match c.opt_input(slot) {
            None => Ok(vec![0.0; dirs * batch * hid]),
            Some(a) if a.shape == shape => {
                let v = a.to_f64();
                if layout == 0 {
                    return Ok(v);
                }
                let mut o = vec![0.0; v.len()];
                for b in 0..batch {
                    for d in 0..dirs {
                        for h in 0..hid {
                            o[(d * batch + b) * hid + h] = v[(b * dirs + d) * hid + h];
                        }
                    }
                }
                Ok(o)
            }
            Some(a) => bail!("{what} {:?} must be {shape:?}", a.shape),
        }
    };
    let mut hstate = state(5, "initial_h")?;
    let mut cstate = if cell == Cell::Lstm {
        state(6, "initial_c")?
    } else {
        vec![]
    };
    let peep = match (cell, c.opt_input(7)) {
        (Cell::Lstm, Some(p)) if p.shape == [dirs, 3 * hid] => p.to_f64(),
        (Cell::Lstm, Some(p)) => bail!("P {:?} must be [{dirs}, {}]", p.shape, 3 * hid),
        _ => vec![0.0; dirs * 3 * hid],
    };
    let acts = activations(c, cell, dirs)?;
    let clip = c.node.attr_float("clip")?.map(|v| v as f64);
    let clamp = |v: f64| match clip {
        Some(cl) => v.clamp(-cl, cl),
        None => v,
    };
    let lbr = c.int("linear_before_reset", 0)? != 0;
    let input_forget = c.int("input_forget", 0)? != 0;
    let (xv, wv, rv) = (x.to_f64(), w.to_f64(), r.to_f64());
    let xat = |s: usize, b: usize, i: usize| {
        if layout == 0 {
            xv[(s * batch + b) * input + i]
        } else {
            xv[(b * seq + s) * input + i]
        }
    };
    // Y as [seq][dir][batch][hid].
    let mut y = vec![0.0; seq * dirs * batch * hid];
    let per = acts.len() / dirs;
    for d in 0..dirs {
        let reverse = direction == "reverse" || d == 1;
        let wd = &wv[d * g * hid * input..(d + 1) * g * hid * input];
        let rd = &rv[d * g * hid * hid..(d + 1) * g * hid * hid];
        let wb = &bias[d * 2 * g * hid..d * 2 * g * hid + g * hid];
        let rb = &bias[d * 2 * g * hid + g * hid..(d + 1) * 2 * g * hid];
        let pd = &peep[d * 3 * hid..(d + 1) * 3 * hid];
        let a = &acts[d * per..(d + 1) * per];
        for b in 0..batch {
            let mut h: Vec<f64> = hstate[(d * batch + b) * hid..(d * batch + b + 1) * hid].to_vec();
            let mut cs: Vec<f64> = if cell == Cell::Lstm {
                cstate[(d * batch + b) * hid..(d * batch + b + 1) * hid].to_vec()
            } else {
                vec![]
            };
            for step in 0..lens[b] {
                let s = if reverse { lens[b] - 1 - step } else { step };
                // X W^T + Wb and H R^T (+ Rb) for every gate row.
                let xw: Vec<f64> = (0..g * hid)
                    .map(|row| {
                        wb[row]
                            + (0..input)
                                .map(|i| xat(s, b, i) * wd[row * input + i])
                                .sum::<f64>()
                    })
                    .collect();
                let hr = |hh: &[f64], row: usize| {
                    (0..hid).map(|k| hh[k] * rd[row * hid + k]).sum::<f64>()
                };
                let mut nh = vec![0.0; hid];
                match cell {
                    Cell::Rnn => {
                        for j in 0..hid {
                            nh[j] = a[0].apply(clamp(xw[j] + hr(&h, j) + rb[j]));
                        }
                    }
                    Cell::Gru => {
                        let z: Vec<f64> = (0..hid)
                            .map(|j| a[0].apply(clamp(xw[j] + hr(&h, j) + rb[j])))
                            .collect();
                        let rg: Vec<f64> = (0..hid)
                            .map(|j| a[0].apply(clamp(xw[hid + j] + hr(&h, hid + j) + rb[hid + j])))
                            .collect();
                        let rh: Vec<f64> = (0..hid).map(|k| rg[k] * h[k]).collect();
                        for j in 0..hid {
                            let row = 2 * hid + j;
                            let pre = if lbr {
                                xw[row] + rg[j] * (hr(&h, row) + rb[row])
                            } else {
                                xw[row] + hr(&rh, row) + rb[row]
                            };
                            let hh = a[1].apply(clamp(pre));
                            nh[j] = (1.0 - z[j]) * hh + z[j] * h[j];
                        }
                    }
                    Cell::Lstm => {
                        let pre = |gate: usize, j: usize| {
                            xw[gate * hid + j] + hr(&h, gate * hid + j) + rb[gate * hid + j]
                        };
                        let mut nc = vec![0.0; hid];
                        for j in 0..hid {
                            let i_g = a[0].apply(clamp(pre(0, j) + pd[j] * cs[j]));
                            let f_g = if input_forget {
                                1.0 - i_g
                            } else {
                                a[0].apply(clamp(pre(2, j) + pd[2 * hid + j] * cs[j]))
                            };
                            let c_g = a[1].apply(clamp(pre(3, j)));
                            nc[j] = f_g * cs[j] + i_g * c_g;
                            let o_g = a[0].apply(clamp(pre(1, j) + pd[hid + j] * nc[j]));
                            nh[j] = o_g * a[2].apply(nc[j]);
                        }
                        cs = nc;
                    }
                }
                h = nh;
                let base = ((s * dirs + d) * batch + b) * hid;
                y[base..base + hid].copy_from_slice(&h);
            }
            hstate[(d * batch + b) * hid..(d * batch + b + 1) * hid].copy_from_slice(&h);
            if cell == Cell::Lstm {
                cstate[(d * batch + b) * hid..(d * batch + b + 1) * hid].copy_from_slice(&cs);
            }
        }
    }
    // Lay the outputs out.
    let state_out = |v: &[f64]| -> Arr {
        if layout == 0 {
            return Arr::floats(t, vec![dirs, batch, hid], v.to_vec());
        }
        let mut o = vec![0.0; v.len()];
        for d in 0..dirs {
            for b in 0..batch {
                for h in 0..hid {
                    o[(b * dirs + d) * hid + h] = v[(d * batch + b) * hid + h];
                }
            }
        }
        Arr::floats(t, vec![batch, dirs, hid], o)
    };
    let y_arr = if layout == 0 {
        Arr::floats(t, vec![seq, dirs, batch, hid], y)
    } else {
        let mut o = vec![0.0; y.len()];
        for s in 0..seq {
            for d in 0..dirs {
                for b in 0..batch {
                    for h in 0..hid {
                        o[((b * seq + s) * dirs + d) * hid + h] =
                            y[((s * dirs + d) * batch + b) * hid + h];
                    }
                }
            }
        }
        Arr::floats(t, vec![batch, seq, dirs, hid], o)
    };
    let mut outs = vec![y_arr, state_out(&hstate)];
    if cell == Cell::Lstm {
        outs.push(state_out(&cstate));
    }
    outs.truncate(c.n_outputs.max(1));
    Ok(outs)
}
