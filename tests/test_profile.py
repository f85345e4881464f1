"""The IPython profile: ``mxsight shell`` starts IPython with the numbered start-up files, which build the
RunEngine, Tiled, the beamline and the plans; an alignment run in it is recorded and can be shown."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mxsight.beamline import load_beamline
from mxsight.cli import find_profile_dir

PROFILE = Path(__file__).parents[1] / "profile_collection"


def test_startup_files_are_numbered_in_the_beamline_layout():
    names = sorted(p.name for p in (PROFILE / "startup").glob("*.py"))
    assert names == ["00-base.py", "10-beamline.py", "20-plans.py", "25-queue.py", "30-helpers.py"]
    assert find_profile_dir(Path(__file__).parent) == PROFILE


def test_shell_runs_an_alignment_and_shows_it(tmp_path):
    code = (
        "result = RE(auto_centre(camera, gonio, zoom, sample_id='profile')); "
        "assert result.exit_status == 'success'; "
        "assert len(find_alignments(catalog, sample_id='profile')) == 1; "
        "figure = show_last_alignment(); figure.savefig('shown.png'); print('ok', len(figure.axes))"
    )
    env = {**os.environ, "MXSIGHT_DATA": str(tmp_path / "data"), "MXSIGHT_SEED": "11", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "mxsight.cli", "shell", "--profile-dir", str(PROFILE), "-c", code]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    assert "mxsight ready on simulated" in completed.stdout
    assert "ok 5" in completed.stdout
    assert (tmp_path / "shown.png").stat().st_size > 10_000


def test_beamline_config_errors_name_the_problem(tmp_path):
    config = tmp_path / "beamline.toml"
    config.write_text('[beamline]\nkind = "tango"\n')
    with pytest.raises(ValueError, match="kind must be 'simulated' or 'epics', got 'tango'"):
        load_beamline(config, tmp_path)
    config.write_text('[beamline]\nkind = "epics"\n[epics]\ncamera_prefix = "X:"\n')
    with pytest.raises(ValueError, match="needs goniometer_prefix, zoom_pv, zoom_calibration"):
        load_beamline(config, tmp_path)
    config.write_text('[beamline]\nspindle = "vertical"\n[simulated]\nseed = 4\nzoom = 3\n')
    beamline = load_beamline(config, tmp_path)
    assert beamline.camera.frame_shape == (1360, 1024) and int(beamline.zoom.level.get()) == 3
