"""Bayesian decision metrics beside every row: GrowthBook's Gaussian effect model (gbstats).

The likelihood of an arm's effect over the control is normal, centred on the observed effect with
the frequentist variance — absolute ``m1 - m0`` with ``v1/n1 + v0/n0``, or relative
``(m1 - m0) / |m0|`` with the delta-method variance ``v1 / (n1 m0²) + v0 m1² / (n0 m0⁴)`` (a binary
metric's unit variance is ``p (1 - p)``, a numeric one's the sample variance). The prior is flat
(improper) by default, or a proper normal prior on the **relative** effect, ``prior=(mean, sd)``
(e.g. ``(0, 0.3)``: most changes move a metric by less than ±60%); on the absolute scale it is
scaled by the control mean, as gbstats does. The posterior is normal; from it, per arm:

- ``chance_to_win``: P(effect > 0) — P(effect < 0) for a lower-is-better metric. With the flat
  prior this is ``1 - one-sided p`` of the Wald/Welch z-test of the same effect;
- ``risk_ship``: the expected loss of shipping the arm, E[max(0, -effect)] (the loss if it is
  worse), and ``risk_keep``: of keeping the control, E[max(0, effect)]; for a lower-is-better metric
  the two swap. ``risk_keep - risk_ship`` is the posterior mean (its negative when lower is better);
- ``cred_low``/``cred_high`` (absolute) and ``rel_cred_low``/``rel_cred_high`` (relative):
  equal-tailed credible intervals at the call's ``1 - alpha``; ``post_mean``/``rel_post_mean``;
- ``rel_chance_to_win``, ``rel_risk_ship``, ``rel_risk_keep``: the same on the relative scale (the
  numbers GrowthBook shows, its default);
- ``prob_best``: the probability that the arm is the best of all arms and the control, from the
  joint posterior of the absolute effects (they share the control, so they are correlated): with
  the flat prior by numerical integration over the arms' independent posterior means, with a
  proper prior by 200,000 draws from a fixed seed (exact with one arm: the chance to win); the control's is in ``settings["prob_best_control"]``. The
  probabilities of the control and every arm sum to 1.

Rows adjusted for covariates and ratio metrics get no Bayesian columns (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["BAYES_COLUMNS", "ArmStats", "bayes_rows", "gaussian_posterior", "risks"]

BAYES_COLUMNS = [
    "chance_to_win",
    "prob_best",
    "risk_ship",
    "risk_keep",
    "post_mean",
    "cred_low",
    "cred_high",
    "rel_chance_to_win",
    "rel_risk_ship",
    "rel_risk_keep",
    "rel_post_mean",
    "rel_cred_low",
    "rel_cred_high",
]
#: draws for the probability of being best
PROB_BEST_DRAWS = 200_000


@dataclass(frozen=True)
class ArmStats:
    """An arm's mean, unit variance and size (the sufficient statistics of the Gaussian model)."""

    mean: float
    var: float
    n: int


def gaussian_posterior(data_mean: float, data_var: float, prior: tuple[float, float] | None) -> tuple[float, float]:
    """Posterior (mean, sd) of a normal likelihood and a flat (None) or normal ``(mean, sd)`` prior."""
    if not data_var > 0:
        return float("nan"), float("nan")
    if prior is None:
        return data_mean, math.sqrt(data_var)
    pm, psd = prior
    prec = 1 / data_var + 1 / psd**2
    return (data_mean / data_var + pm / psd**2) / prec, math.sqrt(1 / prec)


def risks(mu: float, sd: float) -> tuple[float, float]:
    """(E[max(0, -effect)], E[max(0, effect)]) for a normal effect: the losses of shipping and of keeping."""
    if not sd > 0:
        return float("nan"), float("nan")
    z = mu / sd
    dens = sd * stats.norm.pdf(z)
    return float(dens - mu * stats.norm.cdf(-z)), float(dens + mu * stats.norm.cdf(z))


def _summaries(mu: float, sd: float, lower: bool, alpha: float) -> tuple[float, float, float, float, float]:
    """(chance to win, risk ship, risk keep, credible low, credible high)."""
    if not sd > 0:
        nan = float("nan")
        return nan, nan, nan, nan, nan
    win = float(stats.norm.sf(0, mu, sd))
    loss_ship, loss_keep = risks(mu, sd)
    if lower:
        win, loss_ship, loss_keep = 1 - win, loss_keep, loss_ship
    lo, hi = stats.norm.ppf([alpha / 2, 1 - alpha / 2], mu, sd)
    return win, loss_ship, loss_keep, float(lo), float(hi)


def bayes_rows(
    control: ArmStats,
    arms: Sequence[ArmStats],
    *,
    alpha: float,
    prior: tuple[float, float] | None,
    lower_is_better: bool,
) -> tuple[list[dict[str, Any]], float]:
    """The Bayesian columns for each arm against the control, and the control's probability of being best."""
    m0, v0, n0 = control.mean, control.var, control.n
    out: list[dict[str, Any]] = []
    abs_post = []
    for a in arms:
        d_abs, var_abs = a.mean - m0, a.var / a.n + v0 / n0
        abs_prior = None if prior is None else (prior[0] * abs(m0), prior[1] * abs(m0))
        if prior is not None and m0 == 0:
            mu, sd = float("nan"), float("nan")
        else:
            mu, sd = gaussian_posterior(d_abs, var_abs, abs_prior)
        abs_post.append((d_abs, var_abs))
        win, ship, keep, lo, hi = _summaries(mu, sd, lower_is_better, alpha)
        if m0 != 0:
            d_rel = (a.mean - m0) / abs(m0)
            var_rel = a.var / a.n / m0**2 + v0 * a.mean**2 / (n0 * m0**4)
            rmu, rsd = gaussian_posterior(d_rel, var_rel, prior)
        else:
            rmu, rsd = float("nan"), float("nan")
        rwin, rship, rkeep, rlo, rhi = _summaries(rmu, rsd, lower_is_better, alpha)
        out.append(
            {
                "chance_to_win": win,
                "risk_ship": ship,
                "risk_keep": keep,
                "post_mean": mu,
                "cred_low": lo,
                "cred_high": hi,
                "rel_chance_to_win": rwin,
                "rel_risk_ship": rship,
                "rel_risk_keep": rkeep,
                "rel_post_mean": rmu,
                "rel_cred_low": rlo,
                "rel_cred_high": rhi,
            }
        )
    best, best_control = _prob_best(abs_post, v0 / n0, m0, prior, lower_is_better)
    for row, p in zip(out, best):
        row["prob_best"] = p
    return out, best_control


def _prob_best(
    lik: list[tuple[float, float]],
    control_var: float,
    m0: float,
    prior: tuple[float, float] | None,
    lower: bool,
) -> tuple[list[float], float]:
    """P(each arm is best) and P(control is best) from the joint normal posterior of the effects.

    ``lik`` holds each arm's observed absolute effect and its variance. The effects' likelihood
    covariance is ``diag(v_i/n_i) + v0/n0`` (they share the control); a proper prior (independent
    per effect, the relative prior scaled by ``|m0|``) adds its precision. Fixed-seed draws: the
    same numbers on every run.
    """
    k = len(lik)
    d: Any = np.array([x[0] for x in lik], dtype=float)
    var = np.array([x[1] for x in lik], dtype=float)
    if not (np.isfinite(var).all() and (var > 0).all()) or (prior is not None and m0 == 0):
        return [float("nan")] * k, float("nan")
    cov: Any = np.diag(var - control_var) + control_var
    if prior is not None:
        pm, psd = prior[0] * abs(m0), prior[1] * abs(m0)
        lik_prec = np.linalg.inv(cov)
        cov = np.linalg.inv(lik_prec + np.eye(k) / psd**2)
        d = cov @ (lik_prec @ d + pm / psd**2)
    if k == 1:  # one arm: P(best) is the chance to win, exactly
        up = float(stats.norm.sf(0, d[0], math.sqrt(cov[0, 0])))
        p = 1 - up if lower else up
        return [p], 1 - p
    if prior is None:  # flat prior: the arms' means are independent normals; integrate on a grid
        return _prob_best_flat(d, var, control_var, lower)
    gen = np.random.default_rng(20231)
    draws = gen.multivariate_normal(d, cov, size=PROB_BEST_DRAWS, method="cholesky")
    full = np.column_stack([np.zeros(PROB_BEST_DRAWS), draws])  # the control's effect is 0
    winner = full.argmin(axis=1) if lower else full.argmax(axis=1)
    counts = np.bincount(winner, minlength=k + 1) / PROB_BEST_DRAWS
    return [float(c) for c in counts[1:]], float(counts[0])


def _prob_best_flat(d: np.ndarray, var: np.ndarray, control_var: float, lower: bool) -> tuple[list[float], float]:
    """P(best) with independent normal arm means (flat prior): ``∫ f_i(x) prod_j F_j(x) dx`` on a fine
    grid (trapezoid rule over +/- 12 standard deviations of every arm; error far below 1e-6)."""
    means = np.r_[0.0, d]  # relative to the control's mean
    sds = np.sqrt(np.r_[control_var, var - control_var])
    lo, hi = float((means - 12 * sds).min()), float((means + 12 * sds).max())
    x = np.linspace(lo, hi, 20_001)
    z = (x[None, :] - means[:, None]) / sds[:, None]
    logc = stats.norm.logsf(z) if lower else stats.norm.logcdf(z)
    total = logc.sum(axis=0)
    dens = stats.norm.pdf(z) / sds[:, None]
    probs = np.trapezoid(dens * np.exp(total[None, :] - logc), x, axis=1)
    probs = probs / probs.sum()
    return [float(p) for p in probs[1:]], float(probs[0])
