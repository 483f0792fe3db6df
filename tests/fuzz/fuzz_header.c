/*
 * fuzz_header.c - libFuzzer target for the store header parser, through
 * rfs_store_open.
 *
 * Once per process a real store is made in a temporary directory with a
 * fixed key (32 bytes of 0x42), so the seed headers in corpus/header carry
 * a valid key check for it and get all the way through opening.  Each
 * input replaces BACKING/retentionfs.store; the store is opened and
 * closed.  It must never crash or leak, fail with a message, and succeed
 * only for a header of the current format.
 *
 * Passphrase headers: the input is opened with a passphrase file only
 * when a faithful copy of the parser says its Argon2id limits are tiny
 * (otherwise a mutated memlimit could ask for gigabytes); else with the
 * key file, which a passphrase header refuses before any KDF runs.  The
 * passphrase is "fuzz pass".
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

#include "rfs/store.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[64], backing[96], keyfile[96], passfile[96], header[160];
static int ready;

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	return remove(path);
}

static void
cleanup(void)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	if (len > 0)
		n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static void
setup(void)
{
	struct rfs_store_opts o = { .keyfile = keyfile };
	unsigned char key[RFS_KEY_BYTES];
	char err[512];

	snprintf(dir, sizeof(dir), "/tmp/rfs-fuzz-header.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(backing, sizeof(backing), "%s/backing", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	snprintf(passfile, sizeof(passfile), "%s/pass", dir);
	snprintf(header, sizeof(header), "%s/%s", backing, RFS_STORE_HEADER);
	memset(key, 0x42, sizeof(key));
	if (put(keyfile, key, sizeof(key)) != 0 ||
	    put(passfile, "fuzz pass\n", 10) != 0 ||
	    rfs_store_create(backing, &o, err, sizeof(err)) != 0)
		abort();
	ready = 1;
}

/*
 * What header_read in store.c would make of DATA: whether it is an
 * Argon2id header and its limits.  Mirrors its loop (fgets into 256
 * bytes, "%31s %199s", the last value wins) so the two cannot disagree.
 */
static int
cheap_argon(const uint8_t *data, size_t size)
{
	char line[256], val[200], key[32];
	unsigned long long ops = 0, mem = 0;
	int argon = 0, magic = 0;
	FILE *f;

	if (size == 0 || (f = fmemopen((void *)(uintptr_t)data, size, "r")) ==
	    NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!magic) {
			if (strcmp(line, "retentionfs store\n") != 0)
				break;
			magic = 1;
			continue;
		}
		if (sscanf(line, "%31s %199s", key, val) != 2)
			continue;
		if (strcmp(key, "kdf") == 0)
			argon = strcmp(val, "argon2id") == 0;
		else if (strcmp(key, "opslimit") == 0)
			ops = strtoull(val, NULL, 10);
		else if (strcmp(key, "memlimit") == 0)
			mem = strtoull(val, NULL, 10);
	}
	fclose(f);
	return argon && ops <= 3 && mem <= 64 * 1024;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfs_store_opts o = { .keyfile = NULL };
	struct rfs_store *s = (struct rfs_store *)&o;   /* must be reset */
	char err[512];
	int rc;

	if (!ready)
		setup();
	if (size > 4096)
		return 0;
	if (cheap_argon(data, size))
		o.passfile = passfile;
	else
		o.keyfile = keyfile;
	o.readonly = size % 2;
	if (put(header, data, size) != 0)
		abort();
	err[0] = '\0';
	rc = rfs_store_open(backing, &o, &s, err, sizeof(err));
	if (rc == 0) {
		/* Only a well-formed header of this format with the right key
		 * check gets here; the rest of the store is real. */
		if (s == NULL || s->cat == NULL || s->master == NULL ||
		    memmem(data, size, "retentionfs store\n", 18) != data)
			abort();
		rfs_store_close(s);
	} else {
		if (rc > 0 || s != NULL || err[0] == '\0')
			abort();
	}
	return 0;
}
