//! Data-movement ops: expectations derived by hand from the ONNX spec.
mod common;
use common::*;
use lnopt_ir::{AttrValue, DType, Tensor};

fn iota(dims: &[i64]) -> Tensor {
    let n: i64 = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    f32t(dims, &v)
}

#[test]
fn reshape_copies_zero_and_infers_minus_one() {
    let y = run1(
        "Reshape",
        vec![],
        &[iota(&[2, 3, 4]), i64t(&[3], &[0, -1, 2])],
    );
    assert_eq!(y.dims, vec![2, 6, 2]);
    let e = run_op_at(
        "Reshape",
        18,
        vec![],
        &[Some(iota(&[2, 3])), Some(i64t(&[1], &[4]))],
        1,
    );
    assert!(e.is_err());
}

#[test]
fn flatten_with_negative_axis() {
    let y = run1(
        "Flatten",
        vec![attr("axis", AttrValue::Int(-1))],
        &[iota(&[2, 3, 4])],
    );
    assert_eq!(y.dims, vec![6, 4]);
    let y = run1(
        "Flatten",
        vec![attr("axis", AttrValue::Int(0))],
        &[iota(&[2, 3])],
    );
    assert_eq!(y.dims, vec![1, 6]);
}

#[test]
fn squeeze_unsqueeze_attribute_and_input_forms() {
    let axes = vec![attr("axes", AttrValue::Ints(vec![0, -1]))];
    let y = run_op_at("Unsqueeze", 11, axes.clone(), &[Some(iota(&[3]))], 1).unwrap();
    assert_eq!(y[0].dims, vec![1, 3, 1]);
    let y = run_op_at("Squeeze", 11, axes, &[Some(iota(&[1, 3, 1]))], 1).unwrap();
    assert_eq!(y[0].dims, vec![3]);
    let y = run1("Unsqueeze", vec![], &[iota(&[2, 3]), i64t(&[1], &[1])]);
    assert_eq!(y.dims, vec![2, 1, 3]);
    let y = run1("Squeeze", vec![], &[iota(&[1, 2, 1])]);
    assert_eq!(y.dims, vec![2]);
    let r = run_op_at(
        "Squeeze",
        13,
        vec![],
        &[Some(iota(&[2, 3])), Some(i64t(&[1], &[0]))],
        1,
    );
    assert!(r.is_err(), "squeezing a dim of 2 must fail");
}

#[test]
fn transpose_default_and_perm() {
    let y = run1("Transpose", vec![], &[iota(&[2, 3])]);
    assert_eq!(y.dims, vec![3, 2]);
    close(&vals(&y), &[0., 3., 1., 4., 2., 5.]);
    let p = vec![attr("perm", AttrValue::Ints(vec![1, 0, 2]))];
    let y = run1("Transpose", p, &[iota(&[2, 2, 2])]);
    close(&vals(&y), &[0., 1., 4., 5., 2., 3., 6., 7.]);
}

#[test]
fn shape_size_and_shape_slicing() {
    let x = iota(&[2, 3, 4]);
    assert_eq!(
        ints(&run1("Shape", vec![], std::slice::from_ref(&x))),
        vec![2, 3, 4]
    );
    let a = vec![attr("start", AttrValue::Int(-2))];
    assert_eq!(
        ints(&run1("Shape", a, std::slice::from_ref(&x))),
        vec![3, 4]
    );
    let y = run1("Size", vec![], &[x]);
    assert!(y.dims.is_empty());
    assert_eq!(ints(&y), vec![24]);
}

#[test]
fn expand_tile_concat() {
    let y = run1(
        "Expand",
        vec![],
        &[f32t(&[2, 1], &[1., 2.]), i64t(&[3], &[2, 1, 3])],
    );
    assert_eq!(y.dims, vec![2, 2, 3]);
    close(&vals(&y)[..6], &[1., 1., 1., 2., 2., 2.]);
    let y = run1("Tile", vec![], &[f32t(&[2], &[1., 2.]), i64t(&[1], &[3])]);
    close(&vals(&y), &[1., 2., 1., 2., 1., 2.]);
    let ax = vec![attr("axis", AttrValue::Int(-1))];
    let y = run1(
        "Concat",
        ax,
        &[iota(&[2, 1]), f32t(&[2, 2], &[7., 8., 9., 10.])],
    );
    assert_eq!(y.dims, vec![2, 3]);
    close(&vals(&y), &[0., 7., 8., 1., 9., 10.]);
}

#[test]
fn split_by_sizes_attribute_input_and_uneven_num_outputs() {
    let x = iota(&[5]);
    let s = vec![attr("split", AttrValue::Ints(vec![1, 4]))];
    let y = run_op_at("Split", 11, s, &[Some(x.clone())], 2).unwrap();
    close(&vals(&y[1]), &[1., 2., 3., 4.]);
    let y = run_op_at(
        "Split",
        13,
        vec![],
        &[Some(x.clone()), Some(i64t(&[2], &[3, 2]))],
        2,
    )
    .unwrap();
    close(&vals(&y[0]), &[0., 1., 2.]);
    let n = vec![attr("num_outputs", AttrValue::Int(3))];
    let y = run_op_at("Split", 18, n, &[Some(x)], 3).unwrap();
    let lens: Vec<i64> = y.iter().map(|t| t.dims[0]).collect();
    assert_eq!(lens, vec![2, 2, 1]);
}

/// Split sizes are sizes, not a shape: GPT-2 splits its fused QKV product into 768 x 3,
/// whose product (453 M) is no element count (this was once refused as one).
#[test]
fn split_sizes_are_not_checked_as_a_shape() {
    let x = iota(&[1, 2304]);
    let y = run_op_at(
        "Split",
        13,
        vec![attr("axis", AttrValue::Int(1))],
        &[Some(x), Some(i64t(&[3], &[768, 768, 768]))],
        3,
    )
    .unwrap();
    assert_eq!(y.len(), 3);
    assert!(y.iter().all(|t| t.dims == vec![1, 768]));
    assert_eq!(vals(&y[2])[0], 1536.0);
    // A negative size is still refused.
    let x = iota(&[4]);
    assert!(run_op_at(
        "Split",
        13,
        vec![],
        &[Some(x), Some(i64t(&[2], &[5, -1]))],
        2
    )
    .is_err());
}

#[test]
fn slice_clamps_and_steps_backwards() {
    let x = iota(&[6]);
    let y = run1(
        "Slice",
        vec![],
        &[x.clone(), i64t(&[1], &[-2]), i64t(&[1], &[100])],
    );
    close(&vals(&y), &[4., 5.]);
    // starts=-1, ends=-huge, step=-2: 5, 3, 1.
    let y = run1(
        "Slice",
        vec![],
        &[
            x.clone(),
            i64t(&[1], &[-1]),
            i64t(&[1], &[i64::MIN]),
            i64t(&[1], &[0]),
            i64t(&[1], &[-2]),
        ],
    );
    close(&vals(&y), &[5., 3., 1.]);
    let y = run1(
        "Slice",
        vec![],
        &[
            iota(&[2, 3]),
            i64t(&[1], &[1]),
            i64t(&[1], &[3]),
            i64t(&[1], &[1]),
        ],
    );
    assert_eq!(y.dims, vec![2, 2]);
    close(&vals(&y), &[1., 2., 4., 5.]);
    let at = vec![
        attr("starts", AttrValue::Ints(vec![1])),
        attr("ends", AttrValue::Ints(vec![3])),
    ];
    let y = run_op_at("Slice", 9, at, &[Some(x)], 1).unwrap();
    close(&vals(&y[0]), &[1., 2.]);
}

#[test]
fn gather_with_negative_indices_and_axis() {
    let x = iota(&[3, 2]);
    let y = run1("Gather", vec![], &[x.clone(), i64t(&[2], &[-1, 0])]);
    assert_eq!(y.dims, vec![2, 2]);
    close(&vals(&y), &[4., 5., 0., 1.]);
    let ax = vec![attr("axis", AttrValue::Int(1))];
    let y = run1("Gather", ax, &[x.clone(), i64t(&[], &[1])]);
    assert_eq!(y.dims, vec![3]);
    close(&vals(&y), &[1., 3., 5.]);
    let r = run_op_at("Gather", 13, vec![], &[Some(x), Some(i64t(&[1], &[3]))], 1);
    assert!(r.is_err(), "index 3 of a dim of 3 must fail");
}

#[test]
fn gather_elements_along_axis_one() {
    let x = f32t(&[2, 2], &[1., 2., 3., 4.]);
    let ax = vec![attr("axis", AttrValue::Int(1))];
    let y = run1("GatherElements", ax, &[x, i64t(&[2, 2], &[0, 0, 1, -2])]);
    close(&vals(&y), &[1., 1., 4., 3.]);
}

#[test]
fn pad_constant_reflect_edge() {
    let x = f32t(&[3], &[1., 2., 3.]);
    let pads = i64t(&[2], &[2, 1]);
    let y = run1("Pad", vec![], &[x.clone(), pads.clone(), f32t(&[], &[9.])]);
    close(&vals(&y), &[9., 9., 1., 2., 3., 9.]);
    let m = |s: &str| vec![attr("mode", AttrValue::String(s.as_bytes().to_vec()))];
    let y = run1("Pad", m("reflect"), &[x.clone(), pads.clone()]);
    close(&vals(&y), &[3., 2., 1., 2., 3., 2.]);
    let y = run1("Pad", m("edge"), &[x.clone(), pads]);
    close(&vals(&y), &[1., 1., 1., 2., 3., 3.]);
    let at = vec![
        attr("pads", AttrValue::Ints(vec![1, 0])),
        attr("value", AttrValue::Float(-1.)),
    ];
    let y = run_op_at("Pad", 2, at, &[Some(x)], 1).unwrap();
    close(&vals(&y[0]), &[-1., 1., 2., 3.]);
}

#[test]
fn range_constant_of_shape_and_constant() {
    let y = run1(
        "Range",
        vec![],
        &[i64t(&[], &[10]), i64t(&[], &[3]), i64t(&[], &[-3])],
    );
    assert_eq!(ints(&y), vec![10, 7, 4]);
    let y = run1(
        "Range",
        vec![],
        &[f32t(&[], &[0.]), f32t(&[], &[1.]), f32t(&[], &[0.25])],
    );
    close(&vals(&y), &[0., 0.25, 0.5, 0.75]);
    let y = run1(
        "Range",
        vec![],
        &[i64t(&[], &[0]), i64t(&[], &[-1]), i64t(&[], &[1])],
    );
    assert_eq!(y.dims, vec![0]);
    let v = vec![attr("value", AttrValue::Tensor(i64t(&[1], &[7])))];
    let y = run1("ConstantOfShape", v, &[i64t(&[2], &[2, 2])]);
    assert_eq!((y.dtype, ints(&y)), (DType::I64, vec![7, 7, 7, 7]));
    let y = run1("ConstantOfShape", vec![], &[i64t(&[1], &[3])]);
    assert_eq!((y.dtype, vals(&y)), (DType::F32, vec![0., 0., 0.]));
    let c = vec![attr("value_ints", AttrValue::Ints(vec![4, 5]))];
    assert_eq!(ints(&run1("Constant", c, &[])), vec![4, 5]);
}

#[test]
fn huge_outputs_are_refused_not_allocated() {
    let r = run_op_at(
        "ConstantOfShape",
        18,
        vec![],
        &[Some(i64t(&[2], &[1 << 20, 1 << 20]))],
        1,
    );
    let e = r.unwrap_err().to_string();
    assert!(e.contains("the_node") && e.contains("elements"), "{e}");
    let r = run_op_at(
        "Expand",
        18,
        vec![],
        &[Some(f32t(&[1], &[1.])), Some(i64t(&[1], &[-5]))],
        1,
    );
    assert!(r.is_err());
}

#[test]
fn dropout_and_identity_pass_through() {
    let x = f32t(&[2], &[1., 2.]);
    let y = run_op_at("Dropout", 13, vec![], &[Some(x.clone())], 2).unwrap();
    close(&vals(&y[0]), &[1., 2.]);
    assert_eq!((y[1].dtype, ints(&y[1])), (DType::Bool, vec![1, 1]));
    close(&vals(&run1("Identity", vec![], &[x])), &[1., 2.]);
}

#[test]
fn extreme_integer_parameters_do_not_overflow() {
    // Step i64::MAX from 0 takes exactly the first element.
    let y = run1(
        "Slice",
        vec![],
        &[
            iota(&[4]),
            i64t(&[1], &[0]),
            i64t(&[1], &[4]),
            i64t(&[1], &[0]),
            i64t(&[1], &[i64::MAX]),
        ],
    );
    close(&vals(&y), &[0.]);
    let huge_pad = run_op_at(
        "Pad",
        18,
        vec![],
        &[Some(iota(&[2])), Some(i64t(&[2], &[i64::MIN, i64::MAX]))],
        1,
    );
    assert!(huge_pad.is_err());
    let huge_tile = run_op_at(
        "Tile",
        18,
        vec![],
        &[Some(iota(&[2])), Some(i64t(&[1], &[i64::MAX]))],
        1,
    );
    assert!(huge_tile.is_err());
    let dil = vec![attr("dilations", AttrValue::Ints(vec![i64::MAX]))];
    let huge_dil = run_op_at(
        "Conv",
        18,
        dil,
        &[Some(iota(&[1, 1, 3])), Some(iota(&[1, 1, 2]))],
        1,
    );
    assert!(huge_dil.is_err());
}
