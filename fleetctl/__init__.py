"""The ``fleetctl`` command line: thin typer commands over :mod:`fleet`."""
