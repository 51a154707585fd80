/* test-webconfig: the --web.config.file loader of common/webconfig.c: a full valid file
 * and its accessors (TLS PEM, GnuTLS priorities, client certificate policy, headers, rate
 * limit), relative paths taken from the file's directory, every validation error with its
 * line and column, and the basic-auth check: a known $2y$ hash made by htpasswd, wrong
 * passwords, unknown users (checked against the dummy hash: one bcrypt each, like a known
 * user), malformed headers, and remembered successes. The certificates in
 * tests/fixtures/webconfig are a test CA, a server certificate it signed (localhost,
 * 127.0.0.1) with its key, and an unrelated key. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "test.h"
#include "webconfig.h"

/* htpasswd -nbBC 4 alice secret; htpasswd -nbBC 5 bob hunter2 */
#define ALICE "$2y$04$dfQ.VmlJTP6LQ0z1hznUyuGaQ1YG2Qx6GOS2/KBHouuozExHvauYi"
#define BOB "$2y$05$/JSJwa2kZoqyMQ71B49ItOraUbQGIuS569eGJBXmB.A3dfovXbtXi"
/* htpasswd -nbBC 10 user pass */
#define USER10 "$2y$10$A22Ote6ESsWHQPdFj/GOterXhhF/kTDYHnUkjEuoQllI4phVxJ8I."

static const char *fixtures(void)
{
    static char dir[1024];
    snprintf(dir, sizeof(dir), "%s", test_fixture("webconfig"));
    return dir;
}

/* Loads s as "web.yml" with paths relative to the fixtures. */
static int load(const char *s, struct webconfig **w, struct buf *errors)
{
    return webconfig_load_string(s, strlen(s), "web.yml", fixtures(), w, errors);
}

/* Loads s and expects it to fail with every line of want (NULL-terminated) in the
 * errors, in that order. */
static void expect_errors(const char *yaml, const char *const *want)
{
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    int r = load(yaml, &w, &e);
    if (r != -EINVAL) {
        webconfig_unref(w);
        buf_free(&e);
        TEST_FAIL("load returned %d, expected -EINVAL, for:\n%s", r, yaml);
    }
    CHECK(w == NULL);
    const char *at = e.data ? e.data : "";
    for (size_t i = 0; want[i]; i++) {
        const char *p = strstr(at, want[i]);
        if (!p) {
            fprintf(stderr, "  missing (or out of order) \"%s\" in:\n%s", want[i],
                    e.data ? e.data : "");
            buf_free(&e);
            TEST_FAIL("error text");
        }
        at = p + strlen(want[i]);
    }
    buf_free(&e);
}

TEST(empty_file_is_plain_http)
{
    const char *inputs[] = {"", "# nothing\n", "tls_server_config:\nbasic_auth_users:\n",
                            "tls_server_config: {min_version: TLS13}\n"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct webconfig *w = NULL;
        struct buf e = BUF_INIT_MAX(0);
        CHECK_INT(load(inputs[i], &w, &e), 0);
        CHECK(w != NULL);
        CHECK(!webconfig_tls(w));
        CHECK(webconfig_tls_cert_pem(w) == NULL);
        CHECK(!webconfig_auth_required(w));
        CHECK_INT(webconfig_authorize(w, NULL), 0);
        CHECK(webconfig_rate_allow(w, 1));
        char d[160];
        webconfig_describe(w, d, sizeof(d));
        CHECK_STR(d, "plain HTTP, no authentication");
        CHECK(webconfig_tls_equal(w, NULL));
        webconfig_unref(w);
        buf_free(&e);
    }
}

static const char full[] = "tls_server_config:\n"
                           "  cert_file: server.crt\n"
                           "  key_file: server.key\n"
                           "  client_ca_file: ca.crt\n"
                           "  client_auth_type: RequireAndVerifyClientCert\n"
                           "  client_allowed_sans: [localhost]\n"
                           "  min_version: TLS12\n"
                           "  max_version: TLS13\n"
                           "  cipher_suites:\n"
                           "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
                           "    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"
                           "    - TLS_AES_128_GCM_SHA256\n"
                           "  curve_preferences: [X25519, CurveP256]\n"
                           "  prefer_server_cipher_suites: false\n"
                           "http_server_config:\n"
                           "  http2: false\n"
                           "  headers:\n"
                           "    X-Frame-Options: deny\n"
                           "    Strict-Transport-Security: max-age=31536000\n"
                           "    X-XSS-Protection: ''\n"
                           "basic_auth_users:\n"
                           "  alice: " ALICE "\n"
                           "  bob: " BOB "\n"
                           "rate_limit:\n"
                           "  interval: 1s\n"
                           "  burst: 2\n";

TEST(full_file_and_accessors)
{
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    int r = load(full, &w, &e);
    if (r != 0)
        TEST_FAIL("load: %d\n%s", r, e.data ? e.data : "");
    CHECK(webconfig_tls(w));
    CHECK(strncmp(webconfig_tls_cert_pem(w), "-----BEGIN CERTIFICATE-----", 27) == 0);
    CHECK(strncmp(webconfig_tls_key_pem(w), "-----BEGIN PRIVATE KEY-----", 27) == 0);
    CHECK(strncmp(webconfig_tls_client_ca_pem(w), "-----BEGIN CERTIFICATE-----", 27) == 0);
    CHECK_INT(webconfig_client_auth(w), WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT);
    CHECK_STR(webconfig_client_auth_name(webconfig_client_auth(w)), "RequireAndVerifyClientCert");
    /* Ciphers, MACs and key exchanges once each, in order; no %SERVER_PRECEDENCE. */
    CHECK_STR(webconfig_tls_priorities(w),
              "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:-KX-ALL:-MAC-ALL"
              ":+AES-128-GCM:+AEAD:+ECDHE-ECDSA:+CHACHA20-POLY1305"
              ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1");
    const char *name, *value;
    CHECK(webconfig_header(w, 0, &name, &value));
    CHECK_STR(name, "X-Frame-Options");
    CHECK_STR(value, "deny");
    CHECK(webconfig_header(w, 1, &name, &value));
    CHECK_STR(name, "Strict-Transport-Security");
    CHECK_STR(value, "max-age=31536000");
    CHECK(!webconfig_header(w, 2, &name, &value)); /* a blank value is unset */
    CHECK(webconfig_has_header(w, "x-frame-options"));
    CHECK(!webconfig_has_header(w, "X-XSS-Protection"));
    CHECK(webconfig_auth_required(w));
    char d[200];
    webconfig_describe(w, d, sizeof(d));
    CHECK_STR(d, "TLS 1.2-1.3, client certificates RequireAndVerifyClientCert, basic auth (2 "
                 "users), 2 headers, rate limit 2 per 1s");
    /* No TLS session: the certificate that RequireAndVerifyClientCert needs is missing. */
    char why[200] = "";
    CHECK_INT(webconfig_check_client_cert(w, NULL, why, sizeof(why)), -EACCES);
    CHECK_STR(why, "a client certificate is required");

    /* The rate limiter: a burst of 2, then one more a second. */
    uint64_t t = 1000000000;
    CHECK(webconfig_rate_allow(w, t));
    CHECK(webconfig_rate_allow(w, t + 1));
    CHECK(!webconfig_rate_allow(w, t + 2));
    CHECK(!webconfig_rate_allow(w, t + 500000));
    CHECK(webconfig_rate_allow(w, t + 1000002));
    CHECK(!webconfig_rate_allow(w, t + 1000003));

    /* Same TLS with other users and headers: equal; another policy or version: not. */
    struct webconfig *w2 = NULL;
    const char *same_tls = "tls_server_config:\n"
                           "  cert_file: server.crt\n"
                           "  key_file: server.key\n"
                           "  client_ca_file: ca.crt\n"
                           "  client_auth_type: RequireAndVerifyClientCert\n"
                           "  client_allowed_sans: [localhost]\n"
                           "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "
                           "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "
                           "TLS_AES_128_GCM_SHA256]\n"
                           "  curve_preferences: [X25519, CurveP256]\n"
                           "  prefer_server_cipher_suites: false\n"
                           "basic_auth_users: {bob: " BOB "}\n";
    CHECK_INT(load(same_tls, &w2, &e), 0);
    CHECK(webconfig_tls_equal(w, w2));
    webconfig_unref(w2);
    w2 = NULL;
    const char *other_tls = "tls_server_config:\n"
                            "  cert_file: server.crt\n"
                            "  key_file: server.key\n"
                            "  min_version: TLS13\n";
    CHECK_INT(load(other_tls, &w2, &e), 0);
    CHECK(!webconfig_tls_equal(w, w2));
    CHECK_STR(webconfig_tls_priorities(w2), "NORMAL:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE");
    CHECK_INT(webconfig_client_auth(w2), WEBCONFIG_NO_CLIENT_CERT);
    CHECK(webconfig_tls_client_ca_pem(w2) == NULL);
    CHECK_INT(webconfig_check_client_cert(w2, NULL, why, sizeof(why)), 0);
    CHECK(!webconfig_tls_equal(w2, NULL));
    webconfig_describe(w2, d, sizeof(d));
    CHECK_STR(d, "TLS 1.3, no authentication");

    /* References: the configuration lives until the last one goes. */
    struct webconfig *ref = webconfig_ref(w2);
    CHECK(ref == w2);
    webconfig_unref(w2);
    CHECK(webconfig_tls(ref));
    webconfig_unref(ref);
    webconfig_unref(w);
    webconfig_unref(NULL);
    buf_free(&e);
}

TEST(inline_pem_and_relative_paths)
{
    /* Relative paths are taken from the file's directory, not the current one. */
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char path[2300], sub[1100];
    snprintf(sub, sizeof(sub), "%s/tls", dir);
    CHECK_INT(mkdir(sub, 0700), 0);
    const char *names[] = {"server.crt", "server.key"};
    char *pem[2] = {NULL, NULL};
    for (size_t i = 0; i < 2; i++) {
        char from[2300];
        size_t len;
        snprintf(from, sizeof(from), "%s/%s", fixtures(), names[i]);
        CHECK_INT(file_read_alloc(from, 1 << 20, &pem[i], &len), 0);
        snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
        CHECK_INT(file_write_atomic(path, pem[i], len, 0600), 0);
    }
    const char *yaml = "tls_server_config: {cert_file: tls/server.crt, key_file: tls/server.key}\n";
    snprintf(path, sizeof(path), "%s/web.yml", dir);
    CHECK_INT(file_write_atomic(path, yaml, strlen(yaml), 0600), 0);
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    int r = webconfig_load_file(path, &w, &e);
    if (r != 0)
        TEST_FAIL("load: %d\n%s", r, e.data ? e.data : "");
    CHECK_STR(webconfig_tls_cert_pem(w), pem[0]);
    CHECK_STR(webconfig_tls_key_pem(w), pem[1]);

    /* The same certificate inline (a block scalar) is the same TLS. */
    struct buf y = BUF_INIT_MAX(0);
    buf_puts(&y, "tls_server_config:\n  cert: |\n");
    for (const char *p = pem[0]; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        buf_printf(&y, "    %.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
    buf_puts(&y, "  key_file: server.key\n");
    struct webconfig *w2 = NULL;
    CHECK_INT(load(y.data, &w2, &e), 0);
    CHECK(webconfig_tls_equal(w, w2));
    webconfig_unref(w2);

    /* A file that is not there: "FILE: message". */
    snprintf(path, sizeof(path), "%s/missing.yml", dir);
    buf_reset(&e);
    CHECK_INT(webconfig_load_file(path, &w2, &e), -ENOENT);
    CHECK_CONTAINS(e.data, "missing.yml");
    webconfig_unref(w);
    free(pem[0]);
    free(pem[1]);
    buf_free(&y);
    buf_free(&e);
    snprintf(path, sizeof(path), "%s/tls/server.crt", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/tls/server.key", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/web.yml", dir);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

TEST(errors_with_positions)
{
    /* Everything wrong at once: each error at its place, top to bottom. */
    const char *yaml = "tls_server_config:\n"                          /* 1 */
                       "  cert_file: server.crt\n"                     /* 2 */
                       "  cert: inline\n"                              /* 3 */
                       "  key_file: other.key\n"                       /* 4 */
                       "  min_version: TLS11\n"                        /* 5 */
                       "  max_version: TLS14\n"                        /* 6 */
                       "  client_auth_type: RequireSomething\n"        /* 7 */
                       "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n" /* 8 */
                       "  curve_preferences: [CurveP224]\n"            /* 9 */
                       "  tls_version: 3\n"                            /* 10 */
                       "http_server_config:\n"                         /* 11 */
                       "  headers:\n"                                  /* 12 */
                       "    x-frame-options: deny\n"                   /* 13 */
                       "    Server: homeostat\n"                       /* 14 */
                       "basic_auth_user:\n"                            /* 15 */
                       "  alice: secret\n"                             /* 16 */
                       "rate_limit: {interval: 1s, burst: 0}\n";       /* 17 */
    expect_errors(yaml, (const char *const[]){
                            "web.yml:3:9: set cert or cert_file, not both",
                            "web.yml:5:16: min_version TLS11 is not accepted: homeostat speaks "
                            "TLS 1.2 and 1.3 only",
                            "web.yml:6:16: unknown TLS version 'TLS14' for max_version (TLS12 or "
                            "TLS13)",
                            "web.yml:7:21: invalid client_auth_type 'RequireSomething'",
                            "web.yml:8:19: unknown cipher: TLS_RSA_WITH_RC4_128_SHA",
                            "web.yml:9:23: unknown curve: CurveP224",
                            "web.yml:10:3: unknown key 'tls_version'",
                            "web.yml:13:5: HTTP header 'x-frame-options' can not be configured; "
                            "did you mean 'X-Frame-Options'?",
                            "web.yml:14:5: HTTP header 'Server' can not be configured",
                            "web.yml:15:1: unknown key 'basic_auth_user'; did you mean "
                            "'basic_auth_users'?",
                            "web.yml:17:35: burst must be at least 1 when interval is set", NULL});
}

TEST(tls_errors)
{
    expect_errors(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
        (const char *const[]){"web.yml:3:13: the key does not go with the certificate", NULL});
    expect_errors("tls_server_config:\n  cert_file: server.crt\n",
                  (const char *const[]){"web.yml:2:3: missing one of key or key_file", NULL});
    expect_errors("tls_server_config:\n  key_file: server.key\n",
                  (const char *const[]){"web.yml:2:3: missing one of cert or cert_file", NULL});
    expect_errors("tls_server_config:\n  cert_file: nothere.crt\n  key_file: server.key\n",
                  (const char *const[]){"web.yml:2:14: cannot read cert_file '",
                                        "nothere.crt': "
                                        "No such file",
                                        NULL});
    expect_errors("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
                  (const char *const[]){"web.yml:2:14: no PEM certificate", NULL});
    expect_errors("tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n",
                  (const char *const[]){"web.yml:3:13: no usable PEM private key", NULL});
    expect_errors("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                  "  client_ca_file: ca.crt\n",
                  (const char *const[]){"web.yml:4:19: client CA's have been configured without "
                                        "a Client Auth Policy",
                                        NULL});
    expect_errors("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                  "  client_auth_type: RequireAnyClientCert\n",
                  (const char *const[]){"web.yml:4:21: client_auth_type RequireAnyClientCert "
                                        "needs client_ca_file (or client_ca)",
                                        NULL});
    expect_errors(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_ca_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n",
        (const char *const[]){"web.yml:4:19: the client CA holds no PEM certificate", NULL});
    expect_errors("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                  "  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n"
                  "  client_allowed_sans: [a]\n",
                  (const char *const[]){"web.yml:6:24: client_allowed_sans requires "
                                        "client_auth_type to be one of RequireAnyClientCert or "
                                        "RequireAndVerifyClientCert",
                                        NULL});
    expect_errors("tls_server_config:\n  min_version: TLS13\n  max_version: TLS12\n",
                  (const char *const[]){"web.yml:3:16: max_version TLS12 is below min_version "
                                        "TLS13",
                                        NULL});
    expect_errors("tls_server_config:\n  min_version: TLS10\n",
                  (const char *const[]){"web.yml:2:16: min_version TLS10 is not accepted", NULL});
    expect_errors("tls_server_config: [cert_file]\n",
                  (const char *const[]){"web.yml:1:20: expected a map, got a sequence", NULL});
    expect_errors("tls_server_config:\n  cipher_suites: TLS_AES_128_GCM_SHA256\n",
                  (const char *const[]){"web.yml:2:18: expected a sequence", NULL});
    /* The old name RequireClientCert is RequireAnyClientCert. */
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load("tls_server_config: {cert_file: server.crt, key_file: server.key, "
                   "client_ca_file: ca.crt, client_auth_type: RequireClientCert}\n",
                   &w, &e),
              0);
    CHECK_INT(webconfig_client_auth(w), WEBCONFIG_REQUIRE_ANY_CLIENT_CERT);
    webconfig_unref(w);
    buf_free(&e);
}

TEST(http_and_user_errors)
{
    expect_errors("http_server_config:\n  headers:\n    X-Frame-Options: allow\n"
                  "    X-Content-Type-Options: sniff\n    X-XSS-Protection: \"1\\nSet-Cookie: "
                  "a\"\n",
                  (const char *const[]){"web.yml:3:22: invalid value for X-Frame-Options. "
                                        "Expected one of: [\"deny\" \"sameorigin\"], but got: "
                                        "\"allow\"",
                                        "web.yml:4:29: invalid value for X-Content-Type-Options",
                                        "web.yml:5:23: the value of X-XSS-Protection holds a "
                                        "control character",
                                        NULL});
    expect_errors("http_server_config:\n  http2: maybe\n  header: {}\n",
                  (const char *const[]){"web.yml:2:10: expected true or false",
                                        "web.yml:3:3: unknown key 'header'; did you mean "
                                        "'headers'?",
                                        NULL});
    expect_errors("basic_auth_users:\n  alice: secret\n  \"b:c\": " BOB "\n"
                  "  carol: $2y$03$dfQ.VmlJTP6LQ0z1hznUyuGaQ1YG2Qx6GOS2/KBHouuozExHvauYi\n"
                  "  dave: [x]\n",
                  (const char *const[]){"web.yml:2:10: the password of user 'alice' is not a "
                                        "bcrypt hash",
                                        "web.yml:3:3: user name 'b:c' holds ':'",
                                        "web.yml:4:10: the password of user 'carol' is not a "
                                        "bcrypt hash",
                                        "web.yml:5:9: expected a string", NULL});
    expect_errors("basic_auth_users: [alice]\n",
                  (const char *const[]){"web.yml:1:19: expected a map, got a sequence", NULL});
    expect_errors("- a\n", (const char *const[]){"web.yml:1:1: expected a map", NULL});
}

TEST(yaml_limits)
{
    /* Nesting deeper than WEBCONFIG_MAX_DEPTH, and a file over WEBCONFIG_MAX_FILE_BYTES. */
    struct buf y = BUF_INIT_MAX(0);
    for (unsigned i = 0; i < WEBCONFIG_MAX_DEPTH + 2; i++)
        buf_puts(&y, "[");
    for (unsigned i = 0; i < WEBCONFIG_MAX_DEPTH + 2; i++)
        buf_puts(&y, "]");
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load(y.data, &w, &e), -EINVAL);
    CHECK_CONTAINS(e.data, "web.yml:");
    CHECK_CONTAINS(e.data, "deep");
    buf_reset(&y);
    buf_reset(&e);
    while (y.len <= WEBCONFIG_MAX_FILE_BYTES)
        buf_puts(&y, "# padding padding padding padding padding padding padding padding\n");
    CHECK_INT(load(y.data, &w, &e), -EINVAL);
    CHECK_CONTAINS(e.data, "web.yml");
    CHECK(w == NULL);
    buf_free(&y);
    buf_free(&e);
}

/* "Basic " + base64 of s[len]. */
static const char *basic(const char *s, size_t len)
{
    static char out[256];
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = (size_t)snprintf(out, sizeof(out), "Basic ");
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

#define BASIC(s) basic((s), sizeof(s) - 1)

TEST(basic_auth_htpasswd_hash)
{
    /* A cost-10 hash made by htpasswd ($2y$), as the docs tell operators to make one. */
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load("basic_auth_users:\n  user: " USER10 "\n", &w, &e), 0);
    CHECK_STR(BASIC("user:pass"), "Basic dXNlcjpwYXNz");
    CHECK_INT(webconfig_authorize(w, "Basic dXNlcjpwYXNz"), 0);
    CHECK_INT(webconfig_bcrypt_runs(w), 1);
    CHECK_INT(webconfig_authorize(w, BASIC("user:Pass")), -EACCES);
    CHECK_INT(webconfig_authorize(w, BASIC("user:pass ")), -EACCES);
    CHECK_INT(webconfig_bcrypt_runs(w), 3);
    webconfig_unref(w);
    buf_free(&e);
}

TEST(basic_auth_users)
{
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(load("basic_auth_users:\n  alice: " ALICE "\n  bob: " BOB "\n", &w, &e), 0);
    CHECK(webconfig_auth_required(w));
    CHECK_INT(webconfig_authorize(w, BASIC("alice:secret")), 0);
    CHECK_INT(webconfig_authorize(w, BASIC("bob:hunter2")), 0);
    CHECK_INT(webconfig_bcrypt_runs(w), 2);
    /* Remembered: no bcrypt the second time. */
    CHECK_INT(webconfig_authorize(w, BASIC("alice:secret")), 0);
    CHECK_INT(webconfig_authorize(w, "basic YWxpY2U6c2VjcmV0"), 0); /* the scheme in any case */
    CHECK_INT(webconfig_bcrypt_runs(w), 2);
    /* A wrong password is checked every time (never remembered). */
    CHECK_INT(webconfig_authorize(w, BASIC("alice:wrong")), -EACCES);
    CHECK_INT(webconfig_authorize(w, BASIC("alice:wrong")), -EACCES);
    CHECK_INT(webconfig_bcrypt_runs(w), 4);
    /* alice's password is not bob's. */
    CHECK_INT(webconfig_authorize(w, BASIC("bob:secret")), -EACCES);
    CHECK_INT(webconfig_bcrypt_runs(w), 5);
    /* An unknown user costs one bcrypt (against the dummy hash), like a known one, and
     * never passes, even with a password another user has. */
    CHECK_INT(webconfig_authorize(w, BASIC("mallory:secret")), -EACCES);
    CHECK_INT(webconfig_bcrypt_runs(w), 6);
    CHECK_INT(webconfig_authorize(w, BASIC("mallory:secret")), -EACCES);
    CHECK_INT(webconfig_authorize(w, BASIC(":secret")), -EACCES);
    CHECK_INT(webconfig_authorize(w, BASIC("Alice:secret")), -EACCES);
    CHECK_INT(webconfig_authorize(w, BASIC("alice\0:secret")), -EACCES);
    CHECK_INT(webconfig_bcrypt_runs(w), 10);
    /* Malformed or missing credentials: refused without any bcrypt. */
    CHECK_INT(webconfig_authorize(w, NULL), -EACCES);
    CHECK_INT(webconfig_authorize(w, ""), -EACCES);
    CHECK_INT(webconfig_authorize(w, "Bearer YWxpY2U6c2VjcmV0"), -EACCES);
    CHECK_INT(webconfig_authorize(w, "Basic"), -EACCES);
    CHECK_INT(webconfig_authorize(w, "Basic "), -EACCES);
    CHECK_INT(webconfig_authorize(w, "Basic YWxpY2U6c2VjcmV0="), -EACCES); /* bad length */
    CHECK_INT(webconfig_authorize(w, "Basic YWxpY2U6c2VjcmV0 "), -EACCES);
    CHECK_INT(webconfig_authorize(w, "Basic YWxpY2U6c2Vj*mV0"), -EACCES);
    CHECK_INT(webconfig_authorize(w, "Basic  YWxpY2U6c2VjcmV0"), -EACCES);
    CHECK_INT(webconfig_authorize(w, BASIC("alicesecret")), -EACCES);    /* no ':' */
    CHECK_INT(webconfig_authorize(w, BASIC("alice:sec\0ret")), -EACCES); /* NUL */
    struct buf big = BUF_INIT_MAX(0);
    buf_puts(&big, "Basic ");
    for (int i = 0; i < 3000; i++)
        buf_puts(&big, "YWxp");
    CHECK_INT(webconfig_authorize(w, big.data), -EACCES);
    buf_free(&big);
    CHECK_INT(webconfig_bcrypt_runs(w), 10);
    webconfig_unref(w);
    buf_free(&e);
}

TEST_MAIN(TEST_ENTRY(empty_file_is_plain_http), TEST_ENTRY(full_file_and_accessors),
          TEST_ENTRY(inline_pem_and_relative_paths), TEST_ENTRY(errors_with_positions),
          TEST_ENTRY(tls_errors), TEST_ENTRY(http_and_user_errors), TEST_ENTRY(yaml_limits),
          TEST_ENTRY(basic_auth_htpasswd_hash), TEST_ENTRY(basic_auth_users))
