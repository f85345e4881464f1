"""Evaluation of a segmenter on a labelled dataset, in the talk's terms.

Per notion and image: BIoU_1 (IoU of the notion), BIoU_0 (IoU of its complement) and BIoU_both (their
mean); an image whose truth and prediction are both empty scores 1. Reported: means, and the fraction
of images whose BIoU_1 passes each threshold 0.50, 0.55, ..., 0.95. Click error in pixels where the
truth has a click (a missing predicted click is counted separately). ``robustness`` repeats the
evaluation on transformed images (90 degree rotation, flip, zoom change, illumination change) and
reports the drop of the mean BIoU_1. Where the images record their zoom level (simulated data),
``by_zoom`` gives the mean BIoU_1 per notion at each level: a stem two pixels wide at low zoom and
forty at high zoom are one notion whose IoU is decided by different things. Where they record an ice
crust on the loop's rim (``sample.ice_ring_arc_deg``), ``crust`` gives the share of the crust's
pixels outside the loop predicted loop (a loop drawn around the crust: the alignment refuses it) and
the share of the wire under the crust predicted loop. ``empty_field_report`` shows the segmenter fields with nothing
mounted (every real empty field, both spindle orientations) and counts those on which it reports a
notion or a click: a pin without a sample must come out empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from skimage.transform import rescale

from mxsight.notions import NOTIONS
from mxsight.training.background_swap import empty_fields
from mxsight.training.dataset_format import Example, LabelledDataset
from mxsight.vision.segmenter import Segmenter

THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def evaluate(segmenter: Segmenter, examples: Iterable[Example]) -> dict:
    scores = {notion: {"biou_1": [], "biou_0": []} for notion in NOTIONS}
    click_errors, missing_clicks, count, zooms = [], 0, 0, []
    crust = {"images": 0, "outside_px": 0, "outside_as_loop_px": 0, "under_px": 0, "under_as_loop_px": 0}
    for example in examples:
        prediction = segmenter.predict(example.image)
        count += 1
        zooms.append(example.metadata.get("zoom"))
        if example.metadata.get("sample", {}).get("ice_ring_arc_deg") is not None:
            _count_crust(crust, example, prediction.masks["loop"])
        for notion in NOTIONS:
            truth, predicted = example.masks[notion], prediction.masks[notion]
            scores[notion]["biou_1"].append(_iou(truth, predicted))
            scores[notion]["biou_0"].append(_iou(~truth, ~predicted))
        if example.click_px is not None:
            if prediction.click is None:
                missing_clicks += 1
            else:
                click_errors.append(float(np.hypot(*np.subtract(prediction.click, example.click_px))))
    if count == 0:
        raise ValueError("no images to evaluate")
    report = {"images": count, "segmenter": segmenter.describe(), "notions": {}}
    for notion, values in scores.items():
        one, zero = np.array(values["biou_1"]), np.array(values["biou_0"])
        report["notions"][notion] = {
            "biou_1": float(one.mean()),
            "biou_0": float(zero.mean()),
            "biou_both": float(((one + zero) / 2).mean()),
            "pass_fraction": {f"{t:.2f}": float((one >= t).mean()) for t in THRESHOLDS},
        }
    report["click_error_px"] = {
        "median": float(np.median(click_errors)) if click_errors else None,
        "mean": float(np.mean(click_errors)) if click_errors else None,
        "count": len(click_errors),
        "missing": missing_clicks,
    }
    if all(zoom is not None for zoom in zooms):
        report["by_zoom"] = _by_zoom(scores, np.array(zooms))
    if crust["images"]:
        report["crust"] = {
            "images": crust["images"],
            "outside_px": crust["outside_px"],
            "outside_as_loop": crust["outside_as_loop_px"] / max(crust["outside_px"], 1),
            "under_px": crust["under_px"],
            "under_as_loop": crust["under_as_loop_px"] / max(crust["under_px"], 1),
        }
    return report


def _count_crust(counts: dict[str, int], example: Example, predicted_loop: np.ndarray) -> None:
    """Add an image's crust pixels (ice outside the loop and its inside; ice on the loop) and those
    of them ``predicted_loop`` covers to ``counts``."""
    ice, loop = example.masks["ice"], example.masks["loop"]
    outside, under = ice & ~loop & ~example.masks["loop_inside"], ice & loop
    counts["images"] += 1
    counts["outside_px"] += int(np.count_nonzero(outside))
    counts["outside_as_loop_px"] += int(np.count_nonzero(outside & predicted_loop))
    counts["under_px"] += int(np.count_nonzero(under))
    counts["under_as_loop_px"] += int(np.count_nonzero(under & predicted_loop))


def _by_zoom(scores: dict[str, dict[str, list[float]]], zooms: np.ndarray) -> dict[str, dict]:
    """Images and mean BIoU_1 per notion at each zoom level (keys: the levels, as strings)."""
    return {
        str(level): {"images": int(np.count_nonzero(zooms == level)), "biou_1": {notion: float(np.mean(np.array(values["biou_1"])[zooms == level])) for notion, values in scores.items()}}
        for level in sorted(set(zooms.tolist()))
    }


def by_zoom_markdown(name: str, report: dict) -> str:
    """Table of ``report``'s BIoU_1 per zoom level (empty when the images record no zoom)."""
    if "by_zoom" not in report:
        return ""
    lines = [f"## BIoU_1 of {name} by zoom level", "", "| zoom | images | " + " | ".join(NOTIONS) + " |", "|---" * (2 + len(NOTIONS)) + "|"]
    for level, entry in report["by_zoom"].items():
        lines.append(f"| {level} | {entry['images']} | " + " | ".join(f"{entry['biou_1'][notion]:.3f}" for notion in NOTIONS) + " |")
    return "\n".join(lines) + "\n"


def _rotate(example: Example) -> Example:
    click = None if example.click_px is None else (example.image.shape[1] - 1 - example.click_px[1], example.click_px[0])
    return Example(np.rot90(example.image).copy(), {k: np.rot90(v).copy() for k, v in example.masks.items()}, click, example.metadata)


def _flip(example: Example) -> Example:
    click = None if example.click_px is None else (example.click_px[0], example.image.shape[1] - 1 - example.click_px[1])
    return Example(example.image[:, ::-1].copy(), {k: v[:, ::-1].copy() for k, v in example.masks.items()}, click, example.metadata)


def _zoom_out(example: Example, factor: float = 0.7) -> Example:
    image = (rescale(example.image, factor, channel_axis=2, preserve_range=True, anti_aliasing=True)).astype(np.uint8)
    masks = {k: rescale(v.astype(float), factor, order=0) > 0.5 for k, v in example.masks.items()}
    click = None if example.click_px is None else (example.click_px[0] * factor, example.click_px[1] * factor)
    return Example(image, masks, click, example.metadata)


def _darker(example: Example) -> Example:
    image = np.clip(255.0 * (example.image / 255.0 * 0.7) ** 1.2, 0, 255).astype(np.uint8)
    return Example(image, example.masks, example.click_px, example.metadata)


TRANSFORMS: dict[str, Callable[[Example], Example]] = {
    "rotate 90": _rotate,
    "flip": _flip,
    "zoom x0.7": _zoom_out,
    "darker (x0.7, gamma 1.2)": _darker,
}


EMPTY_FIELD_MIN_AREA_FRACTION = 0.001


def empty_field_report(segmenter: Segmenter, fields: np.ndarray, *, noise_seed: int = 0) -> dict:
    """``fields`` (n, rows, cols, 3) empty fields, seen as they are and transposed (the other spindle
    orientation) with camera noise (sigma 2 grey levels): per notion, the share of views where the
    notion covers more than ``EMPTY_FIELD_MIN_AREA_FRACTION`` of the image and the largest share of
    the image it covers; and the share of views with a predicted click."""
    rng = np.random.default_rng(noise_seed)
    views = list(fields) + [np.swapaxes(field, 0, 1) for field in fields]
    if not views:
        raise ValueError("no empty fields to evaluate")
    areas = {notion: [] for notion in NOTIONS}
    clicks = 0
    for view in views:
        image = np.clip(view + rng.normal(0.0, 2.0, view.shape), 0, 255).astype(np.uint8)
        prediction = segmenter.predict(image)
        for notion in NOTIONS:
            areas[notion].append(float(np.count_nonzero(prediction.masks[notion])) / prediction.masks[notion].size)
        clicks += prediction.click is not None
    return {
        "views": len(views),
        "min_area_fraction": EMPTY_FIELD_MIN_AREA_FRACTION,
        "notions": {
            notion: {"views_with_notion": float(np.mean(np.array(values) > EMPTY_FIELD_MIN_AREA_FRACTION)), "max_area_fraction": float(np.max(values))}
            for notion, values in areas.items()
        },
        "views_with_click": clicks / len(views),
    }


def empty_field_markdown(reports: dict[str, dict]) -> str:
    """Side-by-side table of several segmenters' empty-field reports (name -> report)."""
    names = list(reports)
    first = reports[names[0]]
    lines = [
        f"## Empty fields ({first['views']} views with nothing mounted: share of views where a notion covers more than {100 * first['min_area_fraction']:.1f}% of the image; largest area)",
        "",
        "| notion | " + " | ".join(f"{n} views | {n} max area" for n in names) + " |",
        "|---" * (1 + 2 * len(names)) + "|",
    ]
    for notion in NOTIONS:
        cells = []
        for name in names:
            entry = reports[name]["notions"][notion]
            cells += [f"{entry['views_with_notion']:.2f}", f"{100 * entry['max_area_fraction']:.2f}%"]
        lines.append(f"| {notion} | " + " | ".join(cells) + " |")
    lines.append("| click | " + " | ".join(f"{reports[n]['views_with_click']:.2f} | -" for n in names) + " |")
    return "\n".join(lines) + "\n"


def mean_biou_1(report: dict, notions: Iterable[str]) -> float:
    return float(np.mean([report["notions"][n]["biou_1"] for n in notions]))


def robustness(segmenter: Segmenter, examples: list[Example], notions: Iterable[str] = ("foreground", "pin", "stem", "loop", "loop_inside")) -> dict:
    notions = tuple(notions)
    baseline = mean_biou_1(evaluate(segmenter, examples), notions)
    result = {"notions": list(notions), "baseline_mean_biou_1": baseline, "transforms": {}}
    for name, transform in TRANSFORMS.items():
        score = mean_biou_1(evaluate(segmenter, [transform(e) for e in examples]), notions)
        result["transforms"][name] = {"mean_biou_1": score, "drop": baseline - score}
    return result


def markdown(reports: dict[str, dict]) -> str:
    """Side-by-side table of several segmenters' reports (name -> report)."""
    names = list(reports)
    lines = ["| notion | " + " | ".join(f"{n} BIoU_1 | {n} BIoU_0 | {n} both" for n in names) + " |"]
    lines.append("|---" * (1 + 3 * len(names)) + "|")
    for notion in NOTIONS:
        cells = []
        for name in names:
            entry = reports[name]["notions"][notion]
            cells += [f"{entry['biou_1']:.3f}", f"{entry['biou_0']:.3f}", f"{entry['biou_both']:.3f}"]
        lines.append(f"| {notion} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| notion | " + " | ".join(f"{n} pass@{t:.2f}" for n in names for t in (0.5, 0.75, 0.9)) + " |")
    lines.append("|---" * (1 + 3 * len(names)) + "|")
    for notion in NOTIONS:
        cells = [f"{reports[n]['notions'][notion]['pass_fraction'][f'{t:.2f}']:.2f}" for n in names for t in (0.5, 0.75, 0.9)]
        lines.append(f"| {notion} | " + " | ".join(cells) + " |")
    lines.append("")
    for name in names:
        click = reports[name]["click_error_px"]
        median = "-" if click["median"] is None else f"{click['median']:.1f} px"
        lines.append(f"- {name}: click error median {median} over {click['count']} images, {click['missing']} without a predicted click; {reports[name]['images']} images")
        if "crust" in reports[name]:
            crust = reports[name]["crust"]
            lines.append(f"- {name}: on the {crust['images']} images with an ice crust on the rim, {100 * crust['outside_as_loop']:.1f}% of the crust's pixels outside the loop are predicted loop, {100 * crust['under_as_loop']:.1f}% of the loop under it")
    return "\n".join(lines) + "\n"


def _network(model: str) -> Segmenter:
    from mxsight.vision.network_segmenter import NetworkSegmenter

    return NetworkSegmenter.shipped() if model == "default" else NetworkSegmenter.load(model)


def _identity(model: str, segmenter: Segmenter) -> dict[str, str]:
    """What was evaluated: the path (resolved) or "default", and the version the segmenter reports."""
    path = model if model in ("default", "classical") else str(Path(model).resolve())
    return {"model": path, "version": str(getattr(segmenter, "version", ""))}


def report_paths(out: Path | str) -> tuple[Path, Path]:
    """The .md and .json files of the report ``out`` names: ``out`` with those suffixes added, so a
    name such as ``blend-0.75`` keeps its dot (a .md or .json suffix given is replaced)."""
    out = Path(out)
    if out.suffix in (".md", ".json"):
        out = out.with_suffix("")
    return out.with_name(out.name + ".md"), out.with_name(out.name + ".json")


def evaluate_command(model: str, data: Path, out: Path, *, limit: int | None, with_robustness: bool, compare: str | None = None) -> str:
    """Evaluate ``model`` (a .keras path, "default" for the shipped model, or "classical"), ``compare``
    (another model, e.g. the current default against a fine-tuned one) and the classical baseline on
    the same images; write ``out``.md and ``out``.json (with ``evaluated``: which models, which data)
    and return the Markdown."""
    dataset = LabelledDataset(data)
    examples = [dataset[i] for i in range(min(limit or len(dataset), len(dataset)))]
    segmenters: dict[str, Segmenter] = {}
    if model != "classical":
        segmenters["model"] = _network(model)
    if compare is not None:
        segmenters["compare"] = _network(compare)
    segmenters["classical"] = Segmenter.classical()
    reports = {name: evaluate(segmenter, examples) for name, segmenter in segmenters.items()}
    text = f"# Evaluation on {data} ({len(examples)} images)\n\n" + markdown(reports)
    text += "".join(f"\n{table}" for table in (by_zoom_markdown(name, report) for name, report in reports.items() if name != "classical") if table)
    fields, which = empty_fields(tuple(sorted(examples[0].image.shape[:2])))  # the horizontal-spindle shape
    for name, segmenter in segmenters.items():
        reports[name]["empty_fields"] = {"fields": which, **empty_field_report(segmenter, fields)}
    text += f"\n{empty_field_markdown({name: report['empty_fields'] for name, report in reports.items()})}\nFields: {which}.\n"
    if with_robustness:
        for name, segmenter in segmenters.items():
            result = robustness(segmenter, examples)
            reports[name]["robustness"] = result
            text += f"\n## Robustness of {name} (mean BIoU_1 over {', '.join(result['notions'])}: {result['baseline_mean_biou_1']:.3f})\n\n"
            text += "| transform | mean BIoU_1 | drop |\n|---|---|---|\n"
            for transform, entry in result["transforms"].items():
                text += f"| {transform} | {entry['mean_biou_1']:.3f} | {entry['drop']:+.3f} |\n"
    evaluated = {"data": str(Path(data).resolve()), "images": len(examples)}
    evaluated.update({name: _identity(path, segmenters[name]) for name, path in (("model", model), ("compare", compare)) if name in segmenters})
    markdown_path, json_path = report_paths(out)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(text)
    json_path.write_text(json.dumps({"evaluated": evaluated, **reports}, indent=2))
    return text
