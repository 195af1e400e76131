"""Convert MediaPipe's BlazeFace face detectors (short and full range) from TFLite to ONNX.

Downloads the ``mediapipe`` 0.10.21 wheel from PyPI (without installing it: that version pins numpy<2), extracts
``face_detection_short_range.tflite`` and ``face_detection_full_range_sparse.tflite`` (Apache-2.0), and rebuilds each
network as an ONNX graph op by op:

- The graph structure and each op's options come from the TFLite flatbuffer (the ``tflite`` package).
- The weights come from the TFLite interpreter itself (``ai-edge-litert`` with all tensors preserved): the
  float16 and sparse (``DENSIFY``) weights are read back dense and in float32 after one run, so no sparse format
  is decoded here.
- Activations are kept in NCHW inside the ONNX graph; its input and outputs keep TFLite's layout
  (``input`` ``(B, S, S, 3)`` RGB in -1..1, ``regressors`` ``(B, N, 16)``, ``classificators`` ``(B, N, 1)``, any
  batch size B).

Each ONNX model is checked against the TFLite interpreter on noise and on the shared face images, one by one and
as a batch (max difference relative to the output's range below ``TOLERANCE``), and written to
``models/blazeface_short.onnx`` and ``models/blazeface_full.onnx``. The sha256 lines of the model card
``models/blazeface.md`` and of the sidecar ``models/blazeface.json`` are updated.

Conversion-only dependencies, in a separate virtualenv outside the checkout (``$BFVENV``; no TensorFlow needed).
Verified together on Python 3.11: ``tflite==2.18.0 ai-edge-litert==2.3.0 onnx==1.23.2 onnxruntime==1.32.0
numpy==2.4.6 opencv-python-headless``. Run the script as a module from the repository root::

    python3 -m venv "$BFVENV"
    "$BFVENV"/bin/pip install tflite==2.18.0 ai-edge-litert==2.3.0 onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6
    "$BFVENV"/bin/pip install opencv-python-headless
    "$BFVENV"/bin/python -m training.convert_blazeface
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotion.settings import PROJECT_ROOT, models_dir, shared_data

if TYPE_CHECKING:
    from types import ModuleType

MEDIAPIPE_VERSION = "0.10.21"
MEMBERS = {
    "blazeface_short": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "blazeface_full": "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
}
"""ONNX name in ``models/`` -> the TFLite file inside the wheel."""
TOLERANCE = 1e-4
"""Largest allowed |onnx - tflite| relative to the largest |tflite| output (raw logits reach 1e4 on some inputs)."""
OPSET = 13
NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]
AXIS_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def require_converters() -> tuple[ModuleType, ModuleType, ModuleType, Any, Any]:
    """Import tflite, onnx, onnxruntime and the TFLite interpreter, or exit with a clear message.

    Returns:
        The ``tflite``, ``onnx`` and ``onnxruntime`` modules, the ``Interpreter`` class and the resolver to use.
    """
    try:
        import onnx
        import onnxruntime
        import tflite
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as err:
        sys.exit(
            f"error: {err.name} is missing. It is a conversion-only dependency: install it in a separate "
            "virtualenv as this script's docstring says (python -m training.convert_blazeface --help)"
        )
    return tflite, onnx, onnxruntime, Interpreter, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def fetch_tflite(workdir: Path) -> dict[str, Path]:
    """Download the ``mediapipe`` wheel (no dependencies) and extract the two BlazeFace models.

    Args:
        workdir: Directory for the wheel and the extracted files.

    Returns:
        The ONNX name -> the extracted ``.tflite`` path.
    """
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir)]
    subprocess.run([*pip, f"mediapipe=={MEDIAPIPE_VERSION}"], check=True)
    wheel = next(workdir.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        return {name: Path(zf.extract(member, workdir)) for name, member in MEMBERS.items()}


class Converter:
    """Rebuild one TFLite graph as ONNX.

    Args:
        path: The ``.tflite`` file.
        tflite: The ``tflite`` module (flatbuffer reader).
        onnx: The ``onnx`` module.
        interpreter_cls: The TFLite ``Interpreter`` class.
        resolver: The op resolver type to run it with (the reference ops, no delegate).
    """

    def __init__(self, path: Path, tflite: ModuleType, onnx: ModuleType, interpreter_cls: Any, resolver: Any) -> None:
        self.tfl, self.onnx = tflite, onnx
        self.model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
        self.graph = self.model.Subgraphs(0)
        self.interp = interpreter_cls(  # no XNNPACK: it would keep the dense weights to itself
            model_path=str(path), experimental_preserve_all_tensors=True, experimental_op_resolver_type=resolver
        )
        self.interp.allocate_tensors()
        inp = self.interp.get_input_details()[0]
        self.interp.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
        self.interp.invoke()
        self.op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.after: list[Any] = []
        self.constant = self._constants()

    def _op(self, i: int) -> tuple[str, Any]:
        op = self.graph.Operators(i)
        code = self.model.OperatorCodes(op.OpcodeIndex())
        return self.op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())], op

    def _constants(self) -> set[int]:
        """Tensors that do not depend on the input: buffers, and what DEQUANTIZE/DENSIFY make of them."""
        const = set()
        for t in range(self.graph.TensorsLength()):
            buf = self.model.Buffers(self.graph.Tensors(t).Buffer())
            if buf is not None and buf.DataLength() > 0:
                const.add(t)
        for i in range(self.graph.OperatorsLength()):
            _, op = self._op(i)
            if all(x in const for x in op.InputsAsNumpy() if x >= 0):
                const.update(int(o) for o in op.OutputsAsNumpy())
        return const

    def value(self, t: int) -> np.ndarray:
        """The dense value of a constant tensor (float32 for weights)."""
        v = np.array(self.interp.get_tensor(int(t)))
        return v.astype(np.float32) if v.dtype == np.float16 else v

    def shape(self, t: int) -> list[int]:
        """The static NHWC shape of a tensor."""
        return [int(d) for d in self.graph.Tensors(int(t)).ShapeAsNumpy()]

    def name(self, t: int) -> str:
        """An ONNX name for a tensor."""
        return f"t{int(t)}"

    def init(self, name: str, value: np.ndarray) -> str:
        """Add an initializer and return its name."""
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, kind: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        """Add one ONNX node, then the fused activation that :meth:`activation` put aside for it."""
        self.nodes.append(self.onnx.helper.make_node(kind, inputs, outputs, name=outputs[0], **attrs))
        self.nodes.extend(self.after)
        self.after = []

    def activation(self, fused: int, out: str) -> str:
        """Set aside a fused activation for the next node: return the name that node must write to."""
        act, make = self.tfl.ActivationFunctionType, self.onnx.helper.make_node
        if fused == act.NONE:
            return out
        raw = out + "_pre"
        if fused == act.RELU:
            self.after = [make("Relu", [raw], [out], name=out)]
        elif fused == act.RELU6:
            lo, hi = self.init(out + "_lo", np.float32(0)), self.init(out + "_hi", np.float32(6))
            self.after = [make("Clip", [raw, lo, hi], [out], name=out)]
        else:
            raise NotImplementedError(f"fused activation {fused}")
        return raw

    def pads(
        self, inp: int, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], same: bool
    ) -> list[int]:
        """Explicit ONNX pads (top, left, bottom, right) for TF's SAME or VALID padding."""
        if not same:
            return [0, 0, 0, 0]
        _, h, w, _ = self.shape(inp)
        begin, end = [], []
        for size, k, s, d in zip((h, w), kernel, stride, dilation, strict=True):
            eff = (k - 1) * d + 1
            total = max((-(-size // s) - 1) * s + eff - size, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end

    def convert_op(self, i: int) -> None:
        """Emit ONNX nodes for TFLite operator ``i`` (constant ops are folded away)."""
        kind, op = self._op(i)
        ins = [int(x) for x in op.InputsAsNumpy()]
        (out,) = [int(x) for x in op.OutputsAsNumpy()]
        if out in self.constant:
            return
        tfl, o = self.tfl, self.name(out)
        same_pad = tfl.Padding.SAME
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = kind == "DEPTHWISE_CONV_2D"
            opts = (tfl.DepthwiseConv2DOptions if depthwise else tfl.Conv2DOptions)()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            weight = self.value(ins[1])
            kh, kw = weight.shape[1:3]
            if depthwise:  # (1, kh, kw, C*m) -> (C*m, 1, kh, kw)
                weight = weight.transpose(3, 0, 1, 2)
                group = self.shape(ins[0])[3]
            else:  # (O, kh, kw, I) -> (O, I, kh, kw)
                weight = weight.transpose(0, 3, 1, 2)
                group = 1
            stride = (opts.StrideH(), opts.StrideW())
            dilation = (opts.DilationHFactor(), opts.DilationWFactor())
            inputs = [self.name(ins[0]), self.init(o + "_w", weight)]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(self.init(o + "_b", self.value(ins[2])))
            raw = self.activation(opts.FusedActivationFunction(), o)
            self.node(
                "Conv",
                inputs,
                [raw],
                kernel_shape=[kh, kw],
                strides=list(stride),
                dilations=list(dilation),
                group=group,
                pads=self.pads(ins[0], (kh, kw), stride, dilation, opts.Padding() == same_pad),
            )
        elif kind == "ADD":
            opts = tfl.AddOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            args = []
            for t in ins:
                if t in self.constant:
                    v = self.value(t)
                    args.append(self.init(f"{o}_c{t}", v.reshape(-1, 1, 1) if v.ndim == 1 else v))
                else:
                    args.append(self.name(t))
            self.node("Add", args, [self.activation(opts.FusedActivationFunction(), o)])
        elif kind == "RELU":
            self.node("Relu", [self.name(ins[0])], [o])
        elif kind == "MAX_POOL_2D":
            opts = tfl.Pool2DOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            kernel, stride = (opts.FilterHeight(), opts.FilterWidth()), (opts.StrideH(), opts.StrideW())
            raw = self.activation(opts.FusedActivationFunction(), o)
            self.node(
                "MaxPool",
                [self.name(ins[0])],
                [raw],
                kernel_shape=list(kernel),
                strides=list(stride),
                pads=self.pads(ins[0], kernel, stride, (1, 1), opts.Padding() == same_pad),
            )
        elif kind == "PAD":
            pad = self.value(ins[1]).astype(np.int64)  # (4, 2) in NHWC
            pad = pad[NHWC_TO_NCHW]
            self.node("Pad", [self.name(ins[0]), self.init(o + "_pads", np.concatenate([pad[:, 0], pad[:, 1]]))], [o])
        elif kind == "RESHAPE":
            src = self.name(ins[0])
            if len(self.shape(ins[0])) == 4:
                self.node("Transpose", [src], [o + "_nhwc"], perm=NCHW_TO_NHWC)
                src = o + "_nhwc"
            shape = np.array([0, *self.shape(out)[1:]], np.int64)  # 0 keeps the batch size: batches may vary
            self.node("Reshape", [src, self.init(o + "_shape", shape)], [o])
        elif kind == "CONCATENATION":
            opts = tfl.ConcatenationOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            axis = opts.Axis() % len(self.shape(out))
            if len(self.shape(out)) == 4:
                axis = AXIS_NHWC_TO_NCHW[axis]
            raw = self.activation(opts.FusedActivationFunction(), o)
            self.node("Concat", [self.name(t) for t in ins], [raw], axis=axis)
        elif kind == "RESIZE_BILINEAR":
            opts = tfl.ResizeBilinearOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            mode = "align_corners" if opts.AlignCorners() else "half_pixel" if opts.HalfPixelCenters() else "asymmetric"
            (_, h, w, _), (_, h0, w0, _) = self.shape(out), self.shape(ins[0])
            # scales, not sizes, so the batch size stays free
            scales = self.init(o + "_scales", np.array([1, 1, h / h0, w / w0], np.float32))
            self.node(
                "Resize", [self.name(ins[0]), "", scales], [o], mode="linear", coordinate_transformation_mode=mode
            )
        elif kind == "DEPTH_TO_SPACE":
            opts = tfl.DepthToSpaceOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            self.node("DepthToSpace", [self.name(ins[0])], [o], blocksize=opts.BlockSize(), mode="DCR")
        else:
            raise NotImplementedError(f"TFLite op {kind} is not converted")

    def build(self, doc: str) -> Any:
        """Return the ONNX ``ModelProto`` of the whole graph."""
        helper, tp = self.onnx.helper, self.onnx.TensorProto
        (inp,) = [int(x) for x in self.graph.InputsAsNumpy()]
        outs = [int(x) for x in self.graph.OutputsAsNumpy()]
        self.node("Transpose", ["input"], [self.name(inp)], perm=NHWC_TO_NCHW)
        for i in range(self.graph.OperatorsLength()):
            self.convert_op(i)
        names = ["regressors", "classificators"]
        for t, name in zip(outs, names, strict=True):
            self.node("Identity", [self.name(t)], [name])
        batch = ["N"]  # any number of squares per run
        graph = helper.make_graph(
            self.nodes,
            "blazeface",
            [helper.make_tensor_value_info("input", tp.FLOAT, batch + self.shape(inp)[1:])],
            [
                helper.make_tensor_value_info(n, tp.FLOAT, batch + self.shape(t)[1:])
                for t, n in zip(outs, names, strict=True)
            ],
            self.inits,
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="emotion-studio")
        proto.ir_version = 8
        proto.doc_string = doc
        self.onnx.checker.check_model(proto)
        return proto

    def reference(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the TFLite model: (regressors, classificators)."""
        inp = self.interp.get_input_details()[0]
        self.interp.set_tensor(inp["index"], x)
        self.interp.invoke()
        return [self.interp.get_tensor(int(t)).copy() for t in self.graph.OutputsAsNumpy()]


def check_inputs(side: int) -> list[np.ndarray]:
    """Noise and the shared face images, letterboxed to ``side`` and scaled to -1..1 (NHWC RGB)."""
    import cv2

    rng = np.random.default_rng(0)
    batch = [rng.uniform(-1, 1, (1, side, side, 3)).astype(np.float32)]
    media = shared_data() / "media"
    for name in ("multi_face.jpg", "single_face.jpg", "0-f15-hao-ph.jpg", "BWPictureHuman.jpg"):
        image = cv2.imread(str(media / name))
        if image is None:
            print(f"note: {media / name} not found; checking on noise only")
            continue
        scale = side / max(image.shape[:2])
        small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        square = np.zeros((side, side, 3), np.uint8)
        square[: small.shape[0], : small.shape[1]] = small
        batch.append((square[None, :, :, ::-1].astype(np.float32) / 127.5 - 1).astype(np.float32))
    return batch


def update_sha(path: Path, name: str, digest: str) -> None:
    """Write ``digest`` into the card's ``name.onnx`` sha256 line or the sidecar's entry, if they exist."""
    if not path.exists():
        print(f"warning: {path.relative_to(PROJECT_ROOT)} missing; sha256 of {name} not recorded")
        return
    if path.suffix == ".json":
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["models"][name]["sha256"] = digest
        path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    else:
        text = re.sub(rf"({name}\.onnx` sha256: `)[0-9a-f]*(`)", rf"\g<1>{digest}\g<2>", path.read_text("utf-8"))
        path.write_text(text, encoding="utf-8")
    print(f"updated sha256 of {name} in {path.relative_to(PROJECT_ROOT)}")


def main() -> None:
    """Download, convert, check and write both models."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=models_dir(), help="folder to write the ONNX files to")
    args = parser.parse_args()
    tflite, onnx, ort, interpreter_cls, resolver = require_converters()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in fetch_tflite(Path(tmp)).items():
            conv = Converter(path, tflite, onnx, interpreter_cls, resolver)
            proto = conv.build(f"BlazeFace {path.name} from mediapipe=={MEDIAPIPE_VERSION} (Apache-2.0)")
            data = proto.SerializeToString()
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            side = conv.shape(int(conv.graph.InputsAsNumpy()[0]))[1]
            diff, inputs = 0.0, check_inputs(side)
            batched = session.run(["regressors", "classificators"], {"input": np.concatenate(inputs)})
            for i, x in enumerate(inputs):
                got = session.run(["regressors", "classificators"], {"input": x})
                for g, b, e in zip(got, batched, conv.reference(x), strict=True):
                    diff = max(diff, float(np.abs(g - e).max() / (1 + np.abs(e).max())))
                    diff = max(diff, float(np.abs(b[i] - e[0]).max() / (1 + np.abs(e).max())))
            print(f"{name}: max |onnx - tflite| / max |tflite| = {diff:.3g}")
            if diff >= TOLERANCE:
                sys.exit(f"error: {name} differs from TFLite (max diff {diff:.3g}); not written")
            target = args.out / f"{name}.onnx"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            print(f"wrote {target.name} ({len(data)} bytes, sha256 {digest})")
            for meta in (models_dir() / "blazeface.md", models_dir() / "blazeface.json"):
                update_sha(meta, name, digest)


if __name__ == "__main__":
    main()
