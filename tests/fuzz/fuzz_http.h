/* fuzz_http: runs one of the daemons in the fuzzing process and sends it raw requests, for
 * the HTTP harnesses. The daemon's own main() (renamed, see exporter_daemon.c and
 * controller_daemon.c) runs on a thread with real flags on a loopback port, so a request
 * goes through libmicrohttpd's parsing, common/httpd.c and the daemon's handler exactly as
 * in production. */
#ifndef HOMEOSTAT_FUZZ_HTTP_H
#define HOMEOSTAT_FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef int (*fuzz_main_fn)(int argc, char **argv);

/* A private directory for the daemon's files (state, audit log, configuration), created on
 * the first call (in /dev/shm when it is writable: fsync is free there) and removed with its
 * files at exit. Returns the path (static storage). */
const char *fuzz_http_dir(void);
/* Writes text to DIR/name; returns the path (static storage, one per name up to 8). */
const char *fuzz_http_write(const char *name, const char *text);

/* Starts main_fn on a thread with argv[0..argc) plus "--web.listen-address=127.0.0.1:PORT"
 * for a free port, and waits until the port accepts connections (again with another port
 * when the daemon exits, as when the port was taken meanwhile). Returns the port; a daemon
 * that never comes up is fatal. */
unsigned fuzz_http_start(fuzz_main_fn main_fn, int argc, const char *const *argv);

/* Connects to the port, sends data and reads the reply until it is complete or the server
 * closes (see fuzz_http.c for how an incomplete request ends), then resets the connection.
 * Returns the reply's length (kept in a static buffer, *ret_reply), or fails the input when
 * the server neither answers a whole request nor closes within the timeouts (a hang).
 * Prints counts of how the exchanges ended at exit. */
size_t fuzz_http_exchange(unsigned port, const uint8_t *data, size_t size, const char **ret_reply);

#endif
