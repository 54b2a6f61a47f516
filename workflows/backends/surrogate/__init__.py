"""The ``surrogate`` backend: SevenNet-0 distilled into a numpy Na-carbon model (see model.py)."""
