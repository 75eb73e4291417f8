"""Significance report: the paper's best-vs-runner-up test, ELCRec vs every baseline, every ablation vs ELCRec.

``write_significance(runs_root, out_dir)`` reads the run directories (via :func:`elcrec.report.summary.
collect_runs`) and writes ``out_dir/{dataset}.csv`` (one row per comparison × metric, columns
``SIGNIFICANCE_COLUMNS``) and ``out_dir/report.md`` (methods in plain words, compact tables, one plain-language
line per headline). The statistics are in :mod:`elcrec.stats`; the choices are explained in docs/statistics.md.

Model groups (by name):
  * main models: ``elcrec`` and the baselines (every name that is neither of the two below);
  * ablation variants: ``elcrec-b`` and ``elcrec-b-*``;
  * sensitivity runs: any name containing ``~`` (``elcrec~alpha=0.1``), left out of these tests (listed in the
    report).

Families (``family`` column):
  * ``paper``: per dataset × metric, the best and the runner-up main model by mean over seeds, Welch's t-test
    one-sided in the direction best > runner-up, ``*`` when p < alpha, uncorrected, as the paper does.
    A Holm-adjusted value over that dataset's metrics is given beside it for information.
  * ``baselines``: ELCRec vs each baseline; ``ablations``: ELCRec vs each ablation variant. Each row has
    Welch's t-test over seeds and, on the ``paired_seed`` run of both models, the paired per-user t-test
    (primary) with the Wilcoxon signed-rank and sign-flip permutation tests as second opinions. Holm's
    correction runs within one family = one dataset × one kind (baselines or ablations) × one test, across all
    metrics and opponents.
Models without a finished run keep their rows, with ``note`` "not run: <reason>" and no p-value.

This module computes the tables; ``elcrec.report.significance_report`` words them as report.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from elcrec import stats
from elcrec.errors import HarnessError
from elcrec.fileio import write_text
from elcrec.models.registry import MODELS
from elcrec.report.names import PAPER_NAMES
from elcrec.report.present import SIGNIFICANCE_LEVEL
from elcrec.report.reference import paper_table
from elcrec.report.summary import cell_status, collect_runs
from elcrec.records import per_user_file
from elcrec.runfolder import METRIC_KEYS

ELCREC = "elcrec"
ALPHA = SIGNIFICANCE_LEVEL
SIGNIFICANCE_COLUMNS = (
    "dataset", "family", "metric", "model_a", "model_b", "alternative", "hypothesis",
    "n_a", "n_b", "mean_a", "sd_a", "mean_b", "sd_b", "diff", "rel_diff_pct", "ci_low", "ci_high",
    "cohens_d", "hedges_g", "welch_t", "welch_df", "p_welch", "p_welch_holm",
    "paired_seed", "paired_n", "paired_diff", "paired_ci_low", "paired_ci_high", "d_z", "paired_t",
    "p_paired", "p_paired_holm", "p_wilcoxon", "p_wilcoxon_holm", "p_permutation", "p_permutation_holm",
    "permutation_exact", "significant", "mark", "significance_rule", "holm_family", "holm_m", "paper_p", "note",
)
_INT_COLUMNS = ("n_a", "n_b", "paired_seed", "paired_n", "holm_m")
_P_COLUMNS = ("p_welch", "p_paired", "p_wilcoxon", "p_permutation")
_TEST_NAMES = {"p_welch": "Welch t over seeds", "p_paired": "paired t per user",
               "p_wilcoxon": "Wilcoxon per user", "p_permutation": "sign-flip permutation per user"}


# ----------------------------------------------------------------------------------------------- names


def is_sensitivity(model: str) -> bool:
    return "~" in model


def is_ablation(model: str) -> bool:
    return not is_sensitivity(model) and (model == "elcrec-b" or model.startswith("elcrec-b-"))


def is_main(model: str) -> bool:
    return not is_sensitivity(model) and not is_ablation(model)


def display_name(model: str) -> str:
    """The paper's name of a model (``elcrec.report.names.PAPER_NAMES``); unknown names unchanged."""
    return PAPER_NAMES.get(model, model)


def _model_order(models: Iterable[str]) -> list[str]:
    """The registry's order (ELCRec, its ablation variants, the baselines); unknown names last, A-Z."""
    rank = {m: i for i, m in enumerate(MODELS)}
    return sorted(set(models), key=lambda m: (rank.get(m, len(rank)), m))


def _paper_pvalues() -> dict[tuple[str, str], float]:
    try:
        ref = paper_table("table1_pvalues")
        return {(r.dataset, r.metric): float(r.p_value_best_vs_runner_up) for r in ref.itertuples()}
    except Exception:  # noqa: BLE001 - the reference column is informative only
        return {}



# ----------------------------------------------------------------------------------------------- per-user data


def read_per_user(path: Path, metrics: Sequence[str]) -> pd.DataFrame:
    """A per_user_test.csv (or .csv.gz) sorted by user; a malformed file raises HarnessError naming it."""
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable CSV
        raise HarnessError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in ("user", *metrics) if c not in frame.columns]
    if missing:
        raise HarnessError(f"{path}: missing column(s) {', '.join(missing)}")
    for col in ("user", *metrics):
        if not pd.api.types.is_numeric_dtype(frame[col]) or not np.isfinite(frame[col].to_numpy(float)).all():
            raise HarnessError(f"{path}: column {col} must hold finite numbers for every user")
    if frame["user"].duplicated().any():
        raise HarnessError(f"{path}: a user appears more than once")
    return frame.sort_values("user").reset_index(drop=True)


class _Dataset:
    """One dataset's runs: ok values per model × metric, statuses, per-user files (read lazily)."""

    def __init__(self, runs_root: Path, name: str, summary: pd.DataFrame, metrics: Sequence[str], paired_seed: int):
        self.root, self.name, self.metrics, self.paired_seed = runs_root, name, metrics, paired_seed
        self.models = _model_order(summary["model"])
        ok = summary[summary["status"] == "ok"]
        self._values = {(str(m), str(k)): g["value"].to_numpy(dtype=np.float64)
                        for (m, k), g in ok.groupby(["model", "metric"], sort=False)}
        first = summary.drop_duplicates(["model", "seed"])  # the status is the same for every metric of a run
        self._status = {str(m): cell_status(g["status"]) for m, g in first.groupby("model", sort=False)}
        self._ok_seeds = {str(m): set(g["seed"].tolist()) for m, g in ok.drop_duplicates(["model", "seed"])
                          .groupby("model", sort=False)}
        self._per_user: dict[str, pd.DataFrame | str] = {}

    def values(self, model: str, metric: str) -> np.ndarray:
        """The metric over the model's ok runs (one value per seed)."""
        return self._values.get((model, metric), np.empty(0))

    def status(self, model: str) -> str:
        return self._status.get(model, "not run: no run directory")

    def ran(self, model: str) -> bool:
        return bool(self._ok_seeds.get(model))

    def per_user(self, model: str) -> pd.DataFrame | str:
        """The paired seed's per-user table, or a note saying why there is none."""
        if model not in self._per_user:
            path = per_user_file(self.root / self.name / model / f"seed{self.paired_seed}")
            if self.paired_seed not in self._ok_seeds.get(model, set()):
                self._per_user[model] = f"no finished seed-{self.paired_seed} run of {model}"
            elif path is None:
                self._per_user[model] = f"no per_user_test.csv for {model} seed {self.paired_seed}"
            else:
                self._per_user[model] = read_per_user(path, self.metrics)
        return self._per_user[model]


# ----------------------------------------------------------------------------------------------- rows


def _empty_row(dataset: str, family: str, metric: str, a: str, b: str, alternative: str) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in SIGNIFICANCE_COLUMNS}
    row.update(dataset=dataset, family=family, metric=metric, model_a=a, model_b=b, alternative=alternative,
               hypothesis=stats.hypothesis_text(alternative, a, b), note="")
    return row


def _seed_fields(row: dict[str, Any], res: stats.SeedTest) -> list[str]:
    row.update(n_a=res.n_a, n_b=res.n_b, mean_a=res.mean_a, sd_a=res.sd_a, mean_b=res.mean_b, sd_b=res.sd_b,
               diff=res.diff, rel_diff_pct=res.rel_diff_pct, ci_low=res.ci_low, ci_high=res.ci_high,
               cohens_d=res.cohens_d, hedges_g=res.hedges_g, welch_t=res.t, welch_df=res.df, p_welch=res.p_value)
    return [res.note] if res.note else []


def _compare(ds: _Dataset, family: str, metric: str, a: str, b: str, alternative: str,
             n_resamples: int, perm_seed: int) -> dict[str, Any]:
    row = _empty_row(ds.name, family, metric, a, b, alternative)
    row["paired_seed"] = ds.paired_seed
    missing = [m for m in (a, b) if not ds.ran(m)]
    if missing:
        row["note"] = "; ".join(ds.status(m) if (m == b and len(missing) == 1) else f"{m} {ds.status(m)}"
                                for m in missing)
        row["n_a"], row["n_b"] = len(ds.values(a, metric)), len(ds.values(b, metric))
        return row
    notes = _seed_fields(row, stats.ttest_seeds(ds.values(a, metric), ds.values(b, metric), alternative))
    for m in (a, b):
        st = ds.status(m)
        if st != "ok":
            notes.append(f"{m}: {st}")
    ua, ub = ds.per_user(a), ds.per_user(b)
    if isinstance(ua, str) or isinstance(ub, str):
        notes.append("; ".join(x for x in (ua, ub) if isinstance(x, str)) + "; no paired test")
    elif len(ua) != len(ub) or not np.array_equal(ua["user"].to_numpy(), ub["user"].to_numpy()):
        notes.append(f"per-user files cover different users ({len(ua)} vs {len(ub)}); no paired test")
    else:
        x, y = ua[metric].to_numpy(np.float64), ub[metric].to_numpy(np.float64)
        pt = stats.ttest_paired(x, y, alternative)
        wx = stats.wilcoxon_paired(x, y, alternative)
        pm = stats.permutation_paired(x, y, alternative, n_resamples=n_resamples, seed=perm_seed)
        row.update(paired_n=pt.n, paired_diff=pt.diff, paired_ci_low=pt.ci_low, paired_ci_high=pt.ci_high,
                   d_z=pt.d_z, paired_t=pt.t, p_paired=pt.p_value, p_wilcoxon=wx.p_value,
                   p_permutation=pm.p_value, permutation_exact=pm.exact)
        notes += [f"per-user: {r.note}" for r in (pt,) if r.note]
    row["note"] = "; ".join(notes)
    return row


def _apply_holm(rows: list[dict[str, Any]], label: str, columns: Sequence[str] = _P_COLUMNS) -> None:
    texts = []
    for col in columns:
        adjusted = stats.holm([r[col] for r in rows])
        m = sum(p is not None for p in adjusted)
        for r, p in zip(rows, adjusted):
            r[f"{col}_holm"] = p
        texts.append(f"{_TEST_NAMES[col]} m={m}")
        if col == "p_welch":
            for r in rows:
                r["holm_m"] = m
    for r in rows:
        r["holm_family"] = f"{label} ({'; '.join(texts)})"


def _mark(rows: list[dict[str, Any]], column: str, alpha: float, rule: str) -> None:
    for r in rows:
        p = r[column]
        r["significant"] = None if p is None else bool(p < alpha)
        r["mark"] = "*" if r["significant"] else ""
        r["significance_rule"] = rule


def _paper_rows(ds: _Dataset, alpha: float, paper_p: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    main = [m for m in ds.models if is_main(m)]
    ran = [m for m in main if ds.ran(m)]
    idle = [m for m in main if not ds.ran(m)]
    idle_note = ("not ranked: " + "; ".join(f"{m} ({ds.status(m)})" for m in idle)) if idle else ""
    rows = []
    for metric in ds.metrics:
        means = {m: float(ds.values(m, metric).mean()) for m in ran}
        ranked = sorted(ran, key=lambda m: -means[m])  # stable: ties keep the registry order
        if len(ranked) < 2:
            row = _empty_row(ds.name, "paper", metric, ranked[0] if ranked else "", "", "greater")
            row["hypothesis"] = "H1: mean(best) > mean(runner-up)"
            row["note"] = "; ".join(x for x in (f"{len(ranked)} main model(s) with a finished run; no runner-up",
                                                 idle_note) if x)
        else:
            best, runner = ranked[:2]
            row = _empty_row(ds.name, "paper", metric, best, runner, "greater")
            notes = _seed_fields(row, stats.ttest_seeds(ds.values(best, metric), ds.values(runner, metric),
                                                        "greater"))
            row["note"] = "; ".join(notes + ([idle_note] if idle_note else []))
        row["paper_p"] = paper_p.get((ds.name, metric))
        rows.append(row)
    _apply_holm(rows, f"{ds.name} / paper: best vs runner-up, all metrics", ("p_welch",))
    _mark(rows, "p_welch", alpha, f"p_welch < {alpha} (one-sided, uncorrected, as in the paper)")
    return rows


def _family_rows(ds: _Dataset, family: str, opponents: list[str], alternative: str, alpha: float,
                 n_resamples: int, perm_seed: int) -> list[dict[str, Any]]:
    rows = [_compare(ds, family, metric, ELCREC, opp, alternative, n_resamples, perm_seed)
            for opp in opponents for metric in ds.metrics]
    label = "ELCRec vs baselines" if family == "baselines" else "ELCRec vs ablation variants"
    _apply_holm(rows, f"{ds.name} / {label}, all metrics x {len(opponents)} models")
    _mark(rows, "p_welch_holm", alpha, f"p_welch_holm < {alpha}")
    return rows


def significance_tables(runs_root: str | Path, *, alternative: str = "two-sided", paired_seed: int = 1,
                        alpha: float = ALPHA, n_resamples: int = 10_000, perm_seed: int = 0,
                        metrics: Sequence[str] = METRIC_KEYS) -> dict[str, pd.DataFrame]:
    """One DataFrame (columns ``SIGNIFICANCE_COLUMNS``) per dataset found under ``runs_root``.

    ``alternative`` is the alternative of the ELCRec-vs-baseline and ELCRec-vs-ablation tests ("two-sided" or
    "greater" = ELCRec better); the paper's test is always one-sided best > runner-up.
    """
    if alternative not in ("two-sided", "greater"):
        raise ValueError("alternative must be 'two-sided' or 'greater' (ELCRec better than the other model)")
    root = Path(runs_root)
    summary = collect_runs(root)
    summary = summary[summary["metric"].isin(metrics)]
    paper_p = _paper_pvalues()
    out: dict[str, pd.DataFrame] = {}
    for name, part in summary.groupby("dataset", sort=True):
        ds = _Dataset(root, str(name), part, list(metrics), paired_seed)
        rows = _paper_rows(ds, alpha, paper_p)
        baselines = [m for m in ds.models if is_main(m) and m != ELCREC]
        ablations = [m for m in ds.models if is_ablation(m)]
        if baselines:
            rows += _family_rows(ds, "baselines", baselines, alternative, alpha, n_resamples, perm_seed)
        if ablations:
            rows += _family_rows(ds, "ablations", ablations, alternative, alpha, n_resamples, perm_seed)
        frame = pd.DataFrame(rows, columns=list(SIGNIFICANCE_COLUMNS))
        for col in _INT_COLUMNS:
            frame[col] = frame[col].astype("Int64")
        frame["permutation_exact"] = frame["permutation_exact"].astype("boolean")
        frame["significant"] = frame["significant"].astype("boolean")
        frame.attrs["models"] = ds.models
        frame.attrs["status"] = {m: ds.status(m) for m in ds.models}
        out[str(name)] = frame
    return out


def write_significance(runs_root: str | Path, out_dir: str | Path, *, alternative: str = "two-sided",
                       paired_seed: int = 1, alpha: float = ALPHA, n_resamples: int = 10_000, perm_seed: int = 0,
                       metrics: Sequence[str] = METRIC_KEYS, shown_as: str | Path | None = None) -> list[Path]:
    """Write ``out_dir/{dataset}.csv`` for every dataset under ``runs_root`` and ``out_dir/report.md``.

    ``runs_root`` is the ``results/runs`` folder (or a view of selected run folders, then named ``shown_as`` in
    the report). Returns the written paths (CSV files, then report.md).
    """
    from elcrec.report.significance_report import render_report

    tables = significance_tables(runs_root, alternative=alternative, paired_seed=paired_seed, alpha=alpha,
                                 n_resamples=n_resamples, perm_seed=perm_seed, metrics=metrics)
    out = Path(out_dir)
    paths = []
    for ds, frame in tables.items():
        path = out / f"{ds}.csv"
        write_text(path, frame.to_csv(index=False))
        paths.append(path)
    report = out / "report.md"
    write_text(report, render_report(tables, shown_as or runs_root, alternative=alternative, paired_seed=paired_seed,
                                     alpha=alpha, n_resamples=n_resamples, metrics=metrics))
    paths.append(report)
    return paths
