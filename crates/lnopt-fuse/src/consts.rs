//! Reading compile-time constants of the IR: inference results first, then `Constant`
//! nodes and casts of constants (inference may not fold those).

use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, DType, Graph, Tensor, ValueId};

/// Largest constant (in elements) read here; larger ones are treated as unknown.
pub const MAX_CONST_ELEMS: usize = 1 << 22;

/// A small constant widened to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstVal {
    /// Element type of the value.
    pub dtype: DType,
    /// Its dims.
    pub dims: Vec<i64>,
    /// Elements, row-major.
    pub values: Vec<f64>,
}

impl ConstVal {
    /// The common value when all elements are equal (and there is at least one).
    pub fn uniform(&self) -> Option<f64> {
        let first = *self.values.first()?;
        self.values
            .iter()
            .all(|v| v.to_bits() == first.to_bits())
            .then_some(first)
    }

    fn from_tensor(t: &Tensor) -> Option<ConstVal> {
        let n = t.numel()?;
        if n > MAX_CONST_ELEMS {
            return None;
        }
        let values = t.to_f64_vec()?;
        (values.len() == n).then(|| ConstVal {
            dtype: t.dtype,
            dims: t.dims.clone(),
            values,
        })
    }
}

/// The constant value of `v`, if known and small.
pub fn const_of(g: &Graph, types: &GraphTypes, v: ValueId) -> Option<ConstVal> {
    const_rec(g, types, v, 0)
}

fn const_rec(g: &Graph, types: &GraphTypes, v: ValueId, depth: usize) -> Option<ConstVal> {
    if v.index() >= g.value_count() {
        return None;
    }
    if let Some(t) = types.constant(v) {
        return ConstVal::from_tensor(t);
    }
    if let Some(t) = g.initializer(v) {
        return ConstVal::from_tensor(t);
    }
    let (nid, _) = g.producer_node(v)?;
    let node = g.node(nid);
    if !node.in_default_domain() || depth > 4 {
        return None;
    }
    match node.op_type.as_str() {
        "Constant" => {
            let one = |dtype, dims: Vec<i64>, values: Vec<f64>| ConstVal {
                dtype,
                dims,
                values,
            };
            match node.attributes.first().map(|a| &a.value) {
                Some(AttrValue::Tensor(t)) => ConstVal::from_tensor(t),
                Some(AttrValue::Float(f)) => Some(one(DType::F32, vec![], vec![f64::from(*f)])),
                Some(AttrValue::Int(i)) => Some(one(DType::I64, vec![], vec![*i as f64])),
                Some(AttrValue::Floats(f)) if f.len() <= MAX_CONST_ELEMS => Some(one(
                    DType::F32,
                    vec![f.len() as i64],
                    f.iter().map(|&x| f64::from(x)).collect(),
                )),
                Some(AttrValue::Ints(i)) if i.len() <= MAX_CONST_ELEMS => Some(one(
                    DType::I64,
                    vec![i.len() as i64],
                    i.iter().map(|&x| x as f64).collect(),
                )),
                _ => None,
            }
        }
        "Identity" => const_rec(g, types, node.input(0)?, depth + 1),
        "Cast" | "CastLike" => {
            let to = if node.op_type == "Cast" {
                DType::from_onnx(node.attr_int("to").ok()?? as i32)
            } else {
                let like = node.input(1)?;
                types
                    .ty(like)
                    .map(|t| t.elem)
                    .filter(|d| *d != DType::Undefined)
                    .or_else(|| const_rec(g, types, like, depth + 1).map(|c| c.dtype))?
            };
            let mut c = const_rec(g, types, node.input(0)?, depth + 1)?;
            if !(to.is_float() || to.is_int()) || !(c.dtype.is_float() || c.dtype.is_int()) {
                return None;
            }
            c.values = c.values.iter().map(|&x| round_to(x, to)).collect();
            c.dtype = to;
            Some(c)
        }
        _ => None,
    }
}

/// `x` as it would be stored in `dtype`.
pub fn round_to(x: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f64::from(x as f32),
        DType::F16 => half::f16::from_f64(x).to_f64(),
        DType::BF16 => half::bf16::from_f64(x).to_f64(),
        d if d.is_int() => x.trunc(),
        _ => x,
    }
}

/// Packs f64 values as little-endian elements of a float `dtype`.
pub fn pack_float(values: &[f64], dtype: DType) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * dtype.size_of()?);
    for &v in values {
        match dtype {
            DType::F32 => out.extend((v as f32).to_le_bytes()),
            DType::F64 => out.extend(v.to_le_bytes()),
            DType::F16 => out.extend(half::f16::from_f64(v).to_le_bytes()),
            DType::BF16 => out.extend(half::bf16::from_f64(v).to_le_bytes()),
            _ => return None,
        }
    }
    Some(out)
}

/// The value every element of `v` provably holds: that of a constant whose elements are all
/// equal, or of such a constant repeated by `Expand` (TensorFlow's `ones` / `zeros` of a
/// shape known only at run time).
pub fn uniform_of(g: &Graph, types: &GraphTypes, v: ValueId) -> Option<f64> {
    if let Some(c) = const_of(g, types, v) {
        return c.uniform();
    }
    let (nid, _) = g.producer_node(v)?;
    let node = g.node(nid);
    if node.op_type != "Expand" || !node.in_default_domain() {
        return None;
    }
    const_of(g, types, node.input(0)?)?.uniform()
}
