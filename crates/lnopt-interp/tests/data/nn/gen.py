#!/usr/bin/env python3
"""Writes the nn-attribute test cases of tests/nn_attrs.rs: one-node models whose attribute
combinations the ONNX node tests do not cover, with inputs and the outputs of the onnx
package's reference implementation (`onnx.reference.ReferenceEvaluator`). Where ONNX Runtime
implements the same combination, its outputs are computed too and must agree (the script
fails otherwise), so each expectation has two independent sources when possible.

Usage: python3 gen.py  (writes next to this file: CASE/model.onnx, input_K.pb, output_K.pb)
Needs: onnx (1.23), onnxruntime, numpy.
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(13)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def write_case(name, op, inputs, n_out, attrs, opset, ort=True, ref=True):
    """`inputs`: list of (name, array or None for omitted). `ref=False`: ONNX Runtime is the
    only source (the reference implementation cannot run the case)."""
    in_names = [n if a is not None else "" for n, a in inputs]
    out_names = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, in_names, out_names, name="the_node", **attrs)
    g_inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for n, a in inputs
        if a is not None
    ]
    graph = helper.make_graph([node], name, g_inputs, [helper.make_empty_tensor_value_info(o) for o in out_names])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    # Output types from onnx's shape inference.
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    for o in graph.output:
        if o.name in inferred:
            o.type.CopyFrom(inferred[o.name].type)
    feeds = {n: a for n, a in inputs if a is not None}
    want = ReferenceEvaluator(model).run(None, feeds) if ref else None
    if ort:
        import onnxruntime as rt

        so = rt.SessionOptions()
        so.graph_optimization_level = rt.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = rt.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)
        want = want if want is not None else got
        for w, g in zip(want, got):
            assert w.shape == g.shape, (name, w.shape, g.shape)
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=name)
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    # Typed outputs for the saved model.
    for o, w in zip(graph.output, want):
        o.type.CopyFrom(helper.make_tensor_type_proto(helper.np_dtype_to_tensor_dtype(w.dtype), w.shape))
    onnx.save(model, os.path.join(d, "model.onnx"))
    for k, (n, a) in enumerate([(n, a) for n, a in inputs if a is not None]):
        onnx.save_tensor(numpy_helper.from_array(a, n), os.path.join(d, f"input_{k}.pb"))
    for k, w in enumerate(want):
        onnx.save_tensor(numpy_helper.from_array(w, out_names[k]), os.path.join(d, f"output_{k}.pb"))
    print(name, [w.shape for w in want], {(True, True): "reference = ORT", (True, False): "reference only", (False, True): "ORT only"}[(ref, ort)])


def main():
    # ConvTranspose: groups, strides, dilations, output_padding and asymmetric pads at once.
    write_case(
        "convtranspose_group_stride_dilation_outpad",
        "ConvTranspose",
        [("X", f32(1, 4, 3, 3)), ("W", f32(4, 2, 2, 3)), ("B", f32(4))],
        1,
        dict(group=2, strides=[2, 3], dilations=[2, 1], output_padding=[1, 2], pads=[1, 0, 0, 2]),
        22,
        ref=False,  # the reference mis-slices W for groups with several outputs each
    )
    # Conv 3-D with groups, dilations and SAME_LOWER.
    write_case(
        "conv3d_group_dilation_same_lower",
        "Conv",
        [("X", f32(1, 4, 5, 4, 5)), ("W", f32(2, 2, 2, 3, 2)), ("B", f32(2))],
        1,
        dict(group=2, dilations=[1, 2, 2], strides=[2, 1, 2], auto_pad="SAME_LOWER"),
        22,
        ort=False,  # ONNX Runtime refuses dilations with SAME_* padding
    )
    write_case(
        "conv3d_group_same_upper_strides",
        "Conv",
        [("X", f32(1, 4, 5, 4, 5)), ("W", f32(2, 2, 2, 3, 2)), ("B", f32(2))],
        1,
        dict(group=2, strides=[2, 1, 2], auto_pad="SAME_UPPER"),
        22,
    )
    # MaxPool: dilations, ceil_mode, pads and column-major indices.
    write_case(
        "maxpool_dilation_ceil_pads_colmajor_indices",
        "MaxPool",
        [("X", f32(2, 2, 6, 7))],
        2,
        dict(kernel_shape=[2, 3], strides=[2, 2], dilations=[2, 1], pads=[1, 1, 1, 0], ceil_mode=1, storage_order=1),
        22,
    )
    # AveragePool: count_include_pad with ceil_mode and asymmetric pads.
    write_case(
        "averagepool_include_pad_ceil",
        "AveragePool",
        [("X", f32(1, 2, 5, 6))],
        1,
        dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 1, 1], ceil_mode=1, count_include_pad=1),
        22,
    )
    # LSTM: bidirectional, sequence_lens, peepholes, clip, initial states.
    seq, batch, inp, hid = 4, 3, 2, 3
    write_case(
        "lstm_bidirectional_seqlens_peephole_clip",
        "LSTM",
        [
            ("X", f32(seq, batch, inp)),
            ("W", f32(2, 4 * hid, inp)),
            ("R", f32(2, 4 * hid, hid)),
            ("B", f32(2, 8 * hid)),
            ("sequence_lens", np.array([4, 2, 3], dtype=np.int32)),
            ("initial_h", f32(2, batch, hid)),
            ("initial_c", f32(2, batch, hid)),
            ("P", f32(2, 3 * hid)),
        ],
        3,
        dict(direction="bidirectional", hidden_size=hid, clip=1.5),
        22,
        ref=False,  # the reference ignores sequence_lens and clip
    )
    # LSTM layout 1 (ONNX Runtime does not support it: reference only).
    write_case(
        "lstm_layout1_initial_states",
        "LSTM",
        [
            ("X", f32(batch, seq, inp)),
            ("W", f32(1, 4 * hid, inp)),
            ("R", f32(1, 4 * hid, hid)),
            ("B", None),
            ("sequence_lens", None),
            ("initial_h", f32(batch, 1, hid)),
            ("initial_c", f32(batch, 1, hid)),
        ],
        3,
        dict(hidden_size=hid, layout=1),
        22,
        ort=False,
    )
    # LSTM input_forget (the reference ignores it: ONNX Runtime only).
    write_case(
        "lstm_input_forget_reverse",
        "LSTM",
        [("X", f32(seq, batch, inp)), ("W", f32(1, 4 * hid, inp)), ("R", f32(1, 4 * hid, hid))],
        3,
        dict(hidden_size=hid, input_forget=1, direction="reverse"),
        22,
        ref=False,
    )
    # GRU: reverse, linear_before_reset, custom activations with alpha / beta.
    write_case(
        "gru_reverse_lbr_custom_activations",
        "GRU",
        [
            ("X", f32(seq, batch, inp)),
            ("W", f32(1, 3 * hid, inp)),
            ("R", f32(1, 3 * hid, hid)),
            ("B", f32(1, 6 * hid)),
        ],
        2,
        dict(
            direction="reverse",
            hidden_size=hid,
            linear_before_reset=1,
            activations=["HardSigmoid", "LeakyRelu"],
            activation_alpha=[0.3, 0.2],
            activation_beta=[0.4],
        ),
        22,
        ref=False,  # the reference ignores activations
    )
    # Resize: cubic, antialias, exclude_outside on two of four axes, sizes with not_smaller.
    write_case(
        "resize_cubic_antialias_axes_not_smaller",
        "Resize",
        [
            ("X", f32(1, 2, 6, 7)),
            ("roi", None),
            ("scales", None),
            ("sizes", np.array([3, 4], dtype=np.int64)),
        ],
        1,
        dict(mode="cubic", antialias=1, exclude_outside=1, axes=[3, 2], keep_aspect_ratio_policy="not_smaller"),
        19,
        ort=False,
    )
    # Resize: nearest ceil with asymmetric coordinates, upsampling by fractional scales.
    write_case(
        "resize_nearest_ceil_asymmetric_scales",
        "Resize",
        [("X", f32(1, 1, 3, 4)), ("roi", None), ("scales", np.array([1, 1, 1.7, 2.3], dtype=np.float32))],
        1,
        dict(mode="nearest", nearest_mode="ceil", coordinate_transformation_mode="asymmetric"),
        19,
    )
    # GroupNormalization at opset 18: scale and bias per group, not per channel.
    write_case(
        "groupnorm_opset18_per_group_scale",
        "GroupNormalization",
        [("X", f32(2, 6, 3)), ("scale", f32(3)), ("bias", f32(3))],
        1,
        dict(num_groups=3, epsilon=1e-3),
        18,
        ort=False,
    )
    # BatchNormalization training mode: running statistics outputs.
    write_case(
        "batchnorm_training_running_stats",
        "BatchNormalization",
        [
            ("X", f32(3, 2, 2, 2)),
            ("scale", f32(2)),
            ("B", f32(2)),
            ("mean", f32(2)),
            ("var", np.abs(f32(2)) + 0.5),
        ],
        3,
        dict(training_mode=1, momentum=0.8),
        15,
        ort=False,
    )
    # CumSum: reverse and exclusive along a middle axis of int32.
    write_case(
        "cumsum_reverse_exclusive_int32_axis1",
        "CumSum",
        [("x", rng.integers(-5, 5, (2, 3, 4)).astype(np.int32)), ("axis", np.array(1, dtype=np.int64))],
        1,
        dict(reverse=1, exclusive=1),
        14,
    )
    # Einsum with ellipsis broadcasting and a repeated (diagonal) label.
    write_case(
        "einsum_ellipsis_broadcast_diagonal",
        "Einsum",
        [("a", f32(2, 1, 3, 3)), ("b", f32(1, 4, 3, 2))],
        1,
        dict(equation="...ii,...ij->...j"),
        12,
    )
    # Attention: GQA, boolean 2-D mask, sliding window with a past cache.
    write_case(
        "attention_gqa_boolmask_window_past",
        "Attention",
        [
            ("Q", f32(1, 4, 2, 4)),
            ("K", f32(1, 2, 2, 4)),
            ("V", f32(1, 2, 2, 3)),
            ("attn_mask", rng.random((2, 5)) > 0.2),
            ("past_key", f32(1, 2, 3, 4)),
            ("past_value", f32(1, 2, 3, 3)),
        ],
        4,
        dict(left_window_size=2, qk_matmul_output_mode=2, softcap=3.0),
        25,
        ort=False,
    )
    # Scan: a reversed scan input sliced along axis 1, the scan output stacked along axis 1.
    body = helper.make_graph(
        [
            helper.make_node("Add", ["s", "x"], ["s2"]),
            helper.make_node("Mul", ["s2", "x"], ["o"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("s", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [
            helper.make_tensor_value_info("s2", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("o", TensorProto.FLOAT, [2]),
        ],
    )
    write_case(
        "scan_reverse_input_axis1_output_axis1",
        "Scan",
        [("init", f32(2)), ("xs", f32(2, 3))],
        2,
        dict(
            body=body,
            num_scan_inputs=1,
            scan_input_axes=[1],
            scan_input_directions=[1],
            scan_output_axes=[1],
        ),
        16,
        ref=False,  # the reference implements forward directions only
    )


if __name__ == "__main__":
    main()
