/*
 * test_catalog.c - the SQLite catalog: inodes, directory entries, xattrs,
 * meta values, events, audit rows, key windows, transactions, and the
 * consistency check (against corruption made with raw SQL).
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

#include "rfs/catalog.h"

#include "harness.h"

static char tmpdir[64];
static char dbpath[128];
static char err[512];

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	return remove(path);
}

static void
rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rfs-test-catalog.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db", tmpdir);
	err[0] = '\0';
	return 0;
}

static void
teardown(void)
{
	rm_rf(tmpdir);
}

static void
attr_init(struct rfs_attr *a, uint32_t mode, const char *cls)
{
	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->uid = 1000;
	a->gid = 100;
	a->nlink = 1;
	a->atime = a->mtime = a->ctime = a->created = INT64_C(1700000000) *
	    1000000000;
	snprintf(a->class, sizeof(a->class), "%s", cls);
	a->period = 1699920000;
}

/* A new catalog holding the root directory, as rfs_store_create makes. */
static struct rfs_catalog *
new_catalog(void)
{
	struct rfs_catalog *c = NULL;
	struct rfs_attr root;

	if (setup() != 0 || rfs_cat_open(dbpath, 1, 0, &c, err,
	    sizeof(err)) != 0)
		return NULL;
	attr_init(&root, S_IFDIR | 0755, "default");
	root.ino = RFS_ROOT_INO;
	root.nlink = 2;
	if (rfs_cat_inode_insert(c, &root) != 0 || root.ino != RFS_ROOT_INO) {
		rfs_cat_close(c);
		return NULL;
	}
	return c;
}

static void
hash_of(unsigned char h[RFS_HASH_BYTES], unsigned v)
{
	memset(h, 0, RFS_HASH_BYTES);
	memcpy(h, &v, sizeof(v));
	h[RFS_HASH_BYTES - 1] = 0x5a;
}

/* Runs SQL on the catalog file through a separate connection. */
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
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* First column of the first row of S (with ?1 = ARG), or -1. */
static int
raw_int(const char *s, const char *arg)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int v = -1;

	if (sqlite3_open(dbpath, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, s, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

TEST(create_open_close)
{
	struct rfs_catalog *c = NULL;
	int64_t v = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), -ENOENT);
	CHECK(c == NULL);
	CHECK(strstr(err, "missing") != NULL);
	CHECK_EQ(rfs_cat_open(dbpath, 1, 0, &c, err, sizeof(err)), 0);
	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_meta_get(c, "format", &v), 0);
	CHECK_EQ(v, 2);
	CHECK_EQ(rfs_cat_sync(c), 0);
	CHECK_EQ(rfs_cat_checkpoint(c), 0);
	rfs_cat_close(c);
	rfs_cat_close(NULL);
	/* Reopen. */
	c = NULL;
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "format", &v), 0);
	CHECK_EQ(v, 2);
	rfs_cat_close(c);
	/* Creating over an existing catalog fails. */
	c = NULL;
	err[0] = '\0';
	CHECK(rfs_cat_open(dbpath, 1, 0, &c, err, sizeof(err)) < 0);
	CHECK(c == NULL);
	CHECK(err[0] != '\0');
	/* Read-only open works and refuses writes. */
	CHECK_EQ(rfs_cat_open(dbpath, 0, 1, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "format", &v), 0);
	CHECK(rfs_cat_meta_set(c, "x", 1) < 0);
	rfs_cat_close(c);
	teardown();
}

TEST(open_rejects_non_catalogs)
{
	static const char text[] = "this is not a database, just some text\n";
	static unsigned char junk[8192];
	struct rfs_catalog *c = NULL;

	CHECK_EQ(setup(), 0);
	/* Plain text. */
	CHECK_EQ(write_file(dbpath, text, sizeof(text) - 1), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), -EUCLEAN);
	CHECK(c == NULL);
	CHECK(strstr(err, "corrupt") != NULL);
	/* SQLite magic with garbage after it. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 151 + 7);
	memcpy(junk, "SQLite format 3", 16);
	CHECK_EQ(write_file(dbpath, junk, sizeof(junk)), 0);
	err[0] = '\0';
	CHECK(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)) < 0);
	CHECK(c == NULL);
	CHECK(err[0] != '\0');
	/* A real SQLite database with other tables. */
	unlink(dbpath);
	CHECK_EQ(raw_sql("CREATE TABLE t(a); INSERT INTO t VALUES (1);"), 0);
	err[0] = '\0';
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), -EUCLEAN);
	CHECK(c == NULL);
	CHECK(err[0] != '\0');
	/* A directory. */
	unlink(dbpath);
	CHECK_EQ(mkdir(dbpath, 0700), 0);
	err[0] = '\0';
	CHECK(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)) < 0);
	CHECK(c == NULL);
	CHECK(err[0] != '\0');
	rmdir(dbpath);
	/* An empty file. */
	CHECK_EQ(write_file(dbpath, "", 0), 0);
	err[0] = '\0';
	CHECK(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)) < 0);
	CHECK(c == NULL);
	teardown();
}

TEST(open_rejects_other_format)
{
	struct rfs_catalog *c = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 1, 0, &c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	c = NULL;
	CHECK_EQ(raw_sql("UPDATE meta SET value = 3 WHERE key = 'format'"), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), -EPROTO);
	CHECK(c == NULL);
	CHECK(strstr(err, "format 3") != NULL);
	CHECK_EQ(rfs_cat_open(dbpath, 0, 1, &c, err, sizeof(err)), -EPROTO);
	CHECK(c == NULL);
	CHECK_EQ(raw_sql("DELETE FROM meta WHERE key = 'format'"), 0);
	CHECK(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)) < 0);
	CHECK(c == NULL);
	teardown();
}

TEST(meta)
{
	struct rfs_catalog *c = new_catalog();
	int64_t v = 7;

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_meta_get(c, "nothing", &v), -ENOENT);
	CHECK_EQ(v, 7);
	CHECK_EQ(rfs_cat_meta_set(c, "k", INT64_MIN), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "k", &v), 0);
	CHECK(v == INT64_MIN);
	CHECK_EQ(rfs_cat_meta_set(c, "k", INT64_MAX), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "k", &v), 0);
	CHECK(v == INT64_MAX);
	CHECK_EQ(rfs_cat_meta_set(c, "k", -1), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "k", &v), 0);
	CHECK_EQ(v, -1);
	rfs_cat_close(c);
	teardown();
}

TEST(inode_crud)
{
	struct rfs_catalog *c = new_catalog();
	struct rfs_attr a, b;
	unsigned char *blob = NULL;
	size_t len = 0;
	uint64_t ino;

	CHECK(c != NULL);
	attr_init(&a, S_IFREG | 0640, "invoices");
	a.size = 12345;
	a.rdev = 77;
	a.atime = -5;
	a.has_key = 1;
	for (int i = 0; i < RFS_WRAPPED_BYTES; i++)
		a.wkey[i] = (unsigned char)i;
	a.hold = 1;
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	CHECK(a.ino > RFS_ROOT_INO);
	ino = a.ino;
	CHECK_EQ(rfs_cat_inode_get(c, ino, &b), 0);
	CHECK_EQ(b.ino, ino);
	CHECK_EQ(b.mode, S_IFREG | 0640);
	CHECK_EQ(b.uid, 1000);
	CHECK_EQ(b.gid, 100);
	CHECK_EQ(b.nlink, 1);
	CHECK_EQ(b.size, 12345);
	CHECK_EQ(b.rdev, 77);
	CHECK_EQ(b.atime, -5);
	CHECK_EQ(b.mtime, a.mtime);
	CHECK_EQ(b.ctime, a.ctime);
	CHECK_EQ(b.created, a.created);
	CHECK_STR(b.class, "invoices");
	CHECK_EQ(b.period, a.period);
	CHECK_EQ(b.has_key, 1);
	CHECK(memcmp(b.wkey, a.wkey, RFS_WRAPPED_BYTES) == 0);
	CHECK_EQ(b.hold, 1);
	CHECK_EQ(b.state, RFS_LIVE);
	CHECK_EQ(b.del_time, 0);
	/* put: every field, including the trash fields and a shredded key. */
	b.size = UINT64_C(1) << 40;
	b.nlink = 0;
	b.state = RFS_TRASH;
	b.del_time = 42;
	b.del_uid = 4242;
	b.del_parent = RFS_ROOT_INO;
	b.has_key = 0;
	b.hold = 0;
	snprintf(b.class, sizeof(b.class), "%s", "default");
	CHECK_EQ(rfs_cat_inode_put(c, &b), 0);
	memset(&a, 0xff, sizeof(a));
	CHECK_EQ(rfs_cat_inode_get(c, ino, &a), 0);
	CHECK_EQ(a.size, UINT64_C(1) << 40);
	CHECK_EQ(a.state, RFS_TRASH);
	CHECK_EQ(a.del_time, 42);
	CHECK_EQ(a.del_uid, 4242);
	CHECK_EQ(a.del_parent, RFS_ROOT_INO);
	CHECK_EQ(a.has_key, 0);
	CHECK_EQ(a.hold, 0);
	CHECK_STR(a.class, "default");
	/* link and delpath blobs. */
	CHECK_EQ(rfs_cat_inode_get_link(c, ino, &blob, &len), -ENODATA);
	CHECK_EQ(rfs_cat_inode_set_link(c, ino, (const unsigned char *)"tgt",
	    3), 0);
	CHECK_EQ(rfs_cat_inode_get_link(c, ino, &blob, &len), 0);
	CHECK_EQ(len, 3);
	CHECK(memcmp(blob, "tgt", 3) == 0);
	free(blob);
	CHECK_EQ(rfs_cat_inode_set_delpath(c, ino,
	    (const unsigned char *)"a/b", 3), 0);
	CHECK_EQ(rfs_cat_inode_get_delpath(c, ino, &blob, &len), 0);
	CHECK_EQ(len, 3);
	CHECK(memcmp(blob, "a/b", 3) == 0);
	free(blob);
	CHECK_EQ(rfs_cat_inode_set_delpath(c, ino, NULL, 0), 0);
	CHECK_EQ(rfs_cat_inode_get_delpath(c, ino, &blob, &len), -ENODATA);
	CHECK_EQ(rfs_cat_inode_get_link(c, 9999, &blob, &len), -ENOENT);
	/* Duplicate explicit ino. */
	attr_init(&a, S_IFREG | 0600, "default");
	a.ino = ino;
	CHECK_EQ(rfs_cat_inode_insert(c, &a), -EEXIST);
	/* delete, and inode numbers are never reused. */
	CHECK_EQ(rfs_cat_inode_delete(c, ino), 0);
	CHECK_EQ(rfs_cat_inode_get(c, ino, &a), -ENOENT);
	CHECK_EQ(rfs_cat_inode_delete(c, ino), 0);
	attr_init(&a, S_IFREG | 0600, "default");
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	CHECK(a.ino > ino);
	rfs_cat_close(c);
	teardown();
}

struct collect {
	int n, stop_at;
	uint64_t ino[64];
	int64_t id[64];
	char name[64][32];
};

static int
inode_cb(void *ctx, const struct rfs_attr *a)
{
	struct collect *k = ctx;

	if (k->stop_at > 0 && k->n == k->stop_at)
		return 1;
	k->ino[k->n++] = a->ino;
	return 0;
}

TEST(inode_each)
{
	struct rfs_catalog *c = new_catalog();
	struct collect k;
	struct rfs_attr a;
	uint64_t inos[10];

	CHECK(c != NULL);
	for (int i = 0; i < 10; i++) {
		attr_init(&a, S_IFREG | 0600, "default");
		a.state = i % 3 == 0 ? RFS_TRASH : RFS_LIVE;
		CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
		inos[i] = a.ino;
	}
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_inode_each(c, RFS_TRASH, 0, 0, inode_cb, &k), 0);
	CHECK_EQ(k.n, 4);
	CHECK_EQ(k.ino[0], inos[0]);
	CHECK_EQ(k.ino[3], inos[9]);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_inode_each(c, RFS_LIVE, 0, 0, inode_cb, &k), 0);
	CHECK_EQ(k.n, 7);                   /* includes the root */
	CHECK_EQ(k.ino[0], RFS_ROOT_INO);
	for (int i = 1; i < k.n; i++)
		CHECK(k.ino[i] > k.ino[i - 1]);
	/* after and limit: paging. */
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_inode_each(c, RFS_LIVE, inos[1], 2, inode_cb, &k), 0);
	CHECK_EQ(k.n, 2);
	CHECK_EQ(k.ino[0], inos[2]);
	CHECK_EQ(k.ino[1], inos[4]);
	/* Stop early. */
	memset(&k, 0, sizeof(k));
	k.stop_at = 3;
	CHECK_EQ(rfs_cat_inode_each(c, RFS_LIVE, 0, 0, inode_cb, &k), 0);
	CHECK_EQ(k.n, 3);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_inode_each(c, RFS_SHRED, 0, 0, inode_cb, &k), 0);
	CHECK_EQ(k.n, 0);
	rfs_cat_close(c);
	teardown();
}

static int
dirent_cb(void *ctx, const struct rfs_dirent *d)
{
	struct collect *k = ctx;

	if (k->stop_at > 0 && k->n == k->stop_at)
		return 1;
	k->ino[k->n] = d->ino;
	k->id[k->n] = d->id;
	snprintf(k->name[k->n], sizeof(k->name[0]), "%.*s", (int)d->namelen,
	    (const char *)d->name);
	k->n++;
	return 0;
}

TEST(dirents)
{
	struct rfs_catalog *c = new_catalog();
	unsigned char h[RFS_HASH_BYTES], *name = NULL;
	struct rfs_attr a;
	struct collect k;
	uint64_t ino = 0, parent = 0, files[5];
	size_t namelen = 0;
	char nm[16];

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_dirent_any(c, RFS_ROOT_INO), 0);
	/* Insert in an order different from the hashes. */
	for (int i = 0; i < 5; i++) {
		attr_init(&a, S_IFREG | 0600, "default");
		CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
		files[i] = a.ino;
		hash_of(h, (unsigned)(100 - i));
		snprintf(nm, sizeof(nm), "name-%d", i);
		CHECK_EQ(rfs_cat_dirent_insert(c, RFS_ROOT_INO, h,
		    (const unsigned char *)nm, strlen(nm), a.ino), 0);
	}
	CHECK_EQ(rfs_cat_dirent_any(c, RFS_ROOT_INO), 1);
	CHECK_EQ(rfs_cat_dirent_any(c, files[0]), 0);
	/* Lookup. */
	hash_of(h, 98);
	CHECK_EQ(rfs_cat_dirent_lookup(c, RFS_ROOT_INO, h, &ino), 0);
	CHECK_EQ(ino, files[2]);
	hash_of(h, 7);
	CHECK_EQ(rfs_cat_dirent_lookup(c, RFS_ROOT_INO, h, &ino), -ENOENT);
	hash_of(h, 98);
	CHECK_EQ(rfs_cat_dirent_lookup(c, files[0], h, &ino), -ENOENT);
	/* Duplicate (parent, hash). */
	CHECK_EQ(rfs_cat_dirent_insert(c, RFS_ROOT_INO, h,
	    (const unsigned char *)"dup", 3, files[0]), -EEXIST);
	/* Same hash under another parent is fine. */
	CHECK_EQ(rfs_cat_dirent_insert(c, files[0], h,
	    (const unsigned char *)"other", 5, files[1]), 0);
	/* Each: in insertion (id) order, with stable ids. */
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, 0, dirent_cb, &k), 0);
	CHECK_EQ(k.n, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(nm, sizeof(nm), "name-%d", i);
		CHECK_STR(k.name[i], nm);
		CHECK_EQ(k.ino[i], files[i]);
		if (i > 0)
			CHECK(k.id[i] > k.id[i - 1]);
	}
	/* Resume after an offset; stopping does not consume. */
	{
		int64_t after = k.id[1];

		memset(&k, 0, sizeof(k));
		k.stop_at = 2;
		CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, after, dirent_cb,
		    &k), 0);
		CHECK_EQ(k.n, 2);
		CHECK_STR(k.name[0], "name-2");
		CHECK_STR(k.name[1], "name-3");
		after = k.id[1];
		memset(&k, 0, sizeof(k));
		CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, after, dirent_cb,
		    &k), 0);
		CHECK_EQ(k.n, 1);
		CHECK_STR(k.name[0], "name-4");
	}
	/* dirent_of. */
	CHECK_EQ(rfs_cat_dirent_of(c, files[3], &parent, &name, &namelen), 0);
	CHECK_EQ(parent, RFS_ROOT_INO);
	CHECK_EQ(namelen, 6);
	CHECK(memcmp(name, "name-3", 6) == 0);
	free(name);
	CHECK_EQ(rfs_cat_dirent_of(c, 424242, &parent, &name, &namelen),
	    -ENOENT);
	/* Delete; a re-insert gets a new, larger id (readdir offsets). */
	hash_of(h, 98);
	CHECK_EQ(rfs_cat_dirent_delete(c, RFS_ROOT_INO, h), 0);
	CHECK_EQ(rfs_cat_dirent_lookup(c, RFS_ROOT_INO, h, &ino), -ENOENT);
	CHECK_EQ(rfs_cat_dirent_insert(c, RFS_ROOT_INO, h,
	    (const unsigned char *)"name-2b", 7, files[2]), 0);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, 0, dirent_cb, &k), 0);
	CHECK_EQ(k.n, 5);
	CHECK_STR(k.name[4], "name-2b");
	CHECK_STR(k.name[2], "name-3");
	rfs_cat_close(c);
	teardown();
}

/*
 * Format 1's dirent table, as a format 1 build made it: ids come from one
 * AUTOINCREMENT sequence across all directories.
 */
static const char format1_dirent[] =
    "DROP TABLE dirent;"
    "CREATE TABLE dirent("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " parent INTEGER NOT NULL, hash BLOB NOT NULL, name BLOB NOT NULL,"
    " ino INTEGER NOT NULL, UNIQUE(parent, hash));"
    "CREATE INDEX dirent_parent ON dirent(parent, id);"
    "CREATE INDEX dirent_ino ON dirent(ino);"
    "UPDATE meta SET value = 1 WHERE key = 'format';";

/* Inserts entry NAME (hash V) for INO under PARENT with raw SQL. */
static int
format1_entry(uint64_t parent, unsigned v, const char *name, uint64_t ino)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "INSERT INTO dirent(parent, hash, name, ino)"
	    " VALUES (%llu, x'%02x%02x000000000000000000000000005a', '%s',"
	    " %llu)", (unsigned long long)parent, v & 0xff, (v >> 8) & 0xff,
	    name, (unsigned long long)ino);
	return raw_sql(sql);
}

TEST(format1_is_read_and_converted)
{
	struct rfs_catalog *c = new_catalog();
	unsigned char h[RFS_HASH_BYTES];
	struct rfs_attr a;
	struct collect k;
	uint64_t dir = 0, f[4], ino = 0;
	int64_t v = 0;
	char nm[16];

	CHECK(c != NULL);
	attr_init(&a, S_IFDIR | 0755, "default");
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	dir = a.ino;
	for (int i = 0; i < 4; i++) {
		attr_init(&a, S_IFREG | 0600, "default");
		CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
		f[i] = a.ino;
	}
	rfs_cat_close(c);
	c = NULL;
	/* Entries interleaved between two directories, as format 1 had. */
	CHECK_EQ(raw_sql(format1_dirent), 0);
	CHECK_EQ(format1_entry(RFS_ROOT_INO, 300, "d", dir), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(nm, sizeof(nm), "f%d", i);
		CHECK_EQ(format1_entry(i % 2 ? dir : RFS_ROOT_INO,
		    (unsigned)(200 - i), nm, f[i]), 0);
	}
	/* Read-only: read as it is, not converted. */
	CHECK_EQ(rfs_cat_open(dbpath, 0, 1, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "format", &v), 0);
	CHECK_EQ(v, 1);
	hash_of(h, 199);
	CHECK_EQ(rfs_cat_dirent_lookup(c, dir, h, &ino), 0);
	CHECK_EQ(ino, f[1]);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, 0, dirent_cb, &k), 0);
	CHECK_EQ(k.n, 3);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	c = NULL;
	/* Read-write: converted, every entry and id kept. */
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "format", &v), 0);
	CHECK_EQ(v, 2);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++) {
		hash_of(h, (unsigned)(200 - i));
		CHECK_EQ(rfs_cat_dirent_lookup(c, i % 2 ? dir : RFS_ROOT_INO,
		    h, &ino), 0);
		CHECK_EQ(ino, f[i]);
	}
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, 0, dirent_cb, &k), 0);
	CHECK_EQ(k.n, 3);
	CHECK_STR(k.name[0], "d");
	CHECK_STR(k.name[1], "f0");
	CHECK_STR(k.name[2], "f2");
	CHECK_EQ(k.id[0], 1);
	CHECK_EQ(k.id[1], 2);
	CHECK_EQ(k.id[2], 4);
	/* A new entry follows the directory's largest id. */
	attr_init(&a, S_IFREG | 0600, "default");
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	hash_of(h, 50);
	CHECK_EQ(rfs_cat_dirent_insert(c, RFS_ROOT_INO, h,
	    (const unsigned char *)"new", 3, a.ino), 0);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_dirent_each(c, RFS_ROOT_INO, 4, dirent_cb, &k), 0);
	CHECK_EQ(k.n, 1);
	CHECK_STR(k.name[0], "new");
	CHECK_EQ(k.id[0], 5);
	rfs_cat_close(c);
	c = NULL;
	/* Nothing of the old table is left; a second open is a no-op. */
	CHECK_EQ(raw_int("SELECT count(*) FROM sqlite_master WHERE sql LIKE ?1",
	    "%v1%"), 0);
	CHECK_EQ(raw_int("SELECT count(*) FROM sqlite_master WHERE name ="
	    " 'dirent' AND sql LIKE ?1", "%WITHOUT ROWID%"), 1);
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	teardown();
}

static int
blob_cb(void *ctx, const unsigned char *b, size_t len)
{
	struct collect *k = ctx;

	if (k->stop_at < 0)
		return k->stop_at;
	snprintf(k->name[k->n++], sizeof(k->name[0]), "%.*s", (int)len,
	    (const char *)b);
	return 0;
}

TEST(xattrs)
{
	struct rfs_catalog *c = new_catalog();
	unsigned char h1[RFS_HASH_BYTES], h2[RFS_HASH_BYTES], *v = NULL;
	struct collect k;
	size_t len = 0;

	CHECK(c != NULL);
	hash_of(h1, 1);
	hash_of(h2, 2);
	CHECK_EQ(rfs_cat_xattr_get(c, 1, h1, &v, &len), -ENODATA);
	CHECK_EQ(rfs_cat_xattr_remove(c, 1, h1), -ENODATA);
	CHECK_EQ(rfs_cat_xattr_set(c, 1, h1, (const unsigned char *)"user.a",
	    6, (const unsigned char *)"va", 2), 0);
	CHECK_EQ(rfs_cat_xattr_set(c, 1, h2, (const unsigned char *)"user.b",
	    6, (const unsigned char *)"", 0), 0);
	CHECK_EQ(rfs_cat_xattr_set(c, 5, h1, (const unsigned char *)"user.x",
	    6, (const unsigned char *)"other", 5), 0);
	CHECK_EQ(rfs_cat_xattr_get(c, 1, h1, &v, &len), 0);
	CHECK_EQ(len, 2);
	CHECK(memcmp(v, "va", 2) == 0);
	free(v);
	/* Replace. */
	CHECK_EQ(rfs_cat_xattr_set(c, 1, h1, (const unsigned char *)"user.a",
	    6, (const unsigned char *)"value-2", 7), 0);
	CHECK_EQ(rfs_cat_xattr_get(c, 1, h1, &v, &len), 0);
	CHECK_EQ(len, 7);
	CHECK(memcmp(v, "value-2", 7) == 0);
	free(v);
	/* Names. */
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_xattr_names(c, 1, blob_cb, &k), 0);
	CHECK_EQ(k.n, 2);
	CHECK((strcmp(k.name[0], "user.a") == 0 &&
	    strcmp(k.name[1], "user.b") == 0) ||
	    (strcmp(k.name[1], "user.a") == 0 &&
	    strcmp(k.name[0], "user.b") == 0));
	memset(&k, 0, sizeof(k));
	k.stop_at = -ERANGE;                /* a negative return propagates */
	CHECK_EQ(rfs_cat_xattr_names(c, 1, blob_cb, &k), -ERANGE);
	/* Remove one, then all. */
	CHECK_EQ(rfs_cat_xattr_remove(c, 1, h2), 0);
	CHECK_EQ(rfs_cat_xattr_remove(c, 1, h2), -ENODATA);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_xattr_names(c, 1, blob_cb, &k), 0);
	CHECK_EQ(k.n, 1);
	CHECK_STR(k.name[0], "user.a");
	CHECK_EQ(rfs_cat_xattr_delete_all(c, 1), 0);
	CHECK_EQ(rfs_cat_xattr_get(c, 1, h1, &v, &len), -ENODATA);
	CHECK_EQ(rfs_cat_xattr_get(c, 5, h1, &v, &len), 0);
	CHECK_EQ(len, 5);
	free(v);
	rfs_cat_close(c);
	teardown();
}

TEST(counts)
{
	struct rfs_catalog *c = new_catalog();
	struct rfs_attr a;
	uint64_t files = 9, bytes = 9;

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_counts(c, &files, &bytes), 0);
	CHECK_EQ(files, 1);
	CHECK_EQ(bytes, 0);
	attr_init(&a, S_IFREG | 0600, "default");
	a.size = 1000;
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	a.ino = 0;
	a.size = 24;
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	a.ino = 0;
	a.size = 5000;
	a.state = RFS_TRASH;                /* not counted */
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	CHECK_EQ(rfs_cat_counts(c, &files, &bytes), 0);
	CHECK_EQ(files, 3);
	CHECK_EQ(bytes, 1024);
	rfs_cat_close(c);
	teardown();
}

struct evs {
	int n;
	struct rfs_event e[8];
	char reason[8][16];
};

static int
event_cb(void *ctx, const struct rfs_event *e)
{
	struct evs *v = ctx;

	v->e[v->n] = *e;
	snprintf(v->reason[v->n], sizeof(v->reason[0]), "%.*s",
	    (int)e->reasonlen, e->reason ? (const char *)e->reason : "");
	v->e[v->n].reason = NULL;
	v->n++;
	return 0;
}

TEST(events)
{
	struct rfs_catalog *c = new_catalog();
	struct rfs_event e1 = { .ino = 5, .at = 100, .set_time = 90,
	    .set_uid = 7, .reason = (unsigned char *)"r1", .reasonlen = 2 };
	struct rfs_event e2 = { .ino = 6, .at = -3, .set_time = 91,
	    .set_uid = 0 };
	struct evs v;

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_event_insert(c, &e1), 0);
	CHECK_EQ(rfs_cat_event_insert(c, &e2), 0);
	CHECK(e1.id > 0 && e2.id > e1.id);
	memset(&v, 0, sizeof(v));
	CHECK_EQ(rfs_cat_event_each(c, event_cb, &v), 0);
	CHECK_EQ(v.n, 2);
	CHECK_EQ(v.e[0].id, e1.id);
	CHECK_EQ(v.e[0].ino, 5);
	CHECK_EQ(v.e[0].at, 100);
	CHECK_EQ(v.e[0].set_time, 90);
	CHECK_EQ(v.e[0].set_uid, 7);
	CHECK_STR(v.reason[0], "r1");
	CHECK_EQ(v.e[1].at, -3);
	CHECK_EQ(v.e[1].reasonlen, 0);
	CHECK_EQ(rfs_cat_event_delete(c, e1.id), 0);
	memset(&v, 0, sizeof(v));
	CHECK_EQ(rfs_cat_event_each(c, event_cb, &v), 0);
	CHECK_EQ(v.n, 1);
	CHECK_EQ(v.e[0].id, e2.id);
	rfs_cat_close(c);
	teardown();
}

struct auds {
	int n;
	struct rfs_audit_row r[16];
	size_t detaillen[16];
};

static int
audit_cb(void *ctx, const struct rfs_audit_row *r)
{
	struct auds *a = ctx;

	a->r[a->n] = *r;
	a->r[a->n].detail = NULL;
	a->detaillen[a->n] = r->detaillen;
	a->n++;
	return 0;
}

TEST(audit_rows)
{
	struct rfs_catalog *c = new_catalog();
	struct rfs_audit_row r, last;
	struct auds a;

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_audit_last(c, &last), -ENOENT);
	for (int i = 0; i < 5; i++) {
		memset(&r, 0, sizeof(r));
		r.time = 1000 + i * 10;
		snprintf(r.op, sizeof(r.op), "op%d", i);
		r.ino = (uint64_t)(40 + i);
		snprintf(r.class, sizeof(r.class), "cls%d", i);
		r.uid = (uint32_t)(500 + i);
		if (i % 2) {
			r.detail = (unsigned char *)"sealed";
			r.detaillen = 6;
		}
		memset(r.mac, 'a' + i, sizeof(r.mac));
		CHECK_EQ(rfs_cat_audit_insert(c, &r), 0);
		CHECK_EQ(r.id, i + 1);
	}
	CHECK_EQ(rfs_cat_audit_last(c, &last), 0);
	CHECK_EQ(last.id, 5);
	CHECK_EQ(last.time, 1040);
	CHECK_STR(last.op, "op4");
	CHECK_STR(last.class, "cls4");
	CHECK(last.detail == NULL);
	CHECK_EQ(last.mac[0], 'e');
	memset(&a, 0, sizeof(a));
	CHECK_EQ(rfs_cat_audit_each(c, 1020, INT64_MIN, 0, audit_cb, &a), 0);
	CHECK_EQ(a.n, 3);
	CHECK_EQ(a.r[0].id, 3);
	CHECK_EQ(a.r[0].ino, 42);
	CHECK_EQ(a.r[0].uid, 502);
	CHECK_EQ(a.detaillen[0], 0);
	CHECK_EQ(a.detaillen[1], 6);
	CHECK_EQ(a.r[2].mac[RFS_MAC_BYTES - 1], 'e');
	/* Pages: after an id, at most a limit, still from the time on. */
	memset(&a, 0, sizeof(a));
	CHECK_EQ(rfs_cat_audit_each(c, 1020, 3, 1, audit_cb, &a), 0);
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.r[0].id, 4);
	memset(&a, 0, sizeof(a));
	CHECK_EQ(rfs_cat_audit_each(c, INT64_MIN, 1, 2, audit_cb, &a), 0);
	CHECK_EQ(a.n, 2);
	CHECK_EQ(a.r[0].id, 2);
	CHECK_EQ(a.r[1].id, 3);
	memset(&a, 0, sizeof(a));
	CHECK_EQ(rfs_cat_audit_each(c, INT64_MIN, 5, 0, audit_cb, &a), 0);
	CHECK_EQ(a.n, 0);
	CHECK_EQ(rfs_cat_audit_prune(c, 2), 0);      /* ids <= 2 */
	memset(&a, 0, sizeof(a));
	CHECK_EQ(rfs_cat_audit_each(c, INT64_MIN, INT64_MIN, 0, audit_cb, &a),
	    0);
	CHECK_EQ(a.n, 3);
	CHECK_EQ(a.r[0].id, 3);
	/* Ids are never reused after a prune. */
	memset(&r, 0, sizeof(r));
	r.time = 2000;
	snprintf(r.op, sizeof(r.op), "x");
	CHECK_EQ(rfs_cat_audit_insert(c, &r), 0);
	CHECK_EQ(r.id, 6);
	rfs_cat_close(c);
	teardown();
}

struct kws {
	int n;
	char cls[8][RFS_CLASS_MAX + 1];
	int64_t start[8], last[8];
};

static int
kw_cb(void *ctx, const char *cls, int64_t start, int64_t last)
{
	struct kws *k = ctx;

	snprintf(k->cls[k->n], sizeof(k->cls[0]), "%s", cls);
	k->start[k->n] = start;
	k->last[k->n] = last;
	k->n++;
	return 0;
}

static int
kw_find(const struct kws *k, const char *cls, int64_t start)
{
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->cls[i], cls) == 0 && k->start[i] == start)
			return i;
	return -1;
}

TEST(keywin)
{
	struct rfs_catalog *c = new_catalog();
	struct rfs_attr a;
	struct kws k;
	int i;

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_keywin_touch(c, "default", 100, 150), 0);
	CHECK_EQ(rfs_cat_keywin_touch(c, "default", 100, 120), 0); /* max */
	CHECK_EQ(rfs_cat_keywin_touch(c, "default", 200, 210), 0);
	CHECK_EQ(rfs_cat_keywin_touch(c, "logs", 100, 101), 0);
	CHECK_EQ(rfs_cat_keywin_touch(c, "logs", 100, 180), 0);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_keywin_each(c, kw_cb, &k), 0);
	CHECK_EQ(k.n, 3);
	CHECK((i = kw_find(&k, "default", 100)) >= 0);
	CHECK_EQ(k.last[i], 150);
	CHECK((i = kw_find(&k, "default", 200)) >= 0);
	CHECK_EQ(k.last[i], 210);
	CHECK((i = kw_find(&k, "logs", 100)) >= 0);
	CHECK_EQ(k.last[i], 180);
	/* held: a held file with a key in the window. */
	CHECK_EQ(rfs_cat_keywin_held(c, "logs", 100), 0);
	attr_init(&a, S_IFREG | 0600, "logs");
	a.period = 100;
	a.hold = 1;
	a.has_key = 0;
	CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	CHECK_EQ(rfs_cat_keywin_held(c, "logs", 100), 0);  /* no key left */
	a.has_key = 1;
	CHECK_EQ(rfs_cat_inode_put(c, &a), 0);
	CHECK_EQ(rfs_cat_keywin_held(c, "logs", 100), 1);
	CHECK_EQ(rfs_cat_keywin_held(c, "logs", 200), 0);
	CHECK_EQ(rfs_cat_keywin_held(c, "default", 100), 0);
	a.hold = 0;
	CHECK_EQ(rfs_cat_inode_put(c, &a), 0);
	CHECK_EQ(rfs_cat_keywin_held(c, "logs", 100), 0);
	/* delete. */
	CHECK_EQ(rfs_cat_keywin_delete(c, "default", 100), 0);
	CHECK_EQ(rfs_cat_keywin_delete(c, "default", 999), 0);
	memset(&k, 0, sizeof(k));
	CHECK_EQ(rfs_cat_keywin_each(c, kw_cb, &k), 0);
	CHECK_EQ(k.n, 2);
	CHECK_EQ(kw_find(&k, "default", 100), -1);
	rfs_cat_close(c);
	teardown();
}

TEST(transactions)
{
	struct rfs_catalog *c = new_catalog();
	int64_t v = 0;

	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_begin(c), 0);
	CHECK_EQ(rfs_cat_meta_set(c, "t", 1), 0);
	rfs_cat_rollback(c);
	CHECK_EQ(rfs_cat_meta_get(c, "t", &v), -ENOENT);
	rfs_cat_rollback(c);                 /* no transaction: harmless */
	CHECK_EQ(rfs_cat_begin(c), 0);
	CHECK_EQ(rfs_cat_meta_set(c, "t", 2), 0);
	CHECK_EQ(rfs_cat_commit(c), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "t", &v), 0);
	CHECK_EQ(v, 2);
	CHECK_EQ(rfs_cat_sync(c), 0);
	CHECK_EQ(rfs_cat_checkpoint(c), 0);
	rfs_cat_close(c);
	/* Committed data survives a reopen. */
	c = NULL;
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "t", &v), 0);
	CHECK_EQ(v, 2);
	rfs_cat_close(c);
	teardown();
}

/* A small consistent tree: root / dir / file (nlink 2, two names). */
static struct rfs_catalog *
tree(uint64_t *dir, uint64_t *file)
{
	struct rfs_catalog *c = new_catalog();
	unsigned char h[RFS_HASH_BYTES];
	struct rfs_attr a;

	if (c == NULL)
		return NULL;
	attr_init(&a, S_IFDIR | 0755, "default");
	a.nlink = 2;
	if (rfs_cat_inode_insert(c, &a) != 0)
		goto fail;
	*dir = a.ino;
	hash_of(h, 1);
	if (rfs_cat_dirent_insert(c, RFS_ROOT_INO, h,
	    (const unsigned char *)"d", 1, *dir) != 0)
		goto fail;
	attr_init(&a, S_IFREG | 0644, "default");
	a.nlink = 2;
	if (rfs_cat_inode_insert(c, &a) != 0)
		goto fail;
	*file = a.ino;
	hash_of(h, 2);
	if (rfs_cat_dirent_insert(c, *dir, h, (const unsigned char *)"f", 1,
	    *file) != 0)
		goto fail;
	hash_of(h, 3);
	if (rfs_cat_dirent_insert(c, RFS_ROOT_INO, h,
	    (const unsigned char *)"g", 1, *file) != 0)
		goto fail;
	return c;
fail:
	rfs_cat_close(c);
	return NULL;
}

/* Builds the tree, closes it, breaks it with SQL, expects the check to
 * fail naming WHAT. */
static int
broken_by(const char *sqltext, const char *what)
{
	struct rfs_catalog *c;
	uint64_t dir = 0, file = 0;
	int rc;

	if ((c = tree(&dir, &file)) == NULL)
		return -1;
	rfs_cat_close(c);
	if (raw_sql(sqltext) != 0)
		return -2;
	c = NULL;
	if (rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)) != 0)
		return -3;
	err[0] = '\0';
	rc = rfs_cat_check(c, err, sizeof(err));
	rfs_cat_close(c);
	teardown();
	if (rc != -EUCLEAN || strstr(err, what) == NULL) {
		fprintf(stderr, "check after \"%s\": %d \"%s\"\n", sqltext, rc,
		    err);
		return -4;
	}
	return 0;
}

TEST(check_passes_on_fresh)
{
	struct rfs_catalog *c;
	uint64_t dir = 0, file = 0;

	c = new_catalog();
	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	teardown();
	c = tree(&dir, &file);
	CHECK(c != NULL);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	c = NULL;
	/* And after a reopen. */
	CHECK_EQ(rfs_cat_open(dbpath, 0, 1, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	teardown();
}

static int batches_opened, batches_allowed = 1;

static void
count_open(void *ctx)
{
	batches_opened++;
}

static int
allow(void *ctx)
{
	return batches_allowed;
}

/* Group commit: writes collect in one batch; an operation is a savepoint
 * in it; the batch reaches the file only at rfs_cat_flush. */
TEST(group_commit)
{
	struct rfs_catalog *c = NULL;
	int64_t v = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 1, 0, &c, err, sizeof(err)), 0);
	rfs_cat_set_batch(c, allow, count_open, NULL);
	CHECK_EQ(rfs_cat_pending(c), 0);
	CHECK_EQ(rfs_cat_meta_set(c, "a", 1), 0);
	CHECK_EQ(rfs_cat_pending(c), 1);
	CHECK_EQ(batches_opened, 1);
	CHECK_EQ(rfs_cat_unsynced(c), 1);
	/* An operation rolled back undoes itself only. */
	CHECK_EQ(rfs_cat_begin(c), 0);
	CHECK_EQ(rfs_cat_meta_set(c, "b", 2), 0);
	rfs_cat_rollback(c);
	CHECK_EQ(rfs_cat_pending(c), 1);
	CHECK_EQ(rfs_cat_meta_get(c, "a", &v), 0);
	CHECK_EQ(v, 1);
	CHECK(rfs_cat_meta_get(c, "b", &v) != 0);
	/* One committed goes into the batch, which stays open. */
	CHECK_EQ(rfs_cat_begin(c), 0);
	CHECK_EQ(rfs_cat_meta_set(c, "c", 3), 0);
	CHECK_EQ(rfs_cat_commit(c), 0);
	CHECK_EQ(rfs_cat_pending(c), 1);
	CHECK_EQ(batches_opened, 1);
	CHECK_EQ(rfs_cat_sync(c), 0);           /* flushes, then syncs */
	CHECK_EQ(rfs_cat_pending(c), 0);
	CHECK_EQ(rfs_cat_unsynced(c), 0);
	/* A batch refused: each write commits on its own. */
	batches_allowed = 0;
	CHECK_EQ(rfs_cat_meta_set(c, "d", 4), 0);
	CHECK_EQ(rfs_cat_pending(c), 0);
	CHECK_EQ(rfs_cat_begin(c), 0);
	CHECK_EQ(rfs_cat_meta_set(c, "e", 5), 0);
	CHECK_EQ(rfs_cat_commit(c), 0);
	CHECK_EQ(rfs_cat_pending(c), 0);
	batches_allowed = 1;
	/* What the last batch held is lost if the connection goes first. */
	CHECK_EQ(rfs_cat_meta_set(c, "lost", 6), 0);
	CHECK_EQ(rfs_cat_pending(c), 1);
	rfs_cat_close(c);
	c = NULL;
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "a", &v), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(rfs_cat_meta_get(c, "c", &v), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "d", &v), 0);
	CHECK_EQ(rfs_cat_meta_get(c, "e", &v), 0);
	CHECK_EQ(v, 5);
	CHECK(rfs_cat_meta_get(c, "b", &v) != 0);
	CHECK(rfs_cat_meta_get(c, "lost", &v) != 0);
	rfs_cat_close(c);
	teardown();
}

/*
 * One operation in a batch that changes more pages than the statement
 * journal keeps in memory: the journal moves to a temporary file and the
 * operation still succeeds (with a 1 MiB in-memory journal SQLite wrote
 * it short and failed with SQLITE_FULL: see STMT_JOURNAL_BYTES).
 */
TEST(large_operation_in_a_batch)
{
	enum { N = 12000 };
	struct rfs_catalog *c = NULL;
	struct rfs_attr a;
	uint64_t first = 0;
	int rc = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 1, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_begin(c), 0);
	for (int i = 0; i < N && rc == 0; i++) {
		attr_init(&a, S_IFREG | 0600, "default");
		rc = rfs_cat_inode_insert(c, &a);
		if (i == 0)
			first = a.ino;
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(rfs_cat_commit(c), 0);
	rfs_cat_set_batch(c, allow, count_open, NULL);
	CHECK_EQ(rfs_cat_meta_set(c, "before", 1), 0);
	/* Every inode page changed by one operation: several MiB. */
	CHECK_EQ(rfs_cat_begin(c), 0);
	for (int i = 0; i < N && rc == 0; i++) {
		if ((rc = rfs_cat_inode_get(c, first + (uint64_t)i, &a)) == 0) {
			a.size = 4096 + i;
			rc = rfs_cat_inode_put(c, &a);
		}
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(rfs_cat_commit(c), 0);
	/* And one that is undone restores every page. */
	CHECK_EQ(rfs_cat_begin(c), 0);
	for (int i = 0; i < N && rc == 0; i++) {
		if ((rc = rfs_cat_inode_get(c, first + (uint64_t)i, &a)) == 0) {
			a.size = 1;
			rc = rfs_cat_inode_put(c, &a);
		}
	}
	CHECK_EQ(rc, 0);
	rfs_cat_rollback(c);
	CHECK_EQ(rfs_cat_sync(c), 0);
	rfs_cat_close(c);
	c = NULL;
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	for (int i = 0; i < N && rc == 0; i += 997) {
		CHECK_EQ(rfs_cat_inode_get(c, first + (uint64_t)i, &a), 0);
		CHECK_EQ(a.size, 4096 + i);
	}
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), 0);
	rfs_cat_close(c);
	teardown();
}

TEST(check_without_root)
{
	struct rfs_catalog *c = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(rfs_cat_open(dbpath, 1, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_check(c, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "root") != NULL);
	rfs_cat_close(c);
	teardown();
}

/* In tree(), the file is the newest inode and the directory the oldest
 * after the root. */
#define FILE_INO "(SELECT max(ino) FROM inode)"
#define DIR_INO "(SELECT min(ino) FROM inode WHERE ino > 1)"

TEST(check_detects_broken_invariants)
{
	CHECK_EQ(broken_by("DELETE FROM inode WHERE ino = " FILE_INO,
	    "names missing inode"), 0);
	CHECK_EQ(broken_by("INSERT INTO dirent(parent, hash, id, ino, name)"
	    " VALUES (" FILE_INO " + 100, x'00', 1, 1, x'00')",
	    "missing parent"), 0);
	CHECK_EQ(broken_by("UPDATE inode SET nlink = 5 WHERE ino = " FILE_INO,
	    "has nlink 5 but 2 entries"), 0);
	CHECK_EQ(broken_by("UPDATE inode SET state = 1 WHERE ino = " FILE_INO,
	    "still has entries"), 0);
	CHECK_EQ(broken_by("UPDATE inode SET state = 2 WHERE ino = " DIR_INO,
	    "still has entries"), 0);
	CHECK_EQ(broken_by("DELETE FROM dirent WHERE parent = 1 AND ino = "
	    DIR_INO "; DELETE FROM inode WHERE ino = 1", "missing"), 0);
}

TEST(check_detects_page_corruption)
{
	unsigned char junk[1024];
	struct rfs_catalog *c;
	uint64_t dir = 0, file = 0;
	struct rfs_attr a;
	int fd, rc, page, psize;

	c = tree(&dir, &file);
	CHECK(c != NULL);
	/* Enough rows for the inode_state index to need interior pages. */
	for (int i = 0; i < 600; i++) {
		attr_init(&a, S_IFREG | 0600, "default");
		CHECK_EQ(rfs_cat_inode_insert(c, &a), 0);
	}
	CHECK_EQ(rfs_cat_checkpoint(c), 0);
	rfs_cat_close(c);
	page = raw_int("SELECT rootpage FROM sqlite_master WHERE name = ?1",
	    "inode_state");
	CHECK(page > 1);
	/* The page size, from the database header (big-endian at 16). */
	fd = open(dbpath, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, junk, 2, 16), 2);
	close(fd);
	psize = junk[0] << 8 | junk[1];
	CHECK(psize >= 1024 && psize <= 32768);
	/* Scribble over the cells at the end of the index's root page: open
	 * still works (it does not use the index), the check must not. */
	fd = open(dbpath, O_WRONLY);
	CHECK(fd >= 0);
	memset(junk, 0xa7, sizeof(junk));
	CHECK_EQ(pwrite(fd, junk, sizeof(junk), (off_t)page * psize -
	    (off_t)sizeof(junk)), sizeof(junk));
	close(fd);
	c = NULL;
	err[0] = '\0';
	CHECK_EQ(rfs_cat_open(dbpath, 0, 0, &c, err, sizeof(err)), 0);
	rc = rfs_cat_check(c, err, sizeof(err));
	rfs_cat_close(c);
	CHECK_EQ(rc, -EUCLEAN);
	CHECK(strstr(err, "integrity_check") != NULL);
	teardown();
}

int
main(void)
{
	RUN_TESTS("catalog",
	    CASE(create_open_close),
	    CASE(open_rejects_non_catalogs),
	    CASE(open_rejects_other_format),
	    CASE(format1_is_read_and_converted),
	    CASE(meta),
	    CASE(inode_crud),
	    CASE(inode_each),
	    CASE(dirents),
	    CASE(xattrs),
	    CASE(counts),
	    CASE(events),
	    CASE(audit_rows),
	    CASE(keywin),
	    CASE(transactions),
	    CASE(group_commit),
	    CASE(large_operation_in_a_batch),
	    CASE(check_passes_on_fresh),
	    CASE(check_without_root),
	    CASE(check_detects_broken_invariants),
	    CASE(check_detects_page_corruption));
}
