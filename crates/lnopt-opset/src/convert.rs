//! The rewrites of [`crate::table::Conversion`] and the checks of [`crate::table::Check`].
//!
//! Each rewrite validates the node before changing it and returns `Err(reason)` when the node
//! cannot be converted; the caller then records a blocker and discards the whole upgrade.

use crate::table::{Check, Conversion};
use crate::typeview::TypeView;
use lnopt_ir::{AttrValue, DType, Graph, Node, NodeId, Tensor, ValueId};

/// Per-graph facts a rewrite needs.
pub struct GraphCx<'a> {
    /// Types computed before any rewrite.
    pub types: &'a TypeView,
    /// Make new constants Constant nodes (function bodies have no initializers).
    pub const_nodes: bool,
    /// The target opset.
    pub to: i64,
}

/// Result of a rewrite: the node's (possibly new) id and a description when it changed.
pub type Converted = Result<(NodeId, Option<String>), String>;

/// Applies `conv` to node `id` of `g`.
pub fn apply(conv: Conversion, g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    use Conversion::*;
    match conv {
        ReduceAxesToInput | SqueezeAxesToInput | SplitToInput => {
            let (attr, required) = match conv {
                SplitToInput => ("split", false),
                _ => ("axes", g.node(id).op_type == "Unsqueeze"),
            };
            ints_attr_to_input(g, id, cx, attr, 1, required)
        }
        SplitNumOutputs => split_num_outputs(g, id, cx),
        SoftmaxAxis => softmax_axis(g, id, cx),
        PadToInputs => pad_to_inputs(g, id, cx),
        ClipToInputs => clip_to_inputs(g, id, cx),
        SliceToInputs => slice_to_inputs(g, id, cx),
        DropoutRatioToInput => dropout_ratio(g, id, cx),
        TopKToInput => {
            let k = g.node(id).attr_int("k")?.ok_or("TopK-1 without 'k'")?;
            remove_attr(g.node_mut(id), "k");
            ints_to_input(g, id, cx, "k", &[k], 1)?;
            Ok((id, Some(format!("k={k} attribute → K input"))))
        }
        BatchNormSpatial => match g.node(id).attr_int("spatial")? {
            None => Ok((id, None)),
            Some(1) => {
                remove_attr(g.node_mut(id), "spatial");
                Ok((
                    id,
                    Some("spatial=1 attribute dropped (the only mode left)".into()),
                ))
            }
            Some(s) => Err(format!("spatial={s} has no equivalent after opset 9")),
        },
        Resize13 => resize_13(g, id),
        RoiAlignMode => {
            if g.node(id).attr("coordinate_transformation_mode").is_some() {
                return Ok((id, None));
            }
            g.node_mut(id).set_attr(
                "coordinate_transformation_mode",
                AttrValue::String(b"output_half_pixel".to_vec()),
            );
            Ok((
                id,
                Some("old default made explicit: output_half_pixel".into()),
            ))
        }
    }
}

/// Checks a condition of [`Check`] on node `id`.
pub fn check(c: Check, g: &Graph, id: NodeId, types: &TypeView) -> Result<(), String> {
    let node = g.node(id);
    match c {
        Check::FloatInput => match node.input(0).and_then(|x| types.dtype(g, x)) {
            Some(d) if !d.is_float() => Err(format!("Erf-13 no longer accepts {d} inputs")),
            _ => Ok(()),
        },
        Check::SingleOutput => {
            if node.outputs().iter().skip(1).any(|o| o.is_some()) {
                Err("training-mode outputs changed meaning at opset 14".into())
            } else {
                Ok(())
            }
        }
        Check::NoSameAutoPad => match node.attr("auto_pad") {
            Some(AttrValue::String(s)) if s.starts_with(b"SAME") => {
                Err("auto_pad SAME_* split padding the other way before opset 11".into())
            }
            _ => Ok(()),
        },
    }
}

fn base_name(g: &Graph, id: NodeId) -> String {
    let n = g.node(id);
    if n.name.is_empty() {
        n.op_type.clone()
    } else {
        n.name.clone()
    }
}

fn remove_attr(node: &mut Node, name: &str) -> Option<AttrValue> {
    let pos = node.attributes.iter().position(|a| a.name == name)?;
    Some(node.attributes.remove(pos).value)
}

/// Adds a constant as an initializer, or as a Constant node in function bodies.
fn add_const(g: &mut Graph, cx: &GraphCx, hint: &str, t: Tensor) -> Result<ValueId, String> {
    if !cx.const_nodes {
        return Ok(g.add_initializer(hint, t));
    }
    let v = g.new_value(hint);
    let name = g.value(v).name.clone();
    let mut node = Node::new("Constant", format!("{name}_const"));
    node.set_attr("value", AttrValue::Tensor(t));
    g.add_node(node, vec![], vec![Some(v)])
        .map_err(|e| format!("adding constant '{name}': {e}"))?;
    Ok(v)
}

fn ints_to_input(
    g: &mut Graph,
    id: NodeId,
    cx: &GraphCx,
    what: &str,
    vals: &[i64],
    slot: usize,
) -> Result<(), String> {
    if g.node(id).input(slot).is_some() {
        return Err(format!(
            "input {slot} is already set, alongside a '{what}' attribute"
        ));
    }
    let hint = format!("{}_{what}", base_name(g, id));
    let dims = vec![vals.len() as i64];
    let c = add_const(g, cx, &hint, Tensor::from_i64("", dims, vals))?;
    g.set_input(id, slot, Some(c));
    Ok(())
}

/// Moves an INTS attribute to an int64 1-D input; absent attributes add no input.
fn ints_attr_to_input(
    g: &mut Graph,
    id: NodeId,
    cx: &GraphCx,
    attr: &str,
    slot: usize,
    required: bool,
) -> Converted {
    let node = g.node(id);
    let Some(vals) = node.attr_ints(attr)?.map(|v| v.to_vec()) else {
        if required {
            return Err(format!("required attribute '{attr}' is missing"));
        }
        if node.input(slot).is_some() {
            return Err(format!("has an input {slot} the old opset does not define"));
        }
        return Ok((id, None));
    };
    if node.input(slot).is_some() {
        return Err(format!("has both a '{attr}' attribute and input {slot}"));
    }
    remove_attr(g.node_mut(id), attr);
    if vals.is_empty() && !required {
        // An empty list meant the default; the absent input means the same.
        return Ok((id, Some(format!("empty '{attr}' attribute dropped"))));
    }
    ints_to_input(g, id, cx, attr, &vals, slot)?;
    Ok((
        id,
        Some(format!("{attr}={vals:?} attribute → input {slot}")),
    ))
}

fn split_num_outputs(g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    let node = g.node(id);
    if node.input(1).is_some() || node.attr("num_outputs").is_some() {
        return Ok((id, None));
    }
    let n = node.outputs().len() as i64;
    if n == 0 {
        return Err("Split without outputs".into());
    }
    let axis = node.attr_int("axis")?.unwrap_or(0);
    if let Some(x) = node.input(0) {
        if let Some(rank) = cx.types.rank(g, x) {
            let a = if axis < 0 { axis + rank as i64 } else { axis };
            if a < 0 || a >= rank as i64 {
                return Err(format!("axis {axis} out of range for rank {rank}"));
            }
            if let Some(d) = cx.types.dim(g, x, a as usize) {
                if d % n != 0 {
                    return Err(format!(
                        "dim {d} is not divisible into {n} equal parts (invalid before 18)"
                    ));
                }
            }
        }
    }
    g.node_mut(id).set_attr("num_outputs", AttrValue::Int(n));
    Ok((id, Some(format!("equal split: num_outputs={n}"))))
}

/// Softmax/LogSoftmax/Hardmax before 13 flatten to 2-D at `axis` (default 1) and normalise
/// the rows; from 13 they normalise one axis (default -1). Same result iff the axis is the
/// last one; otherwise the old semantics are spelled out as Flatten → op(axis=1) → Reshape.
fn softmax_axis(g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    let node = g.node(id);
    let axis = node.attr_int("axis")?.unwrap_or(1);
    let x = node.input(0).ok_or("missing input")?;
    let y = node.output(0).ok_or("missing output")?;
    let rank = cx.types.rank(g, x);
    if let Some(r) = rank {
        let r = r as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r.max(1) {
            return Err(format!("axis {axis} out of range for rank {r}"));
        }
        if a == r - 1 {
            g.node_mut(id).set_attr("axis", AttrValue::Int(-1));
            return Ok((id, Some(format!("axis={axis} is the last axis: set to -1"))));
        }
    }
    let base = base_name(g, id);
    let xname = g.value(x).name.clone();
    let mut op = g.node(id).clone();
    g.remove_node(id);
    let err = |e: lnopt_ir::IrError| format!("rewrite failed: {e}");
    let flat = g.new_value(&format!("{xname}_2d"));
    let mut f = Node::new("Flatten", format!("{base}_flatten"));
    f.set_attr("axis", AttrValue::Int(axis));
    g.add_node(f, vec![Some(x)], vec![Some(flat)])
        .map_err(err)?;
    let out2d = g.new_value(&format!("{base}_2d"));
    op.set_attr("axis", AttrValue::Int(1));
    let new_id = g
        .add_node(op, vec![Some(flat)], vec![Some(out2d)])
        .map_err(err)?;
    let shape = g.new_value(&format!("{xname}_shape"));
    let s = Node::new("Shape", format!("{base}_shape"));
    g.add_node(s, vec![Some(x)], vec![Some(shape)])
        .map_err(err)?;
    let mut r = Node::new("Reshape", format!("{base}_reshape"));
    if cx.to >= 14 {
        // A zero-size dim of x must stay 0, not mean "copy".
        r.set_attr("allowzero", AttrValue::Int(1));
    }
    g.add_node(r, vec![Some(out2d), Some(shape)], vec![Some(y)])
        .map_err(err)?;
    let why = match rank {
        Some(r) => format!("axis={axis} is not the last of rank {r}"),
        None => format!("axis={axis}, rank unknown"),
    };
    Ok((
        new_id,
        Some(format!(
            "{why}: rewritten as Flatten → axis=1 → Reshape(Shape(x))"
        )),
    ))
}

/// A scalar of `dtype` holding `v` exactly, or `None`.
fn scalar(dtype: DType, v: f64) -> Option<Tensor> {
    let int_ok = |lo: f64, hi: f64| v.fract() == 0.0 && v >= lo && v <= hi;
    let bytes: Vec<u8> = match dtype {
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::I8 if int_ok(-128.0, 127.0) => (v as i8).to_le_bytes().to_vec(),
        DType::U8 if int_ok(0.0, 255.0) => (v as u8).to_le_bytes().to_vec(),
        DType::I16 if int_ok(-32768.0, 32767.0) => (v as i16).to_le_bytes().to_vec(),
        DType::U16 if int_ok(0.0, 65535.0) => (v as u16).to_le_bytes().to_vec(),
        DType::I32 if int_ok(-2147483648.0, 2147483647.0) => (v as i32).to_le_bytes().to_vec(),
        DType::U32 if int_ok(0.0, 4294967295.0) => (v as u32).to_le_bytes().to_vec(),
        DType::I64 if int_ok(-9.0e18, 9.0e18) => (v as i64).to_le_bytes().to_vec(),
        DType::U64 if int_ok(0.0, 1.8e19) => (v as u64).to_le_bytes().to_vec(),
        _ => return None,
    };
    Tensor::from_bytes("", dtype, vec![], bytes).ok()
}

fn pad_to_inputs(g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    let node = g.node(id);
    if node.inputs().len() > 1 {
        return Err("Pad-2 with more than one input".into());
    }
    let pads = node
        .attr_ints("pads")?
        .ok_or("Pad-2 without 'pads'")?
        .to_vec();
    let value = node.attr_float("value")?.unwrap_or(0.0);
    let constant_mode = match node.attr("mode") {
        None => true,
        Some(AttrValue::String(s)) => s == b"constant",
        Some(other) => return Err(format!("mode must be STRING, found {}", other.type_name())),
    };
    let mut value_tensor = None;
    if constant_mode && value != 0.0 {
        let x = node.input(0).ok_or("missing input")?;
        let dtype = cx
            .types
            .dtype(g, x)
            .ok_or("pad value given but the data dtype is unknown")?;
        value_tensor = Some(
            scalar(dtype, value as f64)
                .ok_or(format!("cannot make a {dtype} constant_value {value}"))?,
        );
    }
    remove_attr(g.node_mut(id), "pads");
    remove_attr(g.node_mut(id), "value");
    ints_to_input(g, id, cx, "pads", &pads, 1)?;
    if let Some(t) = value_tensor {
        let hint = format!("{}_value", base_name(g, id));
        let c = add_const(g, cx, &hint, t)?;
        g.set_input(id, 2, Some(c));
    }
    Ok((id, Some(format!("pads={pads:?}, value={value} → inputs"))))
}

fn clip_to_inputs(g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    let node = g.node(id);
    if node.inputs().len() > 1 {
        return Err("Clip-6 with more than one input".into());
    }
    let min = node.attr_float("min")?;
    let max = node.attr_float("max")?;
    let x = node.input(0).ok_or("missing input")?;
    let dtype = cx
        .types
        .dtype(g, x)
        .ok_or("input dtype unknown, cannot type the min/max inputs")?;
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(format!("Clip-6 → 11 for {dtype} inputs not implemented"));
    }
    // Clip-6 always clamps, by default to the f32 range; keep that exactly.
    let lo = min.unwrap_or(f32::MIN) as f64;
    let hi = max.unwrap_or(f32::MAX) as f64;
    let base = base_name(g, id);
    let (tlo, thi) = (
        scalar(dtype, lo).ok_or("bad min")?,
        scalar(dtype, hi).ok_or("bad max")?,
    );
    remove_attr(g.node_mut(id), "min");
    remove_attr(g.node_mut(id), "max");
    let clo = add_const(g, cx, &format!("{base}_min"), tlo)?;
    let chi = add_const(g, cx, &format!("{base}_max"), thi)?;
    g.set_input(id, 1, Some(clo));
    g.set_input(id, 2, Some(chi));
    Ok((id, Some(format!("min={lo}, max={hi} attributes → inputs"))))
}

fn slice_to_inputs(g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    let node = g.node(id);
    if node.inputs().len() > 1 {
        return Err("Slice-1 with more than one input".into());
    }
    let starts = node
        .attr_ints("starts")?
        .ok_or("Slice-1 without 'starts'")?;
    let starts = starts.to_vec();
    let ends = node.attr_ints("ends")?.ok_or("Slice-1 without 'ends'")?;
    let ends = ends.to_vec();
    let axes = node.attr_ints("axes")?.map(|a| a.to_vec());
    for a in ["starts", "ends", "axes"] {
        remove_attr(g.node_mut(id), a);
    }
    ints_to_input(g, id, cx, "starts", &starts, 1)?;
    ints_to_input(g, id, cx, "ends", &ends, 2)?;
    if let Some(axes) = &axes {
        ints_to_input(g, id, cx, "axes", axes, 3)?;
    }
    Ok((
        id,
        Some(format!(
            "starts={starts:?}, ends={ends:?}, axes={axes:?} → inputs"
        )),
    ))
}

fn dropout_ratio(g: &mut Graph, id: NodeId, cx: &GraphCx) -> Converted {
    let node = g.node(id);
    if node.inputs().len() > 1 {
        return Err("Dropout with more than one input before opset 12".into());
    }
    let Some(ratio) = node.attr_float("ratio")? else {
        return Ok((id, None));
    };
    remove_attr(g.node_mut(id), "ratio");
    let hint = format!("{}_ratio", base_name(g, id));
    let c = add_const(g, cx, &hint, Tensor::from_f32("", vec![], &[ratio]))?;
    g.set_input(id, 1, Some(c));
    Ok((id, Some(format!("ratio={ratio} attribute → input"))))
}

fn resize_13(g: &mut Graph, id: NodeId) -> Converted {
    let node = g.node(id);
    if let Some(AttrValue::String(m)) = node.attr("coordinate_transformation_mode") {
        if m == b"tf_half_pixel_for_nn" {
            return Err(
                "coordinate_transformation_mode tf_half_pixel_for_nn was removed at 13".into(),
            );
        }
    }
    let (Some(_), Some(scales)) = (node.input(3), node.input(2)) else {
        return Ok((id, None));
    };
    let empty = g
        .initializer(scales)
        .map(|t| t.numel() == Some(0))
        .unwrap_or(false);
    if !empty {
        return Err(
            "both scales and sizes are given and scales is not a constant empty tensor".into(),
        );
    }
    g.set_input(id, 2, None);
    Ok((
        id,
        Some("empty scales placeholder dropped (sizes given)".into()),
    ))
}
