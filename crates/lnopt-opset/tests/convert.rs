//! One hand-built graph per conversion: structure after the upgrade, and (through the
//! reference interpreter) the same outputs before and after.

mod common;
use common::*;
use lnopt_ir::{AttrValue, DType, Tensor};
use lnopt_opset::upgrade;

#[test]
fn reduce_mean_axes_attribute_becomes_input_at_18() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 3, 4]));
    let (_, o) = b.node(
        "ReduceMean",
        "rm",
        &[Some(x)],
        1,
        vec![("axes", ints(&[-1])), ("keepdims", AttrValue::Int(1))],
    );
    b.output(o[0]);
    let before = b.model(13);
    let mut after = before.clone();
    let r = upgrade(&mut after, 18).unwrap();
    assert_eq!((r.from, r.to), (13, 18));
    assert_eq!(r.converted.len(), 1);
    assert_eq!(after.opset_version(""), Some(18));
    assert!(after.ir_version >= 8);
    let n = find(&after.graph, "ReduceMean");
    assert!(after.graph.node(n).attr("axes").is_none());
    assert_eq!(const_input(&after.graph, n, 1), Some(vec![-1]));
    assert_eq!(after.graph.node(n).attr_int("keepdims"), Ok(Some(1)));
    same_outputs(&before, &after, &[data(&[2, 3, 4], 1)]);
}

#[test]
fn reduce_without_axes_gets_no_input() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 3]));
    let (_, o) = b.node("ReduceMax", "r", &[Some(x)], 1, vec![]);
    b.output(o[0]);
    let before = b.model(14);
    let mut after = before.clone();
    let r = upgrade(&mut after, 18).unwrap();
    assert!(r.converted.is_empty());
    let n = find(&after.graph, "ReduceMax");
    assert_eq!(after.graph.node(n).inputs().len(), 1);
    same_outputs(&before, &after, &[data(&[2, 3], 2)]);
}

#[test]
fn reduce_sum_moves_at_13_and_not_again_at_18() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 3, 4]));
    let (_, o) = b.node(
        "ReduceSum",
        "rs",
        &[Some(x)],
        1,
        vec![("axes", ints(&[1, 2])), ("keepdims", AttrValue::Int(0))],
    );
    b.output(o[0]);
    let before = b.model(11);
    let mut after = before.clone();
    upgrade(&mut after, 18).unwrap();
    let n = find(&after.graph, "ReduceSum");
    assert_eq!(const_input(&after.graph, n, 1), Some(vec![1, 2]));
    assert!(after.graph.node(n).attr("axes").is_none());
    same_outputs(&before, &after, &[data(&[2, 3, 4], 3)]);
}

#[test]
fn squeeze_unsqueeze_axes_become_inputs_at_13() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 1, 3]));
    let (_, s) = b.node("Squeeze", "sq", &[Some(x)], 1, vec![("axes", ints(&[1]))]);
    let (_, u) = b.node(
        "Unsqueeze",
        "us",
        &[Some(s[0])],
        1,
        vec![("axes", ints(&[0, 3]))],
    );
    b.output(u[0]);
    let before = b.model(12);
    let mut after = before.clone();
    let r = upgrade(&mut after, 13).unwrap();
    assert_eq!(r.converted.len(), 2);
    let g = &after.graph;
    assert_eq!(const_input(g, find(g, "Squeeze"), 1), Some(vec![1]));
    assert_eq!(const_input(g, find(g, "Unsqueeze"), 1), Some(vec![0, 3]));
    same_outputs(&before, &after, &[data(&[2, 1, 3], 4)]);
}

#[test]
fn unsqueeze_without_axes_blocks() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2]));
    let (_, u) = b.node("Unsqueeze", "us", &[Some(x)], 1, vec![]);
    b.output(u[0]);
    let m = b.model(11);
    let bl = lnopt_opset::upgrade_blockers(&m, 13);
    assert_eq!(bl.len(), 1);
    assert_eq!(bl[0].node, "us");
}

#[test]
fn split_attribute_to_input_at_13_then_kept_at_18() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[5, 2]));
    let (_, o) = b.node(
        "Split",
        "sp",
        &[Some(x)],
        2,
        vec![("axis", AttrValue::Int(0)), ("split", ints(&[2, 3]))],
    );
    b.output(o[0]);
    b.output(o[1]);
    let before = b.model(11);
    let mut after = before.clone();
    upgrade(&mut after, 18).unwrap();
    let g = &after.graph;
    let n = find(g, "Split");
    assert_eq!(const_input(g, n, 1), Some(vec![2, 3]));
    assert!(
        g.node(n).attr("num_outputs").is_none(),
        "split input given: no num_outputs"
    );
    same_outputs(&before, &after, &[data(&[5, 2], 5)]);
}

#[test]
fn equal_split_gets_num_outputs_at_18() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 6]));
    let (_, o) = b.node(
        "Split",
        "sp",
        &[Some(x)],
        3,
        vec![("axis", AttrValue::Int(-1))],
    );
    for v in o {
        b.output(v);
    }
    let before = b.model(13);
    let mut after = before.clone();
    upgrade(&mut after, 18).unwrap();
    let n = find(&after.graph, "Split");
    assert_eq!(after.graph.node(n).attr_int("num_outputs"), Ok(Some(3)));
    assert_eq!(after.graph.node(n).inputs().len(), 1);
    same_outputs(&before, &after, &[data(&[2, 6], 6)]);
}

#[test]
fn uneven_equal_split_blocks() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 7]));
    let (_, o) = b.node(
        "Split",
        "sp",
        &[Some(x)],
        3,
        vec![("axis", AttrValue::Int(1))],
    );
    b.output(o[0]);
    let m = b.model(13);
    assert_eq!(lnopt_opset::upgrade_blockers(&m, 18).len(), 1);
    assert!(lnopt_opset::upgrade_blockers(&m, 17).is_empty());
}

#[test]
fn softmax_on_last_axis_keeps_one_node() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 3, 4]));
    let (_, o) = b.node(
        "Softmax",
        "sm",
        &[Some(x)],
        1,
        vec![("axis", AttrValue::Int(2))],
    );
    b.output(o[0]);
    let before = b.model(11);
    let mut after = before.clone();
    upgrade(&mut after, 13).unwrap();
    let g = &after.graph;
    assert_eq!(g.node_count(), 1);
    assert_eq!(g.node(find(g, "Softmax")).attr_int("axis"), Ok(Some(-1)));
    same_outputs(&before, &after, &[data(&[2, 3, 4], 7)]);
}

#[test]
fn softmax_on_inner_axis_is_flattened() {
    // Default axis 1 on rank 3: the old op normalises over dims 1 and 2 together.
    for (op, rank_known) in [("Softmax", true), ("LogSoftmax", true), ("Softmax", false)] {
        let mut b = B::new();
        let x = b.input("x", DType::F32, rank_known.then_some(&[2, 3, 4][..]));
        let (_, o) = b.node(op, "sm", &[Some(x)], 1, vec![]);
        b.output(o[0]);
        let before = b.model(12);
        let mut after = before.clone();
        let r = upgrade(&mut after, 14).unwrap();
        assert_eq!(r.converted.len(), 1);
        let g = &after.graph;
        assert_eq!(g.node_count(), 4, "{op}: Flatten, {op}, Shape, Reshape");
        assert_eq!(g.node(find(g, "Flatten")).attr_int("axis"), Ok(Some(1)));
        assert_eq!(g.node(find(g, op)).attr_int("axis"), Ok(Some(1)));
        let reshape = find(g, "Reshape");
        assert_eq!(g.node(reshape).output(0), Some(g.outputs()[0]));
        same_outputs(&before, &after, &[data(&[2, 3, 4], 8)]);
    }
}

#[test]
fn pad_attributes_become_inputs_at_11() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 3]));
    let (_, o) = b.node(
        "Pad",
        "pad",
        &[Some(x)],
        1,
        vec![
            ("pads", ints(&[0, 1, 1, 2])),
            ("value", AttrValue::Float(1.5)),
        ],
    );
    b.output(o[0]);
    let before = b.model(10);
    let mut after = before.clone();
    upgrade(&mut after, 13).unwrap();
    let g = &after.graph;
    let n = find(g, "Pad");
    assert_eq!(const_input(g, n, 1), Some(vec![0, 1, 1, 2]));
    assert_eq!(const_input_f64(g, n, 2), Some((DType::F32, vec![1.5])));
    assert!(g.node(n).attr("pads").is_none() && g.node(n).attr("value").is_none());
    same_outputs(&before, &after, &[data(&[2, 3], 9)]);
}

#[test]
fn clip_attributes_become_inputs_at_11() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[8]));
    let (_, o) = b.node(
        "Clip",
        "clip",
        &[Some(x)],
        1,
        vec![("min", AttrValue::Float(-0.5))],
    );
    b.output(o[0]);
    let before = b.model(10);
    let mut after = before.clone();
    upgrade(&mut after, 11).unwrap();
    let g = &after.graph;
    let n = find(g, "Clip");
    assert_eq!(const_input_f64(g, n, 1), Some((DType::F32, vec![-0.5])));
    // Clip-6 clamps to the f32 range by default, so the max stays explicit.
    assert_eq!(
        const_input_f64(g, n, 2),
        Some((DType::F32, vec![f32::MAX as f64]))
    );
    let mut input = data(&[8], 10);
    let mut v = input.to_f64_vec().unwrap();
    v[0] = f64::INFINITY;
    input = Tensor::from_f32(
        "x",
        vec![8],
        &v.iter().map(|&f| f as f32).collect::<Vec<_>>(),
    );
    same_outputs(&before, &after, &[input]);
}

#[test]
fn slice_attributes_become_inputs_at_10() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[4, 5]));
    let (_, o) = b.node(
        "Slice",
        "sl",
        &[Some(x)],
        1,
        vec![
            ("starts", ints(&[1, -3])),
            ("ends", ints(&[3, 100])),
            ("axes", ints(&[0, 1])),
        ],
    );
    b.output(o[0]);
    let before = b.model(9);
    let mut after = before.clone();
    upgrade(&mut after, 13).unwrap();
    let g = &after.graph;
    let n = find(g, "Slice");
    assert_eq!(const_input(g, n, 1), Some(vec![1, -3]));
    assert_eq!(const_input(g, n, 2), Some(vec![3, 100]));
    assert_eq!(const_input(g, n, 3), Some(vec![0, 1]));
    assert!(g.node(n).attributes.is_empty());
    same_outputs(&before, &after, &[data(&[4, 5], 11)]);
}

#[test]
fn dropout_ratio_becomes_input_at_12() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[3]));
    let (_, o) = b.node(
        "Dropout",
        "dr",
        &[Some(x)],
        1,
        vec![("ratio", AttrValue::Float(0.25))],
    );
    b.output(o[0]);
    let before = b.model(10);
    let mut after = before.clone();
    upgrade(&mut after, 13).unwrap();
    let g = &after.graph;
    let n = find(g, "Dropout");
    assert_eq!(const_input_f64(g, n, 1), Some((DType::F32, vec![0.25])));
    assert!(
        g.node(n).input(2).is_none(),
        "training_mode stays absent (inference)"
    );
    same_outputs(&before, &after, &[data(&[3], 12)]);
}

#[test]
fn topk_k_becomes_input_at_10() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 5]));
    let (_, o) = b.node("TopK", "tk", &[Some(x)], 2, vec![("k", AttrValue::Int(3))]);
    b.output(o[0]);
    let mut m = b.model(9);
    upgrade(&mut m, 11).unwrap();
    assert_eq!(
        const_input(&m.graph, find(&m.graph, "TopK"), 1),
        Some(vec![3])
    );
}

#[test]
fn batchnorm_spatial_1_dropped_and_spatial_0_blocks() {
    for (spatial, ok) in [(1, true), (0, false)] {
        let mut b = B::new();
        let x = b.input("x", DType::F32, Some(&[1, 2, 3]));
        let p: Vec<_> = (0..4)
            .map(|i| b.init(&format!("p{i}"), Tensor::from_f32("", vec![2], &[1.0, 2.0])))
            .collect();
        let ins: Vec<_> = std::iter::once(Some(x))
            .chain(p.into_iter().map(Some))
            .collect();
        let (_, o) = b.node(
            "BatchNormalization",
            "bn",
            &ins,
            1,
            vec![("spatial", AttrValue::Int(spatial))],
        );
        b.output(o[0]);
        let mut m = b.model(8);
        let r = upgrade(&mut m, 15);
        assert_eq!(r.is_ok(), ok, "spatial={spatial}: {r:?}");
        if ok {
            assert!(m
                .graph
                .node(find(&m.graph, "BatchNormalization"))
                .attr("spatial")
                .is_none());
        }
    }
}

#[test]
fn resize_empty_scales_with_sizes_dropped_at_13() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[1, 1, 2, 2]));
    let roi = b.init("roi", Tensor::from_f32("", vec![0], &[]));
    let scales = b.init("scales", Tensor::from_f32("", vec![0], &[]));
    let sizes = b.init("sizes", Tensor::from_i64("", vec![4], &[1, 1, 4, 4]));
    let (_, o) = b.node(
        "Resize",
        "rs",
        &[Some(x), Some(roi), Some(scales), Some(sizes)],
        1,
        vec![],
    );
    b.output(o[0]);
    let mut m = b.model(11);
    upgrade(&mut m, 13).unwrap();
    let n = find(&m.graph, "Resize");
    assert!(m.graph.node(n).input(2).is_none());
    assert!(m.graph.node(n).input(3).is_some());
}

#[test]
fn roialign_old_default_mode_made_explicit() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[1, 1, 4, 4]));
    let r = b.input("rois", DType::F32, Some(&[1, 4]));
    let i = b.input("idx", DType::I64, Some(&[1]));
    let (_, o) = b.node("RoiAlign", "ra", &[Some(x), Some(r), Some(i)], 1, vec![]);
    b.output(o[0]);
    let mut m = b.model(10);
    upgrade(&mut m, 16).unwrap();
    let n = find(&m.graph, "RoiAlign");
    assert_eq!(
        m.graph.node(n).attr("coordinate_transformation_mode"),
        Some(&AttrValue::String(b"output_half_pixel".to_vec()))
    );
}

#[test]
fn typical_transformer_ops_bump_without_rewrites() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 4]));
    let w = b.init("w", Tensor::from_f32("", vec![4, 4], &[0.5; 16]));
    let (_, mm) = b.node("MatMul", "mm", &[Some(x), Some(w)], 1, vec![]);
    let (_, t) = b.node(
        "Transpose",
        "t",
        &[Some(mm[0])],
        1,
        vec![("perm", ints(&[1, 0]))],
    );
    let (_, e) = b.node("Erf", "erf", &[Some(t[0])], 1, vec![]);
    let (_, c) = b.node(
        "Cast",
        "c",
        &[Some(e[0])],
        1,
        vec![("to", AttrValue::Int(1))],
    );
    b.output(c[0]);
    let before = b.model(11);
    let mut after = before.clone();
    let r = upgrade(&mut after, 23).unwrap();
    assert!(r.converted.is_empty());
    assert_eq!(after.ir_version, 11);
    assert_eq!(after.graph.node_count(), 4);
    same_outputs(&before, &after, &[data(&[2, 4], 13)]);
}
