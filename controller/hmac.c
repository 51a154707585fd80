/* hmac: placeholder until SHA-256 lands (see hmac.h). */
#include "hmac.h"

#include <string.h>

void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_BYTES])
{
    memset(out, 0, SHA256_DIGEST_BYTES);
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 uint8_t out[SHA256_DIGEST_BYTES])
{
    memset(out, 0, SHA256_DIGEST_BYTES);
}

void hmac_hex(const uint8_t digest[SHA256_DIGEST_BYTES], char *out)
{
    out[0] = '\0';
}
