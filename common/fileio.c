/* fileio: bounded file reads and atomic writes (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "parse.h"

int path_join(char *out, size_t outsz, const char *a, const char *b)
{
    int n = snprintf(out, outsz, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= outsz)
        return -ENAMETOOLONG;
    return 0;
}

static long read_fd_into(int fd, char *buf, size_t max)
{
    size_t len = 0;
    for (;;) {
        if (len == max) {
            /* Probe for one more byte: a full buffer might be the whole file. */
            char c;
            ssize_t r = read(fd, &c, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -errno;
            if (r > 0)
                return -EFBIG;
            break;
        }
        ssize_t r = read(fd, buf + len, max - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return (long)len;
}

long file_read_into(const char *path, char *buf, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    long r = read_fd_into(fd, buf, max);
    close(fd);
    return r;
}

long file_read_at(const char *dir, const char *name, char *buf, size_t max)
{
    char path[PATH_MAX];
    int r = path_join(path, sizeof(path), dir, name);
    if (r < 0)
        return r;
    return file_read_into(path, buf, max);
}

int file_read_alloc(const char *path, size_t max, char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct buf b;
    buf_init(&b, max);
    int r = 0;
    for (;;) {
        r = buf_reserve(&b, 4096);
        if (r == -E2BIG) {
            /* Fewer than 4 KiB left under the maximum: read what remains exactly. */
            size_t left = max - b.len;
            r = buf_reserve(&b, left);
            if (r < 0)
                break;
            long n = read_fd_into(fd, b.data + b.len, left);
            if (n < 0) {
                r = (int)n;
                break;
            }
            b.len += (size_t)n;
            r = 0;
            break;
        }
        if (r < 0)
            break;
        ssize_t n = read(fd, b.data + b.len, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
        b.data[b.len] = '\0';
    }
    close(fd);
    if (r < 0) {
        buf_free(&b);
        return r;
    }
    if (!b.data && buf_reserve(&b, 0) < 0)
        return -ENOMEM;
    b.data[b.len] = '\0';
    *ret = buf_steal(&b, ret_len);
    return 0;
}

int file_read_u64(const char *path, unsigned long long *ret)
{
    char buf[64];
    long n = file_read_into(path, buf, sizeof(buf) - 1);
    if (n < 0)
        return (int)n;
    return parse_u64(buf, ret);
}

int file_write_atomic(const char *path, const void *data, size_t len, int mode)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    const char *p = data;
    size_t left = len;
    int r = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    if (fsync(dfd) < 0)
        r = -errno;
    close(dfd);
    return r;
}
