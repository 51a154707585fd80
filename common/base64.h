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

#endif
