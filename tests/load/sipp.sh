#!/usr/bin/env bash
# Load test: 100 concurrent calls spread over 20 conferences, each streaming PCMU for 30 s,
# against a bridge on loopback. Passes when sipp reports zero failed calls and the bridge
# logged no error.
#
#   tests/load/sipp.sh [path/to/chorus]
#
# Without an argument it builds and uses target/release/chorus. Ports: SIP 5600 (bridge) and
# 5610 (sipp), REST 45600, RTP 24000-24999 (bridge) and sipp's own from 7000.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=$root/target/release/chorus
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-load.XXXXXX")
"$bin" --sip-listen 127.0.0.1:5600 --http-listen 127.0.0.1:45600 --rtp-ports 24000-24999 \
  --config tests/load/chorus-load.toml --data-dir "$work/data" 2>"$work/chorus.log" &
bridge=$!
trap 'kill -TERM $bridge 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "SIP listening" "$work/chorus.log" && break
  sleep 0.1
done

set +e
timeout 120 sipp -sf tests/load/conference_load.xml -inf tests/load/conferences.csv \
  -i 127.0.0.1 -mi 127.0.0.1 -p 5610 -mp 7000 \
  -l 100 -m 100 -r 20 -rp 1000 -nostdin -timeout 100s \
  127.0.0.1:5600 >"$work/sipp.out" 2>&1
sipp_rc=$?
set -e

kill -TERM $bridge
wait $bridge
bridge_rc=$?
trap - EXIT

successful=$(grep -E "^ +Successful call" "$work/sipp.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
failed=$(grep -E "^ +Failed call" "$work/sipp.out" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
errors=$(grep -c " ERROR " "$work/chorus.log" || true)
late=$(grep -c "ticks skipped" "$work/chorus.log" || true)
echo "load: successful=${successful:-?} failed=${failed:-?} sipp_rc=$sipp_rc bridge_rc=$bridge_rc log_errors=$errors late_tick_warnings=$late (logs in $work)"
if [ "$sipp_rc" -ne 0 ] || [ "${failed:-1}" != "0" ] || [ "${successful:-0}" != "100" ] || [ "$errors" -ne 0 ] || [ "$bridge_rc" -ne 0 ]; then
  tail -n 40 "$work/sipp.out"
  grep -E "WARN|ERROR" "$work/chorus.log" | tail -n 20
  exit 1
fi
