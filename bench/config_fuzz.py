"""The site-file loader under random mutations of real site files: every case must load or give
located errors (``ConfigError``); anything else is a crash. Prints cases, crashes, and how many
loaded, were refused, and how long a case took.

    python bench/config_fuzz.py --cases 20000 --seed 1
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ampacity.server.config import ConfigError, load_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "server"))
from test_hostile_sites import EXAMPLES, mutate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sources = [path.read_bytes() for path in EXAMPLES]
    loaded = refused = crashed = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "fuzz.yaml"
        for case in range(args.cases):
            data = rng.choice(sources)
            for _ in range(rng.randrange(1, 4)):
                data = mutate(data, rng)
            target.write_bytes(data)
            try:
                load_config(target)
                loaded += 1
            except ConfigError:
                refused += 1
            except Exception:
                crashed += 1
                print(f"case {case}: crash\n{traceback.format_exc()}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(
        f"{args.cases} cases (seed {args.seed}): {crashed} crashed, {refused} refused with "
        f"located errors, {loaded} loaded; {elapsed / args.cases * 1000:.2f} ms a case"
    )


if __name__ == "__main__":
    main()
