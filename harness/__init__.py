"""The loop runtime in the sandbox pod: ``fleet-harness run`` runs one loop until it is done.

A thin shell over the pure :mod:`fleet.runloop` core. It reaches the world only
through the fleet gateway, over HTTP: models with the official ``openai``
client, tools with the official ``mcp`` client (streamable HTTP), and the run's
durable journal and the loop's state through the gateway's runs API. It keeps
no state of its own: a killed pod's successor replays the journal and goes on
at the first unfinished step. The contract is written down in ``docs/harness.md``.
"""
