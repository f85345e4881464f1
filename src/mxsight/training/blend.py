"""Blend a fine-tuned network with the network it started from, weight by weight.

Fine-tuning the default network on real-looking images teaches it other cameras but wears away part
of what it knew of the simulator's. Averaging the two networks' weights (Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022: WiSE-FT) keeps much of both, because a fine-tune from a
starting point stays in the same basin of the loss: ``weight`` 0 is the original network, 1 the
fine-tuned one. Choose ``weight`` on validation images (simulated and real), never on test images.
The blend is an ordinary model: calibrate its thresholds, evaluate and promote it like any other.
"""

from __future__ import annotations

import json
from pathlib import Path


def blend_weights(original: list, tuned: list, weight: float) -> list:
    """``(1 - weight) * original + weight * tuned`` for each pair of weight arrays."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0 (the original network) and 1 (the fine-tuned one), got {weight}")
    if [w.shape for w in original] != [w.shape for w in tuned]:
        raise ValueError(f"the two networks differ in architecture ({len(original)} and {len(tuned)} weight arrays, or other shapes): only a fine-tune of the original can be blended with it")
    return [(1.0 - weight) * a + weight * b for a, b in zip(original, tuned)]


def blend_models(original: Path | str, tuned: Path | str, weight: float, out: Path | str) -> Path:
    """Save the blend of two saved ``.keras`` models at ``out``, with a settings file ``<stem>.json``
    that records where it came from (thresholds are the blend's own: calibrate them next)."""
    import keras

    original, tuned, out = Path(original), Path(tuned), Path(out)
    for path in (original, tuned):
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}")
    if out.suffix != ".keras":
        raise ValueError(f"the blend is saved as a .keras file, got {out}")
    base = keras.saving.load_model(original, compile=False)
    model = keras.saving.load_model(tuned, compile=False)
    model.set_weights(blend_weights(base.get_weights(), model.get_weights(), weight))
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    card = {"blend": {"original": str(original.resolve()), "fine_tuned": str(tuned.resolve()), "weight": weight}}
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return out
