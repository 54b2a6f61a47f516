"""Helpers that link simulations to measured hard carbons (plain functions, SI-ish units stated).

* :func:`closed_pore_volume_cm3_g`: He-pycnometry closed-pore volume.
* :func:`fit_saxs_closed_pores`: SAXS fit ``I(q) = A/q^alpha + B a1^4 / (1 + a1^2 q^2)^2 + D``.
* :func:`fit_b_value`: CV kinetics, peak current ``I = a v^b``.
* :func:`bragg_spacing_A`, :func:`scherrer_size_nm`: XRD.

:data:`HARD_CARBON_SAMPLES` holds the measured samples of the reference study.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import curve_fit

from nafill.errors import NafillInputError, check_range

GRAPHITE_DENSITY_G_CM3 = 2.26

HARD_CARBON_SAMPLES = {
    "HC-1100": {"d002_A": 3.81, "true_density_g_cm3": 2.190, "closed_pore_volume_cm3_g": 0.014,
                "mean_closed_pore_nm": 1.6, "capacity_50mA_g": "lowest of the three"},
    "HC-1300": {"d002_A": 3.72, "true_density_g_cm3": 1.900, "closed_pore_volume_cm3_g": 0.084,
                "mean_closed_pore_nm": 2.0, "capacity_50mA_g": "500 mAh/g"},
    "HC-1500": {"d002_A": 3.65, "true_density_g_cm3": 2.032, "closed_pore_volume_cm3_g": 0.050,
                "mean_closed_pore_nm": 2.5, "capacity_50mA_g": "between"},
}
"""The three hard carbons of the reference study (pyrolysis at 1100/1300/1500 C)."""


def closed_pore_volume_cm3_g(true_density_g_cm3: float, skeleton_density_g_cm3: float = GRAPHITE_DENSITY_G_CM3) -> float:
    """V_closed = 1/rho_true - 1/rho_skeleton (cm^3/g); rho in g/cm^3, skeleton default graphite 2.26."""
    check_range("true_density_g_cm3", true_density_g_cm3, 0.0, skeleton_density_g_cm3, "g/cm^3", lo_inclusive=False)
    return float(1.0 / true_density_g_cm3 - 1.0 / skeleton_density_g_cm3)


def saxs_model(q, A, alpha, B, a1, D):
    """I(q) = A/q^alpha + B a1^4/(1 + a1^2 q^2)^2 + D (q in 1/A, a1 in A)."""
    q = np.asarray(q, float)
    return A / q**alpha + B * a1**4 / (1 + a1**2 * q**2) ** 2 + D


@dataclass
class SaxsFit:
    """SAXS closed-pore fit: parameters, their standard errors, and the pore diameter."""

    A: float
    alpha: float
    B: float
    a1_A: float
    D: float
    stderr: dict
    pore_diameter_nm: float
    """2 sqrt(10) a1 (some papers call this a radius)."""

    def as_dict(self) -> dict:
        return asdict(self)


def fit_saxs_closed_pores(q_inv_A, intensity, p0: tuple | None = None) -> SaxsFit:
    """Fit the closed-pore SAXS model to (q in 1/A, I) data (least squares on log I).

    Returns the parameters and the pore diameter ``2 sqrt(10) a1`` in nm.
    """
    q = np.asarray(q_inv_A, float)
    y = np.asarray(intensity, float)
    if q.shape != y.shape or len(q) < 6:
        raise NafillInputError("fit_saxs_closed_pores needs matching q and I arrays with >= 6 points")
    if (q <= 0).any() or (y <= 0).any():
        raise NafillInputError("q and I must be positive for the SAXS fit")
    if p0 is None:
        # Porod-like slope from the lowest q, plateau, knee from the Guinier-like shoulder
        slope = -np.polyfit(np.log(q[:4]), np.log(y[:4]), 1)[0]
        alpha0 = float(np.clip(slope, 2.5, 4.5))
        D0 = float(y.min() * 0.5)
        a10 = float(np.sqrt(10) / np.median(q)) / 3
        p0 = (y[0] * q[0] ** alpha0 * 0.5, alpha0, y.max() / a10**4 * 0.1, a10, D0)

    def log_model(qq, A, alpha, B, a1, D):
        return np.log(np.abs(saxs_model(qq, A, alpha, B, a1, D)))

    popt, pcov = curve_fit(log_model, q, np.log(y), p0=p0, maxfev=20000,
                           bounds=([0, 1.0, 0, 0.5, 0], [np.inf, 6.0, np.inf, 500.0, np.inf]))
    err = np.sqrt(np.diag(pcov))
    names = ("A", "alpha", "B", "a1_A", "D")
    return SaxsFit(*map(float, popt), stderr=dict(zip(names, map(float, err))),
                   pore_diameter_nm=float(2 * np.sqrt(10) * popt[3] / 10.0))


@dataclass
class BValueFit:
    """CV peak-current fit I = a v^b: b near 1 surface-controlled, near 0.5 diffusion-controlled."""

    a: float
    b: float
    b_stderr: float
    r2: float
    regime: str

    def as_dict(self) -> dict:
        return asdict(self)


def fit_b_value(scan_rate_mV_s, peak_current_mA) -> BValueFit:
    """Fit log I = log a + b log v (scan rate v in mV/s, current in mA)."""
    v = np.asarray(scan_rate_mV_s, float)
    i = np.abs(np.asarray(peak_current_mA, float))
    if len(v) < 2 or v.shape != i.shape or (v <= 0).any() or (i <= 0).any():
        raise NafillInputError("fit_b_value needs >= 2 positive scan rates and peak currents")
    X = np.column_stack([np.log(v), np.ones_like(v)])
    coef, *_ = np.linalg.lstsq(X, np.log(i), rcond=None)
    resid = np.log(i) - X @ coef
    dof = max(len(v) - 2, 1)
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    ss = ((np.log(i) - np.log(i).mean()) ** 2).sum()
    b = float(coef[0])
    regime = "surface-controlled" if b >= 0.8 else "diffusion-controlled" if b <= 0.6 else "mixed"
    return BValueFit(float(np.exp(coef[1])), b, float(np.sqrt(cov[0, 0])),
                     float(1 - resid @ resid / ss) if ss > 0 else 1.0, regime)


def bragg_spacing_A(two_theta_deg: float, wavelength_A: float = 1.5406) -> float:
    """Bragg spacing d = lambda / (2 sin theta), A (2theta in degrees; Cu K-alpha default)."""
    check_range("two_theta_deg", two_theta_deg, 0.0, 180.0, "deg", lo_inclusive=False)
    return float(wavelength_A / (2 * np.sin(np.radians(two_theta_deg / 2))))


def scherrer_size_nm(two_theta_deg: float, fwhm_deg: float, wavelength_A: float = 1.5406, K: float = 0.9) -> float:
    """Scherrer crystallite size L = K lambda / (beta cos theta), nm (beta = FWHM in radians of 2theta)."""
    check_range("fwhm_deg", fwhm_deg, 0.0, 90.0, "deg", lo_inclusive=False)
    check_range("two_theta_deg", two_theta_deg, 0.0, 180.0, "deg", lo_inclusive=False)
    beta = np.radians(fwhm_deg)
    return float(K * wavelength_A / (beta * np.cos(np.radians(two_theta_deg / 2))) / 10.0)
