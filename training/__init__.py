"""Scripts that produce the shipped models in ``models/``, and the helpers they share (:mod:`training.common`).

Run them as modules from the repository root, e.g. ``.venv/bin/python -m training.train_audio``; they read every path
from :mod:`emotion.settings`.
"""
