"""``fleetctl eval`` and the promotion gate: recorded cases run through the real harness and gateway.

:mod:`~fleetctl.evals.runner` checks and runs the cases, :mod:`~fleetctl.evals.worker`
is one worker's gateway and replay servers, :mod:`~fleetctl.evals.mcpreplay` the
replay MCP server, :mod:`~fleetctl.evals.gate` the interface ``fleetctl promote`` uses.
"""
