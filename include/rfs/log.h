/*
 * log.h - one logging path for the daemon and the tools.
 *
 * In the foreground (and in every tool) messages go to stderr; a daemonized
 * mount switches to syslog with rfs_log_use_syslog().  Callers never log
 * keys, plaintext names or contents: inode numbers identify files.
 */
#ifndef RFS_LOG_H
#define RFS_LOG_H

#include <syslog.h>

/* Sets the program name prefixed to stderr lines (default "retentionfs"). */
void rfs_log_set_prog(const char *prog);
void rfs_log_use_syslog(const char *ident);
void rfs_log_set_debug(int on);
int rfs_log_debug_enabled(void);
void rfs_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define rfs_err(...)   rfs_log(LOG_ERR, __VA_ARGS__)
#define rfs_warn(...)  rfs_log(LOG_WARNING, __VA_ARGS__)
#define rfs_info(...)  rfs_log(LOG_INFO, __VA_ARGS__)
#define rfs_debug(...) do { if (rfs_log_debug_enabled()) \
	rfs_log(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
