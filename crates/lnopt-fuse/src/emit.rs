//! Writing an extraction back into the IR: fused nodes (absorbing γ/β when their shapes
//! allow), plus fresh copies of any non-fused op the extraction needs. Runs twice: a dry run
//! that only checks (reads precede the rewritten value, Scale buildable), then the real one.

use crate::analysis::broadcasts_within;
use crate::consts::{const_of, pack_float};
use crate::extract::Extraction;
use crate::lang::NormLang;
use crate::rules::cond::NormEGraph;
use crate::{EmitTarget, FuseOptions, NormKind};
use egg::Id;
use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, DType, Dim, Graph, Node, NodeId, Tensor, ValueId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Per fused LayerNorm class: the statistics classes it must output, each with its output
/// slot (1 = Mean, 2 = InvStdDev) and the existing value to define, if any.
pub type StatPlan = HashMap<Id, Vec<(Id, usize, Option<ValueId>)>>;

/// One fused node written into the graph.
#[derive(Clone, Debug)]
pub struct Event {
    /// Fused class.
    pub class: Id,
    /// Kind.
    pub kind: NormKind,
    /// Name of the new node.
    pub node_name: String,
}

/// Read-only facts the emitter needs.
pub struct Ctx<'a> {
    /// Saturated e-graph.
    pub eg: &'a NormEGraph,
    /// Chosen nodes.
    pub ext: &'a Extraction,
    /// Inference results of the original graph.
    pub types: &'a GraphTypes,
    /// ai.onnx opset of the graph.
    pub opset: i64,
    /// Pass options.
    pub opts: &'a FuseOptions,
    /// Original IR values of each class.
    pub class_values: &'a BTreeMap<Id, Vec<ValueId>>,
    /// Root values that will be redefined.
    pub rewrite_roots: &'a BTreeSet<ValueId>,
    /// Per fused LN class: (Mean class, InvStdDev class) that must come from its outputs,
    /// each with the root value to define when it is a root.
    pub stats: &'a StatPlan,
    /// Hint for new names per fused class (the anchor's name).
    pub anchor_names: &'a HashMap<Id, String>,
}

/// Mutable state of one emission.
pub struct Emitter<'a, 'g> {
    /// Facts.
    pub ctx: Ctx<'a>,
    /// The graph being edited.
    pub g: &'g mut Graph,
    /// Topological positions (new nodes get their root's position).
    pub pos: &'g mut HashMap<NodeId, usize>,
    /// Node names in use.
    pub names: &'g mut HashSet<String>,
    /// When true nothing is edited.
    pub dry: bool,
    /// Value emitted per class.
    pub memo: HashMap<Id, ValueId>,
    /// Fused nodes written.
    pub events: Vec<Event>,
    /// Original nodes removed because their output was redefined.
    pub removed: Vec<NodeId>,
    counter: u32,
}

enum Param {
    Value(ValueId),
    Const(Vec<f64>),
}

impl<'a, 'g> Emitter<'a, 'g> {
    /// A new emitter.
    pub fn new(
        ctx: Ctx<'a>,
        g: &'g mut Graph,
        pos: &'g mut HashMap<NodeId, usize>,
        names: &'g mut HashSet<String>,
        dry: bool,
    ) -> Self {
        Emitter {
            ctx,
            g,
            pos,
            names,
            dry,
            memo: HashMap::new(),
            events: Vec::new(),
            removed: Vec::new(),
            counter: 0,
        }
    }

    fn find(&self, c: Id) -> Id {
        self.ctx.eg.find(c)
    }

    fn placeholder(&mut self) -> ValueId {
        self.counter += 1;
        ValueId(u32::MAX - self.counter)
    }

    fn read_ok(&self, v: ValueId, bound: usize) -> bool {
        if v.index() >= self.g.value_count() {
            return true; // a placeholder of the dry run
        }
        match self.g.producer_node(v) {
            None => true,
            Some((n, _)) => self.pos.get(&n).is_some_and(|&p| p < bound),
        }
    }

    /// An original IR value of class `c` that may be read at position `bound`. Values from
    /// outside the region come first, then the earliest. A root that another site redefines
    /// is reusable too: it keeps its value id and its position, and its new definition
    /// computes the same function, so reading it never duplicates a fused node (a chain of
    /// norms, where one norm's output is the next one's input).
    pub fn reusable(&self, c: Id, bound: usize) -> Option<ValueId> {
        let vals = self.ctx.class_values.get(&self.find(c))?;
        let mut best: Option<(usize, ValueId)> = None;
        for &w in vals {
            if !self.read_ok(w, bound) {
                continue;
            }
            let rank = match self.g.producer_node(w) {
                None => 0,
                Some((n, _)) => self.pos.get(&n).map_or(usize::MAX, |p| p + 1),
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, w));
            }
        }
        best.map(|(_, w)| w)
    }

    /// Writes the fused node of class `c` (a fused class or an absorbable affine around one)
    /// into the existing value `v`.
    pub fn emit_into(&mut self, c: Id, v: ValueId, bound: usize) -> Result<ValueId, String> {
        let c = self.find(c);
        let hint = self.g.value(v).name.clone();
        if self.is_fused_class(c).is_some() {
            return self.emit_norm(c, None, None, Some(v), bound, &hint);
        }
        match self.affine(c) {
            Some((f, gamma, beta)) => self.emit_norm(f, gamma, beta, Some(v), bound, &hint),
            None => Err(format!("value '{hint}' is not a fused form")),
        }
    }

    fn unique_name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Redefines `dest`: removes its current producer.
    fn define(&mut self, dest: ValueId) {
        if self.dry {
            return;
        }
        if let Some((n, _)) = self.g.producer_node(dest) {
            self.g.remove_node(n);
            self.pos.remove(&n);
            self.removed.push(n);
        }
    }

    fn out_value(&mut self, dest: Option<ValueId>, hint: &str) -> ValueId {
        match dest {
            Some(d) => {
                self.define(d);
                d
            }
            None if self.dry => self.placeholder(),
            None => self.g.new_value(hint),
        }
    }

    fn add(
        &mut self,
        node: Node,
        inputs: Vec<Option<ValueId>>,
        outputs: Vec<Option<ValueId>>,
        bound: usize,
    ) -> Result<(), String> {
        if self.dry {
            return Ok(());
        }
        let name = node.name.clone();
        let id = self
            .g
            .add_node(node, inputs, outputs)
            .map_err(|e| format!("adding node {name}: {e}"))?;
        self.pos.insert(id, bound);
        Ok(())
    }

    /// Emits class `c`, writing the result into `dest` when given. New nodes only read values
    /// computed before position `bound`.
    pub fn emit(
        &mut self,
        c: Id,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
    ) -> Result<ValueId, String> {
        let c = self.find(c);
        if dest.is_none() {
            if let Some(&v) = self.memo.get(&c) {
                return Ok(v);
            }
            if let Some(w) = self.reusable(c, bound) {
                return Ok(w);
            }
        }
        let node = self
            .ctx
            .ext
            .node(self.ctx.eg, c)
            .cloned()
            .ok_or_else(|| format!("no term chosen for e-class {c}"))?;
        let out = match &node {
            NormLang::Val(r) => {
                let v = ValueId(r.0);
                if !self.read_ok(v, bound) {
                    return Err(format!(
                        "value '{}' is computed after the pattern; fusing would create a cycle",
                        self.g.value(v).name
                    ));
                }
                match dest {
                    None => v,
                    Some(d) => {
                        let d = self.out_value(Some(d), hint);
                        let name = self.unique_name(&format!("{hint}/Identity"));
                        self.add(
                            Node::new("Identity", name),
                            vec![Some(v)],
                            vec![Some(d)],
                            bound,
                        )?;
                        d
                    }
                }
            }
            NormLang::Int(_) => return Err("an integer literal cannot be a tensor".into()),
            NormLang::Ln(_) | NormLang::Rms(_) => {
                self.emit_norm(c, None, None, dest, bound, hint)?
            }
            _ => {
                if let Some((f, gamma, beta)) = self.affine(c) {
                    self.emit_norm(f, gamma, beta, dest, bound, hint)?
                } else {
                    self.emit_generic(&node, dest, bound, hint)?
                }
            }
        };
        self.memo.insert(c, out);
        Ok(out)
    }

    /// The kind of the fused node chosen for class `c`, if any.
    pub fn is_fused_class(&self, c: Id) -> Option<NormKind> {
        match self.ctx.ext.node(self.ctx.eg, c)? {
            NormLang::Ln(_) => Some(NormKind::LayerNorm),
            NormLang::Rms(_) => Some(NormKind::RmsNorm),
            _ => None,
        }
    }

    /// `add(mul(f, γ), β)`, `mul(f, γ)` or `add(f, β)` around a fused class `f`, when γ/β
    /// can become the node's Scale/B.
    /// The fused class and γ/β classes when class `c` is an absorbable affine around it.
    pub fn affine(&self, c: Id) -> Option<(Id, Option<Id>, Option<Id>)> {
        let node = self.ctx.ext.node(self.ctx.eg, c)?;
        match node {
            NormLang::Mul([a, b]) => {
                for (f, p) in [(*a, *b), (*b, *a)] {
                    if self.is_fused_class(f).is_some() && self.param(f, p, false).is_some() {
                        return Some((self.find(f), Some(p), None));
                    }
                }
                None
            }
            NormLang::Add([a, b]) => {
                for (s, q) in [(*a, *b), (*b, *a)] {
                    if self.is_fused_class(s) == Some(NormKind::LayerNorm)
                        && self.param(s, q, true).is_some()
                    {
                        return Some((self.find(s), None, Some(q)));
                    }
                    if let Some(NormLang::Mul([m1, m2])) = self.ctx.ext.node(self.ctx.eg, s) {
                        for (f, p) in [(*m1, *m2), (*m2, *m1)] {
                            if self.is_fused_class(f) == Some(NormKind::LayerNorm)
                                && self.param(f, p, false).is_some()
                                && self.param(f, q, true).is_some()
                            {
                                return Some((self.find(f), Some(p), Some(q)));
                            }
                        }
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// Operands of the fused node of class `f`: x class, k, eps.
    pub fn norm_parts(&self, f: Id) -> Option<(Id, i64, f64)> {
        match self.ctx.ext.node(self.ctx.eg, f)? {
            NormLang::Ln([x, k, e]) | NormLang::Rms([x, k, e]) => {
                Some((*x, self.ctx.eg[*k].data.int?, self.ctx.eg[*e].data.uniform?))
            }
            _ => None,
        }
    }

    /// Normalised dims (the last `k` of x) when all are fixed.
    fn norm_dims(&self, x: Id, k: i64) -> Option<Vec<i64>> {
        let s = self.ctx.eg[x].data.shape.as_ref()?;
        let k = usize::try_from(k).ok()?;
        s.get(s.len().checked_sub(k)?..)?
            .iter()
            .map(|d| d.fixed())
            .collect()
    }

    /// How γ/β class `p` can feed the fused node `f`, if it can.
    /// The IR value of γ/β class `p` when it is passed as is.
    pub fn param_input(&self, f: Id, p: Id) -> Option<ValueId> {
        match self.param(f, p, false)? {
            Param::Value(v) => Some(v),
            Param::Const(_) => None,
        }
    }

    fn param(&self, f: Id, p: Id, _bias: bool) -> Option<Param> {
        let (x, k, _) = self.norm_parts(f)?;
        let fx = &self.ctx.eg[x].data;
        let fp = &self.ctx.eg[self.find(p)].data;
        let v = self.ctx.eg[self.find(p)]
            .nodes
            .iter()
            .find_map(|n| match n {
                NormLang::Val(r) => Some(ValueId(r.0)),
                _ => None,
            })?;
        if fp.dtype.is_none() || fp.dtype != fx.dtype {
            return None;
        }
        let (ps, xs) = (fp.shape.as_ref()?, fx.shape.as_ref()?);
        let k = usize::try_from(k).ok()?;
        if !broadcasts_within(ps, xs) || xs.len() < k {
            return None;
        }
        let lead = xs.len() - k;
        let off = xs.len() - ps.len();
        for (i, d) in ps.iter().enumerate() {
            if off + i < lead && *d != Dim::Fixed(1) {
                return None;
            }
        }
        let trailing = xs.get(lead..)?;
        if ps.len() == k && ps.iter().zip(trailing).all(|(a, b)| a.same_as(b)) {
            return Some(Param::Value(v));
        }
        let dims = self.norm_dims(x, k as i64)?;
        let c = const_of(self.g, self.ctx.types, v)?;
        let total = lnopt_ir::numel(&dims)?;
        // Broadcast the constant (whose dims align right with `dims`) to `dims`.
        let cd: Vec<i64> = c
            .dims
            .iter()
            .copied()
            .skip(c.dims.len().saturating_sub(k))
            .collect();
        let pad = k - cd.len();
        let mut out = Vec::with_capacity(total);
        for flat in 0..total {
            let mut rem = flat;
            let mut src = 0usize;
            let mut stride = 1usize;
            for ax in (0..k).rev() {
                let n = usize::try_from(*dims.get(ax)?).ok()?;
                let idx = rem % n.max(1);
                rem /= n.max(1);
                if ax >= pad {
                    let cn = usize::try_from(*cd.get(ax - pad)?).ok()?;
                    if cn != 1 {
                        src += idx * stride;
                    }
                    stride *= cn;
                }
            }
            out.push(*c.values.get(src)?);
        }
        Some(Param::Const(out))
    }

    fn param_value(
        &mut self,
        f: Id,
        p: Option<Id>,
        bias: bool,
        bound: usize,
        hint: &str,
    ) -> Result<Option<ValueId>, String> {
        let Some(p) = p else { return Ok(None) };
        let (x, k, _) = self.norm_parts(f).ok_or("fused node lost its operands")?;
        match self.param(f, p, bias) {
            Some(Param::Value(v)) => {
                if !self.read_ok(v, bound) {
                    return Err(format!(
                        "'{}' is computed after the pattern; fusing would create a cycle",
                        self.g.value(v).name
                    ));
                }
                Ok(Some(v))
            }
            Some(Param::Const(vals)) => {
                let dims = self
                    .norm_dims(x, k)
                    .ok_or("normalised dims are not fixed")?;
                let dtype = self.ctx.eg[x].data.dtype.unwrap_or(DType::F32);
                Ok(Some(self.new_init(hint, dtype, dims, &vals)?))
            }
            None => Err("γ/β cannot be absorbed".into()),
        }
    }

    fn new_init(
        &mut self,
        hint: &str,
        dtype: DType,
        dims: Vec<i64>,
        vals: &[f64],
    ) -> Result<ValueId, String> {
        if self.dry {
            return Ok(self.placeholder());
        }
        let bytes =
            pack_float(vals, dtype).ok_or_else(|| format!("cannot store {dtype} constants"))?;
        let t = Tensor::from_bytes(hint, dtype, dims, bytes).map_err(|e| e.to_string())?;
        Ok(self.g.add_initializer(hint, t))
    }

    fn emit_norm(
        &mut self,
        f: Id,
        gamma: Option<Id>,
        beta: Option<Id>,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
    ) -> Result<ValueId, String> {
        let f = self.find(f);
        let kind = self.is_fused_class(f).ok_or("not a fused class")?;
        let (x, k, eps) = self
            .norm_parts(f)
            .ok_or("fused node without constant k/eps")?;
        let base = self
            .ctx
            .anchor_names
            .get(&f)
            .cloned()
            .unwrap_or_else(|| hint.to_string());
        // Statistics outputs this node must provide, and the tighter bound they impose.
        let mut stat_outs: Vec<(Id, usize, Option<ValueId>)> = Vec::new();
        let mut bound = bound;
        if kind == NormKind::LayerNorm {
            for &(sc, slot, root) in self.ctx.stats.get(&f).map(|v| v.as_slice()).unwrap_or(&[]) {
                if self.memo.contains_key(&self.find(sc)) {
                    continue;
                }
                if let Some(r) = root {
                    if let Some((n, _)) = self.g.producer_node(r) {
                        if let Some(&p) = self.pos.get(&n) {
                            bound = bound.min(p);
                        }
                    }
                }
                stat_outs.push((self.find(sc), slot, root));
            }
        }
        let xv = self.emit(x, None, bound, hint)?;
        // The axis counts from the end when the rank is unknown (the same axes for any rank).
        let axis = match self.ctx.eg[x].data.rank() {
            Some(rank) => rank as i64 - k,
            None => -k,
        };
        let scale = match self.param_value(f, gamma, false, bound, &format!("{base}_scale"))? {
            Some(v) => v,
            None => {
                let dtype = self.ctx.eg[x].data.dtype.unwrap_or(DType::F32);
                match self.norm_dims(x, k) {
                    Some(dims) => {
                        let n = lnopt_ir::numel(&dims).ok_or("normalised size overflows")?;
                        self.new_init(&format!("{base}_unit_scale"), dtype, dims, &vec![1.0; n])?
                    }
                    None => self.runtime_unit_scale(xv, k, dtype, bound, &base)?,
                }
            }
        };
        let bias = self.param_value(f, beta, true, bound, &format!("{base}_bias"))?;
        // Statistics in f32, except an f64 RMSNormalization, whose standard op takes an f64
        // stash_type (LayerNormalization's Mean/InvStdDev type does not include f64, and ONNX
        // Runtime's SimplifiedLayerNormalization is not promised one).
        let stash = match (self.ctx.eg[x].data.dtype, kind, self.ctx.opts.target) {
            (Some(DType::F64), NormKind::RmsNorm, EmitTarget::Standard) => {
                // The epsilon attribute is an f32: the nearest normal f32 moves ε by at most
                // 2^-24 of itself, so √(v + ε) by at most 2^-25 relative (docs/numerics.md).
                // A subnormal or zero f32 would lose ε, and is refused.
                if !(eps as f32).is_normal() && eps != 0.0 {
                    return Err(format!(
                        "epsilon {eps:e} of the f64 statistics has no normal f32 value, and the \
                         epsilon attribute is an f32"
                    ));
                }
                DType::F64
            }
            (Some(DType::F64), _, _) => {
                return Err(format!(
                    "statistics are computed in f64: {} cannot compute them in f64 for this target",
                    kind.op_name()
                ))
            }
            _ => DType::F32,
        };
        let (op, domain_note) = match (kind, self.ctx.opts.target) {
            (NormKind::LayerNorm, _) => ("LayerNormalization", ""),
            (NormKind::RmsNorm, EmitTarget::Standard) => ("RMSNormalization", ""),
            (NormKind::RmsNorm, EmitTarget::Ort) => ("SimplifiedLayerNormalization", ""),
        };
        let y = self.out_value(dest, &format!("{base}_Y"));
        let mut outputs = vec![Some(y)];
        for &(sc, slot, root) in &stat_outs {
            let v = match root {
                Some(r) => self.out_value(Some(r), ""),
                None => self.out_value(None, &format!("{base}_stat{slot}")),
            };
            while outputs.len() < slot {
                outputs.push(None);
            }
            outputs.push(Some(v));
            self.memo.insert(sc, v);
        }
        let name = self.unique_name(&format!("{base}/{op}"));
        let mut node = Node::new(op, name.clone());
        node.domain = domain_note.to_string();
        node.set_attr("axis", AttrValue::Int(axis));
        node.set_attr("epsilon", AttrValue::Float(eps as f32));
        node.set_attr("stash_type", AttrValue::Int(i64::from(stash.onnx_code())));
        let mut inputs = vec![Some(xv), Some(scale)];
        if let Some(b) = bias {
            inputs.push(Some(b));
        }
        self.add(node, inputs, outputs, bound)?;
        self.events.push(Event {
            class: f,
            kind,
            node_name: name,
        });
        if gamma.is_none() && beta.is_none() {
            self.memo.insert(f, y);
        }
        let _ = self.ctx.opset;
        Ok(y)
    }

    /// A Scale of ones shaped like the last `k` dims of `xv`, computed at run time
    /// (`ConstantOfShape(Slice(Shape(x), -k))`), for a norm whose normalised dims are not all
    /// known: the core needs no normalised size, and γ/β, which may fix it only by
    /// broadcasting, stay outside as they were.
    fn runtime_unit_scale(
        &mut self,
        xv: ValueId,
        k: i64,
        dtype: DType,
        bound: usize,
        base: &str,
    ) -> Result<ValueId, String> {
        if self.ctx.opset < 10 {
            return Err(
                "the normalised dims are not all fixed, and a unit Scale built at run time \
                 needs opset 10"
                    .into(),
            );
        }
        let hint = format!("{base}_unit_scale");
        let shape = self.simple("Shape", vec![xv], None, bound, &hint)?;
        let (starts, ends) = if self.dry {
            (self.placeholder(), self.placeholder())
        } else {
            (
                self.g.add_initializer(
                    &format!("{hint}_start"),
                    Tensor::from_i64("", vec![1], &[-k]),
                ),
                self.g.add_initializer(
                    &format!("{hint}_end"),
                    Tensor::from_i64("", vec![1], &[i64::MAX]),
                ),
            )
        };
        let dims = self.simple("Slice", vec![shape, starts, ends], None, bound, &hint)?;
        let one = pack_float(&[1.0], dtype).ok_or_else(|| format!("cannot store {dtype} ones"))?;
        let one = Tensor::from_bytes("", dtype, vec![1], one).map_err(|e| e.to_string())?;
        self.simple_attr(
            "ConstantOfShape",
            vec![dims],
            None,
            bound,
            &hint,
            Some(("value", AttrValue::Tensor(one))),
        )
    }

    fn emit_generic(
        &mut self,
        node: &NormLang,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
    ) -> Result<ValueId, String> {
        let (op, args, attr): (&str, Vec<Id>, Option<(&str, AttrValue)>) = match node {
            NormLang::Add([a, b]) => ("Add", vec![*a, *b], None),
            NormLang::Sub([a, b]) => ("Sub", vec![*a, *b], None),
            NormLang::Mul([a, b]) => ("Mul", vec![*a, *b], None),
            NormLang::Div([a, b]) => ("Div", vec![*a, *b], None),
            NormLang::Pow([a, b]) => ("Pow", vec![*a, *b], None),
            NormLang::Sqrt(a) => ("Sqrt", vec![*a], None),
            NormLang::Recip(a) => ("Reciprocal", vec![*a], None),
            NormLang::Neg(a) => ("Neg", vec![*a], None),
            NormLang::Max([a, b]) => ("Max", vec![*a, *b], None),
            NormLang::Cast([a, t]) => {
                let t = self.ctx.eg[*t].data.int.ok_or("cast without dtype")?;
                ("Cast", vec![*a], Some(("to", AttrValue::Int(t))))
            }
            NormLang::Mean([a, k]) => {
                let k = self.ctx.eg[*k].data.int.ok_or("mean without k")?;
                return self.emit_mean(*a, k, dest, bound, hint);
            }
            NormLang::Var([a, k]) => {
                let k = self.ctx.eg[*k].data.int.ok_or("var without k")?;
                let m = self.emit_mean(*a, k, None, bound, hint)?;
                let xv = self.emit(*a, None, bound, hint)?;
                let d = self.simple("Sub", vec![xv, m], None, bound, hint)?;
                let sq = self.simple("Mul", vec![d, d], None, bound, hint)?;
                return self.mean_of_value(sq, *a, k, dest, bound, hint);
            }
            NormLang::Sum(_)
            | NormLang::Flat(_)
            | NormLang::Chan(_)
            | NormLang::Num(_)
            | NormLang::RMin(_)
            | NormLang::RMax(_)
            | NormLang::Eq(_)
            | NormLang::And(_)
            | NormLang::Where(_) => {
                return Err(format!(
                    "the term {node} is only an intermediate of the rules and is not written back"
                ))
            }
            _ => return Err("unexpected term".into()),
        };
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.emit(a, None, bound, hint)?);
        }
        self.simple_attr(op, vals, dest, bound, hint, attr)
    }

    fn simple(
        &mut self,
        op: &str,
        ins: Vec<ValueId>,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
    ) -> Result<ValueId, String> {
        self.simple_attr(op, ins, dest, bound, hint, None)
    }

    fn simple_attr(
        &mut self,
        op: &str,
        ins: Vec<ValueId>,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
        attr: Option<(&str, AttrValue)>,
    ) -> Result<ValueId, String> {
        let out = self.out_value(dest, &format!("{hint}_{op}"));
        let name = self.unique_name(&format!("{hint}/{op}"));
        let mut node = Node::new(op, name);
        if let Some((k, v)) = attr {
            node.set_attr(k, v);
        }
        self.add(
            node,
            ins.into_iter().map(Some).collect(),
            vec![Some(out)],
            bound,
        )?;
        Ok(out)
    }

    fn emit_mean(
        &mut self,
        a: Id,
        k: i64,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
    ) -> Result<ValueId, String> {
        let xv = self.emit(a, None, bound, hint)?;
        self.mean_of_value(xv, a, k, dest, bound, hint)
    }

    fn mean_of_value(
        &mut self,
        xv: ValueId,
        a: Id,
        k: i64,
        dest: Option<ValueId>,
        bound: usize,
        hint: &str,
    ) -> Result<ValueId, String> {
        let rank = self.ctx.eg[a].data.rank().ok_or("rank unknown")? as i64;
        let axes: Vec<i64> = (rank - k..rank).collect();
        let out = self.out_value(dest, &format!("{hint}_ReduceMean"));
        let name = self.unique_name(&format!("{hint}/ReduceMean"));
        let mut node = Node::new("ReduceMean", name);
        node.set_attr("keepdims", AttrValue::Int(1));
        let mut inputs = vec![Some(xv)];
        if self.ctx.opset >= 18 {
            let ax = if self.dry {
                self.placeholder()
            } else {
                self.g.add_initializer(
                    &format!("{hint}_axes"),
                    Tensor::from_i64("", vec![k], &axes),
                )
            };
            inputs.push(Some(ax));
        } else {
            node.set_attr("axes", AttrValue::Ints(axes));
        }
        self.add(node, inputs, vec![Some(out)], bound)?;
        Ok(out)
    }
}
