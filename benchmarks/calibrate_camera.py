"""Does ``calibrate_camera`` recover the camera's pixel size, orientation and rotation axis?

    python benchmarks/calibrate_camera.py [--mounts standard mirrored rotated_90] [--seeds 0 1 2] [--levels 1 3 5 7 9 10]

For each camera mount of the simulated beamline (how the camera sees the renderer's view: as it is,
mirrored, turned by 90 degrees, ...) and each seeded sample, the plan runs on a beamline whose zoom
calibration is what a beamline file holds before calibration (the beam marker right, pixel sizes 3% off,
no orientation), against the simulator's true values (``mxsight.devices.sim.true_calibration``). The
table gives, per mount, the worst pixel-size error over samples and levels, the worst rotation-axis
error, whether the orientation (spindle axis and both signs) came out exactly, failures, and the time
per level. The target (issue 30): pixel size within 0.5%, orientation exact.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from bluesky import RunEngine

from mxsight.devices.sim import make_sim_beamline, true_calibration
from mxsight.devices.zoom import ZoomCalibration, ZoomLevel
from mxsight.geometry.camera_calibration import CalibrationFailed
from mxsight.plans.calibrate_camera import calibrate_camera
from mxsight.sim.camera_mount import CameraMount

NOMINAL_ERROR = 1.03  # the uncalibrated file's pixel sizes are this many times the true ones


def uncalibrated(mount: CameraMount) -> ZoomCalibration:
    truth = true_calibration(mount)
    return ZoomCalibration({key: ZoomLevel(NOMINAL_ERROR * level.pixel_size_um, level.beam_position_px) for key, level in truth.levels.items()})


def one_mount(RE, mount_name: str, seeds: list[int], levels: list[int], directory: str) -> dict[str, object]:
    mount = CameraMount.named(mount_name)
    truth = true_calibration(mount)
    worst_pixel, worst_axis, exact, failures, seconds = 0.0, 0.0, 0, [], 0.0
    for seed in seeds:
        beamline = make_sim_beamline(seed=seed, zoom_level=levels[0], write_directory=directory, mount=mount, calibration=uncalibrated(mount))
        started = time.perf_counter()
        try:
            calibration = RE(calibrate_camera(beamline.camera, beamline.goniometer, beamline.zoom, levels=levels)).plan_result
        except CalibrationFailed as error:
            failures.append(f"seed {seed}: {error}")
            continue
        finally:
            seconds += time.perf_counter() - started
        exact += calibration.geometry == truth.geometry
        for level in levels:
            worst_pixel = max(worst_pixel, abs(calibration[level].pixel_size_um / truth[level].pixel_size_um - 1.0))
            worst_axis = max(worst_axis, abs(calibration[level].rotation_axis_px - truth[level].rotation_axis_px))
    return {
        "mount": mount_name,
        "samples": len(seeds),
        "orientation exact": f"{exact}/{len(seeds) - len(failures)}",
        "worst pixel size error (%)": f"{100 * worst_pixel:.3f}",
        "worst rotation axis error (px)": f"{worst_axis:.2f}",
        "refused": len(failures),
        "s per level": f"{seconds / (len(seeds) * len(levels)):.2f}",
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mounts", nargs="+", default=["standard", "mirrored", "rotated_90"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 3, 5, 7, 9, 10])
    args = parser.parse_args()
    RE = RunEngine({}, call_returns_result=True)
    directory = tempfile.mkdtemp(prefix="mxsight-calibration-")
    rows = [one_mount(RE, mount, args.seeds, args.levels, directory) for mount in args.mounts]
    columns = [key for key in rows[0] if key != "failures"]
    print(f"calibrate_camera on the simulated beamline, seeds {args.seeds}, zoom levels {args.levels}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[key]) for key in columns) + " |")
    for row in rows:
        for failure in row["failures"]:
            print(f"- {row['mount']}: {failure}")


if __name__ == "__main__":
    main()
