/* credentials: the controller API's roles and the bearer tokens that grant them
 * (docs/SECURITY.md). Three roles: receiver (the Alertmanager webhook only), operator
 * (pause, resume, manual actions, overrides, evaluate) and admin (everything, reload
 * included). Each role reads its tokens from one or more files (--web.<role>-token-file),
 * one token per line, optionally preceded by a name and a space; files are reread on
 * reload, so a token is rotated by adding the new one, reloading, and removing the old.
 * A token is identified in logs and the audit log by its name or "sha256:" and the first
 * 12 hex digits of its hash, never by itself. */
#ifndef HOMEOSTAT_CONTROLLER_CREDENTIALS_H
#define HOMEOSTAT_CONTROLLER_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum api_role {
    API_ROLE_NONE = -1,
    API_ROLE_RECEIVER,
    API_ROLE_OPERATOR,
    API_ROLE_ADMIN,
    API_ROLE_MAX,
};

/* Token files per role at most, tokens per file at most, a token file's size at most. */
#define CREDENTIALS_MAX_FILES 8
#define CREDENTIALS_MAX_TOKENS 64
#define CREDENTIALS_MAX_FILE_BYTES 16384
/* A credential id ("alice", "sha256:0123456789ab"): at most this long with its NUL. */
#define CREDENTIALS_ID_SIZE 72

struct credentials;

/* "receiver", "operator", "admin"; "none" for API_ROLE_NONE. */
const char *api_role_name(enum api_role role);
/* Whether a credential of role `have` may call an endpoint that needs `need`: admin may
 * call everything, operator what needs operator, receiver what needs receiver. */
bool api_role_allows(enum api_role have, enum api_role need);

/* Reads every file of every role: files[role] holds n[role] paths. On success returns 0
 * and *ret (caller frees with credentials_free), possibly with no token at all when no
 * file was given. On failure returns -EINVAL, -ENOMEM or a read's -errno, appends
 * "PATH: reason" lines to errors and leaves *ret untouched: a reload keeps the running
 * credentials. A file with no token, a line with a control character or two names, the
 * same token twice, or the same name twice is an error. */
int credentials_load(const char *const files[API_ROLE_MAX][CREDENTIALS_MAX_FILES],
                     const size_t n[API_ROLE_MAX], struct credentials **ret, struct buf *errors);
void credentials_free(struct credentials *c); /* accepts NULL */

/* Tokens held (all roles), and for one role. */
size_t credentials_count(const struct credentials *c);
size_t credentials_count_role(const struct credentials *c, enum api_role role);

/* Looks a presented token up, comparing with every token in time that depends only on the
 * tokens' lengths. Returns its role and copies its id to id (CREDENTIALS_ID_SIZE bytes),
 * or API_ROLE_NONE (id untouched) when no token matches. */
enum api_role credentials_lookup(const struct credentials *c, const char *token, char *id);

#endif
