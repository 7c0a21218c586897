#!/usr/bin/env python3
"""Writes the small single-op models and the onnx.shape_inference expectations that
crates/lnopt-infer/tests/onnx_expect.rs checks lnopt's shape rules against.

Each case is one node whose data inputs are graph inputs of fixed shape (a few constant
initializers) and whose outputs are untyped, so only inference can type them. Recorded per
graph output: onnx.shape_inference.infer_shapes(strict_mode=True, data_prop=True)'s dtype
code and dims (an int, or null where onnx knows no number), and "runtime": the dims ONNX
Runtime and onnx's reference implementation both produce on one run (null when the case does
not run in both or they differ).

The Rust test requires lnopt's dtype and rank to equal onnx's, every number lnopt states to
equal the runtime's (when recorded), and lnopt to know every number onnx knows, except where
the runtimes contradict onnx (then the runtime's number is required). Where neither knows a
number, lnopt may not state one unless the case lists it in "lnopt_more" (a fact from the
operator specification that onnx leaves open).

Usage: python3 scripts/infer_check/gen_expect.py   (rewrites tests/data/onnx_cases/)
"""
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper, numpy_helper, shape_inference

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "crates" / "lnopt-infer" / "tests" / "data" / "onnx_cases"
F, I64, U8, I8, F16 = TP.FLOAT, TP.INT64, TP.UINT8, TP.INT8, TP.FLOAT16
CASES = {}


def case(name, opset, nodes, inputs, outputs, inits=(), note="", lnopt_more=None):
    """inputs: [(name, dtype, shape)]; outputs: names; inits: [(name, array)]."""
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
        initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="lnopt-infer-expect")
    m.ir_version = 8 if opset < 19 else 10
    CASES[name] = (m, note, lnopt_more or {})


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def pools():
    x = [("x", F, [1, 3, 7, 7])]
    case("maxpool_floor", 12, [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3],
                                    strides=[2, 2])], x, ["y"])
    # Near miss: with ceil_mode the 7 -> 4 windows are kept only while the last one starts
    # inside the (left-padded) input; pads 1 make ceil((7+2-3)/2)+1 = 4 and 3*2 = 6 < 8 keeps it.
    case("maxpool_ceil_pads", 12, [node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 3],
                                        strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)],
         x, ["y", "i"])
    # Near miss: ceil_mode where the last window would start inside the right padding: it is
    # dropped (6, k 2, s 2, pads 0+1: ceil(5/2)+1 = 4 windows, the 4th starts at 6 -> 3).
    # ONNX Runtime and onnx's reference implementation give 3; onnx 1.23's shape inference
    # says 4 (it lacks that check), so this case's expectation comes from the runtimes.
    case("maxpool_ceil_drops_last", 12, [node("MaxPool", ["x"], ["y"], kernel_shape=[2],
                                              strides=[2], pads=[0, 1], ceil_mode=1)],
         [("x", F, [1, 2, 6])], ["y"])
    case("avgpool_ceil_drops_last", 19, [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3],
                                              strides=[3, 3], pads=[1, 1, 1, 1], ceil_mode=1)],
         [("x", F, [1, 2, 8, 8])], ["y"])
    case("maxpool_dilated", 12, [node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2],
                                      dilations=[2, 2])], x, ["y"])
    case("maxpool_same_upper", 12, [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3],
                                         strides=[2, 2], auto_pad="SAME_UPPER")], x, ["y"])
    case("avgpool_valid", 19, [node("AveragePool", ["x"], ["y"], kernel_shape=[2, 3],
                                    auto_pad="VALID")], x, ["y"])
    case("avgpool_ceil", 19, [node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2],
                                   strides=[2, 2], ceil_mode=1)], x, ["y"])
    case("lppool_pads", 18, [node("LpPool", ["x"], ["y"], kernel_shape=[3, 3],
                                  pads=[1, 0, 1, 0])], x, ["y"])
    case("global_average_pool", 13, [node("GlobalAveragePool", ["x"], ["y"])], x, ["y"])
    case("global_max_pool_3d", 13, [node("GlobalMaxPool", ["x"], ["y"])],
         [("x", F, [2, 4, 3, 5, 6])], ["y"])
    case("maxpool_symbolic_same", 12, [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3],
                                            pads=[1, 1, 1, 1])],
         [("x", F, ["N", 3, "H", "W"])], ["y"], note="stride 1, pads k-1: size kept",
         lnopt_more={"y": ["N", 3, "H", "W"]})


def convs():
    case("conv_strided_padded", 11, [node("Conv", ["x", "w"], ["y"], strides=[2, 2],
                                          pads=[1, 2, 1, 2], dilations=[1, 2])],
         [("x", F, [2, 3, 9, 10]), ("w", F, [5, 3, 3, 3])], ["y"])
    case("conv_group_same_lower", 11, [node("Conv", ["x", "w"], ["y"], group=3,
                                            auto_pad="SAME_LOWER", strides=[3])],
         [("x", F, [1, 6, 10]), ("w", F, [6, 2, 4])], ["y"])
    case("conv_transpose_pads_output_padding", 11,
         [node("ConvTranspose", ["x", "w"], ["y"], strides=[3, 2], pads=[1, 0, 1, 0],
               output_padding=[1, 1], group=2)],
         [("x", F, [1, 4, 5, 6]), ("w", F, [4, 3, 3, 3])], ["y"])
    case("conv_transpose_output_shape", 11,
         [node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[11, 13])],
         [("x", F, [1, 2, 5, 6]), ("w", F, [2, 3, 3, 3])], ["y"])
    case("conv_integer", 10, [node("ConvInteger", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
         [("x", U8, [1, 2, 5, 5]), ("w", U8, [4, 2, 3, 3])], ["y"])
    case("qlinear_conv", 10,
         [node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
               strides=[2, 2])],
         [("x", U8, [1, 2, 7, 7]), ("xs", F, []), ("xz", U8, []), ("w", I8, [3, 2, 3, 3]),
          ("ws", F, []), ("wz", I8, []), ("ys", F, []), ("yz", I8, [])], ["y"])
    case("deform_conv", 19, [node("DeformConv", ["x", "w", "off"], ["y"], pads=[1, 1, 1, 1])],
         [("x", F, [1, 2, 6, 6]), ("w", F, [4, 2, 3, 3]), ("off", F, [1, 18, 6, 6])], ["y"])
    case("max_unpool", 11, [node("MaxUnpool", ["x", "i"], ["y"], kernel_shape=[2, 2],
                                 strides=[2, 2])],
         [("x", F, [1, 3, 4, 5]), ("i", I64, [1, 3, 4, 5])], ["y"])
    case("roi_align", 16, [node("RoiAlign", ["x", "r", "b"], ["y"], output_height=3,
                                output_width=4)],
         [("x", F, [2, 5, 8, 8]), ("r", F, [7, 4]), ("b", I64, [7])], ["y"])


def index_ops():
    case("scatter_nd", 18, [node("ScatterND", ["d", "i", "u"], ["y"], reduction="add")],
         [("d", F, [4, 5, 6]), ("i", I64, [2, 1]), ("u", F, [2, 5, 6])], ["y"])
    case("scatter_elements", 18, [node("ScatterElements", ["d", "i", "u"], ["y"], axis=1)],
         [("d", F16, [3, 4]), ("i", I64, [3, 2]), ("u", F16, [3, 2])], ["y"])
    case("gather_nd_batch", 13, [node("GatherND", ["d", "i"], ["y"], batch_dims=1)],
         [("d", F, [2, 3, 4, 5]), ("i", I64, [2, 6, 2])], ["y"])
    case("gather_elements", 13, [node("GatherElements", ["d", "i"], ["y"], axis=0)],
         [("d", F, [3, 4]), ("i", I64, [5, 4])], ["y"])
    case("one_hot_const_depth", 11, [node("OneHot", ["i", "depth", "v"], ["y"], axis=1)],
         [("i", I64, [2, 3])], ["y"],
         inits=[("depth", np.array(10, np.int64)), ("v", np.array([0, 1], np.float16))])
    case("one_hot_float_depth", 11, [node("OneHot", ["i", "depth", "v"], ["y"])],
         [("i", I64, [4])], ["y"],
         inits=[("depth", np.array([7.0], np.float32)), ("v", np.array([0, 1], np.int32))])
    case("one_hot_runtime_depth", 11, [node("OneHot", ["i", "depth", "v"], ["y"])],
         [("i", I64, [4]), ("depth", I64, [])], ["y"],
         inits=[("v", np.array([0, 1], np.float32))])
    case("top_k_const_k", 11, [node("TopK", ["x", "k"], ["v", "i"], axis=1)],
         [("x", F, [3, 8, 2])], ["v", "i"], inits=[("k", np.array([5], np.int64))])
    case("top_k_opset1_attr", 1, [node("TopK", ["x"], ["v", "i"], k=2)],
         [("x", F, [3, 4])], ["v", "i"])
    case("non_zero", 13, [node("NonZero", ["x"], ["y"])], [("x", F, [2, 3, 4])], ["y"])
    case("compress_axis", 11, [node("Compress", ["x", "c"], ["y"], axis=1)],
         [("x", F, [2, 5]), ("c", TP.BOOL, [5])], ["y"])
    case("unique_axis", 11, [node("Unique", ["x"], ["y", "idx", "inv", "cnt"], axis=0)],
         [("x", F, [6, 2])], ["y", "idx", "inv", "cnt"],
         note="inverse_indices has X.shape[axis] elements", lnopt_more={"inv": [6]})
    case("non_max_suppression", 11, [node("NonMaxSuppression", ["b", "s"], ["y"])],
         [("b", F, [1, 6, 4]), ("s", F, [1, 1, 6])], ["y"])


def misc():
    case("lstm_bidirectional", 14,
         [node("LSTM", ["x", "w", "r"], ["y", "yh", "yc"], hidden_size=5,
               direction="bidirectional")],
         [("x", F, [7, 2, 3]), ("w", F, [2, 20, 3]), ("r", F, [2, 20, 5])],
         ["y", "yh", "yc"])
    case("gru_layout1", 14, [node("GRU", ["x", "w", "r"], ["y", "yh"], hidden_size=4,
                                  layout=1)],
         [("x", F, [2, 7, 3]), ("w", F, [1, 12, 3]), ("r", F, [1, 12, 4])], ["y", "yh"])
    case("resize_scales", 13, [node("Resize", ["x", "", "s"], ["y"], mode="nearest")],
         [("x", F, [1, 2, 5, 7])], ["y"],
         inits=[("s", np.array([1, 1, 2.5, 0.6], np.float32))])
    case("resize_sizes_axes", 18, [node("Resize", ["x", "", "", "sz"], ["y"], axes=[3, 2])],
         [("x", F, [1, 2, 5, 7])], ["y"], inits=[("sz", np.array([9, 4], np.int64))])
    case("depth_to_space", 13, [node("DepthToSpace", ["x"], ["y"], blocksize=2)],
         [("x", F, [1, 8, 3, 4])], ["y"])
    case("space_to_depth", 13, [node("SpaceToDepth", ["x"], ["y"], blocksize=2)],
         [("x", F, [1, 2, 6, 4])], ["y"])
    case("quantize_linear_int8", 13, [node("QuantizeLinear", ["x", "s", "z"], ["y"])],
         [("x", F, [3, 4]), ("s", F, []), ("z", I8, [])], ["y"])
    case("quantize_linear_default_u8", 13, [node("QuantizeLinear", ["x", "s"], ["y"])],
         [("x", F, [3, 4]), ("s", F, [])], ["y"])
    case("dequantize_linear_f16", 21, [node("DequantizeLinear", ["x", "s"], ["y"])],
         [("x", I8, [3, 4]), ("s", F16, [])], ["y"])
    case("einsum_ellipsis", 12, [node("Einsum", ["a", "b"], ["y"],
                                      equation="...ij,...jk->...ik")],
         [("a", F, [5, 2, 3]), ("b", F, [1, 3, 4])], ["y"])
    case("einsum_implicit", 12, [node("Einsum", ["a", "b"], ["y"], equation="ij,jk")],
         [("a", F, [2, 3]), ("b", F, [3, 4])], ["y"])
    case("cast_to_float8", 19, [node("Cast", ["x"], ["y"], to=TP.FLOAT8E4M3FN)],
         [("x", F, [2, 3])], ["y"])
    case("batch_norm_training", 15,
         [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"],
               training_mode=1)],
         [("x", F, [2, 3, 4]), ("s", F, [3]), ("b", F, [3]), ("m", F, [3]), ("v", F, [3])],
         ["y", "rm", "rv"])
    case("dft_onesided", 20, [node("DFT", ["x", "", "ax"], ["y"], onesided=1)],
         [("x", F, [1, 10, 1])], ["y"], inits=[("ax", np.array(1, np.int64))])
    body = helper.make_graph(
        [node("Add", ["s_in", "x_t"], ["s_out"]), node("Identity", ["s_out"], ["y_t"])],
        "body",
        [helper.make_tensor_value_info("s_in", F, [2]),
         helper.make_tensor_value_info("x_t", F, [2])],
        [helper.make_tensor_value_info("s_out", F, [2]),
         helper.make_tensor_value_info("y_t", F, [2])])
    case("scan_sum_output_axis1", 16,
         [node("Scan", ["s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1,
               scan_output_axes=[1])],
         [("s0", F, [2]), ("x", F, [5, 2])], ["s", "ys"])
    case("softmax_cross_entropy_none", 13,
         [node("SoftmaxCrossEntropyLoss", ["s", "l"], ["y", "lp"], reduction="none")],
         [("s", F, [3, 5, 2]), ("l", I64, [3, 2])], ["y", "lp"])


def feeds_for(m):
    """Inputs for a run: normal floats, zero integers (valid indices), true bools."""
    rng = np.random.default_rng(0)
    out = {}
    for i in m.graph.input:
        tt = i.type.tensor_type
        shape = [d.dim_value for d in tt.shape.dim]
        np_type = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if np_type.kind == "f":
            out[i.name] = rng.standard_normal(shape).astype(np_type)
        elif np_type.kind == "b":
            out[i.name] = np.ones(shape, np.bool_)
        else:
            out[i.name] = np.zeros(shape, np_type) + (1 if i.name in ("depth",) else 0)
    return out


def runtime_dims(m):
    """Output dims observed by ONNX Runtime and by onnx's reference implementation when both
    run the model and agree; None otherwise."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator
    if any(d.HasField("dim_param") for i in m.graph.input for d in i.type.tensor_type.shape.dim):
        return None
    feeds = feeds_for(m)
    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.log_severity_level = 3
        a = ort.InferenceSession(m.SerializeToString(), so,
                                 providers=["CPUExecutionProvider"]).run(None, feeds)
        b = ReferenceEvaluator(m).run(None, feeds)
    except Exception:  # noqa: BLE001 - a case either runs in both or is not compared
        return None
    if [np.shape(x) for x in a] != [np.shape(x) for x in b]:
        return None
    return {o.name: list(np.shape(x)) for o, x in zip(m.graph.output, a)}


def main():
    pools()
    convs()
    index_ops()
    misc()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    expect = {}
    for name, (m, note, more) in CASES.items():
        inf = shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
        ran = runtime_dims(m)
        outs = {}
        for o in inf.graph.output:
            tt = o.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim] \
                if tt.HasField("shape") else None
            outs[o.name] = {"dtype": tt.elem_type, "dims": dims,
                            "runtime": ran.get(o.name) if ran else None}
        onnx.save(m, OUT / f"{name}.onnx")
        expect[name] = {"opset": m.opset_import[0].version, "outputs": outs, "note": note,
                        "lnopt_more": more}
    (OUT / "expect.json").write_text(json.dumps(expect, indent=1, sort_keys=True) + "\n")
    print(f"{len(CASES)} cases written to {OUT}")


if __name__ == "__main__":
    main()
