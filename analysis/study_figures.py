"""Figures of the study report, in the layout of the published ones (PNG bytes, units on every axis).

Computed values are coloured filled markers and lines; published values are always black open
markers (squares) or black dashed lines, labelled "published".
"""

from __future__ import annotations

import functools
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

PUB = dict(marker="s", mfc="none", mec="black", color="black", ls="none", ms=10, mew=1.8, label="published")
FONT = 11
LEGEND = 9
DPI = 130
"""Figures are drawn at this resolution; the page shows them at their pixel size (at most the page width)."""
COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:brown", "tab:cyan", "tab:olive", "tab:pink")
"""Computed series, one colour each (none of them black: black is the published values' colour)."""

RC = {"font.size": FONT, "axes.titlesize": FONT + 1, "axes.labelsize": FONT,
      "xtick.labelsize": FONT - 1, "ytick.labelsize": FONT - 1, "legend.fontsize": LEGEND}


def _styled(f):
    """Draw the figure with the report's font sizes (without touching the caller's matplotlib settings)."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return f(*args, **kwargs)
    return wrapper


def _integer_x(ax) -> None:
    """Counts (Na, layers) on the x axis: whole-number ticks only."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=FONT, color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, ncols: int = 3, w: float = 4.4, h: float = 3.4):
    """n panels of w x h inches, ncols to a row (unused cells hidden)."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False, constrained_layout=True)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


@_styled
def fig_spacing(rows) -> bytes:
    """Relaxed wall spacing (nm) against the number of Na layers: computed and published."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), constrained_layout=True)
    pub = [(r["layers"], r["published_nm"]) for r in rows if r.get("published_nm") is not None]
    comp = [(r["layers"], r["spacing_nm"]) for r in rows if r.get("spacing_nm") is not None]
    if comp:
        ax.plot(*zip(*comp), "o-", color="tab:blue", ms=7, label="computed")
    if pub:
        ax.plot(*zip(*pub), **PUB)
    ax.set_xlabel("Na layers between the walls (layers)")
    ax.set_ylabel("relaxed wall spacing (nm)")
    ax.set_title("Step 1: relaxed spacings")
    _integer_x(ax)
    ax.legend()
    return _png(fig)


def _profile_axes(ax, prof, title, published_capacity=None):
    n = [0] + list(prof["n_na"])
    h = [0.0] + list(prof["H_eV"])
    ax.plot(n, h, "o-", color="tab:blue", ms=3.5, label="computed H(x)")
    ax.axhline(0, color="0.6", lw=0.8)
    cap = prof["capacity"]
    xs = cap["practical_study_na"]
    lbl = f"practical (study reading): {'>= ' if cap['practical_study_at_least'] else ''}{xs} Na"
    ax.axvline(xs, color="tab:green", ls="--", lw=1.5, label=lbl)
    xp = cap["practical_na"]
    if xp:
        ax.axvline(xp, color="tab:purple", ls=":", lw=1.5, label=f"practical (strict): {xp} Na")
    nuc = prof["nucleation"]
    if nuc.get("critical_size") is not None:
        ax.plot([nuc["critical_size"]], [nuc["barrier_eV"]], "v", color="tab:red", ms=8,
                label=f"barrier {nuc['barrier_eV']:.2f} eV at n* = {nuc['critical_size']}")
    if published_capacity is not None:
        ax.axvline(published_capacity, color="black", ls="--", lw=1.2, label=f"published practical: {published_capacity} Na")
    ax.set_xlabel("Na in the pore, x (atoms)")
    ax.set_ylabel("formation enthalpy H (eV)")
    ax.set_title(title)
    _integer_x(ax)
    # under the axes: a legend inside would hide part of the profile
    ax.legend(fontsize=LEGEND - 1, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)


@_styled
def fig_cavities(rows, published_practical: dict | None = None) -> bytes:
    """H(x) of every cavity with the practical capacities (both readings) marked."""
    fig, axes = _grid(max(len(rows), 1), h=4.6)  # room for the legend under each profile
    if not rows:
        _empty(axes[0], "no cavity fill")
    for ax, r in zip(axes, rows):
        if r.get("profile") and r["profile"]["n_na"]:
            _profile_axes(ax, r["profile"], r.get("label") or f"cavity {r['size_nm']:g} nm",
                          (published_practical or {}).get(round(r.get("published_size_nm") or r["size_nm"], 3)))
        else:
            _empty(ax, f"{r.get('label') or 'cavity ' + format(r['size_nm'], 'g') + ' nm'}\n"
                       f"{r.get('state')}: {r.get('error') or 'no steps'}")
    return _png(fig)


@_styled
def fig_barrier_valence(rows, fit, valence_note: str) -> bytes:
    """Nucleation barrier (eV) and average Bader valence (e/Na) against cavity size d (nm)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.0, 4.2), constrained_layout=True)
    pts = [(r["size_nm"], r["profile"]["nucleation"]["barrier_eV"]) for r in rows
           if r.get("profile") and r["profile"]["nucleation"]["status"] == "barrier"]
    none = [r["size_nm"] for r in rows if r.get("profile") and r["profile"]["nucleation"]["status"] != "barrier"]
    if pts:
        ax1.plot(*zip(*pts), "o", color="tab:blue", ms=8, label="computed barrier")
    if none:
        ax1.plot(none, [0] * len(none), "x", color="tab:red", ms=9, label="no barrier (barrierless / no nucleation)")
    dmax = max([r["size_nm"] for r in rows] + [2.3])
    if fit:
        d = np.linspace(0, dmax * 1.05, 100)
        ax1.plot(d, fit["a_eV_nm2"] * d**2 + fit["b_eV"], "-", color="tab:blue", alpha=0.6,
                 label=f"fit a d^2: a = {fit['a_eV_nm2']:.3f} eV/nm^2, R^2 = {fit['r2']:.2f}")
    ax1.set_xlim(0, dmax * 1.05)
    ax1.set_xlabel("cavity size d (nm)")
    ax1.set_ylabel("nucleation barrier (eV)")
    ax1.set_title("barrier against cavity size (published: grows ~ d^2)")
    ax1.legend()
    val = [(r["size_nm"], r["profile"]["bader_valence_mean"]) for r in rows
           if r.get("profile") and r["profile"].get("bader_valence_mean") is not None]
    if val:
        ax2.plot(*zip(*val), "o-", color="tab:blue", label="computed (Bader)")
        ax2.set_xlabel("cavity size d (nm)")
        ax2.set_ylabel("average Na valence (e/Na)")
        ax2.legend()
    else:
        _empty(ax2, valence_note)
        ax2.set_xlabel("cavity size d (nm)")
        ax2.set_ylabel("average Na valence (e/Na)")
    ax2.set_title("average Bader valence (published: falls as d grows)")
    return _png(fig)


@_styled
def fig_orifices(rows, favourable_nm=(0.39, 0.70)) -> bytes:
    """H(x) of every orifice, and H(1) against the spacing with the published favourable range."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.0, 4.2), constrained_layout=True)
    done = [r for r in rows if r.get("profile") and r["profile"]["n_na"]]
    for k, r in enumerate(done):
        p = r["profile"]
        ax1.plot([0] + p["n_na"], [0.0] + p["H_eV"], "o-", ms=4, color=COLORS[k % len(COLORS)],
                 label=f"{r['size_nm']:g} nm")
    ax1.axhline(0, color="0.6", lw=0.8)
    ax1.set_xlabel("Na in the orifice, x (atoms)")
    ax1.set_ylabel("formation enthalpy H (eV)")
    ax1.set_title("orifice fills")
    _integer_x(ax1)
    if done:
        ax1.legend(title="spacing", ncol=2 if len(done) > 4 else 1)
    lo, hi = favourable_nm
    ax2.axvspan(lo, hi, color="0.85", label=f"published: H < 0 for {lo:g}-{hi:g} nm")
    if done:
        ax2.plot([r["size_nm"] for r in done], [r["profile"]["H_eV"][0] for r in done], "o-", color="tab:blue",
                 ms=7, label="computed H(1)")
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_xlabel("orifice spacing (nm)")
    ax2.set_ylabel("H of the first Na, H(1) (eV)")
    ax2.set_title("is intercalation favourable?")
    ax2.legend()
    return _png(fig)


@_styled
def fig_connected(rows) -> bytes:
    """Isolated against connected H(x) for every pair."""
    fig, axes = _grid(max(len(rows), 1), ncols=2, w=5.6, h=4.8)
    if not rows:
        _empty(axes[0], "no connected pore")
    for ax, r in zip(axes, rows):
        label = "+".join(f"{x:g}" for x in r["sizes_nm"])
        for key, color, style in (("isolated", "tab:orange", "s--"), ("connected", "tab:blue", "o-")):
            p = r.get(key)
            if p and p["n_na"]:
                ax.plot([0] + p["n_na"], [0.0] + p["H_eV"], style, ms=3, color=color,
                        label=f"{key} ({'cavity ' + format(max(r['sizes_nm']), 'g') if key == 'isolated' else label} nm), "
                              f"peak H {'>= ' if p.get('peak_H_lower_bound') else ''}{p['peak_H_eV']:+.2f} eV")
        con = r.get("connected") or {}
        for k, opened in enumerate((con.get("sections_opened") or [])[1:]):
            where = opened["spacing_nm"]
            ax.axvline(opened["n_na"] - 0.5, color="0.35", ls=":", lw=1.4,
                       label="narrow part full: next Na go to " + (f"the {where:g} nm part" if where else "any part")
                       if k == 0 else None)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("Na in the pore, x (atoms)")
        ax.set_ylabel("formation enthalpy H (eV)")
        _integer_x(ax)
        pub = r.get("published_negative")
        ax.set_title(f"{label} nm" + ("" if pub is None else f" (published: barrier {'negative' if pub else 'positive'})"))
        if ax.lines:  # under the axes, as for the cavities: inside it would hide the profiles
            ax.legend(fontsize=LEGEND - 1, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        else:
            _empty(ax, f"{label} nm: {r.get('error') or 'not computed'}")
    return _png(fig)


@_styled
def fig_neb(rows, published: dict) -> bytes:
    """Diffusion barrier (eV) against orifice spacing (nm), and every NEB energy profile."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.0, 4.2), constrained_layout=True)
    done = [r for r in rows if r.get("barrier_eV") is not None]
    if done:
        ax1.plot([r["spacing_nm"] for r in done], [r["barrier_eV"] for r in done], "o-", color="tab:blue", ms=8,
                 label="computed (adjacent minima, climbing image)")
    ax1.plot(list(published), list(published.values()), **PUB)
    ax1.set_xlabel("orifice spacing (nm)")
    ax1.set_ylabel("Na diffusion barrier (eV)")
    ax1.set_title("diffusion barrier against spacing")
    ax1.legend()
    for r in done:
        if r.get("splits") and r.get("initial_band_eV"):
            ax2.plot(np.linspace(0, r["initial_hop_distance_A"], len(r["initial_band_eV"])), r["initial_band_eV"], ":",
                     color="0.5", lw=1.2, label=f"{r['spacing_nm']:g} nm first band (cut at its intermediate minimum)")
        ax2.plot(r["path_A"] or np.linspace(0, r["hop_distance_A"], len(r["energies_eV"])), r["energies_eV"], "o-",
                 ms=4, label=f"{r['spacing_nm']:g} nm ({'climbed' if r.get('climbed') else 'did NOT climb'})")
    ax2.axhline(0, color="0.6", lw=0.8)
    ax2.set_xlabel("distance of the Na from its start (Å)")
    ax2.set_ylabel("energy relative to the start (eV)")
    ax2.set_title("NEB energy profiles")
    if done:
        ax2.legend(fontsize=LEGEND - 1)
    else:
        _empty(ax2, "no NEB")
    return _png(fig)
