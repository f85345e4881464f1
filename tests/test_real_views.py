"""Training data from real frames: views of the training split's labelled frames, and empty fields of
many cameras; the evaluation split never enters either. The shared-data tests skip, saying so, when
../shared/data is absent."""

import numpy as np
import pytest

from mxsight.training.background_swap import training_empty_fields
from mxsight.training.dataset_format import LabelledDataset
from mxsight.training.real_data import empty_field_paths
from mxsight.training.real_views import real_training_views, write_real_training_views


@pytest.fixture(scope="module")
def root(real_root):
    return real_root


def test_the_evaluation_split_is_never_written_as_training_data():
    with pytest.raises(ValueError, match="evaluation split is held out"):
        next(real_training_views("evaluation"))
    with pytest.raises(ValueError, match="views_per_frame"):
        next(real_training_views(views_per_frame=0))


def test_views_of_each_training_frame_keep_their_labels(root, tmp_path):
    count = write_real_training_views(tmp_path / "real", views_per_frame=3, shape_px=(64, 80), seed=1, root=root)
    dataset = LabelledDataset(tmp_path / "real")
    assert count == len(dataset) == 15  # 5 training frames, 3 views each
    paths = set()
    for index in range(len(dataset)):
        example = dataset[index]
        assert example.image.shape == (64, 80, 3)
        assert example.metadata["origin"] == "real" and example.metadata["split"] == "training"
        paths.add(example.metadata["real_path"])
        for notion in ("loop", "loop_inside", "crystal", "stem", "pin"):
            assert not (example.masks[notion] & ~example.masks["foreground"]).any(), notion
    assert len(paths) == 5
    whole = [dataset[i] for i in range(0, 15, 3)]
    assert sum(int(view.masks["foreground"].any()) for view in whole) == 4  # one frame shows nothing mounted


def test_training_empty_fields_are_the_training_setups_and_synthetic_ones(root):
    fields, which = training_empty_fields((32, 40), synthetic=6)
    real = len(empty_field_paths("training", root=root))
    assert len(fields) == real + 6 and real > 100
    assert f"{real} real empty fields of the training split and 6 synthetic" in which
    held_out = {path.name for path in empty_field_paths("evaluation", root=root)}
    assert not held_out & {path.name for path in empty_field_paths("training", root=root)}
    assert fields.dtype == np.uint8 and fields.shape[1:] == (32, 40, 3)
