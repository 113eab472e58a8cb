#!/bin/sh
# Alternated cp rounds (A B C A B C …) against a running sandbox, for before/after measurements of
# one change: a SIZE-byte random file up to the pod and back with each tool, sha256 compared, and
# per tool and direction the median (p25, min) of wall ms, CPU ms (user + system) and peak RSS MiB.
#
#   bin/podshell sandbox --kubeconfig /tmp/sb.yaml &        # then:
#   KUBECONFIG=/tmp/sb.yaml bench/cp-ab.sh 4096 15 kubectl before after
#
# Tools: `after` is this checkout's published CLI (node bin/podshell.js; `npm run build` first),
# `before` the same files of another build in $BEFORE (bin/podshell.js, bin/podshell-bundle.js,
# dist/bundle/podshell.cjs, package.json and a node_modules link), `kubectl` is $KUBECTL (default:
# kubectl.1.33 next to kubectl). Pod `demo`, container `main`, files under /tmp/cp-ab in the pod.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
PATH=$here/node_modules/.bin:$PATH
kubectl=${KUBECTL:-$(dirname "$(readlink -f "$(command -v kubectl)")")/kubectl.1.33}
size=$1 rounds=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c "$size" /dev/urandom > "$tmp/src"
sum=$(sha256sum < "$tmp/src" | cut -c1-64)
"$here/bin/podshell" exec -i demo -c main -- sh -c 'mkdir -p /tmp/cp-ab && cat > /tmp/cp-ab/source' < "$tmp/src"
cp_with() {
  tool=$1
  shift
  case $tool in
    kubectl) /usr/bin/time -o "$tmp/time" -f '%U %S %M' "$kubectl" --cache-dir "$tmp/kcache" cp "$@" -c main ;;
    before) /usr/bin/time -o "$tmp/time" -f '%U %S %M' node "$BEFORE/bin/podshell.js" cp "$@" -c main ;;
    after) /usr/bin/time -o "$tmp/time" -f '%U %S %M' node "$here/bin/podshell.js" cp "$@" -c main ;;
  esac > /dev/null
}
sample() {
  # tool direction start-ns
  end=$(date +%s%N)
  echo "$1 $2 $(((end - $3) / 1000000)) $(awk '{printf "%d %d", ($1 + $2) * 1000, $3 / 1024}' "$tmp/time")" >> "$tmp/samples"
}
: > "$tmp/samples"
for _ in $(seq "$rounds"); do
  for tool in "$@"; do
    start=$(date +%s%N)
    cp_with "$tool" "$tmp/src" "demo:/tmp/cp-ab/up-$tool"
    sample "$tool" up "$start"
    got=$("$here/bin/podshell" exec demo -c main -- sha256sum "/tmp/cp-ab/up-$tool" | cut -c1-64)
    [ "$got" = "$sum" ] || { echo "upload by $tool arrived with sha256 $got" >&2; exit 1; }
    rm -f "$tmp/down"
    start=$(date +%s%N)
    cp_with "$tool" demo:/tmp/cp-ab/source "$tmp/down"
    sample "$tool" down "$start"
    got=$(sha256sum < "$tmp/down" | cut -c1-64)
    [ "$got" = "$sum" ] || { echo "download by $tool arrived with sha256 $got" >&2; exit 1; }
  done
done
"$here/bin/podshell" exec demo -c main -- rm -rf /tmp/cp-ab
stats() { sort -n | awk '{a[NR] = $1} END {printf "%s (p25 %s, min %s)", a[int((NR + 1) / 2)], a[int((NR + 3) / 4)], a[1]}'; }
for direction in up down; do
  for tool in "$@"; do
    col() { grep "^$tool $direction " "$tmp/samples" | awk -v c="$1" '{print $c}' | stats; }
    echo "$direction $tool: wall ms $(col 3), cpu ms $(col 4), peak RSS MiB $(col 5)"
  done
done
