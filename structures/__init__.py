"""Builders of closed-pore models (pure functions returning ASE ``Atoms``; no I/O, no energies)."""
