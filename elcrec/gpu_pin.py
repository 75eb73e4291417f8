"""Pin a local job to free GPUs: ``python -m elcrec.gpu_pin --devices 4 --take 1 -- COMMAND ...``.

Snakemake counts GPUs (``--resources gpu=4`` caps how many jobs hold one) but does not say which device a job may
use, so four jobs on a four-GPU machine would all start on GPU 0. This wrapper takes an exclusive lock on ``take``
free device numbers among ``0..devices-1`` (lock files under ``.snakemake/gpu-locks/``, released when the command
ends, also when it is killed), sets ``CUDA_VISIBLE_DEVICES`` to them and runs the command. Under SLURM the
scheduler sets ``CUDA_VISIBLE_DEVICES`` itself and the workflow does not use this wrapper.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

LOCK_DIR = Path(".snakemake") / "gpu-locks"


def take_devices(devices: int, take: int, lock_dir: Path = LOCK_DIR, wait_s: float = 0.5) -> tuple[list[int], list[IO]]:
    """Lock ``take`` free devices (waiting while all are held); return their numbers and open lock files."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        held: list[tuple[int, IO]] = []
        for device in range(devices):
            fh = open(lock_dir / f"gpu{device}.lock", "w")  # noqa: SIM115 - kept open: the lock lives with it
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            held.append((device, fh))
            if len(held) == take:
                return [d for d, _ in held], [f for _, f in held]
        for _, fh in held:
            fh.close()
        time.sleep(wait_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elcrec.gpu_pin", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, required=True, help="GPUs on this machine (0..N-1)")
    parser.add_argument("--take", type=int, default=1, help="GPUs this command needs")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or not 1 <= args.take <= args.devices:
        print("error: give --devices N, --take K with 1 <= K <= N, then -- COMMAND", file=sys.stderr)
        return 2
    numbers, locks = take_devices(args.devices, args.take)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, numbers))}
    print(f"gpu_pin: CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(command, env=env)
    finally:
        for fh in locks:
            fh.close()


if __name__ == "__main__":
    sys.exit(main())
