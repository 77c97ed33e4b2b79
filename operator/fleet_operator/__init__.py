"""The fleet operator: kopf handlers that apply what :mod:`fleet.render` returns."""
