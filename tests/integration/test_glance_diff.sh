#!/usr/bin/env bash
# test_glance_diff.sh — the image API against Glance itself (SPEC §19.6): Debian
# 12's glance-api (25.1, Zed) started here on loopback — sqlite, one file
# store named as imgfs's region, no Keystone: a paste pipeline of Glance's
# own version negotiation and context middleware, which builds the
# request's context from the headers keystonemiddleware would have set
# (X-Identity-Status, X-Project-Id, X-Roles) — beside `imgfs serve --glance
# --glance-hash-algo sha512` on a mount, accounts alice and bob on both.
# glance_diff.py sends both the same 557 requests (list filters and
# operators, sorting, paging, patches, tags, members, downloads by Range,
# uploads by Content-Type, staging, actions, errors) and compares statuses and
# bodies after masking ids, times and links; the differences must be
# exactly §19.6's list.  About 20 s of wall time, 13 s of CPU (most of it
# glance-api's): its database migrations and start (7 s here), then the
# requests (9 s, 4 of them the 397 that glance3 added).  All traffic to
# 127.0.0.1.
source "$(dirname "$0")/lib.sh"

for tool in glance-api glance-manage curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (apt-get install glance-api)"
done
REFERENCE=$(cd "$INTEGRATION_DIR/../.." && pwd)/docs/reference.md

setup_mount
imgfs_admin "$S" account add alice
imgfs_admin "$S" account add bob
imgfs_admin "$S" quota set alice cn-north-1 private-images 20  # the sequence makes 11
ATOK=$(imgfs_admin "$S" token alice 1h | cut -d' ' -f1)
BTOK=$(imgfs_admin "$S" token bob 1h | cut -d' ' -f1)
"$IMGFS" serve --state "$S" --listen 127.0.0.1:0 --glance --glance-hash-algo sha512 \
    --log "$T/serve.log" 2>"$T/serve.err" &
SERVE_PID=$!
at_exit "kill $SERVE_PID; wait $SERVE_PID"
wait_for 10 grep -qs 'listening on' "$T/serve.log" || { cat "$T/serve.err" >&2; fail "imgfs serve did not start"; }
IURL=http://127.0.0.1:$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')

say "Glance: its database, then glance-api on a free port"
G=$T/glance
mkdir -p "$G/store" "$G/staging" "$G/tasks" "$G/cache"
GPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$G/paste.ini" <<'EOF'
[pipeline:glance-api]
pipeline = versionnegotiation context rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
EOF
cat >"$G/glance.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $GPORT
workers = 0
enabled_backends = cn-north-1:file
log_file = $G/glance.log
image_cache_dir = $G/cache
[database]
connection = sqlite:///$G/glance.sqlite
[paste_deploy]
config_file = $G/paste.ini
[glance_store]
default_backend = cn-north-1
[cn-north-1]
filesystem_store_datadir = $G/store
[os_glance_staging_store]
filesystem_store_datadir = $G/staging
[os_glance_tasks_store]
filesystem_store_datadir = $G/tasks
EOF
glance-manage --config-file "$G/glance.conf" db_sync >"$G/db_sync.log" 2>&1 ||
    { tail -5 "$G/db_sync.log" >&2; fail "glance-manage db_sync"; }
glance-api --config-file "$G/glance.conf" >"$G/api.out" 2>&1 &
GLANCE_PID=$!
at_exit "kill $GLANCE_PID; wait $GLANCE_PID"
wait_for 120 curl -s -o /dev/null "http://127.0.0.1:$GPORT/" ||
    { tail -20 "$G/api.out" "$G/glance.log" >&2; fail "glance-api did not start"; }
say "Glance up at $SECONDS s"

# A raw disk imgfs takes (an MBR and data).
python3 - "$T/disk.raw" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(2 << 20)
    f.write(b"\xeb\x63" + os.urandom(508) + b"\x55\xaa")
    f.seek(1 << 20); f.write(os.urandom(1 << 20))
EOF

say "the same sequences to both"
python3 "$INTEGRATION_DIR/glance_diff.py" "http://127.0.0.1:$GPORT" "$IURL" "$ATOK" "$BTOK" "$T/disk.raw" \
    "$REFERENCE" | tee "$T/diff.out" || { grep -E 'NEW|gone' "$T/diff.out" >&2; fail "the differences are not §19.6's"; }
say "every difference is §19.6's ($SECONDS s)"
