import numpy as np
import pytest

from mxsight.geometry.circle import CircleFitError, fit_circle


def _draw(rng, n=24, noise=0.5, outlier_fraction=0.1):
    c, r, alpha = rng.uniform(300, 700), rng.uniform(5, 150), rng.uniform(-180, 180)
    omega = np.sort(rng.uniform(0, 360, n))
    values = c + r * np.cos(np.deg2rad(omega - alpha)) + rng.normal(0, noise, n)
    outliers = rng.choice(n, int(round(outlier_fraction * n)), replace=False)
    values[outliers] += rng.choice([-1, 1], outliers.size) * rng.uniform(20, 80, outliers.size)
    return (c, r, alpha), omega, values, outliers


def test_fit_recovers_parameters_within_stated_uncertainties():
    rng = np.random.default_rng(20261124)
    z_scores = {"c": [], "r": [], "alpha": []}
    for _ in range(400):
        (c, r, alpha), omega, values, outliers = _draw(rng)
        fit = fit_circle(omega, values)
        assert not fit.inliers[outliers].any(), "every gross outlier must be rejected"
        z_scores["c"].append((fit.c - c) / fit.c_sigma)
        z_scores["r"].append((fit.r - r) / fit.r_sigma)
        z_scores["alpha"].append(((fit.alpha_deg - alpha + 180) % 360 - 180) / fit.alpha_sigma_deg)
    for name, z in z_scores.items():
        z = np.abs(np.array(z))
        assert np.mean(z < 2) > 0.9, f"{name}: only {np.mean(z < 2):.2f} of fits within 2 sigma"
        assert np.mean(z < 3) > 0.97, f"{name}: only {np.mean(z < 3):.2f} of fits within 3 sigma"
        assert 0.7 < np.median(z) / 0.6745 < 1.35, f"{name}: uncertainties mis-scaled (robust z spread {np.median(z) / 0.6745:.2f})"


def test_exact_data_gives_exact_parameters():
    omega = np.arange(0, 360, 45.0)
    fit = fit_circle(omega, 512 + 40 * np.cos(np.deg2rad(omega - 30)))
    assert fit.c == pytest.approx(512, abs=1e-9)
    assert fit.r == pytest.approx(40, abs=1e-9)
    assert fit.alpha_deg == pytest.approx(30, abs=1e-9)


def test_too_few_points_or_too_narrow_coverage_are_named():
    with pytest.raises(CircleFitError, match="at least 4"):
        fit_circle([0, 90, 180], [1, 2, 3])
    with pytest.raises(CircleFitError, match="span too little"):
        fit_circle([10, 10, 10, 10, 10], [1, 2, 3, 4, 5])
    with pytest.raises(CircleFitError, match="one length"):
        fit_circle([0, 90, 180, 270], [1, 2, 3])
