"""Shared CLI plumbing: where a fleet is, how diagnostics print, and the fixed exit codes.

Exit codes: 0 ok / no change, 1 invalid / changes found, 2 usage or internal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from fleet.errors import Diagnostic, Severity
from fleet.source import DirSource

if TYPE_CHECKING:
    from gateway.store import Store

T = TypeVar("T")

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class Output(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def error_line(message: str, hint: str = "") -> None:
    """The one red line on stderr that every usage or internal error prints."""
    text = f"error: {message}" + (f" ({hint})" if hint else "")
    if sys.stderr.isatty():
        typer.secho(text, fg="red", err=True)
    else:
        typer.echo(text, err=True)


def fail(message: str, hint: str = "") -> NoReturn:
    """One red line on stderr and exit 2: for usage errors, never for findings."""
    error_line(message, hint)
    raise typer.Exit(EXIT_USAGE)


def store_failure(exc: BaseException) -> str | None:
    """Why a store driver failed, in one line, or None when ``exc`` is not a driver's error.

    Drivers are looked up among the loaded modules only: an exception of a module that
    was never imported cannot be one of its errors, and ``--help`` stays fast.
    """
    import sqlite3

    redis_errors = sys.modules.get("redis.exceptions")
    if isinstance(exc, sqlite3.Error) or (
        redis_errors is not None and isinstance(exc, redis_errors.RedisError)
    ):
        return str(exc).strip() or type(exc).__name__
    store_errors = sys.modules.get("gateway.store.errors")
    unavailable = getattr(store_errors, "StoreUnavailable", None)
    if unavailable is not None and isinstance(exc, unavailable):
        # The store's own error speaks to a gateway's caller; the driver's says what failed.
        cause = exc.__cause__
        return (store_failure(cause) if cause is not None else None) or str(exc)
    return None


def read_store(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` against the existing store at ``url`` and close it; a wrong URL, a
    missing SQLite file or an unreachable Redis is one red line and exit 2, never a
    traceback, and never a new empty store."""
    from gateway.store import open_store
    from gateway.store.base import StoreURLError

    async def run() -> T:
        st = open_store(url, create=False)
        try:
            return await work(st)
        finally:
            with contextlib.suppress(Exception):  # the first error is the one to show
                await st.close()

    try:
        return asyncio.run(run())
    except StoreURLError as exc:
        fail(exc.message, exc.hint)
    except Exception as exc:
        reason = store_failure(exc)
        if reason is None:
            raise
        fail(
            f"cannot read the store at {url}: {reason}",
            "is it running, and is --store the URL the gateway was given?",
        )


def fleet_source(paths: list[Path]) -> tuple[DirSource, list[str] | None, str]:
    """A fleet from a directory, or from files named explicitly (``fleet.yaml`` plus agent files)."""
    if not paths:
        paths = [Path(".")]
    if len(paths) == 1 and paths[0].is_dir():
        root = paths[0]
        if not os.path.lexists(root / "fleet.yaml"):
            where = "this directory" if str(root) == "." else str(root)
            fail(
                f"no fleet.yaml in {where}",
                "a fleet is a directory with fleet.yaml and agents/*.yaml; see examples/minimal",
            )
        return DirSource(root, "" if str(root) == "." else str(root)), None, "fleet.yaml"
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(
            f"no such file or directory: {missing[0]}",
            "give a fleet directory, or fleet.yaml and agent files",
        )
    dirs = [p for p in paths if p.is_dir()]
    if dirs:
        fail(f"{dirs[0]} is a directory", "give one fleet directory, or files only")
    fleets = [p for p in paths if p.name in ("fleet.yaml", "fleet.yml")]
    if len(fleets) != 1:
        fail(
            "name exactly one fleet.yaml among the files",
            "the fleet file holds the policy every loop inherits",
        )
    root = fleets[0].parent
    label = "" if str(root) == "." else str(root)
    agents = [
        str(Path(p).resolve().relative_to(root.resolve()))
        if p.resolve().is_relative_to(root.resolve())
        else str(p.resolve())
        for p in paths
        if p != fleets[0]
    ]
    # Files named on the command line are read where they are; the fleet's own files stay inside.
    explicit = [p for p in paths if p != fleets[0]]
    return DirSource(root, label, explicit=explicit), agents, fleets[0].name


def print_diagnostics(diags: list[Diagnostic], output: Output) -> None:
    if output is Output.github:
        for d in diags:
            level = "error" if d.severity is Severity.ERROR else "warning"
            title = d.rule or "fleetctl"
            msg = f"{d.path}: {d.message}" + (f" ({d.hint})" if d.hint else "")
            msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            typer.echo(
                f"::{level} file={d.file},line={max(d.line, 1)},col={max(d.col, 1)},title={title}::{msg}"
            )
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False)
        for d in diags:
            color = "red" if d.severity is Severity.ERROR else "yellow"
            console.print(f"[{color}]{escape(d.format())}[/{color}]")
    else:
        for d in diags:
            typer.echo(d.format())
