"""The fleet dashboard: the operator's pages (fleet, loop, run, approvals) served from the
gateway's store, read-only, outside the gateway's request path.

A thin shell like ``gateway/`` and ``fleet_operator``: the fleet comes from ``fleet/``
(load, validate), the runs, traces and approval requests from the store through the
gateway's own readers (:mod:`gateway.runs.records`, :mod:`gateway.mcp.ledger`'s table), and
a decision goes to the gateway's ``/approvals`` API with the approver's own token, as
``fleetctl approvals`` sends it. Nothing here writes to the store.
"""
