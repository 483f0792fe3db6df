/*
 * fuzz_policy.c - libFuzzer target for the policy parser and durations.
 *
 * Besides "no crash, no leak" it checks what callers rely on: a policy
 * comes back exactly when no error was reported, it always has a class
 * default, classify never fails, and durations survive a format/parse
 * round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfs/policy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct seen {
	int	errors;
	int	warnings;
	int	maxline;
};

static void
diag(void *ctx, const char *file, int line, int warn, const char *msg)
{
	struct seen *s = ctx;

	if (file == NULL || msg == NULL || *msg == '\0' || line < 0 ||
	    line > s->maxline)
		abort();
	if (warn)
		s->warnings++;
	else
		s->errors++;
}

static void
roundtrip(int64_t v)
{
	char buf[32];
	int64_t back;

	rfs_duration_format(v, buf, sizeof(buf));
	if (v < 0 || rfs_duration_parse(buf, &back) != 0 || back != v)
		abort();
}

static void
check_policy(const struct rfs_policy *p, const char *text)
{
	const struct rfs_class *c;
	const char *line, *nl;
	char path[256];
	size_t n;
	int i, lines = 0;

	if (p->refs != 1 || p->nclasses < 1 ||
	    rfs_policy_class(p, "default") == NULL)
		abort();
	if (p->shred_passes < 0 || p->shred_passes > 10 ||
	    p->shred_interval <= 0 || p->key_period <= 0)
		abort();
	for (i = 0; i < p->nclasses; i++) {
		c = &p->classes[i];
		if (c->min_retention > c->retention ||
		    c->backup_retention < c->retention)
			abort();
		roundtrip(c->retention);
		roundtrip(c->min_retention);
		roundtrip(c->after_event);
		roundtrip(c->backup_retention);
	}
	/* Each input line is also a path to classify: weird paths too. */
	for (line = text; line != NULL && lines < 32; lines++) {
		nl = strchr(line, '\n');
		n = nl != NULL ? (size_t)(nl - line) : strlen(line);
		if (n >= sizeof(path))
			n = sizeof(path) - 1;
		memcpy(path, line, n);
		path[n] = '\0';
		c = rfs_policy_classify(p, path);
		if (c < p->classes || c >= p->classes + p->nclasses)
			abort();
		line = nl != NULL ? nl + 1 : NULL;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfs_policy *p;
	struct seen seen;
	char *text;
	int64_t v;
	size_t i;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(&seen, 0, sizeof(seen));
	seen.maxline = 1;
	for (i = 0; i < size; i++)
		seen.maxline += data[i] == '\n';
	p = rfs_policy_parse("fuzz.ini", (const char *)data, size, diag,
	    &seen);
	if ((p == NULL) != (seen.errors > 0))
		abort();
	if (p != NULL) {
		check_policy(p, text);
		if (rfs_policy_ref(p) != p)
			abort();
		rfs_policy_unref(p);
		rfs_policy_unref(p);
	}

	if (rfs_duration_parse(text, &v) == 0)
		roundtrip(v);
	free(text);
	return 0;
}
