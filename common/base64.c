/* base64: see base64.h. */
#include "base64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const void *p, size_t n, struct buf *out)
{
    const unsigned char *s = p;
    int r = buf_reserve(out, (n + 2) / 3 * 4 + 1);
    if (r < 0)
        return r;
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long base64_decode_to(const char *s, size_t n, unsigned char *out, size_t size, unsigned flags)
{
    bool strict = flags & BASE64_STRICT;
    uint32_t acc = 0;
    unsigned bits = 0, pad = 0, digits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!strict && (c == ' ' || c == '\n' || c == '\r' || c == '\t'))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = value_of(c);
        if (v < 0 || pad) /* a digit after padding */
            return -EINVAL;
        digits++;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out && o == size)
                return -EINVAL;
            if (out)
                out[o] = (unsigned char)((acc >> bits) & 0xff);
            o++;
        }
    }
    /* 1 digit left over cannot be; padding must complete a group of 4 */
    if (digits % 4 == 1 || pad > 2 || (pad && (digits + pad) % 4) ||
        (strict && (digits + pad) % 4) || (acc & ((1u << bits) - 1)) != 0)
        return -EINVAL;
    return (long)o;
}

int base64_decode(const char *s, size_t n, struct buf *out)
{
    long len = base64_decode_to(s, n, NULL, 0, 0); /* checked and measured first */
    if (len < 0)
        return (int)len;
    int r = buf_reserve(out, (size_t)len);
    if (r < 0)
        return r;
    base64_decode_to(s, n, (unsigned char *)out->data + out->len, (size_t)len, 0);
    out->len += (size_t)len;
    out->data[out->len] = '\0';
    return 0;
}
