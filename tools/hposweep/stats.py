"""stats - the statistics a reader needs to trust a claim that one row beats
another, after Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice" (NeurIPS; the rliable library):

  difference of means   mean(A) - mean(B) per environment; over environments
                        the mean of the per-environment differences of
                        normalized scores
  IQM                   interquartile mean: the mean of the middle 50% of the
                        scores (scipy.stats.trim_mean(x, 0.25), which cuts
                        floor(n / 4) from each end: with 3 seeds it is the mean);
                        over environments, of all (environment, seed) scores
  P(A > B)              probability of improvement, P(X > Y) for a seed X of A
                        and a seed Y of B (Mann-Whitney form, ties count 1/2),
                        averaged over environments
  performance profile   fraction of runs whose normalized score is > tau

Intervals are 95% percentile intervals of a stratified bootstrap: each
(environment, row) stratum's seeds are resampled with replacement, on their
own, RESAMPLES times, by numpy's PCG64 generator seeded with SEED, so that a
report (and `refresh`) reproduces its numbers exactly.

Every statistic takes strata: a list of 1-D arrays, and is computed at once on
the data and on the (RESAMPLES, n) resamples of each stratum.
"""

import numpy as np
from scipy.stats import trim_mean

RESAMPLES = 10000
SEED = 20211202  # the generator's seed, fixed: the same data give the same intervals
LEVEL = 0.95


def resample(strata, reps=RESAMPLES, seed=SEED):
    """For each stratum (1-D array, n >= 1) a (reps, n) array of its values drawn
    with replacement; one generator, strata in order."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return [x[rng.integers(0, len(x), size=(reps, len(x)))] for x in
            (np.asarray(s, dtype=float) for s in strata)]


def interval(boot, level=LEVEL):
    """The percentile interval of bootstrap values boot (along axis 0)."""
    lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return lo, hi


def bootstrap(stat, strata, reps=RESAMPLES, seed=SEED):
    """(point, lo, hi): stat on the strata as (1, n) rows, and the percentile
    interval of stat on the stratified resamples. stat maps a list of
    (k, n_i) arrays to a (k,) or (k, m) array."""
    data = [np.asarray(s, dtype=float)[None, :] for s in strata]
    point = stat(data)[0]
    lo, hi = interval(stat(resample(strata, reps, seed)))
    return point, lo, hi


# ---- statistics on (k, n) rows: k resamples (or the data, k = 1) ----

def mean_diff(a, b):
    """mean(a) - mean(b), per row."""
    return a.mean(axis=1) - b.mean(axis=1)


def iqm(x):
    """The interquartile mean of each row."""
    return trim_mean(x, 0.25, axis=1)


def prob_improvement(a, b):
    """P(X > Y) + P(X = Y) / 2 for X drawn from a row of a and Y from b's."""
    gt = (a[:, :, None] > b[:, None, :]).mean(axis=(1, 2))
    eq = (a[:, :, None] == b[:, None, :]).mean(axis=(1, 2))
    return gt + 0.5 * eq


def profile(x, taus):
    """The fraction of each row's values > tau, for each tau: (k, len(taus))."""
    return (x[:, :, None] > np.asarray(taus)[None, None, :]).mean(axis=1)


# ---- per environment and over environments ----
# pairs: [(a, b)] one pair of score arrays (the two rows' seeds) per environment

def env_diff(a, b):
    """(point, lo, hi) of mean(a) - mean(b) in one environment."""
    return bootstrap(lambda s: mean_diff(s[0], s[1]), [a, b])


def env_prob(a, b):
    """(point, lo, hi) of P(A > B) in one environment."""
    return bootstrap(lambda s: prob_improvement(s[0], s[1]), [a, b])


def _flat(pairs):
    return [x for ab in pairs for x in ab]


def agg_diff(pairs):
    """(point, lo, hi) of the mean over environments of mean(a) - mean(b)."""
    return bootstrap(lambda s: np.mean([mean_diff(s[i], s[i + 1])
                                        for i in range(0, len(s), 2)], axis=0),
                     _flat(pairs))


def agg_prob(pairs):
    """(point, lo, hi) of the mean over environments of P(A > B)."""
    return bootstrap(lambda s: np.mean([prob_improvement(s[i], s[i + 1])
                                        for i in range(0, len(s), 2)], axis=0),
                     _flat(pairs))


def agg_iqm(scores):
    """(point, lo, hi) of the IQM of all scores of the strata (one array of
    seeds per environment) together."""
    return bootstrap(lambda s: iqm(np.concatenate(s, axis=1)), scores)


def agg_profile(scores, taus):
    """(fractions, lo, hi), each (len(taus),): the fraction of all runs with a
    score > tau, and its pointwise bootstrap interval."""
    return bootstrap(lambda s: profile(np.concatenate(s, axis=1), taus), scores)
