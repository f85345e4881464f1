"""A facility scores mxsight on its own labelled frames and empty fields before trusting it:
``mxsight evaluate --real evaluation --splits FILE`` runs the real-frames table on frames the
project never had (needs no shared data)."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from skimage.draw import ellipse

from mxsight.cli import main
from mxsight.training.labelme_export import write_labelme
from mxsight.training.real_data import RealDataMissing
from mxsight.training.real_overlays import CAPTION_PX, EMPTY_FIELDS_SHEET, LEGEND_PX, TILE_PX, EvaluationPictures
from mxsight.vision.overlay import OVERLAY_COLOURS
from mxsight.vision.prediction import Prediction

SHAPE = (240, 320)


def _mounted_sample(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A back-lit frame of a pin entering from the right, a stem and an empty loop, with its masks."""
    masks = {name: np.zeros(SHAPE, bool) for name in ("pin", "stem", "loop", "loop_inside")}
    masks["pin"][95:145, 250:] = True
    masks["stem"][114:126, 170:250] = True
    masks["loop"][ellipse(120, 130, 45, 42, shape=SHAPE)] = True
    masks["loop_inside"][ellipse(120, 130, 39, 36, shape=SHAPE)] = True
    masks["foreground"] = masks["pin"] | masks["stem"] | masks["loop"]
    image = np.full(SHAPE, 205.0)
    image[masks["loop"] & ~masks["loop_inside"]] = 45.0  # the wire
    image[masks["loop_inside"]] = 175.0  # a thin film
    image[masks["stem"]] = 60.0
    image[masks["pin"]] = 35.0
    image += rng.normal(0.0, 2.0, SHAPE)
    return np.repeat(np.clip(image, 0, 255).astype(np.uint8)[..., None], 3, axis=-1), masks


def _write_facility_data(folder, rng) -> None:
    """Frames as a facility keeps them: labelme files beside their images, empty fields in a folder."""
    (folder / "frames").mkdir(parents=True)
    image, masks = _mounted_sample(rng)
    Image.fromarray(image).save(folder / "frames" / "sample.png")
    write_labelme(folder / "frames" / "sample.json", masks, folder / "frames" / "sample.png", click_px=(120.0, 130.0))
    (folder / "empty").mkdir()
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    vignetted = 210.0 - 40.0 * (((rows - 120) / 240) ** 2 + ((cols - 160) / 320) ** 2)
    for index, field in enumerate((np.full(SHAPE, 205.0), vignetted)):
        noisy = np.clip(field + rng.normal(0.0, 2.0, SHAPE), 0, 255).astype(np.uint8)
        Image.fromarray(np.repeat(noisy[..., None], 3, axis=-1)).save(folder / "empty" / f"field_{index}.png")
    (folder / "splits.toml").write_text(
        '[evaluation]\nlabelled = ["frames/sample.png"]\nempty_field_setups = ["empty"]\n\n[training]\n'
    )


def test_a_facility_scores_its_own_frames_and_empty_fields(tmp_path):
    _write_facility_data(tmp_path / "ours", np.random.default_rng(7))
    out = tmp_path / "report-v0.5"  # a dot in the name is kept, not taken for a suffix
    main(["evaluate", "--model", "classical", "--real", "evaluation", "--splits", str(tmp_path / "ours" / "splits.toml"), "--out", str(out)])
    report = json.loads((tmp_path / "report-v0.5.json").read_text())
    assert [row["frame"] for row in report["frames"]] == ["frames/sample.png"]
    scores = report["frames"][0]["scores"]["classical"]
    assert scores["foreground"] > 0.95 and scores["pin"] > 0.95 and scores["stem"] > 0.85
    assert scores["loop_found"] is True and scores["loop_region"] > 0.9
    assert report["empty_fields"]["classical"]["fields"] == 2
    assert report["empty_fields"]["classical"]["judged_empty"] == 2
    assert report["splits_file"].endswith("splits.toml")
    assert "frames/sample.png" in (tmp_path / "report-v0.5.md").read_text()


def test_the_evaluation_draws_each_frame_and_the_fields_it_got_wrong(tmp_path):
    _write_facility_data(tmp_path / "ours", np.random.default_rng(7))
    pictures = tmp_path / "pictures"
    main(["evaluate", "--model", "classical", "--real", "evaluation", "--splits", str(tmp_path / "ours" / "splits.toml"),
          "--out", str(tmp_path / "report"), "--overlays", str(pictures)])
    drawn = np.asarray(Image.open(pictures / "frames__sample.png").convert("RGB")).astype(int)
    rows, cols = TILE_PX[0] + CAPTION_PX + LEGEND_PX, 2 * TILE_PX[1]
    assert drawn.shape == (rows, cols, 3)  # the truth, then the classical baseline
    wire = (np.array([45, 45, 45]) * 0.55 + np.array(OVERLAY_COLOURS["loop"]) * 255 * 0.45).astype(int)
    on_wire = np.all(np.abs(drawn - wire) <= 6, axis=-1)  # the loop's wire, tinted as the loop
    truth_tile, classical_tile = on_wire[:, : TILE_PX[1]], on_wire[:, TILE_PX[1] :]
    assert truth_tile.sum() > 500 and abs(int(classical_tile.sum()) - int(truth_tile.sum())) < 0.2 * truth_tile.sum()
    assert not (pictures / EMPTY_FIELDS_SHEET).exists()  # both fields judged empty: nothing to show


def test_empty_fields_with_a_reported_sample_are_drawn_on_one_sheet(tmp_path):
    field = np.full(SHAPE + (3,), 200, np.uint8)
    pictures = EvaluationPictures(tmp_path)
    nothing = Prediction.empty(SHAPE)
    speck = Prediction.empty(SHAPE)
    speck.masks["loop"][100:110, 100:110] = True
    speck = dataclasses.replace(speck, present=True)
    pictures.empty_field("a/field_0.png", field, {"network": nothing})
    pictures.empty_field("a/field_1.png", field, {"network": speck})
    pictures.empty_field("a/field_2.png", field, {"network": speck})
    assert pictures.close() == [tmp_path / EMPTY_FIELDS_SHEET]
    sheet = Image.open(tmp_path / EMPTY_FIELDS_SHEET)
    assert sheet.size == (2 * TILE_PX[1], 2 * (TILE_PX[0] + CAPTION_PX))  # two fields, each beside the speck taken for a sample


def test_a_frame_without_labels_beside_it_is_named(tmp_path):
    _write_facility_data(tmp_path / "ours", np.random.default_rng(7))
    (tmp_path / "ours" / "frames" / "sample.json").unlink()
    with pytest.raises(RealDataMissing, match=r"labels of frames/sample.png not found at .*ours/frames/sample.json"):
        main(["evaluate", "--model", "classical", "--real", "evaluation", "--splits", str(tmp_path / "ours" / "splits.toml"), "--out", str(tmp_path / "r")])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--data", "DIR", "--splits", "DIR/splits.toml"], "--splits and --data-root go with --real"),
        (["--real", "evaluation", "--data-root", "DIR"], "--data-root goes with --splits"),
        (["--data", "DIR", "--overlays", "DIR/pictures"], "--overlays goes with --real"),
        (["--real", "evaluation", "--splits", "DIR/missing.toml"], "no splits file at .*missing.toml"),
    ],
)
def test_misused_own_frame_options_are_named(tmp_path, arguments, message):
    arguments = [a.replace("DIR", str(tmp_path)) for a in arguments]
    with pytest.raises(ValueError, match=message):
        main(["evaluate", "--model", "classical", *arguments])
