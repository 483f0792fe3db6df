/*
 * retentionctl - the admin tool.
 *
 *   retentionctl init BACKING --keyfile KEY | --passfile FILE
 *   retentionctl policy check FILE
 *   retentionctl NOUN [VERB] MOUNTPOINT [ARGS]          (live mount)
 *   retentionctl NOUN [VERB] --store BACKING --keyfile KEY [ARGS] (offline)
 *
 * Live commands travel over the control channel (control.h) and run in the
 * daemon; offline commands open the store here.  Both run the same code,
 * rfs_admin_run (admin.c).  Exit codes: 0 ok, 1 error, 2 usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rfs/admin.h"
#include "rfs/control.h"
#include "rfs/fs.h"
#include "rfs/fsck.h"
#include "rfs/log.h"
#include "rfs/policy.h"
#include "rfs/store.h"
#include "rfs/version.h"

static const char usage_text[] =
"usage: retentionctl COMMAND ...\n"
"\n"
"  init BACKING --keyfile KEY        make a store (KEY made if missing)\n"
"  init BACKING --passfile FILE      ... protected by a passphrase\n"
"  policy check FILE                 validate a policy file\n"
"  status MOUNTPOINT [--json]        files, bytes, next expiry per class\n"
"  metrics MOUNTPOINT                Prometheus text format\n"
"  trash list MOUNTPOINT [--json]\n"
"  trash restore MOUNTPOINT ID [--to PATH] [--force]\n"
"  trash empty MOUNTPOINT [--older-than DUR] [--class C] [--yes]\n"
"  shred MOUNTPOINT [--confirm-clock] run a sweep now\n"
"  hold set|clear MOUNTPOINT PATH    legal hold\n"
"  event set MOUNTPOINT PATH [--at TIME] [--reason TEXT]\n"
"  event clear MOUNTPOINT PATH\n"
"  event list MOUNTPOINT [--json]\n"
"  audit MOUNTPOINT [--since TIME] [--verify] [--json]\n"
"  import --store BACKING --keyfile KEY [--policy FILE] [--keystore DIR]\n"
"         [--to DIR] [--remove-source] SRC_DIR\n"
"                                    move existing files into a store,\n"
"                                    created = their mtime\n"
"  fsck --store BACKING --keyfile KEY [--repair]   check an unmounted store\n"
"\n"
"Every command that takes MOUNTPOINT also works on an unmounted store:\n"
"replace MOUNTPOINT by --store BACKING --keyfile KEY (or --passfile F),\n"
"with --policy FILE and --keystore DIR as the mount would use them.\n"
"Admin commands on a live mount are for root (and RFS_ADMIN_GROUP) only.\n"
"TIME is RFC 3339 UTC (2026-01-31T00:00:00Z), @EPOCH or now; DUR is\n"
"N followed by s, m, h, d, w or y, e.g. 30d.\n"
"Exit status: 0 ok, 1 error, 2 usage.  'retentionctl COMMAND --help'.\n";

struct offline {
	const char *store, *keyfile, *passfile, *policy, *keystore;
};

static int
has(int argc, char **argv, const char *flag)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return 1;
	return 0;
}

static void
policy_diag(void *ctx, const char *file, int line, int warn, const char *msg)
{
	int *errors = ctx;

	printf("%s:%d: %s%s\n", file, line, warn ? "warning: " : "", msg);
	if (!warn)
		(*errors)++;
}

static int
cmd_policy(int argc, char **argv)
{
	struct rfs_policy *p;
	int errors = 0;

	if (argc != 2 || strcmp(argv[0], "check") != 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: retentionctl policy check FILE\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	p = rfs_policy_load(argv[1], policy_diag, &errors);
	if (p == NULL) {
		if (errors == 0)
			printf("%s: cannot read the policy\n", argv[1]);
		return 1;
	}
	printf("%s: ok, %d classes\n", argv[1], p->nclasses);
	rfs_policy_unref(p);
	return 0;
}

static const char init_usage[] =
    "usage: retentionctl init BACKING --keyfile KEY | --passfile FILE"
    " [--keystore DIR]\n";

static int
cmd_init(int argc, char **argv)
{
	struct rfs_store_opts o = { 0 };
	char err[512];
	const char *backing = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			fputs(init_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--keyfile") == 0 && i + 1 < argc)
			o.keyfile = argv[++i];
		else if (strcmp(argv[i], "--passfile") == 0 && i + 1 < argc)
			o.passfile = argv[++i];
		else if (strcmp(argv[i], "--keystore") == 0 && i + 1 < argc)
			o.keystore = argv[++i];
		else if (argv[i][0] != '-' && backing == NULL)
			backing = argv[i];
		else {
			fprintf(stderr, "retentionctl: init: unexpected %s\n%s",
			    argv[i], init_usage);
			return 2;
		}
	}
	if (backing == NULL || (o.keyfile == NULL) == (o.passfile == NULL)) {
		fputs(init_usage, stderr);
		return 2;
	}
	if (rfs_store_create(backing, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "retentionctl: %s\n", err);
		return 1;
	}
	printf("initialised retentionfs store %s\n", backing);
	return 0;
}

/* A progress bar on a terminal; nothing in scripts. */
static void
progress(void *ctx, uint64_t done, uint64_t total)
{
	static int last = -1;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (!isatty(2))
		return;
	if (total == 0) {          /* total not known: a running count */
		fprintf(stderr, "\r%llu files...", (unsigned long long)done);
		return;
	}
	if (pct == last)
		return;
	last = pct;
	fprintf(stderr, "\r[%-40.*s] %3d%% %llu/%llu", pct * 40 / 100,
	    "########################################", pct,
	    (unsigned long long)done, (unsigned long long)total);
	if (done == total)
		fputc('\n', stderr);
}

/* Runs WORDS against a live daemon over the control channel. */
static int
run_live(const char *mnt, int argc, char **words)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[108], *buf, *tail;
	size_t len = 0, cap = 65536;
	ssize_t n;
	int fd, code = 1, drew = 0;

	if (rfs_control_path(mnt, path, sizeof(path)) != 0) {
		fprintf(stderr, "retentionctl: %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	buf = malloc(cap);
	if (buf == NULL)
		return 1;
	n = rfs_control_build(argc, words, buf, cap);
	if (n < 0) {
		fprintf(stderr, "retentionctl: request too long\n");
		free(buf);
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "retentionctl: no retentionfs daemon serves %s"
		    " (%s); for an unmounted store use --store BACKING"
		    " --keyfile KEY\n", mnt, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(buf);
		return 1;
	}
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "retentionctl: lost the connection\n");
		close(fd);
		free(buf);
		return 1;
	}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		/* Progress lines come first, each whole in the stream. */
		while (len > 0 && buf[0] == '\001') {
			char *nl = memchr(buf, '\n', len);
			unsigned long long d = 0, t = 0;

			if (nl == NULL)
				break;
			*nl = '\0';
			if (sscanf(buf + 1, "%llu %llu", &d, &t) == 2)
				progress(NULL, d, t);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
			drew = 1;
		}
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);

			if (nb == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (drew && isatty(2))
		fputc('\n', stderr);
	buf[len] = '\0';
	tail = NULL;
	for (char *p = strstr(buf, "\nRFS-EXIT "); p != NULL;
	    p = strstr(p + 1, "\nRFS-EXIT "))
		tail = p;
	if (tail == NULL) {
		fprintf(stderr, "retentionctl: lost the connection to the"
		    " daemon\n");
		free(buf);
		return 1;
	}
	code = atoi(tail + 10);
	*tail = '\0';
	fputs(buf, code == 0 ? stdout : stderr);
	free(buf);
	return code;
}

static void
diag_stderr(void *ctx, const char *file, int line, int warn, const char *msg)
{
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

/*
 * Takes the offline-store option at ARGV[*I] (--store, --keyfile,
 * --passfile, --policy, --keystore), advancing *I past its value.
 * Returns 1 if it was one.
 */
static int
offline_opt(struct offline *off, int argc, char **argv, int *i)
{
	static const char *const names[] = { "--store", "--keyfile",
	    "--passfile", "--policy", "--keystore" };
	const char **slot[] = { &off->store, &off->keyfile, &off->passfile,
	    &off->policy, &off->keystore };

	if (*i + 1 >= argc)
		return 0;
	for (int k = 0; k < 5; k++) {
		if (strcmp(argv[*i], names[k]) == 0) {
			*slot[k] = argv[++*i];
			return 1;
		}
	}
	return 0;
}

/* Opens the unmounted store and policy OFF names, as a mount would. */
static int
offline_open(const struct offline *off, int readonly, struct rfs_store **st,
    struct rfs_fs **fs)
{
	struct rfs_store_opts o = { .keyfile = off->keyfile,
	    .passfile = off->passfile, .keystore = off->keystore,
	    .readonly = readonly };
	struct rfs_policy *pol;
	char err[512];

	*st = NULL;
	*fs = NULL;
	pol = off->policy ? rfs_policy_load(off->policy, diag_stderr, NULL) :
	    rfs_policy_default();
	if (pol == NULL) {
		fprintf(stderr, "retentionctl: policy %s is invalid\n",
		    off->policy);
		return -1;
	}
	if (rfs_store_open(off->store, &o, st, err, sizeof(err)) != 0) {
		fprintf(stderr, "retentionctl: %s\n", err);
		rfs_policy_unref(pol);
		return -1;
	}
	if (rfs_fs_new(*st, pol, fs) != 0) {
		rfs_policy_unref(pol);
		rfs_store_close(*st);
		*st = NULL;
		return -1;
	}
	return 0;
}

/* Makes everything durable and closes; -1 if the sync failed. */
static int
offline_close(struct rfs_store *st, struct rfs_fs *fs)
{
	int rc = rfs_fs_sync_all(fs);

	rfs_fs_free(fs);
	rfs_store_close(st);
	return rc == 0 ? 0 : -1;
}

static int
run_offline(const struct offline *off, int argc, char **words)
{
	struct rfs_store *st;
	struct rfs_fs *fs;
	int code;

	if (offline_open(off, 0, &st, &fs) != 0)
		return 1;
	code = rfs_admin_run(fs, getuid(), argc, words, stdout, progress, NULL);
	if (offline_close(st, fs) != 0)
		code = 1;
	return code;
}

static const char fsck_usage[] =
    "usage: retentionctl fsck --store BACKING --keyfile KEY | --passfile FILE"
    " [--keystore DIR] [--repair]\n";

static int
cmd_fsck(int argc, char **argv)
{
	struct offline off = { 0 };
	struct rfs_fsck_report r;
	struct rfs_store *st;
	struct rfs_fs *fs;
	int repair = 0, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			fputs(fsck_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--repair") == 0)
			repair = 1;
		else if (!offline_opt(&off, argc, argv, &i)) {
			fprintf(stderr, "retentionctl: fsck: unexpected %s\n%s",
			    argv[i], fsck_usage);
			return 2;
		}
	}
	if (off.store == NULL || (off.keyfile == NULL && off.passfile == NULL)) {
		fputs(fsck_usage, stderr);
		return 2;
	}
	if (offline_open(&off, !repair, &st, &fs) != 0)
		return 1;
	rc = rfs_fsck(fs, repair, stdout, progress, NULL, &r);
	printf("fsck: %llu files, %llu blocks checked, %llu findings, %llu"
	    " repaired\n", (unsigned long long)r.files,
	    (unsigned long long)r.blocks, (unsigned long long)r.findings,
	    (unsigned long long)r.repaired);
	if (offline_close(st, fs) != 0)
		rc = -EIO;
	if (rc != 0)
		return 1;
	return r.findings > r.repaired ? 1 : 0;
}

static int
confirm(const char *what)
{
	char line[16];

	fprintf(stderr, "%s? [y/N] ", what);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

/* Which commands take a verb before the mount point. */
static int
takes_verb(const char *noun)
{
	return strcmp(noun, "trash") == 0 || strcmp(noun, "hold") == 0 ||
	    strcmp(noun, "event") == 0;
}

static int
known(const char *noun)
{
	static const char *const nouns[] = { "trash", "hold", "event",
	    "status", "metrics", "shred", "audit", NULL };

	for (int i = 0; nouns[i] != NULL; i++)
		if (strcmp(noun, nouns[i]) == 0)
			return 1;
	return 0;
}

/*
 * A path the admin typed, made relative to the mount root: an absolute
 * path must lie inside the mount (NULL if not); a relative one already is
 * relative to it (and offline, without a mount, any path is).
 */
static const char *
relative(const char *mnt, const char *path, char *buf, size_t len)
{
	const char *res = NULL;
	char *rm, *rp;
	size_t n;

	if (mnt == NULL || path[0] != '/') {
		while (*path == '/')
			path++;
		return path;
	}
	rm = realpath(mnt, NULL);
	rp = realpath(path, NULL);
	if (rm == NULL || rp == NULL) {
		/* Not visible (yet): compare textually. */
		free(rp);
		rp = strdup(path);
		if (rm == NULL)
			rm = strdup(mnt);
	}
	n = rm != NULL ? strlen(rm) : 0;
	if (rm != NULL && rp != NULL && strncmp(rp, rm, n) == 0 &&
	    (rp[n] == '/' || rp[n] == '\0')) {
		snprintf(buf, len, "%s", rp[n] ? rp + n + 1 : "");
		res = buf;
	}
	free(rm);
	free(rp);
	return res;
}

static int
outside(const char *mnt)
{
	fprintf(stderr, "retentionctl: an absolute path must be inside the"
	    " mount %s (or give it relative to the mount)\n", mnt);
	return 2;
}

/* ---- import (import.h) ---------------------------------------------- */

#include "rfs/import.h"

static const char import_usage[] =
"usage: retentionctl import --store BACKING --keyfile KEY | --passfile FILE\n"
"           [--policy FILE] [--keystore DIR] [--to DIR] [--remove-source]\n"
"           SRC_DIR\n";

static const char import_help[] =
"\n"
"Copies the directories, regular files and symlinks under SRC_DIR into the\n"
"unmounted store BACKING (into DIR, relative to its root, with --to).  Each\n"
"file gets its class from the policy rules and its original mtime as its\n"
"creation time; a file already past its retention is reported and not\n"
"imported.  --remove-source deletes each original once its copy is on disk\n"
"(SRC_DIR itself and skipped files stay).  Exit status: 0 ok, 1 error,\n"
"2 usage.\n";

static int
cmd_import(int argc, char **argv)
{
	struct offline off = { 0 };
	struct rfs_import_opts io = { 0 };
	struct rfs_import_stats stats;
	struct rfs_store *st;
	struct rfs_fs *fs;
	int code;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(import_usage, stdout);
			fputs(import_help, stdout);
			return 0;
		} else if (offline_opt(&off, argc, argv, &i))
			continue;
		else if (i + 1 < argc && strcmp(a, "--to") == 0)
			io.to = argv[++i];
		else if (strcmp(a, "--remove-source") == 0)
			io.remove_source = 1;
		else if (a[0] != '-' && io.src == NULL)
			io.src = a;
		else {
			fprintf(stderr, "retentionctl: import: unexpected %s\n"
			    "%s", a, import_usage);
			return 2;
		}
	}
	if (io.src == NULL || off.store == NULL ||
	    (off.keyfile == NULL) == (off.passfile == NULL)) {
		fprintf(stderr, "retentionctl: import needs SRC_DIR, --store"
		    " BACKING and one of --keyfile, --passfile\n%s",
		    import_usage);
		return 2;
	}
	if (offline_open(&off, 0, &st, &fs) != 0)
		return 1;
	io.uid = (uint32_t)getuid();
	io.progress = isatty(STDERR_FILENO);
	io.out = stdout;
	io.err = stderr;
	code = rfs_import(fs, &io, &stats);
	if (offline_close(st, fs) != 0) {
		fprintf(stderr, "retentionctl: import: cannot sync the store\n");
		code = 1;
	}
	return code;
}

int
main(int argc, char **argv)
{
	struct offline off = { 0 };
	char *words[RFS_CONTROL_ARGS + 1], pathbuf[PATH_MAX], tobuf[PATH_MAX];
	int pathpos_at = -1, topos = -1;
	const char *mnt = NULL;
	int nw = 0, pathpos = -1;

	rfs_log_set_prog("retentionctl");
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("retentionctl %s\n", RFS_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 2, argv + 2);
	if (strcmp(argv[1], "policy") == 0)
		return cmd_policy(argc - 2, argv + 2);
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(argc - 2, argv + 2);
	if (strcmp(argv[1], "fsck") == 0)
		return cmd_fsck(argc - 2, argv + 2);
	if (!known(argv[1])) {
		fprintf(stderr, "retentionctl: unknown command %s (see"
		    " --help)\n", argv[1]);
		return 2;
	}
	if (has(argc, argv, "--help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	words[nw++] = argv[1];
	int i = 2;
	if (takes_verb(argv[1])) {
		if (argc < 3) {
			fprintf(stderr, "retentionctl: %s needs a verb (see"
			    " --help)\n", argv[1]);
			return 2;
		}
		words[nw++] = argv[2];
		i = 3;
		if (strcmp(argv[1], "hold") == 0 ||
		    (strcmp(argv[1], "event") == 0 &&
		    strcmp(argv[2], "list") != 0))
			pathpos = 0;     /* the first operand after MOUNTPOINT */
	}
	int operand = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];

		if (nw >= RFS_CONTROL_ARGS) {
			fprintf(stderr, "retentionctl: too many arguments\n");
			return 2;
		}
		if (offline_opt(&off, argc, argv, &i))
			continue;
		else if (strcmp(a, "--yes") == 0)
			continue;
		else if (a[0] == '-' && a[1] == '-') {
			words[nw++] = argv[i];
			if (i + 1 < argc && (strcmp(a, "--to") == 0 ||
			    strcmp(a, "--at") == 0 || strcmp(a, "--reason") == 0
			    || strcmp(a, "--older-than") == 0 ||
			    strcmp(a, "--class") == 0 ||
			    strcmp(a, "--since") == 0)) {
				if (nw >= RFS_CONTROL_ARGS) {
					fprintf(stderr, "retentionctl: too many"
					    " arguments\n");
					return 2;
				}
				if (strcmp(a, "--to") == 0)
					topos = nw;
				words[nw++] = argv[++i];
			}
		} else if (mnt == NULL && !has(argc, argv, "--store")) {
			mnt = a;
		} else if (operand++ == pathpos) {
			pathpos_at = nw;
			words[nw++] = argv[i];
		} else {
			words[nw++] = argv[i];
		}
	}
	words[nw] = NULL;
	/* Paths name places inside the mount, given from anywhere; the mount
	 * is known only after the loop (it may follow an option). */
	if (pathpos_at >= 0 && (words[pathpos_at] = (char *)relative(mnt,
	    words[pathpos_at], pathbuf, sizeof(pathbuf))) == NULL)
		return outside(mnt);
	if (topos >= 0 && (words[topos] = (char *)relative(mnt, words[topos],
	    tobuf, sizeof(tobuf))) == NULL)
		return outside(mnt);
	if (mnt == NULL && off.store == NULL) {
		fprintf(stderr, "retentionctl: %s needs a MOUNTPOINT or --store"
		    " BACKING (see --help)\n", argv[1]);
		return 2;
	}
	if (off.store != NULL && off.keyfile == NULL && off.passfile == NULL) {
		fprintf(stderr, "retentionctl: --store needs --keyfile or"
		    " --passfile\n");
		return 2;
	}
	if (strcmp(argv[1], "trash") == 0 && strcmp(argv[2], "empty") == 0 &&
	    !has(argc, argv, "--yes") && isatty(0) &&
	    !confirm("Destroy the selected trash files now; this cannot be"
	    " undone"))
		return 1;
	if (off.store != NULL)
		return run_offline(&off, nw, words);
	return run_live(mnt, nw, words);
}
