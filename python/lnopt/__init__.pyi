"""Type stubs of lnopt (the Python package of the lnopt ONNX optimizer)."""

import os
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import onnx

ModelLike = Union[onnx.ModelProto, bytes, bytearray, memoryview, str, os.PathLike]
Shapes = Union[Mapping[str, Sequence[int]], Sequence[Sequence[int]]]

class LnoptError(ValueError):
    """An error reported by lnopt, carrying its message (naming the node or tensor at fault)."""

class Site:
    """One normalisation site lnopt looked at."""

    kind: str
    """"LayerNormalization", "RMSNormalization" or "unknown" (nothing matched)."""
    anchor: str
    """Name of the site's first ReduceMean node ("#index" when unnamed)."""
    fused: bool
    """True when the site was fused."""
    fused_node: Optional[str]
    """Name of the fused node, when fused."""
    reason: Optional[str]
    """Why the site was not fused."""
    needs_opset: Optional[int]
    """The ai.onnx opset the emitted node needs, when fused into a standard op."""

class Report:
    """What one optimisation did."""

    sites: List[Site]
    opset_before: int
    opset_after: int
    upgrade_blocked: List[str]
    def summary(self) -> str:
        """The human-readable summary the CLI prints on stderr."""
    def to_json(self) -> str:
        """The CLI's ``--report json`` document."""

class Compiled:
    """A model compiled by lnopt's JIT, specialised (and cached) per input shapes."""

    @property
    def input_names(self) -> List[str]:
        """Names of the runtime inputs, in order."""
    @property
    def output_names(self) -> List[str]:
        """Names of the outputs, in order."""
    def run(
        self, inputs: Union[Mapping[str, np.ndarray], Sequence[np.ndarray]]
    ) -> Dict[str, np.ndarray]:
        """Run on numpy arrays (by input name, or in input order); outputs by name."""

def optimize(
    model: ModelLike,
    *,
    target: str = "standard",
    opset_upgrade: bool = True,
    fuse: bool = True,
) -> onnx.ModelProto:
    """Fuse the normalisation sites of ``model``; the result as an onnx.ModelProto."""

def optimize_file(
    src: Union[str, os.PathLike],
    dst: Union[str, os.PathLike],
    *,
    target: str = "standard",
    opset_upgrade: bool = True,
    fuse: bool = True,
    external_data: str = "copy",
    force: bool = False,
) -> Report:
    """Optimise the model file ``src`` into ``dst`` and return the report."""

def compile(model: ModelLike, input_shapes: Optional[Shapes] = None) -> Compiled:
    """Prepare ``model`` for lnopt's JIT (compiled now for ``input_shapes`` when given)."""
