/* rules_prometheus: the prometheus section of the rules: URL, timeout, credentials
 * files, TLS, headers (X-Scope-OrgID). */
#include "rules_loader.h"

/* ---- prometheus ---- */

static const char *const reserved_headers[] = {
    "Authorization", "Host",       "Content-Type",    "Content-Length",    "Content-Encoding",
    "Connection",    "User-Agent", "Accept-Encoding", "Transfer-Encoding", NULL,
};

static void load_headers(struct loader *l, const struct ytree_node *v)
{
    struct http_client_config *p = &l->r->prometheus;
    if (ytree_is_null(v))
        return;
    if (!loader_get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_HEADERS) {
        loader_report(l, v, "more than %d headers", RULES_MAX_HEADERS);
        return;
    }
    p->headers = loader_alloc_array(l, n + 1, sizeof(*p->headers));
    if (!p->headers)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct ytree_node *k = ytree_key(v, i), *val = ytree_value(v, i);
        const char *name = NULL, *value = NULL;
        bool ok = loader_get_string(l, k, &name);
        if (ok && !loader_header_name_valid(name)) {
            loader_report(l, k,
                          "header name '%.64s' is not valid (letters, digits and !#$%%&'*+-.^_`|~)",
                          name);
            ok = false;
        }
        for (size_t j = 0; ok && reserved_headers[j]; j++)
            if (strcasecmp(name, reserved_headers[j]) == 0) {
                if (j == 0)
                    loader_report(
                        l, k,
                        "header 'Authorization' would put a secret in the rules file: use "
                        "bearer_token_file or basic_auth");
                else
                    loader_report(l, k, "header '%s' is set by the controller itself", name);
                ok = false;
            }
        for (size_t j = 0; ok && j < i; j++) {
            const struct ytree_node *prev = ytree_key(v, j);
            if (strcasecmp(ytree_text(prev, NULL), name) == 0) {
                loader_report(l, k, "duplicate header '%.64s' (first at %u:%u; names ignore case)",
                              name, ytree_line(prev), ytree_column(prev));
                ok = false;
            }
        }
        if (!loader_get_string(l, val, &value))
            continue;
        for (const char *c = value; *c; c++)
            if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f) {
                loader_report(l, val, "header value contains a line break or a control character");
                ok = false;
                break;
            }
        if (!ok)
            continue;
        struct buf b;
        buf_init(&b, 0);
        if (buf_printf(&b, "%s: %s", name, value) < 0) {
            buf_free(&b);
            l->oom = true;
            return;
        }
        p->headers[p->n_headers++] = buf_steal(&b, NULL);
    }
}

static void load_basic_auth(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"username", "password_file", "password", NULL};
    struct http_client_config *p = &l->r->prometheus;
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if (ytree_get(v, "password"))
        loader_report(
            l, loader_key_node(v, "password"),
            "password is not accepted: put it in a file and name that with password_file");
    if (!(x = ytree_get(v, "username")))
        loader_report(l, v, "basic_auth needs a username");
    else if (loader_get_text(l, x, "username", 1024, &s))
        p->basic_auth_username = loader_dup_str(l, s);
    if (!(x = ytree_get(v, "password_file"))) {
        if (!ytree_get(v, "password"))
            loader_report(l, v, "basic_auth needs a password_file");
    } else {
        loader_get_path(l, x, "password_file", &p->basic_auth_password_file);
    }
}

void loader_load_prometheus(struct loader *l, const struct ytree_node *v, bool interval_ok)
{
    static const char *const keys[] = {
        "url",        "timeout",      "bearer_token_file",
        "basic_auth", "ca_file",      "insecure_skip_verify",
        "headers",    "bearer_token", /* only to say why not */
        NULL,
    };
    struct http_client_config *p = &l->r->prometheus;
    uint64_t interval = l->r->evaluation_interval_usec;
    p->timeout_usec = interval < DEFAULT_TIMEOUT_USEC ? interval : DEFAULT_TIMEOUT_USEC;
    if (!v || ytree_is_null(v))
        return;
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if ((x = ytree_get(v, "url")) && loader_get_url(l, x, &s))
        p->url = loader_dup_str(l, s);
    if ((x = ytree_get(v, "timeout"))) {
        uint64_t t = 0;
        char a[32], b[32];
        bool ok = loader_get_duration(l, x, &t);
        if (ok && t == 0)
            loader_report(l, x, "timeout must be more than 0");
        else if (ok && interval_ok && t > interval)
            loader_report(l, x, "timeout %s is longer than evaluation_interval %s",
                          format_duration_usec(t, a, sizeof(a)),
                          format_duration_usec(interval, b, sizeof(b)));
        else if (ok)
            p->timeout_usec = t;
    }
    if (ytree_get(v, "bearer_token"))
        loader_report(l, loader_key_node(v, "bearer_token"),
                      "bearer_token is not accepted: put the token in a file and name that with "
                      "bearer_token_file");
    if ((x = ytree_get(v, "bearer_token_file")))
        loader_get_path(l, x, "bearer_token_file", &p->bearer_token_file);
    if ((x = ytree_get(v, "basic_auth"))) {
        if (ytree_get(v, "bearer_token_file"))
            loader_report(l, loader_key_node(v, "basic_auth"),
                          "basic_auth and bearer_token_file cannot be used together");
        load_basic_auth(l, x);
    }
    if ((x = ytree_get(v, "ca_file")))
        loader_get_path(l, x, "ca_file", &p->ca_file);
    if ((x = ytree_get(v, "insecure_skip_verify")))
        loader_get_bool(l, x, &p->insecure_skip_verify);
    if ((x = ytree_get(v, "headers")))
        load_headers(l, x);
}
