/* fuzz_http: runs one of the daemons in the fuzzing process and sends it raw requests, for
 * the HTTP harnesses. The daemon's own entry (the exporter's main(), renamed by
 * exporter_daemon.c; the controller's controller_run()) runs on a thread with real flags,
 * so a request goes through libmicrohttpd's parsing, common/httpd.c and the daemon's
 * handler exactly as in production. Two ways in: over TCP to the daemon's port, served by
 * its own threads (controller-http, the one harness that keeps the real socket), or over a
 * socketpair handed to a server started with external_loop, whose loop the harness runs
 * itself (exporter-http): no TCP, no thread hop and no timed guesses. */
#ifndef HOMEOSTAT_FUZZ_HTTP_H
#define HOMEOSTAT_FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct httpd;

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

/* Starts main_fn on a thread with argv[0..argc) for a daemon whose httpd_start is wrapped to
 * start its server with external_loop and publish it in *server (see exporter_daemon.c), and
 * waits until it does. Returns the server; a daemon that exits or never starts one is
 * fatal. */
struct httpd *fuzz_http_start_local(fuzz_main_fn main_fn, int argc, const char *const *argv,
                                    struct httpd **server);

/* fuzz_http_exchange without TCP and without waiting: hands one end of a socketpair to the
 * server (httpd_add_connection), sends data on the other and runs the server's loop on this
 * thread (httpd_run) until the reply is complete, the server closes, or the server has read
 * all of the input and waits for more (an incomplete request). A server that stops reading
 * gets the client's end of stream and must then answer or close, else the input fails (a
 * hang). Then closes and runs the loop until the server has closed the connection too, so
 * that all of the input's work happens within the call. Returns the reply's length (kept in
 * a static buffer, *ret_reply); a JSON reply is checked as by fuzz_http_exchange. Prints
 * counts of how the exchanges ended at exit. */
size_t fuzz_http_exchange_local(struct httpd *h, const uint8_t *data, size_t size,
                                const char **ret_reply);

#endif
