"""Import a GPU job's archive (benchmarks/pack_runs.py) as a published block of run records.

    python -m benchmarks.import_records OUT/beauty_block.tar.gz --block beauty-2026-12

writes benchmarks/records/published/<block>/ (provenance.json, plan.json, runs/...; docs/published_records.md),
never over an existing block: the archive is read member by member (no links, nothing outside the archive, no
console logs or weights), checked (complete provenance, every run's metrics.json recomputed from its per-user
ranks) in a temporary folder, and renamed into place only when every check passed. The work is in
:func:`elcrec.records.import_archive`.
"""
from __future__ import annotations

import argparse
import sys

from elcrec.errors import HarnessError
from elcrec.records import PUBLISHED_ROOT, import_archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", help="the .tar.gz written by benchmarks/pack_runs.py")
    parser.add_argument("--block", required=True, help="name of the new block folder (e.g. beauty-2026-12)")
    parser.add_argument("--dest", default=str(PUBLISHED_ROOT), help="where blocks live (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        block = import_archive(args.archive, args.dest, args.block)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.archive}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    ok = sum(1 for r in block.plan["runs"] if r["status"] == "ok")
    print(f"imported {block.path}: {ok} of {len(block.plan['runs'])} planned runs finished; "
          f"{block.describe()}")
    print(f"build the report from it: snakemake --cores 2 --config records={block.path} -- "
          "paper_tables/reproduction.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
