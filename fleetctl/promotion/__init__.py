"""The shell of ``fleetctl promote`` and ``fleetctl rollback``: git, the files, the output.

The planning (which pins change, the YAML rewrite, the lock and the diff) is pure and
lives in :mod:`fleet.lifecycle`; this package does the I/O around it.
"""
