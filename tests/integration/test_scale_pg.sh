#!/usr/bin/env bash
# test_scale_pg: test_scale.sh with the metadata in PostgreSQL (SPEC §13):
# the same counts per image at N and 2N images, the same walks from the
# kernel's caches.  The server is a new database on the shared test server (lib.sh pg_database).
source "$(dirname "$0")/lib.sh"
chmod 711 "$T" # the server runs as the postgres user
pg_database SCALE_DB
SCALE_OPTS="db=$SCALE_DB"
export SCALE_DB SCALE_OPTS
# shellcheck source=test_scale.sh
source "$INTEGRATION_DIR/test_scale.sh"
