# shellcheck shell=bash
# scripts/bench-lib.sh: what every scripts/bench-* shares.  Sourced, not run.
#
#   bench_result MEASURE IMGFS REFERENCE RATIO TARGET
#       prints one result as a tab-separated line
#           BENCH <measure> <imgfs figure> <reference figure> <ratio> <target>
#       (TARGET like "<= 2.0" or ">= 0.8"; "-" when the measure has no
#       target), and appends it to $BENCH_RESULTS when that names a file:
#       scripts/bench collects these lines from every benchmark into one
#       table and one plot.
#   bench_ratio A B      A / B with two decimals
#   bench_verdict RATIO TARGET   "ok" or "MISSED"
#   bench_timed IMAGE CMD [ARG...]
#       runs CMD (a request: mkdir copies/R, a write to convert, a cp into
#       disks/vda), then reads IMAGE's status every 2 ms until it is final,
#       and prints the seconds from just before CMD to the read that saw
#       it; fails unless available.  One process runs both, so that the
#       time counts neither a poller's start (python3: 90 ms, more than a
#       second copy takes) nor a request that ended before it looked.
#   bench_cpu PID        the process's CPU so far (user + system), in clock
#                        ticks: take it before and after a step
#   bench_cpu_per_gib T0 T1 BYTES
#       CPU-seconds per GiB between two bench_cpu readings for BYTES moved
#   bench_machine_cpu    every process's CPU so far (/proc/stat: user, nice,
#                        system, irq, softirq), in clock ticks
#   bench_cores T0 T1 SECONDS
#       cores busy on average between two bench_machine_cpu readings
#   bench_sha256_floor   seconds per GiB that SHA-256 takes on one core
#       (openssl speed -evp sha256, 1 MiB blocks): an upload hashes every
#       byte once (SPEC §2.1), one stream that cannot be split, so no
#       upload of a GiB takes less on this machine

bench_ratio() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9)))' "$1" "$2"; }

bench_verdict() {
    python3 - "$1" "$2" <<'PY'
import sys
r, t = sys.argv[1], sys.argv[2]
if t in ("-", ""):
    print("-")
else:
    op, v = t.split()
    ok = float(r) <= float(v) if op == "<=" else float(r) >= float(v) if op == ">=" else float(r) < float(v) if op == "<" else float(r) > float(v)
    print("ok" if ok else "MISSED")
PY
}

bench_result() {
    local line
    line=$(printf 'BENCH\t%s\t%s\t%s\t%s\t%s' "$1" "$2" "$3" "$4" "$5")
    echo "$line"
    if [[ -n "${BENCH_RESULTS:-}" ]]; then
        echo "$line" >>"$BENCH_RESULTS"
    fi
}

bench_timed() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
image, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
subprocess.run(cmd, check=True)
while True:
    try:
        with open(image + "/status") as f:
            s = f.read().strip()
    except FileNotFoundError:
        s = ""  # a copy's target appears once the request is taken
    if s in ("available", "error"):
        break
    time.sleep(0.002)
t1 = time.monotonic()
if s != "available":
    sys.exit("bench: %s is %s: %s" % (image, s, open(image + "/error").read().strip()))
print("%.3f" % (t1 - t0))
PY
}

bench_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench_machine_cpu() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

bench_cores() {
    python3 -c 'import sys; print("%.2f" % ((float(sys.argv[2]) - float(sys.argv[1])) / float(sys.argv[4]) / max(float(sys.argv[3]), 1e-9)))' \
        "$1" "$2" "$3" "$(getconf CLK_TCK)"
}

bench_cpu_per_gib() {
    python3 -c 'import sys; print("%.2f" % ((float(sys.argv[2]) - float(sys.argv[1])) / float(sys.argv[4]) / (int(sys.argv[3]) / 2**30)))' \
        "$1" "$2" "$3" "$(getconf CLK_TCK)"
}

bench_sha256_floor() {
    openssl speed -seconds 2 -bytes 1048576 -evp sha256 2>/dev/null |
        awk '$1 == "sha256" { sub("k", "", $2); printf "%.2f\n", 1073741824 / ($2 * 1000) }'
}
