"""Policy → what runs: the plan (`plan.py`: every route, target, step and call
a request can make), and what is derived from it: the worst-case reservation
of a request, the graph `cascadepolicy graph` draws and the behaviour diff of
two policies.

Modules here see a `Policy` only as a type (under TYPE_CHECKING): the policy
sits above the runtime it builds. Import the modules themselves; this file
re-exports nothing.
"""
