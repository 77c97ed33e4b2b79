"""Running one loop on this machine, with no cluster: ``fleetctl run``.

``home`` lays out ``PATH/.fleet`` (tokens, gateway config, store, per-run pod
files), ``gateway`` serves the real gateway in-process, ``replay`` is a
deterministic model provider that plays a recorded transcript, ``harness``
runs ``fleet-harness`` as a subprocess and ``progress`` renders its events.
"""
