"""JSON Schemas of the authoring format, for editors (yaml-language-server) and CI.

Generated from :mod:`fleet.spec`; ``fleetctl schema --write schemas`` refreshes
the checked-in copies, and a test fails when they drift.
"""

from __future__ import annotations

from typing import Any

from fleet.crd import crds
from fleet.evals.case import CaseFile
from fleet.spec import AgentFile, Fleet

BASE_ID = "https://fleetctl.dev/schemas"


def authoring_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, model, title in (
        ("fleet", Fleet, "fleetctl fleet.yaml"),
        ("agent", AgentFile, "fleetctl agents/<name>.yaml"),
        ("eval-case", CaseFile, "fleetctl evals/<loop>/<case>.yaml"),
    ):
        schema = model.model_json_schema(by_alias=False, mode="validation")
        out[f"{name}.schema.json"] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{BASE_ID}/{name}.schema.json",
            **{k: v for k, v in schema.items() if k != "title"},
            "title": title,
        }
    return out


def generated_files() -> dict[str, str]:
    """Every generated schema file, by path relative to ``schemas/``."""
    import json

    from fleet.yamlout import dump

    files = {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in authoring_schemas().items()
    }
    for crd in crds():
        files[f"crds/{crd['metadata']['name']}.yaml"] = dump(crd)
    return files
