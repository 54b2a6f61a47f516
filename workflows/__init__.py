"""Everything that computes: ``engine/`` (the filling step, loop, documents, run store),
``backends/`` (energies: emt, mlip, any ASE calculator, VASP), ``fireworks/`` (tasks, workflow
builders, LaunchPad, runner) and ``studies/`` (spacing, NEB, thermodynamics)."""
