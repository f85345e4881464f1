"""``mxsight model promote``: make a fine-tuned model the default, on the record.

A model becomes the default only through this command, and only with an evaluation
(``mxsight evaluate --model NEW --compare default``) that scored it and the current default on the same
images. Both evaluations go into the new model card (``default.json``); the replaced model is kept
under ``previous/``. The site's models folder is ``$MXSIGHT_MODELS_DIR`` (read before the package's
own models by ``Segmenter.default()``).
"""

from __future__ import annotations

import json
import shutil
import time
from importlib import resources
from pathlib import Path

import numpy as np

from mxsight.notions import NOTIONS
from mxsight.training.real_evaluation import best_default, rank_key
from mxsight.vision.model_files import SETTINGS, SHIPPED_MODEL, models_directory

COMPARED_NOTIONS = ("foreground", "pin", "stem", "loop", "loop_inside", "crystal")
# How much BIoU_1 a notion may lose on the simulated evaluation against the current default: a model
# chosen for real frames may give up a little of the simulator's, no more (issue 29's rule).
SIMULATED_DROP_ALLOWED = 0.02
SAMPLE_NOTIONS = ("foreground", "loop")  # what a plan takes for a sample: neither may appear on an empty field


class PromotionRefused(ValueError):
    """The evaluation does not show the model to promote against the current default."""


def _scores(report: dict) -> dict[str, float]:
    return {notion: float(report["notions"][notion]["biou_1"]) for notion in NOTIONS}


def _empty_field_views(report: dict) -> float | None:
    """Share of empty-field views (nothing mounted) on which the segmenter reports a sample
    (``SAMPLE_NOTIONS``), from ``mxsight evaluate``'s empty-field check; None for older evaluations."""
    fields = report.get("empty_fields")
    if fields is None:
        return None
    return max(float(fields["notions"][notion]["views_with_notion"]) for notion in SAMPLE_NOTIONS)


def _current_default(models_dir: Path) -> Path:
    """The default model that promoting into ``models_dir`` replaces: the one there, else the one
    ``Segmenter.default()`` reads now."""
    if (models_dir / SHIPPED_MODEL).exists():
        return models_dir / SHIPPED_MODEL
    try:
        return models_directory() / SHIPPED_MODEL
    except FileNotFoundError:  # MXSIGHT_MODELS_DIR names the folder this first promotion creates
        return Path(str(resources.files("mxsight") / "models")) / SHIPPED_MODEL


def _real_frames(real_evaluation: Path | str | None, model: Path, current_version: str, force: bool) -> tuple[dict, str | None]:
    """The record of the held-out real frames' evaluation (``mxsight evaluate --model NEW --compare
    default --real evaluation``) and the default segmenter it chooses; refuses, without ``force``,
    a model that finds fewer loops or a worse loop region there than the current default, or no
    such evaluation."""
    if real_evaluation is None:
        if not force:
            raise PromotionRefused(
                f"no evaluation on the held-out real frames: run mxsight evaluate --model {model} --compare default --real evaluation "
                "--out REAL and pass --real-evaluation REAL.json (or --force)"
            )
        return {"evaluated": False}, None
    report = json.loads(Path(real_evaluation).read_text())
    evaluated = report.get("evaluated", {})
    if report.get("split") != "evaluation" or evaluated.get("model", {}).get("model") != str(model):
        raise PromotionRefused(f"{real_evaluation} is not an evaluation of {model} on the held-out real frames (--real evaluation)")
    if evaluated.get("compare", {}).get("model") != "default" or evaluated["compare"].get("version") != current_version:
        raise PromotionRefused(f"{real_evaluation} does not compare with the current default (version {current_version}): add --compare default")
    new, old = report["summary"]["model"], report["summary"]["compare"]
    worse = rank_key(new)[:2] < rank_key(old)[:2]
    if worse and not force:
        raise PromotionRefused(
            f"on the held-out real frames the new model finds {new['loop_found']['found']} of {new['loop_found']['frames']} loops "
            f"(loop region IoU {new['loop_region']['mean_iou']:.2f}), the default {old['loop_found']['found']} "
            f"(IoU {old['loop_region']['mean_iou']:.2f}); pass force=True (--force) to promote anyway"
        )
    record = {"evaluated": True, "file": str(Path(real_evaluation).resolve()), "new": new, "previous": old, "worse": worse}
    return record, best_default(report)


def promote(
    model: Path | str,
    evaluation: Path | str,
    models_dir: Path | str,
    *,
    version: str | None = None,
    force: bool = False,
    real_evaluation: Path | str | None = None,
) -> Path:
    """Copy ``model`` to ``models_dir``/default.keras with a card recording both evaluations; refuse
    when the evaluation is of another model, does not compare it with the current default (the
    ``--compare default`` evaluation of the same version), or (without ``force``) shows the new model
    losing more than ``SIMULATED_DROP_ALLOWED`` BIoU_1 on any of ``COMPARED_NOTIONS``, or seeing a sample on more empty fields than the
    default does (an empty pin would then be searched for as off screen), or finding fewer loops or a
    worse loop region on the held-out real frames (``real_evaluation``, required without ``force``).
    The card records which segmenter ``Segmenter.default()`` builds on the model (``default_segmenter``:
    the best on those frames). Returns the new card's path."""
    model, models_dir = Path(model).resolve(), Path(models_dir)
    if not model.is_file():
        raise FileNotFoundError(f"no model file at {model}")
    report = json.loads(Path(evaluation).read_text())
    evaluated = report.get("evaluated", {})
    if evaluated.get("model", {}).get("model") != str(model):
        raise PromotionRefused(f"{evaluation} evaluated {evaluated.get('model', {}).get('model')!r}, not {model}: evaluate this model first")
    current = _current_default(Path(models_dir))
    current_card_path = current.with_suffix(".json")
    current_card = json.loads(current_card_path.read_text()) if current_card_path.exists() else {}
    compared = evaluated.get("compare", {})
    if "compare" not in report or compared.get("model") != "default" or compared.get("version") != str(current_card.get("version", compared.get("version"))):
        raise PromotionRefused(
            f"{evaluation} does not compare with the current default (version {current_card.get('version', '?')}): "
            f"run mxsight evaluate --model {model} --compare default"
        )
    new, old = _scores(report["model"]), _scores(report["compare"])
    new_mean = float(np.mean([new[n] for n in COMPARED_NOTIONS]))
    old_mean = float(np.mean([old[n] for n in COMPARED_NOTIONS]))
    drops = {notion: old[notion] - new[notion] for notion in COMPARED_NOTIONS}
    worst = max(drops, key=drops.get)
    worse_scores = drops[worst] > SIMULATED_DROP_ALLOWED
    if worse_scores and not force:
        raise PromotionRefused(
            f"the new model's {worst} BIoU_1 is {new[worst]:.3f} against the default's {old[worst]:.3f}, a drop of {drops[worst]:.3f} "
            f"(at most {SIMULATED_DROP_ALLOWED} allowed for any notion); pass force=True (--force) to promote anyway"
        )
    new_empty, old_empty = _empty_field_views(report["model"]), _empty_field_views(report["compare"])
    worse_on_empty_fields = new_empty is not None and old_empty is not None and new_empty > old_empty
    if worse_on_empty_fields and not force:
        raise PromotionRefused(
            f"the new model reports a sample ({' or '.join(SAMPLE_NOTIONS)}) on {100 * new_empty:.0f}% of the empty fields, "
            f"the default on {100 * old_empty:.0f}%; pass force=True (--force) to promote anyway"
        )
    real, default_segmenter = _real_frames(real_evaluation, model, str(current_card.get("version", compared.get("version"))), force)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / SHIPPED_MODEL
    if target.exists():
        previous = models_dir / "previous"
        previous.mkdir(exist_ok=True)
        stamp = f"{current_card.get('version', 'unversioned')}-replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        while (previous / f"default-{stamp}.keras").exists():
            stamp += "+"
        shutil.move(str(target), previous / f"default-{stamp}.keras")
        if target.with_suffix(".json").exists():
            shutil.move(str(target.with_suffix(".json")), previous / f"default-{stamp}.json")
    shutil.copy2(model, target)
    # the inference settings carry over, except thresholds: calibrated per model, the new model's own
    carried = [key for key in (*SETTINGS, "architecture") if key != "thresholds"]
    card = {key: current_card[key] for key in carried if key in current_card}
    own_card_path = model.with_suffix(".json")
    own_card = json.loads(own_card_path.read_text()) if own_card_path.exists() else {}
    card.update({key: own_card[key] for key in ("thresholds", "thresholds_calibrated_on") if key in own_card})
    card["default_segmenter"] = default_segmenter or current_card.get("default_segmenter", "network")
    card.update(
        {
            "version": version or time.strftime("%Y.%m.%d-%H%M%S"),
            "promoted": {
                "time": time.time(),
                "from": str(model),
                "replaces": current_card.get("version", str(current)),
                "forced": bool(force and (worse_scores or worse_on_empty_fields or real.get("worse", not real["evaluated"]))),
                "real_frames": real,
                "evaluation_data": evaluated.get("data"),
                "evaluation_images": evaluated.get("images"),
                "new_biou_1": new,
                "previous_biou_1": old,
                "new_mean_biou_1": new_mean,
                "previous_mean_biou_1": old_mean,
                "new_empty_field_views_with_sample": new_empty,
                "previous_empty_field_views_with_sample": old_empty,
            },
        }
    )
    card_path = target.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=2))
    return card_path
