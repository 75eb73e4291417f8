"""Seconds of the intent figure's 2-D map: the harness's former hand-written exact t-SNE against scikit-learn's.

    python -m benchmarks.bench_tsne --points 1256 --dim 64     # one t-SNE panel: 1000 users + 256 centres

Prints one JSON line per method (seconds, and the share of points whose 2-D nearest neighbour is in the same
synthetic cluster, a check that the maps are alike in quality).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from elcrec.report.figures_intents import tsne


def clusters(n: int, dim: int, k: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    x = rng.normal(size=(k, dim))[labels] * 3 + rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def neighbour_agreement(y: np.ndarray, labels: np.ndarray) -> float:
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1256)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--methods", nargs="+", default=["harness", "opentsne", "sklearn-barnes_hut", "sklearn-exact"])
    args = parser.parse_args()
    x, labels = clusters(args.points, args.dim)
    for method in args.methods:
        start = time.perf_counter()
        if method == "harness":
            y = tsne(x)
        elif method == "opentsne":
            from openTSNE import TSNE as OpenTSNE

            y = np.asarray(OpenTSNE(perplexity=30.0, initialization="pca", random_state=0, n_jobs=1).fit(x))
        else:
            from sklearn.manifold import TSNE

            y = TSNE(2, perplexity=30.0, init="pca", random_state=0, method=method.split("-")[1]).fit_transform(x)
        seconds = time.perf_counter() - start
        print(json.dumps({"method": method, "points": args.points, "dim": args.dim, "seconds": round(seconds, 2),
                          "nn_same_cluster": round(neighbour_agreement(y, labels), 3)}), flush=True)


if __name__ == "__main__":
    main()
