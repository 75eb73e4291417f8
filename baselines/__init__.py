"""Baseline models, one module each, on the same encoder, trainer, evaluator and profiler as ELCRec.

Nothing is implemented here yet; ``python -m elcrec models`` lists what exists and its status.
"""
