/* test-base64: common/base64.c against RFC 4648's test vectors, and what it refuses. */
#include <errno.h>

#include "base64.h"
#include "test.h"

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

TEST(rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        struct buf b;
        buf_init(&b, 0);
        CHECK_INT(base64_encode(plain[i], strlen(plain[i]), &b), 0);
        CHECK_STR(b.data, coded[i]);
        buf_reset(&b);
        CHECK_INT(base64_decode(coded[i], strlen(coded[i]), &b), 0);
        CHECK_INT(b.len, strlen(plain[i]));
        CHECK(b.len == 0 || memcmp(b.data, plain[i], b.len) == 0);
        buf_free(&b);
    }
}

TEST(binary_round_trip_and_whitespace)
{
    unsigned char bytes[256];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(255 - i);
    struct buf e, d;
    buf_init(&e, 0);
    buf_init(&d, 0);
    CHECK_INT(base64_encode(bytes, sizeof(bytes), &e), 0);
    /* as PEM breaks it */
    struct buf wrapped;
    buf_init(&wrapped, 0);
    for (size_t i = 0; i < e.len; i += 64) {
        CHECK_INT(buf_append(&wrapped, e.data + i, e.len - i < 64 ? e.len - i : 64), 0);
        CHECK_INT(buf_puts(&wrapped, "\r\n"), 0);
    }
    CHECK_INT(base64_decode(wrapped.data, wrapped.len, &d), 0);
    CHECK_INT(d.len, sizeof(bytes));
    CHECK(memcmp(d.data, bytes, sizeof(bytes)) == 0);
    buf_free(&e);
    buf_free(&d);
    buf_free(&wrapped);
}

TEST(refuses_bad_input_and_leaves_out_unchanged)
{
    static const char *const bad[] = {"Z", "Zm9v!", "Zg=a", "Zg===", "Zh==", "Zm9=v", "Zm9vY"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b;
        buf_init(&b, 0);
        CHECK_INT(buf_puts(&b, "kept"), 0);
        CHECK_INT(base64_decode(bad[i], strlen(bad[i]), &b), -EINVAL);
        CHECK_STR(b.data, "kept");
        buf_free(&b);
    }
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(base64_decode("Zm9v", 4, &b), 0); /* unpadded forms too */
    CHECK_INT(base64_decode("Zg", 2, &b), 0);
    CHECK_STR(b.data, "foof");
    buf_free(&b);
}

TEST(bounded_output)
{
    struct buf b;
    buf_init(&b, 4);
    CHECK_INT(base64_encode("foobar", 6, &b), -E2BIG);
    CHECK_INT(b.len, 0);
    buf_free(&b);
}

TEST(into_a_buffer_and_strict)
{
    unsigned char out[8];
    CHECK_INT(base64_decode_to("Zm9vYmFy", 8, out, sizeof(out), BASE64_STRICT), 6);
    CHECK(memcmp(out, "foobar", 6) == 0);
    CHECK_INT(base64_decode_to("Zm9vYmFy", 8, out, 5, 0), -EINVAL); /* does not fit */
    CHECK_INT(base64_decode_to("Zm9vYmFy", 8, NULL, 0, 0), 6);      /* measured */
    /* strict, as Go's StdEncoding: padding required, no whitespace */
    CHECK_INT(base64_decode_to("Zg==", 4, out, sizeof(out), BASE64_STRICT), 1);
    CHECK_INT(base64_decode_to("Zg", 2, out, sizeof(out), BASE64_STRICT), -EINVAL);
    CHECK_INT(base64_decode_to("Zm9v\n", 5, out, sizeof(out), BASE64_STRICT), -EINVAL);
    CHECK_INT(base64_decode_to("Zm9v\n", 5, out, sizeof(out), 0), 3);
}

TEST_MAIN(TEST_ENTRY(rfc4648_vectors), TEST_ENTRY(binary_round_trip_and_whitespace),
          TEST_ENTRY(refuses_bad_input_and_leaves_out_unchanged), TEST_ENTRY(bounded_output),
          TEST_ENTRY(into_a_buffer_and_strict))
