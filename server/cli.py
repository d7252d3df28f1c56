"""The ``ampacity`` command line.

ampacity run [--config FILE]     serve a site (no config: the demo site on loopback;
                                 --demo industrial: the industrial demo)
ampacity check FILE              validate a site file; located errors, exit code 2
ampacity devices [--json]        every device profile, its products and compatibility rows
ampacity users|certs ...         users and roles; the certificate trust list (security/cli.py)
ampacity install-service         systemd unit, user and folders on a Linux box (install.py)
ampacity backup|restore DIR      site file, users, PKI, history snapshot (backup.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from . import backup, install, logs
from .config import ConfigError, SiteConfig, config_warnings, load_config
from .history_cli import add_history_subcommand, run_history
from .security import cli as security_cli

EXIT_CONFIG_ERROR = 2
EXIT_STARTUP_ERROR = 1

log = logging.getLogger("ampacity")


def _port(text: str) -> int:
    """A TCP port number (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1..65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ampacity", description="OPC UA edge server for energy management."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text: one line per event (journald-friendly); json: one JSON object per line",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve a site (no --config: the demo site)")
    run.add_argument("--config", type=Path, help="site file (YAML)")
    run.add_argument("--host", help="override server.host")
    run.add_argument("--port", type=_port, help="override server.port")
    run.add_argument("--data-dir", type=Path, help="override server.data_dir")
    run.add_argument(
        "--metrics", metavar="HOST:PORT", help="serve Prometheus /metrics there (metrics.listen)"
    )
    run.add_argument(
        "--log-format", choices=("text", "json"), default=argparse.SUPPRESS, help="as above"
    )
    run.add_argument(
        "--demo",
        choices=("home", "industrial"),
        help="without --config: which demo site (default home; industrial: a factory with CHP, "
        "electrolyser, fuel cell, DC chargers and SG-Ready heat pumps)",
    )

    check = commands.add_parser("check", help="validate a site file")
    check.add_argument("file", type=Path)

    devices = commands.add_parser("devices", help="list device profiles and what they serve")
    devices.add_argument("--json", action="store_true", help="machine-readable output")
    devices.add_argument(
        "--config", type=Path, help="site file: also list its own profiles (profiles_dir)"
    )
    devices.add_argument(
        "--uncovered", action="store_true", help="also list compatibility rows not yet served"
    )
    read = commands.add_parser(
        "read", help="read every point of one device once (commissioning, checking a profile)"
    )
    read.add_argument("profile", help="profile id (see `ampacity devices`)")
    read.add_argument("--host", help="device address (TCP, HTTP, UDP devices)")
    read.add_argument("--port", type=_port, help="port instead of the profile's default")
    read.add_argument("--unit", type=int, help="Modbus unit id instead of the profile's")
    read.add_argument("--serial", help="serial device, e.g. /dev/ttyUSB0 (RS485, optical head)")
    read.add_argument("--baudrate", type=int, help="serial line speed")
    read.add_argument("--parity", choices=["N", "E", "O"], help="serial parity")
    read.add_argument("--bind", help="ADDR:PORT to listen on (UDP, multicast devices)")
    read.add_argument("--serial-number", help="the device's serial number (multicast devices)")
    read.add_argument("--url", help="base URL (HTTP devices)")
    read.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (10)")
    read.add_argument("--json", action="store_true", help="machine-readable output")
    read.add_argument("--config", type=Path, help="site file whose profiles_dir to use too")
    add_history_subcommand(commands)
    security_cli.add_subcommands(commands)
    install.add_subcommand(commands)
    backup.add_subcommands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `ampacity devices | head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # no flush error at exit
        return 0


def _main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:
        logging.getLogger("asyncua").setLevel(logging.ERROR)
        # pymodbus logs every timeout with a frame dump at ERROR; our drivers report the
        # located error in the asset's Health instead.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if args.command == "check":
        return _check(args.file)
    if args.command == "devices":
        return _devices(as_json=args.json, uncovered=args.uncovered, site_file=args.config)
    if args.command == "read":
        return _read(args)
    if args.command == "history":
        return run_history(args)
    if args.command in security_cli.COMMANDS:
        return security_cli.run(args)
    if args.command == "install-service":
        return install.run(args)
    if args.command in ("backup", "restore"):
        return backup.run(args)
    return _run(args)


def _check(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    for warning in config_warnings(config):
        print(f"{path.name}: warning: {warning}", file=sys.stderr)
    assets = sum(1 for _ in config.devices)
    print(f"{path.name}: OK ({assets} devices, {len(config.buses)} buses)")
    return 0


def _demo_start_problem() -> str:
    """What is wrong with ``AMPACITY_DEMO_START`` ("" when unset or valid)."""
    from datetime import UTC

    from ampacity.sim.clock import DEMO_START_ENV, parse_start

    value = os.environ.get(DEMO_START_ENV)
    if not value:
        return ""
    try:
        parse_start(value, UTC)
    except ValueError as exc:
        return str(exc)
    return ""


def _read(args: argparse.Namespace) -> int:
    """Exit 0 when at least one point is Good, 1 (one line why) when the device cannot be
    reached or gives nothing good, 2 for flags that do not make a device of that profile."""
    from ampacity.drivers.registry import ReadTarget, all_profiles

    from .read import ReadSetupError, read_device, to_json

    if not args.verbose:
        logging.getLogger("ampacity").setLevel(logging.ERROR)
    profiles = all_profiles()
    if args.config is not None:
        try:
            profiles = dict(load_config(args.config).profile_catalog())
        except ConfigError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return EXIT_CONFIG_ERROR
    target = ReadTarget(
        host=args.host,
        port=args.port,
        unit=args.unit,
        serial=args.serial,
        baudrate=args.baudrate,
        parity=args.parity,
        bind=args.bind,
        serial_number=args.serial_number,
        url=args.url,
    )
    try:
        result = asyncio.run(read_device(args.profile, target, profiles, timeout_s=args.timeout))
    except ReadSetupError as exc:
        print(f"ampacity read: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if result.any_good:
        print(to_json(result) if args.json else result.as_table())
        return 0
    reason = result.error or f"no value within {args.timeout:g} s"
    if args.json:
        print(to_json(result))
    print(f"ampacity read: {args.profile}: cannot read the device: {reason}", file=sys.stderr)
    return EXIT_STARTUP_ERROR


def _devices(as_json: bool, uncovered: bool, site_file: Path | None = None) -> int:
    from ampacity.drivers.catalog import catalogue, open_reasons, uncovered_rows

    site_profiles = None
    if site_file is not None:
        try:
            config = load_config(site_file)
        except ConfigError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return EXIT_CONFIG_ERROR
        site_profiles = config.profiles_dir
    entries = catalogue(site_profiles)
    if as_json:
        payload = {
            "profiles": [
                {
                    "id": e.id,
                    "manufacturer": e.manufacturer,
                    "products": list(e.products),
                    "protocol": e.protocol,
                    "origin": e.origin,
                    "kinds": list(e.kinds),
                    "assets": [{"key": key, "kind": kind} for key, kind in e.assets],
                    "compatibility": [
                        {"id": r.id, "manufacturer": r.manufacturer, "models": list(r.models)}
                        for r in e.rows
                    ],
                    "source": e.source,
                }
                for e in entries
            ]
        }
        if uncovered:
            reasons = open_reasons()
            payload["uncovered"] = [
                {
                    "id": r.id,
                    "manufacturer": r.manufacturer,
                    "models": list(r.models),
                    "reason": reasons.get(r.id, "not yet implemented"),
                }
                for r in uncovered_rows()
            ]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        origin = "  (site profile)" if e.origin == "site" else ""
        print(f"{e.id}  [{', '.join(e.kinds)}]  {e.manufacturer}{origin}")
        print(f"    products: {', '.join(e.products)}")
        rows = ", ".join(r.id for r in e.rows) or "-"
        print(f"    compatibility list: {rows}")
    served = {r.id for e in entries for r in e.rows}
    from ampacity.drivers.catalog import compatibility_rows

    print(
        f"\n{len(entries)} profiles and drivers serve {len(served)} of "
        f"{len(compatibility_rows())} rows."
    )
    if uncovered:
        reasons = open_reasons()
        for row in uncovered_rows():
            why = reasons.get(row.id, "not yet implemented")
            print(f"  open: {row.id}  {row.manufacturer}  {', '.join(row.models[:4])}  ({why})")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.config is not None and args.demo is not None:
        print("ampacity: give --config or --demo, not both", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.config is not None:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return EXIT_CONFIG_ERROR
    else:
        config = None
        problem = _demo_start_problem()
        if problem:
            print(f"ampacity: {problem}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
    from .app import StartupError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(config, args))
    except StartupError as exc:
        print(f"ampacity: {exc}", file=sys.stderr)
        return EXIT_STARTUP_ERROR
    return 0


async def _serve(config: SiteConfig | None, args: argparse.Namespace) -> None:
    from .demo import demo_site

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    from .app import check_port_free

    if config is None:
        check_port_free(args.host or "127.0.0.1", args.port or 4840)
    else:
        check_port_free(args.host or config.server.host, args.port or config.server.port)
    async with contextlib.AsyncExitStack() as stack:
        if config is None and getattr(args, "demo", None) == "industrial":
            from .demo_industrial import industrial_demo_site

            print("Starting the industrial demo site (simulated devices on loopback).")
            industrial = await stack.enter_async_context(industrial_demo_site())
            await _serve_config(industrial.config, args, stack, stop)
        elif config is None:
            print("No --config given: starting the demo site (simulated devices on loopback).")
            demo = await stack.enter_async_context(demo_site(daily_dimming=True))
            await _serve_config(demo.config, args, stack, stop)
        else:
            await _serve_config(config, args, stack, stop)


async def _serve_config(
    config: SiteConfig,
    args: argparse.Namespace,
    stack: contextlib.AsyncExitStack,
    stop: asyncio.Event,
) -> None:

    from .app import start_site
    from .factory import build_context, build_drivers

    if args.host:
        config.server.host = args.host
    if args.port:
        config.server.port = args.port
    if args.data_dir:
        config.server.data_dir = args.data_dir
    try:
        config.server.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from .app import StartupError

        reason = exc.strerror or type(exc).__name__
        folder = config.server.data_dir
        raise StartupError(f"cannot create the data folder {folder}: {reason}") from None
    context = build_context(config)
    stack.push_async_callback(context.aclose)
    drivers = await build_drivers(config, context)
    site = await start_site(config, drivers)
    stack.push_async_callback(site.stop)
    from .operations import operations

    ops = await stack.enter_async_context(
        operations(site, getattr(args, "metrics", None) or config.metrics.listen)
    )
    print(f"Ampacity serves {config.site.name!r} at {config.server.endpoint}", flush=True)
    if ops.metrics_address is not None:
        host, port = ops.metrics_address
        print(f"Metrics: http://{host}:{port}/metrics", flush=True)
    print(f"Data folder: {config.server.data_dir.resolve()}", flush=True)
    await stop.wait()
    print("Shutting down.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
