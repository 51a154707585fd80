/* daemon: signals, sd_notify and the watchdog (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "parse.h"

static uint64_t watchdog_usec;
static pthread_t main_thread;
static uint64_t last_pet_usec;
static struct rlimit nofile_orig;
static bool nofile_raised;

void daemon_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    main_thread = pthread_self();
    signal(SIGPIPE, SIG_IGN);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        watchdog_usec = usec;
}

void daemon_wake(void)
{
    pthread_kill(main_thread, SIGUSR1);
}

uint64_t daemon_watchdog_usec(void)
{
    return watchdog_usec;
}

static void pet(void)
{
    if (!watchdog_usec)
        return;
    uint64_t now = now_usec();
    if (now - last_pet_usec >= watchdog_usec / 2) {
        sd_notify(0, "WATCHDOG=1");
        last_pet_usec = now;
    }
}

void daemon_watchdog_pet(void)
{
    pet();
}

enum daemon_event daemon_wait(uint64_t timeout_usec)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    uint64_t deadline = now_usec() + timeout_usec;
    for (;;) {
        pet();
        uint64_t now = now_usec();
        if (now >= deadline)
            return DAEMON_EVENT_TIMEOUT;
        uint64_t wait = deadline - now;
        if (watchdog_usec && wait > watchdog_usec / 4)
            wait = watchdog_usec / 4;
        struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            return DAEMON_EVENT_STOP;
        if (sig == SIGHUP)
            return DAEMON_EVENT_RELOAD;
        if (sig == SIGUSR1)
            return DAEMON_EVENT_WAKE;
    }
}

void daemon_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "");
}

void daemon_notify_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void daemon_notify_reloading(void)
{
    sd_notify(0, "RELOADING=1");
}

void daemon_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

long daemon_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        int e = errno;
        log_debug_errno(e, "daemon: cannot read RLIMIT_NOFILE");
        return -e;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            nofile_orig = rl;
            nofile_raised = true;
            log_debug("daemon: RLIMIT_NOFILE soft limit raised from %llu to %llu",
                      (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
            rl = raised;
        } else {
            log_debug_errno(errno, "daemon: cannot raise RLIMIT_NOFILE to %llu",
                            (unsigned long long)rl.rlim_max);
        }
    } else {
        log_debug("daemon: RLIMIT_NOFILE soft limit is %llu (the hard limit)",
                  (unsigned long long)rl.rlim_cur);
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX
                                                                          : (long)rl.rlim_cur;
}

void daemon_restore_nofile(void)
{
    if (nofile_raised)
        setrlimit(RLIMIT_NOFILE, &nofile_orig);
}
