/*
 * main.c - the mount daemon: options, key, policy, mount, threads.
 *
 *   retentionfs BACKING MOUNTPOINT -o keyfile=KEY[,policy=FILE,...] [-f]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rfs/control.h"
#include "rfs/cpu.h"
#include "rfs/fuse_ops.h"
#include "rfs/log.h"
#include "rfs/policy.h"
#include "rfs/store.h"
#include "rfs/sweeper.h"
#include "rfs/version.h"

struct opts {
	char *backing, *mountpoint;
	char *keyfile, *passfile, *policy, *keystore;
	int recover, foreground, single, debug, help, version, ro, noatime;
	int commit_ms;
};

/* Catalog group commit: changes nobody fsynced are committed within this
 * time (see rfs_fs_group_commit). */
#define COMMIT_MS_DEFAULT 100

enum { KEY_HELP, KEY_VERSION, KEY_FG, KEY_SINGLE, KEY_DEBUG, KEY_RDEBUG,
    KEY_RO, KEY_NOATIME };

static const struct fuse_opt spec[] = {
	{ "keyfile=%s", offsetof(struct opts, keyfile), 0 },
	{ "passfile=%s", offsetof(struct opts, passfile), 0 },
	{ "policy=%s", offsetof(struct opts, policy), 0 },
	{ "keystore=%s", offsetof(struct opts, keystore), 0 },
	{ "recover", offsetof(struct opts, recover), 1 },
	{ "commit_ms=%d", offsetof(struct opts, commit_ms), 0 },
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_RDEBUG),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("noatime", KEY_NOATIME),
	FUSE_OPT_END
};

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct opts *o = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (o->backing == NULL)
			o->backing = strdup(arg);
		else if (o->mountpoint == NULL)
			o->mountpoint = strdup(arg);
		else {
			fprintf(stderr, "retentionfs: unexpected argument %s\n",
			    arg);
			return -1;
		}
		return 0;
	case KEY_HELP: o->help = 1; return 0;
	case KEY_VERSION: o->version = 1; return 0;
	case KEY_FG: o->foreground = 1; return 0;
	case KEY_SINGLE: o->single = 1; return 0;
	case KEY_DEBUG:
		o->foreground = 1;
		o->debug = 1;
		return 1;            /* libfuse traces requests with -d */
	case KEY_RDEBUG:
		o->debug = 1;
		return 1;
	case KEY_RO:
		o->ro = 1;
		return 1;            /* and the kernel mounts read-only */
	case KEY_NOATIME:
		o->noatime = 1;
		return 1;            /* and mount(8) shows it */
	case FUSE_OPT_KEY_OPT:
		/* fstab and systemd options meant for mount(8), not FUSE. */
		if (strncmp(arg, "x-", 2) == 0 || strcmp(arg, "nofail") == 0 ||
		    strcmp(arg, "_netdev") == 0 || strcmp(arg, "auto") == 0 ||
		    strcmp(arg, "noauto") == 0 || strcmp(arg, "user") == 0 ||
		    strcmp(arg, "users") == 0 || strcmp(arg, "nouser") == 0 ||
		    strcmp(arg, "defaults") == 0 ||
		    strncmp(arg, "comment=", 8) == 0)
			return 0;
		return 1;
	default:
		return 1;
	}
}

static void
usage(void)
{
	printf(
"usage: retentionfs BACKING MOUNTPOINT -o keyfile=KEY[,OPTIONS] [-f] [-s]\n"
"\n"
"Mounts the retentionfs store BACKING (made by 'retentionctl init') at\n"
"MOUNTPOINT: contents and names encrypted at rest, files tagged with a data\n"
"class, hidden at their deadline and shredded by a background sweeper.\n"
"\n"
"options:\n"
"  -o keyfile=FILE     32-byte master key (mode 0600)\n"
"  -o passfile=FILE    passphrase instead of a key file (Argon2id)\n"
"  -o policy=FILE      retention policy (retentionfs.conf(5)); default:\n"
"                      class default 90d, trash 30d, sweep every hour\n"
"  -o keystore=DIR     key store outside the backing directory\n"
"  -o ro,recover       read-only view of a backup copy (root only)\n"
"  -o commit_ms=N      commit catalog changes in groups, within N ms\n"
"                      (default 100; 0: every change at once)\n"
"  -o noatime          reading never sets access times (default: relatime)\n"
"  -o debug, -d        trace requests (-d also stays in the foreground)\n"
"  -f                  stay in the foreground (log to stderr)\n"
"  -s                  single-threaded request loop\n"
"  -o allow_other,...  standard FUSE mount options pass through\n"
"  -h, --help          this text;  -V, --version  the version\n"
"\n"
"Without keyfile= or passfile=, $CREDENTIALS_DIRECTORY/retentionfs.key is\n"
"used when set (systemd LoadCredential=).  Unmount with fusermount3 -u.\n");
}

static void
policy_diag(void *ctx, const char *file, int line, int warn, const char *msg)
{
	rfs_log(warn ? LOG_WARNING : LOG_ERR, "%s:%d: %s%s", file, line,
	    warn ? "warning: " : "", msg);
}

/* Refuses a mountpoint that is missing, not a directory, or not empty. */
static int
check_mountpoint(const char *path)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;

	if (stat(path, &sb) != 0) {
		rfs_err("mountpoint %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		rfs_err("mountpoint %s is not a directory", path);
		return -1;
	}
	if ((d = opendir(path)) == NULL) {
		rfs_err("mountpoint %s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			rfs_err("mountpoint %s is not empty", path);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/*
 * The daemon holds an object descriptor for every file open on the mount,
 * plus the catalog's and the key store's.  Services start with a soft
 * limit of 1024 (systemd's default) and a much higher hard one; with the
 * soft limit the 1,000th file opened on the mount failed with EMFILE, an
 * error the application blames on itself.  So the soft limit goes up to
 * the hard one, as gocryptfs and sshfs do.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		rfs_warn("cannot raise the open-file limit: %s",
		    strerror(errno));
}

static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	/* Keys live in this process: never write its memory to disk. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0);
}

/*
 * Two malloc arenas, not glibc's eight per core.  Inodes are allocated by
 * whichever worker looked them up and freed by the committer's trim, so
 * with an arena per thread every arena kept a scattered mix of live and
 * free chunks: untarring six copies of an 8,000-file tree and copying two
 * of them took the peak RSS to 31.7 MiB (16 MiB of it live heap), against
 * 23.7 MiB with two arenas and 20.7 MiB with one, at the same speed.
 */
#define MALLOC_ARENAS 2

static struct fuse_session *signal_session;

static void
on_sighup(int sig)
{
	rfs_sweeper_request_reload();
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct rfs_store_opts so = { 0 };
	struct opts o = { .commit_ms = COMMIT_MS_DEFAULT };
	struct rfs_policy *pol = NULL;
	struct rfs_store *st = NULL;
	struct rfs_fuse rf = { 0 };
	struct rfs_sweeper *sw = NULL;
	struct rfs_control *ctl = NULL;
	struct fuse_loop_config *cfg = NULL;
	char err[512], cred[4096];
	int rc = 1, mounted = 0;

	rfs_log_set_prog("retentionfs");
	(void)mallopt(M_ARENA_MAX, MALLOC_ARENAS);
	if (fuse_opt_parse(&args, &o, spec, opt_proc) != 0)
		return 2;
	if (o.help) {
		usage();
		rc = 0;
		goto out;
	}
	if (o.version) {
		printf("retentionfs %s (libfuse %s)\n", RFS_VERSION,
		    fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (o.backing == NULL || o.mountpoint == NULL) {
		fprintf(stderr, "usage: retentionfs BACKING MOUNTPOINT -o"
		    " keyfile=KEY [-f]  (see --help)\n");
		rc = 2;
		goto out;
	}
	rfs_log_set_debug(o.debug);
	if (o.keyfile == NULL && o.passfile == NULL &&
	    getenv("CREDENTIALS_DIRECTORY") != NULL) {
		snprintf(cred, sizeof(cred), "%s/retentionfs.key",
		    getenv("CREDENTIALS_DIRECTORY"));
		o.keyfile = strdup(cred);
	}
	if (o.keyfile == NULL && o.passfile == NULL) {
		rfs_err("no key: give -o keyfile=FILE or -o passfile=FILE");
		goto out;
	}
	if (o.commit_ms < 0) {
		rfs_err("commit_ms=%d: give milliseconds, 0 or more",
		    o.commit_ms);
		goto out;
	}
	if (o.recover && getuid() != 0) {
		rfs_err("-o recover is for root only");
		goto out;
	}
	if (check_mountpoint(o.mountpoint) != 0)
		goto out;
	/* Absolute paths: the daemon changes to / when it detaches. */
	{
		char *m = realpath(o.mountpoint, NULL), *p = NULL;

		if (o.policy != NULL && (p = realpath(o.policy, NULL)) == NULL) {
			rfs_err("policy %s: %s", o.policy, strerror(errno));
			free(m);
			goto out;
		}
		free(o.mountpoint);
		o.mountpoint = m;
		if (p != NULL) {
			free(o.policy);
			o.policy = p;
		}
	}
	if (o.policy != NULL) {
		pol = rfs_policy_load(o.policy, policy_diag, NULL);
		if (pol == NULL) {
			rfs_err("policy %s is invalid; not mounting", o.policy);
			goto out;
		}
	} else {
		pol = rfs_policy_default();
	}
	so.keyfile = o.keyfile;
	so.passfile = o.passfile;
	so.keystore = o.keystore;
	so.readonly = o.recover;
	so.readonly = rf.readonly = o.ro;
	if (o.recover && !so.readonly) {
		rfs_err("-o recover needs -o ro");
		goto out;
	}
	if (rfs_store_open(o.backing, &so, &st, err, sizeof(err)) != 0) {
		rfs_err("%s", err);
		goto out;
	}
	no_core_dumps();
	raise_fd_limit();
	if (rfs_fs_new(st, pol, &rf.fs) != 0) {
		rfs_err("out of memory");
		goto out;
	}
	pol = NULL;                      /* owned by fs now */
	rfs_fs_set_recover(rf.fs, o.recover);
	rfs_fs_set_noatime(rf.fs, o.noatime);
	if (!rf.readonly && rfs_fs_recover_keys(rf.fs) < 0)
		rfs_warn("cannot check the key store for what a crash left;"
		    " retentionctl fsck reports it");
	fuse_opt_add_arg(&args, "-odefault_permissions");
	snprintf(cred, sizeof(cred), "-ofsname=%s,subtype=retentionfs",
	    st->backing);
	fuse_opt_add_arg(&args, cred);
	rf.se = fuse_session_new(&args, rfs_fuse_ops(), sizeof(struct
	    fuse_lowlevel_ops), &rf);
	if (rf.se == NULL)
		goto out;
	if (fuse_set_signal_handlers(rf.se) != 0)
		goto out;
	signal_session = rf.se;
	signal(SIGHUP, on_sighup);
	if (fuse_session_mount(rf.se, o.mountpoint) != 0)
		goto out;
	mounted = 1;
	if (rfs_fuse_custom_io(&rf) != 0)
		rfs_warn("cannot negotiate HANDLE_KILLPRIV_V2; writes slower");
	if (!o.foreground) {
		rfs_log_use_syslog("retentionfs");
		if (fuse_daemonize(0) != 0)
			goto out;
	}
	/* Threads start after fuse_daemonize: a fork keeps none of them. */
	rfs_cpu_init();
	if (rfs_fs_group_commit(rf.fs, (int64_t)o.commit_ms * 1000000) != 0) {
		rfs_err("cannot start the catalog committer");
		goto out;
	}
	if (rfs_sweeper_start(rf.fs, o.policy, &sw) != 0)
		rfs_warn("sweeper not started");
	else
		rfs_fs_set_due_hook(rf.fs, rfs_sweeper_poke);
	if (rfs_control_start(rf.fs, o.mountpoint, &ctl) != 0)
		rfs_warn("control channel not started; retentionctl works"
		    " offline only");
	rfs_info("mounted %s on %s", st->backing, o.mountpoint);
	if (o.single) {
		rc = fuse_session_loop(rf.se);
	} else {
		/*
		 * FUSE_USE_VERSION 312 (fuse_ops.h) selects the loop that
		 * takes this config; an older API version silently reads it
		 * as the old struct and starts a thread per request.  Each
		 * worker holds a max_write buffer (1 MiB): a few workers keep
		 * 2 cores busy within the memory target.
		 */
		cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_max_threads(cfg, 6);
		fuse_loop_cfg_set_idle_threads(cfg, 6);
		rc = fuse_session_loop_mt(rf.se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* Ended by SIGTERM, SIGINT or SIGHUP-less exit: a clean unmount. */
	rc = (rc == 0 || rc == SIGTERM || rc == SIGINT) ? 0 : 1;
	rfs_control_stop(ctl);
	rfs_sweeper_stop(sw);
	if (rfs_fs_sync_all(rf.fs) != 0)
		rc = 1;
	rfs_info("unmounted %s", o.mountpoint);
out:
	if (mounted)
		fuse_session_unmount(rf.se);
	if (rf.se != NULL) {
		fuse_remove_signal_handlers(rf.se);
		fuse_session_destroy(rf.se);
	}
	rfs_fs_free(rf.fs);
	rfs_policy_unref(pol);
	rfs_store_close(st);
	fuse_opt_free_args(&args);
	free(o.backing);
	free(o.mountpoint);
	free(o.keyfile);
	free(o.passfile);
	free(o.policy);
	free(o.keystore);
	return rc;
}
