/* test-audit: the decision audit log of controller/clients/audit.c: appends read back newest
 * first, the exact bytes on disk, recovery of a truncated last line (with the dropped
 * byte count) and of garbage, a 10 MiB log opened with a bounded read, the bounded
 * history, the record size limit, and failed appends (read-only descriptor, ENOSPC
 * through /dev/full, a short write cut back under RLIMIT_FSIZE) that add nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "fileio.h"
#include "test.h"

static char tmp[PATH_MAX];
static char log_path[PATH_MAX + 16];

/* A fresh temporary directory in tmp and log_path = tmp/audit.jsonl. */
static int setup(void)
{
    const char *d = test_tmpdir();
    if (!d)
        return -1;
    snprintf(tmp, sizeof(tmp), "%s", d);
    snprintf(log_path, sizeof(log_path), "%s/audit.jsonl", tmp);
    return 0;
}

/* Removes the files in tmp (one level) and tmp itself. */
static void teardown(void)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", tmp, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmp);
}

/* Writes len bytes to path with stdio (not the code under test); append when add. */
static int put(const char *path, const char *data, size_t len, int add)
{
    FILE *f = fopen(path, add ? "a" : "w");
    if (!f)
        return -1;
    if (len && fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The whole file (caller frees), or NULL. */
static char *slurp(const char *path, size_t *ret_len)
{
    char *text = NULL;
    size_t len = 0;
    if (file_read_alloc(path, 64u << 20, &text, &len) < 0)
        return NULL;
    if (ret_len)
        *ret_len = len;
    return text;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* A record {"type":"decision","n":n}. New reference. */
static json_t *record(long long n)
{
    return json_pack("{s:s,s:I}", "type", "decision", "n", (json_int_t)n);
}

static int append_n(struct audit *a, long long n)
{
    json_t *rec = record(n);
    int r = audit_append(a, rec);
    json_decref(rec);
    return r;
}

/* The "n" of every record of audit_recent(a, limit), joined: "4 3 2". */
static const char *recent_ns(struct audit *a, size_t limit)
{
    static char out[8192];
    json_t *arr = audit_recent(a, limit);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *n = json_object_get(json_array_get(arr, i), "n");
        int w = snprintf(out + o, sizeof(out) - o, "%s%lld", i ? " " : "",
                         n ? (long long)json_integer_value(n) : -1LL);
        if (w < 0 || (size_t)w >= sizeof(out) - o)
            break;
        o += (size_t)w;
    }
    json_decref(arr);
    return out;
}

/* Counts the lines of path and how many of them parse as JSON objects; -1 when a line
 * does not parse, or the file does not end with a newline. */
static int valid_jsonl_lines(const char *path)
{
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text)
        return -1;
    int lines = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            lines = -1;
            break;
        }
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        int ok = json_is_object(o);
        json_decref(o);
        if (!ok) {
            lines = -1;
            break;
        }
        lines++;
        p = nl + 1;
    }
    free(text);
    return lines;
}

/* The descriptor this process holds open on path, or -1. */
static int fd_of(const char *path)
{
    char want[PATH_MAX];
    if (!realpath(path, want))
        return -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[300], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, want) == 0) {
            found = (int)strtol(e->d_name, NULL, 10);
            break;
        }
    }
    closedir(d);
    return found;
}

/* Bytes this process has read through read(2)-like calls so far, or -1. */
static long long rchar(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    long long v = -1;
    char line[128];
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "rchar:", 6) == 0) {
            v = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

TEST(append_and_read_back_newest_first)
{
    CHECK(setup() == 0);
    mode_t old_mask = umask(022);
    struct audit *a = NULL;
    size_t dropped = 99;
    int r = audit_open(log_path, 16, &a, &dropped);
    umask(old_mask);
    CHECK_INT(r, 0);
    CHECK(a != NULL);
    CHECK_INT(dropped, 0);
    CHECK_STR(audit_path(a), log_path); /* for the daemon's error messages */
    struct stat st;
    CHECK(stat(log_path, &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0640);
    CHECK_STR(recent_ns(a, 10), "");
    for (int i = 0; i < 5; i++)
        CHECK_INT(append_n(a, i), 0);
    CHECK_INT(audit_written(a), 5);
    CHECK_STR(recent_ns(a, 3), "4 3 2");
    CHECK_STR(recent_ns(a, 5), "4 3 2 1 0");
    CHECK_STR(recent_ns(a, 100), "4 3 2 1 0");
    CHECK_STR(recent_ns(a, 0), "");
    /* The caller's record is borrowed: changing it afterwards changes nothing on disk. */
    json_t *rec = record(5);
    CHECK_INT(audit_append(a, rec), 0);
    json_object_set_new(rec, "late", json_true());
    json_decref(rec);
    audit_close(a);

    size_t len = 0;
    char *text = slurp(log_path, &len);
    CHECK(text != NULL);
    CHECK_STR(text, "{\"type\":\"decision\",\"n\":0}\n{\"type\":\"decision\",\"n\":1}\n"
                    "{\"type\":\"decision\",\"n\":2}\n{\"type\":\"decision\",\"n\":3}\n"
                    "{\"type\":\"decision\",\"n\":4}\n{\"type\":\"decision\",\"n\":5}\n");
    free(text);

    /* Reopened: the history comes back from the file, nothing dropped or written. */
    dropped = 99;
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, 0);
    CHECK_INT(audit_written(a), 0);
    CHECK_STR(recent_ns(a, 10), "5 4 3 2 1 0");
    json_t *arr = audit_recent(a, 1);
    json_t *first = json_array_get(arr, 0);
    int late = json_object_get(first, "late") != NULL;
    json_decref(arr);
    CHECK(!late);
    audit_close(a);
    audit_close(NULL);
    teardown();
}

TEST(non_ascii_is_escaped_on_one_line)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 4, &a, NULL), 0);
    json_t *rec = json_pack("{s:s}", "reasoning", "cpu ≥ 0.85\nsecond line");
    CHECK_INT(audit_append(a, rec), 0);
    json_decref(rec);
    audit_close(a);
    char *text = slurp(log_path, NULL);
    CHECK(text != NULL);
    int same = strcmp(text, "{\"reasoning\":\"cpu \\u2265 0.85\\nsecond line\"}\n") == 0;
    free(text);
    CHECK(same);
    teardown();
}

TEST(open_fails_cleanly)
{
    CHECK(setup() == 0);
    struct audit *a = (struct audit *)0x1;
    size_t dropped = 77;
    char bad[PATH_MAX + 32];
    snprintf(bad, sizeof(bad), "%s/missing/audit.jsonl", tmp);
    CHECK_INT(audit_open(bad, 4, &a, &dropped), -ENOENT);
    CHECK(a == (struct audit *)0x1);
    CHECK_INT(dropped, 77);
    /* A directory is no log. */
    CHECK_INT(audit_open(tmp, 4, &a, &dropped), -EISDIR);
    CHECK(a == (struct audit *)0x1);
    teardown();
}

TEST(truncated_last_line_is_cut_and_reported)
{
    CHECK(setup() == 0);
    const char *good = "{\"type\":\"decision\",\"n\":0}\n{\"type\":\"decision\",\"n\":1}\n"
                       "{\"type\":\"decision\",\"n\":2}\n";
    const char *partial = "{\"type\":\"decision\",\"n\":3,\"reasoning\":\"cpu_bu";
    CHECK(put(log_path, good, strlen(good), 0) == 0);
    CHECK(put(log_path, partial, strlen(partial), 1) == 0);
    struct audit *a = NULL;
    size_t dropped = 0;
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, strlen(partial));
    CHECK_INT(file_size(log_path), strlen(good));
    CHECK_STR(recent_ns(a, 10), "2 1 0");
    CHECK_INT(audit_written(a), 0);
    CHECK_INT(append_n(a, 9), 0);
    CHECK_STR(recent_ns(a, 10), "9 2 1 0");
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 4);

    /* Reopened: nothing more to cut, everything in the history. */
    dropped = 99;
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, 0);
    CHECK_STR(recent_ns(a, 10), "9 2 1 0");
    audit_close(a);

    /* A last line that parses but has no newline was never completely written: cut. */
    CHECK(put(log_path, "{\"n\":10}", 8, 1) == 0);
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, 8);
    CHECK_STR(recent_ns(a, 10), "9 2 1 0");
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 4);

    /* A log that is nothing but a partial record ends up empty. */
    CHECK(put(log_path, partial, strlen(partial), 0) == 0);
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, strlen(partial));
    CHECK_INT(file_size(log_path), 0);
    CHECK_STR(recent_ns(a, 10), "");
    CHECK_INT(append_n(a, 1), 0);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 1);
    teardown();
}

TEST(garbage_lines_are_skipped)
{
    CHECK(setup() == 0);
    const char garbage[] = "garbage\nnot json {\n\x01\x02\xff\n\n{\"n\":\n";
    CHECK(put(log_path, garbage, sizeof(garbage) - 1, 0) == 0);
    struct audit *a = NULL;
    size_t dropped = 99;
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, 0);
    CHECK_INT(file_size(log_path), sizeof(garbage) - 1); /* complete lines are kept */
    CHECK_STR(recent_ns(a, 10), "");
    CHECK_INT(append_n(a, 7), 0);
    CHECK_STR(recent_ns(a, 10), "7");
    audit_close(a);
    CHECK_INT(file_size(log_path),
              sizeof(garbage) - 1 + strlen("{\"type\":\"decision\",\"n\":7}\n"));
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, 0);
    CHECK_STR(recent_ns(a, 10), "7");
    audit_close(a);

    /* Garbage mixed with records, ending in a partial garbage line. */
    const char mixed[] = "{\"n\":1}\nxx\n{\"n\":2}\n{\"n\":3\n{\"n\":4}\nyyy";
    CHECK(put(log_path, mixed, sizeof(mixed) - 1, 0) == 0);
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(dropped, 3);
    CHECK_STR(recent_ns(a, 10), "4 2 1");
    audit_close(a);
    teardown();
}

/* 10 MiB of 1 KiB records: the open reads a bounded tail (far less than the file)
 * and the history holds exactly the newest records. */
TEST(big_log_opens_with_a_bounded_read)
{
    CHECK(setup() == 0);
    enum { RECORD = 1024, COUNT = 10 * 1024 };
    FILE *f = fopen(log_path, "w");
    CHECK(f != NULL);
    char line[RECORD + 1];
    for (int i = 0; i < COUNT; i++) {
        int n = snprintf(line, sizeof(line), "{\"type\":\"decision\",\"n\":%d,\"pad\":\"", i);
        memset(line + n, 'x', (size_t)(RECORD - n - 3));
        memcpy(line + RECORD - 3, "\"}\n", 3);
        fwrite(line, 1, RECORD, f);
    }
    const char *partial = "{\"type\":\"decision\",\"n\":99999,\"pad\":\"xxxx";
    fputs(partial, f);
    CHECK(fclose(f) == 0);
    CHECK_INT(file_size(log_path), (long long)RECORD * COUNT + (long long)strlen(partial));

    long long before = rchar();
    struct audit *a = NULL;
    size_t dropped = 0;
    CHECK_INT(audit_open(log_path, 1000, &a, &dropped), 0);
    long long after = rchar();
    CHECK_INT(dropped, strlen(partial));
    CHECK_INT(file_size(log_path), (long long)RECORD * COUNT);
    if (before >= 0 && after >= 0) {
        /* The whole file is 10 MiB; recovery may read a few MiB of its tail. */
        if (after - before > (5 << 20))
            TEST_FAIL("audit_open read %lld bytes of a 10 MiB log", after - before);
        CHECK(after - before >= (long long)RECORD * 1000);
    }
    json_t *arr = audit_recent(a, 5000);
    size_t n = json_array_size(arr);
    long long newest = json_integer_value(json_object_get(json_array_get(arr, 0), "n"));
    long long oldest = json_integer_value(json_object_get(json_array_get(arr, n - 1), "n"));
    json_decref(arr);
    CHECK_INT(n, 1000);
    CHECK_INT(newest, COUNT - 1);
    CHECK_INT(oldest, COUNT - 1000);
    CHECK_INT(append_n(a, COUNT), 0);
    CHECK_STR(recent_ns(a, 2), "10240 10239");
    audit_close(a);
    teardown();
}

/* Regression (fixed): a log whose tail holds no newline in the recovery window (4 MiB) is cut back
 * to the start of that window only, so it still ends in a partial line and the next
 * record is glued onto it: that record is lost at the next start. */
TEST(long_partial_tail_leaves_a_clean_end)
{
    CHECK(setup() == 0);
    const char *good = "{\"type\":\"decision\",\"n\":1}\n";
    CHECK(put(log_path, good, strlen(good), 0) == 0);
    size_t junk_len = 6u << 20;
    char *junk = malloc(junk_len);
    CHECK(junk != NULL);
    memset(junk, 0, junk_len); /* a crash can leave zero-filled blocks at the end */
    int w = put(log_path, junk, junk_len, 1);
    free(junk);
    CHECK(w == 0);
    struct audit *a = NULL;
    size_t dropped = 0;
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    CHECK_INT(append_n(a, 2), 0);
    audit_close(a);
    CHECK_INT(audit_open(log_path, 16, &a, &dropped), 0);
    const char *got = recent_ns(a, 10);
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", got);
    audit_close(a);
    if (strcmp(copy, "2 1") != 0)
        TEST_FAIL("regression: after a 6 MiB partial tail, the history after reopening is \"%s\", "
                  "expected \"2 1\" (file size %lld, the partial line was only cut to the "
                  "recovery window)",
                  copy, file_size(log_path));
    CHECK_INT(dropped, 0);
    CHECK_INT(valid_jsonl_lines(log_path), 2);
    teardown();
}

TEST(history_is_bounded)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 4, &a, NULL), 0);
    for (int i = 0; i < 10; i++)
        CHECK_INT(append_n(a, i), 0);
    CHECK_STR(recent_ns(a, 100), "9 8 7 6");
    CHECK_STR(recent_ns(a, 2), "9 8");
    CHECK_INT(audit_written(a), 10);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 10);

    CHECK_INT(audit_open(log_path, 3, &a, NULL), 0);
    CHECK_STR(recent_ns(a, 100), "9 8 7");
    audit_close(a);

    /* No history at all: appends still go to the file. */
    CHECK_INT(audit_open(log_path, 0, &a, NULL), 0);
    CHECK_STR(recent_ns(a, 100), "");
    CHECK_INT(append_n(a, 10), 0);
    CHECK_STR(recent_ns(a, 100), "");
    CHECK_INT(audit_written(a), 1);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 11);
    teardown();
}

TEST(record_size_limit)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 4, &a, NULL), 0);
    CHECK_INT(append_n(a, 1), 0);
    long long size = file_size(log_path);
    /* {"s":"..."} is 8 bytes around the string, plus the newline. */
    size_t fits = AUDIT_MAX_RECORD_BYTES - 9;
    char *big = malloc(fits + 2);
    CHECK(big != NULL);
    memset(big, 'a', fits + 1);
    big[fits + 1] = '\0';
    json_t *over = json_pack("{s:s}", "s", big);
    big[fits] = '\0';
    json_t *exact = json_pack("{s:s}", "s", big);
    free(big);
    int r_over = audit_append(a, over);
    long long size_after_over = file_size(log_path);
    const char *hist_after_over = recent_ns(a, 10);
    int over_ok = strcmp(hist_after_over, "1") == 0;
    unsigned long long written_after_over = audit_written(a);
    int r_exact = audit_append(a, exact);
    json_decref(over);
    json_decref(exact);
    CHECK_INT(r_over, -E2BIG);
    CHECK_INT(size_after_over, size);
    CHECK(over_ok);
    CHECK_INT(written_after_over, 1);
    CHECK_INT(r_exact, 0);
    CHECK_INT(file_size(log_path), size + AUDIT_MAX_RECORD_BYTES);
    CHECK_INT(audit_written(a), 2);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 2);
    teardown();
}

/* The log's descriptor replaced under it by a read-only one: -EBADF, nothing added. */
TEST(append_to_read_only_descriptor_fails)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 4, &a, NULL), 0);
    CHECK_INT(append_n(a, 1), 0);
    int fd = fd_of(log_path);
    CHECK(fd >= 0);
    int ro = open(log_path, O_RDONLY | O_CLOEXEC);
    CHECK(ro >= 0);
    CHECK(dup2(ro, fd) == fd);
    close(ro);
    CHECK_INT(append_n(a, 2), -EBADF);
    CHECK_STR(recent_ns(a, 10), "1");
    CHECK_INT(audit_written(a), 1);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 1);
    teardown();
}

/* A full disk: the log's descriptor replaced by /dev/full, and a log opened on
 * /dev/full itself. -ENOSPC, nothing added to the history. */
/* Many records with one fsync: written and in the history at once, synced by audit_sync
 * (0 with nothing to sync), and a sync that fails says so (fsync of a pipe: EINVAL). */
TEST(append_nosync_then_one_sync)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 16, &a, NULL), 0);
    CHECK_INT(audit_sync(a), 0);
    for (int i = 0; i < 3; i++) {
        json_t *rec = record(i);
        CHECK_INT(audit_append_nosync(a, rec), 0);
        json_decref(rec);
    }
    CHECK_STR(recent_ns(a, 10), "2 1 0");
    CHECK_INT(audit_sync(a), 0);
    CHECK_INT(valid_jsonl_lines(log_path), 3);
    json_t *rec = record(3);
    CHECK_INT(audit_append_nosync(a, rec), 0);
    json_decref(rec);
    int fd = fd_of(log_path);
    int p[2];
    CHECK(fd >= 0 && pipe(p) == 0);
    CHECK(dup2(p[1], fd) == fd);
    close(p[0]);
    close(p[1]);
    CHECK_INT(audit_sync(a), -EINVAL);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 4);
    teardown();
}

TEST(append_on_full_device_fails)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 4, &a, NULL), 0);
    CHECK_INT(append_n(a, 1), 0);
    int fd = fd_of(log_path);
    CHECK(fd >= 0);
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full < 0) {
        audit_close(a);
        teardown();
        fprintf(stderr, "  /dev/full is missing; skipped\n");
        return;
    }
    CHECK(dup2(full, fd) == fd);
    close(full);
    CHECK_INT(append_n(a, 2), -ENOSPC);
    CHECK_STR(recent_ns(a, 10), "1");
    CHECK_INT(audit_written(a), 1);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 1);

    CHECK_INT(audit_open("/dev/full", 4, &a, NULL), 0);
    CHECK_INT(append_n(a, 3), -ENOSPC);
    CHECK_STR(recent_ns(a, 10), "");
    CHECK_INT(audit_written(a), 0);
    audit_close(a);
    teardown();
}

/* A write cut short (the file size limit stands for a disk filling up mid-record):
 * the partial record is cut back, the file is byte for byte what it was. */
TEST(short_write_is_cut_back)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 4, &a, NULL), 0);
    CHECK_INT(append_n(a, 1), 0);
    CHECK_INT(append_n(a, 2), 0);
    size_t before_len = 0;
    char *before = slurp(log_path, &before_len);
    CHECK(before != NULL);

    struct rlimit old;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_sa;
    sigaction(SIGXFSZ, &ign, &old_sa);
    struct rlimit lim = {.rlim_cur = (rlim_t)before_len + 10, .rlim_max = old.rlim_max};
    int set = setrlimit(RLIMIT_FSIZE, &lim);
    json_t *rec = json_pack("{s:s,s:s}", "type", "decision", "reasoning",
                            "a record far longer than the ten bytes left below the limit");
    int r = audit_append(a, rec);
    setrlimit(RLIMIT_FSIZE, &old);
    sigaction(SIGXFSZ, &old_sa, NULL);
    json_decref(rec);

    size_t after_len = 0;
    char *after = slurp(log_path, &after_len);
    int same = after && after_len == before_len && memcmp(after, before, before_len) == 0;
    free(before);
    free(after);
    CHECK_INT(set, 0);
    CHECK_INT(r, -EFBIG);
    CHECK(same);
    CHECK_STR(recent_ns(a, 10), "2 1");
    CHECK_INT(audit_written(a), 2);
    /* With room again, appends continue on a clean line. */
    CHECK_INT(append_n(a, 3), 0);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 3);
    teardown();
}

struct writer {
    struct audit *a;
    int base, errors;
};

static void *write_many(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < 25; i++)
        if (append_n(w->a, w->base + i) != 0)
            w->errors++;
    return NULL;
}

static void *read_many(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < 200; i++) {
        json_t *arr = audit_recent(w->a, 8);
        if (json_array_size(arr) > 8)
            w->errors++;
        json_decref(arr);
    }
    return NULL;
}

TEST(concurrent_appends_stay_whole_lines)
{
    CHECK(setup() == 0);
    struct audit *a = NULL;
    CHECK_INT(audit_open(log_path, 8, &a, NULL), 0);
    pthread_t t[5];
    struct writer w[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct writer){.a = a, .base = i * 1000};
        CHECK(pthread_create(&t[i], NULL, i < 4 ? write_many : read_many, &w[i]) == 0);
    }
    int errors = 0;
    for (int i = 0; i < 5; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    CHECK_INT(errors, 0);
    CHECK_INT(audit_written(a), 100);
    json_t *arr = audit_recent(a, 100);
    size_t n = json_array_size(arr);
    json_decref(arr);
    CHECK_INT(n, 8);
    audit_close(a);
    CHECK_INT(valid_jsonl_lines(log_path), 100);
    teardown();
}

TEST_MAIN(TEST_ENTRY(append_and_read_back_newest_first),
          TEST_ENTRY(non_ascii_is_escaped_on_one_line), TEST_ENTRY(open_fails_cleanly),
          TEST_ENTRY(truncated_last_line_is_cut_and_reported),
          TEST_ENTRY(garbage_lines_are_skipped), TEST_ENTRY(big_log_opens_with_a_bounded_read),
          TEST_ENTRY(long_partial_tail_leaves_a_clean_end), TEST_ENTRY(history_is_bounded),
          TEST_ENTRY(record_size_limit), TEST_ENTRY(append_to_read_only_descriptor_fails),
          TEST_ENTRY(append_on_full_device_fails), TEST_ENTRY(append_nosync_then_one_sync),
          TEST_ENTRY(short_write_is_cut_back), TEST_ENTRY(concurrent_appends_stay_whole_lines))
