#!/usr/bin/env bash
# SPEC §15: /stats in the Prometheus text format (0.0.4), read with
# Prometheus' own parser, and its counters moving by the right amount:
# requests and errors by operation (errors by errno name too), bytes read
# and written through the mount, the chunk cache's hits and misses, chunks
# and bytes stored per region, images by region and status, tasks by kind
# and state, bytes tasks went through and moved.  Every counter is checked
# against a known operation: 4 MiB read with O_DIRECT (no readahead, no
# page cache: exactly the bytes asked for), 3 MiB written, one refused
# mkdir, a capture, a delete, a copy whose log line says what it moved.
# test_metrics_pg.sh runs it with the metadata in PostgreSQL (METRICS_OPTS).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
[[ -n "${INTEGRATION_DIR:-}" ]] || source "$(dirname "$0")/lib.sh"

OPTS=${METRICS_OPTS:-}
setup_mount "$OPTS"
P="$R/private"
I="$R/instances"
MiB=1048576

# prom SERIES: the value of one sample of /stats as Prometheus' parser
# reads it, SERIES as name{k="v",...} with the labels in any order; 0 when
# the file has no such sample (a family's series not yet seen); fails when
# the file does not parse, a family lacks HELP or TYPE, or a sample is
# there twice.
cat >"$T/prom.py" <<'PY'
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
want = sys.argv[2]
m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?', want)
name, labels = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ''))
helps = set(re.findall(r'^# HELP (\S+) ', text, re.M))
types = dict(re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M))
found = []
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        base = s.name
        if base not in helps or base not in types:
            sys.exit(f"{base}: no HELP or TYPE")
        if s.name == name and s.labels == labels:
            found.append(s.value)
if len(found) > 1:
    sys.exit(f"{want} is there {len(found)} times")
print(int(found[0]) if found else 0)
PY
# The parser is Debian's python3-prometheus-client (scripts/install-deps),
# which the system's python3 imports; another python3 first on PATH may not.
PROM_PY=python3
python3 -c 'import prometheus_client' 2>/dev/null || PROM_PY=/usr/bin/python3
"$PROM_PY" -c 'import prometheus_client' || fail "python3-prometheus-client is not installed"
prom() {
    cat "$M/stats" >"$T/stats.txt"
    "$PROM_PY" "$T/prom.py" "$T/stats.txt" "$1" || fail "/stats: $1"
}

say "/stats parses; every family has HELP and TYPE; its size is what cat reads"
prom 'imgfs_requests_total{op="lookup"}' >/dev/null
assert_match '[0-9]+' "$(prom imgfs_read_bytes_total)" "imgfs_read_bytes_total"
assert_eq 0 "$(grep -c '^# TYPE' <(grep -v '^# TYPE [a-z_][a-z0-9_]* \(counter\|gauge\)$' "$T/stats.txt" | grep '^# TYPE'))" \
    "TYPE lines that are not counter or gauge"
# The service's own background tasks (the catalogue's inspections, §20)
# add and remove imgfs_tasks lines while they run: the sizes are compared
# once none is queued or running, when only counters can move.
tasks_busy() { awk '$1 ~ /^imgfs_tasks\{/ && $1 ~ /state="(queued|running)"/ && $2 != 0 { b = 1 } END { exit !b }' "$M/stats"; }
tasks_idle() { ! tasks_busy; }
wait_for 120 tasks_idle || fail "background tasks still queued or running: $(grep '^imgfs_tasks' "$M/stats")"
python3 - "$M/stats" <<'PY' || fail "st_size of /stats and what one read returns differ"
import os, sys
with open(sys.argv[1], 'rb') as f:
    size = os.fstat(f.fileno()).st_size
    data = f.read()
# Rendered again at each stat and open: the counters of the requests in
# between may lengthen it by a few digits, never by a line.
assert abs(len(data) - size) < 16, (len(data), size)
PY

say "a tree walk: no errors but the lookups of names that do not exist (zero-message opendir is a success)"
ls -R "$M/regions" >/dev/null
assert_eq 0 "$(prom 'imgfs_request_errors_total{op="opendir"}')" "opendir errors"

say "4 MiB read with O_DIRECT from a platform image: read bytes +4 MiB, cache misses then hits"
# At 510 MiB (its data chunk at 512): the walk above read the partition
# table and the partition's first bytes for files/README (SPEC §18).
V="$R/public/centos-7.4/disks/vda"
r0=$(prom imgfs_read_bytes_total)
m0=$(prom 'imgfs_chunk_cache_misses_total{region="cn-north-1"}')
dd if="$V" of=/dev/null bs=1M skip=510 count=4 iflag=direct status=none || fail "dd of 4 MiB from $V"
r1=$(prom imgfs_read_bytes_total)
m1=$(prom 'imgfs_chunk_cache_misses_total{region="cn-north-1"}')
h1=$(prom 'imgfs_chunk_cache_hits_total{region="cn-north-1"}')
assert_eq $((4 * MiB)) $((r1 - r0)) "bytes read counted for 4 MiB read"
((m1 > m0)) || fail "a first read of $V loaded no chunk (misses $m0 -> $m1)"
dd if="$V" of=/dev/null bs=1M skip=510 count=4 iflag=direct status=none
assert_eq $((4 * MiB)) $(($(prom imgfs_read_bytes_total) - r1)) "bytes read counted for a second 4 MiB"
assert_eq "$m1" "$(prom 'imgfs_chunk_cache_misses_total{region="cn-north-1"}')" "cache misses of a second pass"
assert_eq $((m1 - m0)) $(($(prom 'imgfs_chunk_cache_hits_total{region="cn-north-1"}') - h1)) \
    "cache hits of a second pass (one per chunk the first loaded)"

say "3 MiB written into an instance disk: written bytes +3 MiB"
w0=$(prom imgfs_written_bytes_total)
new_vm "$I/vm1"
echo cloud >"$I/vm1/system-disk" # captured as a cloud image: copied below
write_random "$I/vm1/disks/vda" 0 3
assert_eq $((3 * MiB)) $(($(prom imgfs_written_bytes_total) - w0)) "bytes written counted for 3 MiB"

say "a refused mkdir (a name §10 refuses): errors{op=mkdir,errno=EINVAL} +1"
e0=$(prom 'imgfs_request_errors_by_errno_total{op="mkdir",errno="EINVAL"}')
t0=$(prom 'imgfs_request_errors_total{op="mkdir"}')
q0=$(prom 'imgfs_requests_total{op="mkdir"}')
assert_errno EINVAL mkdir "$P/.bad"
assert_eq $((e0 + 1)) "$(prom 'imgfs_request_errors_by_errno_total{op="mkdir",errno="EINVAL"}')" \
    "mkdir EINVAL errors after one refusal"
assert_eq $((t0 + 1)) "$(prom 'imgfs_request_errors_total{op="mkdir"}')" "mkdir errors after one refusal"
assert_eq $((q0 + 1)) "$(prom 'imgfs_requests_total{op="mkdir"}')" "mkdir requests after one refusal"

say "a capture: one more available image, its 3 chunks stored again (dedup counted), progress counted"
a0=$(prom 'imgfs_images{region="cn-north-1",status="available"}')
c0=$(prom 'imgfs_stored_chunks{region="cn-north-1"}')
b0=$(prom 'imgfs_stored_bytes{region="cn-north-1"}')
p0=$(prom 'imgfs_task_bytes_total{kind="capture"}')
mkdir "$P/gold"
assert_eq 1 "$(prom 'imgfs_images{region="cn-north-1",status="queued"}')" "queued images after mkdir"
capture "$P/gold" vm1
assert_eq 0 "$(prom 'imgfs_images{region="cn-north-1",status="queued"}')" "queued images after the capture"
assert_eq $((a0 + 1)) "$(prom 'imgfs_images{region="cn-north-1",status="available"}')" "available images"
# The instance's disk (its 3 data chunks counted as they were written)
# and now the image's snapshot, which references the same 3: summed over
# blobs, dedup not subtracted, although the store holds no new chunk.
assert_eq $((c0 + 3)) "$(prom 'imgfs_stored_chunks{region="cn-north-1"}')" "stored chunks after the capture"
assert_eq $((b0 + 3 * MiB)) "$(prom 'imgfs_stored_bytes{region="cn-north-1"}')" "stored bytes after the capture"
vsize=$(stat -c %s "$P/gold/disks/vda")
assert_eq "$vsize" $(($(prom 'imgfs_task_bytes_total{kind="capture"}') - p0)) \
    "capture progress counted (the disk's virtual size)"

say "rmdir of the image: available -1, deleted +1"
rmdir "$P/gold"
assert_eq "$a0" "$(prom 'imgfs_images{region="cn-north-1",status="available"}')" "available images after rmdir"
assert_eq 1 "$(prom 'imgfs_images{region="cn-north-1",status="deleted"}')" "deleted images after rmdir"
mv "$R/recycle-bin/gold" "$P/gold"

say "a copy to cn-east-2: moved bytes = what its log line says it copied; queued, then no task"
mv0=$(prom 'imgfs_moved_bytes_total{kind="copy"}')
e0=$(prom 'imgfs_images{region="cn-east-2",status="available"}')
mkdir "$P/gold/copies/cn-east-2"
imgfs_wait "$M/regions/cn-east-2/private/gold" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait on the copy"; }
line=$(grep -F "copy $(cat "$P/gold/id") cn-north-1 -> cn-east-2: " "$S/imgfs.log" | tail -n 1)
[[ "$line" =~ \(([0-9]+)\ bytes\)\ copied ]] || fail "no copy line in the log: $line"
assert_eq $((3 * MiB)) "${BASH_REMATCH[1]}" "bytes the copy's log line says it copied"
assert_eq $((3 * MiB)) $(($(prom 'imgfs_moved_bytes_total{kind="copy"}') - mv0)) "moved bytes of the copy"
assert_eq $((e0 + 1)) "$(prom 'imgfs_images{region="cn-east-2",status="available"}')" \
    "available images in cn-east-2 after the copy"

say "workers=0: a copy waits, counted as a queued copy task"
remount_imgfs "$S" "$M" "${OPTS:+$OPTS,}workers=0"
mkdir "$P/gold/copies/cn-south-1"
assert_eq 1 "$(prom 'imgfs_tasks{kind="copy",state="queued"}')" "queued copy tasks"
assert_eq 0 "$(prom 'imgfs_moved_bytes_total{kind="copy"}')" "moved bytes of a fresh mount"
remount_imgfs "$S" "$M" "$OPTS"
imgfs_wait "$M/regions/cn-south-1/private/gold" >"$T/wait.out" 2>&1 || { cat "$T/wait.out" >&2; fail "imgfs wait on the second copy"; }
assert_eq 0 "$(prom 'imgfs_tasks{kind="copy",state="queued"}')" "queued copy tasks once it ran"

say "rows read by unexpected full scans"
assert_eq 0 "$(prom imgfs_db_unexpected_scan_rows_total)" "imgfs_db_unexpected_scan_rows_total"
