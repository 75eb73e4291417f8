"""elcrec.stats against SciPy, against values worked out by hand, and on the edge cases (too few seeds, zeros)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as st

from elcrec import stats

A = [0.0529, 0.0531, 0.0525, 0.0534]
B = [0.0495, 0.0500, 0.0490]
ALTS = ("two-sided", "greater", "less")


# ---------------------------------------------------------------------------------------- seeds: Welch / Student


@pytest.mark.parametrize("alternative", ALTS)
@pytest.mark.parametrize("equal_var", [False, True])
def test_seed_test_matches_scipy_ttest_ind(alternative: str, equal_var: bool) -> None:
    ours = stats.ttest_seeds(A, B, alternative, equal_var=equal_var)
    ref = st.ttest_ind(A, B, equal_var=equal_var, alternative=alternative)
    assert ours.test == ("student" if equal_var else "welch")
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-12)
    assert ours.diff == pytest.approx(np.mean(A) - np.mean(B))
    assert ours.note == ""
    if alternative == "two-sided" and hasattr(ref, "confidence_interval"):  # SciPy >= 1.11
        ci = ref.confidence_interval(0.95)
        assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_welch_direction_is_stated() -> None:
    greater = stats.welch_test(A, B, "greater")
    less = stats.welch_test(A, B, "less")
    assert greater.hypothesis == "H1: mean(a) > mean(b)"
    assert less.hypothesis == "H1: mean(a) < mean(b)"
    assert greater.p_value < 0.01 < 0.99 < less.p_value  # A is clearly above B
    assert greater.p_value + less.p_value == pytest.approx(1.0)
    assert stats.welch_test(A, B).p_value == pytest.approx(2 * greater.p_value)


def test_welch_by_hand() -> None:
    """a = [1, 2, 3] (mean 2, var 1), b = [0, 0] (var 0): se = sqrt(1/3), t = 2 sqrt(3), Welch df = n_a - 1 = 2.

    With 2 df the t distribution has closed forms: two-sided p = 1 - |t| / sqrt(t^2 + 2) and the 0.975 quantile
    (2q - 1) / sqrt(2 q (1 - q)) = 4.302653; pooled SD = sqrt(2/3), so Cohen's d = 2 / sqrt(2/3) = sqrt(6).
    """
    res = stats.welch_test([1.0, 2.0, 3.0], [0.0, 0.0])
    t = 2 * math.sqrt(3)
    assert res.t == pytest.approx(t)
    assert res.df == pytest.approx(2.0)
    assert res.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2))  # 0.0741799
    assert res.p_value == pytest.approx(0.0741799, abs=1e-7)
    q = 0.975
    half = (2 * q - 1) / math.sqrt(2 * q * (1 - q)) / math.sqrt(3)
    assert (res.ci_low, res.ci_high) == pytest.approx((2 - half, 2 + half))
    assert res.cohens_d == pytest.approx(math.sqrt(6))
    assert res.hedges_g == pytest.approx(math.sqrt(6) * (1 - 3 / (4 * 5 - 9)))
    assert (res.mean_a, res.sd_a, res.mean_b, res.sd_b) == pytest.approx((2.0, 1.0, 0.0, 0.0))
    assert res.rel_diff_pct is None  # relative to a mean of 0


def test_too_few_seeds_gives_a_note_not_a_number() -> None:
    res = stats.ttest_seeds([0.05], [0.04, 0.05, 0.06], "greater")
    assert res.p_value is None and res.t is None and res.ci_low is None and res.cohens_d is None
    assert res.note == "too few seeds: n=1 vs n=3; no p-value"
    assert res.mean_a == 0.05 and res.mean_b == pytest.approx(0.05) and res.n_a == 1 and res.n_b == 3
    assert stats.ttest_seeds([], [1.0, 2.0]).note == "too few seeds: n=0 vs n=2; no p-value"
    same = stats.ttest_seeds([0.1, 0.1, 0.1], [0.2, 0.2])
    assert same.p_value is None and "zero variance on both sides" in same.note
    assert same.diff == pytest.approx(-0.1)


def test_results_serialise_cleanly() -> None:
    for res in (stats.welch_test(A, B), stats.ttest_seeds([1.0], B), stats.ttest_paired(A[:3], B),
                stats.wilcoxon_paired(A[:3], B), stats.permutation_paired(A[:3], B)):
        row = res.to_dict()
        json.dumps(row)  # plain floats / ints / strings / None only
        assert all(v is None or isinstance(v, (bool, int, float, str)) for v in row.values())


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        stats.welch_test([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="alternative"):
        stats.welch_test(A, B, "bigger")
    with pytest.raises(ValueError, match="length"):
        stats.ttest_paired([1.0, 2.0], [1.0])


# ---------------------------------------------------------------------------------------- users: paired


@pytest.fixture(scope="module")
def users() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    a = rng.random(300)
    b = np.clip(a - 0.03 + rng.normal(0, 0.2, 300), 0, 1)
    b[:40] = a[:40]  # ties, as per-user HR/NDCG have
    return a, b


@pytest.mark.parametrize("alternative", ALTS)
def test_paired_t_matches_scipy_ttest_rel(users, alternative: str) -> None:
    a, b = users
    ours = stats.ttest_paired(a, b, alternative)
    ref = st.ttest_rel(a, b, alternative=alternative)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    d = a - b
    assert ours.d_z == pytest.approx(d.mean() / d.std(ddof=1))
    assert ours.d_z == pytest.approx(stats.cohens_dz(a, b))
    if alternative == "two-sided":
        ci = ref.confidence_interval(0.95)
        assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_paired_t_by_hand() -> None:
    """Differences [1, 2, 3]: mean 2, SD 1, t = 2 / (1 / sqrt(3)) = 2 sqrt(3) on 2 df, d_z = 2."""
    res = stats.ttest_paired([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    t = 2 * math.sqrt(3)
    assert res.t == pytest.approx(t) and res.df == 2 and res.d_z == pytest.approx(2.0)
    assert res.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2))
    zero = stats.ttest_paired([0.1, 0.2], [0.1, 0.2])
    assert zero.p_value is None and "all differences are zero" in zero.note


@pytest.mark.parametrize("alternative", ALTS)
def test_wilcoxon_matches_scipy(users, alternative: str) -> None:
    a, b = users
    ours = stats.wilcoxon_paired(a, b, alternative)
    ref = st.wilcoxon(a, b, zero_method="wilcox", alternative=alternative)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.n_nonzero == 260
    none = stats.wilcoxon_paired([1.0, 2.0], [1.0, 2.0])
    assert none.p_value is None and none.note == "all differences are zero; no p-value"


def test_permutation_exact_by_hand() -> None:
    """Differences [1, 2, 3] (+ a zero, which no sign flip changes): the 8 sign patterns give sums
    6, 4, 2, 0, 0, -2, -4, -6, so P(sum >= 6) = 1/8 and P(|sum| >= 6) = 2/8."""
    a, b = [1.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, 5.0]
    greater = stats.permutation_paired(a, b, "greater")
    assert greater.exact and greater.n_resamples == 8 and greater.n_nonzero == 3 and greater.n == 4
    assert greater.p_value == pytest.approx(1 / 8)
    assert stats.permutation_paired(a, b).p_value == pytest.approx(2 / 8)
    assert stats.permutation_paired(a, b, "less").p_value == pytest.approx(1.0)
    none = stats.permutation_paired([1.0], [1.0])
    assert none.p_value is None and "all differences are zero" in none.note


@pytest.mark.parametrize("alternative", ALTS)
def test_permutation_exact_matches_scipy(alternative: str) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(10), rng.random(10)
    ours = stats.permutation_paired(a, b, alternative)
    ref = st.permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
                              alternative=alternative, n_resamples=np.inf)
    assert ours.exact
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_permutation_monte_carlo_is_seeded_and_close_to_exact() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(14), rng.random(14) - 0.15
    exact = stats.permutation_paired(a, b, "greater")
    mc1 = stats.permutation_paired(a, b, "greater", n_resamples=20_000, seed=1, exact_max_n=0)
    mc2 = stats.permutation_paired(a, b, "greater", n_resamples=20_000, seed=1, exact_max_n=0)
    assert not mc1.exact and mc1.n_resamples == 20_000 and mc1.seed == 1
    assert mc1.p_value == mc2.p_value
    assert mc1.p_value == pytest.approx(exact.p_value, abs=0.01)
    assert mc1.p_value >= 1 / 20_001  # never 0


# ---------------------------------------------------------------------------------------- Holm and effect sizes


def test_holm_textbook_example() -> None:
    """Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03,
    0.06, 0.06, back in input order."""
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_skips_none_and_is_monotone() -> None:
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0]
    assert stats.holm([None, 0.01, 0.04]) == [None, pytest.approx(0.02), pytest.approx(0.04)]
    assert stats.holm([]) == [] and stats.holm([None]) == [None]
    rng = np.random.default_rng(0)
    p = rng.random(25) ** 3
    adj = np.array(stats.holm(list(p)))
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0) and np.all(adj >= p) and np.all(adj <= 1)
    with pytest.raises(ValueError):
        stats.holm([1.5])


def test_cohens_d_pooled() -> None:
    a, b = [2.0, 4.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0]  # vars 4 and 2.5; pooled (2*4 + 4*2.5) / 6 = 3
    assert stats.cohens_d(a, b) == pytest.approx(1.0 / math.sqrt(3.0))
    assert stats.cohens_d([1.0], b) is None
    assert stats.cohens_dz([1.0, 2.0], [1.0, 2.0]) is None
