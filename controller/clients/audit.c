/* audit: append-only, fsynced JSON-lines decision log with crash recovery. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct audit {
    int fd;
    pthread_mutex_t lock;
    json_t **ring;
    size_t cap, head, n; /* head: next slot to write */
    unsigned long long written;
    bool unsynced; /* appended without an fsync since the last one */
    char *path;
};

static void ring_push(struct audit *a, json_t *rec)
{
    if (a->cap == 0)
        return;
    if (a->n == a->cap)
        json_decref(a->ring[a->head]);
    else
        a->n++;
    a->ring[a->head] = json_incref(rec);
    a->head = (a->head + 1) % a->cap;
}

/* Cuts a partial last line and loads the tail of the log into the history. */
static int recover(struct audit *a, size_t *ret_dropped)
{
    struct stat st;
    if (fstat(a->fd, &st) < 0)
        return -errno;
    *ret_dropped = 0;
    if (st.st_size == 0)
        return 0;
    /* Read the last few MiB: enough for the history, bounded whatever the log size. */
    off_t window = 4 << 20;
    off_t start = st.st_size > window ? st.st_size - window : 0;
    size_t len = (size_t)(st.st_size - start);
    char *buf = malloc(len + 1);
    if (!buf)
        return -ENOMEM;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(a->fd, buf + got, len - got, start + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return r < 0 ? -errno : -EIO;
        }
        got += (size_t)r;
    }
    buf[len] = '\0';
    size_t keep = len;
    while (keep > 0 && buf[keep - 1] != '\n')
        keep--;
    off_t cut = start + (off_t)keep;
    if (keep == 0 && start > 0) {
        /* No newline in the whole window: the partial record is longer than the
         * window. Look further back, a block at a time, for the end of the last
         * complete record. */
        char blk[65536];
        off_t pos = start;
        cut = 0;
        while (pos > 0 && cut == 0) {
            size_t n = pos > (off_t)sizeof(blk) ? sizeof(blk) : (size_t)pos;
            pos -= (off_t)n;
            ssize_t r = pread(a->fd, blk, n, pos);
            if (r != (ssize_t)n) {
                free(buf);
                return r < 0 ? -errno : -EIO;
            }
            for (size_t i = n; i > 0; i--)
                if (blk[i - 1] == '\n') {
                    cut = pos + (off_t)i;
                    break;
                }
        }
    }
    if (cut < st.st_size) {
        /* A crash during a write left part of a record: cut it off. */
        if (ftruncate(a->fd, cut) < 0) {
            free(buf);
            return -errno;
        }
        fsync(a->fd);
        *ret_dropped = (size_t)(st.st_size - cut);
    }
    /* Parse complete lines; the first may be partial when we started mid-file. */
    char *p = buf, *end = buf + keep;
    if (start > 0) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)(nl - p);
        json_t *rec = json_loadb(p, ll, 0, NULL);
        if (rec) {
            ring_push(a, rec);
            json_decref(rec);
        }
        p = nl + 1;
    }
    free(buf);
    return 0;
}

int audit_open(const char *path, size_t history_size, struct audit **ret, size_t *ret_dropped_bytes)
{
    struct audit *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->cap = history_size;
    a->ring = calloc(history_size ? history_size : 1, sizeof(json_t *));
    a->path = strdup(path);
    if (!a->ring || !a->path) {
        free(a->ring);
        free(a->path);
        free(a);
        return -ENOMEM;
    }
    a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (a->fd < 0) {
        int r = -errno;
        free(a->ring);
        free(a->path);
        free(a);
        return r;
    }
    pthread_mutex_init(&a->lock, NULL); /* before audit_close can destroy it */
    size_t dropped = 0;
    int r = recover(a, &dropped);
    if (r < 0) {
        audit_close(a);
        return r;
    }
    if (ret_dropped_bytes)
        *ret_dropped_bytes = dropped;
    *ret = a;
    return 0;
}

void audit_close(struct audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    for (size_t i = 0; i < a->n; i++)
        json_decref(a->ring[(a->head + a->cap - 1 - i) % a->cap]);
    free(a->ring);
    free(a->path);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int append(struct audit *a, json_t *record, bool sync)
{
    char *line = json_dumps(record, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!line)
        return -ENOMEM;
    size_t len = strlen(line);
    if (len + 1 > AUDIT_MAX_RECORD_BYTES) {
        free(line);
        return -E2BIG;
    }
    line[len] = '\n'; /* json_dumps leaves room for the NUL we overwrite */
    pthread_mutex_lock(&a->lock);
    int r = 0;
    size_t off = 0;
    while (off < len + 1) {
        ssize_t w = write(a->fd, line + off, len + 1 - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (r == 0 && sync && fsync(a->fd) < 0)
        r = -errno;
    if (r == 0 && !sync)
        a->unsynced = true;
    else if (r == 0)
        a->unsynced = false;
    if (r < 0 && off > 0) {
        /* Never leave half a record behind: cut back to where it started. */
        struct stat st;
        if (fstat(a->fd, &st) == 0 && ftruncate(a->fd, st.st_size - (off_t)off) == 0)
            fsync(a->fd);
    }
    if (r == 0) {
        ring_push(a, record);
        a->written++;
    }
    pthread_mutex_unlock(&a->lock);
    free(line);
    return r;
}

int audit_append(struct audit *a, json_t *record)
{
    return append(a, record, true);
}

int audit_append_nosync(struct audit *a, json_t *record)
{
    return append(a, record, false);
}

int audit_sync(struct audit *a)
{
    pthread_mutex_lock(&a->lock);
    int r = a->unsynced && fsync(a->fd) < 0 ? -errno : 0;
    if (r == 0)
        a->unsynced = false;
    pthread_mutex_unlock(&a->lock);
    return r;
}

json_t *audit_recent(struct audit *a, size_t limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n && i < limit; i++)
        json_array_append(arr, a->ring[(a->head + a->cap - 1 - i) % a->cap]);
    pthread_mutex_unlock(&a->lock);
    return arr;
}

unsigned long long audit_written(const struct audit *a)
{
    return a->written;
}

const char *audit_path(const struct audit *a)
{
    return a->path;
}
