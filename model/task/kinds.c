/*
 * kinds.c — the kinds of background task (SPEC §5.1, §6.2, §6.3) and what
 * a runner does now and then for them: the table the engine (task.c) runs
 * them through, and the housekeeping.
 *
 * Who calls it: model_open (state.c) hands the table to the engine
 * (m->task_kinds); fs/ (the mount's worker 0) calls the housekeeping.
 * The engine never names a kind: every kind calls the engine
 * (task_touch, task_tick, ...), so a table inside task.c would tie the
 * engine and every kind into one circle.  Adding a kind: task_int.h.
 */
#include <stddef.h>

#include "task_int.h"

/* Every kind of task: its name in tasks.kind, how it runs, whether it
 * may be claimed now (NULL: always), and its housekeeping (NULL: none). */
static const struct task_kind task_kinds[] = {
	{"capture", capture_run, NULL, NULL, false, false, false},
	{"convert", convert_run, NULL, NULL, false, false, false},
	{"copy", copy_run, copy_claimable, NULL, false, false, false},
	{"upload", upload_run, NULL, upload_housekeeping, false, false, false},
	{"import", import_run, import_claimable, NULL, false, false, true},
	{"destroy", destroy_run, NULL, NULL, true, true, false},
	{"checksum", checksum_run, checksum_claimable, NULL, true, false, false},
	{"inspect", inspect_run, inspect_claimable, NULL, true, false, false},
};

_Static_assert(sizeof(task_kinds) / sizeof(task_kinds[0]) <= MODEL_TASK_KINDS, "model.task_bytes holds every kind");

const struct task_kind *task_kinds_all(size_t *n)
{
	*n = sizeof(task_kinds) / sizeof(task_kinds[0]);
	return task_kinds;
}

int model_task_housekeeping(model *m, int64_t now)
{
	for (size_t i = 0; i < sizeof(task_kinds) / sizeof(task_kinds[0]); i++)
		if (task_kinds[i].housekeeping)
			task_kinds[i].housekeeping(m);
	model_writers_reap(m); /* an admin command of this host that died */
	return model_recycle_expire(m, now);
}
