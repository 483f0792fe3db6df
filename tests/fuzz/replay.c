/*
 * replay.c - feeds saved inputs to a fuzz target without libFuzzer, so
 * that `make check` can run the corpus with gcc (and with SAN=1).
 *
 *	replay_fuzz_NAME DIR|FILE ...
 *
 * Every regular file in each DIR (not recursively, in name order) and
 * every FILE is read and passed to LLVMFuzzerTestOneInput once.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
read_all(const char *path, uint8_t **bufp, size_t *lenp)
{
	FILE *f;
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	int error = 0;

	if ((f = fopen(path, "rb")) == NULL)
		return -errno;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				error = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0) {
			if (ferror(f))
				error = -EIO;
			break;
		}
		len += n;
	}
out:
	fclose(f);
	if (error != 0) {
		free(buf);
		return error;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

static int
replay_file(const char *path)
{
	uint8_t *buf = NULL, *copy;
	size_t len = 0;
	int error;

	if ((error = read_all(path, &buf, &len)) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-error));
		return error;
	}
	/* An exact-size copy, so ASan catches reads past the end. */
	if ((copy = malloc(len ? len : 1)) == NULL) {
		free(buf);
		fprintf(stderr, "replay: %s: out of memory\n", path);
		return -ENOMEM;
	}
	memcpy(copy, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	return 0;
}

static int
skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

static int
replay_dir(const char *dir, long *count)
{
	struct dirent **names;
	struct stat st;
	char path[4096];
	int i, n, error = 0;

	if ((n = scandir(dir, &names, skip_dots, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	for (i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) >= (int)sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: name too long\n", dir,
			    names[i]->d_name);
			error = -ENAMETOOLONG;
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) == 0)
				(*count)++;
			else
				error = -EIO;
		}
		free(names[i]);
	}
	free(names);
	return error;
}

int
main(int argc, char **argv)
{
	struct stat st;
	long count;
	int i, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		count = 0;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			status = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) != 0)
				status = 1;
		} else if (replay_file(argv[i]) == 0)
			count = 1;
		else
			status = 1;
		printf("replayed %ld inputs from %s\n", count, argv[i]);
	}
	return status;
}
