#!/usr/bin/env bash
# Load with the project's load tool (crates/load, `chorus-load`): rooms of callers, one
# socket each, talkers sending speech and the others -60 dBFS noise with RFC 6464 levels,
# against a bridge started here. Prints the tool's report (the bridge's CPU per
# participant per tick, its pacing, loss, the level heard), then fails unless the bridge
# forwarded lone talkers and skipped decoding silence (its /metrics), whatever the timing.
#
#   tests/load/run.sh [chorus-load options]      e.g. --rooms 40 --members 5 --codec opus
#
# Builds both binaries in release unless CHORUS_BIN and CHORUS_LOAD_BIN name them. Ports:
# SIP 5700, REST 45700, bridge RTP 20000-31999, the callers' RTP from 40000.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${CHORUS_BIN:-}
load=${CHORUS_LOAD_BIN:-}
if [ -z "$bin" ] || [ -z "$load" ]; then
  cargo build --release --quiet -p chorus -p chorus-load
  bin=${bin:-$root/target/release/chorus}
  load=${load:-$root/target/release/chorus-load}
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-load.XXXXXX")
"$bin" --sip-listen 127.0.0.1:5700 --http-listen 127.0.0.1:45700 --rtp-ports 20000-31999 \
  --adhoc-max 1000 --realtime-media true --data-dir "$work/data" 2>"$work/chorus.log" &
bridge=$!
trap 'kill -TERM $bridge 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "SIP listening" "$work/chorus.log" && break
  sleep 0.1
done

set +e
"$load" --sip 127.0.0.1:5700 --api http://127.0.0.1:45700 --pid "$bridge" "$@"
load_rc=$?
set -e
metrics=$(curl -sf http://127.0.0.1:45700/metrics 2>/dev/null || python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:45700/metrics").read().decode())')
value() { echo "$metrics" | awk -v m="$1" 'index($0, m) == 1 { print $NF }'; }
forwarded=$(value 'chorus_media_frames_total{path="forwarded"}')
skipped=$(value 'chorus_media_decodes_skipped_total')
late=$(value 'chorus_late_ticks_total')
kill -TERM $bridge
wait $bridge || true
trap - EXIT
echo "bridge: forwarded ${forwarded:-0} frames, skipped ${skipped:-0} decodes, ${late:-0} late ticks (logs in $work)"
if [ "$load_rc" -ne 0 ]; then
  echo "load: the load tool failed" >&2
  exit 1
fi
if [ "${forwarded%.*}" = "0" ] || [ -z "$forwarded" ] || [ "${skipped%.*}" = "0" ] || [ -z "$skipped" ]; then
  echo "load: the bridge no longer forwards lone talkers or skips decoding silence" >&2
  exit 1
fi
