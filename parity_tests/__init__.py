"""Parity between jaxgan and torch_ref: the same weights, inputs and noise give the same numbers.

Run `pytest parity_tests` (fast set) or `python -m parity_tests.report` for the table.
"""
