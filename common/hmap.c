/* hmap: intrusive chained hash table and a fast 64-bit hash (see hmap.h). */
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int hmap_init(struct hmap *h, size_t initial)
{
    size_t n = 16;
    while (n < initial)
        n *= 2;
    h->buckets = calloc(n, sizeof(*h->buckets));
    if (!h->buckets)
        return -ENOMEM;
    h->mask = n - 1;
    h->n = 0;
    return 0;
}

void hmap_destroy(struct hmap *h)
{
    free(h->buckets);
    h->buckets = NULL;
    h->mask = 0;
    h->n = 0;
}

void hmap_clear(struct hmap *h)
{
    memset(h->buckets, 0, (h->mask + 1) * sizeof(*h->buckets));
    h->n = 0;
}

static void grow(struct hmap *h)
{
    size_t n = (h->mask + 1) * 2;
    struct hnode **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i <= h->mask; i++) {
        struct hnode *node = h->buckets[i];
        while (node) {
            struct hnode *next = node->next;
            struct hnode **slot = &b[node->hash & (n - 1)];
            node->next = *slot;
            *slot = node;
            node = next;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->mask = n - 1;
}

void hmap_insert(struct hmap *h, struct hnode *node)
{
    if (h->n > h->mask)
        grow(h);
    struct hnode **slot = &h->buckets[node->hash & h->mask];
    node->next = *slot;
    *slot = node;
    h->n++;
}

void hmap_remove(struct hmap *h, struct hnode *node)
{
    struct hnode **p = &h->buckets[node->hash & h->mask];
    while (*p && *p != node)
        p = &(*p)->next;
    if (*p) {
        *p = node->next;
        h->n--;
    }
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0x9e3779b97f4a7c15ULL;
    h ^= h >> 32;
    return h;
}

uint64_t hash_random_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&seed;
    return seed;
}
