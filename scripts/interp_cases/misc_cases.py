#!/usr/bin/env python3
"""Writes crates/lnopt-interp/tests/data/misc/: one-node models for the indexing, bitwise,
quantization, string and u64 cases the ONNX node tests do not cover, each with its inputs and
the outputs of an independent implementation (onnx's reference evaluator; ONNX Runtime for
Unique with sorted=0 and an axis, where the reference takes slices along axis 0; not for NaN,
which ORT's Unique mis-groups), or a file REFUSED when lnopt must
refuse the case. Run: python3 scripts/interp_cases/misc_cases.py
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "lnopt-interp", "tests",
    "data", "misc",
)
NP2TP = {
    np.dtype(np.float32): TP.FLOAT, np.dtype(np.float64): TP.DOUBLE,
    np.dtype(np.int64): TP.INT64, np.dtype(np.int32): TP.INT32, np.dtype(np.int8): TP.INT8,
    np.dtype(np.uint8): TP.UINT8, np.dtype(np.uint64): TP.UINT64, np.dtype(np.bool_): TP.BOOL,
    np.dtype(object): TP.STRING,
}


def tensor(name, a):
    if a.dtype == object:
        return helper.make_tensor(name, TP.STRING, a.shape, [s.encode() for s in a.ravel()])
    return numpy_helper.from_array(a, name)


def case(name, op, inputs, n_out=1, opset=21, oracle="reference", refused=False,
         out_types=None, **attrs):
    """inputs: list of numpy arrays (None = omitted optional input)."""
    in_names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    outs = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, in_names, outs, **attrs)
    g_in = [
        helper.make_tensor_value_info(n, NP2TP[a.dtype], a.shape)
        for n, a in zip(in_names, inputs) if a is not None
    ]
    out_types = out_types or [TP.UNDEFINED] * n_out
    g_out = [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)]
    graph = helper.make_graph([node], name, g_in, g_out)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    d = os.path.join(OUT, name)
    os.makedirs(d)
    onnx.save(model, os.path.join(d, "model.onnx"))
    present = [a for a in inputs if a is not None]
    for i, a in enumerate(present):
        with open(os.path.join(d, f"input_{i}.pb"), "wb") as f:
            f.write(tensor(f"x{i}", a).SerializeToString())
    if refused:
        open(os.path.join(d, "REFUSED"), "w").close()
        return
    feeds = {n: a for n, a in zip([n for n in in_names if n], present)}
    if oracle in ("ort", "both"):
        import onnxruntime as ort

        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)
    if oracle in ("reference", "both"):
        ref = ReferenceEvaluator(model).run(None, feeds)
        if oracle == "both":
            # Both implementations must agree bit for bit, or the case is not written.
            for a, b in zip(got, ref):
                assert np.asarray(a).shape == np.asarray(b).shape, (name, a, b)
                assert np.array_equal(np.asarray(a), np.asarray(b)), (name, a, b)
        got = ref
    for k, a in enumerate(got):
        a = np.asarray(a)
        if a.dtype.kind == "U":
            a = a.astype(object)
        with open(os.path.join(d, f"output_{k}.pb"), "wb") as f:
            f.write(tensor(f"y{k}", a).SerializeToString())


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    u = np.uint64
    hi = np.array([2**63 + 5, 2**64 - 1, 7], u)
    case("bitshift_right_u64_high", "BitShift", [hi, np.array([1, 63, 1], u)], direction="RIGHT")
    case("bitshift_left_u8_wide", "BitShift",
         [np.array([255, 1, 3], np.uint8), np.array([1, 7, 8], np.uint8)], direction="LEFT")
    case("bitwise_not_u64_high", "BitwiseNot", [hi])
    case("less_u64_high", "Less", [np.array([2**63, 1, 2**64 - 1], u), np.array([1, 2**63, 2**63], u)])
    case("max_u64_high", "Max", [np.array([2**63, 1], u), np.array([1, 2**63 + 1], u)])
    case("topk_u64_high", "TopK", [np.array([1, 2**63 + 1, 2**63, 5], u), np.array([2], np.int64)], n_out=2)
    case("cast_u64_high_to_f64", "Cast", [np.array([2**64 - 1, 2**63, 3], u)], to=TP.DOUBLE)
    case("div_u64_high_refused", "Div", [np.array([2**63 + 4], u), np.array([2], u)], refused=True)
    case("topk_largest_ties_nan", "TopK",
         [np.array([1, np.nan, 3, 3, 1], np.float32), np.array([3], np.int64)], n_out=2)
    case("topk_smallest_ties", "TopK",
         [np.array([[2, 1, 1, 2], [0, 0, 0, 0]], np.float32), np.array([3], np.int64)], n_out=2,
         largest=0)
    case("gathernd_batch2_negative", "GatherND",
         [np.arange(12, dtype=np.float32).reshape(2, 2, 3), np.array([[[-1], [0]], [[2], [-3]]], np.int64)],
         batch_dims=2)
    case("scatternd_add_duplicates", "ScatterND",
         [np.arange(4, dtype=np.float32), np.array([[1], [1], [-1]], np.int64),
          np.array([10, 20, 30], np.float32)], reduction="add")
    case("scatternd_none_duplicates_refused", "ScatterND",
         [np.arange(4, dtype=np.float32), np.array([[1], [1]], np.int64),
          np.array([10, 20], np.float32)], refused=True)
    case("scatterelements_min_axis1_negative", "ScatterElements",
         [np.arange(6, dtype=np.int64).reshape(2, 3), np.array([[-1, 0], [1, 1]], np.int64),
          np.array([[-5, 9], [-7, 2]], np.int64)], axis=1, reduction="min")
    case("unique_unsorted_axis1", "Unique",
         [np.array([[3, 1, 3, 2], [0, 5, 0, 5]], np.int64)], n_out=4, sorted=0, axis=1,
         oracle="ort", opset=11, out_types=[TP.INT64] * 4)
    case("unique_sorted_flat_nan", "Unique",
         [np.array([2, np.nan, 1, np.nan, 2], np.float32)], n_out=4, opset=11)
    case("onehot_negative_and_out_of_range", "OneHot",
         [np.array([-1, 3, 5, -5], np.int64), np.array(4.0, np.float32), np.array([2, 7], np.int32)],
         axis=0)
    case("compress_flat_short_condition", "Compress",
         [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([False, True, True], np.bool_)])
    case("reverse_sequence_batch0", "ReverseSequence",
         [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([4, 0, 2], np.int64)],
         batch_axis=0, time_axis=1)
    case("quantize_blocked_int4_remainder", "QuantizeLinear",
         [np.array([[1, -2, 3.5], [-9, 20, 0.25]], np.float32),
          np.array([[1, 0.5], [2, 4]], np.float32), np.array([[0, 1], [-1, 0]], np.int8)],
         axis=1, block_size=2)
    case("dequantize_per_axis_int8", "DequantizeLinear",
         [np.array([[-128, 0, 127], [5, -5, 1]], np.int8), np.array([0.5, 2, 0.25], np.float32),
          np.array([1, -2, 0], np.int8)], axis=1)
    case("string_split_whitespace_maxsplit", "StringSplit",
         [np.array(["  a  b c  ", "x", ""], object)], n_out=2, maxsplit=1)
    case("string_split_delimiter_edges", "StringSplit",
         [np.array([",a,,b,", "abc"], object)], n_out=2, delimiter=",")
    case("regex_non_ascii_refused", "RegexFullMatch", [np.array(["é"], object)],
         pattern=".", refused=True)
    case("cast_string_to_f16_refused", "Cast", [np.array(["1.5"], object)], to=TP.FLOAT16,
         refused=True)
    case("cast_string_to_f32", "Cast", [np.array(["1.5", "-INF", "1e-3", "nan"], object)],
         to=TP.FLOAT)
    case("add_strings_refused", "Add", [np.array(["a"], object), np.array(["b"], object)],
         refused=True)
    big = 2**53
    case("argmax_i64_above_2p53", "ArgMax",
         [np.array([[big, big + 1, big + 1], [big + 3, big + 2, big + 3]], np.int64)], axis=1,
         select_last_index=0)
    case("argmin_i64_above_2p53_last", "ArgMin",
         [np.array([[big + 1, big, big], [big + 3, big + 2, big + 3]], np.int64)], axis=1,
         select_last_index=1)
    case("argmax_nan_refused", "ArgMax", [np.array([1, np.nan], np.float32)], refused=True)
    case("clip_i64_above_2p53", "Clip",
         [np.array([big + 1, big + 5, -3], np.int64), np.array(big + 2, np.int64),
          np.array(big + 4, np.int64)])
    tfidf_cases()
    image_cases()
    print(f"wrote {len(os.listdir(OUT))} cases to {OUT}")


def tfidf_cases():
    """TfIdfVectorizer beyond the node tests (which are TF over int pools only): IDF and TFIDF
    with and without weights, string pools, trigrams, skips, a permuted ngram_indexes, empty
    rows. Outputs from onnx's reference and ONNX Runtime where
    they agree ("both"). Where they disagree, lnopt follows the spec: weights scale the i-th
    pool n-gram (ONNX Runtime; the reference indexes them by output coordinate), so permuted
    cases take ORT's outputs, with weights whose sums are exact in f32; TFIDF is one rounded
    multiplication (the reference; ORT adds the weight per occurrence), so that case takes
    the reference's. Attributes those implementations would read out of range with, or
    whose meaning is ambiguous, are refused."""
    i64, i32 = np.int64, np.int32
    f32 = [TP.FLOAT]
    # Pool: unigrams 2 3 5 | bigrams (5 4) (5 6) (7 8) | trigrams (6 7 8) (5 5 5).
    pool = [2, 3, 5, 5, 4, 5, 6, 7, 8, 6, 7, 8, 5, 5, 5]
    counts = [0, 3, 9]
    perm = [3, 0, 7, 1, 5, 2, 6, 4]
    ident = list(range(8))
    weights = [0.5, 1.25, 2.0, 0.25, 3.0, 0.75, 1.5, 0.375]
    x = np.array([[2, 5, 4, 6, 7, 8, 5, 5, 5], [5, 6, 5, 4, 5, 3, 7, 1, 8]], i64)
    grams = dict(min_gram_length=1, max_gram_length=3, max_skip_count=2,
                 ngram_counts=counts, ngram_indexes=perm, pool_int64s=pool)
    ordered = dict(grams, ngram_indexes=ident)

    def tfidf(name, xs, oracle="both", **attrs):
        case(name, "TfIdfVectorizer", [xs], oracle=oracle, out_types=f32, **attrs)

    tfidf("tfidf_idf_weights_permuted", x, oracle="ort", mode="IDF", weights=weights, **grams)
    tfidf("tfidf_tfidf_weights_permuted", x, oracle="ort", mode="TFIDF", weights=weights,
          **grams)
    tfidf("tfidf_idf_weights", x, mode="IDF", weights=weights, **ordered)
    tfidf("tfidf_tfidf_weights", x, mode="TFIDF", weights=weights, **ordered)
    tfidf("tfidf_tfidf_rounds_once", np.array([5] * 7, i64), oracle="reference", mode="TFIDF",
          weights=[0.1, 0.2, 0.3], min_gram_length=1, max_gram_length=1, max_skip_count=0,
          ngram_counts=[0], ngram_indexes=[0, 1, 2], pool_int64s=[2, 3, 5])
    # The reference fails on IDF / TFIDF without weights (it takes len() of None).
    tfidf("tfidf_idf_no_weights", x, oracle="ort", mode="IDF", **grams)
    tfidf("tfidf_tfidf_no_weights_int32", x.astype(i32), oracle="ort", mode="TFIDF", **grams)
    tfidf("tfidf_tf_trigrams_only_skip1", x[1].copy(), mode="TF",
          **dict(grams, min_gram_length=3, max_skip_count=1))
    tfidf("tfidf_tf_bigrams_up_to_skip3", x, mode="TF",
          **dict(grams, min_gram_length=2, max_gram_length=2, max_skip_count=3))
    tfidf("tfidf_tf_colliding_indexes", x, mode="TF",
          **dict(grams, ngram_indexes=[0, 1, 0, 2, 1, 3, 3, 2]))
    # ORT refuses a repeated pool n-gram, the reference counts it under its last position.
    tfidf("tfidf_repeated_unigram_refused", np.array([7, 9, 7, 7], i64), mode="TF",
          refused=True, min_gram_length=1, max_gram_length=1, max_skip_count=0,
          ngram_counts=[0], ngram_indexes=[0, 1, 2], pool_int64s=[7, 9, 7])
    tfidf("tfidf_tf_empty_rows", np.zeros((2, 0), i64), mode="TF", **grams)
    words = np.array([["the", "cat", "sat", "on", "the", "mat"],
                      ["a", "cat", "on", "a", "mat", "the"]], object)
    sgrams = dict(min_gram_length=1, max_gram_length=2, max_skip_count=1, ngram_counts=[0, 3],
                  ngram_indexes=[4, 3, 2, 1, 0], pool_strings=["the", "cat", "mat", "cat", "on",
                                                             "on", "the"])
    tfidf("tfidf_tfidf_strings_weights_permuted", words, oracle="ort", mode="TFIDF",
          weights=[1.0, 0.5, 2.5, 4.0, 0.125], **sgrams)
    tfidf("tfidf_tf_strings_1d", words[0].copy(), mode="TF", **sgrams)
    tfidf("tfidf_short_weights_refused", x, mode="IDF", weights=[1.0, 2.0], refused=True,
          **grams)
    tfidf("tfidf_idf_colliding_indexes_refused", x, mode="IDF", refused=True,
          **dict(grams, ngram_indexes=[0, 1, 0, 2, 1, 3, 3, 2]))
    tfidf("tfidf_pool_kind_mismatch_refused", words, mode="TF", refused=True, **grams)
    tfidf("tfidf_rank3_refused", x.reshape(1, 2, 9), mode="TF", refused=True, **grams)
    tfidf("tfidf_unknown_mode_refused", x, mode="BM25", refused=True, **grams)
    tfidf("tfidf_ragged_pool_refused", x, mode="TF", refused=True,
          **dict(grams, ngram_counts=[0, 4, 9]))


def image_cases():
    """ImageDecoder beyond the node tests (RGB from one 32x32 image per format): BGR and
    Grayscale, odd sizes, and the refusals (JPEG, JPEG-compressed TIFF, alpha, RGB to Grayscale, 16-bit, unknown or
    truncated data). Images are made with Pillow, outputs from onnx's reference (Pillow)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(5)

    def encoded(mode, size, fmt, **save):
        channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
        px = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        img = Image.fromarray(px[:, :, 0] if channels == 1 else px, mode)
        buf = io.BytesIO()
        img.save(buf, format=fmt, **save)
        return np.frombuffer(buf.getvalue(), np.uint8).copy()

    def decoder(name, data, refused=False, **attrs):
        case(name, "ImageDecoder", [data], opset=20, refused=refused, out_types=[TP.UINT8],
             **attrs)

    decoder("image_png_rgb_to_bgr", encoded("RGB", (5, 3), "PNG"), pixel_format="BGR")
    decoder("image_bmp_rgb_odd_width", encoded("RGB", (7, 2), "BMP"), pixel_format="RGB")
    decoder("image_tiff_rgb_deflate", encoded("RGB", (4, 6), "TIFF", compression="tiff_adobe_deflate"),
            pixel_format="RGB")
    decoder("image_webp_lossless_rgb", encoded("RGB", (6, 5), "WEBP", lossless=True),
            pixel_format="RGB")
    decoder("image_png_gray_to_grayscale", encoded("L", (6, 4), "PNG"),
            pixel_format="Grayscale")
    decoder("image_pgm_gray_to_grayscale", encoded("L", (3, 5), "PPM"),
            pixel_format="Grayscale")
    decoder("image_jpeg_refused", encoded("RGB", (8, 8), "JPEG"), refused=True,
            pixel_format="RGB")
    decoder("image_tiff_jpeg_compressed_refused",
            encoded("RGB", (8, 8), "TIFF", compression="jpeg"), refused=True, pixel_format="RGB")
    decoder("image_png_rgba_refused", encoded("RGBA", (4, 4), "PNG"), refused=True,
            pixel_format="RGB")
    decoder("image_png_rgb_to_grayscale_refused", encoded("RGB", (4, 4), "PNG"),
            refused=True, pixel_format="Grayscale")
    decoder("image_png_truncated_refused", encoded("RGB", (16, 16), "PNG")[:60], refused=True,
            pixel_format="RGB")
    decoder("image_unknown_format_refused", np.arange(40, dtype=np.uint8), refused=True,
            pixel_format="RGB")


if __name__ == "__main__":
    main()
