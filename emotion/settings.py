"""Every default, path and environment variable of the studio, in one place.

:class:`Settings` holds the knobs of an analysis. Each field carries its own label, help, group and bounds, and
the app's sidebar (``emotion.app.sidebar``) and the CLI's flags (``emotion.cli``) are generated from them, so the
three can never drift apart. The path functions below are the only code in the package that reads
``os.environ``; they read it on every call, so a test or a launcher can point the studio elsewhere.

Environment variables:
    EMOTION_DATA_DIR: Where History, the learning store, learned models, retrain logs and auto-exports are kept
        (default: ``learning_data/`` in the checkout).
    EMOTION_CACHE_DIR: Caches that can be rebuilt, such as the RAVDESS feature cache (default: ``<data dir>/cache``).
    EMOTION_SHARED_DATA: The folder of the training and test corpora (``ravdess/``, ``tess/``, ``fer2013/``,
        ``media/``); default: ``shared/data`` beside the checkout.
    EMOTION_RAVDESS: The RAVDESS folder, if not under the shared data.
    EMOTION_FER2013: The FER2013 ``train.npz`` the face gate's reference faces come from.
    EMOTION_ICE_SERVERS: JSON list of STUN/TURN servers for the live page.
    DEEPFACE_HOME: Where DeepFace keeps its weights (DeepFace's own variable).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout the package runs from (it installs in editable mode)."""
try:
    VERSION = metadata.version("emotion-studio")
    """The project's version (from ``pyproject.toml``), recorded in every result."""
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "0+unknown"

os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")  # an installed TF or torch must not change deepface's engine

# Limits on what a file may make the decoders produce, checked from its header before anything is decoded
MAX_IMAGE_PIXELS = 50_000_000
"""Largest image (width x height, as its header declares) that is decoded; a larger one is refused."""
IMAGE_WORK_PIXELS = 25_000_000
"""Images larger than this are analysed at half their width and height (JPEGs are decoded at that size)."""
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))  # OpenCV's own guard, if cv2 loads after
MAX_VIDEO_PIXELS = 7680 * 4320
"""Largest video frame (width x height, as the stream's header declares; 8K UHD, 33 megapixels) that is decoded; a
video with larger frames is refused before any frame is decoded (a 16000x16000 H.264 of 750 kB took 9.5 GB), and a
frame that grows past it mid-stream stops decoding."""
VIDEO_WORK_PIXELS = 3840 * 2160
"""Video frames larger than this (4K UHD) are analysed shrunk to about this many pixels: FFmpeg's scaler converts
them straight to the smaller size, so no full-size copy is made, and larger frames are decoded with one thread."""
AUDIO_RATES = (4_000, 384_000)
"""Sample rates (Hz) an audio track may have; outside them it is refused (a 1 Hz track would decode to gigabytes)."""
MAX_AUDIO_SECONDS = 4 * 3600.0
"""Most seconds of audio decoded from one file when no duration limit is set (16 kHz float: 0.9 GB)."""
LONGEST_RECORDING = 7 * 24 * 3600.0
"""Seconds a video's timestamps may span before its record says they are impossible (they jump: no recording runs a
week). The frames are still analysed at the times the file gives; tables and charts list only windows that hold
samples, so a span of years costs nothing."""
MAX_SAMPLES = 20_000
"""Most frames sampled from one video; more (a high fps over a long video) are spread evenly with a note."""


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def data_dir() -> Path:
    """The folder of stored data: ``$EMOTION_DATA_DIR``, or ``learning_data/`` in the checkout."""
    return Path(_env("EMOTION_DATA_DIR") or PROJECT_ROOT / "learning_data")


def cache_dir() -> Path:
    """The folder of rebuildable caches: ``$EMOTION_CACHE_DIR``, or ``<data dir>/cache``."""
    return Path(_env("EMOTION_CACHE_DIR") or data_dir() / "cache")


def models_dir() -> Path:
    """The shipped models and their model cards."""
    return PROJECT_ROOT / "models"


def shared_data() -> Path:
    """The corpora for training and tests: ``$EMOTION_SHARED_DATA``, or ``shared/data`` beside the checkout."""
    return Path(_env("EMOTION_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")


def ravdess_dir() -> Path:
    """The RAVDESS speech folder: ``$EMOTION_RAVDESS``, or ``ravdess/`` under the shared data."""
    return Path(_env("EMOTION_RAVDESS") or shared_data() / "ravdess")


def fer2013_file() -> Path:
    """FER2013's training faces: ``$EMOTION_FER2013``, or ``fer2013/train.npz`` under the shared data."""
    return Path(_env("EMOTION_FER2013") or shared_data() / "fer2013" / "train.npz")


def deepface_home() -> Path:
    """Where DeepFace keeps its weights (``$DEEPFACE_HOME``, else the home folder)."""
    return Path(_env("DEEPFACE_HOME") or Path.home())


def ice_servers_text() -> str:
    """The raw ``$EMOTION_ICE_SERVERS`` (a JSON list), or "" when unset."""
    return _env("EMOTION_ICE_SERVERS") or ""


def _f(default: Any, label: str, group: str, help: str, *, lo: float | None = None, hi: float | None = None,
       step: float | None = None, choices: tuple[str, ...] = (), cli: bool = True, flag: str = "",
       control: str = "") -> Any:
    """A Settings field with what the sidebar and the CLI need to show it.

    ``control`` names the sidebar control that sets the field when one control stands for two fields.
    """
    meta = {"label": label, "group": group, "help": help, "lo": lo, "hi": hi, "step": step, "choices": choices,
            "cli": cli, "flag": flag, "control": control or label}
    return field(default=default, metadata=meta)


BRIGHTNESS_CONTROL = "Accepted brightness"
"""The sidebar's range slider that sets both ``min_brightness`` and ``max_brightness``."""
GROUPS = ("Performance", "Model", "Quality", "Learning", "Export", "Live")
"""The sidebar's groups, in order; every field belongs to one."""
DETECTORS = ("blazeface", "haar", "opencv", "ssd", "mtcnn", "retinaface", "mediapipe", "yunet", "yolov8", "centerface",
             "dlib")
"""Face detectors: "blazeface" (default) and "haar" run offline; the others are DeepFace backends, most needing
weights downloaded once."""
FACE_BACKENDS = ("default", "deepface")
"""Face emotion models: the shipped ONNX model, or DeepFace's own (needs its weights)."""
RESOLUTIONS = ("320x240", "640x480", "960x540", "1280x720")
"""Camera resolutions the live page can ask the browser for (width x height)."""


@dataclass
class Settings:
    """Every knob of an analysis, with the defaults an analyst gets.

    Each field's metadata holds its label, group, help text and bounds; :func:`describe` reads them.
    """

    max_frames: int = _f(21, "Frames per video", "Performance", "Frames sampled evenly over a video when fps is 0.",
                         lo=1, hi=600, step=1)
    fps: float = _f(0.0, "Frames per second", "Performance",
                    "Sampled frames per second of video; overrides frames per video when above 0.",
                    lo=0.0, hi=30.0, step=0.5)
    every_frame: bool = _f(False, "Every frame (native rate)", "Performance",
                           "Analyse every frame of a video at its own frame rate (CLI: --fps native); overrides "
                           "frames per video and frames per second.", flag="every-frame")
    max_duration: float = _f(0.0, "Duration limit (s, 0 = all)", "Performance",
                             "Seconds of each video or audio file analysed, faces and voice alike; 0 analyses all.",
                             lo=0.0, hi=36000.0, step=10.0)
    workers: int = _f(2, "Workers", "Performance", "Threads that analyse sampled frames in parallel.",
                      lo=1, hi=16, step=1)
    detect_interval: float = _f(2.0, "Full face search every (s)", "Performance",
                                "Seconds of video between full face searches; in between, faces are looked for only "
                                "near where they were (and fully again when one is lost).", lo=0.0, hi=60.0, step=0.5)
    face_backend: str = _f("default", "Face emotion model", "Model",
                           "default: fer_cnn, the project's own ONNX model (offline); deepface: DeepFace's "
                           "model (needs its weights); or name any shipped ONNX model (fer_distilled, "
                           "fer_mini_xception).",
                           choices=FACE_BACKENDS)
    detector: str = _f("blazeface", "Face detector", "Model",
                       "blazeface (default, offline): MediaPipe's BlazeFace, finds turned, tilted, small and dark "
                       "faces; haar (offline): OpenCV's frontal cascade, the older fallback; the others are "
                       "DeepFace backends, and most need weights downloaded once.",
                       choices=DETECTORS)
    face_align: bool = _f(False, "Align faces by the eyes", "Model",
                          "Rotate and scale each face so its eyes sit where the face model's training faces have "
                          "them (BlazeFace's eye keypoints), instead of the square around the detector's box. Off "
                          "by default: it read worse on the posed and web portraits measured "
                          "(models/face_sources.md).")
    face_confidence: float = _f(0.5, "Face confidence threshold", "Model",
                                "A face whose calibrated confidence is below this is marked uncertain: it keeps its "
                                "label in the record, but the summary uses only confident faces and shows the "
                                "uncertain share. 0 trusts every face.", lo=0.0, hi=1.0, step=0.05)
    face_crop: bool = _f(False, "Images are face crops", "Model",
                         "Treat each image as an already-cropped face and skip detection.")
    audio: bool = _f(True, "Analyse the voice", "Model", "Read the voice's emotion from the audio track.")
    denoise: bool = _f(False, "Reduce noise first", "Model", "Apply noise reduction before the voice features.")
    segment_seconds: float = _f(3.0, "Voice window (s)", "Model", "Length of each voice window.",
                                lo=0.5, hi=30.0, step=0.5)
    segment_hop: float = _f(1.5, "Window hop (s)", "Model", "Seconds between voice window starts.",
                            lo=0.25, hi=30.0, step=0.25)
    voice_confidence: float = _f(0.4, "Voice confidence threshold", "Model",
                                 "A voice window whose calibrated confidence is below this is marked uncertain: it "
                                 "keeps its label in the record, but the summary and the face/voice disagreement "
                                 "band use only confident windows. 0 trusts every window.",
                                 lo=0.0, hi=1.0, step=0.05)
    smooth: float = _f(0.5, "Smoothing (s)", "Model",
                       "Time constant of the smoothing over each tracked face's probabilities in a video (a "
                       "zero-phase exponential filter), so one odd frame does not flip a label; the raw per-frame "
                       "scores stay in the record. 0 turns it off.", lo=0.0, hi=30.0, step=0.25)
    min_face: int = _f(40, "Smallest face (px)", "Quality", "Smallest face side, in pixels of the original frame.",
                       lo=8, hi=2000, step=4)
    min_blur: float = _f(20.0, "Blur threshold", "Quality",
                         "Smallest variance of the Laplacian of a face crop (lower is blurrier).",
                         lo=0.0, hi=1000.0, step=5.0)
    min_brightness: float = _f(40.0, "Darkest face", "Quality",
                               "Darkest accepted mean brightness of a face (0-255). A frame darker than this on the "
                               "whole is contrast-enhanced before faces are searched, not dropped.",
                               lo=0.0, hi=255.0, step=1.0, control=f"the lower end of {BRIGHTNESS_CONTROL}")
    max_brightness: float = _f(220.0, "Brightest face", "Quality",
                               "Brightest accepted mean brightness of a face (0-255). A frame brighter than this on "
                               "the whole is contrast-enhanced before faces are searched.",
                               lo=0.0, hi=255.0, step=1.0, control=f"the upper end of {BRIGHTNESS_CONTROL}")
    max_faces: int = _f(20, "Most faces per frame", "Quality", "Most faces analysed per frame (the largest are kept).",
                        lo=1, hi=100, step=1)
    collect: bool = _f(True, "Keep faces and voice for learning", "Learning",
                       "Keep each analysed face (a small crop) and voice segment (audio and features) in the learning "
                       "store, for review and retraining, filed under the analysis's History entry.", flag="keep")
    collect_threshold: float = _f(0.9, "Keep predictions above", "Learning",
                                  "Predictions at least this confident are kept as (down-weighted) training labels.",
                                  lo=0.5, hi=1.0, step=0.01)
    retrain_after: int = _f(50, "Retrain after new labels", "Learning",
                            "Retrain in the background once this many new labels have gathered; 0 = only by hand.",
                            lo=0, hi=100000, step=10)
    save: bool = _f(True, "Save to History", "Export", "Keep each analysis in History, to reopen, compare or delete.")
    auto_export: bool = _f(False, "Auto-export JSON and CSV", "Export",
                           "After each analysis, save both files in the exports folder of the data dir.")
    export_prefix: str = _f("emotion_", "File name prefix", "Export", "Prefix of exported and downloaded file names.")
    annotated_video: bool = _f(True, "Make annotated videos", "Export",
                               "Draw boxes and labels on a copy of each video (audio kept); the CLI never makes one.",
                               cli=False)
    anonymise: bool = _f(False, "Blur faces in exports", "Export",
                         "Pixelate every detected face in the annotated video, the face thumbnails and the report.")
    live_window: float = _f(30.0, "Live window (s)", "Live", "The live page's dominant emotion and trend look back "
                            "this far.", lo=10.0, hi=120.0, step=5.0, cli=False)
    live_resolution: str = _f("640x480", "Camera resolution", "Live",
                              "Resolution asked of the camera; frames over 640 px wide are analysed downscaled.",
                              choices=RESOLUTIONS, cli=False)
    live_fps: float = _f(20.0, "Target fps", "Live", "Frames per second asked of the camera and analysed; the "
                         "live analysis searches for faces less often, then on smaller frames, to hold it.",
                         lo=5.0, hi=30.0, step=1.0, cli=False)
    live_voice: bool = _f(True, "Live voice", "Live", "Read the microphone's voice emotion on a rolling window.",
                          cli=False)
    live_collect: bool = _f(False, "Keep live faces and voice for learning", "Live",
                            "Keep sampled face crops and voice windows of a saved live session in the learning "
                            "store, filed under its History entry. Off by default: a webcam is more personal "
                            "than an upload.", cli=False)
    live_record: bool = _f(False, "Record live sessions", "Live",
                           "Record camera and microphone to a private MP4 in the data dir's recordings folder, "
                           "to re-analyse as a file later.", cli=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from a dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class FieldInfo:
    """How one setting is shown and parsed: its name, type, default and metadata."""

    name: str
    type: type
    default: Any
    label: str
    group: str
    help: str
    lo: float | None
    hi: float | None
    step: float | None
    choices: tuple[str, ...]
    cli: bool
    flag: str
    control: str
    """The sidebar control that sets it (its label, unless one control sets two fields)."""


def describe() -> list[FieldInfo]:
    """Every setting with its presentation, in declaration order."""
    base = Settings()
    out = []
    for f in fields(Settings):
        value = getattr(base, f.name)
        meta = dict(f.metadata)
        meta["flag"] = meta["flag"] or f.name.replace("_", "-")
        out.append(FieldInfo(name=f.name, type=type(value), default=value, **meta))
    return out


class SettingError(ValueError):
    """A setting's value that its type, bounds or choices refuse; the message is one line, fit to show."""


TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
"""The words a yes/no setting accepts as text (any case)."""
MAX_TEXT = 200
"""Longest text a free-text setting keeps."""


def _quoted(raw: Any) -> str:
    text = str(raw)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def parse_number(raw: Any, kind: type, lo: float | None = None, hi: float | None = None) -> Any:
    """``raw`` (text or a number) as an ``int`` or ``float`` within [lo, hi]: the one number parser.

    The CLI's flags, the REST service's form fields and the sidebar's values all go through here. Text must be
    ASCII digits (no other scripts' digits); ``nan``, ``inf`` and booleans are refused.

    Raises:
        SettingError: With a one-line message, when the value is not a number of that kind or is out of bounds.
    """
    what = "an integer" if kind is int else "a number"
    if isinstance(raw, bool) or (isinstance(raw, str) and not raw.strip().isascii()):
        raise SettingError(f"{_quoted(raw)} is not {what}")
    try:
        value = kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        raise SettingError(f"{_quoted(raw)} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingError(f"{_quoted(raw)} is not a finite number")
    if kind is int and isinstance(raw, float) and raw != value:
        raise SettingError(f"{_quoted(raw)} is not {what}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        span = f"{lo:g}..{hi:g}" if lo is not None and hi is not None else (
            f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise SettingError(f"{value:g} is outside {span}")
    return value


def parse_value(info: FieldInfo, raw: Any, choices: tuple[str, ...] | list[str] | None = None) -> Any:
    """One setting's value from text or a typed value, checked against its type, bounds and choices.

    The one parser of setting values, used by the CLI, the REST service and the app's session state.

    Args:
        info: The setting (from :func:`describe`).
        raw: Text (a flag, a form field) or a value (JSON, a widget).
        choices: The allowed values when they are only known above this layer (the shipped face models);
            default: the setting's own choices.

    Raises:
        SettingError: With a one-line message that names no setting (callers add the name or flag).
    """
    if info.type is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in TRUE + FALSE:
            return text in TRUE
        raise SettingError(f"{_quoted(raw)} is not yes or no (true/false)")
    if info.type in (int, float):
        return parse_number(raw, info.type, info.lo, info.hi)
    text = str(raw)
    allowed = tuple(choices) if choices is not None else info.choices
    if allowed and text not in allowed:
        raise SettingError(f"choose one of {', '.join(allowed)}")
    return text[:MAX_TEXT]


def parse_settings(values: dict[str, Any], choices: dict[str, tuple[str, ...]] | None = None) -> Settings:
    """Settings from named values, each parsed by :func:`parse_value`.

    Raises:
        SettingError: For an unknown name or a refused value; the message starts with the setting's name.
    """
    infos = {i.name: i for i in describe()}
    parsed = {}
    for name, raw in values.items():
        if name not in infos:
            raise SettingError(f"unknown setting: {str(name)[:40]}")
        try:
            parsed[name] = parse_value(infos[name], raw, (choices or {}).get(name))
        except SettingError as exc:
            raise SettingError(f"{name}: {exc}") from None
    return Settings(**parsed)


def changed(values: dict[str, Any]) -> dict[str, Any]:
    """The settings in ``values`` (a record's ``settings``) that differ from today's defaults, by label."""
    return {i.label: values[i.name] for i in describe() if i.name in values and values[i.name] != i.default}


# ----------------------------------------------------------------------------------------------------------------
# The REST service (``python -m emotion serve``)

MAX_UPLOAD_MB = 1024
"""Largest upload, per file in the app (``server.maxUploadSize`` in ``.streamlit/config.toml``) and per request in
the service."""
SERVICE_RATE_LIMIT = 100
"""Requests per client per minute the service answers before it says 429."""
SERVICE_RATE_CLIENTS = 10_000
"""Most clients the rate limit tracks at once (about 1 kB each); one silent for a minute is forgotten first, and
when all are recent, the one seen longest ago. A client is its peer address, or the API key once verified: never
what a request merely claims."""
SERVICE_MAX_JOBS = 64
"""Jobs the service keeps waiting or running before it says 503."""


def api_key() -> str | None:
    """The service's API key (``$EMOTION_API_KEY``); None leaves the service open (bind it to loopback then)."""
    return _env("EMOTION_API_KEY")
