"""``kill -9`` while ingesting: the store opens cleanly, at most the last flush interval is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ampacity.storage import Historian, StorageConfig, from_us

FLUSH_S = 0.2
SLACK_S = 0.6
"""Scheduling slack on a busy test machine on top of the flush interval."""


async def read_back(config: StorageConfig, data: Path) -> tuple[list[float | str | None], int]:
    """Reopen the store (replaying the disk buffer, cutting a torn frame); all values and the
    time of the last one."""
    h = Historian.open(config, data)
    await h.start(background=False)
    try:
        assert h.health().buffered == 0
        values: list[float | str | None] = []
        last_t = 0
        resume = None
        while True:
            page = await h.read_raw("pv1.ActivePower", from_us(0), from_us(2**55), resume_t=resume)
            values += [v.value for v in page.values]
            if page.values:
                last_t = page.values[-1].t_us
            if page.next_t is None:
                return values, last_t
            resume = page.next_t
    finally:
        await h.stop()


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from ampacity.assets import SPECS, AssetKind
    from ampacity.storage import Historian, RecordingPolicy, StorageConfig

    async def main() -> None:
        config = StorageConfig.model_validate_json(sys.argv[2])
        h = Historian.open(config, Path(sys.argv[1]))
        h.register_series("pv1.ActivePower", SPECS[AssetKind.PV_INVERTER].point("ActivePower"),
                          RecordingPolicy())
        await h.start()
        print("ready", flush=True)
        i = 0
        while True:
            for _ in range(20):
                now = datetime.now(UTC)
                h.record("pv1.ActivePower", float(i), 0, now, now)
                i += 1
            await asyncio.sleep(0.002)

    asyncio.run(main())
    """
)


def test_kill_9_loses_at_most_the_last_flush_interval(
    storage_config: StorageConfig, backend: str, tmp_path: Path
) -> None:
    config = storage_config.model_copy(update={"flush_interval_s": FLUSH_S})
    script = tmp_path / "ingest.py"
    script.write_text(CHILD)
    data = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, str(script), str(data), config.model_dump_json()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.5)
    finally:
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    if backend == "sqlite":
        with sqlite3.connect(data / "history.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    values, last_t = asyncio.run(read_back(config, data))
    assert len(values) > 1000
    assert values == [float(i) for i in range(len(values))]  # no gap: only the tail is lost
    lost_s = killed_at - last_t / 1e6
    assert lost_s <= FLUSH_S + SLACK_S, f"lost the last {lost_s:.2f} s"
