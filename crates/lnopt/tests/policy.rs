//! The opset policy of `optimize_model`: upgrade only when a fused node needs it and every op
//! converts; otherwise leave the model (opset included) as it was and say why.

use lnopt::ir::{
    AttrValue, DType, Graph, Model, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType,
};
use lnopt::{optimize_model, Options};

/// A canonical decomposed LayerNorm over `[2, 8]` at opset 13, optionally followed by an op
/// of the default domain that lnopt-opset does not know (so no upgrade is possible).
fn model(with_blocker: bool) -> Model {
    let mut g = Graph::new("m");
    let x = g.value_by_name_or_new("x");
    g.value_mut(x).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType::fixed(DType::F32, &[2, 8]))),
        ..ValueInfo::default()
    });
    g.add_input(x);
    let mut n = 0;
    let mut op = |g: &mut Graph, op: &str, ins: &[ValueId], axes: bool| {
        n += 1;
        let out = g.new_value(&format!("v{n}"));
        let mut node = Node::new(op, format!("{op}_{n}"));
        if axes {
            node.set_attr("axes", AttrValue::Ints(vec![-1]));
        }
        g.add_node(
            node,
            ins.iter().map(|&v| Some(v)).collect(),
            vec![Some(out)],
        )
        .unwrap();
        out
    };
    let two = g.add_initializer("two", Tensor::from_f32("two", vec![], &[2.0]));
    let eps = g.add_initializer("eps", Tensor::from_f32("eps", vec![], &[1e-5]));
    let m = op(&mut g, "ReduceMean", &[x], true);
    let d = op(&mut g, "Sub", &[x, m], false);
    let p = op(&mut g, "Pow", &[d, two], false);
    let v = op(&mut g, "ReduceMean", &[p], true);
    let ve = op(&mut g, "Add", &[v, eps], false);
    let s = op(&mut g, "Sqrt", &[ve], false);
    let mut y = op(&mut g, "Div", &[d, s], false);
    if with_blocker {
        y = op(&mut g, "NotAnOnnxOp", &[y], false);
    }
    g.add_output(y);
    Model::new(g, 13)
}

#[test]
fn upgrades_to_17_when_a_layer_norm_fuses() {
    let mut m = model(false);
    let o = optimize_model(&mut m, &Options::default()).unwrap();
    assert_eq!(o.report.total_fused(), 1, "{}", o.summary());
    assert_eq!((o.opset_before, o.opset_after), (13, 17));
    assert_eq!(m.opset_version(""), Some(17));
    assert!(o.upgrade_blocked.is_empty(), "{:?}", o.upgrade_blocked);
}

#[test]
fn a_blocking_op_leaves_the_model_untouched_and_names_the_node() {
    let original = model(true);
    let mut m = original.clone();
    let o = optimize_model(&mut m, &Options::default()).unwrap();
    assert_eq!(o.report.total_fused(), 0, "{}", o.summary());
    assert_eq!(m, original);
    assert_eq!(m.opset_version(""), Some(13));
    assert!(
        o.upgrade_blocked.iter().any(|b| b.contains("NotAnOnnxOp")),
        "{:?}",
        o.upgrade_blocked
    );
    let reason = o.report.sites[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("opset 17"), "{reason}");
}

#[test]
fn no_opset_upgrade_keeps_the_opset_and_says_so() {
    let original = model(false);
    let mut m = original.clone();
    let opts = Options {
        allow_opset_upgrade: false,
        ..Options::default()
    };
    let o = optimize_model(&mut m, &opts).unwrap();
    assert_eq!(o.report.total_fused(), 0);
    assert_eq!(m, original);
    assert!(o
        .upgrade_blocked
        .iter()
        .any(|b| b.contains("upgrades disabled")));
}
