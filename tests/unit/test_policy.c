/*
 * test_policy.c - durations, the policy parser and its diagnostics, and
 * path classification.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rfs/policy.h"

#include "harness.h"

#define D	INT64_C(86400)
#define Y	(365 * D)

#define MAXDIAG	64

struct diags {
	int	n;
	int	nerr;
	int	nwarn;
	int	line[MAXDIAG];
	int	warn[MAXDIAG];
	char	msg[MAXDIAG][256];
	char	file[64];
};

static void
collect(void *ctx, const char *file, int line, int warn, const char *msg)
{
	struct diags *d = ctx;

	if (warn)
		d->nwarn++;
	else
		d->nerr++;
	if (d->n == MAXDIAG)
		return;
	d->line[d->n] = line;
	d->warn[d->n] = warn;
	snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", msg);
	snprintf(d->file, sizeof(d->file), "%s", file);
	d->n++;
}

static struct rfs_policy *
parse(const char *text, struct diags *d)
{
	memset(d, 0, sizeof(*d));
	return rfs_policy_parse("t.ini", text, strlen(text), collect, d);
}

/* Is there a diagnostic at LINE, of kind WARN, whose text contains SUB? */
static int
has(const struct diags *d, int line, int warn, const char *sub)
{
	int i;

	for (i = 0; i < d->n; i++)
		if (d->line[i] == line && d->warn[i] == warn &&
		    strstr(d->msg[i], sub) != NULL)
			return 1;
	return 0;
}

static void
dump(const struct diags *d)
{
	int i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "  diag: %s:%d: %s%s\n", d->file, d->line[i],
		    d->warn[i] ? "warning: " : "", d->msg[i]);
}

/*
 * TEXT must fail with exactly one error, at LINE, containing SUB.  Returns
 * 0 on success so the TEST can CHECK it.
 */
static int
one_error(const char *text, int line, const char *sub)
{
	struct rfs_policy *p;
	struct diags d;

	p = parse(text, &d);
	if (p != NULL || d.nerr != 1 || !has(&d, line, 0, sub)) {
		fprintf(stderr, "expected one error at line %d (%s):\n", line,
		    sub);
		dump(&d);
		rfs_policy_unref(p);
		return -1;
	}
	return 0;
}

static const char example[] =
    "[shred]\n"
    "interval = 1h          # how often the sweeper runs\n"
    "[trash]\n"
    "retention = 30d\n"
    "[class sms-log]\n"
    "retention = 90d        # hidden and shredded at created + 90d\n"
    "match = sms/*.log\n"
    "match = *.sms\n"
    "[class access-log]\n"
    "retention = 1y\n"
    "min_retention = 30d\n"
    "[class default]\n"
    "retention = forever\n";

static int64_t
dur(const char *s)
{
	int64_t v = -1;

	if (rfs_duration_parse(s, &v) != 0)
		return -1;
	return v;
}

TEST(duration_units)
{
	CHECK_EQ(dur("0s"), 0);
	CHECK_EQ(dur("1s"), 1);
	CHECK_EQ(dur("1m"), 60);
	CHECK_EQ(dur("1h"), 3600);
	CHECK_EQ(dur("1d"), D);
	CHECK_EQ(dur("1w"), 7 * D);
	CHECK_EQ(dur("1y"), Y);
	CHECK_EQ(dur("90d"), 90 * D);
	CHECK_EQ(dur("3y"), 3 * Y);
	CHECK_EQ(dur("007m"), 420);
	CHECK_EQ(dur("  30d "), 30 * D);
	CHECK_EQ(dur("\t12h\n"), 12 * 3600);
}

TEST(duration_forever)
{
	CHECK_EQ(dur("forever"), RFS_FOREVER);
	CHECK_EQ(dur("  forever\t"), RFS_FOREVER);
	CHECK_EQ(dur("foreverx"), -1);
	CHECK_EQ(dur("forever 1d"), -1);
	CHECK_EQ(dur("Forever"), -1);
	CHECK_EQ(dur("fore"), -1);
}

TEST(duration_bad)
{
	static const char *const bad[] = {
		"", " ", "d", "90", "90 d", "-1d", "+1d", "1.5d", "1dd",
		"1D", "1x", "1d 2h", "1d2h", "0x10s", "1 ", "s1", "１d",
	};
	int64_t v = 42;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rfs_duration_parse(bad[i], &v) != -EINVAL) {
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
	}
	CHECK_EQ(v, 42);	/* untouched on error */
	CHECK_EQ(rfs_duration_parse(NULL, &v), -EINVAL);
	CHECK_EQ(rfs_duration_parse("1d", NULL), -EINVAL);
}

TEST(duration_overflow)
{
	char buf[64];

	CHECK_EQ(dur("9223372036854775807s"), INT64_MAX);
	CHECK_EQ(dur("9223372036854775808s"), -1);
	CHECK_EQ(dur("99999999999999999999999999s"), -1);
	snprintf(buf, sizeof(buf), "%lldd", (long long)(INT64_MAX / D));
	CHECK_EQ(dur(buf), INT64_MAX / D * D);
	snprintf(buf, sizeof(buf), "%lldd", (long long)(INT64_MAX / D + 1));
	CHECK_EQ(dur(buf), -1);
	snprintf(buf, sizeof(buf), "%lldy", (long long)(INT64_MAX / Y));
	CHECK_EQ(dur(buf), INT64_MAX / Y * Y);
	snprintf(buf, sizeof(buf), "%lldy", (long long)(INT64_MAX / Y + 1));
	CHECK_EQ(dur(buf), -1);
	snprintf(buf, sizeof(buf), "%lldm", (long long)(INT64_MAX / 60 + 1));
	CHECK_EQ(dur(buf), -1);
}

TEST(duration_format)
{
	static const struct {
		int64_t		 secs;
		const char	*want;
	} cases[] = {
		{ 0, "0s" }, { 1, "1s" }, { 59, "59s" }, { 60, "1m" },
		{ 90, "90s" }, { 3600, "1h" }, { 5400, "90m" }, { D, "1d" },
		{ 7 * D, "1w" }, { 14 * D, "2w" }, { 30 * D, "30d" },
		{ 90 * D, "90d" }, { Y, "1y" }, { 3 * Y, "3y" },
		{ 7 * Y, "7y" }, { 90061, "90061s" },
		{ RFS_FOREVER, "forever" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rfs_duration_format(cases[i].secs, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].want);
		/* and back */
		CHECK_EQ(dur(buf), cases[i].secs);
	}
	rfs_duration_format(RFS_FOREVER, buf, 3);
	CHECK_STR(buf, "fo");
	rfs_duration_format(90 * D, buf, 1);
	CHECK_STR(buf, "");
	rfs_duration_format(90 * D, NULL, 0);	/* must not crash */
}

TEST(example_policy)
{
	const struct rfs_class *c;
	struct rfs_policy *p;
	struct diags d;

	p = parse(example, &d);
	dump(&d);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	CHECK_EQ(p->refs, 1);
	CHECK_EQ(p->shred_interval, 3600);
	CHECK_EQ(p->shred_passes, 1);
	CHECK_EQ(p->clock_jump, D);
	CHECK_EQ(p->key_period, D);
	CHECK_EQ(p->trash_retention, 30 * D);
	CHECK_EQ(p->audit_retention, Y);
	CHECK_EQ(p->nclasses, 3);
	c = &p->classes[0];
	CHECK_STR(c->name, "sms-log");
	CHECK_EQ(c->retention, 90 * D);
	CHECK_EQ(c->min_retention, 0);
	CHECK_EQ(c->after_event, RFS_FOREVER);
	CHECK_EQ(c->backup_retention, 90 * D);
	CHECK_EQ(c->nmatch, 2);
	CHECK_STR(c->match[0], "sms/*.log");
	CHECK_STR(c->match[1], "*.sms");
	c = &p->classes[1];
	CHECK_STR(c->name, "access-log");
	CHECK_EQ(c->retention, Y);
	CHECK_EQ(c->min_retention, 30 * D);
	CHECK_EQ(c->backup_retention, Y);
	CHECK_EQ(c->nmatch, 0);
	c = &p->classes[2];
	CHECK_STR(c->name, "default");
	CHECK_EQ(c->retention, RFS_FOREVER);
	CHECK_EQ(c->backup_retention, RFS_FOREVER);
	CHECK(rfs_policy_class(p, "access-log") == &p->classes[1]);
	CHECK(rfs_policy_class(p, "nope") == NULL);
	CHECK_STR(rfs_policy_classify(p, "sms/a.log")->name, "sms-log");
	CHECK_STR(rfs_policy_classify(p, "x/y/z.sms")->name, "sms-log");
	CHECK_STR(rfs_policy_classify(p, "sms/x/a.log")->name, "default");
	CHECK_STR(rfs_policy_classify(p, "access.log")->name, "default");
	rfs_policy_unref(p);
}

/* The example as the brief shows it, indented, with CRLF and a BOM. */
TEST(example_reformatted)
{
	struct rfs_policy *p;
	struct diags d;
	char buf[2048], *o = buf;
	const char *s;

	memcpy(o, "\xEF\xBB\xBF", 3);
	o += 3;
	for (s = example; *s; s++) {
		if (s == example || s[-1] == '\n') {
			memcpy(o, "    ", 4);
			o += 4;
		}
		if (*s == '\n')
			*o++ = '\r';
		*o++ = *s;
	}
	*o = '\0';
	p = parse(buf, &d);
	dump(&d);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	CHECK_EQ(p->nclasses, 3);
	CHECK_EQ(p->classes[0].nmatch, 2);
	CHECK_STR(p->classes[0].match[1], "*.sms");
	CHECK_EQ(p->classes[2].retention, RFS_FOREVER);
	rfs_policy_unref(p);
}

TEST(all_keys)
{
	const struct rfs_class *c;
	struct rfs_policy *p;
	struct diags d;

	p = parse(
	    "; full-line comment\n"
	    "# another\n"
	    "\n"
	    "[shred]\n"
	    "interval = 15m\n"
	    "passes = 3 ; three\n"
	    "max_clock_jump = 2h\n"
	    "[keys]\n"
	    "period = 1w\n"
	    "[trash]\n"
	    "retention : 7d\n"
	    "[audit]\n"
	    "retention = 10y\n"
	    "[ class invoices ]\n"
	    "retention = 10y\n"
	    "min_retention = 10y\n"
	    "after_event = 1y\n"
	    "backup_retention = forever\n"
	    "match = invoices/**\n"
	    "match = a#b\n"
	    "[class default]\n"
	    "retention = 90d\n", &d);
	dump(&d);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	CHECK_EQ(p->shred_interval, 900);
	CHECK_EQ(p->shred_passes, 3);
	CHECK_EQ(p->clock_jump, 7200);
	CHECK_EQ(p->key_period, 7 * D);
	CHECK_EQ(p->trash_retention, 7 * D);
	CHECK_EQ(p->audit_retention, 10 * Y);
	c = rfs_policy_class(p, "invoices");
	CHECK(c != NULL);
	CHECK_EQ(c->retention, 10 * Y);
	CHECK_EQ(c->min_retention, 10 * Y);
	CHECK_EQ(c->after_event, Y);
	CHECK_EQ(c->backup_retention, RFS_FOREVER);
	CHECK_EQ(c->nmatch, 2);
	CHECK_STR(c->match[1], "a#b");
	CHECK_STR(rfs_policy_classify(p, "x/a#b")->name, "invoices");
	rfs_policy_unref(p);
}

TEST(passes_range)
{
	struct rfs_policy *p;
	struct diags d;

	p = parse("[shred]\npasses = 0\n", &d);
	CHECK(p != NULL);
	CHECK_EQ(p->shred_passes, 0);
	rfs_policy_unref(p);
	p = parse("[shred]\npasses = 10\n", &d);
	CHECK(p != NULL);
	CHECK_EQ(p->shred_passes, 10);
	rfs_policy_unref(p);
	CHECK(one_error("[shred]\npasses = 11\n", 2, "passes") == 0);
	CHECK(one_error("[shred]\npasses = -1\n", 2, "passes") == 0);
	CHECK(one_error("[shred]\npasses = 1d\n", 2, "passes") == 0);
	CHECK(one_error("[shred]\npasses =\n", 2, "passes") == 0);
	CHECK(one_error("[shred]\npasses = 99999999999999999999999\n", 2,
	    "passes") == 0);
}

TEST(error_unknown_section)
{
	CHECK(one_error("[class default]\nretention = 1d\n[shredder]\n"
	    "interval = 1h\n", 3, "unknown section [shredder]") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[]\n", 3,
	    "unknown section") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[classy x]\n", 3,
	    "unknown section") == 0);
}

TEST(error_unknown_key)
{
	CHECK(one_error("[shred]\ninterval = 1h\nintervall = 2h\n"
	    "[class default]\nretention = 1d\n", 3,
	    "unknown key 'intervall'") == 0);
	CHECK(one_error("[trash]\nperiod = 1d\n", 2, "unknown key") == 0);
	CHECK(one_error("[class default]\nretention = 1d\nretain = 2d\n", 3,
	    "unknown key 'retain'") == 0);
	CHECK(one_error("retention = 1d\n[class default]\nretention = 1d\n",
	    1, "outside any section") == 0);
}

TEST(error_bad_duration)
{
	CHECK(one_error("[class default]\nretention = 90\n", 2,
	    "bad duration '90' for retention") == 0);
	CHECK(one_error("[trash]\nretention = 1 d\n", 2,
	    "bad duration") == 0);
	CHECK(one_error("[audit]\nretention =\n", 2, "bad duration") == 0);
	CHECK(one_error("[shred]\nmax_clock_jump = 999999999999y\n", 2,
	    "bad duration") == 0);
	CHECK(one_error("[shred]\ninterval = 0s\n", 2, "above 0") == 0);
	CHECK(one_error("[shred]\ninterval = forever\n", 2, "above 0") == 0);
	CHECK(one_error("[keys]\nperiod = 0d\n", 2, "above 0") == 0);
	CHECK(one_error("[class a]\nretention = 1d\nafter_event = x\n"
	    "[class default]\nretention = 1d\n", 3, "bad duration") == 0);
	/* A bad value does not also count as "missing". */
	CHECK(one_error("[class a]\nretention = 1x\n[class default]\n"
	    "retention = 1d\n", 2, "bad duration") == 0);
}

TEST(error_class_names)
{
	static const char long_name[] =
	    "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_x";
	char buf[256];

	CHECK(one_error("[class default]\nretention = 1d\n[class a b]\n"
	    "retention = 1d\n", 3, "bad class name 'a b'") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[class]\n"
	    "retention = 1d\n", 3, "bad class name") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[class a/b]\n"
	    "retention = 1d\n", 3, "bad class name") == 0);
	/* 64 characters are fine, 65 are not (and inih's 50 don't matter) */
	snprintf(buf, sizeof(buf), "[class default]\nretention = 1d\n"
	    "[class %.64s]\nretention = 1d\n[class %.65s]\nretention = 1d\n",
	    long_name, long_name);
	CHECK(one_error(buf, 5, "bad class name") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[class x]\n"
	    "retention = 1d\n[class x]\nretention = 2d\n", 5,
	    "duplicate class 'x' (first defined at line 3)") == 0);
}

TEST(error_missing_retention)
{
	CHECK(one_error("[class default]\nretention = 1d\n\n[class logs]\n"
	    "match = *.log\nmin_retention = 1d\n", 4,
	    "class 'logs' has no retention") == 0);
	CHECK(one_error("[class default]\n", 1, "no retention") == 0);
}

TEST(error_cross_checks)
{
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "min_retention = 31d\nretention = 30d\n", 4,
	    "min_retention 31d is longer than retention 30d") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "retention = 1y\nbackup_retention = 364d\n", 5,
	    "backup_retention 52w is shorter than retention 1y") == 0);
	CHECK(one_error("[class default]\nretention = 90d\n"
	    "min_retention = forever\n", 3, "min_retention") == 0);
}

TEST(cross_checks_ok)
{
	struct rfs_policy *p;
	struct diags d;

	p = parse("[class default]\nretention = forever\n"
	    "min_retention = forever\nbackup_retention = forever\n"
	    "[class a]\nretention = 30d\nmin_retention = 30d\n"
	    "backup_retention = 30d\nafter_event = 30d\n", &d);
	dump(&d);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	rfs_policy_unref(p);
}

TEST(error_match)
{
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "retention = 1d\nmatch =   \n", 5, "empty match") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "retention = 1d\nmatch = # just a comment\n", 5,
	    "empty match") == 0);
	CHECK(one_error("[class default]\nretention = 1d\nmatch = *.log\n",
	    3, "class default takes no match rules") == 0);
	/* A trailing '/' or a '//' would match no file, silently. */
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "retention = 1d\nmatch = logs/\n", 5,
	    "match 'logs/' has an empty path component") == 0);
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "retention = 1d\nmatch = logs//*.log\n", 5,
	    "has an empty path component") == 0);
}

TEST(error_syntax)
{
	char buf[1024];

	CHECK(one_error("[class default]\nretention = 1d\njust words\n", 3,
	    "syntax error") == 0);
	CHECK(one_error("[class default\nretention = 1d\n", 1,
	    "without ']'") == 0);
	CHECK(one_error("[class default] retention = 1d\nretention = 1d\n",
	    1, "text after section header") == 0);
	CHECK(one_error("[shred]\ninterval = 1h\n[class default]\n"
	    "retention = 1d\ninterval = 2h\n", 5, "unknown key") == 0);
	CHECK(one_error("[shred]\ninterval = 1h\ninterval = 2h\n"
	    "[class default]\nretention = 1d\n", 3,
	    "duplicate key 'interval' (first set at line 2)") == 0);
	CHECK(one_error("[class default]\nretention = 1d\nretention = 2d\n",
	    3, "duplicate key") == 0);
	/* a continuation line is not one: it is an error of its own */
	CHECK(one_error("[class default]\nretention = 1d\n[class a]\n"
	    "retention = 1d\nmatch = a/*\n   b/*\n", 6, "syntax error") == 0);
	/* inih's line buffer is 200 bytes; say so rather than misparse */
	snprintf(buf, sizeof(buf), "[class default]\nretention = 1d\n"
	    "[class a]\nretention = 1d\nmatch = %0300d\n", 0);
	CHECK(one_error(buf, 5, "line too long") == 0);
}

TEST(long_comment_ok)
{
	struct rfs_policy *p;
	struct diags d;
	char buf[1024];

	snprintf(buf, sizeof(buf), "[class default]\n"
	    "retention = 1d   # %0500d\n", 0);
	p = parse(buf, &d);
	dump(&d);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	rfs_policy_unref(p);
}

TEST(nul_byte)
{
	static const char text[] = "[class default]\nretention = 1d\nx\0y\n"
	    "z = 1\n";
	struct rfs_policy *p;
	struct diags d;

	memset(&d, 0, sizeof(d));
	p = rfs_policy_parse("t.ini", text, sizeof(text) - 1, collect, &d);
	if (d.nerr != 2)
		dump(&d);
	CHECK(p == NULL);
	CHECK_EQ(d.nerr, 2);
	CHECK(has(&d, 3, 0, "NUL byte"));
	CHECK(has(&d, 4, 0, "unknown key 'z'"));
}

/* Everything wrong at once: each error once, at its own line. */
TEST(all_errors_collected)
{
	static const char text[] =
	    "[shred]\n"				/* 1 */
	    "interval = 1hour\n"		/* 2 bad duration */
	    "passes = 2\n"			/* 3 */
	    "color = blue\n"			/* 4 unknown key */
	    "[bogus]\n"				/* 5 unknown section */
	    "anything = goes\n"			/* 6 (skipped) */
	    "[class ok]\n"			/* 7 */
	    "retention = 30d\n"			/* 8 */
	    "min_retention = 60d\n"		/* 9 min > retention */
	    "backup_retention = 1d\n"		/* 10 backup < retention */
	    "match =\n"				/* 11 empty match */
	    "after_event = 1y\n"		/* 12 warning */
	    "[class ok]\n"			/* 13 duplicate class */
	    "retention = 1d\n"			/* 14 */
	    "[class b@d]\n"			/* 15 bad class name */
	    "retention = 1d\n"			/* 16 */
	    "[class none]\n"			/* 17 no retention */
	    "match = *.x\n"			/* 18 */
	    "this line has no equals sign\n"	/* 19 syntax error */
	    "[class default]\n"			/* 20 */
	    "retention = forever\n"		/* 21 */
	    "match = *\n"			/* 22 default takes no match */
	    "[unclosed\n";			/* 23 syntax error */
	struct rfs_policy *p;
	struct diags d;
	int i;

	p = parse(text, &d);
	CHECK(p == NULL);
	CHECK_STR(d.file, "t.ini");
	CHECK(has(&d, 2, 0, "bad duration '1hour'"));
	CHECK(has(&d, 4, 0, "unknown key 'color'"));
	CHECK(has(&d, 5, 0, "unknown section [bogus]"));
	CHECK(has(&d, 9, 0, "min_retention 60d is longer"));
	CHECK(has(&d, 10, 0, "backup_retention 1d is shorter"));
	CHECK(has(&d, 11, 0, "empty match"));
	CHECK(has(&d, 12, 1, "after_event longer than retention has no "
	    "effect"));
	CHECK(has(&d, 13, 0, "duplicate class 'ok' (first defined at line "
	    "7)"));
	CHECK(has(&d, 15, 0, "bad class name 'b@d'"));
	CHECK(has(&d, 17, 0, "class 'none' has no retention"));
	CHECK(has(&d, 19, 0, "syntax error"));
	CHECK(has(&d, 22, 0, "class default takes no match rules"));
	CHECK(has(&d, 23, 0, "without ']'"));
	if (d.nerr != 12 || d.nwarn != 1)
		dump(&d);
	CHECK_EQ(d.nerr, 12);
	CHECK_EQ(d.nwarn, 1);
	/* delivered in line order, whole-class checks included */
	for (i = 1; i < d.n; i++)
		CHECK(d.line[i - 1] <= d.line[i]);
}

TEST(warnings)
{
	struct rfs_policy *p;
	struct diags d;

	p = parse("[class a]\nretention = 30d\nafter_event = 31d\n"
	    "match = *.a\n", &d);
	CHECK(p != NULL);
	CHECK_EQ(d.nerr, 0);
	CHECK_EQ(d.nwarn, 2);
	CHECK(has(&d, 3, 1, "after_event longer than retention has no "
	    "effect"));
	/* Line 0: the whole file. */
	CHECK(has(&d, 0, 1, "no [class default]"));
	CHECK_EQ(p->nclasses, 2);
	CHECK_STR(p->classes[1].name, "default");
	CHECK_EQ(p->classes[1].retention, RFS_FOREVER);
	CHECK_EQ(p->classes[1].backup_retention, RFS_FOREVER);
	CHECK_EQ(p->classes[1].nmatch, 0);
	CHECK_EQ(p->classes[0].after_event, 31 * D);
	CHECK_STR(rfs_policy_classify(p, "x.b")->name, "default");
	CHECK_STR(rfs_policy_classify(p, "x.a")->name, "a");
	rfs_policy_unref(p);

	/* after_event within retention, or forever: no warning */
	p = parse("[class default]\nretention = 30d\nafter_event = 30d\n"
	    "[class b]\nretention = 1d\nafter_event = forever\n", &d);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	rfs_policy_unref(p);

	/* an empty file is valid: everything defaults, kept forever */
	p = parse("", &d);
	CHECK(p != NULL);
	CHECK_EQ(d.nerr, 0);
	CHECK_EQ(d.nwarn, 1);
	CHECK_EQ(p->nclasses, 1);
	CHECK_EQ(p->classes[0].retention, RFS_FOREVER);
	CHECK_EQ(p->shred_interval, 3600);
	rfs_policy_unref(p);
}

TEST(no_diag_callback)
{
	struct rfs_policy *p;

	p = rfs_policy_parse(NULL, example, strlen(example), NULL, NULL);
	CHECK(p != NULL);
	rfs_policy_unref(p);
	p = rfs_policy_parse(NULL, "[x]\n", 4, NULL, NULL);
	CHECK(p == NULL);
	p = rfs_policy_parse(NULL, NULL, 0, NULL, NULL);
	CHECK(p != NULL);
	rfs_policy_unref(p);
}

static struct rfs_policy *
globs(const char *matches)
{
	char buf[2048];
	struct diags d;
	struct rfs_policy *p;

	snprintf(buf, sizeof(buf), "[class default]\nretention = 1d\n"
	    "[class hit]\nretention = 1d\n%s", matches);
	p = parse(buf, &d);
	if (p == NULL)
		dump(&d);
	return p;
}

static int
hit(const struct rfs_policy *p, const char *path)
{
	return strcmp(rfs_policy_classify(p, path)->name, "hit") == 0;
}

TEST(glob_slash)
{
	struct rfs_policy *p = globs("match = sms/*.log\n");

	CHECK(p != NULL);
	CHECK(hit(p, "sms/a.log"));
	CHECK(hit(p, "sms/.log"));
	CHECK(hit(p, "/sms/a.log"));	/* tolerated */
	CHECK(!hit(p, "sms/x/a.log"));	/* '*' does not cross '/' */
	CHECK(!hit(p, "x/sms/a.log"));	/* anchored at the root */
	CHECK(!hit(p, "sms/a.log.1"));
	CHECK(!hit(p, "sms"));
	CHECK(!hit(p, "a.log"));
	rfs_policy_unref(p);

	p = globs("match = /top/?.txt\n");	/* leading '/' = root */
	CHECK(p != NULL);
	CHECK(hit(p, "top/a.txt"));
	CHECK(!hit(p, "top/ab.txt"));
	CHECK(!hit(p, "top/a/b.txt"));	/* '?' does not match '/' */
	CHECK(!hit(p, "x/top/a.txt"));
	rfs_policy_unref(p);
}

TEST(glob_globstar)
{
	struct rfs_policy *p = globs("match = customers/*/**\n");

	CHECK(p != NULL);
	CHECK(hit(p, "customers/acme/a.log"));
	CHECK(hit(p, "customers/acme/x/y.log"));
	CHECK(hit(p, "customers/acme"));	/* zero components */
	CHECK(!hit(p, "customers"));
	CHECK(!hit(p, "other/acme/a.log"));
	rfs_policy_unref(p);

	p = globs("match = a/**/b.log\n");
	CHECK(p != NULL);
	CHECK(hit(p, "a/b.log"));
	CHECK(hit(p, "a/x/b.log"));
	CHECK(hit(p, "a/x/y/b.log"));
	CHECK(hit(p, "a/b.log/b.log"));
	CHECK(!hit(p, "a/x/c.log"));
	CHECK(!hit(p, "b.log"));
	CHECK(!hit(p, "x/a/b.log"));
	CHECK(!hit(p, "a/xb.log"));
	rfs_policy_unref(p);

	/* "**" only counts as a whole component */
	p = globs("match = a/x**/c\n");
	CHECK(p != NULL);
	CHECK(hit(p, "a/xyz/c"));
	CHECK(!hit(p, "a/x/y/c"));
	rfs_policy_unref(p);

	p = globs("match = **/tmp/**/*.o\nmatch = **/**/deep/**/**\n");
	CHECK(p != NULL);
	CHECK(hit(p, "tmp/a.o"));
	CHECK(hit(p, "x/tmp/y/z/a.o"));
	CHECK(!hit(p, "x/tmpy/a.o"));
	CHECK(hit(p, "deep"));
	CHECK(hit(p, "a/b/deep/c/d"));
	CHECK(!hit(p, "a/b/deeper/c"));
	rfs_policy_unref(p);
}

TEST(glob_basename)
{
	struct rfs_policy *p = globs("match = *.sms\nmatch = [abc]?.t\\*\n");

	CHECK(p != NULL);
	CHECK(hit(p, "a.sms"));
	CHECK(hit(p, "x/y/z.sms"));
	CHECK(hit(p, "dir.sms/file.sms"));
	CHECK(!hit(p, "dir.sms/file"));
	CHECK(!hit(p, "a.sms.gz"));
	CHECK(hit(p, "q/bx.t*"));
	CHECK(!hit(p, "q/dx.t*"));
	CHECK(!hit(p, "q/bx.tt"));
	rfs_policy_unref(p);

	p = globs("match = **\n");	/* no '/': just '*' on the name */
	CHECK(p != NULL);
	CHECK(hit(p, "a/b/c"));
	rfs_policy_unref(p);
}

/* A name-only glob behaves exactly like fnmatch(3) on the last name. */
TEST(glob_vs_fnmatch)
{
	static const char alpha[] = "ab*?[]!\\";
	static const char salpha[] = "ab-]![\\^";
	uint64_t st = 0x9e3779b97f4a7c15ULL;
	char pat[16], str[8], text[64], path[16];
	int i, j, k, pl, sl;

	for (i = 0; i < 1500; i++) {
		struct rfs_policy *p;

		st = st * 6364136223846793005ULL + 1442695040888963407ULL;
		pl = 1 + (int)(st >> 60) % 7;
		for (k = 0; k < pl; k++) {
			st = st * 6364136223846793005ULL + 1;
			pat[k] = alpha[(st >> 33) % (sizeof(alpha) - 1)];
		}
		pat[pl] = '\0';
		snprintf(text, sizeof(text), "match = %s\n", pat);
		p = globs(text);
		CHECK(p != NULL);
		for (j = 0; j < 40; j++) {
			st = st * 6364136223846793005ULL + 1;
			sl = (int)(st >> 61);
			for (k = 0; k < sl; k++) {
				st = st * 6364136223846793005ULL + 1;
				str[k] = salpha[(st >> 33) %
				    (sizeof(salpha) - 1)];
			}
			str[sl] = '\0';
			snprintf(path, sizeof(path), "d/%s", str);
			if (hit(p, path) != (fnmatch(pat, str, 0) == 0)) {
				fprintf(stderr, "pattern '%s' string '%s': "
				    "fnmatch %d\n", pat, str,
				    fnmatch(pat, str, 0) == 0);
				rfs_policy_unref(p);
				CHECK(0);
			}
		}
		rfs_policy_unref(p);
	}
}

TEST(first_match_wins)
{
	struct rfs_policy *p;
	struct diags d;

	p = parse(
	    "[class default]\n"		/* default first: still not matched */
	    "retention = 1d\n"
	    "[class one]\n"
	    "retention = 1d\n"
	    "match = logs/special.log\n"
	    "[class two]\n"
	    "retention = 2d\n"
	    "match = *.log\n"
	    "match = logs/special.log\n"
	    "[class three]\n"
	    "retention = 3d\n"
	    "match = logs/**\n", &d);
	dump(&d);
	CHECK(p != NULL);
	CHECK_STR(rfs_policy_classify(p, "logs/special.log")->name, "one");
	CHECK_STR(rfs_policy_classify(p, "logs/other.log")->name, "two");
	CHECK_STR(rfs_policy_classify(p, "logs/other.txt")->name, "three");
	CHECK_STR(rfs_policy_classify(p, "x.log")->name, "two");
	CHECK_STR(rfs_policy_classify(p, "x.txt")->name, "default");
	CHECK_STR(rfs_policy_classify(p, "")->name, "default");
	CHECK(rfs_policy_classify(p, "x.txt") == &p->classes[0]);
	rfs_policy_unref(p);
}

TEST(default_policy)
{
	struct rfs_policy *p = rfs_policy_default();
	const struct rfs_class *c;

	CHECK(p != NULL);
	CHECK_EQ(p->refs, 1);
	CHECK_EQ(p->nclasses, 1);
	c = rfs_policy_classify(p, "any/thing");
	CHECK(c == &p->classes[0]);
	CHECK_STR(c->name, "default");
	CHECK_EQ(c->retention, 90 * D);
	CHECK_EQ(c->min_retention, 0);
	CHECK_EQ(c->after_event, RFS_FOREVER);
	CHECK_EQ(c->backup_retention, 90 * D);
	CHECK_EQ(c->nmatch, 0);
	CHECK_EQ(p->trash_retention, 30 * D);
	CHECK_EQ(p->shred_interval, 3600);
	CHECK_EQ(p->shred_passes, 1);
	CHECK_EQ(p->clock_jump, D);
	CHECK_EQ(p->key_period, D);
	CHECK_EQ(p->audit_retention, Y);
	rfs_policy_unref(p);
}

TEST(ref_unref)
{
	struct rfs_policy *p = rfs_policy_default();

	CHECK(p != NULL);
	CHECK(rfs_policy_ref(p) == p);
	CHECK_EQ(p->refs, 2);
	CHECK(rfs_policy_ref(p) == p);
	CHECK_EQ(p->refs, 3);
	rfs_policy_unref(p);
	CHECK_EQ(p->refs, 2);
	rfs_policy_unref(p);
	CHECK_EQ(p->refs, 1);
	CHECK_STR(p->classes[0].name, "default");	/* still alive */
	rfs_policy_unref(p);	/* freed: valgrind/ASan check the rest */
	CHECK(rfs_policy_ref(NULL) == NULL);
	rfs_policy_unref(NULL);
}

TEST(load_file)
{
	char path[] = "/tmp/test_policy.XXXXXX";
	struct rfs_policy *p;
	struct diags d;
	FILE *f;
	int fd;

	CHECK((fd = mkstemp(path)) >= 0);
	CHECK((f = fdopen(fd, "w")) != NULL);
	fputs(example, f);
	fputs("[bad\n", f);
	fclose(f);
	memset(&d, 0, sizeof(d));
	p = rfs_policy_load(path, collect, &d);
	CHECK(p == NULL);
	CHECK_EQ(d.n, 1);
	CHECK_STR(d.file, path);
	CHECK_EQ(d.line[0], 14);

	CHECK((f = fopen(path, "w")) != NULL);
	fputs(example, f);
	fclose(f);
	memset(&d, 0, sizeof(d));
	p = rfs_policy_load(path, collect, &d);
	unlink(path);
	CHECK(p != NULL);
	CHECK_EQ(d.n, 0);
	CHECK_EQ(p->nclasses, 3);
	rfs_policy_unref(p);

	memset(&d, 0, sizeof(d));
	p = rfs_policy_load(path, collect, &d);	/* now gone */
	CHECK(p == NULL);
	CHECK_EQ(d.nerr, 1);
	CHECK_EQ(d.line[0], 0);
	CHECK(strstr(d.msg[0], "No such file") != NULL);
	CHECK(rfs_policy_load(path, NULL, NULL) == NULL);
}

int
main(void)
{
	RUN_TESTS("policy",
	    CASE(duration_units),
	    CASE(duration_forever),
	    CASE(duration_bad),
	    CASE(duration_overflow),
	    CASE(duration_format),
	    CASE(example_policy),
	    CASE(example_reformatted),
	    CASE(all_keys),
	    CASE(passes_range),
	    CASE(error_unknown_section),
	    CASE(error_unknown_key),
	    CASE(error_bad_duration),
	    CASE(error_class_names),
	    CASE(error_missing_retention),
	    CASE(error_cross_checks),
	    CASE(cross_checks_ok),
	    CASE(error_match),
	    CASE(error_syntax),
	    CASE(long_comment_ok),
	    CASE(nul_byte),
	    CASE(all_errors_collected),
	    CASE(warnings),
	    CASE(no_diag_callback),
	    CASE(glob_slash),
	    CASE(glob_globstar),
	    CASE(glob_basename),
	    CASE(glob_vs_fnmatch),
	    CASE(first_match_wins),
	    CASE(default_policy),
	    CASE(ref_unref),
	    CASE(load_file));
}
