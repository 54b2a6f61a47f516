"""The production VASP path: input set, custodian runner, parsing, Bader charges, stand-in vasp."""
