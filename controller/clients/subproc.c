/* subproc: runs a program from an argv array with a clean environment, in its own process
 * group, bounded by a deadline (see subproc.h). fork + execve, no shell; the child closes
 * every descriptor but its three standard ones. The parent reads stdout and stderr with
 * poll(2), notices the leader's exit through a pidfd (or a 10 ms tick where there is
 * none), and always kills what is left of the group before it reaps the leader, so the
 * group's number cannot be reused while it signals it. No global state: thread-safe. */
#include "subproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "parse.h"
#include "utf8.h"

#define SUBPROC_DEFAULT_TIMEOUT_USEC (10ull * 1000000)
#define SUBPROC_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
/* After the leader exits, how long its children may keep stdout or stderr open before
 * the group is killed (never past the deadline). */
#define SUBPROC_LINGER_USEC (500ull * 1000)
#define SUBPROC_MAX_ENV 256
#define SUBPROC_TICK_MSEC 10

/* ---- environment and program lookup (in the parent, before fork) ---- */

static bool env_name_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '=' || name[i] == '\0')
            return false;
    return true;
}

/* Index of the entry "NAME=..." in env[0..n), or -1. */
static int env_find(char **env, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return (int)i;
    return -1;
}

/* Sets NAME=value (an existing NAME is replaced). 0, -ENOMEM or -E2BIG. */
static int env_put(char **env, size_t *n, const char *name, size_t len, const char *value)
{
    size_t vlen = strlen(value);
    char *e = malloc(len + 1 + vlen + 1);
    if (!e)
        return -ENOMEM;
    memcpy(e, name, len);
    e[len] = '=';
    memcpy(e + len + 1, value, vlen + 1);
    int i = env_find(env, *n, name, len);
    if (i >= 0) {
        free(env[i]);
        env[i] = e;
        return 0;
    }
    if (*n >= SUBPROC_MAX_ENV) {
        free(e);
        return -E2BIG;
    }
    env[(*n)++] = e;
    env[*n] = NULL;
    return 0;
}

static void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* The child's environment: PATH (ours or the default), LANG=C.UTF-8, the kept names that
 * are set here, then set_env. New array (env_free), or NULL with *ret_error. */
static char **env_build(const struct subproc_opts *opts, int *ret_error)
{
    char **env = calloc(SUBPROC_MAX_ENV + 1, sizeof(char *));
    size_t n = 0;
    int r = -ENOMEM;
    if (!env)
        goto fail;
    const char *path = getenv("PATH");
    if ((r = env_put(env, &n, "PATH", 4, path && path[0] ? path : SUBPROC_DEFAULT_PATH)) < 0 ||
        (r = env_put(env, &n, "LANG", 4, "C.UTF-8")) < 0)
        goto fail;
    for (const char *const *k = opts->keep_env; k && *k; k++) {
        const char *v = getenv(*k);
        if (v && env_name_valid(*k, strlen(*k)) && (r = env_put(env, &n, *k, strlen(*k), v)) < 0)
            goto fail;
    }
    for (const char *const *s = opts->set_env; s && *s; s++) {
        const char *eq = strchr(*s, '=');
        r = -EINVAL;
        if (!eq || !env_name_valid(*s, (size_t)(eq - *s)))
            goto fail;
        if ((r = env_put(env, &n, *s, (size_t)(eq - *s), eq + 1)) < 0)
            goto fail;
    }
    return env;
fail:
    env_free(env);
    *ret_error = r;
    return NULL;
}

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The program to execute: argv0 itself when it has a '/', else the first executable file
 * of that name in the absolute directories of PATH. New string, or NULL with -ENOENT or
 * -ENOMEM in *ret_error. */
static char *find_program(const char *argv0, char **env, int *ret_error)
{
    *ret_error = -ENOMEM;
    if (strchr(argv0, '/')) {
        char *p = strdup(argv0);
        if (p && !is_executable_file(p)) {
            *ret_error = access(p, F_OK) == 0 ? -EACCES : -ENOENT;
            free(p);
            return NULL;
        }
        return p;
    }
    const char *path = "";
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], "PATH=", 5) == 0)
            path = env[i] + 5;
    size_t nlen = strlen(argv0);
    for (const char *p = path; *p;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        if (dlen > 0 && p[0] == '/' && dlen + 1 + nlen < PATH_MAX) {
            char *full = malloc(dlen + 1 + nlen + 1);
            if (!full)
                return NULL;
            memcpy(full, p, dlen);
            full[dlen] = '/';
            memcpy(full + dlen + 1, argv0, nlen + 1);
            if (is_executable_file(full))
                return full;
            free(full);
        }
        p = *end ? end + 1 : end;
    }
    *ret_error = -ENOENT;
    return NULL;
}

/* ---- the child, between fork and execve: async-signal-safe calls only ---- */

/* Moves fd above 2 (a daemon may run with 0, 1 or 2 closed, so a pipe may land there). */
static int child_lift(int fd)
{
    return fd > 2 ? fd : fcntl(fd, F_DUPFD, 3);
}

/* Closes every descriptor from 'from' up. */
static void child_close_from(int from)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)from, ~0u, 0) == 0)
        return;
#endif
    struct rlimit rl;
    long max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576)
        max = (long)rl.rlim_cur;
    for (long fd = from; fd < max; fd++)
        close((int)fd);
}

static __attribute__((noreturn)) void child_exec(const char *path, char *const *argv,
                                                 char *const *env, int in_fd, int out_fd,
                                                 int err_fd, int report_fd)
{
    int e;
    setpgid(0, 0);
    /* The daemon's blocked signals and ignored ones (SIGPIPE) must not reach the program. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    if ((in_fd = child_lift(in_fd)) < 0 || (out_fd = child_lift(out_fd)) < 0 ||
        (err_fd = child_lift(err_fd)) < 0 || (report_fd = child_lift(report_fd)) < 0)
        goto fail;
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        goto fail;
    if (report_fd != 3) {
        if (dup2(report_fd, 3) < 0)
            goto fail;
        report_fd = 3;
    }
    fcntl(3, F_SETFD, FD_CLOEXEC);
    child_close_from(4);
    daemon_restore_nofile(); /* after closing: the soft RLIMIT_NOFILE it started with */
    execve(path, argv, env);
fail:
    e = errno;
    if (write(report_fd, &e, sizeof(e)) < 0) {
        /* nothing more to do: the parent sees the exit status */
    }
    _exit(127);
}

/* ---- the parent ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Reads what fd has into b up to cap, counting the rest in *dropped. 1 at EOF (or an
 * error), 0 when it would block. */
static int drain(int fd, struct buf *b, size_t cap, size_t *dropped)
{
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return 1;
        size_t keep = b->len < cap ? cap - b->len : 0;
        if (keep > (size_t)n)
            keep = (size_t)n;
        if (keep && buf_append(b, chunk, keep) < 0)
            keep = 0;
        *dropped += (size_t)n - keep;
    }
}

/* Writes the next part of stdin_data without letting a closed pipe raise SIGPIPE in this
 * (multi-threaded) process: the signal is blocked in this thread around the write and a
 * SIGPIPE the write raised is taken back. Bytes written, or -errno. */
static ssize_t write_no_sigpipe(int fd, const char *p, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    ssize_t n;
    do {
        n = write(fd, p, len);
    } while (n < 0 && errno == EINTR);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n < 0 ? -e : n;
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        return (int)fd;
    }
#endif
    (void)pid;
    return -1;
}

/* Whether the leader has exited; it is left a zombie (WNOWAIT) so that its number, the
 * group's, stays ours until the final kill. */
static bool leader_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        if (errno != EINTR)
            return true; /* ECHILD: someone else reaped it; nothing to wait for */
    return si.si_pid == pid;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -errno : fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

struct run {
    pid_t pid;
    int out_fd, err_fd, in_fd, pidfd;
    size_t cap;
    const char *in_data;
    size_t in_left;
};

/* One round of poll until 'until' (monotonic usec): reads output, feeds stdin. */
static void poll_once(struct run *r, struct subproc_result *res, uint64_t until)
{
    struct pollfd p[4];
    int n = 0, i_out = -1, i_err = -1, i_in = -1, i_pid = -1;
    if (r->out_fd >= 0) {
        i_out = n;
        p[n++] = (struct pollfd){r->out_fd, POLLIN, 0};
    }
    if (r->err_fd >= 0) {
        i_err = n;
        p[n++] = (struct pollfd){r->err_fd, POLLIN, 0};
    }
    if (r->in_fd >= 0) {
        i_in = n;
        p[n++] = (struct pollfd){r->in_fd, POLLOUT, 0};
    }
    if (r->pidfd >= 0) {
        i_pid = n;
        p[n++] = (struct pollfd){r->pidfd, POLLIN, 0};
    }
    uint64_t now = now_usec();
    uint64_t wait_usec = until > now ? until - now : 0;
    int timeout_ms = (int)((wait_usec + 999) / 1000);
    if (r->pidfd < 0 && timeout_ms > SUBPROC_TICK_MSEC)
        timeout_ms = SUBPROC_TICK_MSEC;
    int k = poll(p, (nfds_t)n, timeout_ms);
    if (k <= 0)
        return;
    if (i_out >= 0 && p[i_out].revents && drain(r->out_fd, &res->out, r->cap, &res->out_dropped))
        close_fd(&r->out_fd);
    if (i_err >= 0 && p[i_err].revents && drain(r->err_fd, &res->err, r->cap, &res->err_dropped))
        close_fd(&r->err_fd);
    if (i_in >= 0 && p[i_in].revents) {
        ssize_t w = write_no_sigpipe(r->in_fd, r->in_data, r->in_left);
        if (w >= 0) {
            r->in_data += w;
            r->in_left -= (size_t)w;
        }
        if ((w < 0 && w != -EAGAIN) || r->in_left == 0)
            close_fd(&r->in_fd);
    }
    if (i_pid >= 0 && p[i_pid].revents)
        close_fd(&r->pidfd); /* readable once the leader has exited; checked by waitid */
}

/* Runs until the leader has exited and both pipes are at EOF, or until 'until'.
 * *exited tells whether the leader has exited. */
static void pump(struct run *r, struct subproc_result *res, uint64_t until, bool *exited)
{
    uint64_t limit = until;
    for (;;) {
        if (!*exited && leader_exited(r->pid)) {
            *exited = true;
            close_fd(&r->in_fd);
            /* Children may still hold the pipes: give them a moment, not the deadline. */
            uint64_t linger = now_usec() + SUBPROC_LINGER_USEC;
            if (linger < limit)
                limit = linger;
        }
        if (*exited && r->out_fd < 0 && r->err_fd < 0)
            return;
        if (now_usec() >= limit)
            return;
        poll_once(r, res, limit);
    }
}

int subproc_run(const struct subproc_opts *opts, struct subproc_result *res)
{
    memset(res, 0, sizeof(*res));
    res->exit_status = -1;
    size_t cap = opts->output_cap ? opts->output_cap : SUBPROC_DEFAULT_OUTPUT_CAP;
    buf_init(&res->out, cap);
    buf_init(&res->err, cap);
    if (buf_reserve(&res->out, 0) < 0 || buf_reserve(&res->err, 0) < 0)
        return -ENOMEM;
    res->out.data[0] = res->err.data[0] = '\0';
    if (!opts->argv || !opts->argv[0] || !opts->argv[0][0])
        return -EINVAL;

    int r = 0;
    char **env = env_build(opts, &r);
    if (!env)
        return r;
    char *path = find_program(opts->argv[0], env, &r);
    if (!path) {
        env_free(env);
        return r;
    }
    int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, in_p[2] = {-1, -1}, rep_p[2] = {-1, -1};
    struct run run = {.pid = -1,
                      .out_fd = -1,
                      .err_fd = -1,
                      .in_fd = -1,
                      .pidfd = -1,
                      .cap = cap,
                      .in_data = opts->stdin_data,
                      .in_left = opts->stdin_data ? opts->stdin_len : 0};
    if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 || pipe2(rep_p, O_CLOEXEC) < 0) {
        r = -errno;
        goto out;
    }
    if (opts->stdin_data) {
        if (pipe2(in_p, O_CLOEXEC) < 0) {
            r = -errno;
            goto out;
        }
    } else if ((in_p[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        r = -errno;
        goto out;
    }

    uint64_t timeout = opts->timeout_usec ? opts->timeout_usec : SUBPROC_DEFAULT_TIMEOUT_USEC;
    uint64_t start = now_usec();
    pid_t pid = fork();
    if (pid < 0) {
        r = -errno;
        goto out;
    }
    if (pid == 0)
        child_exec(path, (char *const *)opts->argv, env, in_p[0], out_p[1], err_p[1], rep_p[1]);
    run.pid = pid;
    /* Also in the parent, so the group exists before we could signal it. */
    setpgid(pid, pid);
    close_fd(&out_p[1]);
    close_fd(&err_p[1]);
    close_fd(&rep_p[1]);
    close_fd(&in_p[0]);

    /* execve closes the report pipe (EOF); a failure sends its errno. */
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(rep_p[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(child_errno)) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        r = child_errno > 0 ? -child_errno : -EIO;
        goto out;
    }

    run.out_fd = out_p[0];
    run.err_fd = err_p[0];
    run.in_fd = in_p[1];
    out_p[0] = err_p[0] = in_p[1] = -1;
    set_nonblock(run.out_fd);
    set_nonblock(run.err_fd);
    if (run.in_fd >= 0 && (run.in_left == 0 || set_nonblock(run.in_fd) < 0))
        close_fd(&run.in_fd);
    run.pidfd = open_pidfd(pid);

    bool exited = false;
    pump(&run, res, start + timeout, &exited);
    if (!exited) {
        res->timed_out = true;
        kill(-pid, SIGTERM);
        pump(&run, res, now_usec() + SUBPROC_KILL_GRACE_USEC, &exited);
    }
    /* Always: whatever of the group is left (children holding the pipes, or ones that
     * closed them and run on) ends with the run. The leader is not reaped yet, so the
     * group's number cannot have been reused. */
    kill(-pid, SIGKILL);
    if (run.out_fd >= 0)
        drain(run.out_fd, &res->out, cap, &res->out_dropped);
    if (run.err_fd >= 0)
        drain(run.err_fd, &res->err, cap, &res->err_dropped);
    int status = 0;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    if (w == pid && WIFEXITED(status)) {
        res->exit_status = WEXITSTATUS(status);
    } else if (w == pid && WIFSIGNALED(status)) {
        res->term_signal = WTERMSIG(status);
    }
    res->duration_usec = now_usec() - start;
    r = 0;
out:
    close_fd(&run.out_fd);
    close_fd(&run.err_fd);
    close_fd(&run.in_fd);
    close_fd(&run.pidfd);
    for (int i = 0; i < 2; i++) {
        close_fd(&out_p[i]);
        close_fd(&err_p[i]);
        close_fd(&in_p[i]);
        close_fd(&rep_p[i]);
    }
    free(path);
    env_free(env);
    return r;
}

void subproc_result_free(struct subproc_result *res)
{
    if (!res)
        return;
    buf_free(&res->out);
    buf_free(&res->err);
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGSYS: return "SIGSYS";
    }
    return NULL;
}

const char *subproc_describe(const struct subproc_result *res, char *buf, size_t size)
{
    if (res->timed_out) {
        snprintf(buf, size, "timed out after %.1fs (process group killed)",
                 (double)res->duration_usec / 1e6);
    } else if (res->term_signal) {
        const char *name = signal_name(res->term_signal);
        if (name)
            snprintf(buf, size, "killed by %s", name);
        else
            snprintf(buf, size, "killed by signal %d", res->term_signal);
    } else {
        snprintf(buf, size, "exit %d", res->exit_status);
    }
    return buf;
}

json_t *subproc_text_json(const char *s, size_t len)
{
    struct buf b;
    buf_init(&b, len * 3 + 16);
    for (size_t i = 0; i < len;) {
        size_t n = s[i] ? utf8_seq_len(s + i, len - i) : 0;
        if (n) {
            buf_append(&b, s + i, n);
            i += n;
        } else {
            buf_puts(&b, "\xef\xbf\xbd");
            i++;
        }
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return j ? j : json_string("");
}

const char *subproc_first_line(const char *text, char *out, size_t size)
{
    out[0] = '\0';
    if (!text)
        return out;
    while (*text == '\n' || *text == '\r' || *text == ' ' || *text == '\t')
        text++;
    size_t n = 0;
    for (; text[n] && text[n] != '\n' && n + 1 < size; n++)
        out[n] = (unsigned char)text[n] < 0x20 || text[n] == 0x7f ? ' ' : text[n];
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    return out;
}
