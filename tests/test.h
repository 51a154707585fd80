/* test: the minimal harness every tests/test-<module>.c uses. Each test is a
 * function registered in a table; main runs them all (or those named on the command
 * line) and prints "N passed, N failed". Assertions record the failure with file and
 * line and return from the test. */
#ifndef HOMEOSTAT_TEST_H
#define HOMEOSTAT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mset.h"

extern int test_failed_flag;

#define TEST_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        test_failed_flag = 1;                                                                      \
        return;                                                                                    \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            TEST_FAIL("check failed: %s", #cond);                                                  \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b)                                                                              \
            TEST_FAIL("%s == %lld, expected %s == %lld", #a, _a, #b, _b);                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0)                                                     \
            TEST_FAIL("%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)",                     \
                      _b ? _b : "(null)");                                                         \
    } while (0)

#define CHECK_DBL(a, b, eps)                                                                       \
    do {                                                                                           \
        double _a = (a), _b = (b);                                                                 \
        if (!(fabs(_a - _b) <= (eps)))                                                             \
            TEST_FAIL("%s == %.17g, expected %.17g (eps %g)", #a, _a, _b, (double)(eps));          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *_h = (hay), *_n = (needle);                                                    \
        if (!_h || !strstr(_h, _n))                                                                \
            TEST_FAIL("expected to find \"%s\" in:\n%s", _n, _h ? _h : "(null)");                  \
    } while (0)

struct test_case {
    const char *name;
    void (*fn)(void);
};

#define TEST(name) static void name(void)
#define TEST_ENTRY(name)                                                                           \
    {                                                                                              \
#name, name                                                                                \
    }

/* Runs tests[]; returns the exit status for main. */
int test_main(int argc, char **argv, const struct test_case *tests, size_t n);

#define TEST_MAIN(...)                                                                             \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct test_case tests[] = {__VA_ARGS__};                                     \
        return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));                     \
    }

/* Path of a fixture: $HOMEOSTAT_FIXTURES/rel (static buffer, overwritten per call). */
const char *test_fixture(const char *rel);
/* Renders set in text format and compares it with tests/golden/<name>.prom; with
 * HOMEOSTAT_UPDATE_GOLDEN=1 in the environment it writes the file instead. Returns 0
 * when equal; prints a diff-friendly message otherwise. */
int test_golden(const char *name, struct mset *set);
/* Value of the first sample of family whose labels include the given name, value
 * pairs (NULL-terminated); NAN when there is none. */
double test_mset_value(struct mset *s, const char *family, ...);
/* In exposition text, the value of the sample line whose name and labels are exactly
 * series ("name{a=\"b\"}"). false when absent or unparsable. */
int test_text_value(const char *text, const char *series, double *ret);

#define CHECK_SAMPLE(text, series, want)                                                           \
    do {                                                                                           \
        double _v;                                                                                 \
        if (!test_text_value((text), (series), &_v))                                               \
            TEST_FAIL("no sample %s in:\n%s", (series), (text));                                   \
        if (_v != (double)(want))                                                                  \
            TEST_FAIL("%s == %.17g, expected %.17g", (series), _v, (double)(want));                \
    } while (0)

/* Makes a fresh temporary directory (removed by the caller or the OS). */
char *test_tmpdir(void);

#endif
