/*
 * log.c — the model's own log lines (what a finished copy moved, SPEC
 * §6.3).  The model knows no log file: fs/ hands it a function at mount
 * (model_set_log), the unit tests one that records lines.  Set once before
 * the workers start, read by them afterwards: no lock.
 */
#include <stdarg.h>
#include <stdio.h>

#include "model_int.h"

void model_set_log(model *m, void (*fn)(void *arg, const char *line), void *arg)
{
	m->log_fn = fn;
	m->log_arg = arg;
}

void model_log(model *m, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!m->log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m->log_fn(m->log_arg, line);
}
