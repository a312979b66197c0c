"""The request path: the `Engine` (route, admit, cascade, guard, settle), the
request features conditions read (`features`), the guardrail runs (`guards`),
admission against a state store, the `Decision` record and replay of recorded
responses through a policy.

Modules here see a `Policy` only as a type (under TYPE_CHECKING):
`Policy.engine()` builds an `Engine`, never the reverse. Import the modules
themselves; this file re-exports nothing.
"""
