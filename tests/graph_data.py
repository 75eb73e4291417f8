"""The hand-made dataset of the graph-baseline tests: every validation and test item is an id no training part
holds, so any edge that touches one shows a leak. Shared by test_baselines_{graph,dcrec,maerec}.py."""
from __future__ import annotations

import numpy as np

from baselines.dcrec_graphs import EdgeGraph
from elcrec.data.sequences import SequenceData


def handmade() -> tuple[SequenceData, set[int]]:
    train_parts = [[1, 2, 3, 4, 5], [2, 3, 6], [5, 1, 7, 7, 2, 8], [9, 4], [3, 6, 1, 2], [4], [8, 9, 1, 3, 5, 6]]
    seqs, held_out = [], set()
    for u, part in enumerate(train_parts):
        valid, test = 20 + 2 * u, 21 + 2 * u
        seqs.append(part + [valid, test])
        held_out |= {valid, test}
    return SequenceData.from_lists(seqs, name="handmade", max_len=6), held_out


def dense(graph: EdgeGraph) -> np.ndarray:
    out = np.zeros((graph.n, graph.n))
    np.add.at(out, (graph.src.numpy(), graph.dst.numpy()), graph.weight.numpy())
    return out


def sequences(data: SequenceData) -> list[list[int]]:
    return [data.items[data.offsets[u]:data.offsets[u + 1]].tolist() for u in range(data.num_users)]


