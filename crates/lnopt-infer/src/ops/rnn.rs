//! Recurrent ops: RNN, GRU, LSTM (outputs Y, Y_h and LSTM's Y_c).

use super::{Ctx, Out};
use lnopt_ir::{Dim, TensorType};

/// Rules for recurrent ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    let gates = match op {
        "RNN" => 1,
        "GRU" => 3,
        "LSTM" => 4,
        _ => return Ok(None),
    };
    Ok(Some(recurrent(ctx, gates)?))
}

/// X is [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1); W is
/// [directions, gates * hidden, input] and R is [directions, gates * hidden, hidden].
fn recurrent(ctx: &Ctx, gates: i64) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let layout = if ctx.opset >= 14 {
        ctx.int_attr("layout", 0)?
    } else {
        0
    };
    let dirs = match ctx.str_attr("direction", "forward")?.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        other => return Err(format!("unknown direction '{other}'")),
    };
    let hidden = match ctx.node.attr_int("hidden_size")? {
        Some(h) if h > 0 => Dim::Fixed(h),
        Some(h) => return Err(format!("hidden_size {h} must be positive")),
        None => match (ctx.shape(2), ctx.shape(1)) {
            (Some([_, _, h]), _) => h.clone(),
            (_, Some([_, gh, _])) => match gh.fixed() {
                Some(v) if v % gates == 0 => Dim::Fixed(v / gates),
                _ => Dim::Unknown,
            },
            _ => Dim::Unknown,
        },
    };
    let (seq, batch) = match ctx.shape(0) {
        Some([a, b, _]) if layout == 0 => (a.clone(), b.clone()),
        Some([a, b, _]) => (b.clone(), a.clone()),
        Some(x) => return Err(format!("X must be 3-D, has rank {}", x.len())),
        None => (Dim::Unknown, Dim::Unknown),
    };
    let d = Dim::Fixed(dirs);
    let y = if layout == 0 {
        vec![seq, d.clone(), batch.clone(), hidden.clone()]
    } else {
        vec![batch.clone(), seq, d.clone(), hidden.clone()]
    };
    let state = if layout == 0 {
        vec![d, batch, hidden]
    } else {
        vec![batch, d, hidden]
    };
    let ty = |shape: Vec<Dim>| {
        Some(TensorType {
            elem,
            shape: Some(shape),
        })
    };
    let mut types = vec![ty(y), ty(state.clone())];
    if gates == 4 {
        types.push(ty(state));
    }
    Ok(Out {
        types,
        ..Out::default()
    })
}
