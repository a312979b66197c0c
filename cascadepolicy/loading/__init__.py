"""The front half of the pipeline, shared by `validate`, `load` and the runtime.

    source (read, bounded parse: yaml_limits, confine) → interpolate → compose
    (extends) → schema_check → checks (references, conditions, prices,
    callables) → loader (the `Policy`) → buildable (the engine's compile:
    plan, guardrail backends, store options)

Also here: `fmt` (comment-preserving formatting works on the source) and
`schema_export` (the JSON Schemas generated from the document model). Import
the modules themselves; this file re-exports nothing.
"""
