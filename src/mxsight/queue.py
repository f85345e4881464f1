"""Queued collections through bluesky-queueserver: start its RE Manager on the mxsight profile, queue a
``multi_orientation_collection`` per sample, start the queue, report what ran.

The RE Manager needs Redis (``redis-server`` bound to 127.0.0.1) and loads the same start-up profile as
``mxsight shell``, so the queue drives the same beamline and records into the same Tiled catalog.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

QUEUE_PLAN = "multi_orientation_collection"
DEFAULT_CONTROL_ADDRESS = "tcp://127.0.0.1:60615"
DEFAULT_INFO_ADDRESS = "tcp://127.0.0.1:60625"
DEFAULT_REDIS_ADDRESS = "127.0.0.1:6379"


@dataclass(frozen=True)
class QueueAddresses:
    control: str = DEFAULT_CONTROL_ADDRESS
    info: str = DEFAULT_INFO_ADDRESS
    redis: str = DEFAULT_REDIS_ADDRESS


def manager_command(profile_dir: Path, data_dir: Path, addresses: QueueAddresses) -> list[str]:
    """The ``start-re-manager`` command line that serves the profile in ``profile_dir`` (``data_dir``, where
    it keeps its list of plans and devices, is created)."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    permissions = profile_dir / "queue" / "user_group_permissions.yaml"
    if not (profile_dir / "startup").is_dir() or not permissions.is_file():
        raise FileNotFoundError(f"{profile_dir} needs startup/ and queue/user_group_permissions.yaml")
    executable = Path(sys.executable).with_name("start-re-manager")
    return [
        str(executable),
        f"--startup-dir={profile_dir / 'startup'}",
        f"--user-group-permissions={permissions}",
        f"--existing-plans-devices={Path(data_dir).resolve() / 'existing_plans_and_devices.yaml'}",
        "--update-existing-plans-devices=ENVIRONMENT_OPEN",
        "--ignore-invalid-plans=ON",
        f"--redis-addr={addresses.redis}",
        f"--zmq-control-addr={addresses.control}",
        f"--zmq-info-addr={addresses.info}",
    ]


def serve(profile_dir: Path, data_dir: Path, addresses: QueueAddresses, beamline: Path | None = None) -> None:
    """Replace this process by the RE Manager (it runs until stopped: ``qserver manager stop``)."""
    os.environ["MXSIGHT_DATA"] = str(Path(data_dir).resolve())
    if beamline is not None:
        os.environ["MXSIGHT_BEAMLINE"] = str(Path(beamline).resolve())
    command = manager_command(profile_dir, data_dir, addresses)
    os.execv(command[0], command)


def collection_item(sample_id: str, orientations_file: Path, *, puck: str | None = None, images: int = 6, range_deg: float = 30.0, mount: bool = True):
    """The queue item (a ``BPlan``) of one sample's multi-orientation collection; the orientations file
    is read (and checked) here, so a bad file is refused before anything is queued."""
    from bluesky_queueserver_api import BPlan

    from mxsight.plans.multi_orientation import load_orientations

    if not sample_id:
        raise ValueError("a sample id is needed")
    orientations = [{"kappa_deg": o.kappa_deg, "phi_deg": o.phi_deg} for o in load_orientations(orientations_file)]
    kwargs: dict[str, object] = {"sample_id": sample_id, "orientations": orientations, "images": images, "range_deg": range_deg}
    if mount:
        kwargs["sample_changer"] = "sample_changer"
    if puck:
        kwargs["md"] = {"puck": puck}
    return BPlan(QUEUE_PLAN, "camera", "gonio", "zoom", "detector", **kwargs)


def connect(addresses: QueueAddresses):
    from bluesky_queueserver_api.zmq import REManagerAPI

    return REManagerAPI(zmq_control_addr=addresses.control, zmq_info_addr=addresses.info)


def queue_collections(api, items, *, start: bool = False, timeout_s: float = 600.0) -> list[str]:
    """Add ``items`` to the queue, opening the environment first when needed (the manager learns which
    plans it may run from the profile it loads); with ``start``, let a failed item fail alone
    (``ignore_failures``) and start the queue. Returns the queued items' uids."""
    if not api.status()["worker_environment_exists"]:
        api.environment_open()
        api.wait_for_idle(timeout=timeout_s)
        if not api.status()["worker_environment_exists"]:
            raise RuntimeError("the queue server could not open its environment (the profile failed to load): see the RE Manager's log")
    uids = [api.item_add(item)["item"]["item_uid"] for item in items]
    if start:
        api.queue_mode_set(ignore_failures=True)
        api.queue_start()
    return uids


def history_table(api, limit: int = 20) -> str:
    """The last ``limit`` finished items: sample, plan state, runs recorded, and the failure if any."""
    items = api.history_get()["items"][-limit:]
    if not items:
        return "no finished items"
    lines = [f"{'sample':<16}{'state':<11}{'runs':>5}  message"]
    for item in items:
        result = item.get("result", {})
        sample = str(item.get("kwargs", {}).get("sample_id", "-"))
        lines.append(f"{sample:<16}{result.get('exit_status', '?'):<11}{len(result.get('run_uids', [])):>5}  {result.get('msg', '')}")
    return "\n".join(lines)
