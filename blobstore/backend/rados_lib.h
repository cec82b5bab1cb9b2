/*
 * backend/rados_lib.h — librados, loaded when the first rados: store opens.
 *
 * imgfs does not link librados: it opens it (dlopen) the first time a
 * region's store is in RADOS.  librados brings libceph-common, 136 MB of
 * data and bss and a thousand page faults of C++ start-up: linked, they
 * cost every process 33 ms of CPU (two thirds of `imgfs --version`), and
 * under LeakSanitizer 1.4 s at every exit (it scans that data for
 * pointers).  A CLI call (`imgfs wait`, `imgfs admin`), a mount of local
 * regions and a machine without librados2 installed pay nothing.
 *
 * The calls keep librados's names: after this header, `rados_connect(...)`
 * in backend/ calls through blob_rados_lib, the table that
 * blob_rados_lib_load fills.  Only backend/rados*.c include it.
 */
#ifndef IMGFS_RADOS_LIB_H
#define IMGFS_RADOS_LIB_H

#include <stddef.h>
#include <rados/librados.h>

/* librados's soname since Ceph 0.x: what Debian's librados2 ships. */
#define RADOS_LIB_SONAME "librados.so.2"

/* Every librados function imgfs calls. */
#define RADOS_LIB_FUNCS(X)                                                                             \
	X(rados_aio_create_completion2)                                                                \
	X(rados_aio_get_return_value)                                                                  \
	X(rados_aio_is_complete)                                                                       \
	X(rados_aio_read)                                                                              \
	X(rados_aio_read_op_operate)                                                                   \
	X(rados_aio_release)                                                                           \
	X(rados_aio_remove)                                                                            \
	X(rados_aio_wait_for_complete)                                                                 \
	X(rados_aio_wait_for_complete_and_cb)                                                          \
	X(rados_aio_write_op_operate)                                                                  \
	X(rados_buffer_free)                                                                           \
	X(rados_conf_get)                                                                              \
	X(rados_conf_read_file)                                                                        \
	X(rados_conf_set)                                                                              \
	X(rados_connect)                                                                               \
	X(rados_create)                                                                                \
	X(rados_create_read_op)                                                                        \
	X(rados_create_write_op)                                                                       \
	X(rados_get_last_version)                                                                      \
	X(rados_getaddrs)                                                                              \
	X(rados_getxattr)                                                                              \
	X(rados_getxattrs_end)                                                                         \
	X(rados_getxattrs_next)                                                                        \
	X(rados_ioctx_create)                                                                          \
	X(rados_ioctx_destroy)                                                                         \
	X(rados_ioctx_set_namespace)                                                                   \
	X(rados_mon_command)                                                                           \
	X(rados_nobjects_list_close)                                                                   \
	X(rados_nobjects_list_next)                                                                    \
	X(rados_nobjects_list_open)                                                                    \
	X(rados_omap_get_end)                                                                          \
	X(rados_omap_get_next2)                                                                        \
	X(rados_pool_list)                                                                             \
	X(rados_read)                                                                                  \
	X(rados_read_op_cmpxattr)                                                                      \
	X(rados_read_op_getxattrs)                                                                     \
	X(rados_read_op_omap_get_keys2)                                                                \
	X(rados_read_op_omap_get_vals2)                                                                \
	X(rados_read_op_operate)                                                                       \
	X(rados_read_op_read)                                                                          \
	X(rados_read_op_stat)                                                                          \
	X(rados_release_read_op)                                                                       \
	X(rados_release_write_op)                                                                      \
	X(rados_remove)                                                                                \
	X(rados_set_pool_full_try)                                                                     \
	X(rados_setxattr)                                                                              \
	X(rados_shutdown)                                                                              \
	X(rados_stat)                                                                                  \
	X(rados_wait_for_latest_osdmap)                                                                \
	X(rados_write)                                                                                 \
	X(rados_write_full)                                                                            \
	X(rados_write_op_assert_exists)                                                                \
	X(rados_write_op_assert_version)                                                               \
	X(rados_write_op_cmpxattr)                                                                     \
	X(rados_write_op_create)                                                                       \
	X(rados_write_op_omap_clear)                                                                   \
	X(rados_write_op_omap_rm_range2)                                                               \
	X(rados_write_op_omap_set)                                                                     \
	X(rados_write_op_operate)                                                                      \
	X(rados_write_op_remove)                                                                       \
	X(rados_write_op_rmxattr)                                                                      \
	X(rados_write_op_setxattr)                                                                     \
	X(rados_write_op_truncate)                                                                     \
	X(rados_write_op_write)                                                                        \
	X(rados_write_op_write_full)                                                                   \
	X(rados_write_op_zero)

struct blob_rados_lib {
#define RADOS_LIB_SLOT(f) __typeof__(f) *f;
	RADOS_LIB_FUNCS(RADOS_LIB_SLOT)
#undef RADOS_LIB_SLOT
};

extern struct blob_rados_lib blob_rados_lib;

/* Loads librados once per process (later calls answer at once): 0, or
 * -EPROTONOSUPPORT with the reason in why (the library is missing, or
 * lacks a function imgfs calls). */
int blob_rados_lib_load(char *why, size_t cap);

#ifndef RADOS_LIB_IMPL
/* The calls go through the table (a name inside its own macro is not
 * expanded again, C11 6.10.3.4).  A function missing from the list above
 * fails the link; a macro without its slot, the compile. */
#define rados_aio_create_completion2 (blob_rados_lib.rados_aio_create_completion2)
#define rados_aio_get_return_value (blob_rados_lib.rados_aio_get_return_value)
#define rados_aio_is_complete (blob_rados_lib.rados_aio_is_complete)
#define rados_aio_read (blob_rados_lib.rados_aio_read)
#define rados_aio_read_op_operate (blob_rados_lib.rados_aio_read_op_operate)
#define rados_aio_release (blob_rados_lib.rados_aio_release)
#define rados_aio_remove (blob_rados_lib.rados_aio_remove)
#define rados_aio_wait_for_complete (blob_rados_lib.rados_aio_wait_for_complete)
#define rados_aio_wait_for_complete_and_cb (blob_rados_lib.rados_aio_wait_for_complete_and_cb)
#define rados_aio_write_op_operate (blob_rados_lib.rados_aio_write_op_operate)
#define rados_buffer_free (blob_rados_lib.rados_buffer_free)
#define rados_conf_get (blob_rados_lib.rados_conf_get)
#define rados_conf_read_file (blob_rados_lib.rados_conf_read_file)
#define rados_conf_set (blob_rados_lib.rados_conf_set)
#define rados_connect (blob_rados_lib.rados_connect)
#define rados_create (blob_rados_lib.rados_create)
#define rados_create_read_op (blob_rados_lib.rados_create_read_op)
#define rados_create_write_op (blob_rados_lib.rados_create_write_op)
#define rados_get_last_version (blob_rados_lib.rados_get_last_version)
#define rados_getaddrs (blob_rados_lib.rados_getaddrs)
#define rados_getxattr (blob_rados_lib.rados_getxattr)
#define rados_getxattrs_end (blob_rados_lib.rados_getxattrs_end)
#define rados_getxattrs_next (blob_rados_lib.rados_getxattrs_next)
#define rados_ioctx_create (blob_rados_lib.rados_ioctx_create)
#define rados_ioctx_destroy (blob_rados_lib.rados_ioctx_destroy)
#define rados_ioctx_set_namespace (blob_rados_lib.rados_ioctx_set_namespace)
#define rados_mon_command (blob_rados_lib.rados_mon_command)
#define rados_nobjects_list_close (blob_rados_lib.rados_nobjects_list_close)
#define rados_nobjects_list_next (blob_rados_lib.rados_nobjects_list_next)
#define rados_nobjects_list_open (blob_rados_lib.rados_nobjects_list_open)
#define rados_omap_get_end (blob_rados_lib.rados_omap_get_end)
#define rados_omap_get_next2 (blob_rados_lib.rados_omap_get_next2)
#define rados_pool_list (blob_rados_lib.rados_pool_list)
#define rados_read (blob_rados_lib.rados_read)
#define rados_read_op_cmpxattr (blob_rados_lib.rados_read_op_cmpxattr)
#define rados_read_op_getxattrs (blob_rados_lib.rados_read_op_getxattrs)
#define rados_read_op_omap_get_keys2 (blob_rados_lib.rados_read_op_omap_get_keys2)
#define rados_read_op_omap_get_vals2 (blob_rados_lib.rados_read_op_omap_get_vals2)
#define rados_read_op_operate (blob_rados_lib.rados_read_op_operate)
#define rados_read_op_read (blob_rados_lib.rados_read_op_read)
#define rados_read_op_stat (blob_rados_lib.rados_read_op_stat)
#define rados_release_read_op (blob_rados_lib.rados_release_read_op)
#define rados_release_write_op (blob_rados_lib.rados_release_write_op)
#define rados_remove (blob_rados_lib.rados_remove)
#define rados_set_pool_full_try (blob_rados_lib.rados_set_pool_full_try)
#define rados_setxattr (blob_rados_lib.rados_setxattr)
#define rados_shutdown (blob_rados_lib.rados_shutdown)
#define rados_stat (blob_rados_lib.rados_stat)
#define rados_wait_for_latest_osdmap (blob_rados_lib.rados_wait_for_latest_osdmap)
#define rados_write (blob_rados_lib.rados_write)
#define rados_write_full (blob_rados_lib.rados_write_full)
#define rados_write_op_assert_exists (blob_rados_lib.rados_write_op_assert_exists)
#define rados_write_op_assert_version (blob_rados_lib.rados_write_op_assert_version)
#define rados_write_op_cmpxattr (blob_rados_lib.rados_write_op_cmpxattr)
#define rados_write_op_create (blob_rados_lib.rados_write_op_create)
#define rados_write_op_omap_clear (blob_rados_lib.rados_write_op_omap_clear)
#define rados_write_op_omap_rm_range2 (blob_rados_lib.rados_write_op_omap_rm_range2)
#define rados_write_op_omap_set (blob_rados_lib.rados_write_op_omap_set)
#define rados_write_op_operate (blob_rados_lib.rados_write_op_operate)
#define rados_write_op_remove (blob_rados_lib.rados_write_op_remove)
#define rados_write_op_rmxattr (blob_rados_lib.rados_write_op_rmxattr)
#define rados_write_op_setxattr (blob_rados_lib.rados_write_op_setxattr)
#define rados_write_op_truncate (blob_rados_lib.rados_write_op_truncate)
#define rados_write_op_write (blob_rados_lib.rados_write_op_write)
#define rados_write_op_write_full (blob_rados_lib.rados_write_op_write_full)
#define rados_write_op_zero (blob_rados_lib.rados_write_op_zero)
#endif

#endif
