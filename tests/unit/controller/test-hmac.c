/* test-hmac: controller/clients/hmac.c against published vectors: SHA-256 from FIPS 180-2
 * appendix B / the NIST examples ("abc", the empty string, the 448- and 896-bit
 * messages, one million 'a'), lengths around the 56- and 64-byte padding boundaries,
 * every RFC 4231 HMAC-SHA256 test case (5 compared on its first 128 bits, as the RFC
 * gives it), a key of exactly one block, and hmac_hex. */
#include <stdint.h>

#include "hmac.h"
#include "test.h"

static void hex_of(const uint8_t d[SHA256_DIGEST_BYTES], char out[2 * SHA256_DIGEST_BYTES + 1])
{
    hmac_hex(d, out);
}

static const char *sha_hex(const void *data, size_t len)
{
    static char out[2 * SHA256_DIGEST_BYTES + 1];
    uint8_t d[SHA256_DIGEST_BYTES];
    hmac_sha256_digest(data, len, d);
    hex_of(d, out);
    return out;
}

static const char *hmac_hex_of(const void *key, size_t key_len, const void *data, size_t len)
{
    static char out[2 * SHA256_DIGEST_BYTES + 1];
    uint8_t d[SHA256_DIGEST_BYTES];
    hmac_sha256(key, key_len, data, len, d);
    hex_of(d, out);
    return out;
}

TEST(sha256_abc)
{
    CHECK_STR(sha_hex("abc", 3),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sha256_empty)
{
    CHECK_STR(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sha_hex(NULL, 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(sha256_448_bits)
{
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_INT(strlen(m), 56);
    CHECK_STR(sha_hex(m, strlen(m)),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_896_bits)
{
    const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK_INT(strlen(m), 112);
    CHECK_STR(sha_hex(m, strlen(m)),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(sha256_million_a)
{
    size_t n = 1000000;
    char *m = malloc(n);
    CHECK(m);
    memset(m, 'a', n);
    const char *got = sha_hex(m, n);
    free(m);
    CHECK_STR(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Messages of 'a' whose padding falls on each side of a block boundary (reference
 * digests from Python's hashlib, an independent implementation). */
TEST(sha256_padding_boundaries)
{
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
    };
    char m[128];
    memset(m, 'a', sizeof(m));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *got = sha_hex(m, v[i].n);
        if (strcmp(got, v[i].hex) != 0)
            TEST_FAIL("sha256 of %zu 'a': %s, expected %s", v[i].n, got, v[i].hex);
    }
}

/* RFC 4231 section 4.2: 20-byte key of 0x0b, "Hi There". */
TEST(hmac_rfc4231_case1)
{
    uint8_t key[20];
    memset(key, 0x0b, sizeof(key));
    CHECK_STR(hmac_hex_of(key, sizeof(key), "Hi There", 8),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

/* 4.3: a key shorter than the output. */
TEST(hmac_rfc4231_case2)
{
    const char *data = "what do ya want for nothing?";
    CHECK_STR(hmac_hex_of("Jefe", 4, data, strlen(data)),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* 4.4: 20 bytes of 0xaa, 50 bytes of 0xdd. */
TEST(hmac_rfc4231_case3)
{
    uint8_t key[20], data[50];
    memset(key, 0xaa, sizeof(key));
    memset(data, 0xdd, sizeof(data));
    CHECK_STR(hmac_hex_of(key, sizeof(key), data, sizeof(data)),
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

/* 4.5: key 0x01..0x19, 50 bytes of 0xcd. */
TEST(hmac_rfc4231_case4)
{
    uint8_t key[25], data[50];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, sizeof(data));
    CHECK_STR(hmac_hex_of(key, sizeof(key), data, sizeof(data)),
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

/* 4.6: truncated to 128 bits in the RFC; the first 32 hex digits must match. */
TEST(hmac_rfc4231_case5_truncated)
{
    uint8_t key[20];
    memset(key, 0x0c, sizeof(key));
    const char *got = hmac_hex_of(key, sizeof(key), "Test With Truncation", 20);
    CHECK(strncmp(got, "a3b6167473100ee06e0c796c2955552b", 32) == 0);
}

/* 4.7: a 131-byte key, longer than the block: hashed first. */
TEST(hmac_rfc4231_case6)
{
    uint8_t key[131];
    memset(key, 0xaa, sizeof(key));
    const char *data = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK_STR(hmac_hex_of(key, sizeof(key), data, strlen(data)),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* 4.8: a long key and data longer than one block. */
TEST(hmac_rfc4231_case7)
{
    uint8_t key[131];
    memset(key, 0xaa, sizeof(key));
    const char *data = "This is a test using a larger than block-size key and a larger than "
                       "block-size data. The key needs to be hashed before being used by the "
                       "HMAC algorithm.";
    CHECK_STR(hmac_hex_of(key, sizeof(key), data, strlen(data)),
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* A key of exactly 64 bytes is used as it is, not hashed (Python's hmac agrees), and the
 * webhook's "timestamp.body" message signs as a receiver would check it. */
TEST(hmac_block_sized_key_and_webhook_message)
{
    char key[64];
    memset(key, 'k', sizeof(key));
    CHECK_STR(hmac_hex_of(key, sizeof(key), "x", 1),
              "f91c4c403625fb06910ef93999265bbd2d62baeaec6ff36455498cc124fe3e66");
    const char *msg = "1700000000.{\"a\":1}";
    CHECK_STR(hmac_hex_of("s3cret", 6, msg, strlen(msg)),
              "1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940");
}

TEST(hex_format)
{
    uint8_t d[SHA256_DIGEST_BYTES];
    for (size_t i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 8 + 0x0f);
    char out[2 * SHA256_DIGEST_BYTES + 2];
    memset(out, 'X', sizeof(out));
    hmac_hex(d, out);
    CHECK_INT(strlen(out), 64);
    CHECK(strncmp(out, "0f171f272f373f474f575f676f777f87", 32) == 0);
    CHECK_INT(out[65], 'X'); /* nothing written past the NUL */
}

TEST_MAIN(TEST_ENTRY(sha256_abc), TEST_ENTRY(sha256_empty), TEST_ENTRY(sha256_448_bits),
          TEST_ENTRY(sha256_896_bits), TEST_ENTRY(sha256_million_a),
          TEST_ENTRY(sha256_padding_boundaries), TEST_ENTRY(hmac_rfc4231_case1),
          TEST_ENTRY(hmac_rfc4231_case2), TEST_ENTRY(hmac_rfc4231_case3),
          TEST_ENTRY(hmac_rfc4231_case4), TEST_ENTRY(hmac_rfc4231_case5_truncated),
          TEST_ENTRY(hmac_rfc4231_case6), TEST_ENTRY(hmac_rfc4231_case7),
          TEST_ENTRY(hmac_block_sized_key_and_webhook_message), TEST_ENTRY(hex_format))
