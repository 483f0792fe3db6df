/*
 * admin.c - admin commands and the sweep (admin.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rfs/clock.h"
#include "rfs/cpu.h"
#include "rfs/admin.h"
#include "rfs/audit.h"
#include "rfs/keystore.h"
#include "rfs/log.h"
#include "rfs/retention.h"

/* Rows read per hold of the lock when choosing what to destroy (512 held
 * it ~400 us, a foreground request's wait). */
#define BATCH 128
/* Files destroyed per catalog commit and device flush (progress is
 * reported between groups). */
#define SHRED_GROUP 64

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;


/* ---- the sweep -------------------------------------------------------- */

struct collect {
	struct rfs_fs *fs;
	const struct rfs_policy *pol;
	int64_t now;
	uint64_t *ino;
	size_t n;
	uint64_t last;
	int scanned;
	int trash;           /* only trashed files (trash empty) */
	rfs_progress_fn progress;
	void *pctx;
	uint64_t *done;      /* files destroyed so far, for progress */
	int64_t older_than;  /* trash empty --older-than: del_time <= this */
	const char *cls;     /* trash empty --class */
};

static int
collect_due(void *ctx, const struct rfs_attr *a)
{
	struct collect *c = ctx;
	uint64_t *n;

	c->last = a->ino;
	c->scanned++;
	if (!S_ISREG(a->mode) && a->state == RFS_LIVE)
		return 0;
	if (c->trash) {
		if (a->hold || a->del_time > c->older_than ||
		    (c->cls != NULL && strcmp(c->cls, a->class) != 0))
			return 0;
	} else if (!rfs_retention_due(c->pol, a,
	    rfs_fs_event_of_locked(c->fs, a), c->now)) {
		return 0;
	}
	if ((n = realloc(c->ino, (c->n + 1) * sizeof(*n))) == NULL)
		return -ENOMEM;
	c->ino = n;
	c->ino[c->n++] = a->ino;
	return 0;
}

/* Destroys every due file in STATE, BATCH rows under the lock at a time. */
static void
sweep_state(struct rfs_fs *fs, struct collect *proto, int state,
    const char *op, uint32_t uid, int passes, uint64_t *count,
    struct rfs_sweep_stats *st)
{
	struct collect c = *proto;
	struct rfs_store *s = rfs_fs_store(fs);
	int res[SHRED_GROUP], bg = rfs_cpu_bg_begin();

	c.last = 0;
	do {
		c.n = 0;
		c.scanned = 0;
		rfs_fs_lock_catalog(fs);
		if (rfs_cat_inode_each(s->cat, state, c.last, BATCH,
		    collect_due, &c) != 0)
			st->errors++;
		rfs_fs_unlock_catalog(fs);
		for (size_t i = 0; i < c.n; i += SHRED_GROUP) {
			size_t k = c.n - i < SHRED_GROUP ? c.n - i : SHRED_GROUP;

			rfs_fs_destroy_many(fs, c.ino + i, k, op, uid, passes,
			    state, !c.trash, res);
			size_t ok = 0;

			for (size_t j = 0; j < k; j++) {
				if (res[j] == 0)
					ok++;
				else if (res[j] == -EBUSY)
					st->skipped_open++;
				else if (res[j] != -ENOENT && res[j] != -EAGAIN) {
					st->errors++;
					st->last_error = res[j];
				}
			}
			*count += ok;
			if (c.progress != NULL && c.done != NULL && ok > 0) {
				*c.done += ok;
				c.progress(c.pctx, *c.done, 0);
			}
		}
	} while (c.scanned == BATCH);
	rfs_cpu_bg_end(bg);
	free(c.ino);
}

struct keyscan {
	struct rfs_fs *fs;
	const struct rfs_policy *pol;
	int64_t now;
	struct { char cls[RFS_CLASS_MAX + 1]; int64_t start; } *due;
	size_t n;
};

static int
key_due(void *ctx, const char *cls, int64_t start, int64_t last_created)
{
	struct keyscan *k = ctx;
	const struct rfs_class *c = rfs_retention_class(k->pol, cls);
	void *n;

	if (c == NULL || rfs_time_add(last_created, c->backup_retention) >
	    k->now)
		return 0;
	if ((n = realloc(k->due, (k->n + 1) * sizeof(*k->due))) == NULL)
		return -ENOMEM;
	k->due = n;
	snprintf(k->due[k->n].cls, sizeof(k->due[k->n].cls), "%s", cls);
	k->due[k->n].start = start;
	k->n++;
	return 0;
}

/* Destroys window keys past their backup deadline that no hold needs. */
static void
sweep_keys(struct rfs_fs *fs, const struct rfs_policy *pol, int64_t now,
    struct rfs_sweep_stats *st)
{
	struct rfs_store *s = rfs_fs_store(fs);
	struct keyscan k = { .fs = fs, .pol = pol, .now = now };

	rfs_fs_lock(fs);
	if (rfs_cat_keywin_each(s->cat, key_due, &k) != 0)
		st->errors++;
	for (size_t i = 0; i < k.n; i++) {
		if (rfs_cat_keywin_held(s->cat, k.due[i].cls, k.due[i].start))
			continue;
		if (rfs_keystore_destroy(s, k.due[i].cls, k.due[i].start) != 0) {
			st->errors++;
			continue;
		}
		if (rfs_cat_begin(s->cat) == 0) {
			int rc = rfs_cat_keywin_delete(s->cat, k.due[i].cls,
			    k.due[i].start);
			char detail[48];

			snprintf(detail, sizeof(detail), "window %" PRId64,
			    k.due[i].start);
			if (rc == 0)
				rc = rfs_audit(s, now, "key-destroy", 0,
				    k.due[i].cls, 0, detail);
			if (rc == 0)
				rc = rfs_cat_commit(s->cat);
			else
				rfs_cat_rollback(s->cat);
			if (rc != 0)
				st->errors++;
		}
		st->keys_destroyed++;
	}
	if (k.n > 0)
		rfs_fs_keywin_forget_locked(fs);
	rfs_fs_unlock(fs);
	free(k.due);
}

int
rfs_admin_sweep(struct rfs_fs *fs, int confirm_clock,
    struct rfs_sweep_stats *st, rfs_progress_fn progress, void *pctx)
{
	struct rfs_store *s = rfs_fs_store(fs);
	struct rfs_policy *pol = rfs_fs_policy(fs);
	uint64_t done = 0;
	struct collect c = { .fs = fs, .pol = pol, .progress = progress,
	    .pctx = pctx, .done = &done };
	int64_t wall = rfs_clock_wall(), boot = rfs_clock_boot();
	int64_t bootid = rfs_clock_boot_id(), suspect = 0, v, pw, pb, pid;

	memset(st, 0, sizeof(*st));
	if (s->readonly) {
		rfs_policy_unref(pol);
		return 0;
	}
	pthread_mutex_lock(&sweep_lock);
	st->started = rfs_fs_now(fs);
	c.now = st->started;
	/* The sweep's own bookkeeping is catalog rows only: getattr goes on. */
	rfs_fs_lock_catalog(fs);
	if (rfs_cat_meta_get(s->cat, "clock_suspect", &v) == 0)
		suspect = v;
	/*
	 * A wall clock that ran ahead of the boot clock since the last sweep
	 * by more than the bound is not trusted to destroy anything.  The
	 * last sweep's clocks are in the catalog, so the first sweep of a
	 * restarted daemon (or an offline `shred`) checks too; across a
	 * reboot the time off is unknown and nothing is judged.
	 */
	if (bootid != 0 && rfs_cat_meta_get(s->cat, "sweep_boot_id", &pid) == 0
	    && pid == bootid &&
	    rfs_cat_meta_get(s->cat, "sweep_wall", &pw) == 0 &&
	    rfs_cat_meta_get(s->cat, "sweep_boottime", &pb) == 0 &&
	    (wall - pw) - (boot - pb) > rfs_secs_to_ns(pol->clock_jump)) {
		rfs_err("clock jumped forward by %" PRId64 " s; files are"
		    " hidden but nothing is shredded until an admin runs"
		    " 'retentionctl shred --confirm-clock'",
		    ((wall - pw) - (boot - pb)) / RFS_NSEC);
		suspect = 1;
	}
	if (confirm_clock)
		suspect = 0;
	(void)rfs_cat_meta_set(s->cat, "clock_suspect", suspect);
	(void)rfs_cat_meta_set(s->cat, "sweep_wall", wall);
	(void)rfs_cat_meta_set(s->cat, "sweep_boottime", boot);
	(void)rfs_cat_meta_set(s->cat, "sweep_boot_id", bootid);
	rfs_fs_unlock_catalog(fs);
	st->clock_suspect = (int)suspect;
	if (!suspect) {
		sweep_state(fs, &c, RFS_LIVE, "expire", 0, pol->shred_passes,
		    &st->expired, st);
		sweep_state(fs, &c, RFS_SHRED, "expire", 0, pol->shred_passes,
		    &st->expired, st);
		sweep_state(fs, &c, RFS_TRASH, "purge", 0, pol->shred_passes,
		    &st->purged, st);
		sweep_keys(fs, pol, c.now, st);
	}
	rfs_fs_lock_catalog(fs);
	if (pol->audit_retention != RFS_FOREVER &&
	    rfs_secs_to_ns(pol->audit_retention) < c.now)
		(void)rfs_audit_prune(s, c.now -
		    rfs_secs_to_ns(pol->audit_retention));
	st->duration = rfs_fs_now(fs) - st->started;
	(void)rfs_cat_meta_set(s->cat, "clock_hwm", rfs_fs_now(fs));
	(void)rfs_cat_meta_set(s->cat, "last_sweep", st->started);
	(void)rfs_cat_meta_set(s->cat, "last_sweep_duration", st->duration);
	(void)rfs_cat_meta_set(s->cat, "last_sweep_shredded",
	    (int64_t)(st->expired + st->purged));
	if (rfs_cat_meta_get(s->cat, "shred_total", &v) != 0)
		v = 0;
	(void)rfs_cat_meta_set(s->cat, "shred_total",
	    v + (int64_t)(st->expired + st->purged));
	if (rfs_cat_meta_get(s->cat, "shred_errors", &v) != 0)
		v = 0;
	(void)rfs_cat_meta_set(s->cat, "shred_errors", v + (int64_t)st->errors);
	/* No old page holding a destroyed key may survive in the WAL. */
	if (st->expired + st->purged + st->keys_destroyed > 0)
		(void)rfs_cat_checkpoint(s->cat);
	rfs_fs_unlock_catalog(fs);
	pthread_mutex_unlock(&sweep_lock);
	if (st->expired + st->purged + st->keys_destroyed > 0)
		rfs_info("sweep: %" PRIu64 " expired, %" PRIu64 " purged, %"
		    PRIu64 " keys destroyed, %" PRIu64 " errors", st->expired,
		    st->purged, st->keys_destroyed, st->errors);
	rfs_policy_unref(pol);
	return st->errors ? -EIO : 0;
}

/* ---- command helpers -------------------------------------------------- */

static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static int
has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return 1;
	return 0;
}

static const char *
flag_value(int argc, char **argv, const char *flag)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return argv[i + 1];
	return NULL;
}

static void
fmt_time(int64_t ns, char *buf, size_t len)
{
	rfs_time_format(ns, buf, len);
}

/*
 * Listings go out a page at a time: up to PAGE_ROWS rows are read and
 * formatted into memory with the catalog held, then written to the client
 * (whose reply streams: control.c) with the catalog released.  So neither
 * the daemon's memory nor the time the catalog is held grows with the
 * listing: `audit` of 150,000 records used to hold the catalog for 0.17 s
 * and buffer 12 MB of text.
 */
#define PAGE_ROWS 256

struct page {
	char *buf;
	size_t len;
};

static FILE *
page_open(struct page *pg)
{
	pg->buf = NULL;
	pg->len = 0;
	return open_memstream(&pg->buf, &pg->len);
}

/* Closes the page F and writes it to OUT; 0, or -EIO. */
static int
page_emit(struct page *pg, FILE *f, FILE *out)
{
	int rc = fclose(f) == 0 && fwrite(pg->buf, 1, pg->len, out) ==
	    pg->len ? 0 : -EIO;

	free(pg->buf);
	return rc;
}

/* Calls SCAN(CTX, PAGE) with the catalog held, a page at a time, until a
 * page comes back short.  SCAN writes up to PAGE_ROWS rows after the last
 * it wrote and returns how many, or -errno.  0, or -errno. */
static int
paged(struct rfs_fs *fs, FILE *out, int (*scan)(void *, FILE *), void *ctx)
{
	struct page pg;
	FILE *f;
	int n;

	do {
		if ((f = page_open(&pg)) == NULL)
			return -ENOMEM;
		rfs_fs_lock_catalog(fs);
		n = scan(ctx, f);
		rfs_fs_unlock_catalog(fs);
		if (page_emit(&pg, f, out) != 0 && n >= 0)
			n = -EIO;
	} while (n == PAGE_ROWS);
	return n < 0 ? n : 0;
}

/* ---- trash ------------------------------------------------------------ */

struct tlist {
	struct rfs_fs *fs;
	const struct rfs_policy *pol;
	FILE *out;
	int json, n, rows;
	uint64_t bytes, last;
};

static int
trash_row(void *ctx, const struct rfs_attr *a)
{
	struct tlist *t = ctx;
	char path[PATH_MAX], del[32], purge[32];

	if (rfs_fs_trash_path(t->fs, a->ino, path, sizeof(path)) != 0)
		snprintf(path, sizeof(path), "?");
	fmt_time(a->del_time, del, sizeof(del));
	fmt_time(a->hold ? INT64_MAX : rfs_retention_deadline(t->pol, a,
	    rfs_fs_event_of_locked(t->fs, a)), purge, sizeof(purge));
	if (t->json) {
		fprintf(t->out, "%s{\"id\":%" PRIu64 ",\"path\":", t->n ? "," :
		    "", a->ino);
		json_str(t->out, path);
		fprintf(t->out, ",\"class\":");
		json_str(t->out, a->class);
		fprintf(t->out, ",\"size\":%" PRIu64 ",\"deleted_at\":\"%s\","
		    "\"deleted_by\":%u,\"purge_at\":\"%s\",\"hold\":%s}",
		    a->size, del, a->del_uid, purge, a->hold ? "true" :
		    "false");
	} else {
		fprintf(t->out, "%-8" PRIu64 " %-20s %-12s %10" PRIu64
		    " %-20s %-6u %s\n", a->ino, del, a->class, a->size, purge,
		    a->del_uid, path);
	}
	t->n++;
	t->rows++;
	t->last = a->ino;
	t->bytes += a->size;
	return 0;
}

static int
trash_page(void *ctx, FILE *page)
{
	struct tlist *t = ctx;
	int rc;

	t->out = page;
	t->rows = 0;
	rc = rfs_cat_inode_each(rfs_fs_store(t->fs)->cat, RFS_TRASH, t->last,
	    PAGE_ROWS, trash_row, t);
	return rc != 0 ? rc : t->rows;
}

static int
cmd_trash_list(struct rfs_fs *fs, int argc, char **argv, FILE *out)
{
	struct rfs_policy *pol = rfs_fs_policy(fs);
	struct tlist t = { .fs = fs, .pol = pol };
	int rc;

	t.json = has_flag(argc, argv, "--json");
	if (t.json)
		fprintf(out, "[");
	else
		fprintf(out, "%-8s %-20s %-12s %10s %-20s %-6s %s\n", "ID",
		    "DELETED", "CLASS", "SIZE", "PURGE AT", "BY", "PATH");
	rc = paged(fs, out, trash_page, &t);
	if (t.json)
		fprintf(out, "]\n");
	rfs_policy_unref(pol);
	return rc == 0 ? 0 : 1;
}

static int
cmd_trash_restore(struct rfs_fs *fs, uid_t uid, int argc, char **argv,
    FILE *out)
{
	char restored[PATH_MAX], *end;
	const char *to = flag_value(argc, argv, "--to");
	uint64_t id;
	int rc;

	if (argc < 1 || argv[0][0] == '-') {
		fprintf(out, "usage: retentionctl trash restore MOUNTPOINT ID"
		    " [--to PATH] [--force]\n");
		return 2;
	}
	id = strtoull(argv[0], &end, 10);
	if (*end != '\0' || id == 0) {
		fprintf(out, "retentionctl: bad trash id %s\n", argv[0]);
		return 2;
	}
	rc = rfs_fs_restore(fs, id, to, has_flag(argc, argv, "--force"),
	    (uint32_t)uid, restored, sizeof(restored));
	if (rc == -EEXIST) {
		fprintf(out, "retentionctl: a file already exists at the"
		    " restore path; use --to PATH or --force\n");
		return 1;
	}
	if (rc != 0) {
		fprintf(out, "retentionctl: cannot restore %" PRIu64 ": %s\n",
		    id, rc == -ENOENT ? "no such file in the trash" :
		    rc == -ETIME ? "past its purge deadline (it is shredded"
		    " at the next sweep)" :
		    rc == -EISDIR ? "a directory is at the restore path"
		    " (--force replaces files only)" :
		    rc == -EPERM ? "the file at the restore path may not be"
		    " deleted yet (its class's min_retention)" :
		    strerror(-rc));
		return 1;
	}
	fprintf(out, "restored %" PRIu64 " to %s\n", id, restored);
	return 0;
}

static int
cmd_trash_empty(struct rfs_fs *fs, uid_t uid, int argc, char **argv,
    FILE *out, rfs_progress_fn progress, void *pctx)
{
	struct rfs_policy *pol = rfs_fs_policy(fs);
	uint64_t done = 0;
	struct collect c = { .fs = fs, .pol = pol, .trash = 1,
	    .older_than = INT64_MAX, .progress = progress, .pctx = pctx,
	    .done = &done };
	struct rfs_sweep_stats st = { 0 };
	const char *older = flag_value(argc, argv, "--older-than");
	uint64_t count = 0;
	int64_t d;

	c.now = rfs_fs_now(fs);
	c.cls = flag_value(argc, argv, "--class");
	if (older != NULL) {
		if (rfs_duration_parse(older, &d) != 0 || d == RFS_FOREVER) {
			fprintf(out, "retentionctl: bad duration %s\n", older);
			rfs_policy_unref(pol);
			return 2;
		}
		c.older_than = rfs_secs_to_ns(d) > c.now ? INT64_MIN :
		    c.now - rfs_secs_to_ns(d);
	}
	pthread_mutex_lock(&sweep_lock);
	sweep_state(fs, &c, RFS_TRASH, "purge", (uint32_t)uid,
	    pol->shred_passes, &count, &st);
	rfs_fs_lock_catalog(fs);
	(void)rfs_cat_checkpoint(rfs_fs_store(fs)->cat);
	rfs_fs_unlock_catalog(fs);
	pthread_mutex_unlock(&sweep_lock);
	fprintf(out, "destroyed %" PRIu64 " file(s) from the trash", count);
	if (st.skipped_open)
		fprintf(out, "; %" PRIu64 " still open, destroyed when"
		    " closed", st.skipped_open);
	if (st.errors)
		fprintf(out, "; %" PRIu64 " failed (%s)", st.errors,
		    st.last_error ? strerror(-st.last_error) : "see the log");
	fprintf(out, "\n");
	rfs_policy_unref(pol);
	return st.errors ? 1 : 0;
}

/* ---- status and metrics ----------------------------------------------- */

struct cstat {
	char name[RFS_CLASS_MAX + 1];
	uint64_t files, bytes, expired;
	int64_t next;
};

struct status {
	struct rfs_fs *fs;
	const struct rfs_policy *pol;
	int64_t now;
	struct cstat *c;
	int nc;
	uint64_t trash_files, trash_bytes;
	int64_t trash_next;
	/* upcoming destructions per day (7 days) per class: chart */
	uint64_t day[7][64];
	uint64_t last;              /* paging: the last inode counted */
	int rows;
};

static struct cstat *
cstat_of(struct status *s, const char *name)
{
	for (int i = 0; i < s->nc; i++)
		if (strcmp(s->c[i].name, name) == 0)
			return &s->c[i];
	if (s->nc >= 64)
		return &s->c[63];
	snprintf(s->c[s->nc].name, sizeof(s->c[s->nc].name), "%s", name);
	s->c[s->nc].next = INT64_MAX;
	return &s->c[s->nc++];
}

static int
status_row(void *ctx, const struct rfs_attr *a)
{
	struct status *s = ctx;
	struct cstat *c;
	int64_t d;

	s->rows++;
	s->last = a->ino;
	if (!S_ISREG(a->mode))
		return 0;
	d = a->hold ? INT64_MAX : rfs_retention_deadline(s->pol, a,
	    rfs_fs_event_of_locked(s->fs, a));
	c = cstat_of(s, a->class);
	if (a->state == RFS_TRASH) {
		s->trash_files++;
		s->trash_bytes += a->size;
		if (d < s->trash_next)
			s->trash_next = d;
	} else {
		if (d <= s->now)
			c->expired++;
		else {
			c->files++;
			c->bytes += a->size;
		}
		if (d > s->now && d < c->next)
			c->next = d;
	}
	if (d != INT64_MAX && d > s->now && d - s->now < 7 * 86400 * RFS_NSEC)
		s->day[(d - s->now) / (86400 * RFS_NSEC)][c - s->c]++;
	return 0;
}

static int
gather(struct rfs_fs *fs, struct status *s)
{
	static const int states[] = { RFS_LIVE, RFS_TRASH };
	struct rfs_store *st = rfs_fs_store(fs);
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->fs = fs;
	s->pol = rfs_fs_policy(fs);
	s->now = rfs_fs_now(fs);
	s->trash_next = INT64_MAX;
	s->c = calloc(64, sizeof(*s->c));
	if (s->c == NULL)
		return -ENOMEM;
	for (int i = 0; i < s->pol->nclasses; i++)
		(void)cstat_of(s, s->pol->classes[i].name);
	/* In pages, as the listings: counting 200,000 files must not hold
	 * the catalog for the whole scan. */
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		s->last = 0;
		do {
			s->rows = 0;
			rfs_fs_lock_catalog(fs);
			rc = rfs_cat_inode_each(st->cat, states[i], s->last,
			    PAGE_ROWS, status_row, s);
			rfs_fs_unlock_catalog(fs);
		} while (rc == 0 && s->rows == PAGE_ROWS);
	}
	return rc;
}

static void
release_status(struct status *s)
{
	free(s->c);
	rfs_policy_unref((struct rfs_policy *)s->pol);
}

static int64_t
meta(struct rfs_fs *fs, const char *key)
{
	int64_t v = 0;

	rfs_fs_lock_catalog(fs);
	(void)rfs_cat_meta_get(rfs_fs_store(fs)->cat, key, &v);
	rfs_fs_unlock_catalog(fs);
	return v;
}

static int
cmd_status(struct rfs_fs *fs, int argc, char **argv, FILE *out)
{
	struct status s;
	char t1[32], t2[32];
	int json = has_flag(argc, argv, "--json");
	int64_t suspect = meta(fs, "clock_suspect");

	if (gather(fs, &s) != 0) {
		fprintf(out, "retentionctl: cannot read the catalog\n");
		release_status(&s);
		return 1;
	}
	fmt_time(meta(fs, "last_sweep"), t1, sizeof(t1));
	fmt_time(s.now, t2, sizeof(t2));
	if (json) {
		fprintf(out, "{\"now\":\"%s\",\"clock\":\"%s\",\"classes\":[",
		    t2, suspect ? "suspect" : "ok");
		for (int i = 0; i < s.nc; i++) {
			fmt_time(s.c[i].next, t2, sizeof(t2));
			fprintf(out, "%s{\"class\":", i ? "," : "");
			json_str(out, s.c[i].name);
			fprintf(out, ",\"files\":%" PRIu64 ",\"bytes\":%"
			    PRIu64 ",\"expired_pending\":%" PRIu64
			    ",\"next_expiry\":\"%s\"}", s.c[i].files,
			    s.c[i].bytes, s.c[i].expired, t2);
		}
		fprintf(out, "],\"trash\":{\"files\":%" PRIu64 ",\"bytes\":%"
		    PRIu64 "},\"last_sweep\":{\"time\":\"%s\",\"duration_ms\":"
		    "%" PRId64 ",\"shredded\":%" PRId64 ",\"errors_total\":%"
		    PRId64 "},\"shred_total\":%" PRId64 "}\n", s.trash_files,
		    s.trash_bytes, t1, meta(fs, "last_sweep_duration") /
		    1000000, meta(fs, "last_sweep_shredded"),
		    meta(fs, "shred_errors"), meta(fs, "shred_total"));
	} else {
		fprintf(out, "%-16s %8s %14s %9s  %s\n", "CLASS", "FILES",
		    "BYTES", "EXPIRED", "NEXT EXPIRY");
		for (int i = 0; i < s.nc; i++) {
			fmt_time(s.c[i].next, t2, sizeof(t2));
			fprintf(out, "%-16s %8" PRIu64 " %14" PRIu64 " %9"
			    PRIu64 "  %s\n", s.c[i].name, s.c[i].files,
			    s.c[i].bytes, s.c[i].expired, t2);
		}
		fprintf(out, "trash: %" PRIu64 " files, %" PRIu64 " bytes\n",
		    s.trash_files, s.trash_bytes);
		fprintf(out, "last sweep: %s, %" PRId64 " shredded, %" PRId64
		    " errors in total; %" PRId64 " shredded in total\n", t1,
		    meta(fs, "last_sweep_shredded"), meta(fs, "shred_errors"),
		    meta(fs, "shred_total"));
		fprintf(out, "clock: %s\n", suspect ? "SUSPECT (forward jump;"
		    " run 'retentionctl shred --confirm-clock' once it is"
		    " right)" : "ok");
		fprintf(out, "\nto be destroyed in the next 7 days:\n");
		for (int d = 0; d < 7; d++) {
			uint64_t tot = 0;

			for (int i = 0; i < s.nc; i++)
				tot += s.day[d][i];
			fprintf(out, "  day +%d %6" PRIu64 " ", d, tot);
			for (uint64_t k = 0; k < tot && k < 50; k++)
				fputc('#', out);
			for (int i = 0; i < s.nc; i++)
				if (s.day[d][i])
					fprintf(out, " %s:%" PRIu64,
					    s.c[i].name, s.day[d][i]);
			fputc('\n', out);
		}
	}
	release_status(&s);
	return 0;
}

static int
cmd_metrics(struct rfs_fs *fs, FILE *out)
{
	struct status s;

	if (gather(fs, &s) != 0) {
		release_status(&s);
		return 1;
	}
	fprintf(out, "# HELP retentionfs_files Live files per class.\n"
	    "# TYPE retentionfs_files gauge\n");
	for (int i = 0; i < s.nc; i++)
		fprintf(out, "retentionfs_files{class=\"%s\"} %" PRIu64 "\n",
		    s.c[i].name, s.c[i].files);
	fprintf(out, "# HELP retentionfs_bytes Live bytes per class.\n"
	    "# TYPE retentionfs_bytes gauge\n");
	for (int i = 0; i < s.nc; i++)
		fprintf(out, "retentionfs_bytes{class=\"%s\"} %" PRIu64 "\n",
		    s.c[i].name, s.c[i].bytes);
	fprintf(out, "# HELP retentionfs_expired_pending Expired files not"
	    " yet shredded.\n# TYPE retentionfs_expired_pending gauge\n");
	for (int i = 0; i < s.nc; i++)
		fprintf(out, "retentionfs_expired_pending{class=\"%s\"} %"
		    PRIu64 "\n", s.c[i].name, s.c[i].expired);
	fprintf(out, "# HELP retentionfs_trash_files Files in the trash.\n"
	    "# TYPE retentionfs_trash_files gauge\n"
	    "retentionfs_trash_files %" PRIu64 "\n"
	    "# HELP retentionfs_trash_bytes Bytes in the trash.\n"
	    "# TYPE retentionfs_trash_bytes gauge\n"
	    "retentionfs_trash_bytes %" PRIu64 "\n", s.trash_files,
	    s.trash_bytes);
	fprintf(out, "# HELP retentionfs_shredded_total Files destroyed.\n"
	    "# TYPE retentionfs_shredded_total counter\n"
	    "retentionfs_shredded_total %" PRId64 "\n"
	    "# HELP retentionfs_shred_errors_total Sweep errors.\n"
	    "# TYPE retentionfs_shred_errors_total counter\n"
	    "retentionfs_shred_errors_total %" PRId64 "\n"
	    "# HELP retentionfs_last_sweep_timestamp_seconds Last sweep.\n"
	    "# TYPE retentionfs_last_sweep_timestamp_seconds gauge\n"
	    "retentionfs_last_sweep_timestamp_seconds %" PRId64 "\n"
	    "# HELP retentionfs_last_sweep_duration_seconds Last sweep.\n"
	    "# TYPE retentionfs_last_sweep_duration_seconds gauge\n"
	    "retentionfs_last_sweep_duration_seconds %.6f\n"
	    "# HELP retentionfs_clock_suspect 1 after a forward clock jump.\n"
	    "# TYPE retentionfs_clock_suspect gauge\n"
	    "retentionfs_clock_suspect %" PRId64 "\n"
	    "# HELP retentionfs_tamper_events_total Files whose blocks failed"
	    " authentication.\n"
	    "# TYPE retentionfs_tamper_events_total counter\n"
	    "retentionfs_tamper_events_total %" PRId64 "\n",
	    meta(fs, "shred_total"), meta(fs, "shred_errors"),
	    meta(fs, "last_sweep") / RFS_NSEC,
	    (double)meta(fs, "last_sweep_duration") / 1e9,
	    meta(fs, "clock_suspect"), meta(fs, "tamper_total"));
	release_status(&s);
	return 0;
}

/* ---- shred, hold, audit ----------------------------------------------- */

static int
cmd_shred(struct rfs_fs *fs, int argc, char **argv, FILE *out,
    rfs_progress_fn progress, void *pctx)
{
	struct rfs_sweep_stats st;
	int rc = rfs_admin_sweep(fs, has_flag(argc, argv, "--confirm-clock"),
	    &st, progress, pctx);

	fprintf(out, "sweep: %" PRIu64 " expired, %" PRIu64 " purged from the"
	    " trash, %" PRIu64 " keys destroyed, %" PRIu64 " still open, %"
	    PRIu64 " errors", st.expired, st.purged, st.keys_destroyed,
	    st.skipped_open, st.errors);
	if (st.errors && st.last_error)
		fprintf(out, " (the last: %s)", strerror(-st.last_error));
	fprintf(out, "\n");
	if (st.clock_suspect)
		fprintf(out, "clock jumped forward: nothing was shredded; check"
		    " the clock, then run 'retentionctl shred MOUNTPOINT"
		    " --confirm-clock'\n");
	return rc == 0 && !st.clock_suspect ? 0 : 1;
}

static int
cmd_hold(struct rfs_fs *fs, uid_t uid, int argc, char **argv, FILE *out)
{
	uint64_t ino;
	int rc, set;

	if (argc < 2 || (strcmp(argv[0], "set") && strcmp(argv[0], "clear"))) {
		fprintf(out, "usage: retentionctl hold set|clear MOUNTPOINT"
		    " PATH\n");
		return 2;
	}
	set = strcmp(argv[0], "set") == 0;
	if ((rc = rfs_fs_resolve(fs, argv[1], &ino)) == 0) {
		rfs_fs_lock(fs);
		rc = rfs_fs_hold_locked(fs, ino, set, (uint32_t)uid,
		    rfs_fs_now(fs));
		rfs_fs_unlock(fs);
	}
	if (rc != 0) {
		fprintf(out, "retentionctl: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	fprintf(out, "hold %s on %s\n", set ? "set" : "cleared", argv[1]);
	return 0;
}

struct aud {
	struct rfs_store *s;
	FILE *out;
	int json, rows;
	int64_t since, last;
};

static int
audit_row(void *ctx, const struct rfs_audit_row *r)
{
	struct aud *a = ctx;
	char t[32], *detail = rfs_audit_detail(a->s, r->detail, r->detaillen);

	a->rows++;
	a->last = r->id;

	fmt_time(r->time, t, sizeof(t));
	if (a->json) {
		fprintf(a->out, "{\"id\":%" PRId64 ",\"time\":\"%s\","
		    "\"op\":\"%s\",\"file\":%" PRIu64 ",\"class\":", r->id, t,
		    r->op, r->ino);
		json_str(a->out, r->class);
		fprintf(a->out, ",\"uid\":%u", r->uid);
		if (detail != NULL) {
			fprintf(a->out, ",\"detail\":");
			json_str(a->out, detail);
		}
		fprintf(a->out, "}\n");
	} else {
		fprintf(a->out, "%-8" PRId64 " %s %-12s file=%-8" PRIu64
		    " class=%-12s uid=%u%s%s\n", r->id, t, r->op, r->ino,
		    r->class, r->uid, detail ? " " : "", detail ? detail : "");
	}
	free(detail);
	return 0;
}

static int
audit_page(void *ctx, FILE *page)
{
	struct aud *a = ctx;
	int rc;

	a->out = page;
	a->rows = 0;
	rc = rfs_cat_audit_each(a->s->cat, a->since, a->last, PAGE_ROWS,
	    audit_row, a);
	return rc != 0 ? rc : a->rows;
}

static int
cmd_audit(struct rfs_fs *fs, int argc, char **argv, FILE *out)
{
	struct rfs_store *s = rfs_fs_store(fs);
	struct aud a = { .s = s, .last = INT64_MIN };
	const char *since = flag_value(argc, argv, "--since");
	int64_t t = INT64_MIN, bad, count;
	int rc;

	a.json = has_flag(argc, argv, "--json");
	if (since != NULL && rfs_time_parse(since, &t) != 0) {
		fprintf(out, "retentionctl: bad time %s (RFC 3339 UTC, e.g."
		    " 2026-01-31T00:00:00Z)\n", since);
		return 2;
	}
	if (has_flag(argc, argv, "--verify")) {
		rfs_fs_lock_catalog(fs);
		rc = rfs_audit_verify(s, &bad, &count);
		rfs_fs_unlock_catalog(fs);
		if (rc == 0) {
			fprintf(out, "audit trail verified: %" PRId64
			    " records, chain intact\n", count);
			return 0;
		}
		fprintf(out, "audit trail FAILED verification at record %"
		    PRId64 " (%" PRId64 " records verified before it):"
		    " records were edited or removed\n", bad, count);
		return 1;
	}
	a.since = t;
	return paged(fs, out, audit_page, &a) == 0 ? 0 : 1;
}

/* ---- events ----------------------------------------------------------- */

struct elist {
	struct rfs_fs *fs;
	FILE *out;
	int json, n;
	const struct rfs_policy *pol;
};

static int
event_row(void *ctx, const struct rfs_event *e)
{
	struct elist *l = ctx;
	struct rfs_store *s = rfs_fs_store(l->fs);
	char path[PATH_MAX], at[32], *reason = NULL;
	unsigned char *plain;
	size_t pl;

	if (rfs_fs_path_of(l->fs, e->ino, path, sizeof(path)) != 0)
		snprintf(path, sizeof(path), "(removed)");
	if (e->reasonlen > 0 && rfs_open(s->k_name, "event", 5, e->reason,
	    e->reasonlen, &plain, &pl) == 0)
		reason = (char *)plain;
	fmt_time(e->at, at, sizeof(at));
	if (l->json) {
		fprintf(l->out, "%s{\"id\":%" PRId64 ",\"path\":", l->n ? "," :
		    "", e->id);
		json_str(l->out, path[0] ? path : "/");
		fprintf(l->out, ",\"at\":\"%s\",\"reason\":", at);
		json_str(l->out, reason ? reason : "");
		fprintf(l->out, ",\"deadlines\":{");
		for (int i = 0, k = 0; i < l->pol->nclasses; i++) {
			const struct rfs_class *c = &l->pol->classes[i];
			char d[32];

			if (c->after_event == RFS_FOREVER)
				continue;
			fmt_time(rfs_time_add(e->at, c->after_event), d,
			    sizeof(d));
			fprintf(l->out, "%s", k++ ? "," : "");
			json_str(l->out, c->name);
			fprintf(l->out, ":\"%s\"", d);
		}
		fprintf(l->out, "}}");
	} else {
		fprintf(l->out, "%-6" PRId64 " %s /%s", e->id, at, path);
		for (int i = 0; i < l->pol->nclasses; i++) {
			const struct rfs_class *c = &l->pol->classes[i];
			char d[32];

			if (c->after_event == RFS_FOREVER)
				continue;
			fmt_time(rfs_time_add(e->at, c->after_event), d,
			    sizeof(d));
			fprintf(l->out, " %s:%s", c->name, d);
		}
		fprintf(l->out, "%s%s\n", reason ? " reason: " : "",
		    reason ? reason : "");
	}
	free(reason);
	l->n++;
	return 0;
}

struct efind {
	uint64_t ino;
	int64_t ids[64];
	int n;
};

static int
event_find(void *ctx, const struct rfs_event *e)
{
	struct efind *f = ctx;

	if (e->ino == f->ino && f->n < 64)
		f->ids[f->n++] = e->id;
	return 0;
}

/* Removes every event on INO; -ENOENT when there was none. */
static int
event_remove(struct rfs_store *s, uint64_t ino)
{
	struct efind f = { .ino = ino };
	int rc = rfs_cat_event_each(s->cat, event_find, &f);

	if (rc == 0 && f.n == 0)
		rc = -ENOENT;
	for (int i = 0; rc == 0 && i < f.n; i++)
		rc = rfs_cat_event_delete(s->cat, f.ids[i]);
	return rc;
}

static int
cmd_event(struct rfs_fs *fs, uid_t uid, int argc, char **argv, FILE *out)
{
	struct rfs_store *s = rfs_fs_store(fs);
	int64_t now = rfs_fs_now(fs);
	uint64_t ino;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		struct rfs_policy *pol = rfs_fs_policy(fs);
		struct elist l = { .fs = fs, .out = out, .pol = pol };

		l.json = has_flag(argc, argv, "--json");
		if (l.json)
			fprintf(out, "[");
		rfs_fs_lock_catalog(fs);
		rc = rfs_cat_event_each(s->cat, event_row, &l);
		rfs_fs_unlock_catalog(fs);
		if (l.json)
			fprintf(out, "]\n");
		rfs_policy_unref(pol);
		return rc == 0 ? 0 : 1;
	}
	if (argc < 2 || (strcmp(argv[0], "set") && strcmp(argv[0], "clear"))) {
		fprintf(out, "usage: retentionctl event set|clear|list"
		    " MOUNTPOINT [PATH] [--at TIME] [--reason TEXT]\n");
		return 2;
	}
	if ((rc = rfs_fs_resolve(fs, argv[1], &ino)) != 0) {
		fprintf(out, "retentionctl: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	rfs_fs_lock(fs);
	rc = rfs_cat_begin(s->cat);
	if (rc == 0 && strcmp(argv[0], "set") == 0) {
		struct rfs_event e = { .ino = ino, .at = now, .set_time = now,
		    .set_uid = (uint32_t)uid };
		const char *at = flag_value(argc, argv, "--at");
		const char *reason = flag_value(argc, argv, "--reason");

		if (at != NULL && rfs_time_parse(at, &e.at) != 0) {
			rfs_cat_rollback(s->cat);
			rfs_fs_unlock(fs);
			fprintf(out, "retentionctl: bad time %s\n", at);
			return 2;
		}
		/* One event per path: setting it again moves it. */
		rc = event_remove(s, ino);
		if (rc == -ENOENT)
			rc = 0;
		if (rc == 0 && reason != NULL)
			rc = rfs_seal(s->k_name, "event", 5, reason,
			    strlen(reason), &e.reason, &e.reasonlen);
		if (rc == 0)
			rc = rfs_cat_event_insert(s->cat, &e);
		free(e.reason);
		if (rc == 0)
			rc = rfs_audit(s, now, "event-set", ino, "",
			    (uint32_t)uid, NULL);
	} else if (rc == 0) {
		rc = event_remove(s, ino);
		if (rc == 0)
			rc = rfs_audit(s, now, "event-clear", ino, "",
			    (uint32_t)uid, NULL);
	}
	if (rc == 0)
		rc = rfs_cat_commit(s->cat);
	else
		rfs_cat_rollback(s->cat);
	(void)rfs_fs_events_reload_locked(fs);
	rfs_fs_unlock(fs);
	if (rc != 0) {
		fprintf(out, "retentionctl: event %s %s: %s\n", argv[0],
		    argv[1], rc == -ENOENT ? "no event there" :
		    strerror(-rc));
		return 1;
	}
	fprintf(out, "event %s on /%s\n", strcmp(argv[0], "set") == 0 ?
	    "set" : "cleared", argv[1]);
	return 0;
}

int
rfs_admin_run(struct rfs_fs *fs, uid_t uid, int argc, char **argv, FILE *out,
    rfs_progress_fn progress, void *pctx)
{
	const char *noun = argc > 0 ? argv[0] : "";
	const char *verb = argc > 1 ? argv[1] : "";

	if (strcmp(noun, "trash") == 0) {
		if (strcmp(verb, "list") == 0)
			return cmd_trash_list(fs, argc - 2, argv + 2, out);
		if (strcmp(verb, "restore") == 0)
			return cmd_trash_restore(fs, uid, argc - 2, argv + 2,
			    out);
		if (strcmp(verb, "empty") == 0)
			return cmd_trash_empty(fs, uid, argc - 2, argv + 2,
			    out, progress, pctx);
	} else if (strcmp(noun, "status") == 0) {
		return cmd_status(fs, argc - 1, argv + 1, out);
	} else if (strcmp(noun, "metrics") == 0) {
		return cmd_metrics(fs, out);
	} else if (strcmp(noun, "shred") == 0) {
		return cmd_shred(fs, argc - 1, argv + 1, out, progress, pctx);
	} else if (strcmp(noun, "hold") == 0) {
		return cmd_hold(fs, uid, argc - 1, argv + 1, out);
	} else if (strcmp(noun, "audit") == 0) {
		return cmd_audit(fs, argc - 1, argv + 1, out);
	} else if (strcmp(noun, "event") == 0) {
		return cmd_event(fs, uid, argc - 1, argv + 1, out);
	}
	fprintf(out, "retentionctl: unknown command '%s%s%s'\n", noun,
	    *verb ? " " : "", verb);
	return 2;
}
