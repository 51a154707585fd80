/* webconfig: --web.config.file in the exporter-toolkit format, validated with
 * "FILE:LINE:COL:" errors; TLS settings for libmicrohttpd/GnuTLS, the client certificate
 * policy, security headers, a rate limiter and bcrypt basic auth (libxcrypt) that does
 * not reveal which users exist (see webconfig.h). */
#include "webconfig.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base64.h"
#include "fileio.h"
#include "yamltree.h"

#define DIGEST_BYTES 32u /* SHA-256 */
#define BCRYPT_HASH_LEN 60u
#define BCRYPT_LOCK_WAIT_SEC 1

struct wc_user {
    char *name;
    unsigned char digest[DIGEST_BYTES]; /* SHA-256 of the name */
    char hash[BCRYPT_HASH_LEN + 1];
    unsigned cost;
};

struct wc_header {
    char *name, *value;
};

struct webconfig {
    int refs;
    /* tls_server_config */
    bool tls;
    char *cert_pem, *key_pem, *ca_pem;
    size_t cert_len, key_len, ca_len;
    char *priorities;
    enum webconfig_client_auth client_auth;
    char **sans;
    size_t n_sans;
    unsigned min_version, max_version; /* 12 or 13 */
    /* http_server_config */
    struct wc_header *headers;
    size_t n_headers;
    /* rate_limit */
    uint64_t rate_interval_usec; /* 0: off */
    unsigned rate_burst;
    double rate_tokens;
    uint64_t rate_last_usec;
    pthread_mutex_t rate_lock;
    /* basic_auth_users */
    struct wc_user *users;
    size_t n_users;
    char dummy_hash[BCRYPT_HASH_LEN + 1]; /* for unknown users, at the highest cost */
    pthread_mutex_t bcrypt_lock;          /* one bcrypt at a time; guards crypt */
    struct crypt_data *crypt;
    unsigned long bcrypt_runs;
    pthread_mutex_t cache_lock;
    unsigned char cache_key[DIGEST_BYTES];
    unsigned char cache[WEBCONFIG_CACHE_SIZE][DIGEST_BYTES];
    size_t cache_used, cache_next;
};

/* ---- small helpers ---- */

/* 1 when a[n] == b[n], 0 otherwise, in time independent of the contents. */
static unsigned ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return (unsigned)(1 & ((diff - 1) >> 8));
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void free_secret(char *p, size_t n)
{
    if (p) {
        explicit_bzero(p, n);
        free(p);
    }
}

static void webconfig_free(struct webconfig *w)
{
    if (!w)
        return;
    free(w->cert_pem);
    free_secret(w->key_pem, w->key_len);
    free(w->ca_pem);
    free(w->priorities);
    for (size_t i = 0; i < w->n_sans; i++)
        free(w->sans[i]);
    free(w->sans);
    for (size_t i = 0; i < w->n_headers; i++) {
        free(w->headers[i].name);
        free(w->headers[i].value);
    }
    free(w->headers);
    for (size_t i = 0; i < w->n_users; i++)
        free(w->users[i].name);
    free(w->users);
    if (w->crypt) {
        explicit_bzero(w->crypt, sizeof(*w->crypt));
        free(w->crypt);
    }
    explicit_bzero(w->cache_key, sizeof(w->cache_key));
    pthread_mutex_destroy(&w->rate_lock);
    pthread_mutex_destroy(&w->bcrypt_lock);
    pthread_mutex_destroy(&w->cache_lock);
    free(w);
}

struct webconfig *webconfig_ref(struct webconfig *w)
{
    if (w)
        __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
    return w;
}

void webconfig_unref(struct webconfig *w)
{
    if (w && __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0)
        webconfig_free(w);
}

/* ---- loading ---- */

struct loader {
    struct webconfig *w;
    const char *dir;  /* for relative paths; NULL: as given */
    const char *name; /* of the file, for errors without a position */
    struct buf *errors;
    int err; /* the first error; loading goes on to report the others */
};

static void fail(struct loader *l, int r)
{
    if (l->err == 0 || (l->err == -EINVAL && r != -EINVAL))
        l->err = r;
}

/* An optional string: null and "" leave *ret NULL, as an empty Go string would. */
static int opt_string(struct loader *l, const struct ytree_node *n, const char **ret)
{
    *ret = NULL;
    if (!n || ytree_is_null(n))
        return 0;
    const char *s;
    if (ytree_get_string(n, &s, l->errors) < 0) {
        fail(l, -EINVAL);
        return -EINVAL;
    }
    *ret = *s ? s : NULL;
    return 0;
}

static int opt_bool(struct loader *l, const struct ytree_node *n, bool *ret)
{
    if (!n || ytree_is_null(n))
        return 0;
    if (ytree_get_bool(n, ret, l->errors) < 0) {
        fail(l, -EINVAL);
        return -EINVAL;
    }
    return 0;
}

/* A map, or null for an empty one: 0 and *ret (NULL when null or absent); keys, when
 * not NULL, are the ones it may have. */
static int opt_map(struct loader *l, const struct ytree_node *n, const char *const *keys,
                   const struct ytree_node **ret)
{
    *ret = NULL;
    if (!n || ytree_is_null(n))
        return 0;
    if (ytree_expect(n, YTREE_MAP, l->errors) < 0) {
        fail(l, -EINVAL);
        return -EINVAL;
    }
    /* Unknown keys are reported; the known ones are still checked. */
    if (keys && ytree_check_keys(n, keys, l->errors) < 0)
        fail(l, -EINVAL);
    *ret = n;
    return 0;
}

static int error_at(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int error_at(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        ytree_error(l->errors, n, "%s", msg);
    else if (l->errors)
        buf_printf(l->errors, "%s: %s\n", l->name, msg);
    fail(l, -EINVAL);
    return -EINVAL;
}

/* Reads the PEM file named by node n (a path relative to the configuration's directory)
 * into a new string. */
static int read_pem(struct loader *l, const struct ytree_node *n, const char *key, const char *path,
                    char **ret, size_t *ret_len)
{
    char full[4096];
    int r;
    if (path[0] == '/' || !l->dir) {
        r = strlen(path) < sizeof(full) ? 0 : -ENAMETOOLONG;
        if (r == 0)
            snprintf(full, sizeof(full), "%s", path);
    } else {
        r = path_join(full, sizeof(full), l->dir, path);
    }
    if (r < 0)
        return error_at(l, n, "%s '%.200s...': path too long", key, path);
    r = file_read_alloc(full, WEBCONFIG_MAX_PEM_BYTES, ret, ret_len);
    if (r == -EFBIG)
        return error_at(l, n, "%s '%s' is larger than %u bytes", key, full,
                        WEBCONFIG_MAX_PEM_BYTES);
    if (r < 0)
        return error_at(l, n, "cannot read %s '%s': %s", key, full, strerror(-r));
    return 0;
}

/* cert/cert_file (and the same for key, client_ca): exactly one of the inline PEM and the
 * file; the PEM read into *ret. 0 with *ret NULL when neither is set. */
static int load_pem_pair(struct loader *l, const struct ytree_node *tls, const char *inline_key,
                         const char *file_key, char **ret, size_t *ret_len,
                         const struct ytree_node **ret_node)
{
    *ret = NULL;
    *ret_len = 0;
    *ret_node = NULL;
    const struct ytree_node *in = ytree_get(tls, inline_key), *fn = ytree_get(tls, file_key);
    const char *text = NULL, *path = NULL;
    if (opt_string(l, in, &text) < 0 || opt_string(l, fn, &path) < 0)
        return -EINVAL;
    if (text && path) {
        *ret_node = in; /* set, if twice: no "missing" error as well */
        return error_at(l, in, "set %s or %s, not both", inline_key, file_key);
    }
    if (text) {
        *ret_node = in;
        *ret_len = strlen(text);
        *ret = dup_n(text, *ret_len);
        if (!*ret) {
            fail(l, -ENOMEM);
            return -ENOMEM;
        }
        return 0;
    }
    if (path) {
        *ret_node = fn;
        return read_pem(l, fn, file_key, path, ret, ret_len);
    }
    return 0;
}

static const char *const client_auth_names[] = {
    [WEBCONFIG_NO_CLIENT_CERT] = "NoClientCert",
    [WEBCONFIG_REQUEST_CLIENT_CERT] = "RequestClientCert",
    [WEBCONFIG_REQUIRE_ANY_CLIENT_CERT] = "RequireAnyClientCert",
    [WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN] = "VerifyClientCertIfGiven",
    [WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT] = "RequireAndVerifyClientCert",
};

const char *webconfig_client_auth_name(enum webconfig_client_auth a)
{
    return (unsigned)a < sizeof(client_auth_names) / sizeof(client_auth_names[0])
               ? client_auth_names[a]
               : "?";
}

/* Go's crypto/tls suite names (those tls.CipherSuites() lists) as GnuTLS's separate key
 * exchange, cipher and MAC; kx NULL for the TLS 1.3 suites. */
struct suite {
    const char *name, *kx, *cipher, *mac;
};

static const struct suite suites[] = {
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD"},
    {"TLS_AES_128_GCM_SHA256", NULL, "AES-128-GCM", "AEAD"},
    {"TLS_AES_256_GCM_SHA384", NULL, "AES-256-GCM", "AEAD"},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL, "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"},
};

static const struct {
    const char *name, *group;
} curves[] = {
    {"CurveP256", "GROUP-SECP256R1"},
    {"CurveP384", "GROUP-SECP384R1"},
    {"CurveP521", "GROUP-SECP521R1"},
    {"X25519", "GROUP-X25519"},
};

static int tls_version(struct loader *l, const struct ytree_node *n, const char *key, unsigned *ret)
{
    const char *s;
    if (opt_string(l, n, &s) < 0)
        return -EINVAL;
    if (!s)
        return 0;
    if (strcmp(s, "TLS12") == 0)
        *ret = 12;
    else if (strcmp(s, "TLS13") == 0)
        *ret = 13;
    else if (strcmp(s, "TLS10") == 0 || strcmp(s, "TLS11") == 0)
        return error_at(l, n, "%s %s is not accepted: homeostat speaks TLS 1.2 and 1.3 only", key,
                        s);
    else
        return error_at(l, n, "unknown TLS version '%.64s' for %s (TLS12 or TLS13)", s, key);
    return 0;
}

/* Appends ":+NAME" to the priority string unless it is there already. */
static void add_once(struct buf *p, const char *name)
{
    char item[64];
    size_t n = (size_t)snprintf(item, sizeof(item), ":+%s", name);
    for (const char *at = p->data; at && (at = strstr(at, item)); at += n)
        if (at[n] == ':' || at[n] == '\0')
            return;
    buf_puts(p, item);
}

static int load_priorities(struct loader *l, const struct ytree_node *tls)
{
    struct webconfig *w = l->w;
    struct buf p = BUF_INIT_MAX(4096);
    buf_puts(&p, "NORMAL:-VERS-ALL");
    if (w->max_version >= 13)
        buf_puts(&p, ":+VERS-TLS1.3");
    if (w->min_version <= 12)
        buf_puts(&p, ":+VERS-TLS1.2");

    const struct ytree_node *cs = ytree_get(tls, "cipher_suites");
    if (cs && !ytree_is_null(cs)) {
        if (ytree_expect(cs, YTREE_SEQ, l->errors) < 0) {
            fail(l, -EINVAL);
        } else if (ytree_len(cs) > 0) {
            buf_puts(&p, ":-CIPHER-ALL:-KX-ALL:-MAC-ALL");
            size_t before = p.len;
            for (size_t i = 0; i < ytree_len(cs); i++) {
                const struct ytree_node *item = ytree_item(cs, i);
                const char *s;
                if (ytree_get_string(item, &s, l->errors) < 0) {
                    fail(l, -EINVAL);
                    continue;
                }
                const struct suite *found = NULL;
                for (size_t k = 0; k < sizeof(suites) / sizeof(suites[0]); k++)
                    if (strcmp(suites[k].name, s) == 0)
                        found = &suites[k];
                if (!found) {
                    error_at(l, item,
                             "unknown cipher: %.100s (the names of Go's "
                             "tls.CipherSuites(), e.g. "
                             "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)",
                             s);
                    continue;
                }
                add_once(&p, found->cipher);
                add_once(&p, found->mac);
                if (found->kx)
                    add_once(&p, found->kx);
            }
            if (p.len == before && l->err == 0)
                error_at(l, cs, "cipher_suites names no usable suite");
        }
    }
    const struct ytree_node *cp = ytree_get(tls, "curve_preferences");
    if (cp && !ytree_is_null(cp)) {
        if (ytree_expect(cp, YTREE_SEQ, l->errors) < 0) {
            fail(l, -EINVAL);
        } else if (ytree_len(cp) > 0) {
            buf_puts(&p, ":-GROUP-ALL");
            for (size_t i = 0; i < ytree_len(cp); i++) {
                const struct ytree_node *item = ytree_item(cp, i);
                const char *s;
                if (ytree_get_string(item, &s, l->errors) < 0) {
                    fail(l, -EINVAL);
                    continue;
                }
                const char *group = NULL;
                for (size_t k = 0; k < sizeof(curves) / sizeof(curves[0]); k++)
                    if (strcmp(curves[k].name, s) == 0)
                        group = curves[k].group;
                if (!group)
                    error_at(l, item,
                             "unknown curve: %.100s (CurveP256, CurveP384, CurveP521 or X25519)",
                             s);
                else
                    add_once(&p, group);
            }
        }
    }
    bool server_order = true; /* exporter-toolkit's default */
    opt_bool(l, ytree_get(tls, "prefer_server_cipher_suites"), &server_order);
    if (server_order)
        buf_puts(&p, ":%SERVER_PRECEDENCE");
    if (!p.data) {
        fail(l, -ENOMEM);
        return -ENOMEM;
    }
    if (l->err == 0) {
        gnutls_priority_t prio;
        const char *where = NULL;
        int r = gnutls_priority_init(&prio, p.data, &where);
        if (r < 0) {
            error_at(l, tls,
                     "the TLS settings give the GnuTLS priority string '%s', which "
                     "GnuTLS rejects at '%.40s': %s",
                     p.data, where ? where : "?", gnutls_strerror(r));
            buf_free(&p);
            return -EINVAL;
        }
        gnutls_priority_deinit(prio);
    }
    w->priorities = buf_steal(&p, NULL);
    return 0;
}

static int check_key_pair(struct loader *l, const struct ytree_node *cert_node,
                          const struct ytree_node *key_node)
{
    struct webconfig *w = l->w;
    gnutls_datum_t cert = {(unsigned char *)w->cert_pem, (unsigned)w->cert_len};
    gnutls_datum_t key = {(unsigned char *)w->key_pem, (unsigned)w->key_len};
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    int r = gnutls_x509_crt_list_import2(&list, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || n == 0)
        return error_at(l, cert_node, "no PEM certificate: %s",
                        r < 0 ? gnutls_strerror(r) : "none found");
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    gnutls_x509_privkey_t pk;
    if (gnutls_x509_privkey_init(&pk) < 0) {
        fail(l, -ENOMEM);
        return -ENOMEM;
    }
    r = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_x509_privkey_deinit(pk);
    if (r < 0)
        return error_at(l, key_node, "no usable PEM private key (unencrypted): %s",
                        gnutls_strerror(r));
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        fail(l, -ENOMEM);
        return -ENOMEM;
    }
    r = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (r < 0)
        return error_at(l, key_node, "the key does not go with the certificate: %s",
                        gnutls_strerror(r));
    return 0;
}

static int check_ca(struct loader *l, const struct ytree_node *n)
{
    struct webconfig *w = l->w;
    gnutls_datum_t ca = {(unsigned char *)w->ca_pem, (unsigned)w->ca_len};
    gnutls_x509_crt_t *list = NULL;
    unsigned count = 0;
    int r = gnutls_x509_crt_list_import2(&list, &count, &ca, GNUTLS_X509_FMT_PEM, 0);
    if (r >= 0) {
        for (unsigned i = 0; i < count; i++)
            gnutls_x509_crt_deinit(list[i]);
        gnutls_free(list);
    }
    if (r < 0 || count == 0)
        return error_at(l, n, "the client CA holds no PEM certificate: %s",
                        r < 0 ? gnutls_strerror(r) : "none found");
    return 0;
}

static void load_tls(struct loader *l, const struct ytree_node *root)
{
    static const char *const keys[] = {"cert",
                                       "key",
                                       "client_ca",
                                       "cert_file",
                                       "key_file",
                                       "client_auth_type",
                                       "client_ca_file",
                                       "client_allowed_sans",
                                       "min_version",
                                       "max_version",
                                       "cipher_suites",
                                       "prefer_server_cipher_suites",
                                       "curve_preferences",
                                       NULL};
    struct webconfig *w = l->w;
    const struct ytree_node *tls;
    w->min_version = 12;
    w->max_version = 13;
    if (opt_map(l, ytree_get(root, "tls_server_config"), keys, &tls) < 0 || !tls)
        return;
    const struct ytree_node *cert_node, *key_node, *ca_node;
    load_pem_pair(l, tls, "cert", "cert_file", &w->cert_pem, &w->cert_len, &cert_node);
    load_pem_pair(l, tls, "key", "key_file", &w->key_pem, &w->key_len, &key_node);
    load_pem_pair(l, tls, "client_ca", "client_ca_file", &w->ca_pem, &w->ca_len, &ca_node);
    const struct ytree_node *an = ytree_get(tls, "client_auth_type");
    const char *auth = NULL;
    opt_string(l, an, &auth);
    w->tls = w->cert_pem || w->key_pem || w->ca_pem || auth || cert_node || key_node || ca_node;
    tls_version(l, ytree_get(tls, "min_version"), "min_version", &w->min_version);
    tls_version(l, ytree_get(tls, "max_version"), "max_version", &w->max_version);
    if (w->max_version < w->min_version)
        error_at(l, ytree_get(tls, "max_version"), "max_version TLS%u is below min_version TLS%u",
                 w->max_version, w->min_version);
    w->client_auth = WEBCONFIG_NO_CLIENT_CERT;
    if (auth) {
        bool known = false;
        if (strcmp(auth, "RequireClientCert") == 0) { /* exporter-toolkit's old name */
            w->client_auth = WEBCONFIG_REQUIRE_ANY_CLIENT_CERT;
            known = true;
        }
        for (size_t i = 0; !known && i < sizeof(client_auth_names) / sizeof(*client_auth_names);
             i++)
            if (strcmp(auth, client_auth_names[i]) == 0) {
                w->client_auth = (enum webconfig_client_auth)i;
                known = true;
            }
        if (!known)
            error_at(l, an,
                     "invalid client_auth_type '%.64s' (NoClientCert, RequestClientCert, "
                     "RequireAnyClientCert, VerifyClientCertIfGiven or "
                     "RequireAndVerifyClientCert)",
                     auth);
    }
    const struct ytree_node *sn = ytree_get(tls, "client_allowed_sans");
    if (sn && !ytree_is_null(sn)) {
        if (ytree_expect(sn, YTREE_SEQ, l->errors) < 0) {
            fail(l, -EINVAL);
        } else if (ytree_len(sn) > WEBCONFIG_MAX_SANS) {
            error_at(l, sn, "client_allowed_sans has more than %u entries", WEBCONFIG_MAX_SANS);
        } else {
            w->sans = calloc(ytree_len(sn) + 1, sizeof(*w->sans));
            if (!w->sans)
                fail(l, -ENOMEM);
            for (size_t i = 0; w->sans && i < ytree_len(sn); i++) {
                const char *s;
                if (ytree_get_string(ytree_item(sn, i), &s, l->errors) < 0) {
                    fail(l, -EINVAL);
                    continue;
                }
                if (!(w->sans[w->n_sans++] = strdup(s)))
                    fail(l, -ENOMEM);
            }
            if (w->client_auth != WEBCONFIG_REQUIRE_ANY_CLIENT_CERT &&
                w->client_auth != WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT)
                error_at(l, sn,
                         "client_allowed_sans requires client_auth_type to be one of "
                         "RequireAnyClientCert or RequireAndVerifyClientCert");
        }
    }
    load_priorities(l, tls);
    if (!w->tls)
        return;
    if (!cert_node)
        error_at(l, tls, "missing one of cert or cert_file");
    if (!key_node)
        error_at(l, tls, "missing one of key or key_file");
    if (ca_node && w->client_auth == WEBCONFIG_NO_CLIENT_CERT)
        error_at(l, ca_node,
                 "client CA's have been configured without a Client Auth Policy "
                 "(client_auth_type)");
    if (!ca_node && w->client_auth != WEBCONFIG_NO_CLIENT_CERT)
        error_at(l, an,
                 "client_auth_type %s needs client_ca_file (or client_ca): libmicrohttpd asks "
                 "clients for a certificate only when it has a CA to name",
                 auth);
    if (w->cert_pem && w->key_pem)
        check_key_pair(l, cert_node, key_node);
    if (w->ca_pem)
        check_ca(l, ca_node);
}

/* exporter-toolkit's extraHTTPHeaders: the only headers a file may set, and the values
 * of the enumerated ones. */
static const char *const header_names[] = {"Strict-Transport-Security", "X-Content-Type-Options",
                                           "X-Frame-Options",           "X-XSS-Protection",
                                           "Content-Security-Policy",   NULL};

bool webconfig_header_allowed(const char *name)
{
    for (const char *const *h = header_names; *h; h++)
        if (strcasecmp(name, *h) == 0)
            return true;
    return false;
}

static void load_http(struct loader *l, const struct ytree_node *root)
{
    static const char *const keys[] = {"http2", "headers", NULL};
    const struct ytree_node *http, *headers;
    if (opt_map(l, ytree_get(root, "http_server_config"), keys, &http) < 0 || !http)
        return;
    bool http2 = true; /* accepted and ignored: libmicrohttpd speaks HTTP/1.1 */
    opt_bool(l, ytree_get(http, "http2"), &http2);
    if (opt_map(l, ytree_get(http, "headers"), NULL, &headers) < 0 || !headers)
        return;
    bool bad_name = false;
    for (size_t i = 0; i < ytree_len(headers); i++) {
        const struct ytree_node *kn = ytree_key(headers, i);
        const char *name = ytree_text(kn, NULL), *near = NULL;
        bool known = false;
        for (const char *const *h = header_names; *h; h++) {
            known |= strcmp(name, *h) == 0;
            if (strcasecmp(name, *h) == 0)
                near = *h;
        }
        if (known)
            continue;
        bad_name = true;
        if (near)
            error_at(l, kn, "HTTP header '%.64s' can not be configured; did you mean '%s'?", name,
                     near);
        else
            error_at(l, kn,
                     "HTTP header '%.64s' can not be configured (Strict-Transport-Security, "
                     "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection or "
                     "Content-Security-Policy)",
                     name);
    }
    if (bad_name)
        return;
    struct webconfig *w = l->w;
    w->headers = calloc(ytree_len(headers) + 1, sizeof(*w->headers));
    if (!w->headers) {
        fail(l, -ENOMEM);
        return;
    }
    for (size_t i = 0; i < ytree_len(headers); i++) {
        const char *name = ytree_text(ytree_key(headers, i), NULL);
        const struct ytree_node *vn = ytree_value(headers, i);
        const char *value;
        if (opt_string(l, vn, &value) < 0 || !value)
            continue; /* blank: unset */
        if (strlen(value) > 4096) {
            error_at(l, vn, "the value of %s is longer than 4096 bytes", name);
            continue;
        }
        bool bad = false;
        for (const char *c = value; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                bad = true;
        if (bad) {
            error_at(l, vn, "the value of %s holds a control character", name);
            continue;
        }
        if (strcmp(name, "X-Content-Type-Options") == 0 && strcmp(value, "nosniff") != 0) {
            error_at(l, vn,
                     "invalid value for X-Content-Type-Options. Expected one of: "
                     "[\"nosniff\"], but got: \"%.64s\"",
                     value);
            continue;
        }
        if (strcmp(name, "X-Frame-Options") == 0 && strcmp(value, "deny") != 0 &&
            strcmp(value, "sameorigin") != 0) {
            error_at(l, vn,
                     "invalid value for X-Frame-Options. Expected one of: [\"deny\" "
                     "\"sameorigin\"], but got: \"%.64s\"",
                     value);
            continue;
        }
        struct wc_header *h = &w->headers[w->n_headers++];
        h->name = strdup(name);
        h->value = strdup(value);
        if (!h->name || !h->value)
            fail(l, -ENOMEM);
    }
}

static void load_rate_limit(struct loader *l, const struct ytree_node *root)
{
    static const char *const keys[] = {"interval", "burst", NULL};
    const struct ytree_node *rl;
    if (opt_map(l, ytree_get(root, "rate_limit"), keys, &rl) < 0 || !rl)
        return;
    struct webconfig *w = l->w;
    const struct ytree_node *in = ytree_get(rl, "interval"), *bn = ytree_get(rl, "burst");
    uint64_t usec = 0, burst = 0;
    if (in && !ytree_is_null(in) && ytree_get_duration(in, &usec, l->errors) < 0)
        fail(l, -EINVAL);
    if (bn && !ytree_is_null(bn) && ytree_get_uint(bn, &burst, l->errors) < 0)
        fail(l, -EINVAL);
    if (burst > 1000000)
        error_at(l, bn, "burst is larger than 1000000");
    if (usec > 0 && burst == 0)
        error_at(l, bn ? bn : rl,
                 "burst must be at least 1 when interval is set (0 would refuse every request)");
    w->rate_interval_usec = usec;
    w->rate_burst = (unsigned)burst;
    w->rate_tokens = (double)burst;
}

/* A bcrypt hash as Go's bcrypt.Cost() accepts it and libxcrypt computes it:
 * $2a$, $2b$ or $2y$, a cost of 04 to 31, 53 characters of bcrypt's base64. */
static int bcrypt_cost(const char *h, unsigned *ret)
{
    if (strlen(h) != BCRYPT_HASH_LEN || h[0] != '$' || h[1] != '2' ||
        (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$' || h[4] < '0' || h[4] > '9' ||
        h[5] < '0' || h[5] > '9' || h[6] != '$')
        return -EINVAL;
    for (const char *c = h + 7; *c; c++)
        if (!strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", *c))
            return -EINVAL;
    unsigned cost = (unsigned)(h[4] - '0') * 10 + (unsigned)(h[5] - '0');
    if (cost < 4 || cost > 31 || crypt_checksalt(h) != CRYPT_SALT_OK)
        return -EINVAL;
    *ret = cost;
    return 0;
}

static void load_users(struct loader *l, const struct ytree_node *root)
{
    const struct ytree_node *users;
    if (opt_map(l, ytree_get(root, "basic_auth_users"), NULL, &users) < 0 || !users)
        return;
    struct webconfig *w = l->w;
    size_t n = ytree_len(users);
    if (n > WEBCONFIG_MAX_USERS) {
        error_at(l, users, "more than %u basic_auth_users", WEBCONFIG_MAX_USERS);
        return;
    }
    w->users = calloc(n + 1, sizeof(*w->users));
    if (!w->users) {
        fail(l, -ENOMEM);
        return;
    }
    unsigned max_cost = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ytree_node *kn = ytree_key(users, i), *vn = ytree_value(users, i);
        size_t name_len;
        const char *name = ytree_text(kn, &name_len);
        const char *hash;
        if (name_len != strlen(name) || name_len > WEBCONFIG_MAX_USER_BYTES) {
            error_at(l, kn, "a user name must be at most %u bytes without NUL",
                     WEBCONFIG_MAX_USER_BYTES);
            continue;
        }
        if (strchr(name, ':')) {
            error_at(l, kn, "user name '%.64s' holds ':', which basic auth cannot carry", name);
            continue;
        }
        if (ytree_get_string(vn, &hash, l->errors) < 0) {
            fail(l, -EINVAL);
            continue;
        }
        unsigned cost;
        if (bcrypt_cost(hash, &cost) < 0) {
            error_at(l, vn,
                     "the password of user '%.64s' is not a bcrypt hash ($2y$, $2b$ or $2a$, "
                     "cost 04 to 31; htpasswd -nBC 10 USER makes one)",
                     name);
            continue;
        }
        struct wc_user *u = &w->users[w->n_users++];
        u->name = strdup(name);
        if (!u->name) {
            fail(l, -ENOMEM);
            continue;
        }
        memcpy(u->hash, hash, BCRYPT_HASH_LEN + 1);
        u->cost = cost;
        if (cost > max_cost)
            max_cost = cost;
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, name, name_len, u->digest) < 0)
            fail(l, -ENOMEM);
    }
    if (l->err || w->n_users == 0)
        return;
    /* The dummy hash unknown users are checked against: the highest cost, a random salt,
     * made once here (one bcrypt at that cost). */
    w->crypt = calloc(1, sizeof(*w->crypt));
    unsigned char rnd[16];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!w->crypt || gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd)) < 0 ||
        gnutls_rnd(GNUTLS_RND_KEY, w->cache_key, sizeof(w->cache_key)) < 0 ||
        !crypt_gensalt_rn("$2b$", max_cost, (const char *)rnd, sizeof(rnd), setting,
                          sizeof(setting))) {
        fail(l, -ENOMEM);
        return;
    }
    const char *out = crypt_rn("homeostat: no such user", setting, w->crypt, sizeof(*w->crypt));
    if (!out || strlen(out) != BCRYPT_HASH_LEN) {
        fail(l, -ENOMEM);
        return;
    }
    memcpy(w->dummy_hash, out, BCRYPT_HASH_LEN + 1);
}

static int load_tree(struct ytree *tree, const char *dir, struct webconfig **ret,
                     struct buf *errors)
{
    static const char *const keys[] = {"tls_server_config", "http_server_config",
                                       "basic_auth_users", "rate_limit", NULL};
    struct webconfig *w = calloc(1, sizeof(*w));
    if (!w) {
        ytree_free(tree);
        return -ENOMEM;
    }
    w->refs = 1;
    pthread_mutex_init(&w->rate_lock, NULL);
    pthread_mutex_init(&w->bcrypt_lock, NULL);
    pthread_mutex_init(&w->cache_lock, NULL);
    struct buf found = BUF_INIT_MAX(errors ? errors->max : 0);
    struct loader l = {.w = w, .dir = dir, .name = ytree_name(tree), .errors = &found};
    const struct ytree_node *root = ytree_root(tree);
    if (!ytree_is_null(root)) {
        if (ytree_expect(root, YTREE_MAP, &found) < 0 || ytree_check_keys(root, keys, &found) < 0)
            fail(&l, -EINVAL);
        if (ytree_kind(root) == YTREE_MAP) {
            load_tls(&l, root);
            load_http(&l, root);
            load_rate_limit(&l, root);
            load_users(&l, root);
        }
    } else {
        w->min_version = 12;
        w->max_version = 13;
    }
    if (l.err == 0 && !w->priorities)
        w->priorities = strdup("NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE");
    if (l.err == 0 && !w->priorities)
        l.err = -ENOMEM;
    ytree_errors_sorted(errors, &found, ytree_name(tree));
    buf_free(&found);
    ytree_free(tree);
    if (l.err < 0) {
        webconfig_free(w);
        return l.err;
    }
    *ret = w;
    return 0;
}

static const struct ytree_limits webconfig_limits = {
    .max_bytes = WEBCONFIG_MAX_FILE_BYTES,
    .max_depth = WEBCONFIG_MAX_DEPTH,
    .max_nodes = 20000,
    .max_aliases = 100,
};

int webconfig_load_string(const char *data, size_t len, const char *name, const char *dir,
                          struct webconfig **ret, struct buf *errors)
{
    struct ytree *tree;
    int r = ytree_load_string(data, len, name, &webconfig_limits, &tree, errors);
    if (r < 0)
        return r == -E2BIG ? -EINVAL : r;
    return load_tree(tree, dir, ret, errors);
}

int webconfig_load_file(const char *path, struct webconfig **ret, struct buf *errors)
{
    struct ytree *tree;
    int r = ytree_load_file(path, &webconfig_limits, &tree, errors);
    if (r < 0)
        return r == -E2BIG ? -EINVAL : r;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    return load_tree(tree, dir, ret, errors);
}

int webconfig_check_file(const char *path, FILE *out)
{
    struct buf errors = BUF_INIT_MAX(1 << 20);
    struct webconfig *w = NULL;
    int r = webconfig_load_file(path, &w, &errors);
    if (r < 0) {
        if (errors.len)
            fputs(errors.data, out);
        else
            fprintf(out, "%s: %s\n", path, strerror(-r));
        fprintf(out, "%s: FAILED\n", path);
        buf_free(&errors);
        return 1;
    }
    char d[256];
    webconfig_describe(w, d, sizeof(d));
    fprintf(out, "%s: OK (%s)\n", path, d);
    webconfig_unref(w);
    buf_free(&errors);
    return 0;
}

/* ---- accessors ---- */

void webconfig_describe(const struct webconfig *w, char *out, size_t size)
{
    struct buf b = BUF_INIT_MAX(size > 0 ? size - 1 : 1);
    if (!w || !w->tls)
        buf_puts(&b, "plain HTTP");
    else if (w->min_version == w->max_version)
        buf_printf(&b, "TLS 1.%u", w->min_version - 10);
    else
        buf_printf(&b, "TLS 1.%u-1.%u", w->min_version - 10, w->max_version - 10);
    if (w && w->tls && w->client_auth != WEBCONFIG_NO_CLIENT_CERT)
        buf_printf(&b, ", client certificates %s", client_auth_names[w->client_auth]);
    if (w && w->n_users)
        buf_printf(&b, ", basic auth (%zu user%s)", w->n_users, w->n_users == 1 ? "" : "s");
    else
        buf_puts(&b, ", no authentication");
    if (w && w->n_headers)
        buf_printf(&b, ", %zu header%s", w->n_headers, w->n_headers == 1 ? "" : "s");
    if (w && w->rate_interval_usec)
        buf_printf(&b, ", rate limit %u per %.3gs", w->rate_burst,
                   (double)w->rate_interval_usec / 1e6);
    snprintf(out, size, "%s", b.data ? b.data : "?");
    buf_free(&b);
}

bool webconfig_tls(const struct webconfig *w)
{
    return w && w->tls;
}

const char *webconfig_tls_cert_pem(const struct webconfig *w)
{
    return w && w->tls ? w->cert_pem : NULL;
}

const char *webconfig_tls_key_pem(const struct webconfig *w)
{
    return w && w->tls ? w->key_pem : NULL;
}

const char *webconfig_tls_client_ca_pem(const struct webconfig *w)
{
    return w && w->tls ? w->ca_pem : NULL;
}

const char *webconfig_tls_priorities(const struct webconfig *w)
{
    return w ? w->priorities : NULL;
}

enum webconfig_client_auth webconfig_client_auth(const struct webconfig *w)
{
    return w && w->tls ? w->client_auth : WEBCONFIG_NO_CLIENT_CERT;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool webconfig_tls_equal(const struct webconfig *a, const struct webconfig *b)
{
    bool ta = webconfig_tls(a), tb = webconfig_tls(b);
    if (!ta || !tb)
        return ta == tb;
    if (!same_str(a->cert_pem, b->cert_pem) || !same_str(a->key_pem, b->key_pem) ||
        !same_str(a->ca_pem, b->ca_pem) || !same_str(a->priorities, b->priorities) ||
        a->client_auth != b->client_auth || a->n_sans != b->n_sans)
        return false;
    for (size_t i = 0; i < a->n_sans; i++)
        if (strcmp(a->sans[i], b->sans[i]) != 0)
            return false;
    return true;
}

bool webconfig_header(const struct webconfig *w, size_t i, const char **ret_name,
                      const char **ret_value)
{
    if (!w || i >= w->n_headers)
        return false;
    *ret_name = w->headers[i].name;
    *ret_value = w->headers[i].value;
    return true;
}

bool webconfig_has_header(const struct webconfig *w, const char *name)
{
    for (size_t i = 0; w && i < w->n_headers; i++)
        if (strcasecmp(w->headers[i].name, name) == 0)
            return true;
    return false;
}

bool webconfig_rate_allow(struct webconfig *w, uint64_t now_usec)
{
    if (!w || !w->rate_interval_usec)
        return true;
    pthread_mutex_lock(&w->rate_lock);
    if (w->rate_last_usec && now_usec > w->rate_last_usec) {
        w->rate_tokens += (double)(now_usec - w->rate_last_usec) / (double)w->rate_interval_usec;
        if (w->rate_tokens > w->rate_burst)
            w->rate_tokens = w->rate_burst;
    }
    if (now_usec > w->rate_last_usec)
        w->rate_last_usec = now_usec;
    bool ok = w->rate_tokens >= 1.0;
    if (ok)
        w->rate_tokens -= 1.0;
    pthread_mutex_unlock(&w->rate_lock);
    return ok;
}

/* ---- client certificates ---- */

static bool san_allowed(const struct webconfig *w, const char *san)
{
    for (size_t i = 0; i < w->n_sans; i++)
        if (strcmp(w->sans[i], san) == 0)
            return true;
    return false;
}

/* Whether the peer certificate has a SAN (DNS, IP, e-mail or URI) in client_allowed_sans. */
static int check_sans(const struct webconfig *w, const gnutls_datum_t *der, char *why, size_t size)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return -ENOMEM;
    int r = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER);
    bool ok = false;
    for (unsigned seq = 0; r >= 0 && !ok; seq++) {
        char san[1024], text[INET6_ADDRSTRLEN];
        size_t len = sizeof(san) - 1;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, san, &len, NULL);
        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
            continue;
        if (type < 0)
            break;
        if (type == GNUTLS_SAN_IPADDRESS) {
            if ((len == 4 && inet_ntop(AF_INET, san, text, sizeof(text))) ||
                (len == 16 && inet_ntop(AF_INET6, san, text, sizeof(text))))
                ok = san_allowed(w, text);
        } else if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME ||
                   type == GNUTLS_SAN_URI) {
            san[len] = '\0';
            ok = strlen(san) == len && san_allowed(w, san);
        }
    }
    gnutls_x509_crt_deinit(crt);
    if (!ok) {
        snprintf(why, size, "the client certificate has none of client_allowed_sans");
        return -EACCES;
    }
    return 0;
}

int webconfig_check_client_cert(const struct webconfig *w, void *tls_session, char *why,
                                size_t size)
{
    enum webconfig_client_auth a = webconfig_client_auth(w);
    if (a == WEBCONFIG_NO_CLIENT_CERT || a == WEBCONFIG_REQUEST_CLIENT_CERT)
        return 0;
    gnutls_session_t s = tls_session;
    unsigned n = 0;
    const gnutls_datum_t *certs = s ? gnutls_certificate_get_peers(s, &n) : NULL;
    bool have = certs && n > 0;
    if (!have) {
        if (a == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN)
            return 0;
        snprintf(why, size, "a client certificate is required");
        return -EACCES;
    }
    if (a == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN ||
        a == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT) {
        /* The chain to the client CA, the validity period, and the key purpose (TLS
         * client authentication, when the certificate names purposes), as Go checks. */
        gnutls_typed_vdata_st data = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                      .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
        unsigned status = 0;
        int r = gnutls_certificate_verify_peers(s, &data, 1, &status);
        if (r < 0) {
            snprintf(why, size, "the client certificate cannot be verified: %s",
                     gnutls_strerror(r));
            return -EACCES;
        }
        if (status != 0) {
            gnutls_datum_t out = {NULL, 0};
            if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >=
                    0 &&
                out.data) {
                snprintf(why, size, "the client certificate is not trusted: %s", out.data);
                gnutls_free(out.data);
            } else {
                snprintf(why, size, "the client certificate is not trusted (status 0x%x)", status);
            }
            return -EACCES;
        }
    }
    if (w->n_sans)
        return check_sans(w, &certs[0], why, size);
    return 0;
}

/* ---- basic authentication ---- */

bool webconfig_auth_required(const struct webconfig *w)
{
    return w && w->n_users > 0;
}

/* HMAC-SHA256 of (user, password) under the per-configuration cache key. */
static int cache_digest(const struct webconfig *w, const unsigned char *cred, size_t len,
                        size_t user_len, unsigned char *out)
{
    unsigned char msg[8 + WEBCONFIG_MAX_USER_BYTES + WEBCONFIG_MAX_PASSWORD_BYTES + 2];
    if (8 + len > sizeof(msg))
        return -E2BIG;
    for (size_t i = 0; i < 8; i++)
        msg[i] = (unsigned char)(user_len >> (8 * i));
    memcpy(msg + 8, cred, len);
    int r =
        gnutls_hmac_fast(GNUTLS_MAC_SHA256, w->cache_key, sizeof(w->cache_key), msg, 8 + len, out);
    explicit_bzero(msg, sizeof(msg));
    return r < 0 ? -EIO : 0;
}

static bool cache_has(struct webconfig *w, const unsigned char *d)
{
    unsigned hit = 0;
    pthread_mutex_lock(&w->cache_lock);
    for (size_t i = 0; i < w->cache_used; i++)
        hit |= ct_equal(w->cache[i], d, DIGEST_BYTES);
    pthread_mutex_unlock(&w->cache_lock);
    return hit != 0;
}

static void cache_add(struct webconfig *w, const unsigned char *d)
{
    pthread_mutex_lock(&w->cache_lock);
    memcpy(w->cache[w->cache_next], d, DIGEST_BYTES);
    w->cache_next = (w->cache_next + 1) % WEBCONFIG_CACHE_SIZE;
    if (w->cache_used < WEBCONFIG_CACHE_SIZE)
        w->cache_used++;
    pthread_mutex_unlock(&w->cache_lock);
}

static int check_password(struct webconfig *w, const unsigned char *cred, size_t len,
                          size_t user_len)
{
    /* The user, found in constant time: every name's digest is compared. */
    unsigned char digest[DIGEST_BYTES];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, cred, user_len, digest) < 0)
        return -EACCES;
    size_t match = 0;
    unsigned found = 0;
    for (size_t i = 0; i < w->n_users; i++) {
        unsigned eq = ct_equal(w->users[i].digest, digest, DIGEST_BYTES);
        size_t mask = (size_t)0 - (size_t)(eq & (found ^ 1u));
        match = (match & ~mask) | (i & mask);
        found |= eq;
    }
    const char *hash = found ? w->users[match].hash : w->dummy_hash;

    char password[WEBCONFIG_MAX_PASSWORD_BYTES + 1];
    size_t pass_len = len - user_len - 1;
    memcpy(password, cred + user_len + 1, pass_len);
    password[pass_len] = '\0';
    unsigned char key[DIGEST_BYTES];
    bool keyed = cache_digest(w, cred, len, user_len, key) == 0;
    int ret = -EACCES;
    if (keyed && cache_has(w, key)) {
        ret = 0; /* only right passwords of known users are cached */
        goto out;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += BCRYPT_LOCK_WAIT_SEC;
    if (pthread_mutex_timedlock(&w->bcrypt_lock, &deadline) != 0) {
        ret = -EBUSY;
        goto out;
    }
    const char *out = crypt_rn(password, hash, w->crypt, sizeof(*w->crypt));
    w->bcrypt_runs++;
    unsigned char computed[BCRYPT_HASH_LEN] = {0};
    if (out && strlen(out) == BCRYPT_HASH_LEN)
        memcpy(computed, out, BCRYPT_HASH_LEN);
    explicit_bzero(w->crypt, sizeof(*w->crypt));
    pthread_mutex_unlock(&w->bcrypt_lock);
    unsigned ok = ct_equal(computed, (const unsigned char *)hash, BCRYPT_HASH_LEN) & found;
    if (ok) {
        ret = 0;
        if (keyed)
            cache_add(w, key);
    }
out:
    explicit_bzero(password, sizeof(password));
    explicit_bzero(key, sizeof(key));
    return ret;
}

unsigned long webconfig_bcrypt_runs(struct webconfig *w)
{
    if (!w || !w->n_users)
        return 0;
    pthread_mutex_lock(&w->bcrypt_lock);
    unsigned long n = w->bcrypt_runs;
    pthread_mutex_unlock(&w->bcrypt_lock);
    return n;
}

int webconfig_authorize(struct webconfig *w, const char *authorization)
{
    return webconfig_authorize_user(w, authorization, NULL, 0);
}

int webconfig_authorize_user(struct webconfig *w, const char *authorization, char *ret_user,
                             size_t size)
{
    if (ret_user && size)
        ret_user[0] = '\0';
    if (!w || w->n_users == 0)
        return 0;
    /* "Basic BASE64(user:password)", the scheme in any case (RFC 7617, Go's BasicAuth). */
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return -EACCES;
    const char *b64 = authorization + 6;
    if (strlen(b64) > 4 * ((WEBCONFIG_MAX_USER_BYTES + WEBCONFIG_MAX_PASSWORD_BYTES + 1 + 2) / 3))
        return -EACCES;
    unsigned char cred[WEBCONFIG_MAX_USER_BYTES + WEBCONFIG_MAX_PASSWORD_BYTES + 4];
    long len = base64_decode_to(b64, strlen(b64), cred, sizeof(cred), BASE64_STRICT);
    int r = -EACCES;
    const unsigned char *colon = len > 0 ? memchr(cred, ':', (size_t)len) : NULL;
    if (colon) {
        size_t user_len = (size_t)(colon - cred);
        size_t pass_len = (size_t)len - user_len - 1;
        /* crypt() takes a C string: a NUL would cut the password short. */
        if (user_len <= WEBCONFIG_MAX_USER_BYTES && pass_len <= WEBCONFIG_MAX_PASSWORD_BYTES &&
            !memchr(colon + 1, '\0', pass_len))
            r = check_password(w, cred, (size_t)len, user_len);
        if (r == 0 && ret_user && size)
            snprintf(ret_user, size, "%.*s", (int)user_len, (const char *)cred);
    }
    if (len > 0)
        explicit_bzero(cred, sizeof(cred));
    return r;
}
