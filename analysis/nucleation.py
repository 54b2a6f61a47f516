"""Classical nucleation theory and the barrier-against-pore-size fit.

Classical heterogeneous nucleation (equations as in the shared science notes; SI inputs):

* critical radius ``r* = -(2 gamma / dH_f) (T_m / dT)``;
* barrier ``dG* = 16 pi gamma^3 / (3 dH_f^2) (T_m / dT)^2 (2 - 3 cos theta + cos^3 theta) / 4``;
* confined critical radius ``r*' = d' / (2 (1 - cos theta))``;
* confined barrier ``dG*' = pi gamma (2 + cos theta) d'^2 / 12``.

``gamma`` in J/m^2, ``dH_f`` (volumetric enthalpy change of the phase transition) in J/m^3
(negative for condensation), temperatures in K, ``theta`` in degrees, ``d`` in nm; barriers come
back in eV and radii in nm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nafill.errors import NafillInputError, check_range

J_PER_EV = 1.602176634e-19


def classical_critical_radius_nm(gamma_J_m2: float, dH_f_J_m3: float, T_m_K: float, dT_K: float) -> float:
    """r* = -(2 gamma/dH_f)(T_m/dT), nm."""
    check_range("dT_K", dT_K, 0.0, None, "K", lo_inclusive=False)
    if dH_f_J_m3 == 0:
        raise NafillInputError("dH_f_J_m3 = 0 J/m^3 must be non-zero")
    return float(-(2.0 * gamma_J_m2 / dH_f_J_m3) * (T_m_K / dT_K) * 1e9)


def classical_barrier_eV(
    gamma_J_m2: float, dH_f_J_m3: float, T_m_K: float, dT_K: float, theta_deg: float
) -> float:
    """Heterogeneous nucleation barrier dG*, eV (spherical cap with contact angle theta)."""
    check_range("dT_K", dT_K, 0.0, None, "K", lo_inclusive=False)
    check_range("theta_deg", theta_deg, 0.0, 180.0, "deg")
    c = np.cos(np.radians(theta_deg))
    g = 16 * np.pi * gamma_J_m2**3 / (3 * dH_f_J_m3**2) * (T_m_K / dT_K) ** 2
    return float(g * (2 - 3 * c + c**3) / 4 / J_PER_EV)


def confined_critical_radius_nm(d_nm, theta_deg: float):
    """r*' = d'/(2 (1 - cos theta)), nm (d' the pore size in nm)."""
    check_range("theta_deg", theta_deg, 0.0, 180.0, "deg", lo_inclusive=False)
    return np.asarray(d_nm, float) / (2 * (1 - np.cos(np.radians(theta_deg))))


def confined_barrier_eV(d_nm, gamma_J_m2: float, theta_deg: float):
    """dG*' = pi gamma (2 + cos theta) d'^2 / 12, eV (d' in nm, gamma in J/m^2)."""
    check_range("theta_deg", theta_deg, 0.0, 180.0, "deg")
    d = np.asarray(d_nm, float) * 1e-9
    return np.pi * gamma_J_m2 * (2 + np.cos(np.radians(theta_deg))) * d**2 / 12 / J_PER_EV


@dataclass
class SquareFit:
    """Fit of barrier = a d^2 (+ b): coefficients (eV/nm^2, eV), standard errors and R^2."""

    a_eV_nm2: float
    b_eV: float
    a_stderr: float
    b_stderr: float | None
    r2: float
    n_points: int
    with_offset: bool

    def predict(self, d_nm):
        return self.a_eV_nm2 * np.asarray(d_nm, float) ** 2 + self.b_eV

    def as_dict(self) -> dict:
        return asdict(self)


def fit_barrier_vs_size(d_nm, barrier_eV, with_offset: bool = False) -> SquareFit:
    """Least-squares fit of ``barrier = a d^2`` (or ``a d^2 + b``) with its quality."""
    d = np.asarray(d_nm, float)
    y = np.asarray(barrier_eV, float)
    ok = np.isfinite(d) & np.isfinite(y)
    d, y = d[ok], y[ok]
    need = 2 if with_offset else 1
    if len(d) < need + (1 if with_offset else 0):
        raise NafillInputError(
            f"fit_barrier_vs_size needs at least {need + (1 if with_offset else 0)} points with a barrier, got {len(d)}"
        )
    X = np.column_stack([d**2, np.ones_like(d)]) if with_offset else (d**2)[:, None]
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    dof = max(len(y) - X.shape[1], 1)
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    ss_tot = float(((y - y.mean()) ** 2).sum()) if with_offset else float((y**2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return SquareFit(
        a_eV_nm2=float(coef[0]),
        b_eV=float(coef[1]) if with_offset else 0.0,
        a_stderr=float(np.sqrt(cov[0, 0])),
        b_stderr=float(np.sqrt(cov[1, 1])) if with_offset else None,
        r2=r2,
        n_points=len(y),
        with_offset=with_offset,
    )
