"""What an analyst's edits of the review table mean for the learning store."""

from __future__ import annotations

import pandas as pd


def corrections(before: pd.DataFrame, after: pd.DataFrame) -> dict[int, str]:
    """The labels to save: a picked label, or the prediction where only "correct" was ticked."""
    out = {}
    for (_, old), (_, new) in zip(before.iterrows(), after.iterrows()):
        label = new["label"] if isinstance(new["label"], str) and new["label"] else None
        if label and label != old["label"]:
            out[int(new["id"])] = label
        elif new["correct"] and not old["correct"] and not label:
            out[int(new["id"])] = str(new["predicted"])
    return out
