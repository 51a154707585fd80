/* credentials: role token files, read and matched (see credentials.h). */
#include "credentials.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hmac.h"

struct token {
    enum api_role role;
    char *secret;
    size_t len;
    char id[CREDENTIALS_ID_SIZE];
};

#define MAX_ALL_TOKENS (API_ROLE_MAX * CREDENTIALS_MAX_FILES * CREDENTIALS_MAX_TOKENS)

struct credentials {
    struct token *tokens;
    size_t n, cap;
};

static const char *const role_names[API_ROLE_MAX] = {
    [API_ROLE_RECEIVER] = "receiver",
    [API_ROLE_OPERATOR] = "operator",
    [API_ROLE_ADMIN] = "admin",
};

const char *api_role_name(enum api_role role)
{
    return role >= 0 && role < API_ROLE_MAX ? role_names[role] : "none";
}

bool api_role_allows(enum api_role have, enum api_role need)
{
    if (have == API_ROLE_NONE)
        return false;
    return have == API_ROLE_ADMIN || have == need;
}

void credentials_free(struct credentials *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        explicit_bzero(c->tokens[i].secret, c->tokens[i].len);
        free(c->tokens[i].secret);
    }
    free(c->tokens);
    free(c);
}

size_t credentials_count(const struct credentials *c)
{
    return c ? c->n : 0;
}

size_t credentials_count_role(const struct credentials *c, enum api_role role)
{
    size_t k = 0;
    for (size_t i = 0; c && i < c->n; i++)
        k += c->tokens[i].role == role;
    return k;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* One line of a token file, without its newline: "TOKEN" or "NAME TOKEN". */
static int parse_line(struct credentials *c, enum api_role role, const char *path, unsigned lineno,
                      char *line, size_t len, struct buf *errors)
{
    while (len > 0 && (is_space(line[len - 1]) || line[len - 1] == '\r'))
        line[--len] = '\0';
    char *p = line;
    while (is_space(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    for (char *q = p; *q; q++)
        if ((unsigned char)*q < 0x20 && !is_space(*q)) {
            buf_printf(errors, "%s:%u: a control character in the line\n", path, lineno);
            return -EINVAL;
        }
    char *name = NULL, *secret = p, *sp = strpbrk(p, " \t");
    if (sp) {
        name = p;
        *sp = '\0';
        secret = sp + 1;
        while (is_space(*secret))
            secret++;
        if (strpbrk(secret, " \t")) {
            buf_printf(errors, "%s:%u: expected TOKEN or NAME TOKEN\n", path, lineno);
            return -EINVAL;
        }
        if (strlen(name) >= CREDENTIALS_ID_SIZE - 1 || strncmp(name, "sha256:", 7) == 0) {
            buf_printf(errors,
                       "%s:%u: a name is at most %d characters and does not start "
                       "with 'sha256:'\n",
                       path, lineno, CREDENTIALS_ID_SIZE - 2);
            return -EINVAL;
        }
    }
    size_t slen = strlen(secret);
    if (c->n == MAX_ALL_TOKENS) {
        buf_printf(errors, "%s:%u: too many tokens\n", path, lineno);
        return -EINVAL;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct token *grown = realloc(c->tokens, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        c->tokens = grown;
        c->cap = cap;
    }
    struct token *t = &c->tokens[c->n];
    memset(t, 0, sizeof(*t));
    if (name) {
        snprintf(t->id, sizeof(t->id), "%s", name);
    } else {
        uint8_t d[SHA256_DIGEST_BYTES];
        char hex[2 * SHA256_DIGEST_BYTES + 1];
        hmac_sha256_digest(secret, slen, d);
        hmac_hex(d, hex);
        snprintf(t->id, sizeof(t->id), "sha256:%.12s", hex);
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->tokens[i].len == slen && memcmp(c->tokens[i].secret, secret, slen) == 0) {
            buf_printf(errors, "%s:%u: the same token as %s (%s)\n", path, lineno, c->tokens[i].id,
                       role_names[c->tokens[i].role]);
            return -EINVAL;
        }
        if (strcmp(c->tokens[i].id, t->id) == 0) {
            buf_printf(errors, "%s:%u: the name '%s' is used twice\n", path, lineno, t->id);
            return -EINVAL;
        }
    }
    t->secret = malloc(slen + 1);
    if (!t->secret)
        return -ENOMEM;
    memcpy(t->secret, secret, slen + 1);
    t->len = slen;
    t->role = role;
    c->n++;
    return 1;
}

static int load_file(struct credentials *c, enum api_role role, const char *path,
                     struct buf *errors)
{
    char *text = NULL;
    size_t len = 0;
    int r = file_read_alloc(path, CREDENTIALS_MAX_FILE_BYTES, &text, &len);
    if (r < 0) {
        buf_printf(errors, "%s: %s\n", path, r == -E2BIG ? "larger than 16 KiB" : strerror(-r));
        return r == -E2BIG ? -EINVAL : r;
    }
    if (memchr(text, '\0', len)) {
        buf_printf(errors, "%s: a NUL byte in the file\n", path);
        free(text);
        return -EINVAL;
    }
    unsigned lineno = 0;
    size_t found = 0;
    char *p = text, *end = text + len;
    while (p < end && r >= 0) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        *le = '\0';
        lineno++;
        r = parse_line(c, role, path, lineno, p, (size_t)(le - p), errors);
        if (r > 0)
            found++;
        if (found > CREDENTIALS_MAX_TOKENS) {
            buf_printf(errors, "%s: more than %d tokens\n", path, CREDENTIALS_MAX_TOKENS);
            r = -EINVAL;
        }
        p = le + 1;
    }
    explicit_bzero(text, len);
    free(text);
    if (r >= 0 && found == 0) {
        buf_printf(errors, "%s: no token in the file\n", path);
        r = -EINVAL;
    }
    return r < 0 ? r : 0;
}

int credentials_load(const char *const files[API_ROLE_MAX][CREDENTIALS_MAX_FILES],
                     const size_t n[API_ROLE_MAX], struct credentials **ret, struct buf *errors)
{
    struct credentials *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int err = 0;
    for (int role = 0; role < API_ROLE_MAX; role++)
        for (size_t i = 0; i < n[role] && i < CREDENTIALS_MAX_FILES; i++) {
            int r = load_file(c, (enum api_role)role, files[role][i], errors);
            if (r == -ENOMEM) {
                credentials_free(c);
                return r;
            }
            if (r < 0 && err == 0)
                err = r;
        }
    if (err < 0) {
        credentials_free(c);
        return err;
    }
    *ret = c;
    return 0;
}

enum api_role credentials_lookup(const struct credentials *c, const char *token, char *id)
{
    if (!c || !token)
        return API_ROLE_NONE;
    size_t given = strlen(token);
    const struct token *hit = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const struct token *t = &c->tokens[i];
        unsigned diff = (unsigned)(given ^ t->len);
        for (size_t k = 0; k < t->len; k++) /* the same work for every token */
            diff |= (unsigned)(unsigned char)t->secret[k] ^
                    (unsigned)(unsigned char)(k < given ? token[k] : 0);
        if (diff == 0 && !hit)
            hit = t;
    }
    if (!hit)
        return API_ROLE_NONE;
    memcpy(id, hit->id, CREDENTIALS_ID_SIZE);
    return hit->role;
}
