"""The README's main job: ``mxsight demo`` end to end, and Keras living beside the Tiled catalog."""

import subprocess
import sys

from PIL import Image

from mxsight.cli import main


def test_demo_prints_its_table_report_and_uid(tmp_path, capsys):
    report = tmp_path / "report.png"
    code = main(["demo", "--seed", "7", "--data-dir", str(tmp_path / "data"), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "outcome                         success" in out
    residual = float(out.split("residual from beam (um)")[1].split()[0])
    assert residual < 10
    assert "frames                          12" in out  # the sample starts in the fine view: no coarse sweep
    assert "centred target (model)          loop (circle)\n" in out
    assert "run uid:" in out and "read back:" in out
    with Image.open(report) as image:
        assert image.size[0] > 600 and image.size[1] > 400
    from mxsight.storage.tiled import PROCESS_API_KEY

    data = tmp_path / "data"
    printed = out + capsys.readouterr().err
    assert PROCESS_API_KEY not in printed and "api_key" not in printed
    for log in data.glob("*.log"):  # the server's access and error logs: private, and no key in them
        assert PROCESS_API_KEY not in log.read_text() and log.stat().st_mode & 0o077 == 0, log
    for folder in (data, data / "frames", data / "spool"):
        assert folder.stat().st_mode & 0o077 == 0, folder
    assert len(list((data / "spool" / "written").glob("*.jsonl"))) == 1  # the run, spooled then written


def test_keras_and_the_embedded_catalog_work_in_one_process(tmp_path):
    script = f"""
import mxsight
import keras
from bluesky import RunEngine
import bluesky.plans as bp
from ophyd.sim import det
from mxsight.storage.tiled import EmbeddedTiled
tiled = EmbeddedTiled.start({str(tmp_path)!r})
try:
    RE = RunEngine({{}})
    RE.subscribe(tiled.writer())
    (uid,) = RE(bp.count([det], 2, md={{"sample_id": "with-keras"}}))
    assert tiled.client[uid].metadata["start"]["sample_id"] == "with-keras"
    print("ok", keras.__version__)
finally:
    tiled.close()
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("ok")


def test_bad_input_on_the_command_line_is_one_line_not_a_traceback(tmp_path, capsys):
    from mxsight.cli import console_main

    missing = tmp_path / "nowhere.toml"
    assert console_main(["train", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mxsight: error: ") and str(missing) in err and "Traceback" not in err
    assert console_main(["dataset", "show", str(tmp_path), "--out", str(tmp_path / "sheet.png")]) == 2
    assert "not an mxsight dataset" in capsys.readouterr().err


def test_the_traceback_of_bad_input_is_shown_when_asked_for(tmp_path, monkeypatch):
    import pytest

    from mxsight.cli import console_main

    monkeypatch.setenv("MXSIGHT_TRACEBACK", "1")
    with pytest.raises(ValueError, match="cannot read training config"):
        console_main(["train", "--config", str(tmp_path / "nowhere.toml")])
