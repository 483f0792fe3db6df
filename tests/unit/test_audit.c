/*
 * test_audit.c - the chained audit trail: it verifies as written, and
 * editing, removing, reordering or forging records is detected, while a
 * prune by time keeps what is left verifiable.  Tampering goes through a
 * raw SQLite connection, as an attacker with the backing directory would.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rfs/audit.h"
#include "rfs/catalog.h"
#include "rfs/store.h"

#include "harness.h"

static char tmpdir[64];
static char backing[96], keyfile[96], dbpath[128];
static char err[512];

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	return remove(path);
}

static void
cleanup(void)
{
	if (tmpdir[0] != '\0')
		(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs SQL on the catalog through a separate connection. */
static int
raw_sql(const char *s)
{
	sqlite3 *db = NULL;
	int rc;

	if (sqlite3_open(dbpath, &db) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	rc = sqlite3_exec(db, s, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "raw_sql: %s: %s\n", s, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The store currently open, so a failed test cannot leave it locked. */
static struct rfs_store *live;

static void
close_store(struct rfs_store *s)
{
	rfs_store_close(s);
	if (s == live)
		live = NULL;
}

static struct rfs_store *
open_live(int readonly)
{
	struct rfs_store_opts o = { .keyfile = keyfile, .readonly = readonly };
	struct rfs_store *s = NULL;

	close_store(live);
	if (rfs_store_open(backing, &o, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return NULL;
	}
	return live = s;
}

/* One store for the suite; each test starts from an empty trail. */
static int64_t empty_head;
static char reset[512];

static struct rfs_store *
fresh(int readonly)
{
	struct rfs_store_opts o = { .keyfile = keyfile, .readonly = readonly };

	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/rfs-test-audit.XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			return NULL;
		atexit(cleanup);
		snprintf(backing, sizeof(backing), "%s/backing", tmpdir);
		snprintf(keyfile, sizeof(keyfile), "%s/key", tmpdir);
		snprintf(dbpath, sizeof(dbpath), "%s/catalog.db", backing);
		if (rfs_store_create(backing, &o, err, sizeof(err)) != 0)
			return NULL;
		/* A new store holds the head of the empty chain; keep it to
		 * give every test a fresh, valid, empty trail. */
		if (open_live(1) == NULL ||
		    rfs_cat_meta_get(live->cat, "audit_head", &empty_head) != 0)
			return NULL;
	}
	close_store(live);
	snprintf(reset, sizeof(reset), "DELETE FROM audit; DELETE FROM meta"
	    " WHERE key LIKE 'audit%%'; DELETE FROM sqlite_sequence WHERE"
	    " name = 'audit'; INSERT INTO meta VALUES ('audit_head', %lld)",
	    (long long)empty_head);
	if (raw_sql(reset) != 0)
		return NULL;
	return open_live(readonly);
}

static struct rfs_store *
reopen(struct rfs_store *s)
{
	if (s != NULL)
		close_store(s);
	return open_live(0);
}

/* N records at times 100, 200, ...; odd ones carry a detail. */
static int
append(struct rfs_store *s, int first, int n)
{
	char detail[64];
	int rc;

	for (int i = first; i < first + n; i++) {
		snprintf(detail, sizeof(detail), "path/secret-name-%d", i);
		rc = rfs_audit(s, (int64_t)(i + 1) * 100, i % 3 ? "create" :
		    "trash", (uint64_t)(10 + i), i % 2 ? "invoices" : "default",
		    (uint32_t)(1000 + i), i % 2 ? detail : NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
verify(struct rfs_store *s, int64_t *bad, int64_t *count)
{
	*bad = -1;
	*count = -1;
	return rfs_audit_verify(s, bad, count);
}

TEST(empty_trail_verifies)
{
	struct rfs_store *s = fresh(0);
	int64_t bad, count;

	CHECK(s != NULL);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 0);
	CHECK_EQ(bad, 0);
	close_store(s);
}

TEST(chain_verifies)
{
	struct rfs_store *s = fresh(0);
	struct rfs_audit_row last;
	int64_t bad, count, head = 0;

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 10);
	CHECK_EQ(bad, 0);
	CHECK_EQ(rfs_cat_audit_last(s->cat, &last), 0);
	CHECK_EQ(last.id, 10);
	CHECK_STR(last.op, "trash");
	CHECK_EQ(last.uid, 1009);
	CHECK_EQ(rfs_cat_meta_get(s->cat, "audit_head", &head), 0);
	CHECK(head != 0);
	/* Survives a reopen, and appending continues the chain. */
	CHECK((s = reopen(s)) != NULL);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 10);
	CHECK_EQ(append(s, 10, 5), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 15);
	/* Inside a transaction, as the fs layer does. */
	CHECK_EQ(rfs_cat_begin(s->cat), 0);
	CHECK_EQ(append(s, 15, 2), 0);
	CHECK_EQ(rfs_cat_commit(s->cat), 0);
	CHECK_EQ(rfs_cat_begin(s->cat), 0);
	CHECK_EQ(append(s, 17, 2), 0);
	rfs_cat_rollback(s->cat);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 17);
	close_store(s);
}

/* Applies EDIT, expects verification to fail at BAD_ID, applies UNDO and
 * expects it to pass again. */
static int
edit_detected(struct rfs_store **sp, const char *edit, const char *undo,
    int64_t bad_id)
{
	int64_t bad, count;
	int rc;

	close_store(*sp);
	*sp = NULL;
	if (raw_sql(edit) != 0)
		return -1;
	if ((*sp = reopen(NULL)) == NULL)
		return -2;
	rc = verify(*sp, &bad, &count);
	if (rc != -EBADMSG || bad != bad_id) {
		fprintf(stderr, "after \"%s\": rc %d, bad id %lld\n", edit, rc,
		    (long long)bad);
		return -3;
	}
	close_store(*sp);
	*sp = NULL;
	if (undo == NULL)
		return 0;
	if (raw_sql(undo) != 0 || (*sp = reopen(NULL)) == NULL)
		return -4;
	if (verify(*sp, &bad, &count) != 0) {
		fprintf(stderr, "after undoing \"%s\": bad id %lld\n", edit,
		    (long long)bad);
		return -5;
	}
	return 0;
}

TEST(edited_row_detected)
{
	struct rfs_store *s = fresh(0);

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET uid = uid + 1 WHERE id = 5",
	    "UPDATE audit SET uid = uid - 1 WHERE id = 5", 5), 0);
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET time = time - 1 WHERE"
	    " id = 1", "UPDATE audit SET time = time + 1 WHERE id = 1", 1), 0);
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET ino = 999 WHERE id = 10",
	    "UPDATE audit SET ino = 19 WHERE id = 10", 10), 0);
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET op = 'creatE' WHERE"
	    " id = 2", "UPDATE audit SET op = 'create' WHERE id = 2", 2), 0);
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET class = 'default' WHERE"
	    " id = 4", "UPDATE audit SET class = 'invoices' WHERE id = 4", 4),
	    0);
	/* A detail dropped, or changed. */
	CHECK_EQ(edit_detected(&s, "CREATE TABLE keep AS SELECT detail FROM"
	    " audit WHERE id = 6; UPDATE audit SET detail = NULL WHERE id = 6",
	    "UPDATE audit SET detail = (SELECT detail FROM keep) WHERE id = 6;"
	    " DROP TABLE keep", 6), 0);
	CHECK_EQ(edit_detected(&s, "CREATE TABLE keep AS SELECT detail FROM"
	    " audit WHERE id = 6; UPDATE audit SET detail = x'00' || detail"
	    " WHERE id = 6", "UPDATE audit SET detail = (SELECT detail FROM"
	    " keep) WHERE id = 6; DROP TABLE keep", 6), 0);
	/* A MAC edited. */
	CHECK_EQ(edit_detected(&s, "CREATE TABLE keep AS SELECT mac FROM audit"
	    " WHERE id = 3; UPDATE audit SET mac = zeroblob(32) WHERE id = 3",
	    "UPDATE audit SET mac = (SELECT mac FROM keep) WHERE id = 3;"
	    " DROP TABLE keep", 3), 0);
	close_store(s);
}

TEST(deleted_middle_row_detected)
{
	struct rfs_store *s = fresh(0);

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit WHERE id = 5", NULL, 5),
	    0);
}

TEST(deleted_first_row_detected)
{
	struct rfs_store *s = fresh(0);

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit WHERE id = 1", NULL, 1),
	    0);
}

TEST(deleted_newest_rows_detected)
{
	struct rfs_store *s = fresh(0);

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	/* Reported as the id after the last record that is left. */
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit WHERE id = 10", NULL, 10),
	    0);
	s = fresh(0);
	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit WHERE id >= 8", NULL, 8),
	    0);
	/* Everything removed without a prune. */
	s = fresh(0);
	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit", NULL, 1), 0);
}

TEST(reordered_rows_detected)
{
	struct rfs_store *s = fresh(0);

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 6), 0);
	/* Swap the ids of records 3 and 4. */
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET id = 100 WHERE id = 3;"
	    " UPDATE audit SET id = 3 WHERE id = 4;"
	    " UPDATE audit SET id = 4 WHERE id = 100", NULL, 3), 0);
}

TEST(forged_rows_detected)
{
	struct rfs_store *s = fresh(0);

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 5), 0);
	/* A copy of the last record appended: its MAC covers another
	 * predecessor. */
	CHECK_EQ(edit_detected(&s, "INSERT INTO audit(time, op, ino, class,"
	    " uid, detail, mac) SELECT time, op, ino, class, uid, detail, mac"
	    " FROM audit WHERE id = 5", "DELETE FROM audit WHERE id = 6", 6),
	    0);
	/* A record inserted in the middle (ids 1..5 become 1,2,_,4..). */
	CHECK_EQ(edit_detected(&s, "UPDATE audit SET id = id + 10 WHERE id > 2;"
	    " INSERT INTO audit(id, time, op, ino, class, uid, detail, mac)"
	    " SELECT 3, time, op, ino, class, uid, detail, mac FROM audit"
	    " WHERE id = 2", NULL, 3), 0);
}

TEST(prune_keeps_verifiability)
{
	struct rfs_store *s = fresh(0);
	int64_t bad, count;

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 10), 0);          /* times 100 .. 1000 */
	/* Nothing older than the cut-off: a no-op. */
	CHECK_EQ(rfs_audit_prune(s, 50), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 10);
	CHECK_EQ(rfs_audit_prune(s, 450), 0);   /* drops 100 .. 400 */
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 6);
	CHECK((s = reopen(s)) != NULL);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 6);
	CHECK_EQ(append(s, 10, 3), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 9);
	/* A second prune. */
	CHECK_EQ(rfs_audit_prune(s, 801), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 5);
	/* Removing the oldest record left is still detected (id 9 follows
	 * the anchor). */
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit WHERE id = 9", NULL, 9),
	    0);
}

TEST(prune_everything)
{
	struct rfs_store *s = fresh(0);
	int64_t bad, count;

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 4), 0);
	CHECK_EQ(rfs_audit_prune(s, INT64_MAX), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 0);
	CHECK((s = reopen(s)) != NULL);
	CHECK_EQ(verify(s, &bad, &count), 0);
	/* The chain continues from the anchor. */
	CHECK_EQ(append(s, 4, 3), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 3);
	/* And the new records are protected again. */
	CHECK_EQ(edit_detected(&s, "DELETE FROM audit WHERE id = 7", NULL, 7),
	    0);
}

TEST(detail_is_sealed)
{
	struct rfs_store *s = fresh(0);
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	struct rfs_audit_row last;
	char *d;
	int rows = 0, plain = 0;

	CHECK(s != NULL);
	CHECK_EQ(rfs_audit(s, 5, "rename", 3, "default", 0,
	    "from secret-a to secret-b"), 0);
	CHECK_EQ(rfs_audit(s, 6, "unlink", 3, "default", 0, ""), 0);
	CHECK_EQ(rfs_cat_audit_last(s->cat, &last), 0);
	CHECK(last.detail == NULL);
	close_store(s);
	/* No plaintext in the catalog. */
	CHECK_EQ(sqlite3_open(dbpath, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT id, detail FROM audit ORDER BY"
	    " id", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 1);
		int n = sqlite3_column_bytes(st, 1);

		rows++;
		if (b != NULL && memmem(b, (size_t)n, "secret", 6) != NULL)
			plain++;
		if (rows == 2 && n != 0)
			plain += 100;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	CHECK_EQ(rows, 2);
	CHECK_EQ(plain, 0);
	/* The detail opens with the store's key. */
	s = reopen(NULL);
	CHECK(s != NULL);
	{
		unsigned char *blob = NULL;
		size_t len = 0;

		CHECK_EQ(rfs_seal(s->k_name, "audit", 5, "hello", 5, &blob,
		    &len), 0);
		d = rfs_audit_detail(s, blob, len);
		CHECK(d != NULL);
		CHECK_STR(d, "hello");
		free(d);
		blob[len - 1] ^= 1;
		d = rfs_audit_detail(s, blob, len);
		CHECK(d != NULL);
		CHECK_STR(d, "(undecryptable)");
		free(d);
		/* Sealed for another purpose: refused. */
		free(blob);
		CHECK_EQ(rfs_seal(s->k_name, "event", 5, "hello", 5, &blob,
		    &len), 0);
		d = rfs_audit_detail(s, blob, len);
		CHECK_STR(d, "(undecryptable)");
		free(d);
		free(blob);
		CHECK(rfs_audit_detail(s, NULL, 0) == NULL);
	}
	close_store(s);
}

struct firstdetail {
	char *text;
	struct rfs_store *s;
};

static int
grab_detail(void *ctx, const struct rfs_audit_row *r)
{
	struct firstdetail *f = ctx;

	if (f->text == NULL && r->detaillen > 0)
		f->text = rfs_audit_detail(f->s, r->detail, r->detaillen);
	return 0;
}

TEST(detail_round_trip_through_catalog)
{
	struct rfs_store *s = fresh(0);
	struct firstdetail f = { NULL, NULL };

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 3), 0);            /* record 2 has a detail */
	f.s = s;
	CHECK_EQ(rfs_cat_audit_each(s->cat, INT64_MIN, INT64_MIN, 0, grab_detail,
	    &f), 0);
	CHECK(f.text != NULL);
	CHECK_STR(f.text, "path/secret-name-1");
	free(f.text);
	close_store(s);
}

TEST(readonly_store_does_not_audit)
{
	struct rfs_store *s = fresh(0);
	int64_t bad, count;

	CHECK(s != NULL);
	CHECK_EQ(append(s, 0, 2), 0);
	close_store(s);
	s = open_live(1);
	CHECK(s != NULL);
	CHECK_EQ(rfs_audit(s, 1000, "create", 1, "default", 0, "x"), 0);
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 2);
	close_store(s);
}

TEST(long_fields_are_cut)
{
	struct rfs_store *s = fresh(0);
	struct rfs_audit_row last;
	char op[100], cls[200];
	int64_t bad, count;

	CHECK(s != NULL);
	memset(op, 'o', sizeof(op) - 1);
	op[sizeof(op) - 1] = '\0';
	memset(cls, 'c', sizeof(cls) - 1);
	cls[sizeof(cls) - 1] = '\0';
	CHECK_EQ(rfs_audit(s, 1, op, 1, cls, 0, NULL), 0);
	CHECK_EQ(rfs_audit(s, 2, "x", 1, NULL, 0, NULL), 0);
	CHECK_EQ(rfs_cat_audit_last(s->cat, &last), 0);
	CHECK_STR(last.class, "");
	CHECK_EQ(verify(s, &bad, &count), 0);
	CHECK_EQ(count, 2);
	close_store(s);
}

int
main(void)
{
	if (rfs_crypto_init() != 0)
		return 1;
	RUN_TESTS("audit",
	    CASE(empty_trail_verifies),
	    CASE(chain_verifies),
	    CASE(edited_row_detected),
	    CASE(deleted_middle_row_detected),
	    CASE(deleted_first_row_detected),
	    CASE(deleted_newest_rows_detected),
	    CASE(reordered_rows_detected),
	    CASE(forged_rows_detected),
	    CASE(prune_keeps_verifiability),
	    CASE(prune_everything),
	    CASE(detail_is_sealed),
	    CASE(detail_round_trip_through_catalog),
	    CASE(readonly_store_does_not_audit),
	    CASE(long_fields_are_cut));
}
