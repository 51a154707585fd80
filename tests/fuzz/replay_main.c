/* replay_main: a main() for the fuzz harnesses in normal builds (gcc, no libFuzzer). Runs
 * every file of the directories (or files) on its command line through
 * LLVMFuzzerTestOneInput once, in name order, so that `ctest` replays each corpus and every
 * fixed crash forever. Files whose names start with '.' or "README" are skipped. Prints
 * "replay-NAME: N inputs" and exits 0, or 1 when a path cannot be read (a crash aborts). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT_BYTES (16u << 20)

static int replay_file(const char *path, size_t *count)
{
    char *data = NULL;
    size_t len = 0;
    int r = file_read_alloc(path, REPLAY_MAX_INPUT_BYTES, &data, &len);
    if (r < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
        return r;
    }
    /* A copy of exactly len bytes, so that ASan sees a read past the input's end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        free(data);
        return -ENOMEM;
    }
    memcpy(copy, data, len);
    free(data);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    (*count)++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path, size_t *count)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path, count);
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    int r = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char sub[4096];
        if (name[0] != '.' && strncmp(name, "README", 6) != 0 &&
            (size_t)snprintf(sub, sizeof(sub), "%s/%s", path, name) < sizeof(sub)) {
            struct stat sst;
            if (stat(sub, &sst) == 0 && S_ISREG(sst.st_mode) && replay_file(sub, count) < 0)
                r = -EIO;
        }
        free(names[i]);
    }
    free(names);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    size_t count = 0;
    int failed = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) < 0)
            failed = 1;
    const char *prog = strrchr(argv[0], '/');
    printf("%s: %zu inputs\n", prog ? prog + 1 : argv[0], count);
    return failed;
}
