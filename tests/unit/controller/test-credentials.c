/* test-credentials: the API's role token files (controller/clients/credentials.c): parsing, ids,
 * lookups by role, refusals that name the file and line, and what each role may call. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credentials.h"
#include "test.h"

static char dir[] = "/tmp/test-credentials.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static int load(const char *admin, const char *operator, const char * receiver,
                struct credentials **ret, struct buf *errors)
{
    const char *files[API_ROLE_MAX][CREDENTIALS_MAX_FILES] = {{0}};
    size_t n[API_ROLE_MAX] = {0};
    if (admin)
        files[API_ROLE_ADMIN][n[API_ROLE_ADMIN]++] = admin;
    if (operator)
        files[API_ROLE_OPERATOR][n[API_ROLE_OPERATOR]++] = operator;
    if (receiver)
        files[API_ROLE_RECEIVER][n[API_ROLE_RECEIVER]++] = receiver;
    return credentials_load(files, n, ret, errors);
}

TEST(roles_ids_and_lookups)
{
    const char *a = write_file("admin", "root-token-1\n");
    const char *o = write_file("operator", "# operators\nalice op-token-a\n\n  op-token-b  \n");
    const char *r = write_file("receiver", "alertmanager rcv-token\n");
    struct credentials *c = NULL;
    struct buf e;
    buf_init(&e, 4096);
    CHECK_INT(load(a, o, r, &c, &e), 0);
    CHECK_INT(credentials_count(c), 4);
    CHECK_INT(credentials_count_role(c, API_ROLE_OPERATOR), 2);
    char id[CREDENTIALS_ID_SIZE] = "untouched";
    CHECK_INT(credentials_lookup(c, "op-token-a", id), API_ROLE_OPERATOR);
    CHECK_STR(id, "alice");
    CHECK_INT(credentials_lookup(c, "op-token-b", id), API_ROLE_OPERATOR);
    CHECK(strncmp(id, "sha256:", 7) == 0 && strlen(id) == 19); /* a short hash, not the token */
    CHECK(strstr(id, "op-token") == NULL);
    CHECK_INT(credentials_lookup(c, "rcv-token", id), API_ROLE_RECEIVER);
    CHECK_STR(id, "alertmanager");
    CHECK_INT(credentials_lookup(c, "root-token-1", id), API_ROLE_ADMIN);
    snprintf(id, sizeof(id), "untouched");
    CHECK_INT(credentials_lookup(c, "root-token", id), API_ROLE_NONE); /* a prefix */
    CHECK_INT(credentials_lookup(c, "root-token-12", id), API_ROLE_NONE);
    CHECK_INT(credentials_lookup(c, "", id), API_ROLE_NONE);
    CHECK_INT(credentials_lookup(c, NULL, id), API_ROLE_NONE);
    CHECK_STR(id, "untouched");
    credentials_free(c);
    buf_free(&e);
}

TEST(what_each_role_may_call)
{
    CHECK(api_role_allows(API_ROLE_ADMIN, API_ROLE_ADMIN));
    CHECK(api_role_allows(API_ROLE_ADMIN, API_ROLE_OPERATOR));
    CHECK(api_role_allows(API_ROLE_ADMIN, API_ROLE_RECEIVER));
    CHECK(api_role_allows(API_ROLE_OPERATOR, API_ROLE_OPERATOR));
    CHECK(!api_role_allows(API_ROLE_OPERATOR, API_ROLE_ADMIN));
    CHECK(!api_role_allows(API_ROLE_OPERATOR, API_ROLE_RECEIVER));
    CHECK(api_role_allows(API_ROLE_RECEIVER, API_ROLE_RECEIVER));
    CHECK(!api_role_allows(API_ROLE_RECEIVER, API_ROLE_OPERATOR));
    CHECK(!api_role_allows(API_ROLE_RECEIVER, API_ROLE_ADMIN));
    CHECK(!api_role_allows(API_ROLE_NONE, API_ROLE_RECEIVER));
    CHECK_STR(api_role_name(API_ROLE_RECEIVER), "receiver");
    CHECK_STR(api_role_name(API_ROLE_NONE), "none");
}

TEST(no_files_no_tokens)
{
    struct credentials *c = NULL;
    struct buf e;
    buf_init(&e, 4096);
    CHECK_INT(load(NULL, NULL, NULL, &c, &e), 0);
    CHECK_INT(credentials_count(c), 0);
    char id[CREDENTIALS_ID_SIZE];
    CHECK_INT(credentials_lookup(c, "anything", id), API_ROLE_NONE);
    credentials_free(c);
    credentials_free(NULL);
    buf_free(&e);
}

TEST(bad_files_are_refused_with_their_place)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"", "no token in the file"},
        {"# only a comment\n\n", "no token in the file"},
        {"a b c\n", ":1: expected TOKEN or NAME TOKEN"},
        {"tok\x01en\n", ":1: a control character"},
        {"same-token\nsame-token\n", ":2: the same token"},
        {"n one\nn two\n", ":2: the name 'n' is used twice"},
        {"sha256:abc tok\n", "does not start with 'sha256:'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *p = write_file("bad", cases[i].text);
        struct credentials *c = (struct credentials *)0x1;
        struct buf e;
        buf_init(&e, 4096);
        int r = load(NULL, p, NULL, &c, &e);
        bool named = e.data && strstr(e.data, p) && strstr(e.data, cases[i].error);
        if (r != -EINVAL || !named)
            fprintf(stderr, "  case %zu: r=%d errors='%s', expected '%s'\n", i, r,
                    e.data ? e.data : "", cases[i].error);
        buf_free(&e);
        CHECK_INT(r, -EINVAL);
        CHECK(named);
        CHECK(c == (struct credentials *)0x1); /* untouched: a reload keeps the running ones */
    }
    struct credentials *c = NULL;
    struct buf e;
    buf_init(&e, 4096);
    CHECK_INT(load(NULL, "/nonexistent/token", NULL, &c, &e), -ENOENT);
    CHECK(e.data && strstr(e.data, "/nonexistent/token"));
    buf_free(&e);
    /* the same token in two roles is refused too */
    const char *a = write_file("a2", "shared\n");
    const char *o = write_file("o2", "shared\n");
    buf_init(&e, 4096);
    CHECK_INT(load(a, o, NULL, &c, &e), -EINVAL);
    buf_free(&e);
}

int main(int argc, char **argv)
{
    if (!mkdtemp(dir))
        return 1;
    static const struct test_case tests[] = {
        TEST_ENTRY(roles_ids_and_lookups),
        TEST_ENTRY(what_each_role_may_call),
        TEST_ENTRY(no_files_no_tokens),
        TEST_ENTRY(bad_files_are_refused_with_their_place),
    };
    int r = test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
    static const char *const names[] = {"admin", "operator", "receiver", "bad", "a2", "o2"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return r;
}
