/* cache: LRU + TTL cache of the demo application (see cache.h). */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

struct entry {
    struct hnode node;         /* first: the hmap node is the entry */
    struct entry *prev, *next; /* recency list: head is the most recent */
    uint32_t key;
    uint64_t expires_usec;
    char *value;
};

struct cache {
    pthread_mutex_t lock;
    struct hmap map;
    struct entry *head, *tail;
    size_t size, capacity;
    uint64_t ttl_usec, seed;
    uint64_t hits, misses, evictions, expired;
};

static uint64_t key_hash(const struct cache *c, uint32_t key)
{
    return hash_bytes(&key, sizeof(key), c->seed);
}

static void list_unlink(struct cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(struct cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static struct entry *find(struct cache *c, uint32_t key)
{
    uint64_t h = key_hash(c, key);
    for (struct hnode *n = hmap_chain(&c->map, h); n; n = n->next) {
        struct entry *e = (struct entry *)n;
        if (n->hash == h && e->key == key)
            return e;
    }
    return NULL;
}

static void drop(struct cache *c, struct entry *e)
{
    hmap_remove(&c->map, &e->node);
    list_unlink(c, e);
    c->size--;
    free(e->value);
    free(e);
}

struct cache *cache_new(size_t capacity, uint64_t ttl_usec)
{
    struct cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->capacity = capacity ? capacity : 1;
    c->ttl_usec = ttl_usec;
    c->seed = hash_random_seed();
    if (hmap_init(&c->map, c->capacity < 1024 ? c->capacity : 1024) < 0) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e->value);
        free(e);
    }
    hmap_destroy(&c->map);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int cache_get(struct cache *c, uint32_t key, char *out, size_t size, uint64_t now_usec)
{
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    if (e && now_usec >= e->expires_usec) {
        drop(c, e);
        c->expired++;
        e = NULL;
    }
    if (e) {
        list_unlink(c, e);
        list_push_front(c, e);
        if (size) {
            size_t n = strlen(e->value);
            if (n >= size)
                n = size - 1;
            memcpy(out, e->value, n);
            out[n] = '\0';
        }
        c->hits++;
        hit = 1;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

int cache_put(struct cache *c, uint32_t key, const char *value, uint64_t now_usec)
{
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    if (e) {
        list_unlink(c, e);
        free(e->value);
    } else {
        e = calloc(1, sizeof(*e));
        if (!e) {
            pthread_mutex_unlock(&c->lock);
            free(copy);
            return -ENOMEM;
        }
        while (c->size >= c->capacity && c->tail) {
            drop(c, c->tail);
            c->evictions++;
        }
        e->key = key;
        e->node.hash = key_hash(c, key);
        hmap_insert(&c->map, &e->node);
        c->size++;
    }
    e->value = copy;
    e->expires_usec = now_usec + c->ttl_usec;
    list_push_front(c, e);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void cache_set_ttl(struct cache *c, uint64_t ttl_usec)
{
    pthread_mutex_lock(&c->lock);
    c->ttl_usec = ttl_usec;
    pthread_mutex_unlock(&c->lock);
}

void cache_get_stats(struct cache *c, struct cache_stats *ret)
{
    pthread_mutex_lock(&c->lock);
    *ret = (struct cache_stats){.size = c->size,
                                .capacity = c->capacity,
                                .ttl_usec = c->ttl_usec,
                                .hits = c->hits,
                                .misses = c->misses,
                                .evictions = c->evictions,
                                .expired = c->expired};
    pthread_mutex_unlock(&c->lock);
}
