#!/usr/bin/env bash
# Lossless UDP ingest of `flowwatch serve` measured with the shared harness (../shared/bench), in
# the same run as nfcapd, on the same workload:
#   bash bench/ingest.sh v9 "200k 400k 600k" 10 3          # flowwatch, then nfcapd, same rates
#   SERVE_FLAGS=--no-geo SKIP_NFCAPD=1 bash bench/ingest.sh v9 "600k" 10 2   # extra serve flags
# Needs the workload pcap: node ../shared/bench/flowgen.js gen --proto v9 --flows 12M --seed 42 \
#   --out /tmp/bench-data/v9-12M.pcap   (see ../shared/bench/README.md). Rows go to
# /tmp/bench-data/results/ingest.tsv; `node ../shared/bench/summarize.js` tabulates them.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$HERE/../shared/bench}
PROTO=${1:-v9} RATES=${2:-"400k"} DUR=${3:-10} RUNS=${4:-3}
export COLLECTOR_CMD="node $HERE/dist/src/cli/main.js serve ${SERVE_FLAGS:-} --data {dir} --listen 127.0.0.1:{port} --http ''"
export COUNT_CMD="node $HERE/dist/src/cli/main.js stats --data {dir} --format json | node -e 'let s=\"\";process.stdin.on(\"data\",d=>s+=d).on(\"end\",()=>console.log(JSON.parse(s).store.tables.flows.rows))'"
bash "$SHARED/ingest.sh" custom "$PROTO" "$RATES" "$DUR" "$RUNS"
[ -n "${SKIP_NFCAPD:-}" ] || bash "$SHARED/ingest.sh" nfcapd "$PROTO" "$RATES" "$DUR" "$RUNS"
