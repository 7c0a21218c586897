"""Tests of the lnopt Python package against onnx and ONNX Runtime.

Run after `pip install .` (see scripts/python_package.sh): `pytest python/tests`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import lnopt

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = ROOT / "fixtures" / "fusion" / "ln_pytorch_canonical"
MODEL = CANONICAL / "model.onnx"
BAD = ROOT / "fixtures" / "bad" / "graph_cycle" / "model.onnx"


def _tensor(path: Path) -> np.ndarray:
    return numpy_helper.to_array(onnx.load_tensor(str(path)))


INPUT = _tensor(CANONICAL / "test_data_set_0" / "input_0.pb")
EXPECTED = _tensor(CANONICAL / "test_data_set_0" / "output_0.pb")


def _ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: x})[0]


def _op_types(model: onnx.ModelProto) -> list:
    return [n.op_type for n in model.graph.node]


@pytest.mark.parametrize("form", ["proto", "bytes", "str", "pathlike"])
def test_optimize_fuses_and_ort_matches_reference(form):
    source = {
        "proto": lambda: onnx.load(str(MODEL)),
        "bytes": lambda: MODEL.read_bytes(),
        "str": lambda: str(MODEL),
        "pathlike": lambda: MODEL,
    }[form]()
    fused = lnopt.optimize(source)
    assert isinstance(fused, onnx.ModelProto)
    assert "LayerNormalization" in _op_types(fused)
    assert "ReduceMean" not in _op_types(fused)
    onnx.checker.check_model(fused)
    np.testing.assert_allclose(_ort_run(fused, INPUT), EXPECTED, rtol=1e-4, atol=1e-5)


def test_optimize_without_fuse_keeps_the_decomposition():
    model = lnopt.optimize(onnx.load(str(MODEL)), fuse=False)
    assert "LayerNormalization" not in _op_types(model)
    assert "ReduceMean" in _op_types(model)


def test_bad_option_values_are_refused():
    with pytest.raises(ValueError, match="target"):
        lnopt.optimize(MODEL.read_bytes(), target="tensorrt")
    with pytest.raises(TypeError):
        lnopt.optimize(42)


def test_optimize_file_report(tmp_path):
    out = tmp_path / "fused.onnx"
    report = lnopt.optimize_file(MODEL, out)
    fused = onnx.load(str(out))
    ln_nodes = [n.name for n in fused.graph.node if n.op_type == "LayerNormalization"]
    assert len(report.sites) == 1
    site = report.sites[0]
    assert site.kind == "LayerNormalization"
    assert site.fused is True
    assert site.reason is None
    assert [site.fused_node] == ln_nodes
    assert report.opset_after >= 17 and report.opset_after >= report.opset_before
    doc = json.loads(report.to_json())
    assert doc["sites_found"] == 1
    assert doc["fused"]["LayerNormalization"] == 1
    assert doc["sites"][0]["anchor"] == site.anchor
    assert doc["opset_after"] == report.opset_after
    assert "LayerNormalization" in report.summary()
    np.testing.assert_allclose(_ort_run(fused, INPUT), EXPECTED, rtol=1e-4, atol=1e-5)


def test_optimize_file_refuses_overwriting_its_input_without_force(tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(MODEL.read_bytes())
    with pytest.raises(lnopt.LnoptError):
        lnopt.optimize_file(src, src)
    lnopt.optimize_file(src, src, force=True)
    assert "LayerNormalization" in _op_types(onnx.load(str(src)))


@pytest.mark.parametrize("form", ["original", "fused"])
def test_jit_matches_ort(form):
    model = onnx.load(str(MODEL))
    if form == "fused":
        model = lnopt.optimize(model)
    want = _ort_run(model, INPUT)
    compiled = lnopt.compile(model)
    (name,) = compiled.input_names
    by_name = compiled.run({name: INPUT})
    assert list(by_name) == compiled.output_names
    got = by_name[compiled.output_names[0]]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    by_order = compiled.run([INPUT])
    np.testing.assert_array_equal(by_order[compiled.output_names[0]], got)


def test_jit_with_declared_shapes_and_a_path():
    compiled = lnopt.compile(MODEL, input_shapes=[list(INPUT.shape)])
    got = compiled.run([INPUT])[compiled.output_names[0]]
    np.testing.assert_allclose(got, EXPECTED, rtol=1e-4, atol=1e-5)


def test_jit_rejects_a_wrong_number_of_inputs():
    compiled = lnopt.compile(MODEL)
    with pytest.raises(lnopt.LnoptError, match="inputs"):
        compiled.run([INPUT, INPUT])


def test_bad_model_raises_naming_the_node():
    assert issubclass(lnopt.LnoptError, ValueError)
    for call in (
        lambda: lnopt.optimize(BAD),
        lambda: lnopt.optimize(BAD.read_bytes()),
        lambda: lnopt.compile(BAD),
        lambda: lnopt.optimize_file(BAD, BAD.with_name("never_written.onnx")),
    ):
        with pytest.raises(lnopt.LnoptError, match="cycle_add"):
            call()
    assert not BAD.with_name("never_written.onnx").exists()


def test_garbage_bytes_raise():
    with pytest.raises(lnopt.LnoptError):
        lnopt.optimize(b"\xff\xff not an onnx model")


def _script() -> str:
    exe = Path(sys.executable).parent / ("lnopt.exe" if os.name == "nt" else "lnopt")
    assert exe.is_file(), f"console script not installed at {exe}"
    return str(exe)


def test_console_script_optimizes(tmp_path):
    out = tmp_path / "fused.onnx"
    done = subprocess.run(
        [_script(), str(MODEL), "-o", str(out), "--report", "json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["fused"]["LayerNormalization"] == 1
    assert "LayerNormalization" in _op_types(onnx.load(str(out)))


def test_console_script_errors_and_help():
    bad = subprocess.run([_script(), str(BAD), "-o", os.devnull], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "cycle_add" in bad.stderr
    usage = subprocess.run([_script(), "--no-such-flag"], capture_output=True, text=True)
    assert usage.returncode == 2
    helped = subprocess.run([_script(), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "lnopt" in helped.stdout


def _externalised(tmp_path: Path) -> Path:
    """The canonical model with every initializer in model.onnx.data beside it."""
    model = onnx.load(str(MODEL))
    path = tmp_path / "model.onnx"
    onnx.save(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    assert any(
        t.data_location == onnx.TensorProto.EXTERNAL
        for t in onnx.load(str(path), load_external_data=False).graph.initializer
    )
    return path


def test_optimize_path_with_external_data_returns_inline_tensors(tmp_path):
    fused = lnopt.optimize(_externalised(tmp_path))
    assert "LayerNormalization" in _op_types(fused)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in fused.graph.initializer)
    np.testing.assert_allclose(_ort_run(fused, INPUT), EXPECTED, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["copy", "keep"])
def test_optimize_file_external_data_modes(tmp_path, mode):
    src = _externalised(tmp_path)
    out = tmp_path / "fused.onnx"
    lnopt.optimize_file(src, out, external_data=mode)
    assert (tmp_path / "fused.onnx.data").exists() == (mode == "copy")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: INPUT})[0]
    np.testing.assert_allclose(got, EXPECTED, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="external_data"):
        lnopt.optimize_file(src, out, external_data="move")
