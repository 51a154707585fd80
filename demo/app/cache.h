/* cache: the demo application's LRU cache with a time to live, keyed by item id. A hash
 * map finds an entry, a doubly linked list keeps them in recency order; a full cache
 * evicts the least recently used entry. Thread-safe (one mutex); time is passed in
 * (now_usec, CLOCK_MONOTONIC) so tests need no sleeping. */
#ifndef HOMEOSTAT_DEMO_CACHE_H
#define HOMEOSTAT_DEMO_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;

struct cache_stats {
    size_t size, capacity;
    uint64_t ttl_usec;
    uint64_t hits, misses, evictions, expired;
};

/* A new cache of capacity entries (>= 1) whose entries live ttl_usec; NULL on ENOMEM. */
struct cache *cache_new(size_t capacity, uint64_t ttl_usec);
/* Frees the cache and its entries. Accepts NULL. */
void cache_free(struct cache *c);
/* On a fresh entry copies its value (NUL-terminated, truncated to size) into out, makes
 * it the most recent and returns 1 (a hit). An absent or expired entry is a miss (0);
 * an expired one is removed and counted. */
int cache_get(struct cache *c, uint32_t key, char *out, size_t size, uint64_t now_usec);
/* Inserts or replaces key with a copy of value, expiring at now + ttl; evicts the least
 * recently used entry when full. 0 or -ENOMEM. */
int cache_put(struct cache *c, uint32_t key, const char *value, uint64_t now_usec);
/* Changes the time to live of entries stored from now on (existing ones keep theirs). */
void cache_set_ttl(struct cache *c, uint64_t ttl_usec);
void cache_get_stats(struct cache *c, struct cache_stats *ret);

#endif
