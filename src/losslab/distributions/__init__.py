"""``torch.distributions`` classes that torch does not ship, used as laws' predictive distributions.

* :class:`ScaledBinomial`, :class:`ScaledBetaBinomial` — counts ``k`` out of ``n``
  reported as fractions ``y = k / n`` (the pmf is unchanged: a discrete law has
  no Jacobian).
* :class:`Histogram` — a piecewise-uniform density over equal-width bins (the
  predictive of the ``binned`` law).
* :class:`ZeroOneInflatedBeta` — point masses at 0 and 1 plus a Beta density inside.
* :class:`Beta`, :class:`StudentT`, :class:`Exponential`, :class:`MixtureSameFamily` —
  torch's classes (``isinstance`` still holds) with the ``cdf`` and ``icdf`` torch lacks
  or computes poorly, so that ``law.predictive(params).icdf(q)`` works for every law
  with a density over the labels.

The CDFs and quantile functions behind them (:func:`beta_cdf`, :func:`beta_icdf`,
:func:`studentt_cdf`, :func:`studentt_icdf`, :func:`cb_cdf`, :func:`cb_icdf`,
:func:`mixture_cdf`, :func:`mixture_icdf`, :func:`bisect_icdf`) also serve plain torch
distributions through :func:`distribution_cdf` and :func:`distribution_icdf`, which
``losslab.metrics`` uses: one implementation for the laws and the scores.

Every ``cdf`` here returns values in [0, 1]; every ``icdf(q)`` is the smallest ``x``
with ``cdf(x) >= q`` (for a law with atoms, the atom), with ``icdf(0)`` and ``icdf(1)``
the ends of the support.

One module per family: :mod:`.counts`, :mod:`.histogram`, :mod:`.beta` (with the zero/one-inflated
beta), :mod:`.student_t`, :mod:`.exponential`, :mod:`.continuous_bernoulli`, :mod:`.mixture` (with
:func:`distribution_cdf` and :func:`distribution_icdf`) and :mod:`.bisect`; every public name is
importable from ``losslab.distributions``. ``scipy`` loads on the first CDF or quantile that needs it.
"""

from ._scipy import ScipyCdf
from .beta import BETA_SPEC, Beta, ZeroOneInflatedBeta, beta_cdf, beta_icdf, beta_log_prob, zoib_log_prob
from .bisect import BISECT_MAX_ITER, bisect_icdf
from .continuous_bernoulli import cb_cdf, cb_icdf
from .counts import ScaledBetaBinomial, ScaledBinomial, log_binom
from .exponential import Exponential
from .histogram import Histogram, histogram_bin, histogram_grid
from .mixture import MixtureSameFamily, distribution_cdf, distribution_icdf, mixture_cdf, mixture_icdf
from .student_t import T_SPEC, StudentT, studentt_cdf, studentt_icdf, t_log_pdf

# The names metrics/scoring.py imported before the split (issue 22 moves its CDF helpers here).
_BETA_SPEC, _T_SPEC, _ScipyCdf, _t_log_pdf = BETA_SPEC, T_SPEC, ScipyCdf, t_log_pdf

__all__ = [
    "ScaledBinomial",
    "ScaledBetaBinomial",
    "log_binom",
    "Histogram",
    "histogram_bin",
    "histogram_grid",
    "beta_log_prob",
    "zoib_log_prob",
    "ZeroOneInflatedBeta",
    "Beta",
    "StudentT",
    "Exponential",
    "MixtureSameFamily",
    "beta_cdf",
    "beta_icdf",
    "studentt_cdf",
    "studentt_icdf",
    "cb_cdf",
    "cb_icdf",
    "bisect_icdf",
    "mixture_cdf",
    "mixture_icdf",
    "distribution_cdf",
    "distribution_icdf",
    "BISECT_MAX_ITER",
    "ScipyCdf",
    "BETA_SPEC",
    "T_SPEC",
    "t_log_pdf",
]
