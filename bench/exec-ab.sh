#!/bin/sh
# Alternated exec rounds (A B C A B C …) against a running sandbox, for before/after measurements
# of one change to exec's stream path: per tool, the median (p25, min) of wall ms, MiB/s, CPU ms
# (user + system) and peak RSS MiB of the whole process, for one workload:
#   stdout   `exec demo -- head -c SIZE /dev/zero | wc -c` (a pipe, as the bench's sink)
#   stdin    `head -c SIZE /dev/zero | exec -i demo -- wc -c`
#   oneshot  `exec demo -- true` (SIZE ignored)
# The byte count that arrived is checked every round.
#
#   bin/podshell sandbox --kubeconfig /tmp/sb.yaml &        # then:
#   KUBECONFIG=/tmp/sb.yaml bench/exec-ab.sh stdout 1073741824 6 kubectl before after
#
# Tools: `after` is this checkout's published CLI (node bin/podshell.js; `npm run build` first),
# `before` the same files of another build in $BEFORE (bin/podshell.js, bin/podshell-bundle.js,
# dist/bundle/podshell.cjs and a node_modules link), `kubectl` is $KUBECTL (default: kubectl.1.33
# next to kubectl). `after:NAME=VALUE` (or `before:…`) runs that tool with NAME=VALUE in its
# environment, e.g. `after:MALLOC_ARENA_MAX=2`. With SAMPLES=FILE, every round's figures (tool, wall
# ms, MiB/s, CPU ms, peak RSS MiB) are also written to FILE.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
PATH=$here/node_modules/.bin:$PATH
kubectl=${KUBECTL:-$(dirname "$(readlink -f "$(command -v kubectl)")")/kubectl.1.33}
workload=$1 size=$2 rounds=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run_tool() {
  # tool, then the exec arguments
  tool=${1%%:*}
  setting=
  case $1 in *:*) setting=${1#*:} ;; esac
  shift
  case $tool in
    kubectl) set -- "$kubectl" --cache-dir "$tmp/kcache" exec "$@" ;;
    before) set -- node "$BEFORE/bin/podshell.js" exec "$@" ;;
    after) set -- node "$here/bin/podshell.js" exec "$@" ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
  esac
  if [ -n "$setting" ]; then set -- env "$setting" "$@"; fi
  /usr/bin/time -o "$tmp/time" -f '%U %S %M' "$@"
}
: > "$tmp/samples"
for _ in $(seq "$rounds"); do
  for tool in "$@"; do
    start=$(date +%s%N)
    case $workload in
      stdout) got=$(run_tool "$tool" demo -- head -c "$size" /dev/zero | wc -c) ;;
      stdin) got=$(head -c "$size" /dev/zero | run_tool "$tool" -i demo -- wc -c) ;;
      oneshot) got=$(run_tool "$tool" demo -- true; echo 0) size=0 ;;
      *) echo "unknown workload $workload" >&2; exit 2 ;;
    esac
    end=$(date +%s%N)
    [ "$((got))" = "$size" ] || { echo "$tool: $got bytes arrived, not $size" >&2; exit 1; }
    echo "$tool $(((end - start) / 1000000)) $(awk -v s="$size" -v ms="$(((end - start) / 1000000))" '{printf "%d %d %d", s / 1048576 / (ms / 1000), ($1 + $2) * 1000, $3 / 1024}' "$tmp/time")" >> "$tmp/samples"
  done
done
if [ -n "${SAMPLES:-}" ]; then cp "$tmp/samples" "$SAMPLES"; fi
stats() { sort -n | awk '{a[NR] = $1} END {printf "%s (p25 %s, min %s)", a[int((NR + 1) / 2)], a[int((NR + 3) / 4)], a[1]}'; }
for tool in "$@"; do
  col() { grep -F "$tool " "$tmp/samples" | awk -v t="$tool" -v c="$1" '$1 == t {print $c}' | stats; }
  echo "$workload $tool: wall ms $(col 2), MiB/s $(col 3), cpu ms $(col 4), peak RSS MiB $(col 5)"
done
