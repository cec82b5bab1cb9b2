/*
 * test_util.h — fixtures shared by the model/ and fs/ unit tests.
 *
 * Included by tests/unit/model/test_*.c and tests/unit/fs/test_*.c
 * (header-only: every helper is static inline, so a test that does not use
 * one does not warn).
 *
 * Every test gets its own fresh state directory, /tmp/imgfs-ut-XXXXXX, opened
 * with model_open(..., MODEL_OPEN_CREATE, ...), and removed afterwards
 * (ut_setup / ut_teardown).  Creating a state writes the catalogue — three
 * regions of 16 images with fsynced 1 MiB chunks and a synchronous SQLite —
 * which takes about two seconds; doing that per test would make a test file
 * take minutes.  So the group setup (ut_group_setup) creates one state the
 * real way, closes it, and every test starts from a copy of it: the database
 * and the secret are copied, chunk files (immutable, mode 0444) are
 * hard-linked unless the test asks for real copies (ut_setup_copy: tests
 * that damage chunk files).  Set UT_FRESH=1 to create every test's state
 * from scratch instead.
 *
 * Both database drivers.  With IMGFS_TEST_PG set (a libpq keyword string
 * naming a server: "host=... port=... user=..."; or IMGFS_TEST_PG_FILE,
 * a file holding one, which the ctest fixture of scripts/pg-up writes),
 * every state's metadata is a PostgreSQL database of its own: the group's
 * template is a database made by model_open_db, and each test's is
 * CREATE DATABASE ... TEMPLATE it (the state directory is copied as for
 * SQLite).  ut_pg() says which driver a run uses.
 *
 * The SQL helpers run statements on the model's own connection (through
 * its driver, so they work on both) for putting rows into states the API
 * cannot reach yet (a status, a recycle-bin entry, a share); prefer the API
 * wherever it can.  Their SQL is the dialect both databases take.
 *
 * The fs/ helpers (node_test.h: callers, walking a path from the root the way
 * the kernel looks names up, rendering a generated file) are compiled only
 * when fs/fuse/attr.h was included before this header.
 *
 * The parts, one concern a header (each under docs/style.md's 400 lines):
 *   tree_test.h     removing and copying trees;
 *   fixture_test.h  the fixture: a model on SQLite or PostgreSQL;
 *   sql_test.h      direct SQL and the API shortcuts;
 *   node_test.h     the fs/ nodes (with fs/fuse/attr.h only).
 * A test includes this header, which brings them all.
 */
#ifndef IMGFS_TEST_UTIL_H
#define IMGFS_TEST_UTIL_H

#include "sql_test.h"

#ifdef IMGFS_ATTR_H
#include "node_test.h"
#endif

#endif
