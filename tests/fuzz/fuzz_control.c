/*
 * fuzz_control.c - libFuzzer target for the control channel wire format.
 *
 * Two views of each input:
 *  1. as a request: rfs_control_parse must not crash or read outside the
 *     buffer, and what it accepts must be well formed (1..32 words, each
 *     NUL-terminated inside the buffer, argv[argc] == NULL) and rebuild to
 *     exactly the same bytes;
 *  2. as argument words (split at NUL bytes): rfs_control_build must
 *     accept them exactly when the count and total size are within the
 *     limits, and parse must give the same words back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/control.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
as_request(const uint8_t *data, size_t size)
{
	char *argv[RFS_CONTROL_ARGS + 1];
	char *buf, *again;
	ssize_t n;
	int argc = -1;

	/* Exact size, so ASan sees any read past the end. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return;
	memcpy(buf, data, size);
	if (rfs_control_parse(buf, size, &argc, argv) != 0) {
		free(buf);
		return;
	}
	if (argc < 1 || argc > RFS_CONTROL_ARGS || argv[argc] != NULL ||
	    size > RFS_CONTROL_MAX || memcmp(buf, "RFS1", 4) != 0)
		abort();
	for (int i = 0; i < argc; i++) {
		size_t off;

		if (argv[i] < buf + 5 || argv[i] >= buf + size)
			abort();
		off = (size_t)(argv[i] - buf);
		if (memchr(argv[i], '\0', size - off) == NULL)
			abort();
		if (i > 0 && argv[i] != argv[i - 1] + strlen(argv[i - 1]) + 1)
			abort();
	}
	if ((again = malloc(RFS_CONTROL_MAX)) == NULL) {
		free(buf);
		return;
	}
	n = rfs_control_build(argc, argv, again, RFS_CONTROL_MAX);
	if (n != (ssize_t)size || memcmp(again, data, size) != 0)
		abort();
	free(again);
	free(buf);
}

static void
as_words(const uint8_t *data, size_t size)
{
	char *argv[RFS_CONTROL_ARGS + 2], *out[RFS_CONTROL_ARGS + 1];
	char *text, *req;
	size_t total = 5, pos = 0;
	ssize_t n;
	int argc = 0, oc = -1;

	/* NUL-terminated words; the last one ends at the end of the input. */
	if ((text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	while (pos < size && argc < RFS_CONTROL_ARGS + 1) {
		argv[argc++] = text + pos;
		pos += strlen(text + pos) + 1;
	}
	for (int i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	if ((req = malloc(RFS_CONTROL_MAX)) == NULL) {
		free(text);
		return;
	}
	n = rfs_control_build(argc, argv, req, RFS_CONTROL_MAX);
	if (argc < 1 || argc > RFS_CONTROL_ARGS || total > RFS_CONTROL_MAX) {
		if (n >= 0)
			abort();
	} else {
		if (n != (ssize_t)total)
			abort();
		if (rfs_control_parse(req, (size_t)n, &oc, out) != 0 ||
		    oc != argc)
			abort();
		for (int i = 0; i < argc; i++)
			if (strcmp(out[i], argv[i]) != 0)
				abort();
	}
	free(req);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_request(data, size);
	as_words(data, size);
	return 0;
}
