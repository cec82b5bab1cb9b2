#!/usr/bin/env bash
# test_metrics_pg: test_metrics.sh with the metadata in PostgreSQL (SPEC
# §13): /stats' counts of images, blobs and tasks come from the other
# driver's statements and indexes (schema_pg.c step 5).  The server is a
# throwaway one (scripts/pg-up), in $T.
source "$(dirname "$0")/lib.sh"
chmod 711 "$T" # the server runs as the postgres user
METRICS_DB=$("$INTEGRATION_DIR/../../scripts/pg-up" "$T/pg")
at_exit "'$INTEGRATION_DIR/../../scripts/pg-down' '$T/pg'"
METRICS_OPTS="db=$METRICS_DB"
export METRICS_OPTS
# shellcheck source=test_metrics.sh
source "$INTEGRATION_DIR/test_metrics.sh"
