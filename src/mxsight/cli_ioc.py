"""``mxsight ioc``: serve the simulated beamline over EPICS Channel Access (see ``mxsight.ioc``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _ioc(args: argparse.Namespace) -> int:
    from mxsight.ioc.beamline_ioc import IocSettings, beamline_ioc, run_ioc
    from mxsight.toml_files import read_toml

    settings = IocSettings.from_table(read_toml(args.beamline, "beamline file"), source=str(args.beamline))
    if args.list_pvs:
        for name in sorted(beamline_ioc(settings).pvdb):
            print(name)
        return 0
    interfaces = args.interface or ["127.0.0.1"]
    print(f"serving the simulated beamline (sample seed {settings.seed}) on {', '.join(interfaces)}; Ctrl-C stops", flush=True)
    run_ioc(settings, interfaces=interfaces)
    return 0


def add_ioc_command(commands) -> None:
    ioc = commands.add_parser("ioc", help="serve the simulated beamline over EPICS (motor records, zoom, areaDetector camera)")
    ioc.add_argument("--beamline", type=Path, required=True, help="beamline TOML file: [epics] PV names, [simulated] what to simulate")
    ioc.add_argument("--interface", action="append", default=None,
                     help="network interface to serve on (repeatable; default 127.0.0.1 only). The port is EPICS_CA_SERVER_PORT")
    ioc.add_argument("--list-pvs", action="store_true", help="print the PV names served and exit")
    ioc.set_defaults(handler=_ioc, interface=None)
