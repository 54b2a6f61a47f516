"""nafill: sodium nucleation in the closed pores of hard carbon.

The public API, for notebooks::

    from nafill import cavity, orifice, connected_pore, get_backend, fill, FillingPolicy
"""

__version__ = "0.1.0"

_EXPORTS = {
    "graphene_bilayer": "nafill.structures.graphene",
    "cavity": "nafill.structures.pores",
    "orifice": "nafill.structures.pores",
    "bcc_sodium": "nafill.structures.pores",
    "standard_cavity_spacing_nm": "nafill.structures.pores",
    "na_layers_model": "nafill.structures.na_layers",
    "connected_pore": "nafill.structures.connected",
    "add_defect": "nafill.structures.defects",
    "candidate_sites": "nafill.structures.sites",
    "pore_capacity": "nafill.structures.capacity",
    "theoretical_capacity": "nafill.structures.capacity",
    "get_backend": "nafill.workflows.backends.registry",
    "fill": "nafill.workflows.engine.loop",
    "FillingPolicy": "nafill.workflows.engine.policy",
    "FillingPath": "nafill.workflows.engine.documents",
    "load_path": "nafill.workflows.engine.store",
    "read_structure": "nafill.io",
    "write_structure": "nafill.io",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    """Lazy re-exports: ``import nafill`` stays fast (no ASE/pymatgen import until used)."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nafill' has no attribute {name!r}")
