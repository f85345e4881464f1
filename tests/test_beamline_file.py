"""The beamline file's schema (``mxsight.beamline_file``): every shipped file passes, and every wrong
setting is one line naming the file, the table, the key, what was given and what is allowed, before
any device is built."""

import dataclasses
import shutil
import textwrap
import tomllib
from pathlib import Path

import pytest

import mxsight.beamline
from mxsight.beamline import load_beamline
from mxsight.beamline_file import AlignmentTable, read_beamline_file, validate_beamline_table
from mxsight.cli import console_main
from mxsight.devices.zoom import ZoomCalibration, ZoomLevel
from mxsight.geometry.centring import CentringGeometry
from mxsight.ioc.beamline_ioc import IocSettings
from mxsight.plans.confidence_limits import ConfidenceLimits

ROOT = Path(__file__).parents[1]
SIM_EPICS = ROOT / "configs" / "sim-epics"
BASE = {
    "beamline": {"kind": '"epics"', "name": '"test"'},
    "epics": {"goniometer_prefix": '"T:GONIO:"', "camera_prefix": '"T:OAV:"', "zoom_pv": '"T:OAV:Zoom"', "zoom_calibration": '"zoom.toml"'},
    "simulated": {"seed": "0"},
}


def _write(folder: Path, changes: dict[str, dict[str, str | None]], base: dict = BASE) -> Path:
    """A beamline file in ``folder`` (beside a copy of the sim-epics zoom calibration): ``base`` with
    each table's keys set to the TOML values in ``changes`` (None: removed)."""
    shutil.copy(SIM_EPICS / "zoom.toml", folder / "zoom.toml")
    tables = {name: dict(keys) for name, keys in base.items()}
    for name, keys in changes.items():
        table = tables.setdefault(name, {})
        for key, value in keys.items():
            table.pop(key, None) if value is None else table.__setitem__(key, value)
    text = "".join(f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items()) for name, keys in tables.items())
    path = folder / "beamline.toml"
    path.write_text(text)
    return path


def _error(path: Path) -> str:
    with pytest.raises(ValueError) as caught:
        read_beamline_file(path)
    return str(caught.value)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").rglob("beamline.toml")), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_shipped_beamline_file_passes_its_schema(path):
    settings = read_beamline_file(path)
    assert settings.beamline.kind in ("simulated", "epics")
    if settings.epics is not None:
        IocSettings.from_table(tomllib.loads(path.read_text()), source=str(path))


def test_the_documented_example_passes_its_schema():
    """The file format at the top of mxsight/beamline.py is a valid file."""
    doc = mxsight.beamline.__doc__
    block = doc[doc.index("    [beamline]"):doc.index("\n\n", doc.index("    [alignment]"))]
    settings = validate_beamline_table(tomllib.loads(textwrap.dedent(block)), "beamline.py's docstring")
    assert settings.epics.hdf5_plugin == "HDF1:" and settings.alignment.limits() == {"max_residual_rms_um": 1.75}


def test_shipped_zoom_calibrations_pass_and_round_trip():
    for path in [*sorted((ROOT / "configs").rglob("zoom.toml")), ROOT / "src" / "mxsight" / "config" / "zoom_sim.toml"]:
        calibration = ZoomCalibration.from_file(path)
        assert ZoomCalibration.from_table(tomllib.loads(calibration.to_toml("header")), source="round trip") == calibration
    measured = ZoomCalibration({2: ZoomLevel(1.5, (500.0, 600.5), 499.0)}, CentringGeometry("vertical", -1.0, 1.0), 'calibrate_camera "run"')
    assert ZoomCalibration.from_table(tomllib.loads(measured.to_toml()), source="round trip") == measured


BAD = [
    ({"beamline": {"kind": '"epic"'}}, "[beamline] kind must be 'simulated' or 'epics', got 'epic'"),
    ({"beamline": {"spindle": '"diagonal"'}}, "[beamline] spindle must be 'horizontal' or 'vertical', got 'diagonal'"),
    ({"beamline": {"name": '""'}}, "[beamline] name must not be empty, got ''"),
    ({"epics": {"frame_timeout_s": "-1"}}, "[epics] frame_timeout_s must be greater than 0, got -1"),
    ({"epics": {"frame_timeout_s": '"fast"'}}, "[epics] frame_timeout_s must be a number, got 'fast'"),
    ({"epics": {"connection_timeout_s": "0"}}, "[epics] connection_timeout_s must be greater than 0, got 0"),
    ({"epics": {"frame_timout_s": "3.0"}}, "[epics] has unknown key 'frame_timout_s' (did you mean 'frame_timeout_s'?)"),
    (
        {"epics": {"colour": "1"}},
        "[epics] has unknown key 'colour' (allowed keys: camera_prefix, connection_timeout_s, control_prefix, frame_shape, "
        "frame_timeout_s, goniometer_prefix, hdf5_plugin, ioc_write_directory, kappa, zoom_calibration, zoom_pv)",
    ),
    ({"epics": {"frame_shape": "[0, 5]"}}, "[epics] frame_shape[0] must be at least 16, got 0; [epics] frame_shape[1] must be at least 16, got 5"),
    ({"epics": {"frame_shape": "[1024]"}}, "[epics] frame_shape must have at least 2 items, got [1024]"),
    ({"epics": {"kappa": '"no"'}}, "[epics] kappa must be true or false, got 'no'"),
    ({"epics": {"kappa": "1"}}, "[epics] kappa must be true or false, got 1"),
    ({"epics": {"hdf5_plugin": "1"}}, "[epics] hdf5_plugin must be a string, got 1"),
    ({"epics": {"goniometer_prefix": None, "zoom_pv": None}}, "[epics] needs goniometer_prefix, zoom_pv"),
    ({"simulated": {"realistic_motion": '"no"'}}, "[simulated] realistic_motion must be true or false, got 'no'"),
    ({"simulated": {"frame_rate_hz": "2000"}}, "[simulated] frame_rate_hz must be at most 1000.0, got 2000"),
    ({"simulated": {"omega_speed_deg_s": "0"}}, "[simulated] omega_speed_deg_s must be greater than 0, got 0"),
    ({"simulated": {"seed": "-1", "zoom": "5.0"}}, "[simulated] seed must be at least 0, got -1; [simulated] zoom must be an integer, got 5.0"),
    (
        {"simulated": {"camera_mount": '"sideways"'}},
        "[simulated] camera_mount must be 'mirrored', 'rotated_180', 'rotated_270', 'rotated_90', 'standard' or 'transposed', got 'sideways'",
    ),
    ({"simulated": {"background_set": '"beach"'}}, "[simulated] background_set must be 'older_background' or 'background_mako_px2', got 'beach'"),
    ({"simulated": {"empty_pins": '["A-1", 2]'}}, "[simulated] empty_pins[1] must be a string, got 2"),
    ({"alignment": {"max_residual_rms_um": "0"}}, "[alignment] max_residual_rms_um must be greater than 0, got 0"),
    ({"alignment": {"min_crystal_fraction": "1.5"}}, "[alignment] min_crystal_fraction must be at most 1.0, got 1.5"),
    ({"alignment": {"min_frames": "2"}}, "[alignment] min_frames must be at least 4, got 2"),
    ({"alignment": {"max_residual_rms_px": "3.0"}}, "[alignment] has unknown key 'max_residual_rms_px' (did you mean 'max_residual_rms_um'?)"),
    ({"epcis": {"kappa": "true"}}, "has unknown table [epcis] (did you mean 'epics'?)"),
    (
        {"epics": {"frame_timeout_s": "-1", "kappa": '"no"'}, "simulated": {"realistic_motion": '"no"'}},
        "[simulated] realistic_motion must be true or false, got 'no'; "
        "[epics] kappa must be true or false, got 'no'; [epics] frame_timeout_s must be greater than 0, got -1",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[message.split(" must")[0].split(" has")[0].split(" needs")[0] for _, message in BAD])
def test_a_wrong_setting_is_one_line_naming_file_table_and_key(tmp_path, changes, message):
    path = _write(tmp_path, changes)
    assert _error(path) == f"{path}: {message}"


def test_kind_epics_needs_its_epics_table_and_zoom_calibration(tmp_path):
    path = _write(tmp_path, {}, base={"beamline": {"kind": '"epics"'}})
    assert _error(path) == f"{path}: [epics] needs goniometer_prefix, camera_prefix, zoom_pv, zoom_calibration"
    path = _write(tmp_path, {"epics": {"zoom_calibration": None}})
    assert _error(path) == f"{path}: [epics] needs zoom_calibration"


def test_a_zoom_calibration_is_a_file_that_exists_and_holds_a_calibration(tmp_path):
    path = _write(tmp_path, {"epics": {"zoom_calibration": '"optics/zoom.toml"'}})
    missing = (tmp_path / "optics" / "zoom.toml").resolve()
    assert _error(path) == f"{path}: [epics] zoom_calibration must name an existing file, got 'optics/zoom.toml' ({missing} does not exist)"
    path = _write(tmp_path, {"beamline": {"kind": '"simulated"'}, "simulated": {"zoom_calibration": '"bad.toml"'}})
    (tmp_path / "bad.toml").write_text("[levels.3]\npixel_size_um = 0\nbeam_position_px = [500, 600]\n")
    assert _error(path) == (
        f"{path}: [simulated] zoom_calibration names a bad zoom calibration: "
        f"{tmp_path / 'bad.toml'}: [levels.3] pixel_size_um must be greater than 0, got 0"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[levels.1]\npixel_size_um = -1.0\nbeam_position_px = [500, 600]\n", "[levels.1] pixel_size_um must be greater than 0, got -1.0"),
        ("[levels.1]\npixel_size_um = 2.0\nbeam_position_px = [500, nan]\n", "[levels.1] beam_position_px[1] must be a finite number, got nan"),
        ("[levels.1]\npixel_size_um = 2.0\nbeam_position_px = [500]\n", "[levels.1] beam_position_px must have at least 2 items, got [500]"),
        ("[levels.one]\npixel_size_um = 2.0\nbeam_position_px = [500, 600]\n", "[levels] key 'one' must be an integer, got 'one'"),
        (
            "[levels.1]\npixel_size_um = 2.0\nbeam_position_px = [500, 600]\nbeam = 3\n",
            "[levels.1] has unknown key 'beam' (allowed keys: beam_position_px, pixel_size_um, rotation_axis_px)",
        ),
        (
            "[camera]\nspindle = \"horizontal\"\nalong_sign = 2\n[levels.1]\npixel_size_um = 2.0\nbeam_position_px = [500, 600]\n",
            "[camera] along_sign must be 1 or -1, got 2",
        ),
        ("[camera]\nspindle = \"horizontal\"\n", "needs a [levels] table"),
    ],
    ids=["pixel size", "beam not finite", "beam short", "level name", "unknown key", "sign", "no levels"],
)
def test_a_wrong_zoom_calibration_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "zoom.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        ZoomCalibration.from_file(path)
    assert str(caught.value) == f"{path}: {message}"


def test_load_beamline_refuses_a_wrong_file_before_building_any_device(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a device was built from a wrong beamline file")

    monkeypatch.setattr("mxsight.devices.sim.make_sim_beamline", never)
    path = _write(tmp_path, {"beamline": {"kind": '"simulated"'}, "simulated": {"realistic_motion": '"no"'}})
    with pytest.raises(ValueError, match=r"beamline.toml: \[simulated\] realistic_motion must be true or false, got 'no'$"):
        load_beamline(path, tmp_path)
    path = _write(tmp_path, {"epics": {"frame_timeout_s": "-1"}})  # kind = "epics": nothing connects
    with pytest.raises(ValueError, match=r"beamline.toml: \[epics\] frame_timeout_s must be greater than 0, got -1$"):
        load_beamline(path, tmp_path)
    with pytest.raises(ValueError, match=r"^beamline config: \[beamline\] spindle must be 'horizontal' or 'vertical', got 'diagonal'$"):
        load_beamline({"beamline": {"spindle": "diagonal"}}, tmp_path)


def test_a_simulated_file_sets_speeds_and_alignment_limits(tmp_path):
    changes = {
        "beamline": {"kind": '"simulated"', "spindle": '"vertical"'},
        "simulated": {"zoom": "3", "realistic_motion": "true", "omega_speed_deg_s": "90", "frame_rate_hz": "20", "empty_pins": '["E-1"]'},
        "alignment": {"max_residual_rms_um": "2", "min_frames": "6"},
    }
    beamline = load_beamline(_write(tmp_path, changes), tmp_path)
    assert beamline.name == "test" and beamline.camera.frame_shape == (1360, 1024) and int(beamline.zoom.level.get()) == 3
    assert beamline.camera.frame_rate_hz == 20.0 and beamline.sample_changer.empty_pins == {"E-1"}
    limits = beamline.sweeps[-1].limits
    assert (limits.max_residual_rms_um, limits.min_frames) == (2.0, 6)


def test_the_ioc_reads_the_same_schema(tmp_path):
    path = _write(tmp_path, {"epics": {"frame_timeout_s": '"fast"', "zoom_calibration": None}})
    with pytest.raises(ValueError) as caught:
        IocSettings.from_table(tomllib.loads(path.read_text()), source=str(path))
    assert str(caught.value) == f"{path}: [epics] frame_timeout_s must be a number, got 'fast'"  # no zoom calibration needed
    table = {"beamline": {"kind": "simulated"}, "simulated": {"realistic_motion": True, "frame_rate_hz": 25, "camera_mount": "mirrored"}}
    with pytest.raises(ValueError) as caught:
        IocSettings.from_table(table, source="ioc.toml")
    assert str(caught.value) == "ioc.toml: [epics] needs goniometer_prefix, camera_prefix, zoom_pv"
    table["epics"] = {"goniometer_prefix": "G:", "camera_prefix": "C:", "zoom_pv": "Z"}
    settings = IocSettings.from_table(table)
    assert (settings.control_prefix, settings.frame_rate_hz, settings.camera_mount, settings.speeds()["deg"]) == ("C:SIM:", 25.0, "mirrored", 180.0)


def test_confidence_limits_read_their_table_through_the_schema():
    assert {field.name for field in dataclasses.fields(ConfidenceLimits)} == set(AlignmentTable.model_fields)
    assert ConfidenceLimits.from_table({"max_residual_rms_um": 3, "min_frames": 8}) == ConfidenceLimits(max_residual_rms_um=3.0, min_frames=8)
    with pytest.raises(ValueError) as caught:
        ConfidenceLimits.from_table({"max_move_sigma_um": "3"}, source="file.toml: [alignment]")
    assert str(caught.value) == "file.toml: [alignment] max_move_sigma_um must be a number, got '3'"


def test_the_console_reports_a_wrong_beamline_file_as_one_line(tmp_path, capsys):
    path = _write(tmp_path, {"epics": {"frame_timeout_s": "-1"}})
    assert console_main(["ioc", "--beamline", str(path), "--list-pvs"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"mxsight: error: {path}: [epics] frame_timeout_s must be greater than 0, got -1\n"
    assert captured.out == ""


@pytest.mark.parametrize("command", [["shell"], ["queue", "serve"]])
def test_shell_and_queue_refuse_a_wrong_beamline_file_before_starting(tmp_path, capsys, command):
    path = _write(tmp_path, {"epics": {"frame_timeout_s": "-1"}})
    assert console_main([*command, "--beamline", str(path), *(["--data-dir", str(tmp_path / "data")] if command[0] == "queue" else [])]) == 2
    assert capsys.readouterr().err == f"mxsight: error: {path}: [epics] frame_timeout_s must be greater than 0, got -1\n"
    assert not (tmp_path / "data").exists()

