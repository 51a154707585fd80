/* test-hmap: common/hmap.c, the intrusive hash table both daemons' stores use: inserts
 * past many doublings are all found, removals unlink exactly their node (colliding hashes
 * included), clear keeps the capacity and forgets the entries, and hash_bytes depends on
 * every byte and on the seed. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hmap.h"
#include "test.h"

struct item {
    struct hnode node;
    int key;
};

static struct item *find(const struct hmap *h, int key, uint64_t hash)
{
    for (struct hnode *n = hmap_chain(h, hash); n; n = n->next)
        if (n->hash == hash && ((struct item *)n)->key == key)
            return (struct item *)n;
    return NULL;
}

static uint64_t hash_of(int key)
{
    return hash_bytes(&key, sizeof(key), 42);
}

TEST(inserts_survive_growth)
{
    static struct item items[5000];
    struct hmap h;
    CHECK_INT(hmap_init(&h, 1), 0);
    CHECK(h.mask + 1 >= 16); /* rounded up to 16 at least */
    for (int i = 0; i < 5000; i++) {
        items[i].key = i;
        items[i].node.hash = hash_of(i);
        hmap_insert(&h, &items[i].node);
    }
    CHECK_INT(h.n, 5000);
    CHECK(h.mask + 1 >= 4096); /* grew by doubling at load 1 */
    int found = 0;
    for (int i = 0; i < 5000; i++)
        found += find(&h, i, hash_of(i)) == &items[i];
    CHECK_INT(found, 5000);
    CHECK(find(&h, 5000, hash_of(5000)) == NULL);
    hmap_destroy(&h);
}

TEST(remove_unlinks_only_its_node_even_on_collisions)
{
    struct item a = {.key = 1}, b = {.key = 2}, c = {.key = 3};
    a.node.hash = b.node.hash = c.node.hash = 7; /* one chain */
    struct hmap h;
    CHECK_INT(hmap_init(&h, 16), 0);
    hmap_insert(&h, &a.node);
    hmap_insert(&h, &b.node);
    hmap_insert(&h, &c.node);
    hmap_remove(&h, &b.node);
    CHECK_INT(h.n, 2);
    CHECK(find(&h, 1, 7) == &a);
    CHECK(find(&h, 2, 7) == NULL);
    CHECK(find(&h, 3, 7) == &c);
    hmap_remove(&h, &a.node);
    hmap_remove(&h, &c.node);
    CHECK_INT(h.n, 0);
    CHECK(hmap_chain(&h, 7) == NULL);
    hmap_destroy(&h);
}

TEST(clear_forgets_entries_and_keeps_capacity)
{
    static struct item items[100];
    struct hmap h;
    CHECK_INT(hmap_init(&h, 16), 0);
    for (int i = 0; i < 100; i++) {
        items[i].key = i;
        items[i].node.hash = hash_of(i);
        hmap_insert(&h, &items[i].node);
    }
    size_t cap = h.mask + 1;
    hmap_clear(&h);
    CHECK_INT(h.n, 0);
    CHECK_INT(h.mask + 1, cap);
    CHECK(find(&h, 5, hash_of(5)) == NULL);
    hmap_destroy(&h);
    struct hmap zero;
    memset(&zero, 0, sizeof(zero));
    hmap_destroy(&zero); /* a zeroed table is accepted */
}

TEST(hash_depends_on_every_byte_and_the_seed)
{
    char buf[37];
    memset(buf, 'a', sizeof(buf));
    uint64_t base = hash_bytes(buf, sizeof(buf), 1);
    int differ = 0;
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = 'b';
        differ += hash_bytes(buf, sizeof(buf), 1) != base;
        buf[i] = 'a';
    }
    CHECK_INT(differ, (int)sizeof(buf)); /* the tail bytes past the last word count too */
    CHECK(hash_bytes(buf, sizeof(buf), 2) != base);
    CHECK(hash_bytes(buf, 36, 1) != base); /* the length counts */
    CHECK(hash_bytes(buf, sizeof(buf), 1) == base);
    CHECK(hash_random_seed() != hash_random_seed() || hash_random_seed() != hash_random_seed());
}

TEST_MAIN(TEST_ENTRY(inserts_survive_growth),
          TEST_ENTRY(remove_unlinks_only_its_node_even_on_collisions),
          TEST_ENTRY(clear_forgets_entries_and_keeps_capacity),
          TEST_ENTRY(hash_depends_on_every_byte_and_the_seed))
