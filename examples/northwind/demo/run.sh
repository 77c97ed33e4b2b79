#!/usr/bin/env bash
# The northwind story end to end, on this machine, with no network and no cluster:
# a bug report turned into a merged fix by bug-report-triage, its reviewer failing the
# first claim, the merge held for a human, approved, and the run resumed to `done`; then the
# staging twin's pins replayed on the recorded eval cases against production's.
#
#   examples/northwind/demo/run.sh            (make demo runs it)
#
# BIN (the venv's bin), DEMO_HOME (build/demo-home, emptied first) and DEMO_FLEET
# (examples/northwind) change where it looks and writes.
#
# The model is a recorded transcript (--provider replay:…); the gateway, the harness,
# the approvals and the GitHub tool calls are real (a fake GitHub MCP server on loopback).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
bin="${BIN:-.venv/bin}"
py="$bin/python"
fleetctl="$bin/fleetctl"
home="${DEMO_HOME:-build/demo-home}"
fleet="${DEMO_FLEET:-examples/northwind}"
transcript="examples/northwind/demo/bug-report-triage.replay.yaml"
executed="$home/github-executed.jsonl"

rm -rf "$home"
mkdir -p "$home"
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

"$py" examples/northwind/demo/github_mcp.py "$port" "$executed" 2>"$home/github.log" &
github=$!
trap 'kill "$github" 2>/dev/null || true; wait "$github" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if "$py" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null; then
    break
  fi
  kill -0 "$github" 2>/dev/null || { cat "$home/github.log"; echo "the fake GitHub server did not start" >&2; exit 2; }
  sleep 0.05
done

# The gateway injects each MCP server's credential from its environment and refuses to call
# a server whose credential is missing; the fake GitHub server takes any.
export MCP_GITHUB_API_KEY="${MCP_GITHUB_API_KEY:-demo-not-a-real-key}"
export MCP_LINEAR_API_KEY="${MCP_LINEAR_API_KEY:-demo-not-a-real-key}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; }
# linear is granted to the loop but not part of this story: its URL points at nothing on
# this machine (no DNS lookup of the catalog's in-cluster name), so it offers no tools.
run=( "$fleetctl" run "$fleet" bug-report-triage --provider "replay:$transcript"
      --mcp "github=http://127.0.0.1:$port/mcp" --mcp "linear=http://127.0.0.1:$port/no-linear-here"
      --home "$home" )

step "1. run the loop: it reads issue 42, labels it, opens a PR, the reviewer fails it, the merge waits"
show "fleetctl run $fleet bug-report-triage --provider replay:$transcript --mcp github=http://127.0.0.1:$port/mcp --mcp linear=… --home $home"
outcome() {  # the outcome fleetctl run recorded for the run's last attempt
  "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["outcome"])' "$home/runs/$run_id/result.json"
}
"${run[@]}" || true
run_id="$(ls "$home/runs")"
if [ "$(outcome)" != awaiting_approval ]; then
  echo "expected the run to pause for an approval, not: $(outcome)" >&2
  exit 1
fi

step "2. a human looks at the held call and approves it: the gateway runs the merge, once"
show "fleetctl approvals list --local $home"
"$fleetctl" approvals list --local "$home"
approval="$("$fleetctl" approvals list --local "$home" --output json | "$py" -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r.get("run") == sys.argv[1]]
if len(rows) != 1:
    sys.exit(f"expected one pending approval of run {sys.argv[1]}, found {len(rows)}")
print(rows[0]["id"])' "$run_id")"
show "fleetctl approvals approve $approval --local $home --reason \"…\""
"$fleetctl" approvals approve "$approval" --local "$home" \
  --reason "fix reviewed: one-line loop condition, regression test, links #42"

step "3. resume the run (it keeps its replay and MCP options): the maker finishes, the reviewer passes it"
show "fleetctl run $fleet bug-report-triage --resume $run_id --home $home"
"$fleetctl" run "$fleet" bug-report-triage --resume "$run_id" --home "$home" || { echo "expected the resumed run to be done, not: $(outcome)" >&2; exit 1; }

step "4. the run's timeline from the gateway's store: maker and checker steps, each with its cost"
show "fleetctl runs show $run_id --store sqlite:$home/gateway.sqlite3"
"$fleetctl" runs show "$run_id" --store "sqlite:$home/gateway.sqlite3"

step "5. what the GitHub server executed ($executed)"
"$py" - "$executed" <<'EOF'
import json, sys
calls = [json.loads(line) for line in open(sys.argv[1])]
for c in calls:
    print(f"  {c['tool']:<10} {json.dumps(c['args'], sort_keys=True)[:90]}")
merges = [c for c in calls if c["tool"] == "merge_pr"]
if len(merges) != 1:
    sys.exit(f"merge_pr ran {len(merges)} times, not once")
print(f"merge_pr ran exactly once: {merges[0]['result']}")
EOF

step "6. the staging twin's newer pins against production's, on the recorded eval cases (the promotion gate)"
show "fleetctl eval $fleet bug-report-triage"
"$fleetctl" eval "$fleet" bug-report-triage --jobs 2
