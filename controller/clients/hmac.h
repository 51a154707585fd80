/* hmac: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the webhook actuator's
 * signature header. Small and dependency-free; checked against the RFC 4231 vectors. */
#ifndef HOMEOSTAT_CONTROLLER_HMAC_H
#define HOMEOSTAT_CONTROLLER_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32

/* The plain SHA-256 digest of data (not keyed: the module's name is its main use). */
void hmac_sha256_digest(const void *data, size_t len, uint8_t out[SHA256_DIGEST_BYTES]);
/* HMAC-SHA256 of data under key (RFC 2104). */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_DIGEST_BYTES]);
/* out: 2 * SHA256_DIGEST_BYTES + 1 bytes, lowercase hex, NUL-terminated. */
void hmac_hex(const uint8_t digest[SHA256_DIGEST_BYTES], char *out);

#endif
