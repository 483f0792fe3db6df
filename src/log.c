/*
 * log.c - stderr or syslog; see log.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "rfs/log.h"

static const char *prog = "retentionfs";
static int use_syslog;
static int debug_on;

void
rfs_log_set_prog(const char *name)
{
	prog = name;
}

void
rfs_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = 1;
}

void
rfs_log_set_debug(int on)
{
	debug_on = on;
}

int
rfs_log_debug_enabled(void)
{
	return debug_on;
}

void
rfs_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(level, fmt, ap);
	} else {
		/* One line per message, even from several threads. */
		flockfile(stderr);
		fprintf(stderr, "%s: ", prog);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	va_end(ap);
}
