/*
 * test_store.c - creating and opening stores (key files, passphrases, the
 * header, the single-user lock) and the window key store on top of one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rfs/catalog.h"
#include "rfs/crypto.h"
#include "rfs/keystore.h"
#include "rfs/store.h"

#include "harness.h"

static char tmpdir[64];
static char backing[96], keyfile[96], passfile[96], ksdir[96];
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

static void
set_paths(const char *dir)
{
	snprintf(backing, sizeof(backing), "%s/backing", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	snprintf(passfile, sizeof(passfile), "%s/pass", dir);
	snprintf(ksdir, sizeof(ksdir), "%s/keystore", dir);
	err[0] = '\0';
}

/*
 * Tests that need a store but not a new one share one key-file store
 * (making a store costs 257 mkdirs); make_store() puts it back in its
 * pristine state.  Other tests get a private directory from setup().
 */
static char shared[64];
static int shared_active;
static char shared_header[1024];
static int shared_hlen;
static unsigned char shared_key[RFS_KEY_BYTES];

static int
setup(void)
{
	shared_active = 0;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rfs-test-store.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	set_paths(tmpdir);
	return 0;
}

static void
teardown(void)
{
	if (!shared_active)
		rm_rf(tmpdir);
}

static void
shared_cleanup(void)
{
	if (shared[0] != '\0')
		rm_rf(shared);
}

static int
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	if (chmod(path, mode) != 0)
		return -1;
	return n == (ssize_t)len ? 0 : -1;
}

static int
read_file(const char *path, char *buf, size_t max)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, max - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

static int
exists(const char *dir, const char *name)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0;
}

static int
header_path(char *buf, size_t len)
{
	return snprintf(buf, len, "%s/%s", backing, RFS_STORE_HEADER);
}

/* Replaces the first occurrence of FROM in the header with TO. */
static int
header_edit(const char *from, const char *to)
{
	char path[256], text[2048], out[2048], *p;
	int n;

	header_path(path, sizeof(path));
	if ((n = read_file(path, text, sizeof(text))) < 0 ||
	    (p = strstr(text, from)) == NULL)
		return -1;
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - text), text, to,
	    p + strlen(from));
	return write_file(path, out, strlen(out), 0600);
}

static int
clear_dir(const char *dir)
{
	char p[1024];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		rm_rf(p);
	}
	closedir(d);
	return 0;
}

/* The shared key-file store in BACKING with the key in KEYFILE. */
static int
make_store(void)
{
	struct rfs_store_opts o = { .keyfile = NULL };
	char path[512];
	struct stat sb;

	if (shared[0] == '\0') {
		snprintf(shared, sizeof(shared), "/tmp/rfs-test-store.XXXXXX");
		if (mkdtemp(shared) == NULL)
			return -1;
		atexit(shared_cleanup);
		set_paths(shared);
		o.keyfile = keyfile;
		if (rfs_store_create(backing, &o, err, sizeof(err)) != 0)
			return -1;
		header_path(path, sizeof(path));
		if ((shared_hlen = read_file(path, shared_header,
		    sizeof(shared_header))) <= 0 ||
		    read_file(keyfile, path, sizeof(path)) != RFS_KEY_BYTES)
			return -1;
		memcpy(shared_key, path, RFS_KEY_BYTES);
	}
	shared_active = 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", shared);
	set_paths(shared);
	/* Undo whatever the last test did. */
	if (lstat(keyfile, &sb) == 0 && S_ISDIR(sb.st_mode))
		rmdir(keyfile);
	unlink(passfile);
	snprintf(path, sizeof(path), "%s/keylink", shared);
	unlink(path);
	header_path(path, sizeof(path));
	if (write_file(path, shared_header, (size_t)shared_hlen, 0600) != 0 ||
	    write_file(keyfile, shared_key, sizeof(shared_key), 0600) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/keys", backing);
	return clear_dir(path);
}

static int
open_store(struct rfs_store **s, int readonly)
{
	struct rfs_store_opts o = { .keyfile = keyfile, .readonly = readonly };

	return rfs_store_open(backing, &o, s, err, sizeof(err));
}

TEST(create_in_new_dir)
{
	struct rfs_store_opts o = { .keyfile = NULL };
	char path[256], text[1024];
	struct stat sb;

	CHECK_EQ(setup(), 0);
	o.keyfile = keyfile;
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), 0);
	/* The key file was made: 32 bytes, 0600. */
	CHECK_EQ(stat(keyfile, &sb), 0);
	CHECK_EQ(sb.st_size, RFS_KEY_BYTES);
	CHECK_EQ(sb.st_mode & 07777, 0600);
	CHECK_EQ(stat(backing, &sb), 0);
	CHECK(S_ISDIR(sb.st_mode));
	CHECK(exists(backing, RFS_STORE_HEADER));
	CHECK(!exists(backing, RFS_STORE_HEADER ".tmp"));
	CHECK(exists(backing, "catalog.db"));
	CHECK(exists(backing, "objects/00"));
	CHECK(exists(backing, "objects/7f"));
	CHECK(exists(backing, "objects/ff"));
	CHECK(exists(backing, "keys"));
	header_path(path, sizeof(path));
	CHECK(read_file(path, text, sizeof(text)) > 0);
	CHECK(strncmp(text, "retentionfs store\nformat 1\nkdf none\n"
	    "keycheck ", 45) == 0);
	CHECK_EQ(strlen(text), 45 + 64 + 1);
	teardown();
}

TEST(create_in_existing_empty_dir_with_given_key)
{
	struct rfs_store_opts o = { .keyfile = NULL };
	unsigned char key[RFS_KEY_BYTES];
	char back[RFS_KEY_BYTES + 1];
	struct rfs_store *s = NULL;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(mkdir(backing, 0700), 0);
	memset(key, 0x3c, sizeof(key));
	CHECK_EQ(write_file(keyfile, key, sizeof(key), 0600), 0);
	o.keyfile = keyfile;
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), 0);
	/* An existing key file is used, not replaced. */
	CHECK_EQ(read_file(keyfile, back, sizeof(back)), RFS_KEY_BYTES);
	CHECK(memcmp(back, key, sizeof(key)) == 0);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK(memcmp(s->master->k, key, sizeof(key)) == 0);
	rfs_store_close(s);
	teardown();
}

TEST(create_refuses_non_empty)
{
	struct rfs_store_opts o = { .keyfile = NULL };
	char f[256];

	CHECK_EQ(setup(), 0);
	o.keyfile = keyfile;
	CHECK_EQ(mkdir(backing, 0700), 0);
	snprintf(f, sizeof(f), "%s/.hidden", backing);
	CHECK_EQ(write_file(f, "x", 1, 0600), 0);
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), -ENOTEMPTY);
	CHECK(strstr(err, "not empty") != NULL);
	CHECK(!exists(backing, "catalog.db"));
	CHECK(!exists(backing, RFS_STORE_HEADER));
	/* Nor over an existing store. */
	CHECK_EQ(unlink(f), 0);
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), 0);
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), -ENOTEMPTY);
	/* A path that is a file. */
	CHECK(rfs_store_create(keyfile, &o, err, sizeof(err)) < 0);
	teardown();
}

TEST(open_with_right_key)
{
	struct rfs_store *s = NULL;
	struct rfs_attr root;
	int64_t hwm = 0;

	CHECK_EQ(make_store(), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK(s != NULL);
	CHECK(s->backing != NULL && strstr(s->backing, "/backing") != NULL);
	CHECK(s->dirfd >= 0 && s->objfd >= 0 && s->keysfd >= 0);
	CHECK(s->master != NULL && s->k_name != NULL && s->k_hash != NULL &&
	    s->k_wrap != NULL && s->k_audit != NULL);
	CHECK(memcmp(s->k_name->k, s->k_hash->k, RFS_KEY_BYTES) != 0);
	CHECK(memcmp(s->k_wrap->k, s->k_audit->k, RFS_KEY_BYTES) != 0);
	CHECK(memcmp(s->master->k, s->k_wrap->k, RFS_KEY_BYTES) != 0);
	CHECK(s->cat != NULL);
	CHECK_EQ(rfs_cat_check(s->cat, err, sizeof(err)), 0);
	CHECK_EQ(rfs_cat_inode_get(s->cat, RFS_ROOT_INO, &root), 0);
	CHECK(S_ISDIR(root.mode));
	CHECK_EQ(root.nlink, 2);
	CHECK_EQ(root.uid, getuid());
	CHECK_STR(root.class, "default");
	CHECK_EQ(rfs_cat_meta_get(s->cat, "clock_hwm", &hwm), 0);
	CHECK_EQ(hwm, root.created);
	rfs_store_close(s);
	rfs_store_close(NULL);
	/* The subkeys are a function of the key alone. */
	{
		struct rfs_store *s2 = NULL;
		unsigned char h[RFS_KEY_BYTES];

		CHECK_EQ(open_store(&s, 1), 0);
		memcpy(h, s->k_hash->k, sizeof(h));
		rfs_store_close(s);
		CHECK_EQ(open_store(&s2, 1), 0);
		CHECK(memcmp(h, s2->k_hash->k, sizeof(h)) == 0);
		rfs_store_close(s2);
	}
	teardown();
}

TEST(open_wrong_key)
{
	unsigned char key[RFS_KEY_BYTES];
	struct rfs_store *s = NULL;

	CHECK_EQ(make_store(), 0);
	memset(key, 0x77, sizeof(key));
	CHECK_EQ(write_file(keyfile, key, sizeof(key), 0600), 0);
	CHECK_EQ(open_store(&s, 0), -EKEYREJECTED);
	CHECK(s == NULL);
	CHECK(strstr(err, "wrong key") != NULL);
	teardown();
}

TEST(key_file_checks)
{
	unsigned char key[RFS_KEY_BYTES + 1];
	struct rfs_store *s = NULL;
	char link[256];

	CHECK_EQ(make_store(), 0);
	CHECK_EQ(read_file(keyfile, (char *)key, sizeof(key)), RFS_KEY_BYTES);
	/* Readable by group or others. */
	CHECK_EQ(chmod(keyfile, 0644), 0);
	CHECK_EQ(open_store(&s, 0), -EPERM);
	CHECK(s == NULL);
	CHECK(strstr(err, "chmod 600") != NULL);
	CHECK_EQ(chmod(keyfile, 0604), 0);
	CHECK_EQ(open_store(&s, 0), -EPERM);
	CHECK_EQ(chmod(keyfile, 0610), 0);
	CHECK_EQ(open_store(&s, 0), -EPERM);
	/* Owner-only modes are fine. */
	CHECK_EQ(chmod(keyfile, 0400), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	rfs_store_close(s);
	s = NULL;
	CHECK_EQ(chmod(keyfile, 0600), 0);
	/* A symlink is not followed. */
	snprintf(link, sizeof(link), "%s/keylink", tmpdir);
	CHECK_EQ(symlink(keyfile, link), 0);
	{
		struct rfs_store_opts o = { .keyfile = link };

		CHECK(rfs_store_open(backing, &o, &s, err, sizeof(err)) < 0);
		CHECK(s == NULL);
	}
	/* Wrong length. */
	CHECK_EQ(write_file(keyfile, key, RFS_KEY_BYTES - 1, 0600), 0);
	CHECK_EQ(open_store(&s, 0), -EINVAL);
	CHECK(strstr(err, "exactly 32 bytes") != NULL);
	key[RFS_KEY_BYTES] = '\n';
	CHECK_EQ(write_file(keyfile, key, RFS_KEY_BYTES + 1, 0600), 0);
	CHECK_EQ(open_store(&s, 0), -EINVAL);
	/* Missing; a directory. */
	CHECK_EQ(unlink(keyfile), 0);
	CHECK_EQ(open_store(&s, 0), -ENOENT);
	CHECK(strstr(err, "cannot open key file") != NULL);
	CHECK_EQ(mkdir(keyfile, 0700), 0);
	CHECK_EQ(open_store(&s, 0), -EINVAL);
	CHECK(s == NULL);
	teardown();
}

TEST(read_secret_file)
{
	unsigned char buf[16];
	size_t len = 0;

	CHECK_EQ(setup(), 0);
	CHECK_EQ(write_file(keyfile, "0123456789abcdefXYZ", 19, 0600), 0);
	CHECK_EQ(rfs_read_secret_file(keyfile, buf, sizeof(buf), &len, err,
	    sizeof(err)), 0);
	CHECK_EQ(len, sizeof(buf));          /* at most MAX bytes */
	CHECK(memcmp(buf, "0123456789abcdef", 16) == 0);
	CHECK_EQ(chmod(keyfile, 0660), 0);
	CHECK_EQ(rfs_read_secret_file(keyfile, buf, sizeof(buf), &len, err,
	    sizeof(err)), -EPERM);
	CHECK(strstr(err, "0660") != NULL);
	teardown();
}

TEST(options_must_name_one_secret)
{
	struct rfs_store_opts both = { .keyfile = NULL, .passfile = NULL };
	struct rfs_store *s = NULL;

	CHECK_EQ(make_store(), 0);
	CHECK_EQ(rfs_store_open(backing, &both, &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "exactly one") != NULL);
	both.keyfile = keyfile;
	both.passfile = keyfile;
	CHECK_EQ(rfs_store_open(backing, &both, &s, err, sizeof(err)), -EINVAL);
	/* A passphrase for a key-file store. */
	{
		struct rfs_store_opts o = { .passfile = passfile };

		CHECK_EQ(write_file(passfile, "pw\n", 3, 0600), 0);
		CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)),
		    -EINVAL);
		CHECK(strstr(err, "key file") != NULL);
	}
	CHECK(s == NULL);
	teardown();
}

TEST(header_missing_or_damaged)
{
	struct rfs_store *s = NULL;
	char path[256], text[1024];
	int n;

	CHECK_EQ(make_store(), 0);
	header_path(path, sizeof(path));
	CHECK((n = read_file(path, text, sizeof(text))) > 0);
	/* Bad magic. */
	CHECK_EQ(header_edit("retentionfs store", "retentionfs stor"), 0);
	CHECK_EQ(open_store(&s, 0), -EUCLEAN);
	CHECK(strstr(err, "damaged") != NULL);
	/* No key check line; a short key check. */
	CHECK_EQ(write_file(path, text, (size_t)n, 0600), 0);
	CHECK_EQ(header_edit("keycheck", "keychek"), 0);
	CHECK_EQ(open_store(&s, 0), -EUCLEAN);
	CHECK_EQ(write_file(path, text, (size_t)n, 0600), 0);
	CHECK_EQ(header_edit("keycheck ", "keycheck z"), 0);
	CHECK_EQ(open_store(&s, 0), -EUCLEAN);
	/* A well-formed key check of another key. */
	{
		static const char other[] = "retentionfs store\nformat 1\n"
		    "kdf none\nkeycheck 000000000000000000000000000000000000"
		    "0000000000000000000000000000\n";

		CHECK_EQ(write_file(path, other, sizeof(other) - 1, 0600), 0);
		CHECK_EQ(open_store(&s, 0), -EKEYREJECTED);
	}
	/* Unknown lines are ignored. */
	CHECK_EQ(write_file(path, text, (size_t)n, 0600), 0);
	CHECK_EQ(header_edit("format 1\n", "format 1\nfuture thing\n\n"),
	    0);
	CHECK_EQ(open_store(&s, 0), 0);
	rfs_store_close(s);
	s = NULL;
	/* Empty header. */
	CHECK_EQ(write_file(path, "", 0, 0600), 0);
	CHECK_EQ(open_store(&s, 0), -EUCLEAN);
	/* Missing header. */
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(open_store(&s, 0), -ENOENT);
	CHECK(strstr(err, "not a retentionfs store") != NULL);
	/* The header restored: fine again. */
	CHECK_EQ(write_file(path, text, (size_t)n, 0600), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	rfs_store_close(s);
	s = NULL;
	/* No such backing directory. */
	{
		struct rfs_store_opts o = { .keyfile = keyfile };

		CHECK_EQ(rfs_store_open(passfile, &o, &s, err, sizeof(err)),
		    -ENOENT);
	}
	CHECK(s == NULL);
	teardown();
}

TEST(header_unknown_format)
{
	struct rfs_store *s = NULL;

	CHECK_EQ(make_store(), 0);
	CHECK_EQ(header_edit("format 1", "format 2"), 0);
	CHECK_EQ(open_store(&s, 0), -EPROTO);
	CHECK(s == NULL);
	CHECK(strstr(err, "unknown format version 2") != NULL);
	CHECK_EQ(header_edit("format 2", "format 0"), 0);
	CHECK_EQ(open_store(&s, 0), -EPROTO);
	CHECK_EQ(header_edit("format 0", "formats 1"), 0);   /* no format */
	CHECK_EQ(open_store(&s, 0), -EPROTO);
	CHECK_EQ(header_edit("formats 1", "format 1"), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	rfs_store_close(s);
	teardown();
}

TEST(store_layout_damage)
{
	struct rfs_store *s = NULL;
	char path[256], aside[256];

	CHECK_EQ(make_store(), 0);
	snprintf(path, sizeof(path), "%s/objects", backing);
	snprintf(aside, sizeof(aside), "%s/aside", tmpdir);
	CHECK_EQ(rename(path, aside), 0);
	CHECK_EQ(open_store(&s, 0), -ENOENT);
	CHECK(strstr(err, "objects") != NULL);
	CHECK_EQ(rename(aside, path), 0);
	snprintf(path, sizeof(path), "%s/keys", backing);
	CHECK_EQ(rename(path, aside), 0);
	CHECK_EQ(open_store(&s, 0), -ENOENT);
	CHECK(strstr(err, "key store") != NULL);
	CHECK_EQ(rename(aside, path), 0);
	snprintf(path, sizeof(path), "%s/catalog.db", backing);
	CHECK_EQ(rename(path, aside), 0);
	CHECK_EQ(open_store(&s, 0), -ENOENT);
	CHECK(strstr(err, "catalog") != NULL);
	CHECK_EQ(rename(aside, path), 0);
	CHECK(s == NULL);
	CHECK_EQ(open_store(&s, 0), 0);
	rfs_store_close(s);
	teardown();
}

TEST(single_user_lock)
{
	struct rfs_store *a = NULL, *b = NULL;

	CHECK_EQ(make_store(), 0);
	CHECK_EQ(open_store(&a, 0), 0);
	CHECK_EQ(open_store(&b, 0), -EBUSY);
	CHECK(strstr(err, "in use") != NULL);
	CHECK_EQ(open_store(&b, 1), -EBUSY);
	rfs_store_close(a);
	a = NULL;
	/* Readers share. */
	CHECK_EQ(open_store(&a, 1), 0);
	CHECK_EQ(open_store(&b, 1), 0);
	CHECK(b->readonly);
	rfs_store_close(b);
	b = NULL;
	CHECK_EQ(open_store(&b, 0), -EBUSY);
	rfs_store_close(a);
	CHECK_EQ(open_store(&b, 0), 0);
	rfs_store_close(b);
	teardown();
}

TEST(passphrase_store)
{
	struct rfs_store_opts o = { .passfile = NULL };
	struct rfs_store *s = NULL;
	char path[256], text[1024];
	unsigned char master[RFS_KEY_BYTES];

	CHECK_EQ(setup(), 0);
	o.passfile = passfile;
	CHECK_EQ(write_file(passfile, "correct horse\n", 14, 0600), 0);
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), 0);
	header_path(path, sizeof(path));
	CHECK(read_file(path, text, sizeof(text)) > 0);
	CHECK(strstr(text, "kdf argon2id\nsalt ") != NULL);
	CHECK(strstr(text, "\nopslimit ") != NULL);
	CHECK(strstr(text, "\nmemlimit ") != NULL);
	/* Round trip; the trailing newline is not part of the passphrase. */
	CHECK_EQ(write_file(passfile, "correct horse", 13, 0600), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), 0);
	memcpy(master, s->master->k, sizeof(master));
	rfs_store_close(s);
	s = NULL;
	/* Wrong passphrase. */
	CHECK_EQ(write_file(passfile, "correct horsE\n", 14, 0600), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)),
	    -EKEYREJECTED);
	/* Empty passphrase (only newlines). */
	CHECK_EQ(write_file(passfile, "\r\n\n", 3, 0600), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "1 to 1023 bytes") != NULL);
	/* A key file for a passphrase store. */
	{
		struct rfs_store_opts k = { .keyfile = keyfile };

		CHECK_EQ(write_file(keyfile, master, sizeof(master), 0600), 0);
		CHECK_EQ(rfs_store_open(backing, &k, &s, err, sizeof(err)),
		    -EINVAL);
		CHECK(strstr(err, "passphrase") != NULL);
	}
	CHECK(s == NULL);
	teardown();
}

/*
 * A passphrase header written by hand with the smallest Argon2id limits:
 * pins the header format and key check, and keeps the KDF cheap.
 */
static int
write_pass_header(const char *pass, size_t len)
{
	unsigned char salt[16], check[RFS_MAC_BYTES];
	char salthex[33], checkhex[65], text[512], path[256];
	struct rfs_key *m = rfs_key_new(), *ck;

	memset(salt, 0xa5, sizeof(salt));
	if (m == NULL || rfs_key_from_passphrase(m, pass, len, salt,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0)
		return -1;
	ck = rfs_key_derive(m, RFS_SUBKEY_CHECK);
	rfs_mac(ck, "retentionfs key check v1", 24, check);
	rfs_key_free(ck);
	rfs_key_free(m);
	rfs_hex(salt, sizeof(salt), salthex);
	rfs_hex(check, sizeof(check), checkhex);
	snprintf(text, sizeof(text), "retentionfs store\nformat 1\n"
	    "kdf argon2id\nsalt %s\nopslimit %llu\nmemlimit %llu\n"
	    "keycheck %s\n", salthex,
	    (unsigned long long)crypto_pwhash_OPSLIMIT_MIN,
	    (unsigned long long)crypto_pwhash_MEMLIMIT_MIN, checkhex);
	header_path(path, sizeof(path));
	return write_file(path, text, strlen(text), 0600);
}

TEST(passphrase_header_by_hand)
{
	struct rfs_store_opts o = { .passfile = NULL };
	struct rfs_store *s = NULL;

	CHECK_EQ(make_store(), 0);
	o.passfile = passfile;
	CHECK_EQ(write_pass_header("pass word", 9), 0);
	CHECK_EQ(write_file(passfile, "pass word", 9, 0600), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), 0);
	rfs_store_close(s);
	s = NULL;
	CHECK_EQ(write_file(passfile, "pass word\r\n", 11, 0600), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), 0);
	rfs_store_close(s);
	s = NULL;
	CHECK_EQ(write_file(passfile, "pass word ", 10, 0600), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)),
	    -EKEYREJECTED);
	CHECK_EQ(write_file(passfile, "pass word", 9, 0644), 0);
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), -EPERM);
	CHECK(s == NULL);
	teardown();
}

TEST(external_keystore)
{
	struct rfs_store_opts o = { .keyfile = NULL };
	struct rfs_store *s = NULL;
	struct rfs_key *k = rfs_key_new();

	CHECK(k != NULL);
	CHECK_EQ(setup(), 0);
	CHECK_EQ(mkdir(ksdir, 0700), 0);
	o.keyfile = keyfile;
	o.keystore = ksdir;
	CHECK_EQ(rfs_store_create(backing, &o, err, sizeof(err)), 0);
	CHECK(!exists(backing, "keys"));
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 5, 1, k), 0);
	CHECK(exists(ksdir, "default@5.key"));
	rfs_store_close(s);
	s = NULL;
	/* Without the key store the store does not open. */
	o.keystore = NULL;
	CHECK_EQ(rfs_store_open(backing, &o, &s, err, sizeof(err)), -ENOENT);
	rfs_key_free(k);
	teardown();
}

/* ---- key store ---- */

struct kslist {
	int n;
	char cls[8][RFS_CLASS_MAX + 1];
	int64_t period[8];
};

static int
ks_cb(void *ctx, const char *cls, int64_t period)
{
	struct kslist *l = ctx;

	if (l->n < 8) {
		snprintf(l->cls[l->n], sizeof(l->cls[0]), "%s", cls);
		l->period[l->n] = period;
	}
	l->n++;
	return 0;
}

TEST(keystore_get_create_destroy)
{
	struct rfs_store *s = NULL;
	struct rfs_key *a = rfs_key_new(), *b = rfs_key_new();
	char keys[256];
	struct stat sb;

	CHECK(a != NULL && b != NULL);
	CHECK_EQ(make_store(), 0);
	snprintf(keys, sizeof(keys), "%s/keys", backing);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 0, a), -ENOKEY);
	CHECK(!exists(keys, "default@19000.key"));
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 1, a), 0);
	CHECK(exists(keys, "default@19000.key"));
	CHECK(!exists(keys, "default@19000.tmp"));
	{
		char p[300];

		snprintf(p, sizeof(p), "%s/default@19000.key", keys);
		CHECK_EQ(stat(p, &sb), 0);
		CHECK_EQ(sb.st_size, 5 + RFS_WRAPPED_BYTES);
		CHECK_EQ(sb.st_mode & 077, 0);
	}
	/* Cached, then from disk after a reopen: the same key. */
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 0, b), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) == 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 1, b), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) == 0);
	rfs_store_close(s);
	s = NULL;
	CHECK_EQ(open_store(&s, 0), 0);
	memset(b->k, 0, RFS_KEY_BYTES);
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 0, b), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) == 0);
	/* Other windows and classes get other keys. */
	CHECK_EQ(rfs_keystore_get(s, "default", 19001, 1, b), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) != 0);
	CHECK_EQ(rfs_keystore_get(s, "logs", 19000, 1, b), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) != 0);
	/* Destroy: gone from disk and from the cache. */
	CHECK_EQ(rfs_keystore_destroy(s, "default", 19000), 0);
	CHECK(!exists(keys, "default@19000.key"));
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 0, b), -ENOKEY);
	CHECK_EQ(rfs_keystore_destroy(s, "default", 19000), 0); /* again */
	CHECK_EQ(rfs_keystore_get(s, "default", 19001, 0, b), 0);
	/* A re-created window key is a new key. */
	CHECK_EQ(rfs_keystore_get(s, "default", 19000, 1, b), 0);
	CHECK(memcmp(a->k, b->k, RFS_KEY_BYTES) != 0);
	rfs_store_close(s);
	rfs_key_free(a);
	rfs_key_free(b);
	teardown();
}

TEST(keystore_each)
{
	struct rfs_store *s = NULL;
	struct rfs_key *k = rfs_key_new();
	struct kslist l;
	char junk[256];
	int seen = 0;

	CHECK(k != NULL);
	CHECK_EQ(make_store(), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 1, 1, k), 0);
	CHECK_EQ(rfs_keystore_get(s, "a.b", 2, 1, k), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", -3, 1, k), 0);
	snprintf(junk, sizeof(junk), "%s/keys/notakey.txt", backing);
	CHECK_EQ(write_file(junk, "x", 1, 0600), 0);
	memset(&l, 0, sizeof(l));
	CHECK_EQ(rfs_keystore_each(s, ks_cb, &l), 0);
	CHECK_EQ(l.n, 3);
	for (int i = 0; i < l.n; i++) {
		if (strcmp(l.cls[i], "default") == 0 && l.period[i] == 1)
			seen |= 1;
		if (strcmp(l.cls[i], "a.b") == 0 && l.period[i] == 2)
			seen |= 2;
		if (strcmp(l.cls[i], "default") == 0 && l.period[i] == -3)
			seen |= 4;
	}
	CHECK_EQ(seen, 7);
	rfs_store_close(s);
	rfs_key_free(k);
	teardown();
}

TEST(keystore_rejects_tampering)
{
	struct rfs_store *s = NULL;
	struct rfs_key *k = rfs_key_new();
	char p1[256], p2[256], data[128];
	int n;

	CHECK(k != NULL);
	CHECK_EQ(make_store(), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 1, k), 0);
	rfs_store_close(s);
	s = NULL;
	snprintf(p1, sizeof(p1), "%s/keys/default@7.key", backing);
	snprintf(p2, sizeof(p2), "%s/keys/default@8.key", backing);
	CHECK((n = read_file(p1, data, sizeof(data))) == 5 + RFS_WRAPPED_BYTES);
	/* Renamed to serve another window: the AD does not match. */
	CHECK_EQ(rename(p1, p2), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 8, 1, k), -EBADMSG);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 0, k), -ENOKEY);
	rfs_store_close(s);
	s = NULL;
	/* A flipped byte, a bad magic, a short file, a long file. */
	CHECK_EQ(rename(p2, p1), 0);
	data[40] ^= 1;
	CHECK_EQ(write_file(p1, data, (size_t)n, 0600), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 1, k), -EBADMSG);
	data[40] ^= 1;
	data[0] = 'X';
	CHECK_EQ(write_file(p1, data, (size_t)n, 0600), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 0, k), -EBADMSG);
	data[0] = 'R';
	CHECK_EQ(write_file(p1, data, (size_t)n - 1, 0600), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 0, k), -EBADMSG);
	data[n] = 0;
	CHECK_EQ(write_file(p1, data, (size_t)n + 1, 0600), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 0, k), -EBADMSG);
	/* Intact again. */
	CHECK_EQ(write_file(p1, data, (size_t)n, 0600), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 7, 0, k), 0);
	rfs_store_close(s);
	s = NULL;
	rfs_key_free(k);
	teardown();
}

TEST(keystore_readonly_does_not_create)
{
	struct rfs_store *s = NULL;
	struct rfs_key *k = rfs_key_new();

	CHECK(k != NULL);
	CHECK_EQ(make_store(), 0);
	CHECK_EQ(open_store(&s, 1), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 3, 1, k), -ENOKEY);
	CHECK(!exists(backing, "keys/default@3.key"));
	rfs_store_close(s);
	s = NULL;
	CHECK_EQ(open_store(&s, 0), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 3, 1, k), 0);
	rfs_store_close(s);
	s = NULL;
	CHECK_EQ(open_store(&s, 1), 0);
	CHECK_EQ(rfs_keystore_get(s, "default", 3, 0, k), 0);
	rfs_store_close(s);
	rfs_key_free(k);
	teardown();
}

TEST(keystore_cache_many_windows)
{
	struct rfs_store *s = NULL;
	struct rfs_key *k = rfs_key_new();
	static unsigned char first[100][RFS_KEY_BYTES];
	int bad = 0;

	CHECK(k != NULL);
	CHECK_EQ(make_store(), 0);
	CHECK_EQ(open_store(&s, 0), 0);
	/* More windows than cache slots: evictions must reload correctly. */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ(rfs_keystore_get(s, "c", i, 1, k), 0);
		memcpy(first[i], k->k, RFS_KEY_BYTES);
	}
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 100; i++) {
			if (rfs_keystore_get(s, "c", i, 0, k) != 0 ||
			    memcmp(first[i], k->k, RFS_KEY_BYTES) != 0)
				bad++;
		}
	CHECK_EQ(bad, 0);
	rfs_store_close(s);
	rfs_key_free(k);
	teardown();
}

int
main(void)
{
	if (rfs_crypto_init() != 0)
		return 1;
	RUN_TESTS("store",
	    CASE(create_in_new_dir),
	    CASE(create_in_existing_empty_dir_with_given_key),
	    CASE(create_refuses_non_empty),
	    CASE(open_with_right_key),
	    CASE(open_wrong_key),
	    CASE(key_file_checks),
	    CASE(read_secret_file),
	    CASE(options_must_name_one_secret),
	    CASE(header_missing_or_damaged),
	    CASE(header_unknown_format),
	    CASE(store_layout_damage),
	    CASE(single_user_lock),
	    CASE(passphrase_store),
	    CASE(passphrase_header_by_hand),
	    CASE(external_keystore),
	    CASE(keystore_get_create_destroy),
	    CASE(keystore_each),
	    CASE(keystore_rejects_tampering),
	    CASE(keystore_readonly_does_not_create),
	    CASE(keystore_cache_many_windows));
}
