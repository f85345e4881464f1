import os
import subprocess
import sys
from pathlib import Path

STARTUP = Path(__file__).parents[1] / "profile_collection" / "startup" / "00-mxsight.py"


def test_profile_startup_runs_an_alignment(tmp_path):
    script = f"""
import runpy
namespace = runpy.run_path({str(STARTUP)!r})
RE, auto_centre = namespace["RE"], namespace["auto_centre"]
result = RE(auto_centre(namespace["camera"], namespace["gonio"], namespace["zoom"], sample_id="profile"))
assert result.exit_status == "success"
assert len(list(namespace["find_alignments"](namespace["catalog"], sample_id="profile"))) == 1
print("ok")
namespace["tiled"].close()
"""
    env = {**os.environ, "MXSIGHT_DATA": str(tmp_path / "data"), "MXSIGHT_SEED": "11"}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "ok" in completed.stdout
