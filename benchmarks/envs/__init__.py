"""Text environments: Crafter, NetHack and BALROG's MiniHack tasks (extra ``[games]``),
and the toy maze and key-and-door corridor (no extra).

Build one by name with :func:`automem_sdk.benchmarks.registry.make_env`.
"""
