#!/usr/bin/env bash
# test_metrics_pg: test_metrics.sh with the metadata in PostgreSQL (SPEC
# §13): /stats' counts of images, blobs and tasks come from the other
# driver's statements and indexes (schema_pg.c step 5).  The server is a
# new database on the shared test server (lib.sh pg_database).
source "$(dirname "$0")/lib.sh"
chmod 711 "$T" # the server runs as the postgres user
pg_database METRICS_DB
METRICS_OPTS="db=$METRICS_DB"
export METRICS_OPTS
# shellcheck source=test_metrics.sh
source "$INTEGRATION_DIR/test_metrics.sh"
