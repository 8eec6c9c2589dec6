#!/usr/bin/env bash
# Run fastws' Autobahn|Testsuite client conformance suite.
#
# Usage: compliance/run.sh [options] [-- extra run_client_suite.sh options]
#
# Uses the shared recipe in ../shared/conformance/autobahn (override with
# FASTWS_AUTOBAHN_DIR): setup.sh --skip-venv installs wstest when it is missing,
# run_client_suite.sh starts the fuzzing server on 127.0.0.1 and runs our driver
# compliance/fastws_client.py against it. Then writes OUT/NAME/summary.md
# (counts per behaviour, every case that is not OK with the report's reason).
#
# Case sets (default --full):
#   --full              all 517 cases (12.*/13.* permessage-deflate take minutes)
#   --ci                the CI subset (325 cases, ~30 s): 1-10 plus 24
#                       permessage-deflate cases covering every 13.* parameter
#                       set, with tight time limits; tests/test_autobahn.py runs it
#   --check             the shared recipe's --check (345 cases: 1-10 plus 44
#                       small deflate cases; ~45 s on a 2-CPU machine)
#   --fast              1-8 and 10 (247 cases, no 9.* limits, no deflate)
#   --no-compression    1-10 (301 cases), client does not offer deflate
#   --cases LIST        wstest case patterns, e.g. "6.4.*,12.1.1"
# Client:
#   --impl fastws|websockets   fastws (default) or the installed websockets'
#                       legacy client (pipeline check / reference)
#   --compression on|off  offer permessage-deflate (default on, except with
#                       --fast / --no-compression); "off" with --full makes
#                       12.*/13.* UNIMPLEMENTED by construction
#   --python PY         interpreter for the driver (default: python3); fastws
#                       must be importable by it
# Output / setup:
#   --agent NAME        agent name in the reports (default: <impl>[-nodeflate])
#   --name NAME         run directory name (default: AGENT-SET-YYYYmmdd-HHMMSS)
#   --out DIR           output root (default: compliance/reports, git-ignored)
#   --setup             run setup.sh even if wstest is already installed
#   -q, --quiet         don't echo the driver's output (it is in client.log)
#
# wstest is looked up as $WSTEST, else $AUTOBAHN_PREFIX/bin/wstest (default
# /opt/autobahn). When not root and /opt/autobahn has no wstest, setup installs
# into ${XDG_CACHE_HOME:-~/.cache}/fastws-autobahn/ instead (no root needed
# there, provided gcc and libc6-dev are installed).
#
# Exit status: 0 = run complete and no FAILED case; 1 = FAILED cases (or a
# WRONG CODE / UNCLEAN behaviour); 2 = usage / setup error; other = run
# incomplete (run_client_suite.sh's status).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
SHARED="${FASTWS_AUTOBAHN_DIR:-$REPO/../shared/conformance/autobahn}"

SET=full
CASE_LIST=""
IMPL=fastws
COMPRESSION=""
PY="${PYTHON:-python3}"
AGENT=""
NAME=""
OUT="$REPO/compliance/reports"
FORCE_SETUP=0
QUIET=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
need() { [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }; }

while [ $# -gt 0 ]; do
  case "$1" in
    --full|--ci|--check|--fast|--no-compression) SET="${1#--}"; shift ;;
    --cases) need "$@"; SET=cases; CASE_LIST="$2"; shift 2 ;;
    --impl) need "$@"; IMPL="$2"; shift 2 ;;
    --compression) need "$@"; COMPRESSION="$2"; shift 2 ;;
    --python) need "$@"; PY="$2"; shift 2 ;;
    --agent) need "$@"; AGENT="$2"; shift 2 ;;
    --name) need "$@"; NAME="$2"; shift 2 ;;
    --out) need "$@"; OUT="$2"; shift 2 ;;
    --setup) FORCE_SETUP=1; shift ;;
    -q|--quiet) QUIET=(-q); shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
EXTRA=("$@")

case "$IMPL" in fastws|websockets) ;; *) echo "run.sh: --impl fastws|websockets" >&2; exit 2 ;; esac
case "$COMPRESSION" in
  "") case "$SET" in fast|no-compression) COMPRESSION=off ;; *) COMPRESSION=on ;; esac ;;
  on|off) ;;
  *) echo "run.sh: --compression on|off" >&2; exit 2 ;;
esac

if [ ! -x "$SHARED/run_client_suite.sh" ]; then
  echo "run.sh: Autobahn recipe not found at $SHARED (set FASTWS_AUTOBAHN_DIR)" >&2
  exit 2
fi

# --- wstest ------------------------------------------------------------------
if [ -z "${AUTOBAHN_PREFIX:-}" ] && [ "$(id -u)" != 0 ] && [ ! -x /opt/autobahn/bin/wstest ]; then
  CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fastws-autobahn"
  export PY27_PREFIX="${PY27_PREFIX:-$CACHE/py27}"
  export AUTOBAHN_PREFIX="$CACHE/autobahn"
  export AUTOBAHN_BUILD_DIR="${AUTOBAHN_BUILD_DIR:-$CACHE/build}"
fi
WSTEST="${WSTEST:-${AUTOBAHN_PREFIX:-/opt/autobahn}/bin/wstest}"
if [ "$FORCE_SETUP" = 1 ] || [ ! -x "$WSTEST" ]; then
  echo "[run.sh] installing wstest: $SHARED/setup.sh --skip-venv"
  t0=$(date +%s)
  bash "$SHARED/setup.sh" --skip-venv
  echo "[run.sh] setup took $(( $(date +%s) - t0 ))s"
  [ -x "$WSTEST" ] || { echo "run.sh: setup did not produce $WSTEST" >&2; exit 2; }
fi

# --- the run -----------------------------------------------------------------
ARGS=(--wstest "$WSTEST" --python "$(command -v "$PY")" --out "$OUT" "${QUIET[@]}")
case "$SET" in
  full) ;;
  ci)
    # Bounded for CI: a hung client is stopped after 240 s (+90 s for reports).
    export AUTOBAHN_REPORT_ALLOWANCE="${AUTOBAHN_REPORT_ALLOWANCE:-90}"
    CI_CASES="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
    CI_CASES="$CI_CASES,12.1.1,12.1.2,12.1.3,12.2.1,12.2.2,12.3.1,12.5.1,12.5.2"
    # 16 KiB compressed text, whole (12.1.7) and in 256-byte frames (12.1.12): frames
    # that arrive over several reads (partial-frame handling under permessage-deflate).
    CI_CASES="$CI_CASES,12.1.7,12.1.12"
    for g in 1 2 3 4 5 6 7; do CI_CASES="$CI_CASES,13.$g.1,13.$g.2"; done
    ARGS+=(--cases "$CI_CASES" --timeout 240 --case-timeout 20) ;;
  check) ARGS+=(--check) ;;
  fast) ARGS+=(--fast) ;;
  no-compression) ARGS+=(--no-compression) ;;
  cases) ARGS+=(--cases "$CASE_LIST") ;;
esac
ARGS+=(--client-compression "$COMPRESSION")
if [ -z "$AGENT" ]; then
  AGENT="$IMPL"
  [ "$COMPRESSION" = on ] || AGENT="$AGENT-nodeflate"
fi
[ -n "$NAME" ] || NAME="$AGENT-$SET-$(date +%Y%m%d-%H%M%S)"
ARGS+=(--agent "$AGENT" --name "$NAME")

mkdir -p "$OUT"
set +e
bash "$SHARED/run_client_suite.sh" "${ARGS[@]}" "${EXTRA[@]}" -- \
  "$HERE/fastws_client.py" --impl "$IMPL"
RC=$?
set -e
RUN="$(cd "$OUT/$NAME" 2>/dev/null && pwd || true)"
INDEX="$RUN/reports/clients/index.json"
if [ -z "$RUN" ] || [ ! -f "$INDEX" ]; then
  echo "[run.sh] no report produced (run_client_suite.sh status $RC)" >&2
  exit $(( RC == 0 ? 2 : RC ))
fi

# --- summary.md: counts + every case that is not OK, with the report's reason --
set +e
python3 - "$RUN" "$AGENT" "$IMPL" "$COMPRESSION" "$SET" <<'EOF'
import json, os, sys

run, agent, impl, compression, case_set = sys.argv[1:6]
reports = os.path.join(run, "reports", "clients")
index = json.load(open(os.path.join(reports, "index.json"), encoding="utf-8"))[agent]
meta = json.load(open(os.path.join(run, "run.json"), encoding="utf-8"))
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
key = lambda cid: tuple(int(p) for p in cid.split("."))
counts = {b: 0 for b in order}
for r in index.values():
    counts[r["behavior"]] = counts.get(r["behavior"], 0) + 1

def short(value, limit=160):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."

lines = [
    f"# Autobahn|Testsuite: {agent} ({impl}, compression {compression}, set {case_set})",
    "",
    f"{len(index)} cases of {meta.get('server_cases') or '?'}; client {meta['client_seconds']} s, "
    f"whole run {meta['total_seconds']} s; client exit status {meta['client_rc']}.",
    "",
    "| " + " | ".join(["agent"] + order + [k for k in counts if k not in order]) + " |",
    "|---|" + "---:|" * (len(counts)),
    "| " + " | ".join([agent] + [str(counts[k]) for k in order]
                      + [str(v) for k, v in counts.items() if k not in order]) + " |",
    "",
]
# The driver's own view of each case (exception raised), keyed by case id through the
# server's case order ("Cases = [...]" in server.log).
client_side = {}
try:
    import ast
    with open(os.path.join(run, "server.log"), encoding="utf-8", errors="replace") as f:
        order = next(ast.literal_eval(line.split("=", 1)[1].strip())
                     for line in f if line.startswith("Cases = ["))
    with open(os.path.join(run, "client-cases.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if 1 <= rec["case"] <= len(order):
                client_side[order[rec["case"] - 1]] = rec
except (OSError, StopIteration, ValueError, SyntaxError):
    pass
not_ok = [cid for cid in sorted(index, key=key) if index[cid]["behavior"] != "OK"]
close_bad = [cid for cid in sorted(index, key=key)
             if index[cid].get("behaviorClose") not in ("OK", "INFORMATIONAL")]
if not_ok:
    lines += ["| case | behavior | close | reason (report: result; expected vs received) |",
              "|---|---|---|---|"]
for cid in not_ok:
    r = index[cid]
    try:
        rep = json.load(open(os.path.join(reports, r["reportfile"]), encoding="utf-8"))
    except (OSError, KeyError, ValueError):
        rep = {}
    why = rep.get("result", "?")
    if r["behavior"] not in ("INFORMATIONAL", "UNIMPLEMENTED") and rep.get("expected"):
        why += (f"; expected {short(rep.get('expected'))}, received {short(rep.get('received'))}")
    why += (f"; close: {rep.get('resultClose', '?')} (client's close code "
            f"{r.get('remoteCloseCode')}, expected {short(rep.get('expectedClose', {}).get('closeCode'))})")
    if rep.get("wasNotCleanReason"):
        why += f"; not clean: {rep['wasNotCleanReason']}"
    if cid in client_side and client_side[cid]["outcome"] != "ok":
        c = client_side[cid]
        why += f"; client raised {c['outcome']}: {c['detail']}"
    lines.append(f"| {cid} | {r['behavior']} | {r.get('behaviorClose')} | "
                 + why.replace("|", "\\|").replace("\n", " ") + " |")
if close_bad:
    lines += ["", "behaviorClose not OK: " + ", ".join(close_bad)]
text = "\n".join(lines) + "\n"
open(os.path.join(run, "summary.md"), "w", encoding="utf-8").write(text)
json.dump({"agent": agent, "counts": counts, "total": len(index),
           "server_cases": meta.get("server_cases"), "not_ok": not_ok, "close_not_ok": close_bad},
          open(os.path.join(run, "counts.json"), "w", encoding="utf-8"), indent=1)
print(f"[run.sh] summary: {run}/summary.md")
print("[run.sh] " + "  ".join(f"{k}={v}" for k, v in counts.items()))
bad = [cid for cid in not_ok if index[cid]["behavior"] in ("FAILED", "WRONG CODE", "UNCLEAN")]
if bad:
    print("[run.sh] not passing: " + ", ".join(f"{c} {index[c]['behavior']}" for c in bad))
sys.exit(1 if bad else 0)
EOF
SUMMARY_RC=$?
set -e
[ "$RC" = 0 ] || exit "$RC"
exit "$SUMMARY_RC"
