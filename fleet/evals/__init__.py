"""Evals: recorded cases of a loop, their assertions, and the verdict against a baseline.

Pure: :mod:`fleet.evals.case` loads ``evals/<loop>/<case>.yaml`` into data with
located errors, :mod:`fleet.evals.check` judges what one run did against a
case's expectations, :mod:`fleet.evals.report` turns the results of a whole
eval into totals, a regression verdict, JSON, JUnit XML and a text table.
Running the cases (gateway, harness, replay servers) is ``fleetctl.evals``.
"""
