/* collector_filesystem: size, free space and inodes of each mounted filesystem, from
 * <procfs>/1/mounts (falling back to <procfs>/self/mounts) and statvfs(<rootfs><mount
 * point>). Each statvfs runs on a detached worker thread with a deadline, so a hung NFS
 * mount is marked stuck (device_error 1, skipped until its thread returns) instead of
 * hanging the scrape. Exports collector_filesystem and the test hook in its header. */
#include "collector_filesystem.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define FS_MOUNTS_MAX (8u << 20)     /* bytes read from a mounts file at most */
#define FS_MAX_INFLIGHT 32           /* statvfs worker threads started per batch */
#define FS_WORKER_STACK (256u << 10) /* stack of a worker: it only makes one syscall */

static filesystem_statvfs_fn fs_statvfs_fn = statvfs;

void filesystem_set_statvfs_for_test(filesystem_statvfs_fn fn)
{
    fs_statvfs_fn = fn ? fn : statvfs;
}

/* One statvfs call, shared by the collector and its worker thread. Whoever drops the
 * last reference frees it, so a worker that returns after the collector gave up (or
 * after cleanup freed the state) only ever touches its own job. */
struct fs_job {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled when done is set; CLOCK_MONOTONIC */
    unsigned refs;
    bool done;
    int error;         /* 0 or -errno, valid once done */
    struct statvfs st; /* valid once done with error 0 */
    filesystem_statvfs_fn fn;
    char path[PATH_MAX];
};

/* A mount point whose statvfs did not return in time; holds a job reference. */
struct fs_stuck {
    char *mountpoint;
    struct fs_job *job;
};

struct fs_state {
    char *procfs;
    char *rootfs; /* without trailing slashes: "" for "/" */
    regex_t mp_exclude, type_exclude;
    bool have_mp_exclude, have_type_exclude;
    uint64_t timeout_usec;
    struct fs_stuck *stuck;
    size_t n_stuck, cap_stuck;
};

/* One line of the mounts file; strings point into the file's buffer. */
struct fs_mount {
    const char *device, *mountpoint, *fstype;
    size_t line;
    bool readonly; /* from the "ro" mount option */
    bool skip;
    bool stuck;
    struct fs_job *job;
    int error;
    struct statvfs st;
};

static void fs_job_unref(struct fs_job *job)
{
    pthread_mutex_lock(&job->lock);
    bool last = --job->refs == 0;
    pthread_mutex_unlock(&job->lock);
    if (!last)
        return;
    pthread_cond_destroy(&job->cond);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

static void *fs_worker(void *arg)
{
    struct fs_job *job = arg;
    struct statvfs st;
    memset(&st, 0, sizeof(st));
    int r = job->fn(job->path, &st);
    int error = r < 0 ? -(errno ? errno : EIO) : 0;
    pthread_mutex_lock(&job->lock);
    job->st = st;
    job->error = error;
    job->done = true;
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->lock);
    fs_job_unref(job);
    return NULL;
}

static bool fs_job_done(struct fs_job *job)
{
    pthread_mutex_lock(&job->lock);
    bool done = job->done;
    pthread_mutex_unlock(&job->lock);
    return done;
}

/* Starts statvfs(path) on a detached thread. Returns the job with one reference for the
 * caller, or NULL with *ret_error set. */
static struct fs_job *fs_job_start(const char *path, int *ret_error)
{
    struct fs_job *job = calloc(1, sizeof(*job));
    if (!job) {
        *ret_error = -ENOMEM;
        return NULL;
    }
    size_t pl = strlen(path);
    if (pl >= sizeof(job->path)) {
        free(job);
        *ret_error = -ENAMETOOLONG;
        return NULL;
    }
    memcpy(job->path, path, pl + 1);
    job->fn = fs_statvfs_fn;
    job->refs = 2;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_cond_init(&job->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0) {
        free(job);
        *ret_error = -r;
        return NULL;
    }
    pthread_mutex_init(&job->lock, NULL);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    size_t stack = FS_WORKER_STACK;
    if (stack < (size_t)PTHREAD_STACK_MIN)
        stack = (size_t)PTHREAD_STACK_MIN;
    pthread_attr_setstacksize(&attr, stack);
    /* Workers never handle signals: they inherit a full mask. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    r = pthread_create(&tid, &attr, fs_worker, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        pthread_cond_destroy(&job->cond);
        pthread_mutex_destroy(&job->lock);
        free(job);
        *ret_error = -r;
        return NULL;
    }
    return job;
}

/* Waits for job until the CLOCK_MONOTONIC deadline. True when it is done. */
static bool fs_job_wait(struct fs_job *job, const struct timespec *deadline)
{
    pthread_mutex_lock(&job->lock);
    while (!job->done)
        if (pthread_cond_timedwait(&job->cond, &job->lock, deadline) == ETIMEDOUT)
            break;
    bool done = job->done;
    pthread_mutex_unlock(&job->lock);
    return done;
}

static struct fs_stuck *fs_stuck_find(struct fs_state *s, const char *mountpoint)
{
    for (size_t i = 0; i < s->n_stuck; i++)
        if (strcmp(s->stuck[i].mountpoint, mountpoint) == 0)
            return &s->stuck[i];
    return NULL;
}

/* Takes over the caller's reference to job. */
static int fs_stuck_add(struct fs_state *s, const char *mountpoint, struct fs_job *job)
{
    if (s->n_stuck == s->cap_stuck) {
        size_t cap = s->cap_stuck ? 2 * s->cap_stuck : 8;
        struct fs_stuck *n = realloc(s->stuck, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->stuck = n;
        s->cap_stuck = cap;
    }
    char *mp = strdup(mountpoint);
    if (!mp)
        return -ENOMEM;
    s->stuck[s->n_stuck++] = (struct fs_stuck){mp, job};
    return 0;
}

/* Clears the mark of every mount point whose stuck statvfs has returned since. */
static void fs_stuck_reap(struct fs_state *s)
{
    for (size_t i = 0; i < s->n_stuck;) {
        if (!fs_job_done(s->stuck[i].job)) {
            i++;
            continue;
        }
        log_debug("collector filesystem: statvfs of %s returned, no longer stuck",
                  s->stuck[i].mountpoint);
        fs_job_unref(s->stuck[i].job);
        free(s->stuck[i].mountpoint);
        s->stuck[i] = s->stuck[--s->n_stuck];
    }
}

/* Decodes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) the
 * kernel writes in mounts fields, in place. */
static void fs_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            int c = ((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0');
            if (c != 0) {
                *w++ = (char)c;
                r += 4;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
}

static bool fs_has_option(const char *opts, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = opts; p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == n && memcmp(p, opt, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static int fs_read_mounts(const struct fs_state *s, char **ret, size_t *ret_len)
{
    static const char *const names[] = {"1/mounts", "self/mounts"};
    char path[PATH_MAX];
    int r = -ENOENT;
    for (size_t i = 0; i < 2; i++) {
        r = path_join(path, sizeof(path), s->procfs, names[i]);
        if (r >= 0)
            r = file_read_alloc(path, FS_MOUNTS_MAX, ret, ret_len);
        if (r >= 0)
            return 0;
        log_debug_errno(r, "collector filesystem: cannot read %s", path);
    }
    return r;
}

/* Splits the mounts file in buf into entries (fields unescaped in place). Lines with
 * fewer than three fields, a mount point not starting with '/', or a field that is not
 * UTF-8 are skipped. Returns the number of entries in *ret (caller frees) or -errno. */
static long fs_parse_mounts(char *buf, size_t len, struct fs_mount **ret)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += buf[i] == '\n';
    struct fs_mount *m = calloc(cap, sizeof(*m));
    if (!m)
        return -ENOMEM;
    size_t n = 0;
    char *end = buf + len;
    for (char *line = buf; line < end && n < cap;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl)
            *nl = '\0';
        char *next = nl ? nl + 1 : end;
        char *p = line;
        char *dev = next_field(&p), *mp = next_field(&p), *type = next_field(&p);
        char *opts = next_field(&p);
        line = next;
        if (!type || mp[0] != '/')
            continue;
        fs_unescape(dev);
        fs_unescape(mp);
        fs_unescape(type);
        /* Label values must be UTF-8 or Prometheus rejects the whole scrape. */
        if (!label_value_valid(dev) || !label_value_valid(mp) || !label_value_valid(type)) {
            log_debug("collector filesystem: skipping mount with a non-UTF-8 name");
            continue;
        }
        m[n] = (struct fs_mount){.device = dev, .mountpoint = mp, .fstype = type, .line = n};
        m[n].readonly = opts && fs_has_option(opts, "ro");
        n++;
    }
    *ret = m;
    return (long)n;
}

static int fs_mount_cmp(const void *a, const void *b)
{
    const struct fs_mount *x = a, *y = b;
    int c = strcmp(x->mountpoint, y->mountpoint);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* <rootfs><mountpoint>, with rootfs "" for "/" and "/host" + "/" giving "/host". */
static int fs_join(char *out, size_t outsz, const char *rootfs, const char *mountpoint)
{
    const char *tail = rootfs[0] && strcmp(mountpoint, "/") == 0 ? "" : mountpoint;
    int n = snprintf(out, outsz, "%s%s", rootfs, tail);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* Filesystems whose statvfs can wait on a server or a user-space daemon. Only these
 * pay for a thread and a deadline per scrape; local ones answer from memory. */
static bool fs_can_hang(const char *fstype)
{
    static const char *const remote[] = {"nfs",    "nfs4",      "cifs",     "smb3",    "smbfs",
                                         "ceph",   "glusterfs", "9p",       "afs",     "davfs",
                                         "lustre", "gpfs",      "beegfs",   "ncpfs",   "coda",
                                         "ocfs2",  "gfs2",      "orangefs", "virtiofs"};
    if (strncmp(fstype, "fuse", 4) == 0)
        return true; /* fuse, fuseblk, fuse.sshfs, ... */
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
        if (strcmp(fstype, remote[i]) == 0)
            return true;
    return false;
}

/* Runs statvfs for m[0..n): local filesystems directly, the others concurrently on
 * detached threads, waiting for all of those until one shared deadline.
 * Returns 0, or the first error starting a worker (that mount gets device_error). */
static int fs_stat_batch(struct fs_state *s, struct fs_mount **m, size_t n)
{
    int ret = 0;
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        int r = fs_join(path, sizeof(path), s->rootfs, m[i]->mountpoint);
        if (r >= 0 && !fs_can_hang(m[i]->fstype)) {
            struct statvfs st;
            memset(&st, 0, sizeof(st));
            m[i]->error = fs_statvfs_fn(path, &st) < 0 ? -(errno ? errno : EIO) : 0;
            m[i]->st = st;
            if (m[i]->error < 0)
                log_debug_errno(m[i]->error, "collector filesystem: statvfs %s", path);
            continue;
        }
        if (r >= 0)
            m[i]->job = fs_job_start(path, &r);
        if (!m[i]->job) {
            log_debug_errno(r, "collector filesystem: cannot stat %s", m[i]->mountpoint);
            m[i]->error = r;
            if (r != -ENAMETOOLONG && ret == 0)
                ret = r;
        }
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(s->timeout_usec / 1000000);
    deadline.tv_nsec += (long)(s->timeout_usec % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (size_t i = 0; i < n; i++) {
        struct fs_job *job = m[i]->job;
        if (!job)
            continue;
        m[i]->job = NULL;
        if (fs_job_wait(job, &deadline)) {
            m[i]->error = job->error;
            m[i]->st = job->st;
            if (job->error < 0)
                log_debug_errno(job->error, "collector filesystem: statvfs %s", job->path);
            fs_job_unref(job);
            continue;
        }
        log_debug("collector filesystem: statvfs %s did not return within %llu us, "
                  "marking it stuck",
                  job->path, (unsigned long long)s->timeout_usec);
        m[i]->stuck = true;
        if (fs_stuck_add(s, m[i]->mountpoint, job) < 0) {
            fs_job_unref(job); /* the worker keeps its own reference */
            if (ret == 0)
                ret = -ENOMEM;
        }
    }
    return ret;
}

static int fs_add(struct mset *out, const char *name, const char *help, const struct fs_mount *m,
                  double value)
{
    int r = mset_family(out, name, METRIC_GAUGE, help);
    if (r < 0)
        return r;
    return mset_addl(out, value, "device", m->device, "mountpoint", m->mountpoint, "fstype",
                     m->fstype, NULL);
}

static int fs_emit(struct mset *out, const struct fs_mount *m)
{
    bool failed = m->stuck || m->error < 0;
    int r = fs_add(out, "homeostat_filesystem_device_error",
                   "1 when statvfs of the filesystem failed or did not return in time (stuck).", m,
                   failed ? 1 : 0);
    bool ro = m->readonly || (!failed && (m->st.f_flag & ST_RDONLY));
    if (r >= 0)
        r = fs_add(out, "homeostat_filesystem_readonly",
                   "1 when the filesystem is mounted read-only.", m, ro ? 1 : 0);
    if (r < 0 || failed)
        return r;
    double frsize = (double)(m->st.f_frsize ? m->st.f_frsize : m->st.f_bsize);
    r = fs_add(out, "homeostat_filesystem_size_bytes", "Size of the filesystem in bytes.", m,
               (double)m->st.f_blocks * frsize);
    if (r >= 0)
        r = fs_add(out, "homeostat_filesystem_free_bytes",
                   "Free space of the filesystem in bytes, including the space reserved for "
                   "root.",
                   m, (double)m->st.f_bfree * frsize);
    if (r >= 0)
        r = fs_add(out, "homeostat_filesystem_avail_bytes",
                   "Space of the filesystem available to unprivileged users in bytes.", m,
                   (double)m->st.f_bavail * frsize);
    if (r >= 0)
        r = fs_add(out, "homeostat_filesystem_files", "Number of inodes of the filesystem.", m,
                   (double)m->st.f_files);
    if (r >= 0)
        r = fs_add(out, "homeostat_filesystem_files_free",
                   "Number of free inodes of the filesystem.", m, (double)m->st.f_ffree);
    return r;
}

static int filesystem_collect(void *state, struct mset *out)
{
    struct fs_state *s = state;
    char *buf = NULL;
    size_t len = 0;
    int r = fs_read_mounts(s, &buf, &len);
    if (r < 0)
        return r;
    struct fs_mount *m = NULL;
    long n = fs_parse_mounts(buf, len, &m);
    if (n < 0) {
        free(buf);
        return (int)n;
    }
    if (n == 0) {
        free(buf);
        free(m);
        return log_debug_errno(-ENODATA, "collector filesystem: no mounts listed");
    }
    struct fs_mount **todo = calloc((size_t)n, sizeof(*todo));
    if (!todo) {
        free(buf);
        free(m);
        return -ENOMEM;
    }

    /* Sorted by mount point; of repeated mount points the last mounted one wins. */
    qsort(m, (size_t)n, sizeof(*m), fs_mount_cmp);
    fs_stuck_reap(s);
    size_t n_todo = 0;
    for (long i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(m[i].mountpoint, m[i + 1].mountpoint) == 0) {
            m[i].skip = true;
            continue;
        }
        if ((s->have_type_exclude && regexec(&s->type_exclude, m[i].fstype, 0, NULL, 0) == 0) ||
            (s->have_mp_exclude && regexec(&s->mp_exclude, m[i].mountpoint, 0, NULL, 0) == 0)) {
            m[i].skip = true;
            continue;
        }
        if (fs_stuck_find(s, m[i].mountpoint)) {
            log_debug("collector filesystem: %s is still stuck, skipping", m[i].mountpoint);
            m[i].stuck = true;
            continue;
        }
        todo[n_todo++] = &m[i];
    }
    r = 0;
    for (size_t i = 0; i < n_todo; i += FS_MAX_INFLIGHT) {
        size_t k = n_todo - i < FS_MAX_INFLIGHT ? n_todo - i : FS_MAX_INFLIGHT;
        int q = fs_stat_batch(s, todo + i, k);
        if (q < 0 && r == 0)
            r = q;
    }
    for (long i = 0; i < n; i++) {
        if (m[i].skip)
            continue;
        int q = fs_emit(out, &m[i]);
        if (q < 0) {
            r = q;
            break;
        }
    }
    free(todo);
    free(m);
    free(buf);
    return r;
}

static int fs_compile(regex_t *re, bool *have, const char *pattern, const char *what)
{
    *have = false;
    if (!pattern || !pattern[0])
        return 0;
    int r = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (r != 0) {
        char msg[128];
        regerror(r, re, msg, sizeof(msg));
        return log_debug_errno(-EINVAL, "collector filesystem: bad %s regex '%s': %s", what,
                               pattern, msg);
    }
    *have = true;
    return 0;
}

static void filesystem_cleanup(void *state)
{
    struct fs_state *s = state;
    if (!s)
        return;
    /* Stuck workers keep their own reference and free their job when they return. */
    for (size_t i = 0; i < s->n_stuck; i++) {
        fs_job_unref(s->stuck[i].job);
        free(s->stuck[i].mountpoint);
    }
    free(s->stuck);
    if (s->have_mp_exclude)
        regfree(&s->mp_exclude);
    if (s->have_type_exclude)
        regfree(&s->type_exclude);
    free(s->procfs);
    free(s->rootfs);
    free(s);
}

static int filesystem_init(const struct exporter_config *cfg, void **ret_state)
{
    if (cfg->filesystem_mount_timeout_usec == 0)
        return log_debug_errno(-EINVAL, "collector filesystem: mount timeout must be > 0");
    struct fs_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->timeout_usec = cfg->filesystem_mount_timeout_usec;
    s->procfs = strdup(cfg->procfs ? cfg->procfs : "/proc");
    s->rootfs = strdup(cfg->rootfs ? cfg->rootfs : "/");
    if (!s->procfs || !s->rootfs) {
        filesystem_cleanup(s);
        return -ENOMEM;
    }
    size_t rl = strlen(s->rootfs);
    while (rl > 0 && s->rootfs[rl - 1] == '/')
        s->rootfs[--rl] = '\0';
    int r = fs_compile(&s->mp_exclude, &s->have_mp_exclude, cfg->filesystem_mount_points_exclude,
                       "mount point");
    if (r >= 0)
        r = fs_compile(&s->type_exclude, &s->have_type_exclude, cfg->filesystem_fs_types_exclude,
                       "fs type");
    if (r < 0) {
        filesystem_cleanup(s);
        return r;
    }
    *ret_state = s;
    return 0;
}

const struct collector collector_filesystem = {
    .name = "filesystem",
    .description = "Filesystem size, free space and inodes per mount point from statvfs",
    .default_enabled = true,
    .may_block = true,
    .init = filesystem_init,
    .collect = filesystem_collect,
    .cleanup = filesystem_cleanup,
};
