//! What an op kernel sees: the node (attributes resolved), its input arrays, the opset.

use crate::arr::Arr;
use crate::error::{bail, OpResult};
use lnopt_ir::{AttrValue, Node, Tensor};
use std::rc::Rc;

/// One node invocation.
pub(crate) struct Call<'a> {
    /// The node, with function attribute references already resolved.
    pub node: &'a Node,
    /// Input arrays by slot; `None` for an omitted optional input.
    pub inputs: Vec<Option<Rc<Arr>>>,
    /// Version of the node's domain in effect.
    pub opset: i64,
    /// Number of output slots the node declares.
    pub n_outputs: usize,
}

impl Call<'_> {
    /// The required input in `slot`.
    pub fn input(&self, slot: usize) -> OpResult<&Arr> {
        match self.inputs.get(slot) {
            Some(Some(a)) => Ok(a),
            _ => bail!("required input {slot} is missing"),
        }
    }

    /// The optional input in `slot`.
    pub fn opt_input(&self, slot: usize) -> Option<&Arr> {
        self.inputs.get(slot).and_then(|a| a.as_deref())
    }

    /// All present inputs, in order.
    pub fn present_inputs(&self) -> Vec<&Arr> {
        self.inputs.iter().flatten().map(|a| a.as_ref()).collect()
    }

    /// An `INT` attribute or `default`.
    pub fn int(&self, name: &str, default: i64) -> OpResult<i64> {
        Ok(self.node.attr_int(name)?.unwrap_or(default))
    }

    /// An optional `INT` attribute.
    pub fn opt_int(&self, name: &str) -> OpResult<Option<i64>> {
        Ok(self.node.attr_int(name)?)
    }

    /// A `FLOAT` attribute or `default`.
    pub fn float(&self, name: &str, default: f32) -> OpResult<f32> {
        Ok(self.node.attr_float(name)?.unwrap_or(default))
    }

    /// An optional `INTS` attribute.
    pub fn ints(&self, name: &str) -> OpResult<Option<Vec<i64>>> {
        Ok(self.node.attr_ints(name)?.map(|v| v.to_vec()))
    }

    /// A `STRING` attribute (lossy UTF-8) or `default`.
    pub fn string(&self, name: &str, default: &str) -> OpResult<String> {
        match self.node.attr(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::String(s)) => Ok(String::from_utf8_lossy(s).into_owned()),
            Some(other) => bail!(
                "attribute '{name}' must be STRING, found {}",
                other.type_name()
            ),
        }
    }

    /// A `TENSOR` attribute.
    pub fn tensor(&self, name: &str) -> OpResult<Option<&Tensor>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(other) => bail!(
                "attribute '{name}' must be TENSOR, found {}",
                other.type_name()
            ),
        }
    }

    /// Integers from input `slot` (opset forms) if present, else from attribute `name`.
    pub fn ints_from_input_or_attr(&self, slot: usize, name: &str) -> OpResult<Option<Vec<i64>>> {
        match self.opt_input(slot) {
            Some(a) => Ok(Some(a.int_values(name)?.to_vec())),
            None => self.ints(name),
        }
    }
}
