"""The request path, a module per stage in the order a request meets them:

    engine (compile, link, the API) → request (checks, state) → guards (input) → routing
    → admission (reserve) → cascade (call, guards, validate; escalate) → admission (settle) → results

`engine` composes the walk and its `drivers` run it (blocking or async);
`streaming` hands it to the consumer's iteration. Also here: the request
features conditions read (`features`), the code a policy names (`link`), the
`Decision` record and replay of recorded responses through a policy.

Modules here see a `Policy` only as a type (under TYPE_CHECKING):
`Policy.engine()` builds an `Engine`, never the reverse. Import the modules
themselves; this file re-exports nothing.
"""
