//! BatchNormalization (with its training outputs) and the losses
//! (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss).

use super::{Ctx, Out};
use lnopt_ir::{Dim, TensorType};

/// Rules for these ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "BatchNormalization" => batch_norm(ctx),
        "SoftmaxCrossEntropyLoss" => loss(ctx, true)?,
        "NegativeLogLikelihoodLoss" => loss(ctx, false)?,
        _ => return Ok(None),
    }))
}

/// Y like X; the statistics outputs are per channel, [C].
fn batch_norm(ctx: &Ctx) -> Out {
    let y = ctx.ty(0).cloned();
    let channels = ctx
        .shape(0)
        .and_then(|x| x.get(1).cloned())
        .or_else(|| ctx.shape(1).and_then(|s| s.first().cloned()))
        .unwrap_or(Dim::Unknown);
    let per_channel = |slot: usize| {
        Some(TensorType {
            elem: ctx.dtype(slot),
            shape: Some(vec![channels.clone()]),
        })
    };
    // Opset 14+: running mean and variance (typed like input_mean / input_var). Earlier:
    // mean, var, saved_mean, saved_var.
    let types = (0..ctx.n_out().max(1))
        .map(|k| match k {
            0 => y.clone(),
            1 => per_channel(3),
            2 => per_channel(4),
            _ => per_channel(0),
        })
        .collect();
    Out {
        types,
        ..Out::default()
    }
}

/// The loss: the labels' shape with `reduction = none`, a scalar otherwise; the softmax
/// variant's second output (log_prob) has the scores' shape.
fn loss(ctx: &Ctx, softmax: bool) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let reduction = ctx.str_attr("reduction", "mean")?;
    let shape = match reduction.as_str() {
        "none" => match (ctx.shape(1), ctx.shape(0)) {
            (Some(t), _) => Some(t.to_vec()),
            (None, Some(s)) if s.len() >= 2 => {
                let mut d = s.to_vec();
                d.remove(1);
                Some(d)
            }
            _ => None,
        },
        "mean" | "sum" => Some(Vec::new()),
        other => return Err(format!("unknown reduction '{other}'")),
    };
    let mut types = vec![Some(TensorType { elem, shape })];
    if softmax && ctx.n_out() > 1 {
        types.push(ctx.ty(0).cloned());
    }
    Ok(Out {
        types,
        ..Out::default()
    })
}
