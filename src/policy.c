/*
 * policy.c - parse retention policies and map paths to data classes.
 *
 * The format is INI, split into "name = value" by inih.  Debian's inih is
 * built without line numbers in the handler, with a 50-byte section buffer
 * (too short for "class" plus a 64-character name), with Python-style
 * continuation lines and with only ';' as an inline comment prefix.  So
 * every line passes through our own reader first: it counts lines, strips
 * leading blanks (which turns continuations off) and both kinds of inline
 * comment, and parses section headers itself; inih is left to split
 * key = value lines, and a key line inih does not hand to the handler is
 * one it could not parse.  Every problem is reported, not just the first.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "rfs/policy.h"

#define MINUTE		INT64_C(60)
#define HOUR		(60 * MINUTE)
#define DAY		(24 * HOUR)
#define WEEK		(7 * DAY)
#define YEAR		(365 * DAY)

#define CLASS_NAME_MAX	64
#define MAX_PASSES	10
#define POLICY_MAX_SIZE	(1024 * 1024)	/* a policy is a few hundred bytes */
#define SHOW_MAX	72		/* user text quoted in a diagnostic */

enum section {
	SEC_NONE,	/* before the first header */
	SEC_SKIP,	/* after a bad header: its keys are not reported */
	SEC_SHRED,
	SEC_KEYS,
	SEC_TRASH,
	SEC_AUDIT,
	SEC_CLASS
};

enum kind {
	K_DURATION,	/* any duration, forever included */
	K_POSITIVE,	/* finite and > 0 */
	K_PASSES	/* integer 0..MAX_PASSES */
};

enum global_key {
	G_INTERVAL,
	G_PASSES,
	G_CLOCK_JUMP,
	G_KEY_PERIOD,
	G_TRASH,
	G_AUDIT,
	G_NKEYS
};

static const struct {
	enum section	 sec;
	const char	*key;
	enum kind	 kind;
} globals[G_NKEYS] = {
	[G_INTERVAL] =		{ SEC_SHRED, "interval", K_POSITIVE },
	[G_PASSES] =		{ SEC_SHRED, "passes", K_PASSES },
	[G_CLOCK_JUMP] =	{ SEC_SHRED, "max_clock_jump", K_DURATION },
	[G_KEY_PERIOD] =	{ SEC_KEYS, "period", K_POSITIVE },
	[G_TRASH] =		{ SEC_TRASH, "retention", K_DURATION },
	[G_AUDIT] =		{ SEC_AUDIT, "retention", K_DURATION },
};

enum class_key {
	C_RETENTION,
	C_MIN,
	C_AFTER,
	C_BACKUP,
	C_NKEYS
};

static const char *const class_keys[C_NKEYS] = {
	[C_RETENTION] = "retention",
	[C_MIN] = "min_retention",
	[C_AFTER] = "after_event",
	[C_BACKUP] = "backup_retention",
};

/* Where each class key was set (0 = not set), for cross-checks later. */
struct class_lines {
	int	header;
	int	line[C_NKEYS];
	int	bad[C_NKEYS];	/* set, but to an invalid value */
};

/* A diagnostic held back so that all of them come out in line order. */
struct held {
	int	 line;
	int	 warn;
	int	 seq;		/* keeps the sort stable */
	char	*msg;
};

struct parser {
	const char		*file;
	const char		*buf;
	size_t			 len;
	size_t			 pos;
	int			 line;		/* last line given to inih */
	int			 kv_line;	/* ... and is key = value */
	int			 handled;	/* ... and it did */
	enum section		 sec;
	int			 cls;		/* when sec == SEC_CLASS */
	int			 nerrors;
	int			 nomem;
	struct rfs_policy	*p;
	struct class_lines	*cl;		/* parallel to p->classes */
	int			 cap;
	int			 gline[G_NKEYS];
	rfs_policy_diag_fn	 diag;
	void			*ctx;
	struct held		*held;
	int			 nheld;
	int			 heldcap;
};

static void	report(struct parser *, int, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\f' || c == '\v';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static const char *
skip_space(const char *s)
{
	while (is_space((unsigned char)*s))
		s++;
	return s;
}

static int64_t
unit_seconds(int c)
{
	switch (c) {
	case 's':
		return 1;
	case 'm':
		return MINUTE;
	case 'h':
		return HOUR;
	case 'd':
		return DAY;
	case 'w':
		return WEEK;
	case 'y':
		return YEAR;
	default:
		return 0;
	}
}

int
rfs_duration_parse(const char *s, int64_t *out)
{
	const char *p;
	int64_t n = 0, unit;

	if (s == NULL || out == NULL)
		return -EINVAL;
	s = skip_space(s);
	if (strncmp(s, "forever", 7) == 0) {
		if (*skip_space(s + 7) != '\0')
			return -EINVAL;
		*out = RFS_FOREVER;
		return 0;
	}
	if (!is_digit((unsigned char)*s))
		return -EINVAL;
	for (p = s; is_digit((unsigned char)*p); p++) {
		int d = *p - '0';

		if (n > (INT64_MAX - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	/* The unit is required: a bare "90" is too easy to misread. */
	if ((unit = unit_seconds((unsigned char)*p)) == 0)
		return -EINVAL;
	if (*skip_space(p + 1) != '\0')
		return -EINVAL;
	if (n > INT64_MAX / unit)
		return -EINVAL;
	*out = n * unit;
	return 0;
}

void
rfs_duration_format(int64_t secs, char *buf, size_t len)
{
	static const struct {
		int64_t	secs;
		char	c;
	} units[] = {
		{ YEAR, 'y' }, { WEEK, 'w' }, { DAY, 'd' },
		{ HOUR, 'h' }, { MINUTE, 'm' },
	};
	int64_t n = secs;
	char c = 's';
	size_t i;

	if (buf == NULL || len == 0)
		return;
	if (secs == RFS_FOREVER) {
		snprintf(buf, len, "forever");
		return;
	}
	for (i = 0; secs > 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (secs % units[i].secs == 0) {
			n = secs / units[i].secs;
			c = units[i].c;
			break;
		}
	}
	snprintf(buf, len, "%" PRId64 "%c", n, c);
}

/*
 * Copies user text for a diagnostic: bounded, and with control bytes
 * replaced so a hostile policy cannot forge log lines.
 */
static const char *
show(const char *s, size_t n, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 >= len && i + 1 < n) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static void
report(struct parser *ps, int line, int warn, const char *fmt, ...)
{
	char msg[512], *dup;
	struct held *nh;
	va_list ap;
	int ncap;

	if (!warn)
		ps->nerrors++;
	if (ps->diag == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * Whole-class checks run after the last line, so hold everything
	 * back and sort (see flush_diags).  Without memory, say it now.
	 */
	if (ps->nheld == ps->heldcap) {
		ncap = ps->heldcap ? ps->heldcap * 2 : 16;
		if (ps->heldcap > INT32_MAX / 4 ||
		    (nh = reallocarray(ps->held, ncap, sizeof(*nh))) == NULL)
			goto now;
		ps->held = nh;
		ps->heldcap = ncap;
	}
	if ((dup = strdup(msg)) == NULL)
		goto now;
	ps->held[ps->nheld].line = line;
	ps->held[ps->nheld].warn = warn;
	ps->held[ps->nheld].seq = ps->nheld;
	ps->held[ps->nheld].msg = dup;
	ps->nheld++;
	return;
now:
	ps->diag(ps->ctx, ps->file, line, warn, msg);
}

static int
held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
flush_diags(struct parser *ps)
{
	int i;

	if (ps->nheld > 1)
		qsort(ps->held, (size_t)ps->nheld, sizeof(ps->held[0]),
		    held_cmp);
	for (i = 0; i < ps->nheld; i++) {
		ps->diag(ps->ctx, ps->file, ps->held[i].line,
		    ps->held[i].warn, ps->held[i].msg);
		free(ps->held[i].msg);
	}
	free(ps->held);
	ps->held = NULL;
	ps->nheld = ps->heldcap = 0;
}

static void
class_free(struct rfs_class *c)
{
	int i;

	for (i = 0; i < c->nmatch; i++)
		free(c->match[i]);
	free(c->match);
	free(c->name);
}

static void
policy_free(struct rfs_policy *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nclasses; i++)
		class_free(&p->classes[i]);
	free(p->classes);
	free(p);
}

/* A policy with every global at its default and no classes. */
static struct rfs_policy *
policy_new(void)
{
	struct rfs_policy *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->shred_interval = HOUR;
	p->shred_passes = 1;
	p->clock_jump = DAY;
	p->key_period = DAY;
	p->trash_retention = 30 * DAY;
	p->audit_retention = YEAR;
	p->refs = 1;
	return p;
}

/* Appends a class and its line record.  Returns its index, or -ENOMEM. */
static int
class_add(struct parser *ps, const char *name, size_t n)
{
	struct rfs_policy *p = ps->p;
	struct class_lines *ncl;
	struct rfs_class *c, *nc;
	char *dup;
	int ncap;

	if ((dup = strndup(name, n)) == NULL)
		return -ENOMEM;
	if (p->nclasses == ps->cap) {
		if (ps->cap > INT32_MAX / 4)
			goto nomem;
		ncap = ps->cap ? ps->cap * 2 : 8;
		if ((nc = reallocarray(p->classes, ncap, sizeof(*nc))) == NULL)
			goto nomem;
		p->classes = nc;
		if ((ncl = reallocarray(ps->cl, ncap, sizeof(*ncl))) == NULL)
			goto nomem;
		ps->cl = ncl;
		ps->cap = ncap;
	}
	c = &p->classes[p->nclasses];
	memset(c, 0, sizeof(*c));
	c->name = dup;
	c->retention = RFS_FOREVER;
	c->min_retention = 0;
	c->after_event = RFS_FOREVER;
	c->backup_retention = RFS_FOREVER;
	memset(&ps->cl[p->nclasses], 0, sizeof(ps->cl[0]));
	return p->nclasses++;
nomem:
	free(dup);
	return -ENOMEM;
}

static int
class_find(const struct rfs_policy *p, const char *name, size_t n)
{
	int i;

	for (i = 0; i < p->nclasses; i++) {
		if (strlen(p->classes[i].name) == n &&
		    memcmp(p->classes[i].name, name, n) == 0)
			return i;
	}
	return -1;
}

static int
class_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > CLASS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    is_digit((unsigned char)c) || c == '.' || c == '_' ||
		    c == '-'))
			return 0;
	}
	return 1;
}

static void
begin_class(struct parser *ps, const char *name, size_t n)
{
	char buf[SHOW_MAX];
	int first, idx;

	if (!class_name_ok(name, n))
		report(ps, ps->line, 0, "bad class name '%s' (want 1-%d "
		    "characters of A-Z a-z 0-9 . _ -)",
		    show(name, n, buf, sizeof(buf)), CLASS_NAME_MAX);
	else if ((first = class_find(ps->p, name, n)) >= 0)
		report(ps, ps->line, 0, "duplicate class '%s' (first defined "
		    "at line %d)", show(name, n, buf, sizeof(buf)),
		    ps->cl[first].header);
	/*
	 * Bad and duplicate classes are kept (the policy is rejected anyway)
	 * so that mistakes in their keys are reported in the same pass.
	 */
	if ((idx = class_add(ps, name, n)) < 0) {
		ps->nomem = 1;
		ps->sec = SEC_SKIP;
		return;
	}
	ps->cl[idx].header = ps->line;
	ps->sec = SEC_CLASS;
	ps->cls = idx;
}

/* A "[...]" line, B..E without comments and surrounding blanks. */
static void
section_line(struct parser *ps, const char *b, const char *e)
{
	static const struct {
		const char	*name;
		enum section	 sec;
	} plain[] = {
		{ "shred", SEC_SHRED }, { "keys", SEC_KEYS },
		{ "trash", SEC_TRASH }, { "audit", SEC_AUDIT },
	};
	const char *close, *s, *t;
	char buf[SHOW_MAX];
	size_t i, n;

	ps->sec = SEC_SKIP;
	if ((close = memchr(b, ']', (size_t)(e - b))) == NULL) {
		report(ps, ps->line, 0, "syntax error: '[' without ']'");
		return;
	}
	if (close + 1 != e)
		report(ps, ps->line, 0, "text after section header");
	for (s = b + 1; s < close && is_space((unsigned char)*s); s++)
		;
	for (t = close; t > s && is_space((unsigned char)t[-1]); t--)
		;
	n = (size_t)(t - s);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (strlen(plain[i].name) == n &&
		    memcmp(plain[i].name, s, n) == 0) {
			ps->sec = plain[i].sec;
			return;
		}
	}
	if (n >= 5 && memcmp(s, "class", 5) == 0 &&
	    (n == 5 || is_space((unsigned char)s[5]))) {
		for (s += 5; s < t && is_space((unsigned char)*s); s++)
			;
		begin_class(ps, s, (size_t)(t - s));
		return;
	}
	report(ps, ps->line, 0, "unknown section [%s]",
	    show(s, n, buf, sizeof(buf)));
}

/* Called before each new line and at the end: did inih take the last? */
static void
finish_line(struct parser *ps)
{
	if (ps->kv_line && !ps->handled)
		report(ps, ps->line, 0, "syntax error: expected 'key = value'");
	ps->kv_line = 0;
}

/*
 * The ini_reader: hands inih one cleaned-up line per call.  Lines that
 * are dealt with here (errors, section headers that do not fit) are
 * passed on as blank lines so inih's line count stays equal to ours.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parser *ps = stream;
	const char *b, *e, *nl, *q;
	size_t n;

	finish_line(ps);
	if (ps->pos >= ps->len || num < 2)
		return NULL;
	b = ps->buf + ps->pos;
	nl = memchr(b, '\n', ps->len - ps->pos);
	e = nl != NULL ? nl : ps->buf + ps->len;
	ps->pos = (size_t)(e - ps->buf) + (nl != NULL);
	ps->line++;
	str[0] = '\0';

	if (memchr(b, '\0', (size_t)(e - b)) != NULL) {
		report(ps, ps->line, 0, "NUL byte in line");
		return str;
	}
	if (ps->line == 1 && e - b >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
		b += 3;
	while (b < e && is_space((unsigned char)*b))
		b++;
	/*
	 * '#' and ';' start a comment at the beginning of a line or after
	 * a blank, as in inih; "a#b" stays a value.
	 */
	for (q = b; q < e; q++) {
		if ((*q == '#' || *q == ';') &&
		    (q == b || is_space((unsigned char)q[-1]))) {
			e = q;
			break;
		}
	}
	while (e > b && is_space((unsigned char)e[-1]))
		e--;
	n = (size_t)(e - b);
	if (n == 0)
		return str;
	if (*b == '[') {
		section_line(ps, b, e);
		/* inih's idea of the section is not used; no need to pass on */
		return str;
	}
	/* Room for "\n" too, so a realloc-enabled inih never asks for more. */
	if (n + 2 > (size_t)num) {
		report(ps, ps->line, 0, "line too long (over %d bytes)",
		    num - 2);
		return str;
	}
	memcpy(str, b, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	ps->kv_line = 1;
	ps->handled = 0;
	return str;
}

static int
parse_value(struct parser *ps, enum kind kind, const char *key,
    const char *value, int64_t *out)
{
	char buf[SHOW_MAX];
	const char *p;
	int64_t v = 0;

	if (kind == K_PASSES) {
		for (p = value; is_digit((unsigned char)*p) && v <= MAX_PASSES;
		    p++)
			v = v * 10 + (*p - '0');
		if (p == value || *p != '\0' || v > MAX_PASSES) {
			report(ps, ps->line, 0, "%s must be an integer from 0 "
			    "to %d", key, MAX_PASSES);
			return -EINVAL;
		}
		*out = v;
		return 0;
	}
	if (rfs_duration_parse(value, &v) != 0) {
		report(ps, ps->line, 0, "bad duration '%s' for %s (want a "
		    "number and one of s m h d w y, or forever)",
		    show(value, strlen(value), buf, sizeof(buf)), key);
		return -EINVAL;
	}
	/* A sweep or key window of "forever" would silently never shred. */
	if (kind == K_POSITIVE && (v == 0 || v == RFS_FOREVER)) {
		report(ps, ps->line, 0, "%s must be a finite duration above 0",
		    key);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static void
global_key(struct parser *ps, const char *key, const char *value)
{
	struct rfs_policy *p = ps->p;
	char buf[SHOW_MAX];
	int64_t v;
	int i;

	for (i = 0; i < G_NKEYS; i++)
		if (globals[i].sec == ps->sec &&
		    strcmp(globals[i].key, key) == 0)
			break;
	if (i == G_NKEYS) {
		report(ps, ps->line, 0, "unknown key '%s'",
		    show(key, strlen(key), buf, sizeof(buf)));
		return;
	}
	if (ps->gline[i] != 0) {
		report(ps, ps->line, 0, "duplicate key '%s' (first set at "
		    "line %d)", key, ps->gline[i]);
		return;
	}
	ps->gline[i] = ps->line;
	if (parse_value(ps, globals[i].kind, key, value, &v) != 0)
		return;
	switch (i) {
	case G_INTERVAL:
		p->shred_interval = v;
		break;
	case G_PASSES:
		p->shred_passes = (int)v;
		break;
	case G_CLOCK_JUMP:
		p->clock_jump = v;
		break;
	case G_KEY_PERIOD:
		p->key_period = v;
		break;
	case G_TRASH:
		p->trash_retention = v;
		break;
	case G_AUDIT:
		p->audit_retention = v;
		break;
	}
}

static void
add_match(struct parser *ps, struct rfs_class *c, const char *value)
{
	char **nm, *dup;
	int n = c->nmatch;

	if (strcmp(c->name, "default") == 0) {
		report(ps, ps->line, 0, "class default takes no match rules");
		return;
	}
	if (*value == '\0') {
		report(ps, ps->line, 0, "empty match");
		return;
	}
	/* An empty component matches no file name: "logs/" would never
	 * match, silently.  Rules match files; the message says how to
	 * match everything under a directory. */
	if (value[strlen(value) - 1] == '/' || strstr(value, "//") != NULL) {
		report(ps, ps->line, 0, "match '%s' has an empty path component"
		    " and would match no file (for everything under a"
		    " directory, write DIR/**)", value);
		return;
	}
	/* Capacity is the next power of two: grow when N is one. */
	if ((n & (n - 1)) == 0) {
		if (n > INT32_MAX / 4 ||
		    (nm = reallocarray(c->match, n ? 2 * (size_t)n : 1,
		    sizeof(*nm))) == NULL) {
			ps->nomem = 1;
			return;
		}
		c->match = nm;
	}
	if ((dup = strdup(value)) == NULL) {
		ps->nomem = 1;
		return;
	}
	c->match[c->nmatch++] = dup;
}

static void
class_key(struct parser *ps, const char *key, const char *value)
{
	struct rfs_class *c = &ps->p->classes[ps->cls];
	struct class_lines *cl = &ps->cl[ps->cls];
	char buf[SHOW_MAX];
	int64_t v;
	int i;

	if (strcmp(key, "match") == 0) {
		add_match(ps, c, value);
		return;
	}
	for (i = 0; i < C_NKEYS; i++)
		if (strcmp(class_keys[i], key) == 0)
			break;
	if (i == C_NKEYS) {
		report(ps, ps->line, 0, "unknown key '%s'",
		    show(key, strlen(key), buf, sizeof(buf)));
		return;
	}
	if (cl->line[i] != 0) {
		report(ps, ps->line, 0, "duplicate key '%s' (first set at "
		    "line %d)", key, cl->line[i]);
		return;
	}
	cl->line[i] = ps->line;
	if (parse_value(ps, K_DURATION, key, value, &v) != 0) {
		cl->bad[i] = 1;
		return;
	}
	switch (i) {
	case C_RETENTION:
		c->retention = v;
		break;
	case C_MIN:
		c->min_retention = v;
		break;
	case C_AFTER:
		c->after_event = v;
		break;
	case C_BACKUP:
		c->backup_retention = v;
		break;
	}
}

/* The ini_handler.  Always returns 1: errors are counted in PS. */
static int
handler(void *user, const char *section, const char *key, const char *value)
{
	struct parser *ps = user;
	char buf[SHOW_MAX];

	if (!ps->kv_line)
		return 1;	/* not reached: no continuation lines */
	ps->handled = 1;
	if (*key == '\0') {
		report(ps, ps->line, 0, "syntax error: no key before '='");
		return 1;
	}
	switch (ps->sec) {
	case SEC_NONE:
		report(ps, ps->line, 0, "'%s' is outside any section",
		    show(key, strlen(key), buf, sizeof(buf)));
		break;
	case SEC_SKIP:
		break;
	case SEC_CLASS:
		class_key(ps, key, value);
		break;
	default:
		global_key(ps, key, value);
		break;
	}
	return 1;
}

/* Checks that need a whole class, and the implicit default class. */
static void
check_classes(struct parser *ps)
{
	struct rfs_policy *p = ps->p;
	char a[32], b[32], buf[SHOW_MAX];
	int i, idx, have_default = 0;

	for (i = 0; i < p->nclasses; i++) {
		struct rfs_class *c = &p->classes[i];
		struct class_lines *cl = &ps->cl[i];
		int ret_ok = cl->line[C_RETENTION] && !cl->bad[C_RETENTION];

		if (strcmp(c->name, "default") == 0)
			have_default = 1;
		if (cl->line[C_RETENTION] == 0)
			report(ps, cl->header, 0, "class '%s' has no retention",
			    show(c->name, strlen(c->name), buf, sizeof(buf)));
		if (cl->line[C_BACKUP] == 0)
			c->backup_retention = c->retention;
		if (!ret_ok)
			continue;
		if (cl->line[C_MIN] && !cl->bad[C_MIN] &&
		    c->min_retention > c->retention) {
			rfs_duration_format(c->min_retention, a, sizeof(a));
			rfs_duration_format(c->retention, b, sizeof(b));
			report(ps, cl->line[C_MIN], 0, "min_retention %s is "
			    "longer than retention %s", a, b);
		}
		if (cl->line[C_BACKUP] && !cl->bad[C_BACKUP] &&
		    c->backup_retention < c->retention) {
			rfs_duration_format(c->backup_retention, a, sizeof(a));
			rfs_duration_format(c->retention, b, sizeof(b));
			report(ps, cl->line[C_BACKUP], 0, "backup_retention %s "
			    "is shorter than retention %s", a, b);
		}
		if (cl->line[C_AFTER] && !cl->bad[C_AFTER] &&
		    c->after_event != RFS_FOREVER &&
		    c->after_event > c->retention)
			report(ps, cl->line[C_AFTER], 1, "after_event longer "
			    "than retention has no effect");
	}
	if (have_default)
		return;
	if ((idx = class_add(ps, "default", 7)) < 0) {
		ps->nomem = 1;
		return;
	}
	p->classes[idx].retention = RFS_FOREVER;
	p->classes[idx].backup_retention = RFS_FOREVER;
	/* Line 0: the warning is about the file as a whole. */
	report(ps, 0, 1, "no [class default]: files that match no class "
	    "are kept forever");
}

struct rfs_policy *
rfs_policy_parse(const char *name, const char *buf, size_t len,
    rfs_policy_diag_fn diag, void *ctx)
{
	struct parser ps;
	struct rfs_policy *p;
	int rc;

	memset(&ps, 0, sizeof(ps));
	ps.file = name != NULL ? name : "(policy)";
	ps.buf = buf;
	ps.len = buf != NULL ? len : 0;
	ps.diag = diag;
	ps.ctx = ctx;
	ps.sec = SEC_NONE;
	if ((p = ps.p = policy_new()) == NULL) {
		ps.nomem = 1;
		goto out;
	}
	/* Also keeps line numbers far from INT_MAX. */
	if (ps.len > POLICY_MAX_SIZE) {
		report(&ps, 0, 0, "policy larger than %d bytes",
		    POLICY_MAX_SIZE);
		goto out;
	}
	rc = ini_parse_stream(reader, &ps, handler, &ps);
	finish_line(&ps);
	if (rc == -2)
		ps.nomem = 1;
	else if (rc > 0 && ps.nerrors == 0)
		report(&ps, rc, 0, "syntax error");	/* a safety net */
	if (!ps.nomem)
		check_classes(&ps);
out:
	if (ps.nomem)
		report(&ps, 0, 0, "out of memory");
	flush_diags(&ps);
	free(ps.cl);
	if (ps.nerrors != 0) {
		policy_free(p);
		p = NULL;
	}
	return p;
}

/* Reads PATH whole; policies are small, so a bound keeps it simple. */
static int
read_file(const char *path, char **bufp, size_t *lenp)
{
	FILE *f;
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;
	int error = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	for (;;) {
		if (len == cap) {
			if (cap >= POLICY_MAX_SIZE) {
				error = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				error = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				error = -EIO;
			break;
		}
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

struct rfs_policy *
rfs_policy_load(const char *path, rfs_policy_diag_fn diag, void *ctx)
{
	struct rfs_policy *p;
	char *buf = NULL, msg[128];
	size_t len = 0;
	int error;

	if ((error = read_file(path, &buf, &len)) != 0) {
		if (diag != NULL) {
			snprintf(msg, sizeof(msg), "cannot read policy: %s",
			    error == -EFBIG ? "file too large" :
			    strerror(-error));
			diag(ctx, path, 0, 0, msg);
		}
		return NULL;
	}
	p = rfs_policy_parse(path, buf, len, diag, ctx);
	free(buf);
	return p;
}

struct rfs_policy *
rfs_policy_default(void)
{
	/* Parsed like any other, so it cannot drift from the real defaults. */
	static const char builtin[] = "[class default]\nretention = 90d\n";

	return rfs_policy_parse("(built-in)", builtin, sizeof(builtin) - 1,
	    NULL, NULL);
}

struct rfs_policy *
rfs_policy_ref(struct rfs_policy *p)
{
	if (p != NULL)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void
rfs_policy_unref(struct rfs_policy *p)
{
	/* Release our writes, acquire everyone else's before freeing. */
	if (p != NULL && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		policy_free(p);
}

const struct rfs_class *
rfs_policy_class(const struct rfs_policy *p, const char *name)
{
	int i;

	if (p == NULL || name == NULL)
		return NULL;
	if ((i = class_find(p, name, strlen(name))) < 0)
		return NULL;
	return &p->classes[i];
}

static int
glob_class(const char *name, size_t n, unsigned char c)
{
	static const struct {
		const char	*name;
		int		(*fn)(int);
	} classes[] = {
		{ "alnum", isalnum }, { "alpha", isalpha },
		{ "blank", isblank }, { "cntrl", iscntrl },
		{ "digit", isdigit }, { "graph", isgraph },
		{ "lower", islower }, { "print", isprint },
		{ "punct", ispunct }, { "space", isspace },
		{ "upper", isupper }, { "xdigit", isxdigit },
	};
	size_t i;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strlen(classes[i].name) == n &&
		    memcmp(classes[i].name, name, n) == 0)
			return classes[i].fn(c) != 0;
	return -1;
}

/*
 * "[:name:]", "[.c.]" or "[=c=]" at P inside a bracket expression.
 * Returns 1 if C is in it, 0 if not, -1 if it is not one of those after
 * all (then '[' is an ordinary member), -2 for an unknown class name or
 * a bad "[.", which make the whole pattern invalid; *LEN is its length.
 * These rules are glibc fnmatch's.
 */
static int
glob_bracket_class(const char *p, size_t n, unsigned char c, size_t *len)
{
	size_t j;
	int r;

	if (p[1] == ':') {
		for (j = 2; j + 1 < n; j++) {
			if (p[j] == ':' && p[j + 1] == ']')
				break;
			if (p[j] < 'a' || p[j] >= 'z')
				return -1;
		}
		if (j + 1 >= n)
			return -1;
		*len = j + 2;
		r = glob_class(p + 2, j - 2, c);
		return r < 0 ? -2 : r;
	}
	/* Collating symbols and classes: only single bytes exist in C. */
	if (n >= 5 && p[3] == p[1] && p[4] == ']') {
		*len = 5;
		return (unsigned char)p[2] == c;
	}
	return p[1] == '.' ? -2 : -1;
}

/*
 * A bracket expression at P (P[0] == '['), N bytes of pattern left.
 * Returns whether C is in the set and sets *LEN to its length; returns
 * -1 if there is no closing ']' (then '[' is an ordinary character, as
 * in fnmatch) or -2 if the pattern is invalid and matches nothing.
 */
static int
glob_bracket(const char *p, size_t n, unsigned char c, size_t *len)
{
	size_t i = 1, clen;
	int neg = 0, hit = 0, first = 1, r;
	unsigned char lo, hi;

	if (i < n && (p[i] == '!' || p[i] == '^')) {
		neg = 1;
		i++;
	}
	for (;; first = 0) {
		if (i >= n)
			return -1;
		if (p[i] == ']' && !first)
			break;
		if (p[i] == '[' && i + 1 < n &&
		    (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
			r = glob_bracket_class(p + i, n - i, c, &clen);
			if (r == -2)
				return -2;
			if (r >= 0) {
				hit |= r;
				i += clen;
				continue;
			}
		}
		if (p[i] == '\\' && i + 1 < n)
			i++;
		lo = (unsigned char)p[i++];
		if (i + 1 == n && p[i] == '-')
			return -2;	/* glibc: a range cut off by the end */
		if (i + 1 < n && p[i] == '-' && p[i + 1] != ']') {
			i++;
			if (p[i] == '\\' && i + 1 < n)
				i++;
			hi = (unsigned char)p[i++];
			if (lo <= c && c <= hi)
				hit = 1;
		} else if (lo == c)
			hit = 1;
	}
	*len = i + 1;
	return hit != neg;
}

/* Does the pattern token at P (N bytes left) match C?  *LEN: its size. */
static int
glob_token(const char *p, size_t n, unsigned char c, size_t *len)
{
	int r;

	*len = 1;
	switch (p[0]) {
	case '?':
		return 1;
	case '\\':
		if (n < 2)
			return 0;	/* as in fnmatch: never matches */
		*len = 2;
		return (unsigned char)p[1] == c;
	case '[':
		if ((r = glob_bracket(p, n, c, len)) >= 0)
			return r;
		*len = 1;
		/* An invalid pattern matches nothing, like fnmatch's. */
		return r == -1 && c == '[';
	default:
		return (unsigned char)p[0] == c;
	}
}

/*
 * Matches one glob component P (PN bytes) against one path component S
 * (SN bytes) with fnmatch(3) rules and no flags.  Not fnmatch itself:
 * that needs NUL-terminated strings, and components are matched in
 * place so that classify never allocates.  Other tokens match exactly one
 * byte, so going back to the last '*' only is enough (linear space,
 * O(PN * SN) time).
 */
static int
glob_component(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star_p = 0, star_s = 0, len;
	int star = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			while (pi < pn && p[pi] == '*')
				pi++;
			star = 1;
			star_p = pi;
			star_s = si;
			continue;
		}
		if (pi < pn &&
		    glob_token(p + pi, pn - pi, (unsigned char)s[si], &len)) {
			pi += len;
			si++;
			continue;
		}
		if (!star)
			return 0;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

static size_t
comp_len(const char *s)
{
	return (size_t)(strchrnul(s, '/') - s);
}

/* The component after S, or NULL at the end. */
static const char *
comp_next(const char *s)
{
	const char *q = strchr(s, '/');

	return q != NULL ? q + 1 : NULL;
}

static int
comp_is_globstar(const char *s)
{
	return s[0] == '*' && s[1] == '*' && (s[2] == '/' || s[2] == '\0');
}

/*
 * Component-wise match of a pattern containing '/' against the whole
 * path.  A "**" component matches zero or more whole components; like
 * '*' within a component, only the last one needs to be backtracked to.
 */
static int
glob_path(const char *p, const char *s)
{
	const char *back_p = NULL, *back_s = NULL;
	int star = 0;

	while (s != NULL) {
		if (p != NULL && comp_is_globstar(p)) {
			p = comp_next(p);
			star = 1;
			back_p = p;
			back_s = s;
			continue;
		}
		if (p != NULL &&
		    glob_component(p, comp_len(p), s, comp_len(s))) {
			p = comp_next(p);
			s = comp_next(s);
			continue;
		}
		if (!star)
			return 0;
		p = back_p;
		s = back_s = comp_next(back_s);
	}
	while (p != NULL && comp_is_globstar(p))
		p = comp_next(p);
	return p == NULL;
}

static int
glob_match(const char *pat, const char *path)
{
	const char *base;

	if (strchr(pat, '/') == NULL) {
		/* Like .gitignore: a bare name matches in any directory. */
		base = strrchr(path, '/');
		base = base != NULL ? base + 1 : path;
		return glob_component(pat, strlen(pat), base, strlen(base));
	}
	while (*pat == '/')
		pat++;
	return glob_path(pat, path);
}

const struct rfs_class *
rfs_policy_classify(const struct rfs_policy *p, const char *path)
{
	const struct rfs_class *def = NULL;
	int i, j;

	while (*path == '/')
		path++;
	for (i = 0; i < p->nclasses; i++) {
		const struct rfs_class *c = &p->classes[i];

		if (strcmp(c->name, "default") == 0) {
			if (def == NULL)
				def = c;
			continue;
		}
		for (j = 0; j < c->nmatch; j++)
			if (glob_match(c->match[j], path))
				return c;
	}
	/* Every policy built here has a default; the last is a fallback. */
	return def != NULL ? def : &p->classes[p->nclasses - 1];
}
