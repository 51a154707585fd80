/* test-parse: the strict parsers of common/parse.c: integers, doubles, durations,
 * sizes, booleans, listen addresses and the in-place field splitter. Every parser
 * must leave its output untouched on failure, so the failure cases check that too. */
#include <errno.h>
#include <stdint.h>

#include "parse.h"
#include "test.h"

TEST(u64_accepts_decimal_with_whitespace)
{
    unsigned long long v = 0;
    CHECK_INT(parse_u64("0", &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(parse_u64("  42\n", &v), 0);
    CHECK_INT(v, 42);
    CHECK_INT(parse_u64("18446744073709551615", &v), 0);
    CHECK(v == 18446744073709551615ULL);
}

TEST(u64_rejects_junk_and_leaves_output)
{
    unsigned long long v = 7;
    CHECK_INT(parse_u64("", &v), -EINVAL);
    CHECK_INT(parse_u64("   ", &v), -EINVAL);
    CHECK_INT(parse_u64("-1", &v), -EINVAL);
    CHECK_INT(parse_u64("+1", &v), -EINVAL);
    CHECK_INT(parse_u64("0x10", &v), -EINVAL);
    CHECK_INT(parse_u64("12abc", &v), -EINVAL);
    CHECK_INT(parse_u64("12 13", &v), -EINVAL);
    CHECK_INT(parse_u64("1.5", &v), -EINVAL);
    CHECK_INT(v, 7);
}

TEST(u64_overflow_is_erange)
{
    unsigned long long v = 7;
    CHECK_INT(parse_u64("18446744073709551616", &v), -ERANGE);
    CHECK_INT(parse_u64("99999999999999999999999", &v), -ERANGE);
    CHECK_INT(v, 7);
}

TEST(uint_range)
{
    unsigned v = 3;
    CHECK_INT(parse_uint("4294967295", &v), 0);
    CHECK(v == 4294967295u);
    v = 3;
    CHECK_INT(parse_uint("4294967296", &v), -ERANGE);
    CHECK_INT(parse_uint("0x1", &v), -EINVAL);
    CHECK_INT(parse_uint("", &v), -EINVAL);
    CHECK_INT(v, 3);
}

TEST(double_plain_values)
{
    double d = 0;
    CHECK_INT(parse_double("0.25", &d), 0);
    CHECK(d == 0.25);
    CHECK_INT(parse_double(" -1.5e3 ", &d), 0);
    CHECK(d == -1500.0);
    CHECK_INT(parse_double("1e-05", &d), 0);
    CHECK(d == 1e-05);
    CHECK_INT(parse_double(".5", &d), 0);
    CHECK(d == 0.5);
    CHECK_INT(parse_double("42", &d), 0);
    CHECK(d == 42.0);
}

TEST(double_nan_and_infinities)
{
    double d = 0;
    CHECK_INT(parse_double("NaN", &d), 0);
    CHECK(isnan(d));
    d = 0;
    CHECK_INT(parse_double("nan", &d), 0);
    CHECK(isnan(d));
    CHECK_INT(parse_double("+Inf", &d), 0);
    CHECK(isinf(d) && d > 0);
    CHECK_INT(parse_double("-Inf", &d), 0);
    CHECK(isinf(d) && d < 0);
    CHECK_INT(parse_double("Inf", &d), 0);
    CHECK(isinf(d) && d > 0);
}

TEST(double_rejects_hex_junk_and_spelled_out_forms)
{
    double d = 3.0;
    CHECK_INT(parse_double("0x1p3", &d), -EINVAL);
    CHECK_INT(parse_double("0x10", &d), -EINVAL);
    CHECK_INT(parse_double("1.5x", &d), -EINVAL);
    CHECK_INT(parse_double("1.5 2", &d), -EINVAL);
    CHECK_INT(parse_double("", &d), -EINVAL);
    CHECK_INT(parse_double("  ", &d), -EINVAL);
    CHECK_INT(parse_double("Infinity", &d), -EINVAL);
    CHECK_INT(parse_double("-NaN", &d), -EINVAL);
    CHECK_INT(parse_double("abc", &d), -EINVAL);
    CHECK(d == 3.0);
}

TEST(double_overflow_is_erange)
{
    double d = 3.0;
    CHECK_INT(parse_double("1e999", &d), -ERANGE);
    CHECK_INT(parse_double("-1e999", &d), -ERANGE);
    CHECK(d == 3.0);
}

static uint64_t duration(const char *s, int *ret_r)
{
    uint64_t v = 0xdeadbeef;
    *ret_r = parse_duration_usec(s, &v);
    return v;
}

TEST(duration_units)
{
    int r;
    CHECK_INT(duration("100ms", &r), 100000);
    CHECK_INT(r, 0);
    CHECK_INT(duration("1m30s", &r), 90000000);
    CHECK_INT(r, 0);
    CHECK_INT(duration("2h", &r), 7200000000ULL);
    CHECK_INT(r, 0);
    CHECK_INT(duration("1.5s", &r), 1500000);
    CHECK_INT(r, 0);
    CHECK_INT(duration("250us", &r), 250);
    CHECK_INT(r, 0);
    CHECK_INT(duration("1d", &r), 86400000000ULL);
    CHECK_INT(r, 0);
    CHECK_INT(duration("1h2m3s4ms", &r), 3723004000ULL);
    CHECK_INT(r, 0);
    CHECK_INT(duration("5m", &r), 300000000);
    CHECK_INT(r, 0);
    CHECK_INT(duration(" 10s ", &r), 10000000);
    CHECK_INT(r, 0);
}

TEST(duration_bare_number_is_seconds)
{
    int r;
    CHECK_INT(duration("5", &r), 5000000);
    CHECK_INT(r, 0);
    CHECK_INT(duration("0", &r), 0);
    CHECK_INT(r, 0);
    CHECK_INT(duration("0.25", &r), 250000);
    CHECK_INT(r, 0);
}

TEST(duration_rejects_malformed)
{
    static const char *const bad[] = {"",   "   ", "5x",  "-1s", "1m30", "s",
                                      "ms", "5 s", "1s-", "+1s", "abc",  "1..5s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r;
        uint64_t v = duration(bad[i], &r);
        if (r != -EINVAL)
            TEST_FAIL("parse_duration_usec(\"%s\") == %d, expected -EINVAL", bad[i], r);
        if (v != 0xdeadbeef)
            TEST_FAIL("parse_duration_usec(\"%s\") changed the output on failure", bad[i]);
    }
}

TEST(duration_overflow_is_erange)
{
    int r;
    uint64_t v = duration("10000000000000h", &r);
    CHECK_INT(r, -ERANGE);
    CHECK(v == 0xdeadbeef);
}

/* Durations past LLONG_MAX microseconds still fit a uint64_t: exact, not wrapped. */
TEST(duration_past_llong_max_is_exact)
{
    int r;
    uint64_t v = duration("3000000000h", &r); /* 1.08e19 us */
    CHECK_INT(r, 0);
    CHECK(v == 10800000000000000000ULL);
    v = duration("10000000000000", &r); /* bare seconds: 1e19 us */
    CHECK_INT(r, 0);
    CHECK(v == 10000000000000000000ULL);
    v = duration("6000000000h", &r); /* 2.16e19 us: too big */
    CHECK_INT(r, -ERANGE);
    CHECK(v == 0xdeadbeef);
}

/* strtod() would take "0x10" as 16; parse_double() refuses hex, durations too. */
TEST(duration_rejects_hex_and_exponents)
{
    static const char *const bad[] = {"0x10s", "0x1p4s", "1e3s", "infs", "nans"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r;
        uint64_t v = duration(bad[i], &r);
        if (r != -EINVAL || v != 0xdeadbeef)
            TEST_FAIL("parse_duration_usec(\"%s\") == %d, expected -EINVAL", bad[i], r);
    }
}

TEST(size_units)
{
    uint64_t v = 0;
    CHECK_INT(parse_size_bytes("512", &v), 0);
    CHECK_INT(v, 512);
    CHECK_INT(parse_size_bytes("64k", &v), 0);
    CHECK_INT(v, 65536);
    CHECK_INT(parse_size_bytes("64KiB", &v), 0);
    CHECK_INT(v, 65536);
    CHECK_INT(parse_size_bytes("64KB", &v), 0);
    CHECK_INT(v, 65536);
    CHECK_INT(parse_size_bytes("16M", &v), 0);
    CHECK_INT(v, 16u << 20);
    CHECK_INT(parse_size_bytes("1G", &v), 0);
    CHECK_INT(v, 1u << 30);
    CHECK_INT(parse_size_bytes("2T", &v), 0);
    CHECK(v == 2ULL << 40);
    CHECK_INT(parse_size_bytes("10B", &v), 0);
    CHECK_INT(v, 10);
}

TEST(size_rejects_malformed_and_overflow)
{
    uint64_t v = 9;
    CHECK_INT(parse_size_bytes("", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("k", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("-1", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("64x", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("64KiBx", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("1.5G", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("10BiB", &v), -EINVAL);
    CHECK_INT(parse_size_bytes("17179869184G", &v), -ERANGE);
    CHECK_INT(parse_size_bytes("99999999999999999999", &v), -ERANGE);
    CHECK_INT(v, 9);
}

TEST(bool_words)
{
    static const char *const yes[] = {"1", "true", "TRUE", "yes", "Yes", "on"};
    static const char *const no[] = {"0", "false", "False", "no", "off", "OFF"};
    for (size_t i = 0; i < 6; i++) {
        bool b = false;
        CHECK_INT(parse_bool(yes[i], &b), 0);
        CHECK(b);
        b = true;
        CHECK_INT(parse_bool(no[i], &b), 0);
        CHECK(!b);
    }
    bool b = true;
    CHECK_INT(parse_bool("", &b), -EINVAL);
    CHECK_INT(parse_bool("2", &b), -EINVAL);
    CHECK_INT(parse_bool("truee", &b), -EINVAL);
    CHECK_INT(parse_bool("y", &b), -EINVAL);
    CHECK(b);
}

TEST(listen_host_port)
{
    char host[64] = "x";
    unsigned port = 1;
    CHECK_INT(parse_listen_address("localhost:9100", host, sizeof(host), &port), 0);
    CHECK_STR(host, "localhost");
    CHECK_INT(port, 9100);
    CHECK_INT(parse_listen_address("127.0.0.1:0", host, sizeof(host), &port), 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 0);
    CHECK_INT(parse_listen_address("0.0.0.0:65535", host, sizeof(host), &port), 0);
    CHECK_STR(host, "0.0.0.0");
    CHECK_INT(port, 65535);
}

TEST(listen_bracketed_ipv6)
{
    char host[64] = "x";
    unsigned port = 1;
    CHECK_INT(parse_listen_address("[::1]:19110", host, sizeof(host), &port), 0);
    CHECK_STR(host, "::1");
    CHECK_INT(port, 19110);
    CHECK_INT(parse_listen_address("[fe80::1%eth0]:80", host, sizeof(host), &port), 0);
    CHECK_STR(host, "fe80::1%eth0");
    CHECK_INT(port, 80);
}

TEST(listen_port_only)
{
    char host[64] = "x";
    unsigned port = 1;
    CHECK_INT(parse_listen_address(":9100", host, sizeof(host), &port), 0);
    CHECK_STR(host, "");
    CHECK_INT(port, 9100);
}

TEST(listen_rejects_malformed)
{
    static const char *const bad[] = {
        "1.2.3.4", "::1:80",  "host:99999", "host:", "host:-1", "host:+80", "host: 80",
        "host:8o", "[::1]80", "[::1]:",     "[::1",  "",        ":",        "host:65536",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "untouched";
        unsigned port = 4242;
        int r = parse_listen_address(bad[i], host, sizeof(host), &port);
        if (r != -EINVAL)
            TEST_FAIL("parse_listen_address(\"%s\") == %d, expected -EINVAL", bad[i], r);
        if (strcmp(host, "untouched") != 0 || port != 4242)
            TEST_FAIL("parse_listen_address(\"%s\") changed its outputs on failure", bad[i]);
    }
}

TEST(listen_host_too_long_for_buffer)
{
    char host[8] = "x";
    unsigned port = 1;
    CHECK_INT(parse_listen_address("abcdefgh:80", host, sizeof(host), &port), -EINVAL);
    CHECK_INT(parse_listen_address("abcdefg:80", host, sizeof(host), &port), 0);
    CHECK_STR(host, "abcdefg");
}

TEST(next_field_splits_on_spaces_and_tabs)
{
    char line[] = "  cpu0\t 10  20\t\t30  ";
    char *p = line;
    CHECK_STR(next_field(&p), "cpu0");
    CHECK_STR(next_field(&p), "10");
    CHECK_STR(next_field(&p), "20");
    CHECK_STR(next_field(&p), "30");
    CHECK(next_field(&p) == NULL);
    CHECK(next_field(&p) == NULL);
}

TEST(next_field_empty_and_newline)
{
    char empty[] = "";
    char *p = empty;
    CHECK(next_field(&p) == NULL);
    char blank[] = " \t ";
    p = blank;
    CHECK(next_field(&p) == NULL);
    /* The newline is not a separator: callers split lines first. */
    char nl[] = "a\nb c";
    p = nl;
    CHECK_STR(next_field(&p), "a\nb");
    CHECK_STR(next_field(&p), "c");
    CHECK(next_field(&p) == NULL);
}

TEST(clocks_move_forward)
{
    uint64_t a = now_usec();
    uint64_t b = now_usec();
    CHECK(b >= a);
    CHECK(now_realtime() > 1.5e9); /* after 2017 */
}

TEST(duration_format_round_trips)
{
    static const struct {
        uint64_t usec;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {250, "250us"},
        {250000, "250ms"},
        {1500000, "1s500ms"},
        {45000000, "45s"},
        {90000000, "1m30s"},
        {3600000000ull, "1h"},
        {90000000000ull, "1d1h"},
        {93784005006ull, "1d2h3m4s5ms6us"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_STR(format_duration_usec(cases[i].usec, buf, sizeof(buf)), cases[i].text);
        uint64_t back = 0;
        CHECK_INT(parse_duration_usec(buf, &back), 0);
        CHECK(back == cases[i].usec);
    }
    char small[4];
    format_duration_usec(93784005006ull, small, sizeof(small)); /* cut, never overrun */
    CHECK(strlen(small) < sizeof(small));
}

TEST_MAIN(TEST_ENTRY(u64_accepts_decimal_with_whitespace),
          TEST_ENTRY(u64_rejects_junk_and_leaves_output), TEST_ENTRY(u64_overflow_is_erange),
          TEST_ENTRY(uint_range), TEST_ENTRY(double_plain_values),
          TEST_ENTRY(double_nan_and_infinities),
          TEST_ENTRY(double_rejects_hex_junk_and_spelled_out_forms),
          TEST_ENTRY(double_overflow_is_erange), TEST_ENTRY(duration_units),
          TEST_ENTRY(duration_bare_number_is_seconds), TEST_ENTRY(duration_rejects_malformed),
          TEST_ENTRY(duration_overflow_is_erange), TEST_ENTRY(duration_past_llong_max_is_exact),
          TEST_ENTRY(duration_rejects_hex_and_exponents), TEST_ENTRY(size_units),
          TEST_ENTRY(size_rejects_malformed_and_overflow), TEST_ENTRY(bool_words),
          TEST_ENTRY(listen_host_port), TEST_ENTRY(listen_bracketed_ipv6),
          TEST_ENTRY(listen_port_only), TEST_ENTRY(listen_rejects_malformed),
          TEST_ENTRY(listen_host_too_long_for_buffer),
          TEST_ENTRY(next_field_splits_on_spaces_and_tabs),
          TEST_ENTRY(next_field_empty_and_newline), TEST_ENTRY(clocks_move_forward),
          TEST_ENTRY(duration_format_round_trips))
