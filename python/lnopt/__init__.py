"""lnopt: fuse decomposed LayerNorm / RMSNorm in ONNX models, and run models with lnopt's JIT.

    import lnopt, onnx
    fused = lnopt.optimize(onnx.load("model.onnx"))           # onnx.ModelProto in and out
    report = lnopt.optimize_file("model.onnx", "fused.onnx")  # external data as the CLI does
    print(report.summary())
    outputs = lnopt.compile(fused).run({"x": x})              # dict of numpy arrays

Every error lnopt reports is raised as :class:`LnoptError` with lnopt's message (naming the node
or tensor at fault).
"""

import os
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from . import _lnopt
from ._lnopt import LnoptError, Report, Site

__all__ = ["LnoptError", "Report", "Site", "Compiled", "optimize", "optimize_file", "compile"]

# ONNX TensorProto.DataType codes of the numpy dtypes lnopt's engines take and give.
_ONNX_CODE = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.uint16): 4,
    np.dtype(np.int16): 5,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
    np.dtype(np.bool_): 9,
    np.dtype(np.float16): 10,
    np.dtype(np.float64): 11,
    np.dtype(np.uint32): 12,
    np.dtype(np.uint64): 13,
    np.dtype(np.complex64): 14,
    np.dtype(np.complex128): 15,
}
_NUMPY_DTYPE = {code: dt.newbyteorder("<") for dt, code in _ONNX_CODE.items()}


def _is_path(model: object) -> bool:
    return isinstance(model, (str, os.PathLike))


def _model_bytes(model: object) -> bytes:
    """Serialized ONNX of a ModelProto or bytes-like ``model``."""
    if isinstance(model, bytes):
        return model
    if isinstance(model, (bytearray, memoryview)):
        return bytes(model)
    if hasattr(model, "SerializeToString"):
        return model.SerializeToString()
    raise TypeError(
        "model must be an onnx.ModelProto, bytes or a path, not " + type(model).__name__
    )


def optimize(model, *, target: str = "standard", opset_upgrade: bool = True, fuse: bool = True):
    """Fuse the normalisation sites of ``model`` and return the result as an onnx.ModelProto.

    ``model`` is an onnx.ModelProto, serialized bytes, or a path (str or os.PathLike); a path is
    read as the CLI reads it, external data included, and the result has its tensors inline.
    ``target`` is "standard" (plain ONNX, the opset raised when a fusion needs it and every op
    converts; ``opset_upgrade=False`` forbids that) or "ort" (ONNX Runtime's own ops at the
    model's opset). ``fuse=False`` only re-encodes. Raises LnoptError on a model lnopt refuses.
    """
    import onnx

    if _is_path(model):
        with tempfile.TemporaryDirectory(prefix="lnopt-") as tmp:
            out = os.path.join(tmp, "model.onnx")
            _lnopt.optimize_file(
                os.fspath(model), out, target, opset_upgrade, fuse, "copy", False
            )
            return onnx.load(out)
    data, _report = _lnopt.optimize_bytes(_model_bytes(model), target, opset_upgrade, fuse)
    return onnx.load_from_string(data)


def optimize_file(
    src,
    dst,
    *,
    target: str = "standard",
    opset_upgrade: bool = True,
    fuse: bool = True,
    external_data: str = "copy",
    force: bool = False,
) -> Report:
    """Optimise the model file ``src`` into ``dst`` (written atomically) and return the Report.

    External tensors are copied into ``dst`` + ".data" (``external_data="copy"``) or referenced
    in the input's data files in place (``"keep"``: unchanged tensors, output in the input's
    folder). ``force=True`` allows ``dst`` to be ``src``. Other options as in :func:`optimize`.
    """
    return _lnopt.optimize_file(
        os.fspath(src), os.fspath(dst), target, opset_upgrade, fuse, external_data, force
    )


def _shape_list(names: Sequence[str], shapes) -> Optional[List[List[int]]]:
    if shapes is None:
        return None
    if isinstance(shapes, Mapping):
        missing = [n for n in names if n not in shapes]
        unknown = [n for n in shapes if n not in names]
        if missing or unknown:
            raise LnoptError(
                f"input_shapes: missing {missing}, unknown {unknown}; the inputs are {list(names)}"
            )
        shapes = [shapes[n] for n in names]
    return [[int(d) for d in s] for s in shapes]


class Compiled:
    """A model compiled by lnopt's JIT (cranelift). Create it with :func:`compile`.

    Code is specialised on the input shapes: a run with new shapes compiles once more and keeps
    that code for later runs with the same shapes.
    """

    def __init__(self, inner: "_lnopt.Compiled"):
        self._inner = inner

    @property
    def input_names(self) -> List[str]:
        """Names of the runtime inputs (graph inputs that are not initializers), in order."""
        return self._inner.input_names

    @property
    def output_names(self) -> List[str]:
        """Names of the outputs, in order."""
        return self._inner.output_names

    def run(self, inputs) -> Dict[str, np.ndarray]:
        """Run on ``inputs`` (a dict by input name, or a list in input order) of numpy arrays.

        Returns a dict from output name to numpy array. Arrays are passed as their packed bytes
        (one bulk copy each way, no per-element conversion); outputs are writable arrays over
        the bytes lnopt produced.
        """
        names = self.input_names
        if isinstance(inputs, Mapping):
            missing = [n for n in names if n not in inputs]
            unknown = [n for n in inputs if n not in names]
            if missing or unknown:
                raise LnoptError(
                    f"inputs: missing {missing}, unknown {unknown}; the inputs are {names}"
                )
            arrays = [inputs[n] for n in names]
        else:
            arrays = list(inputs)
            if len(arrays) != len(names):
                raise LnoptError(
                    f"{len(arrays)} inputs given, the model has {len(names)} ({names})"
                )
        specs = []
        for name, a in zip(names, arrays):
            a = np.asarray(a)
            code = _ONNX_CODE.get(a.dtype.newbyteorder("="))
            if code is None:
                raise LnoptError(f"input '{name}': numpy dtype {a.dtype} is not supported")
            a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
            specs.append((code, list(a.shape), a.tobytes()))
        outputs = {}
        for name, code, dims, data in self._inner.run(specs):
            dtype = _NUMPY_DTYPE.get(code)
            if dtype is None:
                raise LnoptError(f"output '{name}': ONNX dtype {code} has no numpy dtype")
            outputs[name] = np.frombuffer(data, dtype=dtype).reshape(dims)
        return outputs


def compile(model, input_shapes=None) -> Compiled:
    """Prepare ``model`` (onnx.ModelProto, bytes or path) for lnopt's JIT.

    ``input_shapes`` (a dict by input name or a list in input order) compiles for those shapes
    now; without it, code is compiled at the first run for the shapes of its inputs.
    """
    if _is_path(model):
        inner = _lnopt.compile_file(os.fspath(model))
    else:
        inner = _lnopt.compile_bytes(_model_bytes(model))
    shapes = _shape_list(inner.input_names, input_shapes)
    if shapes is not None:
        inner.prepare(shapes)
    return Compiled(inner)
