//! Attribute combinations of the neural-network ops that the ONNX node tests do not cover:
//! one-node models in `tests/data/nn/`, written with their expected outputs by
//! `tests/data/nn/gen.py` from the onnx reference implementation and / or ONNX Runtime
//! (see the script for which source each case has). Then the refusals: forms whose result
//! the spec and the implementations do not agree on must be refused, naming the node.
mod common;
use common::*;
use lnopt_interp::InterpError;
use lnopt_ir::{AttrValue, Tensor};
use std::path::PathBuf;

fn case_dir(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nn")).join(name)
}

/// Loads case `name`, runs it and compares every output (f32: 1e-5 absolute + 1e-4
/// relative; integers exactly).
fn check_case(name: &str) {
    let dir = case_dir(name);
    let limits = lnopt_onnx::Limits::default();
    let model = lnopt_onnx::load(&dir.join("model.onnx"), &limits)
        .unwrap_or_else(|e| panic!("{name}: model: {e}"));
    let load = |prefix: &str| -> Vec<Tensor> {
        let mut v = Vec::new();
        for k in 0.. {
            let p = dir.join(format!("{prefix}_{k}.pb"));
            if !p.exists() {
                break;
            }
            v.push(lnopt_onnx::load_tensor(&p, &limits).unwrap());
        }
        v
    };
    let (inputs, want) = (load("input"), load("output"));
    assert!(!want.is_empty(), "{name}: no expected outputs in {dir:?}");
    let got = lnopt_interp::run_model(&model, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.len(), want.len(), "{name}: output count");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.dtype, w.dtype, "{name} output {k}: dtype");
        assert_eq!(g.dims, w.dims, "{name} output {k}: shape");
        let (gv, wv) = (vals(g), vals(w));
        for (i, (a, b)) in gv.iter().zip(&wv).enumerate() {
            let tol = if g.dtype.is_float() {
                1e-5 + 1e-4 * b.abs()
            } else {
                0.0
            };
            let same = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol;
            assert!(same, "{name} output {k} [{i}]: got {a}, want {b}");
        }
    }
}

#[test]
fn conv_transpose_with_groups_strides_dilations_output_padding_and_pads() {
    check_case("convtranspose_group_stride_dilation_outpad");
}

#[test]
fn conv_3d_with_groups_and_same_padding() {
    check_case("conv3d_group_same_upper_strides");
    check_case("conv3d_group_dilation_same_lower");
}

#[test]
fn max_pool_dilated_ceil_padded_with_column_major_indices() {
    check_case("maxpool_dilation_ceil_pads_colmajor_indices");
}

#[test]
fn average_pool_counts_explicit_pads_but_not_the_ceil_extension() {
    check_case("averagepool_include_pad_ceil");
}

#[test]
fn lstm_bidirectional_with_sequence_lens_peepholes_and_clip() {
    check_case("lstm_bidirectional_seqlens_peephole_clip");
}

#[test]
fn lstm_batch_major_layout_and_coupled_input_forget() {
    check_case("lstm_layout1_initial_states");
    check_case("lstm_input_forget_reverse");
}

#[test]
fn gru_reverse_linear_before_reset_with_parameterised_activations() {
    check_case("gru_reverse_lbr_custom_activations");
}

#[test]
fn resize_antialiased_cubic_on_permuted_axes_and_nearest_ceil() {
    check_case("resize_cubic_antialias_axes_not_smaller");
    check_case("resize_nearest_ceil_asymmetric_scales");
}

#[test]
fn group_norm_at_opset_18_scales_per_group() {
    check_case("groupnorm_opset18_per_group_scale");
}

#[test]
fn batch_norm_training_mode_outputs_running_statistics() {
    check_case("batchnorm_training_running_stats");
}

#[test]
fn cumsum_reverse_exclusive_on_a_middle_axis() {
    check_case("cumsum_reverse_exclusive_int32_axis1");
}

#[test]
fn einsum_broadcasts_ellipsis_dims_and_takes_diagonals() {
    check_case("einsum_ellipsis_broadcast_diagonal");
}

#[test]
fn attention_gqa_with_bool_mask_window_softcap_and_past() {
    check_case("attention_gqa_boolmask_window_past");
}

/// Asserts that `r` is an op error of `the_node` whose message contains `needle`.
fn refused(r: Result<Vec<Tensor>, InterpError>, needle: &str) {
    match r {
        Err(InterpError::Op { node, what, .. }) => {
            assert_eq!(node, "the_node");
            assert!(what.contains(needle), "message '{what}' lacks '{needle}'");
        }
        other => panic!("expected a refusal naming the node, got {other:?}"),
    }
}

fn zeros(dims: &[i64]) -> Tensor {
    let n: i64 = dims.iter().product();
    f32t(dims, &vec![0.5; n as usize])
}

#[test]
fn conv_transpose_refuses_an_odd_output_shape_padding_but_runs_an_even_one() {
    let ins = [Some(zeros(&[1, 1, 3, 3])), Some(zeros(&[1, 1, 3, 3]))];
    // Full output 5x5; 4x4 needs one padding row: spec and ONNX Runtime split it differently.
    let odd = vec![attr("output_shape", AttrValue::Ints(vec![4, 4]))];
    refused(
        run_op_at("ConvTranspose", 22, odd, &ins, 1),
        "odd total padding",
    );
    let even = vec![attr("output_shape", AttrValue::Ints(vec![3, 3]))];
    let y = run_op_at("ConvTranspose", 22, even, &ins, 1).unwrap();
    assert_eq!(y[0].dims, vec![1, 1, 3, 3]);
}

#[test]
fn resize_align_corners_with_a_fractional_output_length_is_refused() {
    let x = zeros(&[1, 1, 2, 4]);
    let a = vec![
        attr("mode", AttrValue::String(b"linear".to_vec())),
        attr(
            "coordinate_transformation_mode",
            AttrValue::String(b"align_corners".to_vec()),
        ),
    ];
    let frac = Tensor::from_f32("", vec![4], &[1.0, 1.0, 0.6, 0.6]);
    refused(
        run_op_at(
            "Resize",
            19,
            a.clone(),
            &[Some(x.clone()), None, Some(frac)],
            1,
        ),
        "fractional",
    );
    let whole = Tensor::from_f32("", vec![4], &[1.0, 1.0, 0.5, 0.5]);
    let y = run_op_at("Resize", 19, a, &[Some(x), None, Some(whole)], 1).unwrap();
    assert_eq!(y[0].dims, vec![1, 1, 1, 2]);
}

#[test]
fn attention_mode_0_with_softcap_and_the_fourth_output_is_refused() {
    let q = zeros(&[1, 1, 2, 4]);
    let ins = [Some(q.clone()), Some(q.clone()), Some(q)];
    let a = vec![attr("softcap", AttrValue::Float(2.0))];
    refused(run_op_at("Attention", 23, a.clone(), &ins, 4), "disagree");
    // Without the fourth output the same node runs.
    assert!(run_op_at("Attention", 23, a, &ins, 1).is_ok());
}

#[test]
fn pool_dilations_before_the_opset_that_defines_them_are_refused() {
    let x = zeros(&[1, 1, 4, 4]);
    let a = vec![
        attr("kernel_shape", AttrValue::Ints(vec![2, 2])),
        attr("dilations", AttrValue::Ints(vec![2, 2])),
    ];
    refused(
        run_op_at("AveragePool", 11, a.clone(), &[Some(x.clone())], 1),
        "dilations",
    );
    assert!(run_op_at("AveragePool", 19, a, &[Some(x)], 1).is_ok());
}

#[test]
fn batch_norm_training_outputs_are_refused_before_opset_14() {
    let c = || Some(f32t(&[1], &[1.0]));
    let ins = [Some(zeros(&[2, 1, 2])), c(), c(), c(), c()];
    refused(
        run_op_at("BatchNormalization", 9, vec![], &ins, 3),
        "training_mode",
    );
}

#[test]
fn scan_reverses_an_input_sliced_on_axis_1_and_stacks_on_axis_1() {
    check_case("scan_reverse_input_axis1_output_axis1");
}
