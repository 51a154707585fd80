/* hmap: an intrusive chained hash table. Callers embed struct hnode in their
 * records, compute the 64-bit hash themselves (hash_bytes) and compare keys while
 * walking the candidates of one hash. The table grows by doubling at load 1; it
 * never allocates per entry, and never frees entries (the caller owns them). */
#ifndef HOMEOSTAT_HMAP_H
#define HOMEOSTAT_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
    struct hnode *next;
    uint64_t hash;
};

struct hmap {
    struct hnode **buckets;
    size_t mask; /* buckets - 1 */
    size_t n;
};

/* 0 or -ENOMEM. initial is rounded up to a power of two (at least 16). */
int hmap_init(struct hmap *h, size_t initial);
/* Frees the bucket array (not the entries). Accepts a zeroed table. */
void hmap_destroy(struct hmap *h);
/* Empties the table without touching the entries. */
void hmap_clear(struct hmap *h);
/* Inserts node with node->hash set; grows when needed (growth failure is ignored:
 * the table stays correct, only slower). */
void hmap_insert(struct hmap *h, struct hnode *node);
/* Unlinks node (which must be in the table). */
void hmap_remove(struct hmap *h, struct hnode *node);
/* First node of the chain that hash falls in (walk with ->next, compare ->hash). */
static inline struct hnode *hmap_chain(const struct hmap *h, uint64_t hash)
{
    return h->buckets[hash & h->mask];
}

/* A fast non-cryptographic 64-bit hash of n bytes (word at a time), seeded. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
/* A seed from getrandom(), so remote input cannot aim at one chain. */
uint64_t hash_random_seed(void);

#endif
