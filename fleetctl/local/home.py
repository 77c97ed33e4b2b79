"""The local home of ``fleetctl run``: ``PATH/.fleet``, what a cluster would hold for a loop.

::

    .fleet/
      .gitignore           "*": nothing here belongs in the fleet's repository
      tokens.json          one bearer token per identity, and approver:local (0600, reused)
      gateway.json         the gateway config, with the local overrides (provider, MCP URLs)
      gateway.sqlite3      the gateway's store: runs, journals, traces, spend, approvals
      gateway.lock         held by the process that serves the gateway on this home
      runs/<run>/
        etc/fleet/         exactly the pod's /etc/fleet (docs/harness.md)
          loop/definition.json
          instructions/<name>/PROMPT.md        ConfigMap file names: "/" spelled "__"
          skills/<name>/…
          subagents/<sub>/instructions/<name>/…
          subagents/<sub>/skills/<name>/…
          tokens/<sub>
        workspace/         the pod's emptyDir: emptied for every attempt, as a new pod's is
        replay-state.json  the replay provider's cursors (with --provider replay:FILE)
        result.json        the last attempt's result, as ``--output json`` prints it
        options.json       the run's --provider and --mcp, which --resume uses unless given

Everything here is derived from the compiled fleet the same way the operator
derives a pod from an AgentLoop: the definition is ``fleet.render``'s, the
content files are the bytes of ``fleet.compile``'s content ConfigMaps.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fleet.errors import Diagnostic, did_you_mean
from fleetctl.local.errors import LocalError

APPROVER = "local"
APPROVER_KEY = f"approver:{APPROVER}"
HOME_DIR = ".fleet"


@dataclass
class Fleet:
    """A checked and compiled fleet: its policy, loops and content ConfigMaps."""

    root: Path
    name: str
    policy: dict[str, Any]
    loops: list[dict[str, Any]]
    content: list[dict[str, Any]]
    warnings: list[Diagnostic]

    def loop(self, name: str) -> dict[str, Any]:
        for loop in self.loops:
            if loop["metadata"]["name"] == name:
                return loop
        names = [loop["metadata"]["name"] for loop in self.loops]
        hint = did_you_mean(name, names)
        raise LocalError(
            f"no loop '{name}' in {self.root}",
            (hint + " " if hint.startswith("did") else "")
            + f"loops: {', '.join(sorted(names)) or 'none'}",
        )


class InvalidFleet(LocalError):
    """The fleet does not validate; ``diagnostics`` say where."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__(
            f"the fleet has {sum(1 for d in diagnostics if d.severity == 'error')} error(s)"
        )


def load_fleet(path: Path) -> Fleet:
    """Load, check and compile the fleet at ``path``, as ``fleetctl gateway config`` does."""
    from fleet.compile import compile_loaded
    from fleet.resolve import check
    from fleet.source import DirSource

    if not path.is_dir():
        raise LocalError(f"{path} is not a fleet directory", "give the directory with fleet.yaml")
    source = DirSource(path, "" if str(path) == "." else str(path))
    report = check(source, lock=False)
    if report.fleet is None or report.errors:
        raise InvalidFleet(list(report.diagnostics))
    compiled = compile_loaded(report.fleet, report.resolution)
    return Fleet(
        path,
        compiled.fleet_name,
        compiled.policy,
        compiled.loops,
        compiled.content,
        [d for d in report.diagnostics if d.severity != "error"],
    )


def definition_json(loop: Mapping[str, Any]) -> str:
    """The definition file the operator mounts at /etc/fleet/loop/definition.json."""
    from fleet import render

    # ``_definition`` is the name before the function was made public.
    names = vars(render)
    fn = names.get("definition") or names["_definition"]
    return str(fn(loop))


def new_run_id(loop: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"local-{loop}-{stamp}-{secrets.token_hex(2)}"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing any old one atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


class Home:
    """``PATH/.fleet`` (or ``--home``): tokens, gateway config, store and per-run files."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def for_fleet(cls, fleet_path: Path, home: Path | None = None) -> Home:
        return cls(home if home is not None else fleet_path / HOME_DIR)

    @classmethod
    def find(cls, path: Path) -> Home:
        """A home given as itself, or as the fleet directory that holds ``.fleet``."""
        for candidate in (path, path / HOME_DIR):
            if (candidate / "gateway.json").is_file() and (candidate / "tokens.json").is_file():
                return cls(candidate)
        raise LocalError(
            f"no local gateway at {path} (no gateway.json and tokens.json there or in {path / HOME_DIR})",
            "run the loop first with `fleetctl run PATH LOOP`, and pass the same PATH (or its --home)",
        )

    def ensure(self) -> None:
        """Create the home; its own .gitignore keeps tokens and the store out of the fleet's repo."""
        self.path.mkdir(parents=True, exist_ok=True)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            _write(
                ignore, "# fleetctl run's local home: tokens, store, run files. Never commit.\n*\n"
            )

    @property
    def tokens_file(self) -> Path:
        return self.path / "tokens.json"

    @property
    def config_file(self) -> Path:
        return self.path / "gateway.json"

    @property
    def store_file(self) -> Path:
        return self.path / "gateway.sqlite3"

    @property
    def store_url(self) -> str:
        return f"sqlite:{self.store_file}"

    @property
    def log_file(self) -> Path:
        return self.path / "gateway.log"

    @property
    def lock_file(self) -> Path:
        return self.path / "gateway.lock"

    def run_dir(self, run: str) -> Path:
        return self.path / "runs" / run

    def content_dir(self, run: str) -> Path:
        return self.run_dir(run) / "etc" / "fleet"

    def definition_file(self, run: str) -> Path:
        return self.content_dir(run) / "loop" / "definition.json"

    def workspace(self, run: str) -> Path:
        return self.run_dir(run) / "workspace"

    def replay_state(self, run: str) -> Path:
        return self.run_dir(run) / "replay-state.json"

    def read_options(self, run: str) -> dict[str, Any]:
        try:
            data = json.loads((self.run_dir(run) / "options.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_options(self, run: str, options: Mapping[str, Any]) -> None:
        text = json.dumps(dict(options), indent=2, sort_keys=True) + "\n"
        _write(self.run_dir(run) / "options.json", text)

    def result_file(self, run: str) -> Path:
        return self.run_dir(run) / "result.json"

    def write_result(self, run: str, result: Mapping[str, Any]) -> None:
        _write(self.result_file(run), json.dumps(dict(result), indent=2, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ tokens

    def read_tokens(self) -> dict[str, str]:
        if not self.tokens_file.exists():
            return {}
        try:
            data = json.loads(self.tokens_file.read_text())
        except (OSError, ValueError) as exc:
            raise LocalError(
                f"{self.tokens_file}: cannot read the local tokens ({exc})",
                "delete the file to mint new ones",
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise LocalError(f"{self.tokens_file}: not a map of identities to tokens", "delete it")
        return data

    def tokens(self, identities: list[str]) -> dict[str, str]:
        """One token per identity and the local approver's: kept ones reused, missing ones minted."""
        existing = self.read_tokens()
        out = {key: existing.get(key) or f"fgw_{secrets.token_urlsafe(32)}" for key in identities}
        out[APPROVER_KEY] = existing.get(APPROVER_KEY) or f"fga_{secrets.token_urlsafe(32)}"
        merged = {**existing, **out}
        if merged != existing or not self.tokens_file.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            _write_private(self.tokens_file, json.dumps(merged, indent=2, sort_keys=True) + "\n")
        elif self.tokens_file.stat().st_mode & 0o077:
            self.tokens_file.chmod(0o600)
        return out

    # ------------------------------------------------------------------ gateway config

    def write_gateway_config(
        self,
        fleet: Fleet,
        tokens: Mapping[str, str],
        *,
        provider_url: str | None = None,
        mcp: Mapping[str, str] | None = None,
    ) -> Any:
        """gateway.json from ``fleet.gwrender``, with every provider pointed at
        ``provider_url`` (a replay) when given, and MCP URLs overridden by ``mcp``."""
        from fleet.gwconfig import dump_json
        from fleet.gwrender import gateway_config, identities, token_sha256

        keys = identities(fleet.loops)
        cfg = gateway_config(
            fleet.policy,
            fleet.loops,
            {k: [token_sha256(tokens[k])] for k in keys},
            {APPROVER: [token_sha256(tokens[APPROVER_KEY])]},
        )
        cfg = override(cfg, provider_url=provider_url, mcp=mcp or {})
        self.path.mkdir(parents=True, exist_ok=True)
        _write(self.config_file, dump_json(cfg) + "\n")
        return cfg

    # ------------------------------------------------------------------ per-run pod files

    def lay_out_run(
        self,
        run: str,
        loop: Mapping[str, Any],
        content: list[dict[str, Any]],
        tokens: Mapping[str, str],
    ) -> Path:
        """Write ``runs/<run>/etc/fleet`` as the pod would mount it, and an empty workspace."""
        root = self.content_dir(run)
        if root.exists():
            shutil.rmtree(root)  # a new attempt is a new pod: the current definition
        by_name = {cm["metadata"]["name"]: cm for cm in content}
        _write(root / "loop" / "definition.json", definition_json(loop))
        spec = loop["spec"]
        name = loop["metadata"]["name"]
        pins: list[tuple[str, Mapping[str, Any]]] = [("instructions", spec["instructions"])]
        pins += [("skills", s) for s in spec.get("skills", [])]
        for sub in spec.get("subagents", []):
            if sub.get("instructions"):
                pins.append((f"subagents/{sub['name']}/instructions", sub["instructions"]))
            pins += [(f"subagents/{sub['name']}/skills", s) for s in sub.get("skills", [])]
        for where, pin in pins:
            cm = by_name.get(pin["configMap"])
            if cm is None:
                raise LocalError(
                    f"pin {pin.get('ref', pin['name'])} of loop {name}: content {pin['configMap']} is missing",
                    "run `fleetctl lock` and try again",
                )
            directory = root / where / pin["name"]
            for key, text in cm.get("data", {}).items():
                _write(directory / key, text.encode("utf-8"))
            for key, b64 in cm.get("binaryData", {}).items():
                _write(directory / key, base64.b64decode(b64))
        tokens_dir = root / "tokens"
        tokens_dir.mkdir(parents=True, exist_ok=True)
        for sub in spec.get("subagents", []):
            _write_private(tokens_dir / sub["name"], tokens[f"{name}/{sub['name']}"] + "\n")
        workspace = self.workspace(run)
        if workspace.exists():
            shutil.rmtree(workspace)
        workspace.mkdir(parents=True)
        return root


def parse_mcp_overrides(values: list[str], servers: Mapping[str, Any]) -> dict[str, str]:
    """``NAME=URL`` options into a map, every name checked against the catalog."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url:
            raise LocalError(
                f"--mcp {value!r}: expected NAME=URL",
                "for example --mcp github=http://127.0.0.1:9000/mcp",
            )
        if name not in servers:
            hint = did_you_mean(name, servers)
            raise LocalError(
                f"--mcp {value!r}: no MCP server '{name}' in the fleet's catalog", hint
            )
        if not url.startswith(("http://", "https://")):
            raise LocalError(f"--mcp {value!r}: the URL must start with http:// or https://")
        out[name] = url
    return out


def override(cfg: Any, *, provider_url: str | None, mcp: Mapping[str, str]) -> Any:
    """A copy of a GatewayConfig with the local overrides applied."""
    update: dict[str, Any] = {}
    if provider_url is not None:
        update["providers"] = {
            name: replace(p, base_url=provider_url, credentials=None)
            for name, p in cfg.providers.items()
        }
    if mcp:
        update["mcp_servers"] = {
            name: replace(s, url=mcp[name]) if name in mcp else s
            for name, s in cfg.mcp_servers.items()
        }
    return replace(cfg, **update) if update else cfg


def missing_credentials(cfg: Any) -> list[str]:
    """The environment variables the gateway reads credentials from that are not set."""
    names = [p.credentials.env for p in cfg.providers.values() if p.credentials]
    return sorted({n for n in names if not os.environ.get(n)})
