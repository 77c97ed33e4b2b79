"""Generate a synthetic fleet of N loops (realistic agent files, shared pins, a lockfile) for benchmarks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENT = """# yaml-language-server: $schema=../../schemas/agent.schema.json
agent:
  name: loop-{i:05d}
  owner: team-{team}
  stage: {stage}
  description: Synthetic loop {i} for benchmarks.
  owns: [artifact-{i:05d}]
  model: {model}
  instructions: prompts/alpha@v1
  skills: [runbook@v{skill}]
  mcp_servers:
    github: {{ tools: [read, create_pr] }}
    linear: {{ tools: [read] }}
  subagents:
    - {{ name: reviewer, role: checker, model: backup, mcp_servers: {{ github: {{ tools: [read] }} }} }}
  harness: {{ max_steps: {steps}, max_tokens_per_run: 500000, stall_after_steps: 6 }}
  budget: {{ limit_usd: {budget}, window: day }}
  trigger: {{ schedule: "{minute} {hour} * * 1-5", timezone: Europe/Berlin }}
"""


def generate(target: Path, n: int, *, variant: int = 0) -> Path:
    """Write a fleet of ``n`` loops into ``target`` (replacing it). ``variant`` changes ~5% of loops."""
    from fleet.lockfile import dump
    from fleet.resolve import check, lock_entries

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "tests" / "fixtures" / "base", target)
    shutil.rmtree(target / "agents")
    (target / "agents").mkdir()
    for i in range(n):
        changed = variant and i % 20 == 0
        text = AGENT.format(
            i=i,
            team=i % 12,
            stage="production" if i % 4 else "staging",
            model="main" if i % 3 else "backup",
            skill=2 if changed else 1,
            steps=50 if changed else 40,
            budget=12 if changed else 10,
            minute=i % 60,
            hour=5 + i % 6,
        )
        (target / "agents" / f"loop-{i:05d}.yaml").write_text(text)
    report = check(_source(target), lock=False)
    assert report.fleet is not None and not report.errors, [d.format() for d in report.errors[:5]]
    (target / "fleet.lock").write_text(dump(lock_entries(report.resolution)))
    return target


def _source(path: Path):  # type: ignore[no-untyped-def]
    from fleet.source import DirSource

    return DirSource(path)


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]))
