//! Ops that make new tensors from a shape and a dtype (the random generators, EyeLike) and
//! the string ops (StringNormalizer, StringSplit, StringConcat, RegexFullMatch,
//! TfIdfVectorizer).

use super::{Ctx, Out};
use crate::dims::broadcast_shapes;
use lnopt_ir::{DType, Dim, TensorType};

/// Rules for these ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    let dtype_or =
        |d: DType| -> Result<DType, String> { Ok(ctx.dtype_attr("dtype")?.unwrap_or(d)) };
    let like_input = |elem: DType| Out::of(elem, ctx.shape(0).map(|s| s.to_vec()));
    Ok(Some(match op {
        "RandomNormal" | "RandomUniform" => {
            let shape = ctx
                .ints_attr("shape")?
                .ok_or("attribute 'shape' is required")?;
            if shape.iter().any(|&d| d < 0) {
                return Err(format!("negative dim in shape {shape:?}"));
            }
            Out::of(dtype_or(DType::F32)?, Some(super::fixed(&shape)))
        }
        "RandomNormalLike" | "RandomUniformLike" | "Bernoulli" => {
            like_input(dtype_or(ctx.dtype(0))?)
        }
        "EyeLike" => {
            if let Some(s) = ctx.shape(0) {
                if s.len() != 2 {
                    return Err(format!("input must be 2-D, has rank {}", s.len()));
                }
            }
            Out::of(
                dtype_or(ctx.dtype(0))?,
                Some(ctx.shape(0).map_or(vec![Dim::Unknown; 2], |s| s.to_vec())),
            )
        }
        "Multinomial" => {
            let n = ctx.int_attr("sample_size", 1)?;
            let batch = match ctx.shape(0) {
                Some([b, _]) => b.clone(),
                Some(s) => return Err(format!("input must be 2-D, has rank {}", s.len())),
                None => Dim::Unknown,
            };
            Out::of(dtype_or(DType::I32)?, Some(vec![batch, Dim::Fixed(n)]))
        }
        "StringNormalizer" => match ctx.shape(0) {
            Some([_]) => Out::of(DType::String, Some(vec![ctx.fresh(0, 0)])),
            Some([one, _]) => Out::of(DType::String, Some(vec![one.clone(), ctx.fresh(0, 1)])),
            Some(s) => return Err(format!("X must be 1-D or [1, C], has rank {}", s.len())),
            None => Out::of(DType::String, None),
        },
        "RegexFullMatch" => like_input(DType::Bool),
        "OptionalHasElement" => Out::of(DType::Bool, Some(Vec::new())),
        // A plain tensor input (opset 18+) passes through; optionals are not modelled.
        "OptionalGetElement" => match ctx.ty(0) {
            Some(t) => Out::one(t.clone()),
            None => Out::unknown(),
        },
        "StringConcat" => {
            let shape = match (ctx.shape(0), ctx.shape(1)) {
                (Some(a), Some(b)) => {
                    Some(broadcast_shapes(a, b).ok_or("inputs cannot broadcast")?)
                }
                _ => None,
            };
            Out::of(DType::String, shape)
        }
        "StringSplit" => {
            let x = ctx.shape(0).map(|s| s.to_vec());
            let y = x.clone().map(|mut s| {
                s.push(ctx.fresh(0, s.len()));
                s
            });
            Out {
                types: vec![
                    Some(TensorType {
                        elem: DType::String,
                        shape: y,
                    }),
                    Some(TensorType {
                        elem: DType::I64,
                        shape: x,
                    }),
                ],
                ..Out::default()
            }
        }
        "TfIdfVectorizer" => {
            let width = ctx
                .ints_attr("ngram_indexes")?
                .and_then(|v| v.into_iter().max())
                .and_then(|m| m.checked_add(1))
                .map_or(Dim::Unknown, Dim::Fixed);
            let shape = match ctx.shape(0) {
                Some([_]) => Some(vec![width]),
                Some([n, _]) => Some(vec![n.clone(), width]),
                Some(s) => return Err(format!("X must be 1-D or 2-D, has rank {}", s.len())),
                None => None,
            };
            Out::of(DType::F32, shape)
        }
        _ => return Ok(None),
    }))
}
