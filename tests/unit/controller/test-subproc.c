/* test-subproc: controller/clients/subproc.c with real processes: exit codes and signals, stdout
 * and stderr capture, the per-stream cap with the dropped byte count, the clean
 * environment (PATH, LANG, kept and set variables only; the default PATH), program lookup
 * and -ENOENT, stdin data (also to a reader that stops early), the deadline (a tree of
 * sleeps killed with every child, one that ignores SIGTERM killed after the grace, one that
 * closed its output and runs on), a leader that exits leaving a child holding the pipes,
 * descriptors and blocked signals not leaking into the child, concurrent runs from threads,
 * and no zombie left behind. /bin/sh appears here only as the program under test. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parse.h"
#include "subproc.h"
#include "test.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Runs argv with a timeout (usec); fills res; returns subproc_run's result. */
static int run(const char *const *argv, uint64_t timeout_usec, struct subproc_result *res)
{
    struct subproc_opts o = {.argv = argv, .timeout_usec = timeout_usec};
    return subproc_run(&o, res);
}

/* Whether pid is gone: no such process, or a zombie (it was killed and waits for its new
 * parent, init, to reap it). Waits up to a second for it to get there. */
static bool pid_gone(long pid)
{
    for (int i = 0; i < 100; i++) {
        char path[64], stat[512];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        size_t n = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
        stat[n] = '\0';
        const char *p = strrchr(stat, ')');
        if (p && p[1] == ' ' && p[2] == 'Z')
            return true;
        usleep(10000);
    }
    return false;
}

/* The numbers, one a line, in text into pids (at most max); the count. */
static size_t read_pids(const char *text, long *pids, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (p && *p && n < max) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        pids[n++] = v;
        p = end;
        while (*p == '\n')
            p++;
    }
    return n;
}

/* No child of ours is left, not even a zombie. */
static bool no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

TEST(exit_codes_and_signals)
{
    struct subproc_result r;
    char how[96];
    CHECK_INT(run(ARGV("/bin/sh", "-c", "exit 0"), 5000000, &r), 0);
    CHECK_INT(r.exit_status, 0);
    CHECK_INT(r.term_signal, 0);
    CHECK(!r.timed_out);
    CHECK_STR(subproc_describe(&r, how, sizeof(how)), "exit 0");
    subproc_result_free(&r);

    CHECK_INT(run(ARGV("/bin/sh", "-c", "exit 3"), 5000000, &r), 0);
    CHECK_INT(r.exit_status, 3);
    CHECK_STR(subproc_describe(&r, how, sizeof(how)), "exit 3");
    subproc_result_free(&r);

    CHECK_INT(run(ARGV("/bin/sh", "-c", "kill -KILL $$"), 5000000, &r), 0);
    CHECK_INT(r.exit_status, -1);
    CHECK_INT(r.term_signal, SIGKILL);
    CHECK(!r.timed_out);
    CHECK_STR(subproc_describe(&r, how, sizeof(how)), "killed by SIGKILL");
    subproc_result_free(&r);
    CHECK(no_children());
}

TEST(captures_stdout_and_stderr)
{
    struct subproc_result r;
    CHECK_INT(
        run(ARGV("/bin/sh", "-c", "printf 'out 1\\nout 2\\n'; printf 'err 1\\n' >&2"), 5000000, &r),
        0);
    CHECK_STR(r.out.data, "out 1\nout 2\n");
    CHECK_STR(r.err.data, "err 1\n");
    CHECK_INT(r.out_dropped, 0);
    CHECK_INT(r.err_dropped, 0);
    subproc_result_free(&r);

    /* Nothing written: empty strings, not NULL. */
    CHECK_INT(run(ARGV("/bin/sh", "-c", "exit 0"), 5000000, &r), 0);
    CHECK(r.out.data && r.err.data);
    CHECK_STR(r.out.data, "");
    CHECK_STR(r.err.data, "");
    subproc_result_free(&r);
}

TEST(output_is_capped_and_the_rest_counted)
{
    struct subproc_result r;
    struct subproc_opts o = {
        .argv = ARGV("/bin/sh", "-c", "head -c 100000 /dev/zero; head -c 5000 /dev/zero >&2"),
        .timeout_usec = 5000000,
        .output_cap = 1000,
    };
    CHECK_INT(subproc_run(&o, &r), 0);
    CHECK_INT(r.exit_status, 0);
    CHECK_INT(r.out.len, 1000);
    CHECK_INT(r.out_dropped, 99000);
    CHECK_INT(r.err.len, 1000);
    CHECK_INT(r.err_dropped, 4000);
    subproc_result_free(&r);

    /* The default cap: 16 KiB. */
    CHECK_INT(run(ARGV("/bin/sh", "-c", "head -c 20000 /dev/zero"), 5000000, &r), 0);
    CHECK_INT(r.out.len, SUBPROC_DEFAULT_OUTPUT_CAP);
    CHECK_INT(r.out_dropped, 20000 - SUBPROC_DEFAULT_OUTPUT_CAP);
    subproc_result_free(&r);
}

/* The names of the variables in `env` output, sorted, joined by spaces. */
static void env_names(const char *out, char *names, size_t size)
{
    char *copy = strdup(out);
    const char *list[64];
    size_t n = 0;
    for (char *line = copy, *next; line && *line && n < 64; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            list[n++] = line;
        }
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
            const char *t = list[j];
            list[j] = list[j - 1];
            list[j - 1] = t;
        }
    names[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(names + len, len < size ? size - len : 0, "%s%s", i ? " " : "",
                                list[i]);
    free(copy);
}

TEST(environment_is_clean)
{
    setenv("HOMEOSTAT_TEST_SECRET", "hunter2", 1);
    setenv("HOMEOSTAT_TEST_KEEP", "kept value", 1);
    setenv("LANG", "de_DE.UTF-8", 1);
    unsetenv("HOMEOSTAT_TEST_UNSET");
    struct subproc_result r;
    struct subproc_opts o = {
        .argv = ARGV("/usr/bin/env"),
        .keep_env = ARGV("HOMEOSTAT_TEST_KEEP", "HOMEOSTAT_TEST_UNSET"),
        .set_env = ARGV("EXTRA=a=b", "HOMEOSTAT_TEST_KEEP=overridden"),
        .timeout_usec = 5000000,
    };
    CHECK_INT(subproc_run(&o, &r), 0);
    char names[512];
    env_names(r.out.data, names, sizeof(names));
    CHECK_STR(names, "EXTRA HOMEOSTAT_TEST_KEEP LANG PATH");
    CHECK_CONTAINS(r.out.data, "\nLANG=C.UTF-8\n");
    CHECK_CONTAINS(r.out.data, "EXTRA=a=b\n");
    CHECK_CONTAINS(r.out.data, "HOMEOSTAT_TEST_KEEP=overridden\n");
    CHECK(!strstr(r.out.data, "hunter2"));
    char want_path[4096];
    snprintf(want_path, sizeof(want_path), "PATH=%s\n", getenv("PATH"));
    CHECK_CONTAINS(r.out.data, want_path);
    subproc_result_free(&r);

    /* Kept only: the value as it is here. */
    o.set_env = NULL;
    CHECK_INT(subproc_run(&o, &r), 0);
    CHECK_CONTAINS(r.out.data, "HOMEOSTAT_TEST_KEEP=kept value\n");
    subproc_result_free(&r);

    /* Without PATH here: the default, which also finds a bare name. */
    char *saved = strdup(getenv("PATH"));
    unsetenv("PATH");
    struct subproc_opts o2 = {.argv = ARGV("env"), .timeout_usec = 5000000};
    int rc = subproc_run(&o2, &r);
    setenv("PATH", saved, 1);
    free(saved);
    CHECK_INT(rc, 0);
    CHECK_CONTAINS(r.out.data, "PATH=/usr/local/bin:/usr/bin:/bin\n");
    subproc_result_free(&r);

    /* A malformed set_env entry is refused. */
    struct subproc_opts o3 = {.argv = ARGV("/usr/bin/env"), .set_env = ARGV("NOEQUALS")};
    CHECK_INT(subproc_run(&o3, &r), -EINVAL);
    subproc_result_free(&r);
    unsetenv("HOMEOSTAT_TEST_SECRET");
    unsetenv("HOMEOSTAT_TEST_KEEP");
}

TEST(program_lookup_and_enoent)
{
    struct subproc_result r;
    CHECK_INT(run(ARGV("sh", "-c", "exit 7"), 5000000, &r), 0);
    CHECK_INT(r.exit_status, 7);
    subproc_result_free(&r);

    CHECK_INT(run(ARGV("homeostat-no-such-program"), 5000000, &r), -ENOENT);
    CHECK_INT(r.out.len, 0);
    subproc_result_free(&r);
    CHECK_INT(run(ARGV("/nonexistent/homeostat-no-such-program"), 5000000, &r), -ENOENT);
    subproc_result_free(&r);
    /* A directory or a file without x is not a program. */
    CHECK(run(ARGV("/etc"), 5000000, &r) < 0);
    subproc_result_free(&r);
    CHECK(run(ARGV("/etc/passwd"), 5000000, &r) < 0);
    subproc_result_free(&r);
    CHECK_INT(run(ARGV(""), 5000000, &r), -EINVAL);
    subproc_result_free(&r);
    CHECK(no_children());
}

TEST(stdin_data)
{
    struct subproc_result r;
    struct subproc_opts o = {
        .argv = ARGV("/bin/cat"),
        .stdin_data = "hello\nworld\n",
        .stdin_len = 12,
        .timeout_usec = 5000000,
    };
    CHECK_INT(subproc_run(&o, &r), 0);
    CHECK_STR(r.out.data, "hello\nworld\n");
    subproc_result_free(&r);

    /* Without stdin_data: /dev/null, so a reader sees EOF at once. */
    CHECK_INT(run(ARGV("/bin/cat"), 5000000, &r), 0);
    CHECK_INT(r.exit_status, 0);
    CHECK(!r.timed_out);
    CHECK_STR(r.out.data, "");
    subproc_result_free(&r);

    /* 4 MiB to a reader that stops after 10 bytes: EPIPE, no SIGPIPE for us. */
    size_t big = 4u << 20;
    char *data = malloc(big);
    CHECK(data);
    memset(data, 'x', big);
    struct subproc_opts o2 = {
        .argv = ARGV("/usr/bin/head", "-c", "10"),
        .stdin_data = data,
        .stdin_len = big,
        .timeout_usec = 5000000,
    };
    int rc = subproc_run(&o2, &r);
    free(data);
    CHECK_INT(rc, 0);
    CHECK_INT(r.exit_status, 0);
    CHECK_STR(r.out.data, "xxxxxxxxxx");
    CHECK(!r.timed_out);
    subproc_result_free(&r);
}

TEST(hanging_tree_is_killed_at_the_deadline)
{
    struct subproc_result r;
    uint64_t start = now_usec();
    CHECK_INT(run(ARGV("/bin/sh", "-c",
                       "echo $$; /bin/sleep 100 & echo $!; /bin/sleep 100 & echo $!; "
                       "/bin/sleep 100"),
                  500000, &r),
              0);
    uint64_t took = now_usec() - start;
    CHECK(r.timed_out);
    CHECK_INT(r.term_signal, SIGTERM);
    CHECK(took >= 500000 && took < 1500000);
    char how[96];
    CHECK_CONTAINS(subproc_describe(&r, how, sizeof(how)), "timed out after 0.");
    long pids[8];
    size_t n = read_pids(r.out.data, pids, 8);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n; i++)
        if (!pid_gone(pids[i]))
            TEST_FAIL("process %ld of the tree is still running", pids[i]);
    subproc_result_free(&r);
    CHECK(no_children());
}

TEST(sigterm_ignored_gets_sigkill_after_the_grace)
{
    struct subproc_result r;
    uint64_t start = now_usec();
    /* The ignored SIGTERM is inherited by sleep through exec. */
    CHECK_INT(run(ARGV("/bin/sh", "-c", "trap '' TERM; /bin/sleep 100 & echo $!; /bin/sleep 100"),
                  300000, &r),
              0);
    uint64_t took = now_usec() - start;
    CHECK(r.timed_out);
    CHECK_INT(r.term_signal, SIGKILL);
    CHECK(took >= 300000 + SUBPROC_KILL_GRACE_USEC - 100000);
    CHECK(took < 300000 + SUBPROC_KILL_GRACE_USEC + 1000000);
    long pid;
    CHECK_INT(read_pids(r.out.data, &pid, 1), 1);
    CHECK(pid_gone(pid));
    subproc_result_free(&r);
}

TEST(closed_output_still_bounded_by_the_deadline)
{
    struct subproc_result r;
    uint64_t start = now_usec();
    CHECK_INT(run(ARGV("/bin/sh", "-c", "exec >&- 2>&-; /bin/sleep 100"), 500000, &r), 0);
    uint64_t took = now_usec() - start;
    CHECK(r.timed_out);
    CHECK(took >= 500000 && took < 1500000);
    subproc_result_free(&r);
    CHECK(no_children());
}

TEST(leader_exit_with_child_holding_the_pipe)
{
    struct subproc_result r;
    uint64_t start = now_usec();
    /* The background sleep keeps stdout open after the shell exits 0. */
    CHECK_INT(run(ARGV("/bin/sh", "-c", "/bin/sleep 100 & echo $!; exit 0"), 10000000, &r), 0);
    uint64_t took = now_usec() - start;
    CHECK(!r.timed_out);
    CHECK_INT(r.exit_status, 0);
    CHECK(took < 2000000); /* nowhere near the 10 s deadline */
    long pid;
    CHECK_INT(read_pids(r.out.data, &pid, 1), 1);
    CHECK(pid_gone(pid));
    subproc_result_free(&r);

    /* One that closed its output and runs on is killed with the group all the same. */
    start = now_usec();
    CHECK_INT(run(ARGV("/bin/sh", "-c", "/bin/sleep 100 >/dev/null 2>&1 & echo $!"), 10000000, &r),
              0);
    took = now_usec() - start;
    CHECK_INT(r.exit_status, 0);
    CHECK(took < 1000000);
    CHECK_INT(read_pids(r.out.data, &pid, 1), 1);
    CHECK(pid_gone(pid));
    subproc_result_free(&r);
    CHECK(no_children());
}

TEST(descriptors_and_signal_mask_do_not_leak)
{
    int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    int sv[2];
    CHECK(fd >= 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct subproc_result r;
    /* ls lists the descriptors of the shell (its parent, waiting). */
    CHECK_INT(run(ARGV("/bin/sh", "-c", "/bin/ls /proc/$$/fd; exit 0"), 5000000, &r), 0);
    CHECK_STR(r.out.data, "0\n1\n2\n");
    subproc_result_free(&r);
    close(fd);
    close(sv[0]);
    close(sv[1]);

    /* A SIGTERM blocked and SIGINT ignored here are not so in the child. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
    sigaction(SIGINT, &ign, &old_int);
    CHECK_INT(run(ARGV("/bin/sh", "-c", "kill -TERM $$; exit 9"), 5000000, &r), 0);
    int term = r.term_signal;
    subproc_result_free(&r);
    CHECK_INT(run(ARGV("/bin/sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"), 5000000, &r),
              0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGINT, &old_int, NULL);
    CHECK_INT(term, SIGTERM);
    /* Signals 32 and 33 are glibc's own: sigaction() refuses them, so an ignored state
     * inherited from whatever started the tests cannot be reset; every other one is. */
    unsigned long long blk = ~0ull, ignored = ~0ull;
    CHECK(sscanf(r.out.data ? r.out.data : "", "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ignored) ==
          2);
    const unsigned long long glibc_internal = 3ull << 31; /* bits of signals 32 and 33 */
    CHECK_INT(blk & ~glibc_internal, 0);
    CHECK_INT(ignored & ~glibc_internal, 0);
    subproc_result_free(&r);
}

struct worker {
    int id;
    int errors;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 10; i++) {
        char word[32], want[40];
        snprintf(word, sizeof(word), "w%d-%d", w->id, i);
        snprintf(want, sizeof(want), "%s\n", word);
        struct subproc_result r;
        if (run(ARGV("/bin/sh", "-c", "echo \"$0\"", word), 5000000, &r) != 0 ||
            strcmp(r.out.data, want) != 0 || r.exit_status != 0)
            w->errors++;
        subproc_result_free(&r);
    }
    return NULL;
}

TEST(concurrent_runs_from_threads)
{
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.id = i};
        CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    int errors = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    CHECK_INT(errors, 0);
    CHECK(no_children());
}

TEST(argv_is_passed_verbatim)
{
    struct subproc_result r;
    CHECK_INT(run(ARGV("/usr/bin/printf", "[%s]\\n", "a b", "$(id)", "; exit 1", "*", "'\"`"),
                  5000000, &r),
              0);
    CHECK_STR(r.out.data, "[a b]\n[$(id)]\n[; exit 1]\n[*]\n['\"`]\n");
    subproc_result_free(&r);
}

TEST_MAIN(TEST_ENTRY(exit_codes_and_signals), TEST_ENTRY(captures_stdout_and_stderr),
          TEST_ENTRY(output_is_capped_and_the_rest_counted), TEST_ENTRY(environment_is_clean),
          TEST_ENTRY(program_lookup_and_enoent), TEST_ENTRY(stdin_data),
          TEST_ENTRY(hanging_tree_is_killed_at_the_deadline),
          TEST_ENTRY(sigterm_ignored_gets_sigkill_after_the_grace),
          TEST_ENTRY(closed_output_still_bounded_by_the_deadline),
          TEST_ENTRY(leader_exit_with_child_holding_the_pipe),
          TEST_ENTRY(descriptors_and_signal_mask_do_not_leak),
          TEST_ENTRY(concurrent_runs_from_threads), TEST_ENTRY(argv_is_passed_verbatim))
