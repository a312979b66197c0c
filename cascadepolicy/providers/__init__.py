"""The litellm boundary: model calls (`calls`), the checks on what a
provider answers (`response_check`) and moderation calls (`moderation`).
litellm is imported on the first call, never by importing these modules.
Import the modules themselves; this file re-exports nothing.
"""
