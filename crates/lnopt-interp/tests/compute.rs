//! Reductions, Softmax, MatMul, Gemm, Conv and the normalisations: expectations derived by
//! hand from the ONNX spec.
mod common;
use common::*;
use lnopt_ir::{AttrValue, DType};

fn x23() -> lnopt_ir::Tensor {
    f32t(&[2, 3], &[1., 2., 3., 4., 5., 6.])
}

#[test]
fn reduce_mean_axes_attribute_before_18_input_from_18() {
    let a = vec![attr("axes", AttrValue::Ints(vec![-1]))];
    let y = run_op_at("ReduceMean", 13, a, &[Some(x23())], 1).unwrap();
    assert_eq!(y[0].dims, vec![2, 1]);
    close(&vals(&y[0]), &[2., 5.]);
    let k = vec![attr("keepdims", AttrValue::Int(0))];
    let y = run_op_at(
        "ReduceMean",
        18,
        k,
        &[Some(x23()), Some(i64t(&[1], &[0]))],
        1,
    )
    .unwrap();
    assert_eq!(y[0].dims, vec![3]);
    close(&vals(&y[0]), &[2.5, 3.5, 4.5]);
    // No axes: reduce all; with noop_with_empty_axes: identity.
    let y = run_op_at("ReduceMean", 18, vec![], &[Some(x23())], 1).unwrap();
    assert_eq!(y[0].dims, vec![1, 1]);
    close(&vals(&y[0]), &[3.5]);
    let n = vec![attr("noop_with_empty_axes", AttrValue::Int(1))];
    let y = run_op_at("ReduceMean", 18, n, &[Some(x23())], 1).unwrap();
    assert_eq!(y[0].dims, vec![2, 3]);
}

#[test]
fn reduce_sum_takes_axes_input_from_13_and_max_works() {
    let y = run_op_at(
        "ReduceSum",
        13,
        vec![],
        &[Some(x23()), Some(i64t(&[1], &[1]))],
        1,
    )
    .unwrap();
    close(&vals(&y[0]), &[6., 15.]);
    let a = vec![attr("axes", AttrValue::Ints(vec![0]))];
    let y = run_op_at("ReduceMax", 13, a, &[Some(x23())], 1).unwrap();
    close(&vals(&y[0]), &[4., 5., 6.]);
}

#[test]
fn softmax_axis_semantics_change_at_13() {
    // softmax([0, ln 3]) = [1/4, 3/4].
    let l3 = 3f32.ln();
    let y = run1("Softmax", vec![], &[f32t(&[1, 2], &[0., l3])]);
    close(&vals(&y), &[0.25, 0.75]);
    // Shape [1, 2, 2], axis 1. Opset 13: over axis 1 only (pairs (0,2) and (1,3)).
    let x = f32t(&[1, 2, 2], &[0., 0., l3, 0.]);
    let a = vec![attr("axis", AttrValue::Int(1))];
    let y = run_op_at("Softmax", 13, a.clone(), &[Some(x.clone())], 1).unwrap();
    close(&vals(&y[0]), &[0.25, 0.5, 0.75, 0.5]);
    // Opset 11: flattened to [1, 4], normalised over all four: weights 1, 1, 3, 1 over 6.
    let y = run_op_at("Softmax", 11, a, &[Some(x)], 1).unwrap();
    close(&vals(&y[0]), &[1. / 6., 1. / 6., 0.5, 1. / 6.]);
}

#[test]
fn matmul_plain_vector_and_batched() {
    let b = f32t(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
    let y = run1("MatMul", vec![], &[x23(), b.clone()]);
    assert_eq!(y.dims, vec![2, 2]);
    close(&vals(&y), &[4., 5., 10., 11.]);
    let y = run1("MatMul", vec![], &[f32t(&[3], &[1., 1., 1.]), b.clone()]);
    assert_eq!(y.dims, vec![2]);
    close(&vals(&y), &[2., 2.]);
    // Batch of 2 on the left, one right matrix broadcast.
    let a = f32t(&[2, 1, 3], &[1., 2., 3., 4., 5., 6.]);
    let y = run1("MatMul", vec![], &[a, b]);
    assert_eq!(y.dims, vec![2, 1, 2]);
    close(&vals(&y), &[4., 5., 10., 11.]);
    let r = run_op_at("MatMul", 13, vec![], &[Some(x23()), Some(x23())], 1);
    assert!(r.is_err());
}

#[test]
fn gemm_transposes_alpha_beta_and_broadcast_c() {
    // A' = [[1,2],[3,4]] given transposed; B' = I given transposed.
    let a = f32t(&[2, 2], &[1., 3., 2., 4.]);
    let b = f32t(&[2, 2], &[1., 0., 0., 1.]);
    let c = f32t(&[2], &[10., 20.]);
    let at = vec![
        attr("transA", AttrValue::Int(1)),
        attr("transB", AttrValue::Int(1)),
        attr("alpha", AttrValue::Float(2.)),
        attr("beta", AttrValue::Float(0.5)),
    ];
    let y = run1("Gemm", at, &[a, b, c]);
    close(&vals(&y), &[7., 14., 11., 18.]);
}

#[test]
fn conv_1d_with_pads_and_stride() {
    // x = 1..5, kernel [1, 1], pads 1/1, stride 2: windows (0,1) (2,3) (4,5) -> 1, 5, 9.
    let x = f32t(&[1, 1, 5], &[1., 2., 3., 4., 5.]);
    let w = f32t(&[1, 1, 2], &[1., 1.]);
    let at = vec![
        attr("pads", AttrValue::Ints(vec![1, 1])),
        attr("strides", AttrValue::Ints(vec![2])),
    ];
    let y = run1("Conv", at, &[x, w]);
    assert_eq!(y.dims, vec![1, 1, 3]);
    close(&vals(&y), &[1., 5., 9.]);
}

#[test]
fn conv_2d_grouped_dilated_with_bias() {
    // Two channels, group 2 (depthwise). 3x3 input, 2x2 kernel dilated by 2 = corners.
    let x = f32t(
        &[1, 2, 3, 3],
        &[
            1., 2., 3., 4., 5., 6., 7., 8., 9., 0., 0., 0., 0., 1., 0., 0., 0., 0.,
        ],
    );
    let w = f32t(&[2, 1, 2, 2], &[1., 1., 1., 1., 1., 1., 1., 1.]);
    let bias = f32t(&[2], &[100., 0.]);
    let at = vec![
        attr("group", AttrValue::Int(2)),
        attr("dilations", AttrValue::Ints(vec![2, 2])),
    ];
    let y = run1("Conv", at, &[x, w, bias]);
    assert_eq!(y.dims, vec![1, 2, 1, 1]);
    // Channel 0: corners 1+3+7+9 = 20 (+100). Channel 1: corners all zero.
    close(&vals(&y), &[120., 0.]);
}

#[test]
fn layer_normalization_outputs_y_mean_inv_std() {
    // Row [1,2,3,4]: mean 2.5, var 1.25. Row [2,2,2,2]: mean 2, var 0.
    let x = f32t(&[2, 4], &[1., 2., 3., 4., 2., 2., 2., 2.]);
    let scale = f32t(&[4], &[2., 2., 2., 2.]);
    let bias = f32t(&[4], &[1., 1., 1., 1.]);
    let at = vec![attr("epsilon", AttrValue::Float(0.))];
    let y = run_op_at(
        "LayerNormalization",
        17,
        at,
        &[Some(x), Some(scale), Some(bias)],
        3,
    )
    .unwrap();
    let s = 1.25f64.sqrt();
    let n: Vec<f64> = [-1.5, -0.5, 0.5, 1.5]
        .iter()
        .map(|d| 2. * d / s + 1.)
        .collect();
    let got = vals(&y[0]);
    assert!(
        got[..4].iter().zip(&n).all(|(g, w)| (g - w).abs() < 1e-5),
        "{got:?}"
    );
    assert!(
        got[4..].iter().all(|v| v.is_nan()),
        "0/0 with eps 0 gives NaN: {got:?}"
    );
    assert_eq!(y[1].dims, vec![2, 1]);
    close(&vals(&y[1]), &[2.5, 2.]);
    assert!((vals(&y[2])[0] - 1. / s).abs() < 1e-6);
}

#[test]
fn layer_normalization_axis_zero_without_bias_and_f16_stats_in_f32() {
    let x = f16t(&[2, 2], &[1., 3., 5., 7.]);
    let scale = f16t(&[2, 2], &[1., 1., 1., 1.]);
    let at = vec![
        attr("axis", AttrValue::Int(0)),
        attr("epsilon", AttrValue::Float(0.)),
    ];
    let y = run_op_at("LayerNormalization", 17, at, &[Some(x), Some(scale)], 3).unwrap();
    // mean 4, var (9+1+1+9)/4 = 5.
    let s = 5f64.sqrt();
    let want: Vec<f64> = [-3., -1., 1., 3.].iter().map(|d| d / s).collect();
    assert_eq!(y[0].dtype, DType::F16);
    assert!(vals(&y[0])
        .iter()
        .zip(&want)
        .all(|(g, w)| (g - w).abs() < 2e-3));
    assert_eq!((y[1].dtype, y[1].dims.clone()), (DType::F32, vec![1, 1]));
    close(&vals(&y[1]), &[4.]);
}

#[test]
fn layer_normalization_below_opset_17_runs_as_ort_private_form() {
    // ORT's own LayerNormalization lives in the default domain at any opset with the
    // standard semantics; `--target ort` emits it. Row [1, 2]: mean 1.5, var 0.25.
    let y = run_op_at(
        "LayerNormalization",
        16,
        vec![attr("epsilon", AttrValue::Float(0.))],
        &[Some(f32t(&[2], &[1., 2.])), Some(f32t(&[2], &[1., 1.]))],
        1,
    )
    .unwrap();
    close(&vals(&y[0]), &[-1., 1.]);
}

#[test]
fn rms_normalization_needs_opset_23() {
    let r = run_op_at(
        "RMSNormalization",
        22,
        vec![],
        &[Some(f32t(&[2], &[1., 2.])), Some(f32t(&[2], &[1., 1.]))],
        1,
    );
    assert!(r.unwrap_err().to_string().contains("opset"));
}

#[test]
fn rms_normalization_and_ort_simplified_form() {
    // Row [3, 4]: mean square 12.5.
    let x = f32t(&[1, 2], &[3., 4.]);
    let scale = f32t(&[2], &[1., 10.]);
    let r = 12.5f64.sqrt();
    let at = vec![attr("epsilon", AttrValue::Float(0.))];
    let y = run_op_at(
        "RMSNormalization",
        23,
        at.clone(),
        &[Some(x.clone()), Some(scale.clone())],
        1,
    )
    .unwrap();
    close(&vals(&y[0]), &[3. / r, 40. / r]);
    let y = run_op_at(
        "SimplifiedLayerNormalization",
        14,
        at,
        &[Some(x.clone()), Some(scale.clone())],
        2,
    )
    .unwrap();
    close(&vals(&y[0]), &[3. / r, 40. / r]);
    close(&vals(&y[1]), &[1. / r]);
    // Default epsilon 1e-5 is applied.
    let y = run_op_at("RMSNormalization", 23, vec![], &[Some(x), Some(scale)], 1).unwrap();
    let r2 = (12.5f64 + 1e-5).sqrt();
    close(&vals(&y[0]), &[3. / r2, 40. / r2]);
}

#[test]
fn microsoft_domain_layer_normalization() {
    let m = one_node_model(
        "LayerNormalization",
        "com.microsoft",
        vec![],
        &[true, true],
        1,
        14,
    );
    let y = lnopt_interp::run_model(&m, &[f32t(&[2], &[1., 3.]), f32t(&[2], &[1., 1.])]).unwrap();
    let d = 1. / (1f64 + 1e-5).sqrt();
    close(&vals(&y[0]), &[-d, d]);
}
