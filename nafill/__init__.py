"""nafill: sodium nucleation in the closed pores of hard carbon."""
__version__ = "0.1.0"
