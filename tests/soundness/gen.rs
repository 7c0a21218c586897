//! Random normalisation graphs for the soundness suite.
//!
//! A [`Spec`] describes one decomposed LayerNorm or RMSNorm: its shape, the spelling of every
//! step (square, variance, inverse standard deviation, epsilon, operand order), the affine
//! parameters, extra readers of intermediates, the element type, and at most one [`Flaw`]
//! that turns it into a near-miss (something that looks like a norm but is not one, or is one
//! the standard ops cannot express). [`build`] turns a spec into an IR model, and
//! [`Spec::expected`] says what the fusion pass must do with it, from the spec alone.

use lnopt_ir::{
    AttrValue, DType, Dim, Graph, Model, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType,
};
use proptest::prelude::*;

/// Normalisation kind of a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `(x - E[x]) / sqrt(Var[x] + eps)`.
    Ln,
    /// `x / sqrt(E[x²] + eps)`.
    Rms,
}

/// How the square inside the statistics is spelled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Square {
    /// `Pow(d, 2)`.
    Pow,
    /// `Mul(d, d)`.
    Mul,
}

/// How epsilon is given (all of these are valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eps {
    /// Scalar initializer.
    Scalar,
    /// Initializer of shape `[1]`.
    One,
    /// Initializer of shape `[1; rank]` (never enlarges the statistics).
    Ones,
    /// Output of a `Constant` node.
    ConstantNode,
    /// `CastLike(f64 constant, v)` (onnxscript, jax2onnx; opset ≥ 15, so only with axes
    /// as an input).
    CastLike,
}

/// How `1 / sqrt(v + eps)` is applied to the numerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inv {
    /// `Div(n, Sqrt(a))`.
    DivSqrt,
    /// `Mul(n, Reciprocal(Sqrt(a)))`.
    MulRecipSqrt,
    /// `Mul(n, Pow(a, -0.5))`.
    MulPowNegHalf,
    /// `Mul(n, Div(1, Sqrt(a)))`.
    MulOneDivSqrt,
    /// `Div(n, Pow(a, 0.5))`.
    DivPowHalf,
    /// `Mul(n, Pow(Sqrt(a), -1))`.
    MulPowNegOne,
}

/// Shape of γ or β relative to the input and the normalised axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PShape {
    /// Exactly the normalised dims.
    Normalised,
    /// The last dim only (inside the normalised axes).
    Last,
    /// Scalar.
    Scalar,
    /// `[1]`.
    One,
    /// `[1]` followed by the normalised dims (rank may exceed the input's).
    LeadingOne,
    /// The normalised dims plus the axis before them (broadcasts beyond the normalised axes).
    Beyond,
}

/// An affine parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Absent.
    None,
    /// An initializer.
    Const(PShape),
    /// A graph input.
    Runtime(PShape),
}

/// Extra readers of intermediates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// None.
    None,
    /// The (first) mean is a graph output.
    MeanOut,
    /// The mean feeds a `Tanh` that is a graph output.
    MeanFeedsOp,
    /// The centred value (LN) or the square (RMS) is a graph output.
    CentredOut,
    /// The centred value (LN) or the square (RMS) feeds a `Tanh`.
    CentredFeedsOp,
    /// The variance (LN) or mean square (RMS) is a graph output.
    VarOut,
    /// `v + eps` feeds a `Tanh`.
    VarEpsFeedsOp,
    /// The normalised value (before γ/β) is a graph output.
    NormOut,
}

/// What makes a spec a near-miss.
#[derive(Clone, Debug, PartialEq)]
pub enum Flaw {
    /// A genuine normalisation.
    None,
    /// Square as `Pow(d, e)` with `e != 2`.
    Exponent(f32),
    /// The mean reduces a non-trailing axis set (given as positive axes).
    NonTrailing(Vec<i64>),
    /// LN: the variance's mean reduces different axes than the centring mean.
    Mismatched(Vec<i64>),
    /// The first mean (LN) or the mean square (RMS) has keepdims = 0.
    Keepdims0,
    /// LN: `Sub(mean, x)`.
    ReversedSub,
    /// The mean is of another tensor `z` (LN: `x - E[z]`; RMS: `x / sqrt(E[z²] + eps)`).
    MeanOfOther,
    /// Epsilon is a graph input.
    EpsInput,
    /// Epsilon has rank above the input's (adding it enlarges the result).
    EpsEnlarges,
    /// Epsilon is a per-element `[last dim]` tensor of different values.
    EpsPerElement,
    /// `Div(n, v + eps)` with no square root.
    DivNoSqrt,
    /// `Mul(n, Pow(Sqrt(a), -2))`: a power that is not the reciprocal.
    PowNegTwo,
    /// The variance (mean square) clamped with `Max(v, 0.5)`: a positive floor.
    ClampPositive,
    /// LN, Keras 3 form: `x·inv + Neg(mean)·r` whose mean product lacks γ (`r`, not `inv`).
    FactoredOtherScale,
    /// Keras 2 BatchNormalization view: the sum of squares divided by `block − 1`.
    BnCount,
    /// Keras 2 BatchNormalization view of shape `[2, rows/2, block, 1]`: the moments over
    /// axes `[0, 2, 3]` mix two rows.
    BnBatch2,
}

/// tf2onnx's Keras 2 spelling of a LayerNorm: x viewed as `[1, rows, block, 1]`, moments
/// over axes `[0, 2, 3]` (ReduceMean, ReduceSumSquare / count) fed to an inference
/// BatchNormalization with unit scale and zero bias, reshaped back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnView {
    /// The view `[1, rows, block, 1]`.
    Rows,
    /// The view `[1, 2·rows, block/2, 1]`: a LayerNorm of half rows (still a norm, on the
    /// view; it must not be folded back onto x's rows).
    HalfRows,
}

/// One generated graph.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Kind.
    pub kind: Kind,
    /// Input dims (rank 2..=4).
    pub dims: Vec<i64>,
    /// Number of trailing normalised axes.
    pub k: usize,
    /// Write axes as negative numbers.
    pub negative_axes: bool,
    /// Axes as an input (opset 18) instead of an attribute (opset 13).
    pub axes_input: bool,
    /// Square spelling.
    pub square: Square,
    /// LN: variance as `E[x²] - E[x]²`.
    pub moments: bool,
    /// Inverse-std spelling.
    pub inv: Inv,
    /// Epsilon form.
    pub eps: Eps,
    /// Epsilon value.
    pub eps_value: f32,
    /// `Add(eps, v)` instead of `Add(v, eps)`.
    pub swap_eps: bool,
    /// `Mul(r, n)` instead of `Mul(n, r)` (Mul spellings of the inverse).
    pub swap_inv: bool,
    /// `Mul(γ, y)` / `Add(β, y)` instead of `Mul(y, γ)` / `Add(y, β)`.
    pub swap_affine: bool,
    /// γ.
    pub gamma: Param,
    /// β.
    pub beta: Param,
    /// Extra readers.
    pub extra: Extra,
    /// f16 model: input and output in f16, statistics through Casts to f32.
    pub f16: bool,
    /// Near-miss knob.
    pub flaw: Flaw,
    /// The variance (LN) or mean square (RMS) as `Max(v, 0)` (Flax's clamped fast variance).
    pub clamp: bool,
    /// LN with γ: Keras 3's `x·inv + (Neg(mean)·inv + β)` with `inv = r·γ`, instead of
    /// `(x − mean)·r·γ + β` (only without extra readers, f32, γ a constant of the normalised
    /// dims, β absent or the same).
    pub factored: bool,
    /// The means with keepdims = 0 where that is still a norm: every axis is normalised
    /// (`k == rank`), so there are no kept dims and the scalar mean broadcasts like the
    /// keepdims one (OpenVINO's batch-1 MVN tests have the same property).
    pub squeeze: bool,
    /// LN written as tf2onnx writes Keras 2's (only f32, no extra readers, not factored;
    /// the spelling knobs of the statistics do not apply).
    pub bn_view: Option<BnView>,
    /// Seed of the input data.
    pub seed: u64,
}

/// What the pass must do with a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exactly one fused node of this kind, nothing else fused.
    Fused(Kind),
    /// Nothing fused; the model is returned unchanged.
    Untouched,
    /// Fusing or not are both acceptable (an intermediate's extra reader may block it);
    /// only soundness is checked.
    Either,
}

impl Spec {
    /// Rank of the input.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// The opset the model is written in.
    pub fn opset(&self) -> i64 {
        if self.axes_input {
            18
        } else {
            13
        }
    }

    /// The expected outcome, decided from the spec alone.
    ///
    /// Extra readers of the variance, of `v + eps` and of the centred value / square leave
    /// the decision to the pass (it may keep them computed beside a fused node, or decline);
    /// readers of the mean (LN: served by the fused node's Mean output) and of the
    /// normalised value (core-only fusion) must not block fusion.
    pub fn expected(&self) -> Expect {
        if self.flaw != Flaw::None {
            return Expect::Untouched;
        }
        match (self.kind, self.extra) {
            // f16: the f32 normalised value read raw may get its own f32 fused node beside
            // the f16 one (two sites), which is sound.
            (_, Extra::NormOut) if self.f16 => Expect::Either,
            // With γ/β, the raw read may get its own core node beside the affine one
            // (two fused nodes rather than one node and a Mul), which is sound.
            (_, Extra::NormOut) if self.gamma != Param::None || self.beta != Param::None => {
                Expect::Either
            }
            (_, Extra::None | Extra::NormOut) => Expect::Fused(self.kind),
            (Kind::Ln, Extra::MeanOut | Extra::MeanFeedsOp) => Expect::Fused(self.kind),
            _ => Expect::Either,
        }
    }

    /// Positive axes of the first mean (LN) / the mean square (RMS).
    fn axes1(&self) -> Vec<i64> {
        match &self.flaw {
            Flaw::NonTrailing(a) => a.clone(),
            _ => trailing(self.rank(), self.k),
        }
    }

    /// Positive axes of the variance's mean (LN).
    fn axes2(&self) -> Vec<i64> {
        match &self.flaw {
            Flaw::Mismatched(a) => a.clone(),
            _ => self.axes1(),
        }
    }

    /// Size of one normalised block (the last `k` dims), for input conditioning.
    pub fn block(&self) -> usize {
        let r = self.rank();
        let block = self.dims[r - self.k..].iter().product::<i64>() as usize;
        match self.bn_view {
            Some(BnView::HalfRows) => block / 2,
            _ => block,
        }
    }
}

fn trailing(rank: usize, k: usize) -> Vec<i64> {
    (rank - k..rank).map(|a| a as i64).collect()
}

/// Strategy for specs; `flawed` forces a near-miss.
pub fn spec(flawed: bool) -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just(Kind::Ln), Just(Kind::Rms)],
        2usize..=4,
        proptest::collection::vec(1i64..=3, 4),
        proptest::collection::vec(1i64..=6, 4),
        any::<u64>(),
        any::<[bool; 10]>(),
        (0usize..5, 0usize..6, 0usize..4),
        (param(), param(), extra()),
        (
            any::<bool>(),
            prop_oneof![Just(1e-5f32), Just(1e-6), Just(1e-12), Just(0.1)],
        ),
        any::<u64>(),
    )
        .prop_map(
            move |(
                kind,
                rank,
                lead,
                norm,
                kseed,
                b,
                (eps_i, inv_i, flaw_i),
                (gamma, beta, extra),
                (f16, eps_value),
                seed,
            )| {
                let k = 1 + (kseed as usize) % rank;
                let mut dims: Vec<i64> = (0..rank)
                    .map(|i| if i < rank - k { lead[i] } else { norm[i] })
                    .collect();
                let eps = [
                    Eps::Scalar,
                    Eps::One,
                    Eps::Ones,
                    Eps::ConstantNode,
                    Eps::CastLike,
                ][eps_i];
                let eps = if eps == Eps::CastLike && !b[1] {
                    Eps::Scalar
                } else {
                    eps
                };
                let inv = [
                    Inv::DivSqrt,
                    Inv::MulRecipSqrt,
                    Inv::MulPowNegHalf,
                    Inv::MulOneDivSqrt,
                    Inv::DivPowHalf,
                    Inv::MulPowNegOne,
                ][inv_i];
                let flaw = if flawed {
                    pick_flaw(kind, rank, k, kseed >> 8, flaw_i)
                } else {
                    Flaw::None
                };
                if flaw == Flaw::Keepdims0 {
                    // keepdims = 0 only yields a valid graph when the reduced shape still
                    // broadcasts against the input: make every dim equal.
                    let h = dims[rank - 1].max(2);
                    dims = vec![h; rank];
                }
                if matches!(flaw, Flaw::NonTrailing(_) | Flaw::Mismatched(_)) {
                    // Reducing an axis of size 1 changes nothing (the pass knows it), so the
                    // axes of these near-misses must really differ: no dim of size 1.
                    for d in dims.iter_mut() {
                        *d = (*d).max(2);
                    }
                }
                let block: i64 = dims[rank - k..].iter().product();
                let rows: i64 = dims[..rank - k].iter().product();
                let bn_view =
                    (kind == Kind::Ln && !f16 && extra == Extra::None && (kseed >> 40) % 3 == 0)
                        .then_some(if (kseed >> 42) & 1 == 1 && block % 2 == 0 && block >= 4 {
                            BnView::HalfRows
                        } else {
                            BnView::Rows
                        });
                // The spelling's own near-misses replace the generic ones.
                let flaw = match (&flaw, bn_view) {
                    (Flaw::None, _) | (_, None) => flaw,
                    _ if flaw_i % 3 == 0 => Flaw::MeanOfOther,
                    _ if flaw_i % 3 == 1 && rows % 2 == 0 => Flaw::BnBatch2,
                    _ => Flaw::BnCount,
                };
                Spec {
                    kind,
                    dims,
                    k,
                    negative_axes: b[0],
                    axes_input: b[1],
                    square: if b[2] { Square::Mul } else { Square::Pow },
                    moments: b[3] && kind == Kind::Ln,
                    inv,
                    eps,
                    eps_value,
                    swap_eps: b[4],
                    swap_inv: b[5],
                    swap_affine: b[6],
                    clamp: b[7],
                    factored: b[8]
                        && bn_view.is_none()
                        && kind == Kind::Ln
                        && !f16
                        && extra == Extra::None
                        && matches!(gamma, Param::Const(PShape::Normalised))
                        && matches!(beta, Param::None | Param::Const(PShape::Normalised))
                        && flaw == Flaw::None
                        // A one-element row has variance 0: inv = γ/√ε is huge and the
                        // factored form loses β to cancellation (the fused node is exact).
                        && block >= 2,
                    squeeze: b[9] && k == rank && flaw == Flaw::None && bn_view.is_none(),
                    bn_view,
                    gamma,
                    beta,
                    extra,
                    f16,
                    flaw,
                    seed,
                }
            },
        )
}

fn pick_flaw(kind: Kind, rank: usize, k: usize, r: u64, i: usize) -> Flaw {
    let exps = [3.0f32, 1.0, 0.5, 2.0001];
    let all = match kind {
        Kind::Ln => 13,
        Kind::Rms => 10,
    };
    // The generic flaws first, then LN-only ones.
    let choice = (r as usize + i) % all;
    match choice {
        0 => Flaw::Exponent(exps[(r as usize / 16) % exps.len()]),
        1 => non_trailing(rank, r),
        // keepdims = 0 with every axis normalised is still a norm (Spec::squeeze).
        2 if k == rank => Flaw::Exponent(exps[(r as usize / 16) % exps.len()]),
        2 => Flaw::Keepdims0,
        3 => Flaw::MeanOfOther,
        4 => Flaw::EpsInput,
        5 => Flaw::EpsEnlarges,
        6 => Flaw::EpsPerElement,
        7 => Flaw::DivNoSqrt,
        8 => Flaw::PowNegTwo,
        9 => Flaw::ClampPositive,
        10 => Flaw::ReversedSub,
        11 => Flaw::FactoredOtherScale,
        _ => mismatched(rank, k, r),
    }
}

/// A non-empty axis set that is not a trailing run. Axis 1 alone at rank 4 is excluded: that
/// is the channels-first (NCHW) LayerNorm, which the pass may fuse between Transposes.
fn non_trailing(rank: usize, r: u64) -> Flaw {
    let full = (1u64 << rank) - 1;
    let mut m = (r % full) + 1;
    loop {
        let axes: Vec<i64> = (0..rank as i64).filter(|a| m & (1 << a) != 0).collect();
        let is_trailing = axes
            .iter()
            .copied()
            .eq(rank as i64 - axes.len() as i64..rank as i64);
        let channels_first = rank == 4 && axes == [1];
        if !is_trailing && !channels_first {
            return Flaw::NonTrailing(axes);
        }
        m = m % full + 1;
    }
}

/// An axis set different from the trailing `k`.
fn mismatched(rank: usize, k: usize, r: u64) -> Flaw {
    let full = (1u64 << rank) - 1;
    let mut m = (r % full) + 1;
    let own = trailing(rank, k);
    loop {
        let axes: Vec<i64> = (0..rank as i64).filter(|a| m & (1 << a) != 0).collect();
        if axes != own {
            return Flaw::Mismatched(axes);
        }
        m = m % full + 1;
    }
}

fn pshape() -> impl Strategy<Value = PShape> {
    prop_oneof![
        3 => Just(PShape::Normalised),
        1 => Just(PShape::Last),
        1 => Just(PShape::Scalar),
        1 => Just(PShape::One),
        1 => Just(PShape::LeadingOne),
        1 => Just(PShape::Beyond),
    ]
}

fn param() -> impl Strategy<Value = Param> {
    prop_oneof![
        1 => Just(Param::None),
        2 => pshape().prop_map(Param::Const),
        1 => pshape().prop_map(Param::Runtime),
    ]
}

fn extra() -> impl Strategy<Value = Extra> {
    prop_oneof![
        6 => Just(Extra::None),
        1 => Just(Extra::MeanOut),
        1 => Just(Extra::MeanFeedsOp),
        1 => Just(Extra::CentredOut),
        1 => Just(Extra::CentredFeedsOp),
        1 => Just(Extra::VarOut),
        1 => Just(Extra::VarEpsFeedsOp),
        1 => Just(Extra::NormOut),
    ]
}

/// Node-by-node graph builder.
struct B {
    g: Graph,
    n: usize,
}

impl B {
    fn input(&mut self, name: &str, dtype: DType, dims: &[i64]) -> ValueId {
        let v = self.g.value_by_name_or_new(name);
        self.g.value_mut(v).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(TensorType {
                elem: dtype,
                shape: Some(dims.iter().map(|&d| Dim::Fixed(d)).collect()),
            })),
            ..ValueInfo::default()
        });
        self.g.add_input(v);
        v
    }

    fn init(&mut self, name: &str, t: Tensor) -> ValueId {
        self.g.add_initializer(name, t)
    }

    fn op(&mut self, op: &str, ins: &[ValueId], attrs: Vec<(&str, AttrValue)>) -> ValueId {
        self.n += 1;
        let name = format!("/n{}/{}", self.n, op);
        let out = self.g.new_value(&format!("{name}_out"));
        let mut node = Node::new(op, name);
        for (k, v) in attrs {
            node.set_attr(k, v);
        }
        self.g
            .add_node(
                node,
                ins.iter().map(|&v| Some(v)).collect(),
                vec![Some(out)],
            )
            .expect("generated node is well formed");
        out
    }

    fn scalar(&mut self, name: &str, v: f32) -> ValueId {
        self.init(name, Tensor::from_f32(name, vec![], &[v]))
    }

    fn cast(&mut self, x: ValueId, to: DType) -> ValueId {
        self.op(
            "Cast",
            &[x],
            vec![("to", AttrValue::Int(i64::from(to.onnx_code())))],
        )
    }
}

/// Little deterministic generator for parameter values.
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32;
            // Quantise to 1/64 so f16 holds the values exactly.
            (((lo + (hi - lo) * u) * 64.0).round()) / 64.0
        })
        .collect()
}

/// f16 tensor from f32 values.
pub fn f16_tensor(name: &str, dims: Vec<i64>, vals: &[f32]) -> Tensor {
    let bytes: Vec<u8> = vals
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    Tensor::from_bytes(name, DType::F16, dims, bytes).expect("f16 sizes match")
}

/// Builds the model of `s`.
pub fn build(s: &Spec) -> Model {
    let mut b = B {
        g: Graph::new("soundness"),
        n: 0,
    };
    let rank = s.rank();
    let io = if s.f16 { DType::F16 } else { DType::F32 };
    let x_in = b.input("x", io, &s.dims);
    let x = if s.f16 {
        b.cast(x_in, DType::F32)
    } else {
        x_in
    };
    let other = if s.flaw == Flaw::MeanOfOther {
        let z_in = b.input("z", io, &s.dims);
        Some(if s.f16 {
            b.cast(z_in, DType::F32)
        } else {
            z_in
        })
    } else {
        None
    };
    if let Some(view) = s.bn_view {
        let normed = keras2_batch_norm(&mut b, s, view, x, other);
        let y = apply_affine(&mut b, s, normed, io, [s.gamma, s.beta]);
        b.g.add_output(y);
        return Model::new(b.g, s.opset());
    }
    let keep0 = s.flaw == Flaw::Keepdims0 || s.squeeze;
    let opset = s.opset();
    let mean = |b: &mut B, v: ValueId, axes: &[i64], keep0: bool| -> ValueId {
        let axes: Vec<i64> = axes
            .iter()
            .map(|&a| if s.negative_axes { a - rank as i64 } else { a })
            .collect();
        let mut attrs = Vec::new();
        if keep0 {
            attrs.push(("keepdims", AttrValue::Int(0)));
        }
        if opset >= 18 {
            let name = format!("axes{}", b.n);
            let a = b.init(
                &name,
                Tensor::from_i64(&name, vec![axes.len() as i64], &axes),
            );
            b.op("ReduceMean", &[v, a], attrs)
        } else {
            attrs.push(("axes", AttrValue::Ints(axes)));
            b.op("ReduceMean", &[v], attrs)
        }
    };
    let square = |b: &mut B, d: ValueId| -> ValueId {
        match (&s.flaw, s.square) {
            (Flaw::Exponent(e), _) => {
                let c = b.scalar("exponent", *e);
                b.op("Pow", &[d, c], vec![])
            }
            (_, Square::Pow) => {
                let c = b.scalar("two", 2.0);
                b.op("Pow", &[d, c], vec![])
            }
            (_, Square::Mul) => b.op("Mul", &[d, d], vec![]),
        }
    };

    // Statistics: (numerator, mean-like value, centred/square value, variance-like value).
    let (num, first_mean, centred, var) = match s.kind {
        Kind::Ln => {
            let src = other.unwrap_or(x);
            let m = mean(&mut b, src, &s.axes1(), keep0);
            let d = if s.flaw == Flaw::ReversedSub {
                b.op("Sub", &[m, x], vec![])
            } else {
                b.op("Sub", &[x, m], vec![])
            };
            let v = if s.moments {
                let sq = square(&mut b, x);
                let ex2 = mean(&mut b, sq, &s.axes2(), false);
                let m2 = b.op("Mul", &[m, m], vec![]);
                b.op("Sub", &[ex2, m2], vec![])
            } else {
                let sq = square(&mut b, d);
                mean(&mut b, sq, &s.axes2(), false)
            };
            (d, m, d, v)
        }
        Kind::Rms => {
            let src = other.unwrap_or(x);
            let sq = square(&mut b, src);
            let ms = mean(&mut b, sq, &s.axes1(), keep0);
            (x, ms, sq, ms)
        }
    };
    // Flax's clamp of the (LN) variance at 0, or the near-miss floor at 0.5.
    let var = match (&s.flaw, s.clamp && s.kind == Kind::Ln) {
        (Flaw::ClampPositive, _) => {
            let c = b.scalar("floor", 0.5);
            b.op("Max", &[var, c], vec![])
        }
        (_, true) => {
            let c = b.scalar("zero", 0.0);
            b.op("Max", &[c, var], vec![])
        }
        _ => var,
    };

    let eps = match (&s.flaw, s.eps) {
        (Flaw::EpsInput, _) => b.input("eps", DType::F32, &[]),
        (Flaw::EpsEnlarges, _) => {
            let d = vec![1; rank + 1];
            b.init("eps", Tensor::from_f32("eps", d, &[s.eps_value]))
        }
        (Flaw::EpsPerElement, _) => {
            // At least two elements, so the values really differ.
            let h = s.dims[rank - 1].max(2);
            let vals: Vec<f32> = (0..h).map(|i| s.eps_value * (1.0 + i as f32)).collect();
            b.init("eps", Tensor::from_f32("eps", vec![h], &vals))
        }
        (_, Eps::Scalar) => b.scalar("eps", s.eps_value),
        (_, Eps::CastLike) => {
            let bytes = f64::from(s.eps_value).to_le_bytes().to_vec();
            let t = Tensor::from_bytes("eps64", DType::F64, vec![], bytes).expect("one f64");
            let c = b.init("eps64", t);
            b.op("CastLike", &[c, var], vec![])
        }
        (_, Eps::One) => b.init("eps", Tensor::from_f32("eps", vec![1], &[s.eps_value])),
        (_, Eps::Ones) => b.init(
            "eps",
            Tensor::from_f32("eps", vec![1; rank], &[s.eps_value]),
        ),
        (_, Eps::ConstantNode) => b.op(
            "Constant",
            &[],
            vec![(
                "value",
                AttrValue::Tensor(Tensor::from_f32("", vec![], &[s.eps_value])),
            )],
        ),
    };
    let ve = if s.swap_eps {
        b.op("Add", &[eps, var], vec![])
    } else {
        b.op("Add", &[var, eps], vec![])
    };
    let mul = |b: &mut B, n: ValueId, r: ValueId| {
        if s.swap_inv {
            b.op("Mul", &[r, n], vec![])
        } else {
            b.op("Mul", &[n, r], vec![])
        }
    };
    let keras = s.factored || s.flaw == Flaw::FactoredOtherScale;
    let normed = if s.flaw == Flaw::DivNoSqrt {
        b.op("Div", &[num, ve], vec![])
    } else if s.flaw == Flaw::PowNegTwo {
        let sd = b.op("Sqrt", &[ve], vec![]);
        let c = b.scalar("neg_two", -2.0);
        let r = b.op("Pow", &[sd, c], vec![]);
        mul(&mut b, num, r)
    } else if keras {
        // Keras 3: inv = r·γ; y = x·inv + (Neg(mean)·inv + β) (Neg(mean)·r for the flaw).
        let sd = b.op("Sqrt", &[ve], vec![]);
        let r = b.op("Reciprocal", &[sd], vec![]);
        let dims = param_dims(s, PShape::Normalised);
        let n = lnopt_ir::numel(&dims).expect("small parameter");
        let g = b.init(
            "gamma",
            Tensor::from_f32(
                "gamma",
                dims.clone(),
                // γ = 1 would make the near-miss's `r` the same as `inv`.
                &if s.flaw == Flaw::FactoredOtherScale {
                    values(n, s.seed.wrapping_add(1), 1.25, 2.0)
                } else {
                    values(n, s.seed.wrapping_add(1), 0.25, 2.0)
                },
            ),
        );
        let inv = mul(&mut b, r, g);
        let xs = b.op("Mul", &[x, inv], vec![]);
        let neg = b.op("Neg", &[first_mean], vec![]);
        let ms = b.op(
            "Mul",
            &[
                neg,
                if s.flaw == Flaw::FactoredOtherScale {
                    r
                } else {
                    inv
                },
            ],
            vec![],
        );
        let tail = match s.beta {
            Param::Const(PShape::Normalised) => {
                let bt = b.init(
                    "beta",
                    Tensor::from_f32("beta", dims, &values(n, s.seed.wrapping_add(2), -1.0, 1.0)),
                );
                b.op("Add", &[ms, bt], vec![])
            }
            _ => ms,
        };
        b.op("Add", &[xs, tail], vec![])
    } else {
        match s.inv {
            Inv::DivSqrt => {
                let sd = b.op("Sqrt", &[ve], vec![]);
                b.op("Div", &[num, sd], vec![])
            }
            Inv::MulRecipSqrt => {
                let sd = b.op("Sqrt", &[ve], vec![]);
                let r = b.op("Reciprocal", &[sd], vec![]);
                mul(&mut b, num, r)
            }
            Inv::MulPowNegHalf => {
                let c = b.scalar("neg_half", -0.5);
                let r = b.op("Pow", &[ve, c], vec![]);
                mul(&mut b, num, r)
            }
            Inv::MulOneDivSqrt => {
                let sd = b.op("Sqrt", &[ve], vec![]);
                let one = b.scalar("one", 1.0);
                let r = b.op("Div", &[one, sd], vec![]);
                mul(&mut b, num, r)
            }
            Inv::MulPowNegOne => {
                let sd = b.op("Sqrt", &[ve], vec![]);
                let c = b.scalar("neg_one", -1.0);
                let r = b.op("Pow", &[sd, c], vec![]);
                mul(&mut b, num, r)
            }
            Inv::DivPowHalf => {
                let c = b.scalar("half", 0.5);
                let sd = b.op("Pow", &[ve, c], vec![]);
                b.op("Div", &[num, sd], vec![])
            }
        }
    };
    let y = if s.f16 {
        b.cast(normed, DType::F16)
    } else {
        normed
    };
    let params = if keras {
        [Param::None, Param::None]
    } else {
        [s.gamma, s.beta]
    };
    let y = apply_affine(&mut b, s, y, io, params);
    b.g.add_output(y);
    match s.extra {
        Extra::None => {}
        Extra::MeanOut => b.g.add_output(first_mean),
        Extra::MeanFeedsOp => {
            let t = b.op("Tanh", &[first_mean], vec![]);
            b.g.add_output(t);
        }
        Extra::CentredOut => b.g.add_output(centred),
        Extra::CentredFeedsOp => {
            let t = b.op("Tanh", &[centred], vec![]);
            b.g.add_output(t);
        }
        Extra::VarOut => b.g.add_output(var),
        Extra::VarEpsFeedsOp => {
            let t = b.op("Tanh", &[ve], vec![]);
            b.g.add_output(t);
        }
        Extra::NormOut => {
            if !b.g.is_output(normed) {
                b.g.add_output(normed);
            }
        }
    }
    Model::new(b.g, opset)
}

/// `y · γ + β` for the parameters `params` (γ, β) of `s`.
fn apply_affine(b: &mut B, s: &Spec, mut y: ValueId, io: DType, params: [Param; 2]) -> ValueId {
    for (i, p) in params.into_iter().enumerate() {
        let name = if i == 0 { "gamma" } else { "beta" };
        let (shape, runtime) = match p {
            Param::None => continue,
            Param::Const(sh) => (sh, false),
            Param::Runtime(sh) => (sh, true),
        };
        let dims = param_dims(s, shape);
        let n = lnopt_ir::numel(&dims).expect("small parameter");
        let pv = if runtime {
            b.input(name, io, &dims)
        } else {
            let (lo, hi) = if i == 0 { (0.25, 2.0) } else { (-1.0, 1.0) };
            let vals = values(n, s.seed.wrapping_add(i as u64 + 1), lo, hi);
            let t = if s.f16 {
                f16_tensor(name, dims, &vals)
            } else {
                Tensor::from_f32(name, dims, &vals)
            };
            b.init(name, t)
        };
        let op = if i == 0 { "Mul" } else { "Add" };
        y = if s.swap_affine {
            b.op(op, &[pv, y], vec![])
        } else {
            b.op(op, &[y, pv], vec![])
        };
    }
    y
}

/// The Keras 2 spelling ([`BnView`]) of `s` over `x` (moments of `other` for
/// [`Flaw::MeanOfOther`]); returns the normalised value reshaped back to x's dims.
fn keras2_batch_norm(
    b: &mut B,
    s: &Spec,
    view: BnView,
    x: ValueId,
    other: Option<ValueId>,
) -> ValueId {
    let r = s.rank();
    let block: i64 = s.dims[r - s.k..].iter().product();
    let rows: i64 = s.dims[..r - s.k].iter().product();
    let vdims = match (view, &s.flaw) {
        (_, Flaw::BnBatch2) => vec![2, rows / 2, block, 1],
        (BnView::HalfRows, _) => vec![1, rows * 2, block / 2, 1],
        (BnView::Rows, _) => vec![1, rows, block, 1],
    };
    let shape = b.init("view", Tensor::from_i64("view", vec![4], &vdims));
    let xv = b.op("Reshape", &[x, shape], vec![]);
    let src = match other {
        Some(z) => b.op("Reshape", &[z, shape], vec![]),
        None => xv,
    };
    let axes = [0i64, 2, 3];
    let axes_c = b.init("stat_axes", Tensor::from_i64("stat_axes", vec![3], &axes));
    let reduce = |b: &mut B, op: &str, v: ValueId, keep: i64| {
        let kd = ("keepdims", AttrValue::Int(keep));
        if s.opset() >= 18 {
            b.op(op, &[v, axes_c], vec![kd])
        } else {
            b.op(op, &[v], vec![kd, ("axes", AttrValue::Ints(axes.to_vec()))])
        }
    };
    let mean = reduce(b, "ReduceMean", src, 1);
    let d = b.op("Sub", &[src, mean], vec![]);
    let ssq = reduce(b, "ReduceSumSquare", d, 0);
    let m = b.op("Squeeze", &[mean, axes_c], vec![]);
    let per_view = vdims[2] * vdims[0];
    let count = if s.flaw == Flaw::BnCount {
        per_view - 1
    } else {
        per_view
    };
    let n = b.scalar("count", count as f32);
    let var = b.op("Div", &[ssq, n], vec![]);
    let c = vdims[1] as usize;
    let ones = b.init(
        "bn_scale",
        Tensor::from_f32("bn_scale", vec![c as i64], &vec![1.0; c]),
    );
    let zeros = b.init(
        "bn_bias",
        Tensor::from_f32("bn_bias", vec![c as i64], &vec![0.0; c]),
    );
    let bn = b.op(
        "BatchNormalization",
        &[xv, ones, zeros, m, var],
        vec![("epsilon", AttrValue::Float(s.eps_value))],
    );
    let back = b.init("back", Tensor::from_i64("back", vec![r as i64], &s.dims));
    b.op("Reshape", &[bn, back], vec![])
}

/// Dims of a γ/β of shape kind `p`.
fn param_dims(s: &Spec, p: PShape) -> Vec<i64> {
    let r = s.rank();
    let normalised = s.dims[r - s.k..].to_vec();
    match p {
        PShape::Normalised => normalised,
        PShape::Last => vec![s.dims[r - 1]],
        PShape::Scalar => vec![],
        PShape::One => vec![1],
        PShape::LeadingOne => std::iter::once(1).chain(normalised).collect(),
        PShape::Beyond => {
            if s.k < r {
                s.dims[r - s.k - 1..].to_vec()
            } else {
                std::iter::once(2).chain(normalised).collect()
            }
        }
    }
}

/// Random inputs for every graph input of `m`, in order. The input `x` is conditioned: the
/// first two elements of every block of the last `k` dims are -1.5 and +1.5, so each
/// normalised row has variance (and mean square) at least 4.5 / block size (see the suite's
/// tolerance notes); other inputs are uniform in [-2, 2).
pub fn inputs(s: &Spec, m: &Model) -> Vec<Tensor> {
    let g = &m.graph;
    let block = s.block();
    g.inputs()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let val = g.value(v);
            let t = val.declared_tensor_type().expect("typed input");
            let dims = t.fixed_dims().expect("fixed dims");
            let n = lnopt_ir::numel(&dims).expect("small input");
            let mut vals = values(n, s.seed.wrapping_mul(31).wrapping_add(i as u64), -2.0, 2.0);
            if val.name == "x" && block >= 2 {
                for row in vals.chunks_mut(block) {
                    row[0] = -1.5;
                    row[1] = 1.5;
                }
            }
            if val.name == "eps" {
                vals.iter_mut().for_each(|e| *e = e.abs() * 0.01 + 1e-3);
            }
            match t.elem {
                DType::F16 => f16_tensor(&val.name, dims, &vals),
                _ => Tensor::from_f32(val.name.clone(), dims, &vals),
            }
        })
        .collect()
}
