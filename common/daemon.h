/* daemon: what both daemons do around their main loop: block the stop/reload
 * signals before threads start, wait for them while petting the systemd watchdog,
 * and tell systemd READY/STATUS/RELOADING/STOPPING through sd_notify. */
#ifndef HOMEOSTAT_DAEMON_H
#define HOMEOSTAT_DAEMON_H

#include <stdint.h>

enum daemon_event {
    DAEMON_EVENT_TIMEOUT,
    DAEMON_EVENT_STOP,   /* SIGTERM or SIGINT */
    DAEMON_EVENT_RELOAD, /* SIGHUP */
    DAEMON_EVENT_WAKE,   /* SIGUSR1: daemon_wake() from another thread */
};

/* Blocks SIGTERM, SIGINT, SIGHUP, SIGUSR1 and ignores SIGPIPE in the calling
 * thread; call before creating threads so every thread inherits the mask. The
 * calling thread becomes the one daemon_wake() wakes. */
void daemon_block_signals(void);
/* Makes the main thread's daemon_wait() return DAEMON_EVENT_WAKE (any thread). */
void daemon_wake(void);
/* Waits up to timeout_usec for a stop or reload signal; sends WATCHDOG=1 whenever
 * half the watchdog interval has passed. */
enum daemon_event daemon_wait(uint64_t timeout_usec);
/* Wrappers over sd_notify(0, ...): no-ops outside systemd. */
void daemon_notify_ready(const char *status);
void daemon_notify_status(const char *status);
void daemon_notify_reloading(void);
void daemon_notify_stopping(void);
/* Sends WATCHDOG=1 when half the watchdog interval has passed since the last one;
 * for long waits outside daemon_wait (a slow query). Main thread only. */
void daemon_watchdog_pet(void);
/* Watchdog interval in usec, or 0 when systemd does not ask for one. */
uint64_t daemon_watchdog_usec(void);
/* Raises the soft RLIMIT_NOFILE to the hard limit, as Go's runtime does at start, so that
 * the HTTP connection limits (not a soft limit of 1024) bound how many clients are served.
 * Logs the result at debug. Returns the soft limit now in force, or -errno when it could
 * not be read (a failed raise leaves the old limit and returns it). Call early in main. */
long daemon_raise_nofile(void);
/* In a child between fork and exec: puts back the soft RLIMIT_NOFILE the daemon started
 * with, for programs that still use select(). Async-signal-safe in practice (one syscall). */
void daemon_restore_nofile(void);

#endif
