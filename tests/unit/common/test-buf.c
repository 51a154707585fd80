/* test-buf: the bounded growable buffer of common/buf.c: the maximum size is a hard
 * limit that leaves the buffer unchanged when hit, printf grows past its 256-byte
 * fast path, and steal hands the storage over. */
#include <errno.h>
#include <stdint.h>

#include "buf.h"
#include "test.h"

TEST(append_and_terminate)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK(b.data == NULL);
    CHECK_INT(buf_puts(&b, "hello"), 0);
    CHECK_INT(buf_putc(&b, ' '), 0);
    CHECK_INT(buf_append(&b, "worldXXX", 5), 0);
    CHECK_INT(b.len, 11);
    CHECK_STR(b.data, "hello world");
    CHECK_INT(buf_append(&b, "", 0), 0);
    CHECK_INT(b.len, 11);
    CHECK(b.data[11] == '\0');
    buf_free(&b);
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
}

TEST(max_size_is_enforced_and_buffer_unchanged)
{
    struct buf b;
    buf_init(&b, 16);
    CHECK_INT(buf_append(&b, "0123456789", 10), 0);
    char *before = b.data;
    CHECK_INT(buf_append(&b, "abcdefg", 7), -E2BIG); /* 17 > 16 */
    CHECK_INT(b.len, 10);
    CHECK_STR(b.data, "0123456789");
    CHECK(b.data == before);
    CHECK_INT(buf_puts(&b, "abcdefg"), -E2BIG);
    CHECK_INT(buf_printf(&b, "%s", "abcdefg"), -E2BIG);
    CHECK_INT(b.len, 10);
    CHECK_STR(b.data, "0123456789");
    CHECK_INT(buf_append(&b, "abcdef", 6), 0); /* exactly the maximum */
    CHECK_INT(b.len, 16);
    CHECK_STR(b.data, "0123456789abcdef");
    CHECK_INT(buf_putc(&b, 'x'), -E2BIG);
    CHECK_INT(buf_append(&b, "x", 1), -E2BIG);
    CHECK_INT(b.len, 16);
    CHECK_STR(b.data, "0123456789abcdef");
    CHECK(b.cap <= 17);
    buf_free(&b);
}

TEST(putc_respects_max)
{
    struct buf b;
    buf_init(&b, 3);
    CHECK_INT(buf_putc(&b, 'a'), 0);
    CHECK_INT(buf_putc(&b, 'b'), 0);
    CHECK_INT(buf_putc(&b, 'c'), 0);
    CHECK_INT(buf_putc(&b, 'd'), -E2BIG);
    CHECK_INT(b.len, 3);
    CHECK_STR(b.data, "abc");
    buf_free(&b);
}

TEST(reserve_overflow_and_default_max)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(buf_reserve(&b, SIZE_MAX), -E2BIG);
    CHECK_INT(buf_reserve(&b, (size_t)BUF_DEFAULT_MAX + 1), -E2BIG);
    CHECK(b.data == NULL);
    CHECK_INT(buf_puts(&b, "x"), 0);
    CHECK_INT(buf_reserve(&b, SIZE_MAX - 1), -E2BIG);
    CHECK_INT(buf_reserve(&b, (size_t)BUF_DEFAULT_MAX), -E2BIG);
    CHECK_STR(b.data, "x");
    buf_free(&b);
}

TEST(printf_grows_past_small_path)
{
    struct buf b;
    buf_init(&b, 0);
    char big[1001];
    memset(big, 'z', 1000);
    big[1000] = '\0';
    CHECK_INT(buf_printf(&b, "<%s>", big), 0);
    CHECK_INT(b.len, 1002);
    CHECK(b.data[0] == '<' && b.data[1001] == '>' && b.data[1002] == '\0');
    CHECK(b.data[500] == 'z');
    buf_free(&b);
}

TEST(printf_many_appends)
{
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 5000; i++)
        CHECK_INT(buf_printf(&b, "%d,", i), 0);
    /* 10*2 + 90*3 + 900*4 + 4000*5 bytes */
    CHECK_INT(b.len, 10 * 2 + 90 * 3 + 900 * 4 + 4000 * 5);
    CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
    CHECK(strcmp(b.data + b.len - 5, "4999,") == 0);
    CHECK(strlen(b.data) == b.len);
    buf_free(&b);
}

TEST(printf_large_over_max_leaves_buffer)
{
    struct buf b;
    buf_init(&b, 300);
    CHECK_INT(buf_puts(&b, "keep"), 0);
    char big[400];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT(buf_printf(&b, "%s", big), -E2BIG); /* the > 256 byte path */
    CHECK_INT(b.len, 4);
    CHECK_STR(b.data, "keep");
    big[290] = '\0';
    CHECK_INT(buf_printf(&b, "%s", big), 0);
    CHECK_INT(b.len, 294);
    CHECK(strlen(b.data) == 294);
    buf_free(&b);
}

TEST(reset_keeps_storage)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(buf_puts(&b, "some text"), 0);
    char *p = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK(b.data == p);
    CHECK_INT(b.cap, cap);
    CHECK_STR(b.data, "");
    CHECK_INT(buf_puts(&b, "new"), 0);
    CHECK_STR(b.data, "new");
    buf_free(&b);
    buf_reset(&b); /* on an empty buffer */
    CHECK(b.data == NULL);
}

TEST(steal_hands_over_storage)
{
    struct buf b;
    buf_init(&b, 64);
    CHECK_INT(buf_puts(&b, "stolen"), 0);
    size_t len = 0;
    char *p = buf_steal(&b, &len);
    CHECK(p != NULL);
    CHECK_INT(len, 6);
    CHECK_STR(p, "stolen");
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    CHECK_INT(b.cap, 0);
    CHECK_INT(b.max, 64); /* the limit survives */
    CHECK_INT(buf_puts(&b, "again"), 0);
    CHECK_STR(b.data, "again");
    CHECK(b.data != p);
    free(p);
    buf_free(&b);
}

TEST(steal_empty_and_null_len)
{
    struct buf b;
    buf_init(&b, 0);
    size_t len = 99;
    CHECK(buf_steal(&b, &len) == NULL);
    CHECK_INT(len, 0);
    CHECK_INT(buf_puts(&b, "x"), 0);
    char *p = buf_steal(&b, NULL);
    CHECK_STR(p, "x");
    free(p);
}

TEST(free_accepts_null)
{
    buf_free(NULL);
    struct buf b = BUF_INIT_MAX(8);
    CHECK_INT(buf_puts(&b, "12345678"), 0);
    CHECK_INT(buf_puts(&b, "9"), -E2BIG);
    buf_free(&b);
    buf_free(&b); /* twice is fine */
    CHECK(b.data == NULL);
}

TEST(binary_data)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(buf_append(&b, "a\0b", 3), 0);
    CHECK_INT(b.len, 3);
    CHECK(memcmp(b.data, "a\0b", 4) == 0);
    buf_free(&b);
}

TEST_MAIN(TEST_ENTRY(append_and_terminate), TEST_ENTRY(max_size_is_enforced_and_buffer_unchanged),
          TEST_ENTRY(putc_respects_max), TEST_ENTRY(reserve_overflow_and_default_max),
          TEST_ENTRY(printf_grows_past_small_path), TEST_ENTRY(printf_many_appends),
          TEST_ENTRY(printf_large_over_max_leaves_buffer), TEST_ENTRY(reset_keeps_storage),
          TEST_ENTRY(steal_hands_over_storage), TEST_ENTRY(steal_empty_and_null_len),
          TEST_ENTRY(free_accepts_null), TEST_ENTRY(binary_data))
