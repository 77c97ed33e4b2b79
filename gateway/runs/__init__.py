"""The runs API: durable run records, per-run journals and per-loop state, kept in the
gateway's store for the harness, whose pod reaches only the gateway and whose disk
does not outlive it (docs/harness.md, "The runs API").

:mod:`gateway.runs.api` serves the routes, :mod:`gateway.runs.records` and
:mod:`gateway.runs.state` keep the rows (``fleetctl runs show`` reads them with the
same functions), :mod:`gateway.runs.validate` says what is accepted.
"""
