/* test-demo-cache: the demo application's LRU + TTL cache (demo/app/cache.c), with time
 * passed in so expiry is exact. */
#include "cache.h"
#include "test.h"

TEST(hit_after_put_and_miss_before)
{
    struct cache *c = cache_new(4, 1000);
    char out[32];
    CHECK_INT(cache_get(c, 7, out, sizeof(out), 0), 0);
    CHECK_INT(cache_put(c, 7, "seven", 0), 0);
    CHECK_INT(cache_get(c, 7, out, sizeof(out), 10), 1);
    CHECK_STR(out, "seven");
    struct cache_stats s;
    cache_get_stats(c, &s);
    CHECK_INT(s.hits, 1);
    CHECK_INT(s.misses, 1);
    CHECK_INT(s.size, 1);
    CHECK_INT(s.capacity, 4);
    cache_free(c);
}

TEST(entries_expire_at_ttl)
{
    struct cache *c = cache_new(4, 1000);
    char out[32];
    cache_put(c, 1, "a", 100);
    CHECK_INT(cache_get(c, 1, out, sizeof(out), 1099), 1);
    CHECK_INT(cache_get(c, 1, out, sizeof(out), 1100), 0);
    struct cache_stats s;
    cache_get_stats(c, &s);
    CHECK_INT(s.expired, 1);
    CHECK_INT(s.size, 0);
    CHECK_INT(s.misses, 1);
    /* A new TTL applies to entries stored from then on. */
    cache_set_ttl(c, 50);
    cache_put(c, 2, "b", 2000);
    CHECK_INT(cache_get(c, 2, out, sizeof(out), 2049), 1);
    CHECK_INT(cache_get(c, 2, out, sizeof(out), 2050), 0);
    cache_free(c);
}

TEST(least_recently_used_is_evicted)
{
    struct cache *c = cache_new(3, 1000000);
    char out[32];
    cache_put(c, 1, "1", 0);
    cache_put(c, 2, "2", 0);
    cache_put(c, 3, "3", 0);
    CHECK_INT(cache_get(c, 1, out, sizeof(out), 1), 1); /* 2 is now the oldest */
    cache_put(c, 4, "4", 2);
    CHECK_INT(cache_get(c, 2, out, sizeof(out), 3), 0);
    CHECK_INT(cache_get(c, 1, out, sizeof(out), 3), 1);
    CHECK_INT(cache_get(c, 3, out, sizeof(out), 3), 1);
    CHECK_INT(cache_get(c, 4, out, sizeof(out), 3), 1);
    struct cache_stats s;
    cache_get_stats(c, &s);
    CHECK_INT(s.evictions, 1);
    CHECK_INT(s.size, 3);
    cache_free(c);
}

TEST(replace_keeps_one_entry_and_refreshes)
{
    struct cache *c = cache_new(2, 100);
    char out[32];
    cache_put(c, 5, "old", 0);
    cache_put(c, 5, "new", 90);
    CHECK_INT(cache_get(c, 5, out, sizeof(out), 150), 1);
    CHECK_STR(out, "new");
    struct cache_stats s;
    cache_get_stats(c, &s);
    CHECK_INT(s.size, 1);
    cache_free(c);
}

TEST(many_entries_and_truncated_copy)
{
    struct cache *c = cache_new(1000, 1000000);
    char out[4];
    for (uint32_t i = 0; i < 5000; i++)
        CHECK_INT(cache_put(c, i, "value", 0), 0);
    struct cache_stats s;
    cache_get_stats(c, &s);
    CHECK_INT(s.size, 1000);
    CHECK_INT(s.evictions, 4000);
    CHECK_INT(cache_get(c, 3999, out, sizeof(out), 1), 0);
    CHECK_INT(cache_get(c, 4999, out, sizeof(out), 1), 1);
    CHECK_STR(out, "val");
    cache_free(c);
    cache_free(NULL);
}

TEST_MAIN(TEST_ENTRY(hit_after_put_and_miss_before), TEST_ENTRY(entries_expire_at_ttl),
          TEST_ENTRY(least_recently_used_is_evicted),
          TEST_ENTRY(replace_keeps_one_entry_and_refreshes),
          TEST_ENTRY(many_entries_and_truncated_copy))
