/*
 * harness.h - the unit-test harness: a handful of macros, no framework.
 *
 * Each test file defines TEST(name) functions and lists them in a
 * RUN_TESTS(...) call from main().  A failed CHECK records the failure and
 * returns from the test; the last line printed is "N passed, N failed",
 * and the exit status is non-zero when anything failed.
 */
#ifndef RFS_TEST_HARNESS_H
#define RFS_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_failed_now;

#define TEST(name) static void test_##name(void)

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		harness_failed_now = 1; \
		return; \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { \
		fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
		    __FILE__, __LINE__, #a, a_, b_); \
		harness_failed_now = 1; \
		return; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
		fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
		    __FILE__, __LINE__, #a, a_ ? a_ : "(null)", \
		    b_ ? b_ : "(null)"); \
		harness_failed_now = 1; \
		return; \
	} \
} while (0)

struct harness_case { const char *name; void (*fn)(void); };
#define CASE(name) { #name, test_##name }

static int harness_run(const char *suite, const struct harness_case *c,
    size_t n)
{
	int passed = 0, failed = 0;

	for (size_t i = 0; i < n; i++) {
		harness_failed_now = 0;
		c[i].fn();
		if (harness_failed_now) {
			failed++;
			printf("FAIL %s.%s\n", suite, c[i].name);
		} else {
			passed++;
			printf("ok   %s.%s\n", suite, c[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define RUN_TESTS(suite, ...) do { \
	static const struct harness_case cases_[] = { __VA_ARGS__ }; \
	return harness_run(suite, cases_, sizeof(cases_) / sizeof(cases_[0])); \
} while (0)

#endif
