"""What a policy may say: the document model (fields, durations), route
conditions and their operators, paths into the document, and prices.

The lowest layer of the pipeline: it imports nothing from `loading`,
`compile` or `runtime`. Import the modules themselves; this file re-exports
nothing, so no module here imports the package that imports it.
"""
