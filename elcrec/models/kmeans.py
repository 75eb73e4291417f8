"""k-means for intent centres with faiss, configured exactly as ELCRec/ICLRec do (``src/models.py`` KMeans).

faiss-cpu is the library the original uses (there on CPU for ELCRec, on GPU for ICLRec), so the algorithm,
its initialisation from the seed and its restarts are the original's, not an approximation: niter 20,
nredo 5, max 4096 points per centroid (more are subsampled by faiss), min 0, L2, unnormalised data.
"""
from __future__ import annotations

import numpy as np

from elcrec.errors import ConfigError


def faiss_kmeans(x: np.ndarray, k: int, seed: int, niter: int = 20, nredo: int = 5,
                 init: np.ndarray | None = None) -> np.ndarray:
    """(k, d) float32 centroids of the rows of ``x`` (which must outnumber k, as the original needs).

    ``init``: start from these centroids instead of k random points. This is what ICLRec's reuse of one
    ``faiss.Clustering`` object amounts to: ``Clustering::train`` takes whatever its ``centroids`` vector holds as
    "input centroids" (faiss/Clustering.cpp ``n_input_centroids``), so every call after the first starts from
    the previous call's result, and each of the ``nredo`` restarts from the one before it (only the remaining
    ``k - n_input`` centroids are drawn at random, here none); the best restart is kept. A fresh object with
    ``init`` copied in computes exactly what the kept object does (tested).
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    d = x.shape[1]
    clus = faiss.Clustering(d, k)
    clus.verbose = False
    clus.niter, clus.nredo, clus.seed = niter, nredo, int(seed)
    clus.max_points_per_centroid, clus.min_points_per_centroid = 4096, 0
    index = faiss.IndexFlatL2(d)
    if x.shape[0] <= k:  # the original skips training here and then fails on the empty centroid table
        raise ConfigError(f"k-means needs more users ({x.shape[0]}) than intent centres (k={k}); "
                          "lower k with --set k=N")
    if init is not None:
        faiss.copy_array_to_vector(np.ascontiguousarray(init, dtype=np.float32).ravel(), clus.centroids)
    clus.train(x, index)
    return faiss.vector_to_array(clus.centroids).reshape(k, d).copy()
