//! Expected attribute types of well-known ops, checked on import so that later passes can
//! trust them.

use crate::OnnxError;
use lnopt_ir::Node;

/// The attribute type ONNX defines for attribute `attr` of default-domain op `op`, for the ops
/// lnopt's passes read.
fn expected(op: &str, attr: &str) -> Option<&'static str> {
    Some(match (op, attr) {
        ("ReduceMean" | "ReduceSum", "keepdims") => "INT",
        ("ReduceMean" | "ReduceSum", "axes") => "INTS",
        ("LayerNormalization", "axis") => "INT",
        ("LayerNormalization", "epsilon") => "FLOAT",
        ("LayerNormalization", "stash_type") => "INT",
        ("Softmax", "axis") => "INT",
        ("Transpose", "perm") => "INTS",
        ("Cast", "to") => "INT",
        ("Gather" | "Concat" | "Split" | "Flatten", "axis") => "INT",
        ("Squeeze" | "Unsqueeze", "axes") => "INTS",
        ("Gemm", "alpha" | "beta") => "FLOAT",
        ("Gemm", "transA" | "transB") => "INT",
        ("Conv", "strides" | "pads" | "dilations" | "kernel_shape") => "INTS",
        ("Conv", "group") => "INT",
        ("Constant", "value") => "TENSOR",
        ("Constant", "value_float") => "FLOAT",
        ("Constant", "value_int") => "INT",
        ("Constant", "value_floats") => "FLOATS",
        ("Constant", "value_ints") => "INTS",
        _ => return None,
    })
}

/// Checks the attributes of a default-domain node against the table. References to function
/// attributes (`ref_attr_name`) are not checked: their value is only known at the call.
pub(crate) fn check(node: &Node, place: &str, label: &str) -> Result<(), OnnxError> {
    if !node.in_default_domain() {
        return Ok(());
    }
    for a in &node.attributes {
        if matches!(a.value, lnopt_ir::AttrValue::Ref { .. }) {
            continue;
        }
        if let Some(want) = expected(&node.op_type, &a.name) {
            let found = a.value.type_name();
            if found != want {
                return Err(OnnxError::Attribute {
                    place: place.to_string(),
                    node: label.to_string(),
                    op: node.op_type.clone(),
                    attr: a.name.clone(),
                    what: format!("must be {want}, found {found}"),
                });
            }
        }
    }
    Ok(())
}
