/* ingest_net: StatsD receivers on a UDP socket and on a unix datagram socket. Each
 * has one thread reading batches with recvmmsg(2) and applying them to the store
 * under one lock per batch. Datagrams the kernel dropped (SO_RXQ_OVFL) and
 * datagrams cut by the read buffer (MSG_TRUNC) are counted. */
#ifndef HOMEOSTAT_EXPORTER_INGEST_NET_H
#define HOMEOSTAT_EXPORTER_INGEST_NET_H

#include <stddef.h>

#include "ingest_store.h"

struct ingest_listener;

/* Binds "host:port" (UDP; port 0 picks one) and starts reading into store (borrowed,
 * outlives the listener). rcvbuf_bytes > 0 sets SO_RCVBUF (SO_RCVBUFFORCE when
 * privileged). Returns 0 and *ret, or -errno. */
int ingest_listen_udp(const char *address, size_t rcvbuf_bytes, struct ingest_store *store,
                      struct ingest_listener **ret);
/* Binds a unix datagram socket at path (a stale socket file there is replaced; any
 * other file is -EEXIST) and starts reading. The socket file is removed on stop. */
int ingest_listen_unixgram(const char *path, size_t rcvbuf_bytes, struct ingest_store *store,
                           struct ingest_listener **ret);
/* Stops the thread, closes the socket, frees. Accepts NULL. */
void ingest_listener_stop(struct ingest_listener *l);
/* "127.0.0.1:9125" or the socket path (borrowed). */
const char *ingest_listener_address(const struct ingest_listener *l);

#endif
