//! Per-family unit tests on hand-built graphs. Expected shapes are written from the ONNX
//! operator specification.

mod common;

use common::{const_ints, ints_attr, show, tt, B};
use lnopt_ir::{AttrValue, DType, Tensor};

#[test]
fn broadcast_symbolic_rules() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,1,64");
    let y = b.input("y", DType::F32, "seq,1");
    let z = b.input("z", DType::F32, "7,seq,64");
    let u = b.input("u", DType::F32, "?,1,1");
    let w = b.input("w", DType::F32, "other,1,1");
    let a = b.op("Add", &[x, y], vec![]);
    let m = b.op("Mul", &[a, z], vec![]);
    let n = b.op("Sub", &[x, u], vec![]);
    let d = b.op("Div", &[x, w], vec![]);
    let t = b.infer(18).unwrap();
    assert_eq!(show(&t, a), "f32[batch,seq,64]");
    // Fixed 7 against the symbol batch: batch must be 7 (or 1).
    assert_eq!(show(&t, m), "f32[7,seq,64]");
    assert_eq!(show(&t, n), "f32[?,1,64]");
    assert_eq!(show(&t, d), "f32[?,1,64]");
}

#[test]
fn broadcast_incompatible_is_an_error() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,3");
    let y = b.input("y", DType::F32, "4");
    b.op("Add", &[x, y], vec![]);
    let e = b.infer(18).unwrap_err();
    assert_eq!(e.op, "Add");
    assert!(e.what.contains("broadcast"), "{e}");
}

#[test]
fn comparisons_give_bool_and_where_takes_x_dtype() {
    let mut b = B::new();
    let x = b.input("x", DType::F16, "batch,8");
    let y = b.input("y", DType::F16, "8");
    let c = b.op("Less", &[x, y], vec![]);
    let w = b.op("Where", &[c, x, y], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, c), "bool[batch,8]");
    assert_eq!(show(&t, w), "f16[batch,8]");
}

#[test]
fn reduce_mean_axes_attribute_before_18_and_input_after() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,seq,64");
    let r = b.op("ReduceMean", &[x], vec![("axes", ints_attr(&[-1]))]);
    let t = b.infer(13).unwrap();
    assert_eq!(show(&t, r), "f32[batch,seq,1]");

    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,seq,64");
    let ax = b.ints("axes", vec![1], &[-1]);
    let r = b.op(
        "ReduceMean",
        &[x, ax],
        vec![("keepdims", AttrValue::Int(0))],
    );
    let all = b.op("ReduceMean", &[x], vec![]);
    let noop = b.op(
        "ReduceMean",
        &[x],
        vec![("noop_with_empty_axes", AttrValue::Int(1))],
    );
    let t = b.infer(18).unwrap();
    assert_eq!(show(&t, r), "f32[batch,seq]");
    assert_eq!(show(&t, all), "f32[1,1,1]");
    assert_eq!(show(&t, noop), "f32[batch,seq,64]");
}

#[test]
fn reduce_sum_takes_axes_input_from_13() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,3,4");
    let ax = b.ints("axes", vec![2], &[0, 2]);
    let r = b.op("ReduceSum", &[x, ax], vec![]);
    let t = b.infer(13).unwrap();
    assert_eq!(show(&t, r), "f32[1,3,1]");
}

#[test]
fn reduce_with_unknown_axes_keeps_rank_only() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,1,64");
    let ax = b.input("ax", DType::I64, "1");
    let r = b.op("ReduceMean", &[x, ax], vec![]);
    let t = b.infer(18).unwrap();
    assert_eq!(show(&t, r), "f32[?,1,?]");
}

#[test]
fn bad_reduce_axis_is_an_error() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,3");
    b.op("ReduceMean", &[x], vec![("axes", ints_attr(&[2]))]);
    assert!(b.infer(13).is_err());
}

#[test]
fn reshape_with_copy_and_infer_dims() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,seq,4,16");
    let s = b.ints("s", vec![3], &[0, 0, -1]);
    let r = b.op("Reshape", &[x, s], vec![]);
    let f = b.ints("f", vec![2], &[-1, 16]);
    let r2 = b.op("Reshape", &[x, f], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, r), "f32[batch,seq,64]");
    // batch*seq*4 is not a single dim: unknown, not guessed.
    assert_eq!(show(&t, r2), "f32[?,16]");
}

#[test]
fn reshape_from_shape_slice_concat_keeps_symbols() {
    // Reshape(x, Concat(Shape(x)[0:2], [-1])) as exporters write it.
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,seq,4,16");
    let sh = b.op("Shape", &[x], vec![]);
    let st = b.ints("st", vec![1], &[0]);
    let en = b.ints("en", vec![1], &[2]);
    let sl = b.op("Slice", &[sh, st, en], vec![]);
    let m1 = b.ints("m1", vec![1], &[-1]);
    let cat = b.op("Concat", &[sl, m1], vec![("axis", AttrValue::Int(0))]);
    let r = b.op("Reshape", &[x, cat], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, sh), "i64[4]");
    assert!(t.constant(sh).is_none(), "symbolic Shape must not fold");
    assert_eq!(show(&t, cat), "i64[3]");
    assert_eq!(show(&t, r), "f32[batch,seq,64]");
}

#[test]
fn reshape_size_mismatch_is_an_error() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,3");
    let s = b.ints("s", vec![1], &[5]);
    b.op("Reshape", &[x, s], vec![]);
    let e = b.infer(14).unwrap_err();
    assert!(e.what.contains("reshape"), "{e}");
}

#[test]
fn squeeze_unsqueeze_attribute_and_input_forms() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "1,seq,1");
    let s = b.op("Squeeze", &[x], vec![("axes", ints_attr(&[0]))]);
    let u = b.op("Unsqueeze", &[x], vec![("axes", ints_attr(&[0, -1]))]);
    let t = b.infer(11).unwrap();
    assert_eq!(show(&t, s), "f32[seq,1]");
    assert_eq!(show(&t, u), "f32[1,1,seq,1,1]");

    let mut b = B::new();
    let x = b.input("x", DType::F32, "1,seq,1");
    let a = b.ints("a", vec![1], &[2]);
    let s = b.op("Squeeze", &[x, a], vec![]);
    let all = b.op("Squeeze", &[x], vec![]);
    let u = b.op("Unsqueeze", &[x, a], vec![]);
    let t = b.infer(13).unwrap();
    assert_eq!(show(&t, s), "f32[1,seq]");
    // seq might be 1: squeezing all size-1 dims leaves the rank unknown.
    assert_eq!(show(&t, all), "f32[*]");
    assert_eq!(show(&t, u), "f32[1,seq,1,1]");
}

#[test]
fn squeeze_of_non_one_dim_is_an_error() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,3");
    b.op("Squeeze", &[x], vec![("axes", ints_attr(&[1]))]);
    assert!(b.infer(11).is_err());
}

#[test]
fn shape_gather_cast_range_fold_to_constants() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,5");
    let sh = b.op("Shape", &[x], vec![]);
    let one = b.ints("one", vec![], &[1]);
    let g = b.op("Gather", &[sh, one], vec![("axis", AttrValue::Int(0))]);
    let c = b.op("Cast", &[g], vec![("to", AttrValue::Int(6))]);
    let zero = b.ints("zero", vec![], &[0]);
    let two = b.ints("two", vec![], &[2]);
    let r = b.op("Range", &[zero, g, two], vec![]);
    let tail = b.op("Shape", &[x], vec![("start", AttrValue::Int(-1))]);
    let t = b.infer(15).unwrap();
    assert_eq!(const_ints(&t, sh), Some(vec![2, 5]));
    assert_eq!(show(&t, g), "i64[]");
    assert_eq!(const_ints(&t, g), Some(vec![5]));
    assert_eq!(show(&t, c), "i32[]");
    assert_eq!(const_ints(&t, c), Some(vec![5]));
    assert_eq!(const_ints(&t, r), Some(vec![0, 2, 4]));
    assert_eq!(const_ints(&t, tail), Some(vec![5]));
}

#[test]
fn constant_of_shape_and_expand_fold() {
    let mut b = B::new();
    let shp = b.ints("shp", vec![1], &[3]);
    let c = b.op(
        "ConstantOfShape",
        &[shp],
        vec![(
            "value",
            AttrValue::Tensor(Tensor::from_i64("v", vec![1], &[7])),
        )],
    );
    let small = b.ints("small", vec![2, 1], &[1, 2]);
    let tgt = b.ints("tgt", vec![2], &[2, 3]);
    let e = b.op("Expand", &[small, tgt], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(const_ints(&t, c), Some(vec![7, 7, 7]));
    assert_eq!(show(&t, e), "i64[2,3]");
    assert_eq!(const_ints(&t, e), Some(vec![1, 1, 1, 2, 2, 2]));
}

#[test]
fn integer_arithmetic_folds_and_int_division_of_mixed_signs_does_not() {
    let mut b = B::new();
    let a = b.ints("a", vec![2], &[7, -7]);
    let c = b.ints("c", vec![], &[2]);
    let add = b.op("Add", &[a, c], vec![]);
    let mul = b.op("Mul", &[a, c], vec![]);
    let div = b.op("Div", &[a, c], vec![]);
    let eq = b.op("Equal", &[a, c], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(const_ints(&t, add), Some(vec![9, -5]));
    assert_eq!(const_ints(&t, mul), Some(vec![14, -14]));
    assert_eq!(const_ints(&t, div), None);
    assert_eq!(show(&t, div), "i64[2]");
    assert_eq!(const_ints(&t, eq), Some(vec![0, 0]));
}

#[test]
fn float_constants_keep_eps_exact() {
    let mut b = B::new();
    let eps = b.op(
        "Constant",
        &[],
        vec![("value_float", AttrValue::Float(1e-5))],
    );
    let x = b.floats("x", vec![1], &[2.0]);
    let id = b.op("Identity", &[eps], vec![]);
    let n = b.op("Neg", &[x], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, eps), "f32[]");
    let v = t.constant(id).unwrap().to_f64_vec().unwrap();
    assert_eq!(v, vec![1e-5f32 as f64]);
    assert_eq!(t.constant(n).unwrap().to_f64_vec().unwrap(), vec![-2.0]);
}

#[test]
fn where_equal_expand_pattern_with_symbolic_dims() {
    // torch's expand(-1, n): Where(Equal(s, -1), ones, s) on a shape holding `batch`.
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,4");
    let sh = b.op("Shape", &[x], vec![]);
    let idx = b.ints("idx", vec![1], &[0]);
    let bat = b.op("Gather", &[sh, idx], vec![("axis", AttrValue::Int(0))]);
    let c4 = b.ints("c4", vec![1], &[4]);
    let s = b.op("Concat", &[bat, c4], vec![("axis", AttrValue::Int(0))]);
    let m1 = b.ints("m1", vec![], &[-1]);
    let eq = b.op("Equal", &[s, m1], vec![]);
    let ones = b.ints("ones", vec![2], &[1, 1]);
    let w = b.op("Where", &[eq, ones, s], vec![]);
    let v = b.floats("v", vec![1, 4], &[0.0; 4]);
    let e = b.op("Expand", &[v, w], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, e), "f32[batch,4]");
}

#[test]
fn slice_with_steps_and_negative_indices() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "10,20,seq");
    let st = b.ints("st", vec![2], &[1, 0]);
    let en = b.ints("en", vec![2], &[-1, i64::MAX]);
    let ax = b.ints("ax", vec![2], &[1, 2]);
    let sp = b.ints("sp", vec![2], &[2, 1]);
    let s = b.op("Slice", &[x, st, en, ax, sp], vec![]);
    let rs = b.ints("rs", vec![1], &[-1]);
    let re = b.ints("re", vec![1], &[i64::MIN]);
    let ra = b.ints("ra", vec![1], &[0]);
    let rp = b.ints("rp", vec![1], &[-1]);
    let rev = b.op("Slice", &[x, rs, re, ra, rp], vec![]);
    let t = b.infer(13).unwrap();
    // Axis 1: indices 1,3,...,17 -> 9 elements; axis 2: whole axis.
    assert_eq!(show(&t, s), "f32[10,9,seq]");
    assert_eq!(show(&t, rev), "f32[10,20,seq]");
}

#[test]
fn split_sizes_input_and_num_outputs() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,10");
    let sz = b.ints("sz", vec![2], &[3, 7]);
    let outs = b.node(
        "Split",
        &[Some(x), Some(sz)],
        2,
        vec![("axis", AttrValue::Int(1))],
    );
    let t = b.infer(13).unwrap();
    assert_eq!(show(&t, outs[0]), "f32[batch,3]");
    assert_eq!(show(&t, outs[1]), "f32[batch,7]");

    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,10");
    let outs = b.node(
        "Split",
        &[Some(x)],
        3,
        vec![
            ("axis", AttrValue::Int(1)),
            ("num_outputs", AttrValue::Int(3)),
        ],
    );
    let t = b.infer(18).unwrap();
    assert_eq!(show(&t, outs[0]), "f32[batch,4]");
    assert_eq!(show(&t, outs[2]), "f32[batch,2]");
}

#[test]
fn layer_normalization_statistics_shapes_and_stash_type() {
    let mut b = B::new();
    let x = b.input("x", DType::F16, "batch,seq,64");
    let g = b.input("g", DType::F16, "64");
    let outs = b.node(
        "LayerNormalization",
        &[Some(x), Some(g)],
        3,
        vec![("axis", AttrValue::Int(-1))],
    );
    let r = b.op("RMSNormalization", &[x, g], vec![]);
    let t = b.infer(23).unwrap();
    assert_eq!(show(&t, outs[0]), "f16[batch,seq,64]");
    assert_eq!(show(&t, outs[1]), "f32[batch,seq,1]");
    assert_eq!(show(&t, outs[2]), "f32[batch,seq,1]");
    assert_eq!(show(&t, r), "f16[batch,seq,64]");
}

#[test]
fn matmul_gemm_conv_shapes() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,seq,64");
    let w = b.input("w", DType::F32, "64,128");
    let v = b.input("v", DType::F32, "64");
    let m = b.op("MatMul", &[x, w], vec![]);
    let mv = b.op("MatMul", &[x, v], vec![]);
    let a = b.input("a", DType::F32, "5,64");
    let bt = b.input("bt", DType::F32, "128,64");
    let g = b.op("Gemm", &[a, bt], vec![("transB", AttrValue::Int(1))]);
    let img = b.input("img", DType::F32, "n,3,32,32");
    let k = b.input("k", DType::F32, "8,3,4,4");
    let c = b.op("Conv", &[img, k], vec![("strides", ints_attr(&[4, 4]))]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, m), "f32[batch,seq,128]");
    assert_eq!(show(&t, mv), "f32[batch,seq]");
    assert_eq!(show(&t, g), "f32[5,128]");
    assert_eq!(show(&t, c), "f32[n,8,8,8]");
}

#[test]
fn matmul_inner_dim_mismatch_is_an_error() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2,3");
    let y = b.input("y", DType::F32, "4,5");
    b.op("MatMul", &[x, y], vec![]);
    assert!(b.infer(14).is_err());
}

#[test]
fn transpose_flatten_concat_gather() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "n,c,h,w");
    let tr = b.op("Transpose", &[x], vec![("perm", ints_attr(&[0, 2, 3, 1]))]);
    let f = b.op("Flatten", &[x], vec![("axis", AttrValue::Int(-1))]);
    let y = b.input("y", DType::F32, "n,5,h,w");
    let cat = b.op("Concat", &[x, y], vec![("axis", AttrValue::Int(1))]);
    let emb = b.input("emb", DType::F32, "100,16");
    let ids = b.input("ids", DType::I64, "batch,seq");
    let g = b.op("Gather", &[emb, ids], vec![]);
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, tr), "f32[n,h,w,c]");
    assert_eq!(show(&t, f), "f32[?,w]");
    assert_eq!(show(&t, cat), "f32[n,?,h,w]");
    assert_eq!(show(&t, g), "f32[batch,seq,16]");
}

#[test]
fn declared_types_merge_and_contradictions_fail() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,64");
    let r = b.op("Relu", &[x], vec![]);
    b.declare_type(r, tt(DType::F32, "?,64"));
    let u = b.op(
        "Einsum",
        &[x],
        vec![("equation", AttrValue::String(b"ij->ji".to_vec()))],
    );
    b.declare_type(u, tt(DType::F32, "64,batch"));
    let t = b.infer(14).unwrap();
    assert_eq!(show(&t, r), "f32[batch,64]");
    assert_eq!(show(&t, u), "f32[64,batch]");

    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,64");
    let r = b.op("Relu", &[x], vec![]);
    b.declare_type(r, tt(DType::F32, "batch,32"));
    let e = b.infer(14).unwrap_err();
    assert!(e.what.contains(&b.g.value(r).name), "{e}");

    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,64");
    let r = b.op("Relu", &[x], vec![]);
    b.declare_type(r, tt(DType::F16, "batch,64"));
    assert!(b.infer(14).is_err());
}

#[test]
fn unknown_ops_and_domains_leave_outputs_unknown() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "2");
    let y = b.op("FancyCustomOp", &[x], vec![]);
    let z = b.op("Relu", &[y], vec![]);
    let t = b.infer(14).unwrap();
    assert!(t.ty(y).is_none());
    assert!(t.ty(z).is_none());
}

#[test]
fn initializer_that_is_a_graph_input_is_not_a_constant() {
    let mut b = B::new();
    let eps = b.floats("eps", vec![], &[1e-5]);
    b.g.add_input(eps);
    let fixed = b.floats("fixed", vec![], &[1e-5]);
    let t = b.infer(14).unwrap();
    assert!(t.constant(eps).is_none());
    assert_eq!(show(&t, eps), "f32[]");
    assert!(t.constant(fixed).is_some());
}

#[test]
fn malformed_nodes_give_errors_not_panics() {
    let cases: Vec<(&str, Vec<(&str, AttrValue)>)> = vec![
        ("Gather", vec![("axis", AttrValue::Int(9))]),
        ("Transpose", vec![("perm", ints_attr(&[0, 0]))]),
        ("Flatten", vec![("axis", AttrValue::Int(-7))]),
        ("Softmax", vec![]),
        ("Concat", vec![("axis", AttrValue::Int(i64::MIN))]),
        (
            "Split",
            vec![("axis", AttrValue::Int(1)), ("split", ints_attr(&[1, 1]))],
        ),
        ("Cast", vec![("to", AttrValue::Float(1.0))]),
        ("LayerNormalization", vec![("axis", AttrValue::Int(5))]),
        ("Unsqueeze", vec![("axes", ints_attr(&[i64::MAX]))]),
    ];
    for (op, attrs) in cases {
        let mut b = B::new();
        let x = b.input("x", DType::F32, "2,3");
        let i = b.ints("i", vec![1], &[0]);
        let ins = if op == "Gather" { vec![x, i] } else { vec![x] };
        b.op(op, &ins, attrs);
        let r = b.infer(11);
        if op != "Softmax" {
            assert!(r.is_err(), "{op} should be rejected");
        } else {
            assert!(r.is_ok());
        }
    }
}

#[test]
fn data_dependent_dims_are_fresh_symbols_distinct_per_output() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,5");
    let n1 = b.op("NonZero", &[x], vec![]);
    let n2 = b.op("NonZero", &[x], vec![]);
    let t = b.infer(13).unwrap();
    let (s1, s2) = (show(&t, n1), show(&t, n2));
    assert!(s1.starts_with("i64[2,#"), "{s1}");
    // Two NonZero nodes may count differently: their dims are different symbols.
    assert_ne!(s1, s2);
    // Re-inferring the same graph names them the same way.
    assert_eq!(show(&b.infer(13).unwrap(), n1), s1);
}

#[test]
fn fresh_symbols_never_match_a_declared_one() {
    // The file already uses a dim named like a fresh one: the prefix grows to avoid it.
    let mut b = B::new();
    let x = b.input("x", DType::F32, "#1.0.1,3");
    let y = b.input("y", DType::F32, "#1.0.1,3");
    let nz = b.op("NonZero", &[x], vec![]);
    let s = b.op("Add", &[x, y], vec![]);
    let t = b.infer(13).unwrap();
    let shown = show(&t, nz);
    assert!(shown.starts_with("i64[2,##"), "{shown}");
    assert_eq!(show(&t, s), "f32[#1.0.1,3]");
}

#[test]
fn declared_symbol_is_kept_over_a_fresh_one() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "4");
    let nz = b.op("NonZero", &[x], vec![]);
    b.declare_type(nz, tt(DType::I64, "1,count"));
    let t = b.infer(13).unwrap();
    assert_eq!(show(&t, nz), "i64[1,count]");
}

#[test]
fn one_hot_depth_from_a_symbolic_shape_element() {
    // depth = Shape(x)[1]: the OneHot axis is x's own symbolic dim.
    let mut b = B::new();
    let x = b.input("x", DType::F32, "batch,classes");
    let ids = b.input("ids", DType::I64, "batch");
    let sh = b.op("Shape", &[x], vec![]);
    let one = b.ints("one", vec![], &[1]);
    let depth = b.op("Gather", &[sh, one], vec![]);
    let vals = b.floats("vals", vec![2], &[0.0, 1.0]);
    let oh = b.op("OneHot", &[ids, depth, vals], vec![]);
    let t = b.infer(11).unwrap();
    assert_eq!(show(&t, oh), "f32[batch,classes]");
}

#[test]
fn pool_with_symbolic_input_keeps_only_provable_sizes() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "n,8,h,w");
    let same = b.op(
        "MaxPool",
        &[x],
        vec![
            ("kernel_shape", ints_attr(&[3, 3])),
            ("pads", ints_attr(&[1, 1, 1, 1])),
        ],
    );
    let strided = b.op(
        "AveragePool",
        &[x],
        vec![
            ("kernel_shape", ints_attr(&[2, 2])),
            ("strides", ints_attr(&[2, 2])),
        ],
    );
    let g = b.op("GlobalAveragePool", &[x], vec![]);
    let t = b.infer(13).unwrap();
    assert_eq!(show(&t, same), "f32[n,8,h,w]");
    assert_eq!(show(&t, strided), "f32[n,8,?,?]");
    assert_eq!(show(&t, g), "f32[n,8,1,1]");
}

#[test]
fn pool_kernel_larger_than_padded_input_is_an_error() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, "1,2,3,3");
    b.op("MaxPool", &[x], vec![("kernel_shape", ints_attr(&[5, 5]))]);
    let e = b.infer(13).unwrap_err();
    assert_eq!(e.op, "MaxPool");
}

/// TfIdfVectorizer: f32 rows as wide as the largest output coordinate + 1, one per input row.
#[test]
fn tfidf_vectorizer_rows_of_the_largest_index_plus_one() {
    let attrs = || {
        vec![
            ("mode", AttrValue::String(b"TF".to_vec())),
            ("ngram_indexes", ints_attr(&[3, 0, 7, 1])),
            ("ngram_counts", ints_attr(&[0, 2])),
            ("pool_int64s", ints_attr(&[1, 2, 1, 2, 2, 1])),
            ("min_gram_length", AttrValue::Int(1)),
            ("max_gram_length", AttrValue::Int(2)),
            ("max_skip_count", AttrValue::Int(0)),
        ]
    };
    let mut b = B::new();
    let batch = b.input("batch", DType::I64, "n,12");
    let flat = b.input("flat", DType::I32, "12");
    let y2 = b.op("TfIdfVectorizer", &[batch], attrs());
    let y1 = b.op("TfIdfVectorizer", &[flat], attrs());
    let t = b.infer(21).unwrap();
    assert_eq!(show(&t, y2), "f32[n,8]");
    assert_eq!(show(&t, y1), "f32[8]");

    let mut b = B::new();
    let x = b.input("x", DType::I64, "2,3,4");
    b.op("TfIdfVectorizer", &[x], attrs());
    let e = b.infer(21).unwrap_err();
    assert!(e.what.contains("1-D or 2-D"), "{e}");
}
