"""Pinned content: a member's instructions and its skills, read from the content root.

Skills follow the SKILL.md pattern: each skill's name and one-line description
go into the system prompt, and the full body, with the list of files beside it,
is loaded on demand (``load_skill``). Only files inside a pin the member holds
are ever read: a name the model writes is looked up among the files listed at
start, never joined into a path, so ``../`` and absolute paths reach nothing.
ConfigMap volumes spell ``/`` as ``__`` and keep their own ``..data`` entries,
which are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fleet.runtime.definition import Member
from fleet.runtime.prompts import SkillCard
from harness.errors import UsageError

MAX_FILE_BYTES = 256 * 1024
_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def _files(directory: Path) -> dict[str, Path]:
    """Display name (``/`` restored) → file, for the regular files directly in a pin directory."""
    out: dict[str, Path] = {}
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith(".."):
            continue
        if entry.is_file():
            out[entry.name.replace("__", "/")] = entry
    return out


def _read(path: Path) -> str:
    with path.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    text = data[:MAX_FILE_BYTES].decode("utf-8", "replace")
    return text + ("\n…[cut at 256 KiB]" if len(data) > MAX_FILE_BYTES else "")


def _describe(name: str, body: str) -> str:
    front = _FRONT.match(body)
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "description" and value.strip():
                return value.strip().strip("\"'")
    for para in _FRONT.sub("", body).split("\n\n"):
        text = " ".join(line.strip() for line in para.splitlines() if line.strip())
        if text and not text.startswith("#"):
            return text[:300]
    return f"the {name} skill"


@dataclass
class Skill:
    name: str
    files: dict[str, Path]

    @property
    def body(self) -> str:
        main = self.files.get("SKILL.md")
        return _read(main) if main else ""


@dataclass
class Content:
    instructions: str
    skills: dict[str, Skill] = field(default_factory=dict)

    @property
    def cards(self) -> list[SkillCard]:
        return [SkillCard(s.name, _describe(s.name, s.body)) for s in self.skills.values()]

    def load_skill(self, name: str, file: str | None = None) -> tuple[str, bool]:
        """(text, is_error): a skill's SKILL.md and its file list, or one file of it."""
        skill = self.skills.get(name)
        if skill is None:
            return f"no skill '{name}'; skills: {', '.join(self.skills) or 'none'}", True
        if file:
            path = skill.files.get(file)
            if path is None:
                return f"skill '{name}' has no file '{file}'; files: {', '.join(skill.files)}", True
            return _read(path), False
        others = [f for f in skill.files if f != "SKILL.md"]
        listing = (
            "\n\nFiles beside it (load one with load_skill and file):\n"
            + "\n".join(f"- {f}" for f in others)
            if others
            else ""
        )
        return skill.body + listing, False


def load(root: Path, member: Member) -> Content:
    """A member's pinned instructions (``PROMPT.md``, else its markdown files) and skills."""
    instructions = ""
    if member.instructions:
        where = root / member.content_prefix / "instructions" / member.instructions
        files = _files(where)
        if not files:
            raise UsageError(
                f"{where}: the pinned instructions of '{member.identity}' are not mounted"
            )
        main = files.get("PROMPT.md")
        chosen = [main] if main else [p for n, p in files.items() if n.endswith(".md")]
        instructions = "\n\n".join(_read(p) for p in chosen)
    skills: dict[str, Skill] = {}
    for name in member.skills:
        where = root / member.content_prefix / "skills" / name
        files = _files(where)
        if "SKILL.md" not in files:
            raise UsageError(f"{where}: skill '{name}' of '{member.identity}' has no SKILL.md")
        skills[name] = Skill(name, files)
    return Content(instructions, skills)
