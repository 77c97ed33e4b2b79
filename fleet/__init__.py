"""fleetctl's pure core: load, validate, resolve, compile, diff and render fleet definitions.

Nothing in this package does network, cluster, CLI or database I/O; every
function is a function of its inputs (the loaders read files and git objects only).
"""

__version__ = "0.1.0"
