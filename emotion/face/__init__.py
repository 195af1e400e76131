"""Faces: detection, the emotion models, the learned adapter, quality filters and tracking.

Modules: ``protocols`` (what a detector, face model and face sink must offer), ``detect`` (Haar and DeepFace
detectors), ``model`` (the shipped ONNX models and DeepFace's), ``adapter`` (the learned correction layer),
``quality`` (size, blur and brightness filters), ``tracker`` (stable face ids across frames).

May import: ``media``, ``record``, ``labels``, ``settings``, ``errors``, ``files``. Never Streamlit.
"""
