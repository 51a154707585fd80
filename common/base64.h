/* base64: RFC 4648 base64 (the standard alphabet, padded), as etcd's JSON gateway and the
 * Kubernetes API carry bytes. */
#ifndef HOMEOSTAT_BASE64_H
#define HOMEOSTAT_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Appends the encoding of p[0..n) to out. 0, -ENOMEM or -E2BIG. */
int base64_encode(const void *p, size_t n, struct buf *out);
/* Appends the bytes s[0..n) encodes to out: padding optional, whitespace (line breaks of
 * PEM or kubeconfig data) skipped. 0, -EINVAL for a character outside the alphabet or a
 * bad length, -ENOMEM or -E2BIG. */
int base64_decode(const char *s, size_t n, struct buf *out);
/* The same into out[0..size) (a secret kept on the caller's stack; out NULL: only
 * checked and measured): the length, or -EINVAL (also when it does not fit). BASE64_STRICT: padding
 * required and no whitespace, as Go's base64.StdEncoding (HTTP basic auth). */
#define BASE64_STRICT 1u
long base64_decode_to(const char *s, size_t n, unsigned char *out, size_t size, unsigned flags);

#endif
