"""A loop's life after review: promoting a candidate's pins to production, and rolling back.

Pure planning: :mod:`fleet.lifecycle.pins` reads which pins a loop holds,
:mod:`fleet.lifecycle.edit` rewrites them in the YAML text and nothing else, and
:mod:`fleet.lifecycle.plan` turns a wanted set of pins into new file contents, a new
``fleet.lock`` and the semantic diff. Git history, commits and the eval gate are the CLI's.

Exception tree::

    FleetError
     └── LifecycleError         a promotion or rollback that cannot be planned (``.diagnostic``)
"""

from __future__ import annotations

from fleet.errors import Diagnostic, FleetError


class LifecycleError(FleetError):
    """A located reason why a promotion or rollback cannot go ahead; nothing was changed."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        super().__init__(diagnostic.format())
