/*
 * catalog.c - SQLite access for catalog.h.
 *
 * Every statement is prepared once (stmt[] below) and reset after use.
 * Errors from SQLite become negative errno values: SQLITE_CONSTRAINT on a
 * unique key is -EEXIST, a full disk -ENOSPC, a corrupt file -EUCLEAN,
 * anything else -EIO (and a log line).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rfs/catalog.h"
#include "rfs/log.h"

#define RFS_FORMAT_VERSION 2

/*
 * When the WAL is copied into the database (wal_hook).  A checkpoint (WAL
 * pages copied into the database, both files synced) runs under the
 * caller's lock and stalls every catalog user for milliseconds.  SQLite's
 * default, every 1,000 pages, meant one stall of 3-5 ms per ~1,000 files
 * shredded; at 16,384 pages (64 MiB of WAL) a sweep runs without one
 * until its own closing checkpoint (admin.c).
 *
 * But a WAL only grows until a checkpoint lets it start over, and 64 MiB
 * is more than a small or nearly full backing filesystem has: datacheck
 * on a 60 MB one failed with ENOSPC after 8,600 operations, 57 MB of it
 * WAL frames long superseded.  So the WAL may also take at most 1/8 of
 * the space left free; past that, a TRUNCATE checkpoint copies it into
 * the database and gives its space back to the filesystem.
 */
#define WAL_CHECKPOINT_PAGES 16384
#define WAL_SHARE_OF_FREE 8
#define WAL_MIN_PAGES 16

/*
 * Space for the next commits, allocated ahead past the WAL's end (with
 * KEEP_SIZE, so SQLite sees no change).  A COMMIT that cannot write its
 * frames is rolled back whole by SQLite, and with group commit that is up
 * to 100 ms of other people's changes; the space left can go at any moment
 * (another program, an allocation).  At most WAL_RESERVE, and no more
 * than 1/WAL_SHARE_OF_FREE of the space free; renewed when half is used.
 */
#define WAL_RESERVE (8ULL << 20)

/*
 * Directory entries are keyed by (parent, hash) in a WITHOUT ROWID table,
 * so a lookup reads one B-tree leaf for the entry; format 1 kept them in a
 * rowid table beside a UNIQUE(parent, hash) index, two leaves per lookup,
 * each a read from disk once a directory outgrows the page cache.  id is
 * the entry's readdir offset, increasing within its directory (the
 * largest in the directory plus one, see S_DE_INSERT).
 */
/* Trashed files by the directory they were deleted from (state 1 is
 * RFS_TRASH): an rmdir moves them up the tree (fs_namespace.c).  Added to
 * older catalogs by a read-write open. */
#define TRASH_DIR_INDEX \
    "CREATE INDEX IF NOT EXISTS inode_trash_dir ON inode(del_parent)" \
    " WHERE state = 1;"
#define DIRENT_SCHEMA \
    "CREATE TABLE dirent(parent INTEGER NOT NULL, hash BLOB NOT NULL," \
    " id INTEGER NOT NULL, ino INTEGER NOT NULL, name BLOB NOT NULL," \
    " PRIMARY KEY(parent, hash)) WITHOUT ROWID;" \
    "CREATE UNIQUE INDEX dirent_parent ON dirent(parent, id);" \
    "CREATE INDEX dirent_ino ON dirent(ino);"

static const char schema[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
    "CREATE TABLE inode("
    " ino INTEGER PRIMARY KEY AUTOINCREMENT,"
    " mode INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
    " nlink INTEGER NOT NULL, size INTEGER NOT NULL, rdev INTEGER NOT NULL,"
    " atime INTEGER NOT NULL, mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,"
    " created INTEGER NOT NULL, class TEXT NOT NULL, period INTEGER NOT NULL,"
    " wkey BLOB, link BLOB, hold INTEGER NOT NULL DEFAULT 0,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " del_time INTEGER, del_uid INTEGER, del_parent INTEGER, del_path BLOB,"
    " objlen INTEGER NOT NULL DEFAULT 0, tail BLOB,"
    " writing INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX inode_state ON inode(state, ino);"
    TRASH_DIR_INDEX
    DIRENT_SCHEMA
    "CREATE TABLE xattr(ino INTEGER NOT NULL, hash BLOB NOT NULL,"
    " name BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY(ino, hash))"
    " WITHOUT ROWID;"
    "CREATE TABLE event(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ino INTEGER NOT NULL, at INTEGER NOT NULL, set_time INTEGER NOT NULL,"
    " set_uid INTEGER NOT NULL, reason BLOB);"
    "CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL, op TEXT NOT NULL, ino INTEGER NOT NULL,"
    " class TEXT NOT NULL, uid INTEGER NOT NULL, detail BLOB,"
    " mac BLOB NOT NULL);"
    "CREATE TABLE keywin(class TEXT NOT NULL, start INTEGER NOT NULL,"
    " last_created INTEGER NOT NULL, PRIMARY KEY(class, start))"
    " WITHOUT ROWID;";

enum {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_META_GET, S_META_SET,
	S_INO_INSERT, S_INO_GET, S_INO_PUT, S_INO_DELETE,
	S_INO_SET_LINK, S_INO_GET_LINK, S_INO_SET_DELPATH, S_INO_GET_DELPATH,
	S_INO_EACH,
	S_DE_LOOKUP, S_DE_INSERT, S_DE_DELETE, S_DE_EACH, S_DE_ANY, S_DE_OF,
	S_DE_PARENTS, S_DE_DELETE_INO, S_INO_TRASH_IN,
	S_XA_GET, S_XA_SET, S_XA_REMOVE, S_XA_DELALL, S_XA_NAMES,
	S_COUNTS,
	S_EV_INSERT, S_EV_DELETE, S_EV_EACH,
	S_AU_INSERT, S_AU_LAST, S_AU_EACH, S_AU_PRUNE,
	S_KW_TOUCH, S_KW_EACH, S_KW_DELETE, S_KW_HELD, S_KW_KNOWN,
	S_COUNT
};

#define INODE_COLS "ino, mode, uid, gid, nlink, size, rdev, atime, mtime," \
	" ctime, created, class, period, wkey, hold, state, del_time, del_uid," \
	" del_parent, objlen, tail, writing"

static const char *const sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT op",
	[S_RELEASE] = "RELEASE op",
	[S_ROLLBACK_TO] = "ROLLBACK TO op",
	[S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[S_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
	[S_INO_INSERT] = "INSERT INTO inode(ino, mode, uid, gid, nlink, size,"
	    " rdev, atime, mtime, ctime, created, class, period, wkey, hold,"
	    " state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	    " ?13, ?14, ?15, ?16)",
	[S_INO_GET] = "SELECT " INODE_COLS " FROM inode WHERE ino = ?1",
	[S_INO_PUT] = "UPDATE inode SET mode = ?2, uid = ?3, gid = ?4,"
	    " nlink = ?5, size = ?6, rdev = ?7, atime = ?8, mtime = ?9,"
	    " ctime = ?10, created = ?11, class = ?12, period = ?13, wkey = ?14,"
	    " hold = ?15, state = ?16, del_time = ?17, del_uid = ?18,"
	    " del_parent = ?19, objlen = ?20, tail = ?21, writing = ?22"
	    " WHERE ino = ?1",
	[S_INO_DELETE] = "DELETE FROM inode WHERE ino = ?1",
	[S_INO_SET_LINK] = "UPDATE inode SET link = ?2 WHERE ino = ?1",
	[S_INO_GET_LINK] = "SELECT link FROM inode WHERE ino = ?1",
	[S_INO_SET_DELPATH] = "UPDATE inode SET del_path = ?2 WHERE ino = ?1",
	[S_INO_GET_DELPATH] = "SELECT del_path FROM inode WHERE ino = ?1",
	[S_INO_EACH] = "SELECT " INODE_COLS " FROM inode WHERE state = ?1"
	    " AND ino > ?2 ORDER BY ino LIMIT ?3",
	[S_DE_LOOKUP] = "SELECT ino FROM dirent WHERE parent = ?1 AND hash = ?2",
	[S_DE_INSERT] = "INSERT INTO dirent(parent, hash, id, ino, name)"
	    " VALUES (?1, ?2, coalesce((SELECT max(id) FROM dirent"
	    " WHERE parent = ?1), 0) + 1, ?4, ?3)",
	[S_DE_DELETE] = "DELETE FROM dirent WHERE parent = ?1 AND hash = ?2",
	[S_DE_EACH] = "SELECT id, ino, name FROM dirent WHERE parent = ?1"
	    " AND id > ?2 ORDER BY id",
	[S_DE_ANY] = "SELECT 1 FROM dirent WHERE parent = ?1 LIMIT 1",
	[S_DE_OF] = "SELECT parent, name FROM dirent WHERE ino = ?1 LIMIT 1",
	[S_DE_PARENTS] = "SELECT DISTINCT parent FROM dirent WHERE ino = ?1",
	[S_DE_DELETE_INO] = "DELETE FROM dirent WHERE ino = ?1",
	[S_INO_TRASH_IN] = "SELECT ino FROM inode WHERE state = 1"
	    " AND del_parent = ?1",
	[S_XA_GET] = "SELECT value FROM xattr WHERE ino = ?1 AND hash = ?2",
	[S_XA_SET] = "INSERT OR REPLACE INTO xattr(ino, hash, name, value)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[S_XA_REMOVE] = "DELETE FROM xattr WHERE ino = ?1 AND hash = ?2",
	[S_XA_DELALL] = "DELETE FROM xattr WHERE ino = ?1",
	[S_XA_NAMES] = "SELECT name FROM xattr WHERE ino = ?1",
	[S_COUNTS] = "SELECT count(*), coalesce(sum(size), 0) FROM inode"
	    " WHERE state = 0",
	[S_EV_INSERT] = "INSERT INTO event(ino, at, set_time, set_uid, reason)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_EV_DELETE] = "DELETE FROM event WHERE id = ?1",
	[S_EV_EACH] = "SELECT id, ino, at, set_time, set_uid, reason FROM event"
	    " ORDER BY id",
	[S_AU_INSERT] = "INSERT INTO audit(time, op, ino, class, uid, detail,"
	    " mac, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_AU_LAST] = "SELECT id, time, op, ino, class, uid, detail, mac"
	    " FROM audit ORDER BY id DESC LIMIT 1",
	[S_AU_EACH] = "SELECT id, time, op, ino, class, uid, detail, mac"
	    " FROM audit WHERE time >= ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	[S_AU_PRUNE] = "DELETE FROM audit WHERE id <= ?1",
	[S_KW_TOUCH] = "INSERT INTO keywin(class, start, last_created)"
	    " VALUES (?1, ?2, ?3) ON CONFLICT(class, start) DO UPDATE SET"
	    " last_created = max(last_created, excluded.last_created)",
	[S_KW_EACH] = "SELECT class, start, last_created FROM keywin",
	[S_KW_DELETE] = "DELETE FROM keywin WHERE class = ?1 AND start = ?2",
	[S_KW_KNOWN] = "SELECT 1 FROM keywin WHERE class = ?1 AND start = ?2",
	[S_KW_HELD] = "SELECT 1 FROM inode WHERE class = ?1 AND period = ?2"
	    " AND hold != 0 AND wkey IS NOT NULL LIMIT 1",
};

struct rfs_catalog {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	unsigned char writes[S_COUNT];    /* statement I changes the database */
	char *wal_path;
	int wal_fd;
	uint64_t wal_len;                 /* the WAL's length at the last commit */
	uint64_t wal_reserved;            /* allocated up to here (wal_reserve) */
	int page_size;
	int batch;                        /* group commit on */
	int unsynced;                     /* written since the last sync */
	int (*may_open)(void *);          /* 0: no batch now, commit each */
	void (*opened)(void *);           /* a batch began */
	void *batch_ctx;
};

static int
errno_of(struct rfs_catalog *c, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_FULL:
		rfs_err("catalog: %s: disk full", what);
		return -ENOSPC;
	case SQLITE_CORRUPT: case SQLITE_NOTADB:
		rfs_err("catalog: %s: catalog is corrupt", what);
		return -EUCLEAN;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		rfs_err("catalog: %s: %s", what,
		    c != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return -EIO;
	}
}

static sqlite3_stmt *
st(struct rfs_catalog *c, int i)
{
	return c->stmt[i];
}

static void
done(struct rfs_catalog *c, int i)
{
	sqlite3_reset(c->stmt[i]);
	sqlite3_clear_bindings(c->stmt[i]);
}

/* Under group commit, opens the batch that a write will go into. */
static int
batch_enter(struct rfs_catalog *c)
{
	int rc;

	if (!c->batch || !sqlite3_get_autocommit(c->db))
		return 0;
	if (c->may_open != NULL && !c->may_open(c->batch_ctx))
		return 0;
	rc = sqlite3_step(c->stmt[S_BEGIN]);
	sqlite3_reset(c->stmt[S_BEGIN]);
	if (rc != SQLITE_DONE)
		return errno_of(c, rc, sql[S_BEGIN]);
	if (c->opened != NULL)
		c->opened(c->batch_ctx);
	return 0;
}

/* Steps a statement that returns no rows, then resets it. */
static int
exec_stmt(struct rfs_catalog *c, int i)
{
	int rc = c->writes[i] ? batch_enter(c) : 0;

	if (rc != 0) {
		done(c, i);
		return rc;
	}
	c->unsynced |= c->writes[i];
	rc = sqlite3_step(c->stmt[i]);

	sqlite3_reset(c->stmt[i]);
	sqlite3_clear_bindings(c->stmt[i]);
	return rc == SQLITE_DONE ? 0 : errno_of(c, rc, sql[i]);
}

static int
exec_sql(struct rfs_catalog *c, const char *s)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, s, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		rfs_err("catalog: %s", msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return errno_of(NULL, rc, "exec");
	}
	return 0;
}

void
rfs_cat_close(struct rfs_catalog *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	if (c->wal_fd >= 0)
		close(c->wal_fd);
	free(c->wal_path);
	free(c);
}

/*
 * The statement journal.  Every operation is a savepoint inside the open
 * batch, and SQLite keeps the first copy of each page a savepoint changes
 * in a statement journal: in memory up to a limit, past it in a temporary
 * file that stays a file until the batch commits.  At SQLite's 64 KiB one
 * large operation moved the rest of its batch to the file: two writes per
 * page changed, 27 system calls and 28 KiB written per small-file create.
 *
 * The limit must stay below 128 KiB.  The in-memory journal is one buffer
 * of the limit's size, written to the file in a single write when it
 * spills, and SQLite's unix layer masks a write's length to 17 bits: a
 * 128 KiB buffer or larger is written short and the operation fails with
 * SQLITE_FULL, which callers would see as a full disk (a 1 MiB limit did
 * exactly that for any operation changing more than 256 pages).  SQLite
 * takes this setting only before its first use, hence once, here.
 */
#define STMT_JOURNAL_BYTES (127 << 10)

static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void
configure_sqlite(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_BYTES);
}

/*
 * Format 1 differs from 2 in the dirent table only (see DIRENT_SCHEMA).  A
 * read-write open converts it in one transaction, keeping every entry's
 * id, so open directory streams keep their offsets; a read-only open (a
 * backup, fsck) reads it as it is: every query here reads both.
 */
static const char format1_upgrade[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE dirent RENAME TO dirent_v1;"
    "DROP INDEX dirent_parent;"
    "DROP INDEX dirent_ino;"
    DIRENT_SCHEMA
    "INSERT INTO dirent(parent, hash, id, ino, name)"
    " SELECT parent, hash, id, ino, name FROM dirent_v1;"
    "DROP TABLE dirent_v1;"
    "UPDATE meta SET value = 2 WHERE key = 'format';"
    "COMMIT;";

/* The WAL's descriptor (opened on first use), or -1 with errno set.
 * Read-write to reserve space (wal_reserve); a read-only catalog's only
 * syncs it. */
static int
wal_fd(struct rfs_catalog *c)
{
	if (c->wal_fd < 0) {
		c->wal_fd = open(c->wal_path, O_RDWR | O_CLOEXEC);
		if (c->wal_fd < 0 && (errno == EROFS || errno == EACCES))
			c->wal_fd = open(c->wal_path, O_RDONLY | O_CLOEXEC);
	}
	return c->wal_fd;
}

/* Keeps space allocated past the WAL's end: see WAL_RESERVE. */
static void
wal_reserve(struct rfs_catalog *c, unsigned long long avail)
{
	unsigned long long want = avail / WAL_SHARE_OF_FREE;
	struct stat sb;

	if (fstat(c->wal_fd, &sb) != 0)
		return;
	if (want > WAL_RESERVE)
		want = WAL_RESERVE;
	/* A shorter WAL was truncated (a TRUNCATE checkpoint), and what
	 * was allocated past its end went with it. */
	if ((uint64_t)sb.st_size >= c->wal_len &&
	    (uint64_t)sb.st_size + want / 2 <= c->wal_reserved) {
		c->wal_len = (uint64_t)sb.st_size;
		return;
	}
	c->wal_len = (uint64_t)sb.st_size;
	c->wal_reserved = c->wal_len;
	if (want > 0 && fallocate(c->wal_fd, FALLOC_FL_KEEP_SIZE, sb.st_size,
	    (off_t)want) == 0)
		c->wal_reserved += want;
}

/* SQLite's hook after each commit: FRAMES pages are in the WAL.  See
 * WAL_CHECKPOINT_PAGES for when it checkpoints, and why. */
static int
wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct rfs_catalog *c = ctx;
	unsigned long long avail = ULLONG_MAX;
	struct statvfs sv;
	int mode = -1;

	if (wal_fd(c) >= 0 && fstatvfs(c->wal_fd, &sv) == 0)
		avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (frames >= WAL_CHECKPOINT_PAGES)
		mode = SQLITE_CHECKPOINT_PASSIVE;
	else if (frames >= WAL_MIN_PAGES && (unsigned long long)frames *
	    (unsigned)c->page_size > avail / WAL_SHARE_OF_FREE)
		mode = SQLITE_CHECKPOINT_TRUNCATE;
	/* A checkpoint that fails (the disk too full even for the
	 * database's growth) leaves the WAL as it was: the next commit
	 * tries again. */
	if (mode >= 0)
		(void)sqlite3_wal_checkpoint_v2(db, name, mode, NULL, NULL);
	if (c->wal_fd >= 0 && avail != ULLONG_MAX)
		wal_reserve(c, avail);
	return SQLITE_OK;
}

/* The integer a one-row PRAGMA answers, or -1. */
static int
pragma_int(struct rfs_catalog *c, const char *query)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(c->db, query, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Reads the catalog's format; converts format 1 when READONLY is 0. */
static int
format_check(struct rfs_catalog *c, int readonly, const char *path,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int64_t fmt = -1;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta"
	    " WHERE key = 'format'", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		fmt = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "catalog %s is corrupt or unreadable: %s",
		    path, rc == SQLITE_DONE ? "no format recorded" :
		    sqlite3_errmsg(c->db));
		return -EUCLEAN;
	}
	if (fmt == 1 && !readonly) {
		if (sqlite3_exec(c->db, format1_upgrade, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "catalog %s: converting format 1"
			    " to 2 failed: %s", path, sqlite3_errmsg(c->db));
			if (!sqlite3_get_autocommit(c->db))
				(void)sqlite3_exec(c->db, "ROLLBACK", NULL,
				    NULL, NULL);
			return -EUCLEAN;
		}
		rfs_info("catalog %s converted from format 1 to 2", path);
		return 0;
	}
	if (fmt != RFS_FORMAT_VERSION && fmt != 1) {
		snprintf(err, errlen, "catalog %s has format %lld, this build"
		    " reads formats 1 and %d", path, (long long)fmt,
		    RFS_FORMAT_VERSION);
		return -EPROTO;
	}
	return 0;
}

/*
 * A read-only reader of a WAL database needs its -shm file.  When the first
 * read fails for it (RC), how to open the catalog instead:
 *   READER_AS_IS   the failure is something else;
 *   READER_IMMUTABLE  the WAL holds nothing (a clean unmount leaves none):
 *       an immutable reader needs no -shm, and skipping the WAL loses
 *       nothing;
 *   READER_COPY    the WAL holds commits (a copy of a live store, a
 *       snapshot): they are read from a private copy (open_copy).
 * The -shm file cannot be made on a read-only filesystem (CANTOPEN: a
 * backup on read-only media, -o ro) nor written on a full one (IOERR:
 * fsck and the offline admin commands said "disk I/O error").
 */
enum { READER_AS_IS, READER_IMMUTABLE, READER_COPY };

static int
reader_fallback(struct rfs_catalog *c, int rc)
{
	struct stat sb;

	if (rc != SQLITE_CANTOPEN && (rc & 0xff) != SQLITE_IOERR)
		return READER_AS_IS;
	if (stat(c->wal_path, &sb) != 0)
		return errno == ENOENT ? READER_IMMUTABLE : READER_AS_IS;
	return sb.st_size == 0 ? READER_IMMUTABLE : READER_COPY;
}

/* Copies the file SRC to NAME in DIRFD (0600); 0 or -errno. */
static int
copy_into(const char *src, int dirfd, const char *name)
{
	ssize_t n = 1;
	int in, out, rc = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (out < 0)
		rc = -errno;
	while (rc == 0 && (n = sendfile(out, in, NULL, 1 << 30)) > 0)
		;
	if (rc == 0 && n < 0)
		rc = -errno;
	if (out >= 0 && close(out) != 0 && rc == 0)
		rc = -errno;
	close(in);
	return rc;
}

/*
 * Opens a copy of the catalog PATH and its WAL, made in a private directory
 * under $TMPDIR, read-only: SQLite applies the WAL and keeps its -shm there.
 * The copies are unlinked once the first read has opened all three files
 * (SQLite goes on with the descriptors), so nothing stays behind.
 */
static int
open_copy(struct rfs_catalog *c, const char *path, int flags)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], db[PATH_MAX + 16];
	int dfd, rc = SQLITE_CANTOPEN;

	snprintf(dir, sizeof(dir), "%s/rfs-catalog.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return SQLITE_CANTOPEN;
	snprintf(db, sizeof(db), "%s/catalog.db", dir);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0 &&
	    copy_into(path, dfd, "catalog.db") == 0 &&
	    copy_into(c->wal_path, dfd, "catalog.db-wal") == 0) {
		rc = sqlite3_open_v2(db, &c->db, flags, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(c->db, "SELECT 1 FROM sqlite_master"
			    " LIMIT 1", NULL, NULL, NULL);
	}
	if (dfd >= 0) {
		(void)unlinkat(dfd, "catalog.db", 0);
		(void)unlinkat(dfd, "catalog.db-wal", 0);
		(void)unlinkat(dfd, "catalog.db-shm", 0);
		close(dfd);
	}
	(void)rmdir(dir);
	return rc;
}

int
rfs_cat_open(const char *path, int create, int readonly,
    struct rfs_catalog **out, char *err, size_t errlen)
{
	struct rfs_catalog *c;
	int flags, rc;

	*out = NULL;
	(void)pthread_once(&config_once, configure_sqlite);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->wal_fd = -1;
	if (asprintf(&c->wal_path, "%s-wal", path) < 0) {
		free(c);
		return -ENOMEM;
	}
	flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE) | (create ? SQLITE_OPEN_CREATE : 0);
	if (!create && access(path, F_OK) != 0) {
		snprintf(err, errlen, "catalog %s is missing", path);
		rc = -ENOENT;
		goto fail;
	}
	rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc == SQLITE_OK && readonly) {
		int how = reader_fallback(c, sqlite3_exec(c->db,
		    "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL));

		if (how != READER_AS_IS) {
			sqlite3_close(c->db);
			c->db = NULL;
		}
		if (how == READER_IMMUTABLE) {
			char *uri = sqlite3_mprintf("file:%s?immutable=1",
			    path);

			rc = uri ? sqlite3_open_v2(uri, &c->db,
			    flags | SQLITE_OPEN_URI, NULL) : SQLITE_NOMEM;
			sqlite3_free(uri);
		} else if (how == READER_COPY) {
			rc = open_copy(c, path, flags);
		}
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open catalog %s: %s", path,
		    sqlite3_errstr(rc));
		rc = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 5000);
	/*
	 * secure_delete: freed pages are zeroed, so deleted keys and names do
	 * not linger in the file.  WAL: a commit is one append.
	 * synchronous=NORMAL: without an fsync; fsync/fsyncdir make it
	 * durable through rfs_cat_sync.  Exclusive locking: a writer holds
	 * the lock until it closes, the WAL index lives in its memory (no
	 * -shm file), and a transaction takes no file locks: a dozen fewer
	 * system calls per operation.  The store's flock already keeps every
	 * other writer and reader of ours out while one is open.
	 */
	if (exec_sql(c, "PRAGMA secure_delete = ON;"
	    "PRAGMA foreign_keys = OFF;") != 0)
		goto corrupt;
	if (!readonly && exec_sql(c, "PRAGMA locking_mode = EXCLUSIVE;"
	    "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = NORMAL;") != 0)
		goto corrupt;
	if (!readonly) {
		if ((c->page_size = pragma_int(c, "PRAGMA page_size")) <= 0)
			goto corrupt;
		/* Replaces SQLite's own autocheckpoint. */
		sqlite3_wal_hook(c->db, wal_hook, c);
	}
	if (create) {
		if (exec_sql(c, schema) != 0)
			goto corrupt;
	} else if ((rc = format_check(c, readonly, path, err, errlen)) != 0) {
		goto fail;
	} else if (!readonly && exec_sql(c, TRASH_DIR_INDEX) != 0) {
		goto corrupt;
	}
	for (int i = 0; i < S_COUNT; i++) {
		rc = sqlite3_prepare_v3(c->db, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &c->stmt[i], NULL);
		if (rc != SQLITE_OK)
			goto corrupt;
		/* Transaction control counts as read-only here too. */
		c->writes[i] = !sqlite3_stmt_readonly(c->stmt[i]);
	}
	if (create && rfs_cat_meta_set(c, "format", RFS_FORMAT_VERSION) != 0)
		goto corrupt;
	*out = c;
	return 0;
corrupt:
	snprintf(err, errlen, "catalog %s is corrupt or unreadable: %s", path,
	    sqlite3_errmsg(c->db));
	rc = -EUCLEAN;
fail:
	rfs_cat_close(c);
	return rc;
}

void
rfs_cat_set_batch(struct rfs_catalog *c, int (*may_open)(void *),
    void (*opened)(void *), void *ctx)
{
	c->batch = opened != NULL;
	c->may_open = may_open;
	c->opened = opened;
	c->batch_ctx = ctx;
}

/*
 * Starts writing a committed batch's WAL frames to disk without waiting
 * for them.  Commits are not synced (synchronous=NORMAL), so the frames
 * used to stay dirty in the page cache until a checkpoint's fdatasync of
 * the WAL wrote them all at once: 64 MiB, 40-50 ms with the catalog held,
 * and every lookup and create waited.  Written as they come, the same
 * bytes reach the disk once, and that fdatasync (and an fsync's) finds
 * little left to do.
 */
static void
wal_writeback(struct rfs_catalog *c)
{
	int fd = wal_fd(c);

	if (fd >= 0)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

int
rfs_cat_flush(struct rfs_catalog *c)
{
	int rc;

	if (sqlite3_get_autocommit(c->db))
		return 0;
	rc = sqlite3_step(c->stmt[S_COMMIT]);
	sqlite3_reset(c->stmt[S_COMMIT]);
	if (rc == SQLITE_DONE) {
		wal_writeback(c);
		return 0;
	}
	rc = errno_of(c, rc, "commit");
	if (sqlite3_get_autocommit(c->db))
		rfs_err("catalog: a batch of changes was lost: %s",
		    strerror(-rc));
	return rc;
}

int
rfs_cat_pending(struct rfs_catalog *c)
{
	return !sqlite3_get_autocommit(c->db);
}

int
rfs_cat_sync(struct rfs_catalog *c)
{
	int rc = rfs_cat_flush(c);

	if (rc != 0)
		return rc;
	if (wal_fd(c) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fdatasync(c->wal_fd) != 0)
		return -errno;
	c->unsynced = 0;
	return 0;
}

int
rfs_cat_unsynced(struct rfs_catalog *c)
{
	return c->unsynced;
}

int
rfs_cat_checkpoint(struct rfs_catalog *c)
{
	int rc = rfs_cat_flush(c);

	if (rc != 0)
		return rc;
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

	/* SQLITE_BUSY: a reader holds an old snapshot; the next one wins. */
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 :
	    errno_of(c, rc, "checkpoint");
}

static int
check_cb(void *ctx, int n, char **vals, char **names)
{
	char *res = ctx;

	if (n > 0 && vals[0] != NULL && res[0] == '\0')
		snprintf(res, 256, "%s", vals[0]);
	return 0;
}

int
rfs_cat_check(struct rfs_catalog *c, char *err, size_t errlen)
{
	/* Each query returns rows only when an invariant is broken. */
	static const char *const inv[] = {
	    "SELECT 'dirent ' || parent || '/' || id || ' names missing inode '"
	    " || ino"
	    " FROM dirent WHERE ino NOT IN (SELECT ino FROM inode) LIMIT 1",
	    "SELECT 'dirent ' || parent || '/' || id || ' has missing parent'"
	    " FROM dirent WHERE parent NOT IN (SELECT ino FROM inode) LIMIT 1",
	    "SELECT 'live inode ' || i.ino || ' has nlink ' || i.nlink ||"
	    " ' but ' || count(d.id) || ' entries' FROM inode i LEFT JOIN"
	    " dirent d ON d.ino = i.ino WHERE i.state = 0 AND i.ino != 1 AND"
	    " (i.mode & 61440) != 16384 GROUP BY i.ino"
	    " HAVING count(d.id) != i.nlink AND count(d.id) > 0 LIMIT 1",
	    "SELECT 'trashed inode ' || ino || ' still has entries' FROM inode"
	    " WHERE state != 0 AND ino IN (SELECT ino FROM dirent) LIMIT 1",
	    "SELECT 'root inode missing' WHERE NOT EXISTS"
	    " (SELECT 1 FROM inode WHERE ino = 1)",
	};
	char res[256] = "";
	int rc;

	rc = sqlite3_exec(c->db, "PRAGMA integrity_check", check_cb, res, NULL);
	if (rc != SQLITE_OK || strcmp(res, "ok") != 0) {
		snprintf(err, errlen, "integrity_check: %s",
		    res[0] ? res : sqlite3_errmsg(c->db));
		return -EUCLEAN;
	}
	for (size_t i = 0; i < sizeof(inv) / sizeof(inv[0]); i++) {
		res[0] = '\0';
		rc = sqlite3_exec(c->db, inv[i], check_cb, res, NULL);
		if (rc != SQLITE_OK || res[0] != '\0') {
			snprintf(err, errlen, "invariant: %s",
			    res[0] ? res : sqlite3_errmsg(c->db));
			return -EUCLEAN;
		}
	}
	return 0;
}

/*
 * Without group commit an operation is a transaction; with it, a savepoint
 * in the open batch (opened here if need be), released into the batch on
 * commit and undone on rollback.  When no batch may open, the savepoint is
 * a transaction of its own, committed by its release.
 */
int
rfs_cat_begin(struct rfs_catalog *c)
{
	int rc;

	if (!c->batch)
		return exec_stmt(c, S_BEGIN);
	if ((rc = batch_enter(c)) != 0)
		return rc;
	return exec_stmt(c, S_SAVEPOINT);
}

int
rfs_cat_commit(struct rfs_catalog *c)
{
	int rc = exec_stmt(c, c->batch ? S_RELEASE : S_COMMIT);

	if (rc != 0)
		rfs_cat_rollback(c);
	return rc;
}

void
rfs_cat_rollback(struct rfs_catalog *c)
{
	if (sqlite3_get_autocommit(c->db))
		return;
	if (!c->batch) {
		(void)exec_stmt(c, S_ROLLBACK);
	} else if (exec_stmt(c, S_ROLLBACK_TO) == 0) {
		(void)exec_stmt(c, S_RELEASE);
	}
}

int
rfs_cat_meta_get(struct rfs_catalog *c, const char *key, int64_t *v)
{
	sqlite3_stmt *s = st(c, S_META_GET);
	int rc;

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : errno_of(c, rc, "meta");
	}
	done(c, S_META_GET);
	return rc;
}

int
rfs_cat_meta_set(struct rfs_catalog *c, const char *key, int64_t v)
{
	sqlite3_stmt *s = st(c, S_META_SET);

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, v);
	return exec_stmt(c, S_META_SET);
}

static void
bind_attr(sqlite3_stmt *s, const struct rfs_attr *a, int with_ino)
{
	if (with_ino)
		sqlite3_bind_int64(s, 1, (int64_t)a->ino);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int64(s, 2, a->mode);
	sqlite3_bind_int64(s, 3, a->uid);
	sqlite3_bind_int64(s, 4, a->gid);
	sqlite3_bind_int64(s, 5, a->nlink);
	sqlite3_bind_int64(s, 6, (int64_t)a->size);
	sqlite3_bind_int64(s, 7, (int64_t)a->rdev);
	sqlite3_bind_int64(s, 8, a->atime);
	sqlite3_bind_int64(s, 9, a->mtime);
	sqlite3_bind_int64(s, 10, a->ctime);
	sqlite3_bind_int64(s, 11, a->created);
	sqlite3_bind_text(s, 12, a->class, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 13, a->period);
	if (a->has_key)
		sqlite3_bind_blob(s, 14, a->wkey, RFS_WRAPPED_BYTES,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 14);
	sqlite3_bind_int(s, 15, a->hold);
	sqlite3_bind_int(s, 16, a->state);
}

static void
read_attr(sqlite3_stmt *s, struct rfs_attr *a)
{
	const void *k;
	const char *cls;

	memset(a, 0, sizeof(*a));
	a->ino = (uint64_t)sqlite3_column_int64(s, 0);
	a->mode = (uint32_t)sqlite3_column_int64(s, 1);
	a->uid = (uint32_t)sqlite3_column_int64(s, 2);
	a->gid = (uint32_t)sqlite3_column_int64(s, 3);
	a->nlink = (uint32_t)sqlite3_column_int64(s, 4);
	a->size = (uint64_t)sqlite3_column_int64(s, 5);
	a->rdev = (uint64_t)sqlite3_column_int64(s, 6);
	a->atime = sqlite3_column_int64(s, 7);
	a->mtime = sqlite3_column_int64(s, 8);
	a->ctime = sqlite3_column_int64(s, 9);
	a->created = sqlite3_column_int64(s, 10);
	cls = (const char *)sqlite3_column_text(s, 11);
	snprintf(a->class, sizeof(a->class), "%s", cls != NULL ? cls : "");
	a->period = sqlite3_column_int64(s, 12);
	k = sqlite3_column_blob(s, 13);
	if (k != NULL && sqlite3_column_bytes(s, 13) == RFS_WRAPPED_BYTES) {
		memcpy(a->wkey, k, RFS_WRAPPED_BYTES);
		a->has_key = 1;
	}
	a->hold = sqlite3_column_int(s, 14);
	a->state = sqlite3_column_int(s, 15);
	a->del_time = sqlite3_column_int64(s, 16);
	a->del_uid = (uint32_t)sqlite3_column_int64(s, 17);
	a->del_parent = (uint64_t)sqlite3_column_int64(s, 18);
	a->objlen = (uint64_t)sqlite3_column_int64(s, 19);
	k = sqlite3_column_blob(s, 20);
	if (k != NULL && sqlite3_column_bytes(s, 20) == RFS_NONCE_BYTES) {
		memcpy(a->tail, k, RFS_NONCE_BYTES);
		a->has_tail = 1;
	}
	a->writing = sqlite3_column_int(s, 21);
}

int
rfs_cat_inode_insert(struct rfs_catalog *c, struct rfs_attr *a)
{
	int rc;

	bind_attr(st(c, S_INO_INSERT), a, a->ino != 0);
	rc = exec_stmt(c, S_INO_INSERT);
	if (rc == 0 && a->ino == 0)
		a->ino = (uint64_t)sqlite3_last_insert_rowid(c->db);
	return rc;
}

int
rfs_cat_inode_get(struct rfs_catalog *c, uint64_t ino, struct rfs_attr *a)
{
	sqlite3_stmt *s = st(c, S_INO_GET);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_attr(s, a);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : errno_of(c, rc, "inode");
	}
	done(c, S_INO_GET);
	return rc;
}

int
rfs_cat_inode_put(struct rfs_catalog *c, const struct rfs_attr *a)
{
	sqlite3_stmt *s = st(c, S_INO_PUT);

	bind_attr(s, a, 1);
	sqlite3_bind_int64(s, 17, a->del_time);
	sqlite3_bind_int64(s, 18, a->del_uid);
	sqlite3_bind_int64(s, 19, (int64_t)a->del_parent);
	sqlite3_bind_int64(s, 20, (int64_t)a->objlen);
	if (a->has_tail)
		sqlite3_bind_blob(s, 21, a->tail, RFS_NONCE_BYTES,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 21);
	sqlite3_bind_int(s, 22, a->writing);
	return exec_stmt(c, S_INO_PUT);
}

int
rfs_cat_inode_delete(struct rfs_catalog *c, uint64_t ino)
{
	sqlite3_bind_int64(st(c, S_INO_DELETE), 1, (int64_t)ino);
	return exec_stmt(c, S_INO_DELETE);
}

static int
set_blob(struct rfs_catalog *c, int i, uint64_t ino, const unsigned char *b,
    size_t len)
{
	sqlite3_stmt *s = st(c, i);

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	if (b != NULL)
		sqlite3_bind_blob(s, 2, b, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	return exec_stmt(c, i);
}

/* Copies column COL of the current row of statement I into a new buffer. */
static int
column_copy(sqlite3_stmt *s, int col, unsigned char **b, size_t *len)
{
	const void *p = sqlite3_column_blob(s, col);
	size_t n = (size_t)sqlite3_column_bytes(s, col);

	if (p == NULL) {
		*b = NULL;
		*len = 0;
		return -ENODATA;
	}
	*b = malloc(n ? n : 1);
	if (*b == NULL)
		return -ENOMEM;
	memcpy(*b, p, n);
	*len = n;
	return 0;
}

static int
get_blob(struct rfs_catalog *c, int i, uint64_t ino, unsigned char **b,
    size_t *len)
{
	sqlite3_stmt *s = st(c, i);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = column_copy(s, 0, b, len);
	else
		rc = rc == SQLITE_DONE ? -ENOENT : errno_of(c, rc, sql[i]);
	done(c, i);
	return rc;
}

int
rfs_cat_inode_set_link(struct rfs_catalog *c, uint64_t ino,
    const unsigned char *blob, size_t len)
{
	return set_blob(c, S_INO_SET_LINK, ino, blob, len);
}

int
rfs_cat_inode_get_link(struct rfs_catalog *c, uint64_t ino,
    unsigned char **blob, size_t *len)
{
	return get_blob(c, S_INO_GET_LINK, ino, blob, len);
}

int
rfs_cat_inode_set_delpath(struct rfs_catalog *c, uint64_t ino,
    const unsigned char *blob, size_t len)
{
	return set_blob(c, S_INO_SET_DELPATH, ino, blob, len);
}

int
rfs_cat_inode_get_delpath(struct rfs_catalog *c, uint64_t ino,
    unsigned char **blob, size_t *len)
{
	return get_blob(c, S_INO_GET_DELPATH, ino, blob, len);
}

/*
 * How a scan ends: RC is the last sqlite3_step's (SQLITE_DONE when the
 * callback stopped it), STOP the callback's last answer, where a negative
 * one is an error to pass on and a positive one only a stop.
 */
static int
scan_end(struct rfs_catalog *c, int rc, int stop, const char *what)
{
	if (rc != SQLITE_DONE)
		return errno_of(c, rc, what);
	return stop < 0 ? stop : 0;
}

int
rfs_cat_inode_each(struct rfs_catalog *c, int state, uint64_t after,
    int limit, rfs_cat_inode_fn fn, void *ctx)
{
	sqlite3_stmt *s = st(c, S_INO_EACH);
	struct rfs_attr a;
	int stop = 0, rc;

	sqlite3_bind_int(s, 1, state);
	sqlite3_bind_int64(s, 2, (int64_t)after);
	sqlite3_bind_int(s, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_attr(s, &a);
		if ((stop = fn(ctx, &a)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(c, S_INO_EACH);
	return scan_end(c, rc, stop, "inode scan");
}

int
rfs_cat_dirent_lookup(struct rfs_catalog *c, uint64_t parent,
    const unsigned char hash[RFS_HASH_BYTES], uint64_t *ino)
{
	sqlite3_stmt *s = st(c, S_DE_LOOKUP);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)parent);
	sqlite3_bind_blob(s, 2, hash, RFS_HASH_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ino = (uint64_t)sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : errno_of(c, rc, "lookup");
	}
	done(c, S_DE_LOOKUP);
	return rc;
}

int
rfs_cat_dirent_insert(struct rfs_catalog *c, uint64_t parent,
    const unsigned char hash[RFS_HASH_BYTES], const unsigned char *name,
    size_t namelen, uint64_t ino)
{
	sqlite3_stmt *s = st(c, S_DE_INSERT);

	sqlite3_bind_int64(s, 1, (int64_t)parent);
	sqlite3_bind_blob(s, 2, hash, RFS_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, name, (int)namelen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (int64_t)ino);
	return exec_stmt(c, S_DE_INSERT);
}

int
rfs_cat_dirent_delete(struct rfs_catalog *c, uint64_t parent,
    const unsigned char hash[RFS_HASH_BYTES])
{
	sqlite3_stmt *s = st(c, S_DE_DELETE);

	sqlite3_bind_int64(s, 1, (int64_t)parent);
	sqlite3_bind_blob(s, 2, hash, RFS_HASH_BYTES, SQLITE_STATIC);
	return exec_stmt(c, S_DE_DELETE);
}

int
rfs_cat_dirent_delete_ino(struct rfs_catalog *c, uint64_t ino)
{
	sqlite3_stmt *s = st(c, S_DE_DELETE_INO);

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	return exec_stmt(c, S_DE_DELETE_INO);
}

int
rfs_cat_dirent_each(struct rfs_catalog *c, uint64_t parent, int64_t after,
    rfs_cat_dirent_fn fn, void *ctx)
{
	sqlite3_stmt *s = st(c, S_DE_EACH);
	struct rfs_dirent d;
	int stop = 0, rc;

	sqlite3_bind_int64(s, 1, (int64_t)parent);
	sqlite3_bind_int64(s, 2, after);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d.id = sqlite3_column_int64(s, 0);
		d.ino = (uint64_t)sqlite3_column_int64(s, 1);
		d.name = (unsigned char *)sqlite3_column_blob(s, 2);
		d.namelen = (size_t)sqlite3_column_bytes(s, 2);
		if ((stop = fn(ctx, &d)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(c, S_DE_EACH);
	return scan_end(c, rc, stop, "readdir");
}

/* FN for the integer in column 0 of each row statement I gives for KEY. */
static int
each_id(struct rfs_catalog *c, int i, uint64_t key,
    int (*fn)(void *ctx, uint64_t id), void *ctx, const char *what)
{
	sqlite3_stmt *s = st(c, i);
	int stop = 0, rc;

	sqlite3_bind_int64(s, 1, (int64_t)key);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((stop = fn(ctx, (uint64_t)sqlite3_column_int64(s, 0))) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	done(c, i);
	return scan_end(c, rc, stop, what);
}

int
rfs_cat_parents_each(struct rfs_catalog *c, uint64_t ino,
    int (*fn)(void *ctx, uint64_t parent), void *ctx)
{
	return each_id(c, S_DE_PARENTS, ino, fn, ctx, "parents");
}

int
rfs_cat_trash_in_each(struct rfs_catalog *c, uint64_t dir,
    int (*fn)(void *ctx, uint64_t ino), void *ctx)
{
	return each_id(c, S_INO_TRASH_IN, dir, fn, ctx,
	    "trash of a directory");
}

/* Steps bound statement I: 1 if it returns a row, 0 if not, or -errno. */
static int
row_exists(struct rfs_catalog *c, int i)
{
	int rc = sqlite3_step(c->stmt[i]);

	done(c, i);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : errno_of(c, rc, sql[i]);
}

int
rfs_cat_dirent_any(struct rfs_catalog *c, uint64_t parent)
{
	sqlite3_bind_int64(st(c, S_DE_ANY), 1, (int64_t)parent);
	return row_exists(c, S_DE_ANY);
}

int
rfs_cat_dirent_of(struct rfs_catalog *c, uint64_t ino, uint64_t *parent,
    unsigned char **name, size_t *namelen)
{
	sqlite3_stmt *s = st(c, S_DE_OF);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*parent = (uint64_t)sqlite3_column_int64(s, 0);
		rc = column_copy(s, 1, name, namelen);
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : errno_of(c, rc, "dirent of");
	}
	done(c, S_DE_OF);
	return rc;
}

int
rfs_cat_xattr_get(struct rfs_catalog *c, uint64_t ino,
    const unsigned char hash[RFS_HASH_BYTES], unsigned char **val,
    size_t *len)
{
	sqlite3_stmt *s = st(c, S_XA_GET);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	sqlite3_bind_blob(s, 2, hash, RFS_HASH_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = column_copy(s, 0, val, len);
	else
		rc = rc == SQLITE_DONE ? -ENODATA : errno_of(c, rc, "xattr");
	done(c, S_XA_GET);
	return rc;
}

int
rfs_cat_xattr_set(struct rfs_catalog *c, uint64_t ino,
    const unsigned char hash[RFS_HASH_BYTES], const unsigned char *name,
    size_t namelen, const unsigned char *val, size_t len)
{
	sqlite3_stmt *s = st(c, S_XA_SET);

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	sqlite3_bind_blob(s, 2, hash, RFS_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, name, (int)namelen, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, val, (int)len, SQLITE_STATIC);
	return exec_stmt(c, S_XA_SET);
}

int
rfs_cat_xattr_remove(struct rfs_catalog *c, uint64_t ino,
    const unsigned char hash[RFS_HASH_BYTES])
{
	sqlite3_stmt *s = st(c, S_XA_REMOVE);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	sqlite3_bind_blob(s, 2, hash, RFS_HASH_BYTES, SQLITE_STATIC);
	rc = exec_stmt(c, S_XA_REMOVE);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		rc = -ENODATA;
	return rc;
}

int
rfs_cat_xattr_delete_all(struct rfs_catalog *c, uint64_t ino)
{
	sqlite3_bind_int64(st(c, S_XA_DELALL), 1, (int64_t)ino);
	return exec_stmt(c, S_XA_DELALL);
}

int
rfs_cat_xattr_names(struct rfs_catalog *c, uint64_t ino, rfs_cat_blob_fn fn,
    void *ctx)
{
	sqlite3_stmt *s = st(c, S_XA_NAMES);
	int rc, r = 0;

	sqlite3_bind_int64(s, 1, (int64_t)ino);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = fn(ctx, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0));
		if (r != 0)
			break;
	}
	done(c, S_XA_NAMES);
	if (r != 0)
		return r < 0 ? r : 0;
	return rc == SQLITE_DONE ? 0 : errno_of(c, rc, "xattr list");
}

int
rfs_cat_counts(struct rfs_catalog *c, uint64_t *files, uint64_t *bytes)
{
	sqlite3_stmt *s = st(c, S_COUNTS);
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		*files = (uint64_t)sqlite3_column_int64(s, 0);
		*bytes = (uint64_t)sqlite3_column_int64(s, 1);
		rc = 0;
	} else {
		rc = errno_of(c, rc, "counts");
	}
	done(c, S_COUNTS);
	return rc;
}

int
rfs_cat_event_insert(struct rfs_catalog *c, struct rfs_event *e)
{
	sqlite3_stmt *s = st(c, S_EV_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, (int64_t)e->ino);
	sqlite3_bind_int64(s, 2, e->at);
	sqlite3_bind_int64(s, 3, e->set_time);
	sqlite3_bind_int64(s, 4, e->set_uid);
	sqlite3_bind_blob(s, 5, e->reason, (int)e->reasonlen, SQLITE_STATIC);
	rc = exec_stmt(c, S_EV_INSERT);
	if (rc == 0)
		e->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int
rfs_cat_event_delete(struct rfs_catalog *c, int64_t id)
{
	sqlite3_bind_int64(st(c, S_EV_DELETE), 1, id);
	return exec_stmt(c, S_EV_DELETE);
}

int
rfs_cat_event_each(struct rfs_catalog *c, rfs_cat_event_fn fn, void *ctx)
{
	sqlite3_stmt *s = st(c, S_EV_EACH);
	struct rfs_event e;
	int stop = 0, rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		e.id = sqlite3_column_int64(s, 0);
		e.ino = (uint64_t)sqlite3_column_int64(s, 1);
		e.at = sqlite3_column_int64(s, 2);
		e.set_time = sqlite3_column_int64(s, 3);
		e.set_uid = (uint32_t)sqlite3_column_int64(s, 4);
		e.reason = (unsigned char *)sqlite3_column_blob(s, 5);
		e.reasonlen = (size_t)sqlite3_column_bytes(s, 5);
		if ((stop = fn(ctx, &e)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(c, S_EV_EACH);
	return scan_end(c, rc, stop, "events");
}

static void
read_audit(sqlite3_stmt *s, struct rfs_audit_row *r)
{
	const char *t;
	const void *m;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(s, 0);
	r->time = sqlite3_column_int64(s, 1);
	t = (const char *)sqlite3_column_text(s, 2);
	snprintf(r->op, sizeof(r->op), "%s", t ? t : "");
	r->ino = (uint64_t)sqlite3_column_int64(s, 3);
	t = (const char *)sqlite3_column_text(s, 4);
	snprintf(r->class, sizeof(r->class), "%s", t ? t : "");
	r->uid = (uint32_t)sqlite3_column_int64(s, 5);
	r->detail = (unsigned char *)sqlite3_column_blob(s, 6);
	r->detaillen = (size_t)sqlite3_column_bytes(s, 6);
	m = sqlite3_column_blob(s, 7);
	if (m != NULL && sqlite3_column_bytes(s, 7) == RFS_MAC_BYTES)
		memcpy(r->mac, m, RFS_MAC_BYTES);
}

int
rfs_cat_audit_insert(struct rfs_catalog *c, struct rfs_audit_row *r)
{
	sqlite3_stmt *s = st(c, S_AU_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, r->time);
	sqlite3_bind_text(s, 2, r->op, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (int64_t)r->ino);
	sqlite3_bind_text(s, 4, r->class, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, r->uid);
	sqlite3_bind_blob(s, 6, r->detail, (int)r->detaillen, SQLITE_STATIC);
	sqlite3_bind_blob(s, 7, r->mac, RFS_MAC_BYTES, SQLITE_STATIC);
	if (r->id > 0)
		sqlite3_bind_int64(s, 8, r->id);
	else
		sqlite3_bind_null(s, 8);
	rc = exec_stmt(c, S_AU_INSERT);
	if (rc == 0)
		r->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int
rfs_cat_audit_last(struct rfs_catalog *c, struct rfs_audit_row *r)
{
	sqlite3_stmt *s = st(c, S_AU_LAST);
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		read_audit(s, r);
		r->detail = NULL;
		r->detaillen = 0;
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : errno_of(c, rc, "audit");
	}
	done(c, S_AU_LAST);
	return rc;
}

int
rfs_cat_audit_each(struct rfs_catalog *c, int64_t since, int64_t after,
    int limit, rfs_cat_audit_fn fn, void *ctx)
{
	sqlite3_stmt *s = st(c, S_AU_EACH);
	struct rfs_audit_row r;
	int stop = 0, rc;

	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int(s, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_audit(s, &r);
		if ((stop = fn(ctx, &r)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(c, S_AU_EACH);
	return scan_end(c, rc, stop, "audit scan");
}

int
rfs_cat_audit_prune(struct rfs_catalog *c, int64_t last_id)
{
	sqlite3_bind_int64(st(c, S_AU_PRUNE), 1, last_id);
	return exec_stmt(c, S_AU_PRUNE);
}

int
rfs_cat_keywin_touch(struct rfs_catalog *c, const char *cls, int64_t start,
    int64_t created)
{
	sqlite3_stmt *s = st(c, S_KW_TOUCH);

	sqlite3_bind_text(s, 1, cls, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, start);
	sqlite3_bind_int64(s, 3, created);
	return exec_stmt(c, S_KW_TOUCH);
}

int
rfs_cat_keywin_each(struct rfs_catalog *c, rfs_cat_keywin_fn fn, void *ctx)
{
	sqlite3_stmt *s = st(c, S_KW_EACH);
	int stop = 0, rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *cls = (const char *)sqlite3_column_text(s, 0);

		if ((stop = fn(ctx, cls ? cls : "", sqlite3_column_int64(s, 1),
		    sqlite3_column_int64(s, 2))) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	done(c, S_KW_EACH);
	return scan_end(c, rc, stop, "keywin");
}

int
rfs_cat_keywin_delete(struct rfs_catalog *c, const char *cls, int64_t start)
{
	sqlite3_stmt *s = st(c, S_KW_DELETE);

	sqlite3_bind_text(s, 1, cls, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, start);
	return exec_stmt(c, S_KW_DELETE);
}

static int
keywin_exists(struct rfs_catalog *c, int i, const char *cls, int64_t start)
{
	sqlite3_bind_text(st(c, i), 1, cls, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st(c, i), 2, start);
	return row_exists(c, i);
}

int
rfs_cat_keywin_held(struct rfs_catalog *c, const char *cls, int64_t start)
{
	return keywin_exists(c, S_KW_HELD, cls, start);
}

int
rfs_cat_keywin_known(struct rfs_catalog *c, const char *cls, int64_t start)
{
	return keywin_exists(c, S_KW_KNOWN, cls, start);
}
