"""Running the Snakemake workflow from tests: one helper, and the tiny-preset run shared by several test files."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, shared: Path | str, *targets: str, extra: tuple[str, ...] = (), mirror: str | None = None,
              config: tuple[str, ...] = ("preset=tiny",), timeout: int = 1500,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``snakemake -s Snakefile -d workdir --cores 2 EXTRA --config data_mirror=MIRROR CONFIG -- TARGETS``.

    The mirror is ``shared/data`` unless given; ``mirror=""`` runs without one (online).
    """
    mirror = mirror if mirror is not None else str(Path(shared) / "data")
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *extra,
           "--config", f"data_mirror={mirror}", *config, "--", *targets]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELCREC_DATA")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})})
