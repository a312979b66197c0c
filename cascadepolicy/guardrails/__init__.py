"""Guardrail detectors: pure, offline functions from text to a Verdict.

The engine runs them on input and output and applies the policy's action;
`registry.CHECKS` maps a policy's check names to the functions here.
"""
