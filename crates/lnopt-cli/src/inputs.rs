//! Model inputs for `lnopt run`: from a test-data folder, or random from the input types.

use crate::Failure;
use lnopt::ir::{DType, Dim, Model, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// The graph inputs that are not initializers, in order.
pub fn runtime_inputs(model: &Model) -> Vec<lnopt::ir::ValueId> {
    let g = &model.graph;
    g.inputs()
        .iter()
        .copied()
        .filter(|&v| g.value(v).initializer.is_none())
        .collect()
}

/// Deterministic random inputs (seeded) shaped from the declared input types. Symbolic dims
/// take their size from `dims` (name → size) or `default_dim`; unknown dims take `default_dim`.
/// Floats are uniform in [-1, 1); integers in [0, 2) so they are valid indices; bools random.
pub fn random_inputs(
    model: &Model,
    dims: &HashMap<String, i64>,
    default_dim: i64,
    seed: u64,
) -> Result<Vec<Tensor>, Failure> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = &model.graph;
    let mut out = Vec::new();
    for v in runtime_inputs(model) {
        let val = g.value(v);
        let ty = val.declared_tensor_type().ok_or_else(|| {
            Failure::bad(format!(
                "graph input '{}' has no declared tensor type; pass --data",
                val.name
            ))
        })?;
        let shape = ty.shape.as_ref().ok_or_else(|| {
            Failure::bad(format!(
                "graph input '{}' has no declared shape; pass --data",
                val.name
            ))
        })?;
        let concrete: Vec<i64> = shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => *n,
                Dim::Symbol(s) => dims.get(s).copied().unwrap_or(default_dim),
                Dim::Unknown => default_dim,
            })
            .collect();
        let n = lnopt::ir::numel(&concrete)
            .filter(|&n| n <= 1 << 28)
            .ok_or_else(|| {
                Failure::bad(format!(
                    "graph input '{}' shape {concrete:?} is too large",
                    val.name
                ))
            })?;
        let bytes: Vec<u8> = match ty.elem {
            DType::F32 => (0..n)
                .flat_map(|_| rng.gen_range(-1.0f32..1.0).to_le_bytes())
                .collect(),
            DType::F64 => (0..n)
                .flat_map(|_| rng.gen_range(-1.0f64..1.0).to_le_bytes())
                .collect(),
            DType::F16 => (0..n)
                .flat_map(|_| half::f16::from_f32(rng.gen_range(-1.0f32..1.0)).to_le_bytes())
                .collect(),
            DType::BF16 => (0..n)
                .flat_map(|_| half::bf16::from_f32(rng.gen_range(-1.0f32..1.0)).to_le_bytes())
                .collect(),
            DType::I64 => (0..n)
                .flat_map(|_| rng.gen_range(0i64..2).to_le_bytes())
                .collect(),
            DType::I32 => (0..n)
                .flat_map(|_| rng.gen_range(0i32..2).to_le_bytes())
                .collect(),
            DType::Bool => (0..n).map(|_| rng.gen_range(0u8..2)).collect(),
            other => {
                return Err(Failure::bad(format!(
                    "graph input '{}': random {other} inputs are not supported; pass --data",
                    val.name
                )))
            }
        };
        let t =
            Tensor::from_bytes(val.name.clone(), ty.elem, concrete, bytes).map_err(Failure::bad)?;
        out.push(t);
    }
    Ok(out)
}
