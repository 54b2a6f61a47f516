"""Studies beyond one fill: relaxed cavity spacings, orifice NEB, harmonic free energies."""
