"""Energy backends: one interface, several engines (surrogate, ML potential, any ASE calculator, VASP)."""
