"""ELCRec benchmark and reproducibility harness: data, encoder, evaluator and (later) models and reports."""
__version__ = "0.1.0"
