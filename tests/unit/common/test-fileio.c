/* test-fileio: bounded reads (exact fit, one byte over, empty files, missing files)
 * and atomic writes (content, mode, no temporary file left, clean failure) of
 * common/fileio.c, in a temporary directory per test. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "test.h"

static char tmp[PATH_MAX];

/* Makes a fresh temporary directory into tmp. */
static int setup(void)
{
    const char *d = test_tmpdir();
    if (!d)
        return -1;
    snprintf(tmp, sizeof(tmp), "%s", d);
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

/* Writes len bytes of data to tmp/name with stdio (not the code under test). */
static const char *put(const char *name, const void *data, size_t len)
{
    static char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return NULL;
    if (len && fwrite(data, 1, len, f) != len) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return p;
}

/* Number of entries in tmp besides . and .. */
static int count_entries(void)
{
    DIR *d = opendir(tmp);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

TEST(read_into_exact_fit_and_one_over)
{
    CHECK(setup() == 0);
    const char *p = put("ten", "0123456789", 10);
    CHECK(p);
    char buf[64];
    memset(buf, 'X', sizeof(buf));
    CHECK_INT(file_read_into(p, buf, 10), 10);
    CHECK_STR(buf, "0123456789");
    CHECK_INT(file_read_into(p, buf, 9), -EFBIG);
    CHECK_INT(file_read_into(p, buf, 63), 10);
    CHECK_STR(buf, "0123456789");
    teardown();
}

TEST(read_into_empty_and_missing)
{
    CHECK(setup() == 0);
    const char *p = put("empty", "", 0);
    CHECK(p);
    char buf[8] = "junk";
    CHECK_INT(file_read_into(p, buf, 7), 0);
    CHECK_STR(buf, "");
    CHECK_INT(file_read_into(p, buf, 0), 0);
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing", tmp);
    CHECK_INT(file_read_into(missing, buf, 7), -ENOENT);
    CHECK_INT(file_read_into(tmp, buf, 7), -EISDIR);
    teardown();
}

TEST(read_at_joins_paths)
{
    CHECK(setup() == 0);
    CHECK(put("stat", "cpu 1 2 3 4\n", 12));
    char buf[32];
    CHECK_INT(file_read_at(tmp, "stat", buf, sizeof(buf) - 1), 12);
    CHECK_STR(buf, "cpu 1 2 3 4\n");
    CHECK_INT(file_read_at(tmp, "nope", buf, sizeof(buf) - 1), -ENOENT);
    char longname[PATH_MAX + 10];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK_INT(file_read_at(tmp, longname, buf, sizeof(buf) - 1), -ENAMETOOLONG);
    teardown();
}

TEST(read_alloc_sizes)
{
    CHECK(setup() == 0);
    enum { N = 10000 };
    char *data = malloc(N);
    CHECK(data);
    for (int i = 0; i < N; i++)
        data[i] = (char)('a' + i % 26);
    const char *p = put("big", data, N);
    CHECK(p);
    char *got = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc(p, 1 << 20, &got, &len), 0);
    CHECK_INT(len, N);
    CHECK(memcmp(got, data, N) == 0 && got[N] == '\0');
    free(got);
    got = NULL;
    CHECK_INT(file_read_alloc(p, N, &got, &len), 0); /* exact fit */
    CHECK_INT(len, N);
    CHECK(memcmp(got, data, N) == 0 && got[N] == '\0');
    free(got);
    char *untouched = (char *)"untouched";
    got = untouched;
    len = 77;
    CHECK_INT(file_read_alloc(p, N - 1, &got, &len), -EFBIG);
    CHECK(got == untouched);
    CHECK_INT(len, 77);
    CHECK_INT(file_read_alloc(p, 4096, &got, &len), -EFBIG);
    CHECK(got == untouched);
    free(data);
    teardown();
}

TEST(read_alloc_boundaries)
{
    CHECK(setup() == 0);
    char page[4096];
    memset(page, 'p', sizeof(page));
    const char *p = put("page", page, sizeof(page));
    CHECK(p);
    char *got = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc(p, 4096, &got, &len), 0);
    CHECK_INT(len, 4096);
    CHECK(got[4095] == 'p' && got[4096] == '\0');
    free(got);
    CHECK_INT(file_read_alloc(p, 4095, &got, &len), -EFBIG);

    p = put("empty", "", 0);
    CHECK(p);
    got = NULL;
    CHECK_INT(file_read_alloc(p, 0, &got, &len), 0);
    CHECK(got != NULL);
    CHECK_INT(len, 0);
    CHECK_STR(got, "");
    free(got);
    got = NULL;
    CHECK_INT(file_read_alloc(p, 100, &got, &len), 0);
    CHECK(got != NULL && got[0] == '\0');
    CHECK_INT(len, 0);
    free(got);
    teardown();
}

TEST(read_alloc_missing_leaves_outputs)
{
    CHECK(setup() == 0);
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing", tmp);
    char *got = (char *)"x";
    size_t len = 5;
    CHECK_INT(file_read_alloc(missing, 100, &got, &len), -ENOENT);
    CHECK_STR(got, "x");
    CHECK_INT(len, 5);
    teardown();
}

TEST(read_alloc_proc_file)
{
    /* /proc files report size 0; the reader must not trust st_size. */
    char *got = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc("/proc/self/status", 1 << 20, &got, &len), 0);
    CHECK(len > 0);
    CHECK_CONTAINS(got, "Name:");
    free(got);
}

TEST(read_u64_values)
{
    CHECK(setup() == 0);
    unsigned long long v = 0;
    const char *p = put("n", "12345\n", 6);
    CHECK(p);
    CHECK_INT(file_read_u64(p, &v), 0);
    CHECK_INT(v, 12345);
    p = put("ws", "  18446744073709551615  \n", 25);
    CHECK_INT(file_read_u64(p, &v), 0);
    CHECK(v == 18446744073709551615ULL);
    v = 5;
    p = put("bad", "12 kB\n", 6);
    CHECK_INT(file_read_u64(p, &v), -EINVAL);
    p = put("neg", "-1\n", 3);
    CHECK_INT(file_read_u64(p, &v), -EINVAL);
    p = put("empty", "", 0);
    CHECK_INT(file_read_u64(p, &v), -EINVAL);
    p = put("over", "18446744073709551616\n", 21);
    CHECK_INT(file_read_u64(p, &v), -ERANGE);
    char longnum[100];
    memset(longnum, '1', sizeof(longnum));
    p = put("long", longnum, sizeof(longnum));
    CHECK_INT(file_read_u64(p, &v), -EFBIG);
    CHECK_INT(v, 5);
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing", tmp);
    CHECK_INT(file_read_u64(missing, &v), -ENOENT);
    teardown();
}

TEST(write_atomic_content_and_mode)
{
    CHECK(setup() == 0);
    mode_t old = umask(022);
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/out", tmp);
    CHECK_INT(file_write_atomic(p, "first\n", 6, 0600), 0);
    struct stat st;
    CHECK(stat(p, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0600);
    CHECK_INT(st.st_size, 6);
    char buf[64];
    CHECK_INT(file_read_into(p, buf, sizeof(buf) - 1), 6);
    CHECK_STR(buf, "first\n");
    /* Replacing: new content, new mode, no temporary file left. */
    CHECK_INT(file_write_atomic(p, "second version\n", 15, 0644), 0);
    CHECK(stat(p, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0644);
    CHECK_INT(file_read_into(p, buf, sizeof(buf) - 1), 15);
    CHECK_STR(buf, "second version\n");
    CHECK_INT(count_entries(), 1);
    umask(old);
    teardown();
}

TEST(write_atomic_empty_and_binary)
{
    CHECK(setup() == 0);
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/bin", tmp);
    CHECK_INT(file_write_atomic(p, "a\0b\0", 4, 0644), 0);
    char buf[16];
    CHECK_INT(file_read_into(p, buf, sizeof(buf) - 1), 4);
    CHECK(memcmp(buf, "a\0b\0", 4) == 0);
    CHECK_INT(file_write_atomic(p, "", 0, 0644), 0);
    CHECK_INT(file_read_into(p, buf, sizeof(buf) - 1), 0);
    CHECK_INT(count_entries(), 1);
    teardown();
}

TEST(write_atomic_large)
{
    CHECK(setup() == 0);
    enum { N = 1 << 20 };
    char *data = malloc(N);
    CHECK(data);
    for (int i = 0; i < N; i++)
        data[i] = (char)(i * 7);
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/large", tmp);
    CHECK_INT(file_write_atomic(p, data, N, 0644), 0);
    char *got = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc(p, N, &got, &len), 0);
    CHECK_INT(len, N);
    CHECK(memcmp(got, data, N) == 0);
    free(got);
    free(data);
    teardown();
}

TEST(write_atomic_missing_dir_fails_cleanly)
{
    CHECK(setup() == 0);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/no/such/dir/file", tmp);
    CHECK_INT(file_write_atomic(p, "x", 1, 0644), -ENOENT);
    CHECK_INT(count_entries(), 0);
    teardown();
}

TEST(write_atomic_onto_directory_leaves_no_temp)
{
    CHECK(setup() == 0);
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/sub", tmp);
    CHECK(mkdir(p, 0755) == 0);
    /* rename() of a file over a non-empty directory fails: the temp must go. */
    char inner[PATH_MAX + 32];
    snprintf(inner, sizeof(inner), "%s/sub/f", tmp);
    CHECK_INT(file_write_atomic(inner, "1", 1, 0644), 0);
    CHECK(file_write_atomic(p, "x", 1, 0644) < 0);
    CHECK_INT(count_entries(), 1);
    unlink(inner);
    rmdir(p);
    teardown();
}

TEST(write_atomic_relative_path)
{
    CHECK(setup() == 0);
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)));
    CHECK(chdir(tmp) == 0);
    int r = file_write_atomic("rel.txt", "rel", 3, 0644);
    int back = chdir(cwd);
    CHECK_INT(r, 0);
    CHECK_INT(back, 0);
    char p[PATH_MAX + 16], buf[8];
    snprintf(p, sizeof(p), "%s/rel.txt", tmp);
    CHECK_INT(file_read_into(p, buf, sizeof(buf) - 1), 3);
    CHECK_STR(buf, "rel");
    CHECK_INT(count_entries(), 1);
    teardown();
}

TEST(path_join_limits)
{
    char out[8];
    CHECK_INT(path_join(out, sizeof(out), "/a", "bc"), 0);
    CHECK_STR(out, "/a/bc");
    CHECK_INT(path_join(out, sizeof(out), "/abc", "def"), -ENAMETOOLONG); /* 8 + NUL */
    CHECK_INT(path_join(out, sizeof(out), "/ab", "def"), 0);
    CHECK_STR(out, "/ab/def");
}

TEST_MAIN(TEST_ENTRY(read_into_exact_fit_and_one_over), TEST_ENTRY(read_into_empty_and_missing),
          TEST_ENTRY(read_at_joins_paths), TEST_ENTRY(read_alloc_sizes),
          TEST_ENTRY(read_alloc_boundaries), TEST_ENTRY(read_alloc_missing_leaves_outputs),
          TEST_ENTRY(read_alloc_proc_file), TEST_ENTRY(read_u64_values),
          TEST_ENTRY(write_atomic_content_and_mode), TEST_ENTRY(write_atomic_empty_and_binary),
          TEST_ENTRY(write_atomic_large), TEST_ENTRY(write_atomic_missing_dir_fails_cleanly),
          TEST_ENTRY(write_atomic_onto_directory_leaves_no_temp),
          TEST_ENTRY(write_atomic_relative_path), TEST_ENTRY(path_join_limits))
