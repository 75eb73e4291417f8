"""Significance tests, multiple-comparison correction, effect sizes and confidence intervals (pure functions).

Two units of analysis, kept apart (docs/statistics.md):

* **seeds**: one number per run; seed *k* of model A has no relation to seed *k* of model B, so the two samples
  are independent: :func:`ttest_seeds` (Welch by default, Student's t on request), Cohen's d and Hedges' g, and
  a confidence interval of the mean difference with the Welch–Satterthwaite degrees of freedom.
* **users**: per-user metric vectors of two models on the same test users are paired: :func:`ttest_paired`
  (primary), with :func:`wilcoxon_paired` and :func:`permutation_paired` (sign-flip) as second opinions, d_z and
  the paired-t confidence interval.

Every test returns a small frozen dataclass whose fields are plain floats, ints, strings or ``None``;
``result.to_dict()`` serialises it for CSV/JSON. When a test cannot be computed (too few seeds, zero variance,
all differences zero) ``p_value`` is ``None`` and ``note`` says why, e.g. ``"too few seeds: n=1 vs n=3; no
p-value"``; a number is never invented. Inputs with NaN or infinity are refused (``ValueError``): the caller
decides which runs count, not this module.

``alternative`` follows SciPy: ``"two-sided"``; ``"greater"`` means H1: mean(a) > mean(b) (for paired data:
mean(a − b) > 0); ``"less"`` the reverse. The field ``hypothesis`` spells it out. Confidence intervals are always
two-sided (default 95%), whatever the alternative.

No file I/O here; numpy and scipy only.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import stats as _st

ALTERNATIVES = ("two-sided", "greater", "less")
_H1 = {"two-sided": "!=", "greater": ">", "less": "<"}


class _Result:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class SeedTest(_Result):
    """Two independent samples (one value per seed): Welch's (or Student's) t-test."""

    test: str  # "welch" | "student"
    alternative: str  # "two-sided" | "greater" | "less"
    hypothesis: str  # e.g. "H1: mean(a) > mean(b)"
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    sd_a: float | None  # sample SD (ddof=1); None for n < 2
    sd_b: float | None
    diff: float | None  # mean_a - mean_b
    rel_diff_pct: float | None  # 100 * diff / mean_b; None when mean_b is 0
    ci_low: float | None  # two-sided CI of the mean difference
    ci_high: float | None
    confidence: float
    t: float | None
    df: float | None  # Welch–Satterthwaite (welch) or n_a + n_b - 2 (student)
    p_value: float | None
    cohens_d: float | None  # diff / pooled SD
    hedges_g: float | None  # Cohen's d with the small-sample correction J = 1 - 3 / (4 (n_a + n_b) - 9)
    note: str


@dataclass(frozen=True)
class PairedTest(_Result):
    """Paired samples (e.g. per-user metric values of two models on the same users): paired t-test."""

    test: str  # "paired-t"
    alternative: str
    hypothesis: str  # e.g. "H1: mean(a - b) > 0"
    n: int
    mean_a: float | None
    mean_b: float | None
    diff: float | None  # mean of the differences a - b
    sd_diff: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    t: float | None
    df: float | None
    p_value: float | None
    d_z: float | None  # mean(diff) / sd(diff)
    note: str


@dataclass(frozen=True)
class RankTest(_Result):
    """Wilcoxon signed-rank test on paired samples (zero differences dropped: ``zero_method="wilcox"``)."""

    test: str  # "wilcoxon"
    alternative: str
    hypothesis: str
    n: int
    n_nonzero: int
    statistic: float | None
    p_value: float | None
    note: str


@dataclass(frozen=True)
class PermutationTest(_Result):
    """Paired sign-flip permutation test of the mean difference."""

    test: str  # "sign-flip permutation"
    alternative: str
    hypothesis: str
    n: int
    n_nonzero: int
    diff: float | None  # observed mean difference
    exact: bool  # True: all 2^n_nonzero sign patterns enumerated
    n_resamples: int  # sign patterns evaluated (2^n_nonzero when exact)
    seed: int | None  # RNG seed of the Monte Carlo version
    p_value: float | None
    note: str


# ----------------------------------------------------------------------------------------------- helpers


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, not {alternative!r}")


def _as_array(values: Iterable[float], name: str) -> np.ndarray:
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; pass only finished runs / valid users")
    return arr


def _f(x: float | np.floating | None) -> float | None:
    """A plain Python float (or None) for clean serialisation."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _p_from_t(t: float, df: float, alternative: str) -> float:
    if alternative == "greater":
        p = _st.t.sf(t, df)
    elif alternative == "less":
        p = _st.t.cdf(t, df)
    else:
        p = 2.0 * _st.t.sf(abs(t), df)
    return float(min(1.0, p))


def hypothesis_text(alternative: str, a: str = "a", b: str = "b", paired: bool = False) -> str:
    """The alternative hypothesis in words, e.g. ``"H1: mean(a) > mean(b)"`` or ``"H1: mean(a - b) != 0"``."""
    _check_alternative(alternative)
    op = _H1[alternative]
    return f"H1: mean({a} - {b}) {op} 0" if paired else f"H1: mean({a}) {op} mean({b})"


def mean_sd(values: Iterable[float]) -> tuple[float | None, float | None, int]:
    """(mean, sample SD with ddof=1, n); SD is None for n < 2 and mean is None for n = 0."""
    arr = _as_array(values, "values")
    n = arr.size
    mean = _f(arr.mean()) if n else None
    sd = _f(arr.std(ddof=1)) if n >= 2 else None
    return mean, sd, n


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cohen's d = (mean(a) - mean(b)) / pooled SD, pooled SD = sqrt(((n_a-1) s_a² + (n_b-1) s_b²) / (n_a+n_b-2)).

    None when either side has fewer than 2 values or the pooled SD is 0.
    """
    x, y = _as_array(a, "a"), _as_array(b, "b")
    if x.size < 2 or y.size < 2:
        return None
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # exact check: x.var() of [0.1, 0.1, 0.1] is 1e-35, not 0
        return None
    pooled = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    return float((x.mean() - y.mean()) / math.sqrt(pooled))


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cohen's d times the small-sample correction J = 1 - 3 / (4 (n_a + n_b) - 9) (Hedges & Olkin 1985)."""
    d = cohens_d(a, b)
    if d is None:
        return None
    n = len(a) + len(b)
    return d * (1.0 - 3.0 / (4.0 * n - 9.0))


def cohens_dz(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Paired effect size d_z = mean(a - b) / SD(a - b) (ddof=1); None for n < 2 or zero SD."""
    x, y = _as_array(a, "a"), _as_array(b, "b")
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    if x.size < 2:
        return None
    d = x - y
    return None if np.ptp(d) == 0 else float(d.mean() / d.std(ddof=1))


# ----------------------------------------------------------------------------------------------- seeds


def ttest_seeds(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided", *, equal_var: bool = False,
                confidence: float = 0.95) -> SeedTest:
    """Welch's t-test (``equal_var=False``, default) or Student's t-test of two independent samples of seeds.

    Same statistic and p-value as ``scipy.stats.ttest_ind(a, b, equal_var=..., alternative=...)``. The CI is the
    two-sided ``confidence`` interval of mean(a) - mean(b) with the Welch–Satterthwaite df (Welch) or the pooled
    variance and n_a + n_b - 2 df (Student). With fewer than 2 values on either side, or zero variance on both,
    ``p_value`` is None and ``note`` says why.
    """
    _check_alternative(alternative)
    x, y = _as_array(a, "a"), _as_array(b, "b")
    na, nb = int(x.size), int(y.size)
    mean_a, sd_a, _ = mean_sd(x)
    mean_b, sd_b, _ = mean_sd(y)
    diff = None if mean_a is None or mean_b is None else mean_a - mean_b
    rel = None if diff is None or not mean_b else 100.0 * diff / mean_b
    common = dict(test="welch" if not equal_var else "student", alternative=alternative,
                  hypothesis=hypothesis_text(alternative), n_a=na, n_b=nb, mean_a=mean_a, mean_b=mean_b,
                  sd_a=sd_a, sd_b=sd_b, diff=diff, rel_diff_pct=rel, confidence=confidence)
    none = dict(ci_low=None, ci_high=None, t=None, df=None, p_value=None, cohens_d=None, hedges_g=None)
    if na < 2 or nb < 2:
        return SeedTest(**common, **none, note=f"too few seeds: n={na} vs n={nb}; no p-value")
    va, vb = float(x.var(ddof=1)), float(y.var(ddof=1))
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # exact: the variance of equal floats can come out as 1e-35
        return SeedTest(**common, **none,
                        note="zero variance on both sides (every seed gave the same value); no p-value")
    if equal_var:
        df = float(na + nb - 2)
        pooled = ((na - 1) * va + (nb - 1) * vb) / df
        se = math.sqrt(pooled * (1.0 / na + 1.0 / nb))
    else:
        qa, qb = va / na, vb / nb
        se = math.sqrt(qa + qb)
        df = (qa + qb) ** 2 / (qa ** 2 / (na - 1) + qb ** 2 / (nb - 1))
    assert diff is not None
    t = diff / se
    half = float(_st.t.ppf(0.5 + confidence / 2.0, df)) * se
    return SeedTest(**common, ci_low=diff - half, ci_high=diff + half, t=float(t), df=float(df),
                    p_value=_p_from_t(t, df, alternative), cohens_d=cohens_d(x, y), hedges_g=hedges_g(x, y),
                    note="")


def welch_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided",
               confidence: float = 0.95) -> SeedTest:
    """Welch's t-test over seeds (see :func:`ttest_seeds`)."""
    return ttest_seeds(a, b, alternative, equal_var=False, confidence=confidence)


# ----------------------------------------------------------------------------------------------- users (paired)


def _paired_arrays(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_array(a, "a"), _as_array(b, "b")
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    return x, y


def ttest_paired(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided", *,
                 confidence: float = 0.95) -> PairedTest:
    """Paired t-test on a - b (same p-value as ``scipy.stats.ttest_rel``), d_z and the paired-t CI of mean(a - b)."""
    _check_alternative(alternative)
    x, y = _paired_arrays(a, b)
    n = int(x.size)
    d = x - y
    common = dict(test="paired-t", alternative=alternative, hypothesis=hypothesis_text(alternative, paired=True),
                  n=n, mean_a=_f(x.mean()) if n else None, mean_b=_f(y.mean()) if n else None,
                  diff=_f(d.mean()) if n else None, confidence=confidence)
    none = dict(ci_low=None, ci_high=None, t=None, df=None, p_value=None, d_z=None)
    if n < 2:
        return PairedTest(**common, sd_diff=None, **none, note=f"too few pairs: n={n}; no p-value")
    sd = float(d.std(ddof=1))
    if np.ptp(d) == 0:
        what = "all differences are zero" if not d.any() else "every difference is the same"
        return PairedTest(**common, sd_diff=sd, **none, note=f"{what} (zero variance of a - b); no p-value")
    se = sd / math.sqrt(n)
    mean = float(d.mean())
    t = mean / se
    df = float(n - 1)
    half = float(_st.t.ppf(0.5 + confidence / 2.0, df)) * se
    return PairedTest(**common, sd_diff=sd, ci_low=mean - half, ci_high=mean + half, t=t, df=df,
                      p_value=_p_from_t(t, df, alternative), d_z=mean / sd, note="")


def wilcoxon_paired(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> RankTest:
    """Wilcoxon signed-rank test of a - b via ``scipy.stats.wilcoxon(a, b, zero_method="wilcox")``.

    Zero differences are dropped (with per-user HR most users tie); SciPy picks the exact distribution for small
    samples without ties and the normal approximation (tie-corrected) otherwise.
    """
    _check_alternative(alternative)
    x, y = _paired_arrays(a, b)
    n = int(x.size)
    nz = int(np.count_nonzero(x - y))
    common = dict(test="wilcoxon", alternative=alternative, hypothesis=hypothesis_text(alternative, paired=True),
                  n=n, n_nonzero=nz)
    if nz == 0:
        return RankTest(**common, statistic=None, p_value=None, note="all differences are zero; no p-value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _st.wilcoxon(x, y, zero_method="wilcox", alternative=alternative)
    p = _f(res.pvalue)
    note = "" if p is not None else "scipy.stats.wilcoxon returned no p-value"
    return RankTest(**common, statistic=_f(res.statistic), p_value=p, note=note)


def permutation_paired(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided", *,
                       n_resamples: int = 10_000, seed: int = 0, exact_max_n: int = 16,
                       chunk_elements: int = 1 << 18) -> PermutationTest:
    """Sign-flip permutation test of mean(a - b): under H0 each difference is as likely to have either sign.

    Zero differences do not change the statistic under any sign, so they are set aside; with at most
    ``exact_max_n`` non-zero differences every one of the 2^n sign patterns is enumerated and the p-value is
    exact (count of patterns at least as extreme / 2^n). Otherwise ``n_resamples`` random patterns from
    ``numpy.random.default_rng(seed)`` give p = (1 + count) / (1 + n_resamples), never 0 (Phipson & Smyth 2010).
    Two-sided counts |sum| at least |observed| (the null distribution is symmetric, so this equals SciPy's
    ``2 * min(p_less, p_greater)``); "greater" counts sum >= observed.
    """
    _check_alternative(alternative)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    x, y = _paired_arrays(a, b)
    n = int(x.size)
    d_all = x - y
    d = d_all[d_all != 0]
    nz = int(d.size)
    common = dict(test="sign-flip permutation", alternative=alternative,
                  hypothesis=hypothesis_text(alternative, paired=True), n=n, n_nonzero=nz,
                  diff=_f(d_all.mean()) if n else None)
    if nz == 0:
        return PermutationTest(**common, exact=False, n_resamples=0, seed=None, p_value=None,
                               note="all differences are zero; no p-value")
    observed = float(d.sum())
    total = observed
    tol = 1e-12 * float(np.abs(d).sum())  # float noise in sums that are equal in exact arithmetic

    def count(sums: np.ndarray) -> int:
        if alternative == "greater":
            return int(np.count_nonzero(sums >= observed - tol))
        if alternative == "less":
            return int(np.count_nonzero(sums <= observed + tol))
        return int(np.count_nonzero(np.abs(sums) >= abs(observed) - tol))

    if nz <= exact_max_n:
        patterns = 1 << nz
        flips = ((np.arange(patterns)[:, None] >> np.arange(nz)) & 1).astype(np.float64)
        sums = total - 2.0 * (flips @ d)  # flipping a subset S changes the sum by -2 * sum(d[S])
        return PermutationTest(**common, exact=True, n_resamples=patterns, seed=None,
                               p_value=count(sums) / patterns, note="")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, chunk_elements // nz))
    hits = 0
    done = 0
    while done < n_resamples:
        m = min(chunk, n_resamples - done)
        packed = rng.integers(0, 256, size=(m, (nz + 7) // 8), dtype=np.uint8)  # 8 fair coin flips per byte
        flips = np.unpackbits(packed, axis=1, count=nz).astype(np.float64)
        hits += count(total - 2.0 * (flips @ d))
        done += m
    return PermutationTest(**common, exact=False, n_resamples=n_resamples, seed=seed,
                           p_value=(1 + hits) / (1 + n_resamples), note="")


# ----------------------------------------------------------------------------------------------- multiplicity


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values over one family, in the input order.

    Sorted ascending, p_(i) is multiplied by (m - i + 1) (i = 1..m), a running maximum makes the adjusted values
    monotone, and they are capped at 1; reject H_(i) at level alpha iff its adjusted value <= alpha. ``None``
    entries (tests that could not be computed) are not part of the family (m counts only real p-values) and
    stay ``None``.
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None and not (isinstance(p, float) and math.isnan(p))]
    out: list[float | None] = [None] * len(pvalues)
    m = len(idx)
    if m == 0:
        return out
    ps = np.array([float(pvalues[i]) for i in idx])  # type: ignore[arg-type]
    if np.any((ps < 0) | (ps > 1)):
        raise ValueError(f"p-values must lie in [0, 1]: {ps.tolist()}")
    order = np.argsort(ps, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(ps[order] * (m - np.arange(m))))
    for rank, pos in enumerate(order):
        out[idx[pos]] = float(adjusted[rank])
    return out
