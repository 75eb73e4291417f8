"""Dataset statistics (paper Table 6/7 columns plus the length distribution and within-user repeats)."""
from __future__ import annotations

from typing import Any

import numpy as np

from elcrec.data.sequences import SequenceData


def dataset_stats(data: SequenceData) -> dict[str, Any]:
    users, inter = data.num_users, int(len(data.items))
    items = int(len(np.unique(data.items)))
    user_of = np.repeat(np.arange(users), data.lengths)
    distinct_pairs = len(np.unique(user_of * (data.num_items + 1) + data.items))
    lengths = data.lengths
    return {
        "dataset": data.name,
        "users": users,
        "items": items,
        "max_item_id": data.num_items,
        "interactions": inter,
        "avg_len": inter / users,
        "min_len": int(lengths.min()),
        "median_len": float(np.median(lengths)),
        "max_len": int(lengths.max()),
        "density_pct": 100.0 * inter / (users * items),
        "sparsity_pct": 100.0 * (1.0 - inter / (users * items)),
        "repeated_items_within_user": inter - distinct_pairs,
    }
