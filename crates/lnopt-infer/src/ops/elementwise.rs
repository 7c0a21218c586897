//! Element-wise ops: unary maps, broadcasting binary/variadic arithmetic, comparisons and
//! logic, Where, Cast, Identity, Clip, Dropout.

use super::{Ctx, Out};
use crate::dims::broadcast_shapes;
use crate::fold::{self, BinOp};
use lnopt_ir::{DType, Dim, TensorType};

const SAME_TYPE_UNARY: &[&str] = &[
    "Abs",
    "Neg",
    "Relu",
    "Sigmoid",
    "Sin",
    "Cos",
    "Tan",
    "Tanh",
    "Erf",
    "Log",
    "Exp",
    "Sqrt",
    "Reciprocal",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Softmax",
    "LogSoftmax",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Elu",
    "Selu",
    "LeakyRelu",
    "Softplus",
    "Softsign",
    "Mish",
    "Celu",
    "ThresholdedRelu",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
    "Clip",
    "CumSum",
    "Trilu",
    "BitwiseNot",
    "Shrink",
    "LpNormalization",
    "Hardmax",
    "InstanceNormalization",
    "GroupNormalization",
    "LRN",
    "Swish",
    "CumProd",
    "ReverseSequence",
    "MeanVarianceNormalization",
];

const BOOL_UNARY: &[&str] = &["Not", "IsNaN", "IsInf"];

const COMPARE: &[(&str, BinOp)] = &[
    ("Equal", BinOp::Equal),
    ("Less", BinOp::Less),
    ("Greater", BinOp::Greater),
    ("LessOrEqual", BinOp::LessOrEqual),
    ("GreaterOrEqual", BinOp::GreaterOrEqual),
    ("And", BinOp::And),
    ("Or", BinOp::Or),
];

/// Shape of a broadcast of the inputs in `slots`; `Ok(None)` if some rank is unknown.
pub(crate) fn broadcast_inputs(ctx: &Ctx, slots: &[usize]) -> Result<Option<Vec<Dim>>, String> {
    let mut acc: Vec<Dim> = Vec::new();
    for &s in slots {
        let Some(shape) = ctx.shape(s) else {
            return Ok(None);
        };
        acc = broadcast_shapes(&acc, shape).ok_or_else(|| {
            format!(
                "inputs cannot broadcast: {}",
                slots
                    .iter()
                    .map(|&k| ctx.ty(k).map_or("?".to_string(), |t| t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" vs ")
            )
        })?;
    }
    Ok(Some(acc))
}

fn first_dtype(ctx: &Ctx, slots: &[usize]) -> DType {
    slots
        .iter()
        .map(|&s| ctx.dtype(s))
        .find(|d| *d != DType::Undefined)
        .unwrap_or(DType::Undefined)
}

fn arith_op(op: &str, ctx: &Ctx) -> Result<Option<BinOp>, String> {
    Ok(Some(match op {
        "Add" => BinOp::Add,
        "Sub" => BinOp::Sub,
        "Mul" => BinOp::Mul,
        "Div" => BinOp::Div,
        "Mod" => BinOp::Mod {
            fmod: ctx.int_attr("fmod", 0)? != 0,
        },
        "Min" => BinOp::Min,
        "Max" => BinOp::Max,
        _ => return Ok(None),
    }))
}

/// Symbolic elements of `a op b` (only identities and fixed arithmetic are resolved).
fn sym_binary(op: BinOp, a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = a.len().max(b.len());
    if (a.len() != n && a.len() != 1) || (b.len() != n && b.len() != 1) {
        return None;
    }
    let at = |v: &[Dim], i: usize| v.get(if v.len() == 1 { 0 } else { i }).cloned();
    (0..n)
        .map(|i| {
            let (x, y) = (at(a, i)?, at(b, i)?);
            Some(match (op, &x, &y) {
                (_, Dim::Fixed(p), Dim::Fixed(q)) => match op.int_result(*p, *q) {
                    Some(v) => Dim::Fixed(v),
                    None => Dim::Unknown,
                },
                (BinOp::Add | BinOp::Sub, _, Dim::Fixed(0)) => x,
                (BinOp::Mul | BinOp::Div, _, Dim::Fixed(1)) => x,
                (BinOp::Add, Dim::Fixed(0), _) | (BinOp::Mul, Dim::Fixed(1), _) => y,
                _ => Dim::Unknown,
            })
        })
        .collect()
}

/// Element `i` of a vector broadcast from length 1 or `n`.
fn at(v: &[Dim], i: usize) -> Option<&Dim> {
    v.get(if v.len() == 1 { 0 } else { i })
}

/// Common length of vectors that broadcast (each of length 1 or `n`).
fn common_len(vs: &[&[Dim]]) -> Option<usize> {
    let n = vs.iter().map(|v| v.len()).max()?;
    vs.iter().all(|v| v.len() == n || v.len() == 1).then_some(n)
}

/// Symbolic `Equal`: decided for two fixed values, for equal symbols, and for a symbol
/// (a size, never negative) against a negative constant.
fn sym_equal(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = common_len(&[a, b])?;
    (0..n)
        .map(|i| {
            Some(match (at(a, i)?, at(b, i)?) {
                (Dim::Fixed(x), Dim::Fixed(y)) => Dim::Fixed((x == y) as i64),
                (Dim::Symbol(x), Dim::Symbol(y)) if x == y => Dim::Fixed(1),
                (Dim::Symbol(_), Dim::Fixed(v)) | (Dim::Fixed(v), Dim::Symbol(_)) if *v < 0 => {
                    Dim::Fixed(0)
                }
                _ => Dim::Unknown,
            })
        })
        .collect()
}

/// Symbolic `Where` with a known condition.
fn sym_where(c: &[Dim], x: &[Dim], y: &[Dim]) -> Option<Vec<Dim>> {
    let n = common_len(&[c, x, y])?;
    (0..n)
        .map(|i| match at(c, i)? {
            Dim::Fixed(0) => at(y, i).cloned(),
            Dim::Fixed(_) => at(x, i).cloned(),
            _ => Some(Dim::Unknown),
        })
        .collect()
}

impl BinOp {
    fn int_result(self, a: i64, b: i64) -> Option<i64> {
        let ta = fold::from_ints(DType::I64, vec![], &[a])?;
        let tb = fold::from_ints(DType::I64, vec![], &[b])?;
        fold::scalar_int(&fold::binary(self, &ta, &tb)?)
    }
}

/// Rules for element-wise ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    let n_in = ctx.node.inputs().len();
    let all: Vec<usize> = (0..n_in).filter(|&i| ctx.has(i)).collect();
    if SAME_TYPE_UNARY.contains(&op) {
        let out = match ctx.ty(0) {
            Some(t) => Out::one(t.clone()),
            None => Out::unknown(),
        };
        let folded = match op {
            "Neg" => ctx.konst(0).and_then(fold::neg),
            _ => None,
        };
        return Ok(Some(out.with_const(folded)));
    }
    if BOOL_UNARY.contains(&op) {
        return Ok(Some(Out::of(DType::Bool, ctx.shape(0).map(|s| s.to_vec()))));
    }
    if op == "Identity" {
        let Some(t) = ctx.ty(0) else {
            return Ok(Some(Out::unknown()));
        };
        let out = Out::one(t.clone()).with_const(ctx.konst(0).cloned());
        return Ok(Some(out.with_elems(ctx.elems(0).map(|e| e.to_vec()))));
    }
    if op == "Dropout" {
        let shape = ctx.shape(0).map(|s| s.to_vec());
        let mut out = Out::of(ctx.dtype(0), shape.clone());
        // The mask is bool from opset 10; before, it has the input's dtype.
        let mask = if ctx.opset >= 10 {
            DType::Bool
        } else {
            ctx.dtype(0)
        };
        out.types.push(Some(TensorType { elem: mask, shape }));
        return Ok(Some(out));
    }
    if op == "BitCast" {
        let to = ctx
            .dtype_attr("to")?
            .ok_or("BitCast without attribute 'to'")?;
        if let (Some(a), Some(b)) = (ctx.dtype(0).size_of(), to.size_of()) {
            if a != b {
                return Err(format!(
                    "BitCast from {} to {to}: sizes differ",
                    ctx.dtype(0)
                ));
            }
        }
        return Ok(Some(Out::of(to, ctx.shape(0).map(|s| s.to_vec()))));
    }
    let arith = arith_op(op, ctx)?;
    let broadcast_only = matches!(
        op,
        "Pow" | "PRelu" | "BitShift" | "Sum" | "Mean" | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor"
    );
    if arith.is_some() || broadcast_only {
        let slots: Vec<usize> = if matches!(op, "Min" | "Max" | "Sum" | "Mean") {
            all.clone()
        } else {
            vec![0, 1]
        };
        let shape = broadcast_inputs(ctx, &slots)?;
        let elem = if op == "Pow" {
            ctx.dtype(0)
        } else {
            first_dtype(ctx, &slots)
        };
        let mut out = Out::of(elem, shape);
        if let Some(bin) = arith.filter(|_| slots == [0, 1]) {
            if let (Some(a), Some(b)) = (ctx.konst(0), ctx.konst(1)) {
                out = out.with_const(fold::binary(bin, a, b));
            } else if let (Some(a), Some(b)) = (ctx.elems(0), ctx.elems(1)) {
                out = out.with_elems(sym_binary(bin, a, b));
            }
        }
        return Ok(Some(out));
    }
    if let Some(&(_, bin)) = COMPARE.iter().find(|(name, _)| *name == op) {
        let shape = broadcast_inputs(ctx, &[0, 1])?;
        let folded = match (ctx.konst(0), ctx.konst(1)) {
            (Some(a), Some(b)) => fold::binary(bin, a, b),
            _ => None,
        };
        let elems = match (bin, ctx.elems(0), ctx.elems(1)) {
            (BinOp::Equal, Some(a), Some(b)) => sym_equal(a, b),
            _ => None,
        };
        return Ok(Some(
            Out::of(DType::Bool, shape)
                .with_const(folded)
                .with_elems(elems),
        ));
    }
    if op == "Xor" {
        return Ok(Some(Out::of(DType::Bool, broadcast_inputs(ctx, &[0, 1])?)));
    }
    if op == "Where" {
        let shape = broadcast_inputs(ctx, &[0, 1, 2])?;
        let out = Out::of(first_dtype(ctx, &[1, 2]), shape);
        let folded = match (ctx.konst(0), ctx.konst(1), ctx.konst(2)) {
            (Some(c), Some(x), Some(y)) => fold_where(c, x, y),
            _ => None,
        };
        let elems = match (ctx.elems(0), ctx.elems(1), ctx.elems(2)) {
            (Some(c), Some(x), Some(y)) => sym_where(c, x, y),
            _ => None,
        };
        return Ok(Some(out.with_const(folded).with_elems(elems)));
    }
    if op == "Cast" || op == "CastLike" {
        let to = if op == "Cast" {
            let code = ctx
                .node
                .attr_int("to")?
                .ok_or("Cast without attribute 'to'")?;
            DType::from_onnx(i32::try_from(code).map_err(|_| format!("bad Cast 'to' {code}"))?)
        } else {
            ctx.dtype(1)
        };
        let out = Out::of(to, ctx.shape(0).map(|s| s.to_vec()));
        let folded = ctx.konst(0).and_then(|t| fold::cast(t, to));
        let elems = if to.is_int() && ctx.dtype(0).is_int() {
            ctx.elems(0).map(|e| e.to_vec())
        } else {
            None
        };
        return Ok(Some(out.with_const(folded).with_elems(elems)));
    }
    Ok(None)
}

fn fold_where(
    c: &lnopt_ir::Tensor,
    x: &lnopt_ir::Tensor,
    y: &lnopt_ir::Tensor,
) -> Option<lnopt_ir::Tensor> {
    if x.dtype != y.dtype || c.dtype != DType::Bool {
        return None;
    }
    let dims = fold::broadcast_fixed(&[&c.dims, &x.dims, &y.dims])?;
    let (mc, mx, my) = (
        fold::broadcast_map(&c.dims, &dims)?,
        fold::broadcast_map(&x.dims, &dims)?,
        fold::broadcast_map(&y.dims, &dims)?,
    );
    let cv = fold::ints(c)?;
    // Build the flat positions in a concatenation [x ++ y] and pick from it.
    let xn = x.numel()?;
    let both = fold::concat_bytes(x, y)?;
    let idx = (0..mc.len())
        .map(|k| {
            Some(if *cv.get(mc[k])? != 0 {
                mx[k]
            } else {
                xn + my[k]
            })
        })
        .collect::<Option<Vec<usize>>>()?;
    fold::pick(&both, dims, &idx)
}
