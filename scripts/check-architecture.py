#!/usr/bin/env python3
"""Checks the architecture invariants of ARCHITECTURE.md mechanically.

1. Each workspace crate depends only on the workspace crates the layer map allows.
2. No core crate has tokio, sockets, HTTP or JSON anywhere in its normal dependency tree.
3. No core crate's source (outside its tests) reads the clock, sleeps or opens a socket.
4. Only chorus-opus (the libopus binding) allows `unsafe` code.

Exits non-zero with one line per violation.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# crate -> workspace crates it may depend on (normal dependencies).
ALLOWED = {
    "chorus-types": set(),
    "chorus-sip-msg": set(),
    "chorus-sdp": {"chorus-types"},
    "chorus-sip-proto": {"chorus-sip-msg"},
    "chorus-rtp": {"chorus-types"},
    "chorus-opus": set(),
    "chorus-codec": {"chorus-types", "chorus-opus"},
    "chorus-mixer": {"chorus-types"},
    "chorus-dtmf": {"chorus-types"},
    "chorus-policy": set(),
    # Media and signalling are separate machines: media knows no SIP, and the signalling
    # engine reaches codecs, RTP and the mix only through chorus-media's vocabulary.
    "chorus-media": {"chorus-types", "chorus-rtp", "chorus-codec", "chorus-mixer", "chorus-dtmf"},
    "chorus-engine": {
        "chorus-types", "chorus-sip-msg", "chorus-sdp", "chorus-sip-proto",
        "chorus-dtmf", "chorus-policy", "chorus-media",
    },
    "chorus-net": {"chorus-engine", "chorus-sip-msg", "chorus-types"},
    "chorus-store": set(),
    # Several nodes: heartbeats, placement and events between nodes, beside the driver.
    "chorus-cluster": {"chorus-net", "chorus-engine"},
    "chorus-api": {
        "chorus-net", "chorus-engine", "chorus-policy", "chorus-store", "chorus-types",
        "chorus-cluster",
    },
    "chorus": {
        "chorus-api", "chorus-net", "chorus-engine", "chorus-store", "chorus-types",
        "chorus-cluster",
    },
    # The load tool drives a bridge from outside, with the bridge's own codecs.
    "chorus-load": {"chorus-codec", "chorus-types"},
}
EDGES = ("chorus-net", "chorus-store", "chorus-cluster", "chorus-api", "chorus", "chorus-load")
CORES = [c for c in ALLOWED if c not in EDGES]
FORBIDDEN_IN_CORES = {"tokio", "mio", "socket2", "hyper", "axum", "serde_json", "async-std"}
FORBIDDEN_CALLS = re.compile(
    r"Instant::now\(\)|SystemTime::now\(\)|thread::sleep|std::net::(UdpSocket|TcpStream|TcpListener)"
)

errors = []
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1"],
    cwd=ROOT, check=True, capture_output=True, text=True,
).stdout)
packages = {p["id"]: p for p in meta["packages"]}
members = {packages[i]["name"]: packages[i] for i in meta["workspace_members"]}

for name, package in members.items():
    if name not in ALLOWED:
        errors.append(f"{name}: not in the layer map of scripts/check-architecture.py")
        continue
    for dep in package["dependencies"]:
        if dep["kind"] is None and dep["name"] in members and dep["name"] not in ALLOWED[name]:
            errors.append(f"{name} may not depend on {dep['name']}")

# Normal-dependency closure of each core, from the resolved graph.
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
for core in CORES:
    start = members[core]["id"]
    seen, stack = set(), [start]
    while stack:
        node = nodes[stack.pop()]
        for dep in node["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
    bad = sorted({packages[p]["name"] for p in seen} & FORBIDDEN_IN_CORES)
    if bad:
        errors.append(f"{core} pulls in {', '.join(bad)}: cores stay sans-IO")

for core in CORES:
    src = os.path.join(os.path.dirname(members[core]["manifest_path"]), "src")
    for dirpath, _, files in os.walk(src):
        # Test modules (tests.rs, or files under a tests/ folder) drive cores on a clock.
        in_tests = "tests" in os.path.relpath(dirpath, src).split(os.sep)
        for file in files:
            if not file.endswith(".rs") or file == "tests.rs" or in_tests:
                continue
            path = os.path.join(dirpath, file)
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.strip().startswith("#[cfg(test)]"):
                        break
                    if FORBIDDEN_CALLS.search(line) and not line.strip().startswith("//"):
                        errors.append(f"{os.path.relpath(path, ROOT)}:{number}: cores take `now` as an argument: {line.strip()}")

# The workspace denies unsafe code; the libopus binding is the one crate that lifts that.
UNSAFE_ALLOWED_UNDER = os.path.join(ROOT, "crates", "opus") + os.sep
ALLOW_UNSAFE = re.compile(r"(allow|expect|warn)\(\s*unsafe_code\s*\)")
for dirpath, dirs, files in os.walk(ROOT):
    dirs[:] = [d for d in dirs if d not in ("target", "libopus") and not d.startswith(".")]
    for file in files:
        path = os.path.join(dirpath, file)
        if not file.endswith(".rs") or path.startswith(UNSAFE_ALLOWED_UNDER):
            continue
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if ALLOW_UNSAFE.search(line):
                    errors.append(f"{os.path.relpath(path, ROOT)}:{number}: only chorus-opus may allow unsafe code")

for e in errors:
    print(e)
if errors:
    sys.exit(1)
print(f"architecture: {len(members)} crates follow the layer map; {len(CORES)} cores are sans-IO")
