/* test-yamltree: the YAML tree loader of common/yamltree.c: node kinds, scalar styles and
 * positions, duplicate keys, the limits (size, depth, nodes, aliases: billion laughs),
 * syntax error positions, one document only, the typed getters and their messages, and
 * the unknown-key check with its "did you mean" hint. */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "test.h"
#include "yamltree.h"

/* Loads s (named "t.yaml") with default limits; errors go to *errors. */
static int load(const char *s, struct ytree **t, struct buf *errors)
{
    return ytree_load_string(s, strlen(s), "t.yaml", NULL, t, errors);
}

TEST(kinds_styles_and_positions)
{
    const char *y = "name: web\n"
                    "port: 8080\n"
                    "quoted: \"8080\"\n"
                    "single: 'x'\n"
                    "list:\n"
                    "  - a\n"
                    "  - {k: v}\n"
                    "block: |\n"
                    "  line1\n"
                    "  line2\n"
                    "folded: >\n"
                    "  f\n"
                    "nothing:\n"
                    "tilde: ~\n"
                    "qnull: \"null\"\n";
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load(y, &t, &e), 0);
    const struct ytree_node *root = ytree_root(t);
    CHECK_INT(ytree_kind(root), YTREE_MAP);
    CHECK_INT(ytree_len(root), 10);
    CHECK_INT(ytree_line(root), 1);
    CHECK_INT(ytree_column(root), 1);
    CHECK_STR(ytree_file(root), "t.yaml");
    CHECK_STR(ytree_name(t), "t.yaml");

    /* Keys in order, with positions. */
    CHECK_STR(ytree_text(ytree_key(root, 0), NULL), "name");
    CHECK_STR(ytree_text(ytree_key(root, 4), NULL), "list");
    CHECK_INT(ytree_line(ytree_key(root, 4)), 5);
    CHECK_INT(ytree_column(ytree_key(root, 4)), 1);
    CHECK(ytree_key(root, 10) == NULL);

    const struct ytree_node *port = ytree_get(root, "port");
    CHECK(port != NULL);
    CHECK_INT(ytree_style(port), YTREE_PLAIN);
    CHECK_INT(ytree_line(port), 2);
    CHECK_INT(ytree_column(port), 7);
    const struct ytree_node *quoted = ytree_get(root, "quoted");
    CHECK_INT(ytree_style(quoted), YTREE_DOUBLE_QUOTED);
    CHECK_STR(ytree_text(quoted, NULL), "8080");
    CHECK_INT(ytree_style(ytree_get(root, "single")), YTREE_SINGLE_QUOTED);

    const struct ytree_node *list = ytree_get(root, "list");
    CHECK_INT(ytree_kind(list), YTREE_SEQ);
    CHECK_INT(ytree_len(list), 2);
    CHECK_INT(ytree_line(list), 6);
    CHECK_INT(ytree_column(list), 3);
    CHECK_STR(ytree_text(ytree_item(list, 0), NULL), "a");
    CHECK_INT(ytree_line(ytree_item(list, 0)), 6);
    CHECK_INT(ytree_column(ytree_item(list, 0)), 5);
    const struct ytree_node *inner = ytree_item(list, 1);
    CHECK_INT(ytree_kind(inner), YTREE_MAP);
    CHECK_INT(ytree_line(inner), 7);
    CHECK_INT(ytree_column(inner), 5);
    CHECK_STR(ytree_text(ytree_get(inner, "k"), NULL), "v");
    CHECK_INT(ytree_column(ytree_get(inner, "k")), 9);
    CHECK(ytree_item(list, 2) == NULL);
    CHECK(ytree_text(list, NULL) == NULL);

    const struct ytree_node *block = ytree_get(root, "block");
    CHECK_INT(ytree_style(block), YTREE_LITERAL);
    CHECK_STR(ytree_text(block, NULL), "line1\nline2\n");
    CHECK_INT(ytree_style(ytree_get(root, "folded")), YTREE_FOLDED);

    CHECK(ytree_is_null(ytree_get(root, "nothing")));
    CHECK(ytree_is_null(ytree_get(root, "tilde")));
    CHECK(!ytree_is_null(ytree_get(root, "qnull")));
    CHECK(!ytree_is_null(port));
    CHECK(!ytree_is_null(list));
    CHECK(ytree_get(root, "absent") == NULL);
    CHECK(ytree_get(list, "a") == NULL);
    CHECK_INT(e.len, 0);
    ytree_free(t);
    buf_free(&e);
}

TEST(empty_input_is_a_null_root)
{
    const char *inputs[] = {"", "---\n", "# only a comment\n", "~\n"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct ytree *t = NULL;
        CHECK_INT(load(inputs[i], &t, NULL), 0);
        CHECK(ytree_is_null(ytree_root(t)));
        CHECK_INT(ytree_kind(ytree_root(t)), YTREE_SCALAR);
        ytree_free(t);
    }
}

TEST(scalar_with_nul_keeps_length)
{
    struct ytree *t = NULL;
    CHECK_INT(load("k: \"a\\0b\"\n", &t, NULL), 0);
    size_t len = 0;
    const struct ytree_node *k = ytree_get(ytree_root(t), "k");
    CHECK_STR(ytree_text(k, &len), "a");
    CHECK_INT(len, 3);
    struct buf e = BUF_INIT_MAX(0);
    const char *s = "unchanged";
    CHECK_INT(ytree_get_string(k, &s, &e), -EINVAL);
    CHECK_STR(s, "unchanged");
    CHECK_STR(e.data, "t.yaml:1:4: string contains a NUL character\n");
    ytree_free(t);
    buf_free(&e);
}

TEST(duplicate_keys_are_all_reported)
{
    const char *y = "a: 1\n"
                    "b: 2\n"
                    "a: 3\n"
                    "c:\n"
                    "  x: 1\n"
                    "  x: 2\n"
                    "b: 4\n";
    struct ytree *t = (struct ytree *)0x1;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load(y, &t, &e), -EINVAL);
    CHECK(t == (struct ytree *)0x1);
    CHECK_STR(e.data, "t.yaml:6:3: duplicate key 'x' (first at 5:3)\n"
                      "t.yaml:3:1: duplicate key 'a' (first at 1:1)\n"
                      "t.yaml:7:1: duplicate key 'b' (first at 2:1)\n");
    buf_free(&e);
}

TEST(non_scalar_key_is_an_error)
{
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load("? [a, b]\n: 1\n", &t, &e), -EINVAL);
    CHECK_STR(e.data, "t.yaml:1:3: map keys must be scalars, got a sequence\n");
    buf_free(&e);
}

TEST(depth_limit)
{
    struct buf in = BUF_INIT_MAX(0);
    for (int i = 0; i < 64; i++)
        buf_putc(&in, '[');
    for (int i = 0; i < 64; i++)
        buf_putc(&in, ']');
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(ytree_load_string(in.data, in.len, "deep", NULL, &t, &e), 0);
    ytree_free(t);
    t = NULL;

    buf_reset(&in);
    for (int i = 0; i < 65; i++)
        buf_putc(&in, '[');
    for (int i = 0; i < 65; i++)
        buf_putc(&in, ']');
    CHECK_INT(ytree_load_string(in.data, in.len, "deep", NULL, &t, &e), -E2BIG);
    CHECK_STR(e.data, "deep:1:65: nesting deeper than 64 levels\n");
    CHECK(t == NULL);

    /* A custom limit, and block style. */
    buf_reset(&e);
    struct ytree_limits lim = {.max_depth = 2};
    const char *y = "a:\n  b:\n    c: 1\n";
    CHECK_INT(ytree_load_string(y, strlen(y), "d.yaml", &lim, &t, &e), -E2BIG);
    CHECK_STR(e.data, "d.yaml:3:5: nesting deeper than 2 levels\n");
    buf_free(&in);
    buf_free(&e);
}

TEST(alias_cannot_sneak_past_depth_limit)
{
    struct ytree_limits lim = {.max_depth = 3};
    const char *y = "a: &x [[1]]\n"
                    "b: [*x]\n"; /* 1 (map) + 1 (b's seq) + 2 (x) = 4 levels */
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(ytree_load_string(y, strlen(y), "t.yaml", &lim, &t, &e), -E2BIG);
    CHECK_STR(e.data, "t.yaml:2:5: alias '*x' nests deeper than 3 levels\n");
    buf_free(&e);
}

TEST(aliases_share_their_anchor)
{
    const char *y = "base: &b {x: 1}\n"
                    "copy: *b\n"
                    "name: &n hello\n"
                    "again: *n\n";
    struct ytree *t = NULL;
    CHECK_INT(load(y, &t, NULL), 0);
    const struct ytree_node *root = ytree_root(t);
    CHECK(ytree_get(root, "copy") == ytree_get(root, "base"));
    CHECK_STR(ytree_text(ytree_get(ytree_get(root, "copy"), "x"), NULL), "1");
    CHECK_STR(ytree_text(ytree_get(root, "again"), NULL), "hello");
    CHECK_INT(ytree_line(ytree_get(root, "again")), 3); /* the anchor's position */
    ytree_free(t);
}

TEST(unknown_and_recursive_aliases)
{
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load("a: *nope\n", &t, &e), -EINVAL);
    CHECK_STR(e.data, "t.yaml:1:4: unknown alias '*nope'\n");
    buf_reset(&e);
    CHECK_INT(load("a: &r [1, *r]\n", &t, &e), -EINVAL);
    CHECK_STR(e.data, "t.yaml:1:11: alias '*r' refers to a node that contains it\n");
    buf_free(&e);
}

TEST(billion_laughs_fails_fast)
{
    struct buf in = BUF_INIT_MAX(0);
    buf_puts(&in,
             "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (char c = 'b'; c <= 'i'; c++) {
        buf_printf(&in, "%c: &%c [", c, c);
        for (int k = 0; k < 10; k++)
            buf_printf(&in, "%s*%c", k ? "," : "", c - 1);
        buf_puts(&in, "]\n");
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    int r = ytree_load_string(in.data, in.len, "lol.yaml", NULL, &t, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(r, -E2BIG);
    CHECK(t == NULL);
    /* a to d hold 11238 nodes with their keys; each *d adds 10111, so the ninth alias in
     * e crosses 100000, after 49 alias references. */
    CHECK_STR(e.data, "lol.yaml:5:32: alias '*d' expands the document past 100000 nodes\n");
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms < 100);
    buf_free(&in);
    buf_free(&e);
}

TEST(alias_count_limit)
{
    struct buf in = BUF_INIT_MAX(0);
    buf_puts(&in, "a: &a 1\nb: [");
    for (int k = 0; k < 1001; k++)
        buf_printf(&in, "%s*a", k ? "," : "");
    buf_puts(&in, "]\n");
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(ytree_load_string(in.data, in.len, "t.yaml", NULL, &t, &e), -E2BIG);
    CHECK_STR(e.data, "t.yaml:2:3005: more than 1000 alias references\n");
    buf_reset(&e);
    struct ytree_limits lim = {.max_aliases = 5000};
    CHECK_INT(ytree_load_string(in.data, in.len, "t.yaml", &lim, &t, &e), 0);
    CHECK_INT(ytree_len(ytree_get(ytree_root(t), "b")), 1001);
    ytree_free(t);
    buf_free(&in);
    buf_free(&e);
}

TEST(node_limit)
{
    struct ytree_limits lim = {.max_nodes = 5};
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    /* map + 2 keys + 2 values = 5 */
    CHECK_INT(ytree_load_string("a: 1\nb: 2\n", 10, "t.yaml", &lim, &t, &e), 0);
    ytree_free(t);
    t = NULL;
    CHECK_INT(ytree_load_string("a: 1\nb: 2\nc: 3\n", 15, "t.yaml", &lim, &t, &e), -E2BIG);
    CHECK_STR(e.data, "t.yaml:3:1: document has more than 5 nodes\n");
    buf_free(&e);
}

TEST(size_limit)
{
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    struct ytree_limits lim = {.max_bytes = 8};
    CHECK_INT(ytree_load_string("a: 12345\n", 9, "t.yaml", &lim, &t, &e), -E2BIG);
    CHECK_STR(e.data, "t.yaml: input is 9 bytes, more than the limit of 8\n");
    CHECK(t == NULL);

    /* Default limit: 1 MiB, from a file. */
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    size_t n = (1u << 20) + 1;
    char *big = malloc(n);
    CHECK(big != NULL);
    memset(big, '#', n);
    big[n - 1] = '\n';
    CHECK_INT(file_write_atomic(path, big, n, 0644), 0);
    free(big);
    buf_reset(&e);
    CHECK_INT(ytree_load_file(path, NULL, &t, &e), -EFBIG);
    char want[512];
    snprintf(want, sizeof(want), "%s: file is larger than the limit of 1048576 bytes\n", path);
    CHECK_STR(e.data, want);
    unlink(path);
    rmdir(dir);

    buf_reset(&e);
    CHECK_INT(ytree_load_file("/nonexistent/x.yaml", NULL, &t, &e), -ENOENT);
    CHECK_STR(e.data, "/nonexistent/x.yaml: cannot read: No such file or directory\n");
    buf_free(&e);
}

TEST(load_file_uses_path_as_name)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    const char *y = "a: 1\nb: [x\n";
    CHECK_INT(file_write_atomic(path, y, strlen(y), 0644), 0);
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(ytree_load_file(path, NULL, &t, &e), -EINVAL);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:3:1: did not find expected ',' or ']' (while parsing a flow sequence at 2:4)\n",
             path);
    CHECK_STR(e.data, want);
    unlink(path);
    rmdir(dir);
    buf_free(&e);
}

TEST(syntax_error_positions)
{
    static const struct {
        const char *yaml, *error;
    } cases[] = {
        {"a: 1\n b: 2\n", "t.yaml:2:3: mapping values are not allowed in this context\n"},
        {"a: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow "
                       "sequence at 1:4)\n"},
        {"a: 1\n\tb: 2\n", "t.yaml:2:1: found a tab character that violates indentation "
                           "(while scanning a plain scalar at 1:4)\n"},
        {"a: \"open\n", "t.yaml:2:1: found unexpected end of stream (while scanning a quoted "
                        "scalar at 1:4)\n"},
        {"a: b\n\xff\n", "t.yaml:2:1: invalid leading UTF-8 octet (byte 0xff)\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ytree *t = NULL;
        struct buf e = BUF_INIT_MAX(0);
        CHECK_INT(load(cases[i].yaml, &t, &e), -EINVAL);
        CHECK(t == NULL);
        CHECK_STR(e.data, cases[i].error);
        buf_free(&e);
    }
}

TEST(single_document_only)
{
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load("a: 1\n---\nb: 2\n", &t, &e), -EINVAL);
    CHECK_STR(e.data, "t.yaml:2:1: expected a single document, found another one\n");
    buf_reset(&e);
    /* An explicit start and end of one document is fine. */
    CHECK_INT(load("---\na: 1\n...\n", &t, &e), 0);
    CHECK_STR(ytree_text(ytree_get(ytree_root(t), "a"), NULL), "1");
    ytree_free(t);
    buf_free(&e);
}

TEST(typed_getters_accept)
{
    const char *y = "s: hello\n"
                    "n: 42\n"
                    "qs: \"42\"\n"
                    "b1: true\n"
                    "b2: No\n"
                    "d: -1.5e3\n"
                    "inf: .inf\n"
                    "ninf: -.Inf\n"
                    "nan: .nan\n"
                    "u: 18446744073709551615\n"
                    "dur: 1m30s\n"
                    "qdur: \"250ms\"\n"
                    "bare: 2\n"
                    "tagged: !!str 7\n";
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load(y, &t, &e), 0);
    const struct ytree_node *r = ytree_root(t);
    const char *s = NULL;
    CHECK_INT(ytree_get_string(ytree_get(r, "s"), &s, &e), 0);
    CHECK_STR(s, "hello");
    CHECK_INT(ytree_get_string(ytree_get(r, "n"), &s, &e), 0);
    CHECK_STR(s, "42");
    CHECK_INT(ytree_get_string(ytree_get(r, "qs"), &s, &e), 0);
    CHECK_STR(s, "42");
    bool b = false;
    CHECK_INT(ytree_get_bool(ytree_get(r, "b1"), &b, &e), 0);
    CHECK(b);
    CHECK_INT(ytree_get_bool(ytree_get(r, "b2"), &b, &e), 0);
    CHECK(!b);
    double d = 0;
    CHECK_INT(ytree_get_double(ytree_get(r, "d"), &d, &e), 0);
    CHECK(d == -1500);
    CHECK_INT(ytree_get_double(ytree_get(r, "n"), &d, &e), 0);
    CHECK(d == 42);
    CHECK_INT(ytree_get_double(ytree_get(r, "inf"), &d, &e), 0);
    CHECK(isinf(d) && d > 0);
    CHECK_INT(ytree_get_double(ytree_get(r, "ninf"), &d, &e), 0);
    CHECK(isinf(d) && d < 0);
    CHECK_INT(ytree_get_double(ytree_get(r, "nan"), &d, &e), 0);
    CHECK(isnan(d));
    uint64_t u = 0;
    CHECK_INT(ytree_get_uint(ytree_get(r, "u"), &u, &e), 0);
    CHECK(u == UINT64_MAX);
    CHECK_INT(ytree_get_duration(ytree_get(r, "dur"), &u, &e), 0);
    CHECK(u == 90000000);
    CHECK_INT(ytree_get_duration(ytree_get(r, "qdur"), &u, &e), 0);
    CHECK(u == 250000);
    CHECK_INT(ytree_get_duration(ytree_get(r, "bare"), &u, &e), 0);
    CHECK(u == 2000000);
    CHECK_STR(ytree_tag(ytree_get(r, "tagged")), "tag:yaml.org,2002:str");
    CHECK_INT(ytree_get_uint(ytree_get(r, "tagged"), &u, NULL), -EINVAL);
    CHECK(ytree_tag(ytree_get(r, "s")) == NULL);
    CHECK_INT(ytree_expect(r, YTREE_MAP, &e), 0);
    CHECK_INT(e.len, 0);
    ytree_free(t);
    buf_free(&e);
}

TEST(typed_getters_report_errors)
{
    const char *y = "m: {a: 1}\n"
                    "l: [1]\n"
                    "nul: ~\n"
                    "qn: \"42\"\n"
                    "word: maybe\n"
                    "neg: -3\n"
                    "big: 18446744073709551616\n"
                    "dur: soon\n"
                    "qb: \"true\"\n"
                    "long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load(y, &t, &e), 0);
    const struct ytree_node *r = ytree_root(t);
    const char *s = "keep";
    bool b = true;
    double d = 7;
    uint64_t u = 7;
    CHECK_INT(ytree_get_string(ytree_get(r, "m"), &s, &e), -EINVAL);
    CHECK_INT(ytree_get_string(ytree_get(r, "nul"), &s, &e), -EINVAL);
    CHECK_INT(ytree_get_double(ytree_get(r, "qn"), &d, &e), -EINVAL);
    CHECK_INT(ytree_get_double(ytree_get(r, "word"), &d, &e), -EINVAL);
    CHECK_INT(ytree_get_bool(ytree_get(r, "word"), &b, &e), -EINVAL);
    CHECK_INT(ytree_get_bool(ytree_get(r, "qb"), &b, &e), -EINVAL);
    CHECK_INT(ytree_get_uint(ytree_get(r, "neg"), &u, &e), -EINVAL);
    CHECK_INT(ytree_get_uint(ytree_get(r, "big"), &u, &e), -EINVAL);
    CHECK_INT(ytree_get_duration(ytree_get(r, "dur"), &u, &e), -EINVAL);
    CHECK_INT(ytree_get_duration(ytree_get(r, "l"), &u, &e), -EINVAL);
    CHECK_INT(ytree_expect(ytree_get(r, "l"), YTREE_MAP, &e), -EINVAL);
    CHECK_INT(ytree_expect(ytree_get(r, "m"), YTREE_SEQ, &e), -EINVAL);
    CHECK_INT(ytree_get_double(ytree_get(r, "long"), &d, &e), -EINVAL);
    CHECK_INT(ytree_error(&e, ytree_get(r, "neg"), "custom %d", 5), -EINVAL);
    CHECK_STR(s, "keep");
    CHECK(b);
    CHECK(d == 7);
    CHECK(u == 7);
    CHECK_STR(e.data, "t.yaml:1:4: expected a string, got a map\n"
                      "t.yaml:3:6: expected a string, got null\n"
                      "t.yaml:4:5: expected a number, got a string\n"
                      "t.yaml:5:7: expected a number, got 'maybe'\n"
                      "t.yaml:5:7: expected true or false, got 'maybe'\n"
                      "t.yaml:9:5: expected true or false, got a string\n"
                      "t.yaml:6:6: expected a non-negative integer, got '-3'\n"
                      "t.yaml:7:6: integer '18446744073709551616' is out of range\n"
                      "t.yaml:8:6: expected a duration such as 30s, 5m or 1h30m, got 'soon'\n"
                      "t.yaml:2:4: expected a duration such as 30s, 5m or 1h30m, got a sequence\n"
                      "t.yaml:2:4: expected a map, got a sequence\n"
                      "t.yaml:1:4: expected a sequence, got a map\n"
                      "t.yaml:10:7: expected a number, got "
                      "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'\n"
                      "t.yaml:6:6: custom 5\n");
    ytree_free(t);
    buf_free(&e);
}

TEST(unknown_keys_with_hints)
{
    const char *y = "evaluation_interval: 5s\n"
                    "tresholds: {}\n"
                    "sgnals: {}\n"
                    "x: 1\n"
                    "completely_different: 2\n"
                    "prometeus: {}\n";
    static const char *const allowed[] = {"evaluation_interval", "thresholds", "signals",
                                          "prometheus",          "on",         NULL};
    struct ytree *t = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load(y, &t, &e), 0);
    CHECK_INT(ytree_check_keys(ytree_root(t), allowed, &e), -EINVAL);
    /* "x" is one edit from "on" but too short for a hint. */
    CHECK_STR(e.data, "t.yaml:2:1: unknown key 'tresholds'; did you mean 'thresholds'?\n"
                      "t.yaml:3:1: unknown key 'sgnals'; did you mean 'signals'?\n"
                      "t.yaml:4:1: unknown key 'x'\n"
                      "t.yaml:5:1: unknown key 'completely_different'\n"
                      "t.yaml:6:1: unknown key 'prometeus'; did you mean 'prometheus'?\n");
    static const char *const all[] = {"evaluation_interval",  "tresholds", "sgnals", "x",
                                      "completely_different", "prometeus", NULL};
    buf_reset(&e);
    CHECK_INT(ytree_check_keys(ytree_root(t), all, &e), 0);
    CHECK_INT(e.len, 0);
    CHECK_INT(ytree_check_keys(ytree_get(ytree_root(t), "x"), all, &e), -EINVAL);
    ytree_free(t);
    buf_free(&e);
}

TEST(edit_distance)
{
    CHECK_INT(ytree_edit_distance("", ""), 0);
    CHECK_INT(ytree_edit_distance("abc", "abc"), 0);
    CHECK_INT(ytree_edit_distance("tresholds", "thresholds"), 1);
    CHECK_INT(ytree_edit_distance("ab", "ba"), 1); /* a transposition */
    CHECK_INT(ytree_edit_distance("kitten", "sitting"), 3);
    CHECK_INT(ytree_edit_distance("", "abcd"), 4);
}

TEST(error_buffer_full_drops_whole_lines)
{
    struct ytree *t = NULL;
    CHECK_INT(load("a: 1\n", &t, NULL), 0);
    struct buf e;
    buf_init(&e, 40);
    const struct ytree_node *a = ytree_get(ytree_root(t), "a");
    CHECK_INT(ytree_error(&e, a, "short"), -EINVAL);
    CHECK_STR(e.data, "t.yaml:1:4: short\n");
    CHECK_INT(ytree_error(&e, a, "this message does not fit any more"), -EINVAL);
    CHECK_STR(e.data, "t.yaml:1:4: short\n");
    ytree_free(t);
    buf_free(&e);
}

TEST_MAIN(TEST_ENTRY(kinds_styles_and_positions), TEST_ENTRY(empty_input_is_a_null_root),
          TEST_ENTRY(scalar_with_nul_keeps_length), TEST_ENTRY(duplicate_keys_are_all_reported),
          TEST_ENTRY(non_scalar_key_is_an_error), TEST_ENTRY(depth_limit),
          TEST_ENTRY(alias_cannot_sneak_past_depth_limit), TEST_ENTRY(aliases_share_their_anchor),
          TEST_ENTRY(unknown_and_recursive_aliases), TEST_ENTRY(billion_laughs_fails_fast),
          TEST_ENTRY(alias_count_limit), TEST_ENTRY(node_limit), TEST_ENTRY(size_limit),
          TEST_ENTRY(load_file_uses_path_as_name), TEST_ENTRY(syntax_error_positions),
          TEST_ENTRY(single_document_only), TEST_ENTRY(typed_getters_accept),
          TEST_ENTRY(typed_getters_report_errors), TEST_ENTRY(unknown_keys_with_hints),
          TEST_ENTRY(edit_distance), TEST_ENTRY(error_buffer_full_drops_whole_lines))
