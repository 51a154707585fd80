/* ha: leader election with fencing for replicated controllers (--ha.backend): exactly one
 * replica acts. Every replica evaluates; only the one holding the lease acts, and it checks
 * that it still holds it immediately before each action, in the same request that writes the
 * shared state (ha_fence), so a leader that was paused or cut off and lost its lease cannot
 * act on waking. No consensus of our own: the backend's (etcd's Raft, the Kubernetes API
 * server's resourceVersion on etcd) decides.
 *
 * A thread renews or tries to acquire the lease every retry period (the Kubernetes
 * defaults: lease 15 s, renew deadline 10 s, retry 2 s). A leader that could not renew for
 * the renew deadline steps down (the backend's lease outlives that by lease - renew
 * deadline, so two replicas never believe themselves leader at once while their clocks run
 * at the same rate). Each backend keeps the shared state (the state file's text, gzipped) in
 * one object bound to the lease: etcd, a key written in a transaction that compares the
 * leader key's create revision; Kubernetes, a ConfigMap written with its resourceVersion
 * right after the Lease was renewed with its own.
 *
 * Knows nothing of the rules or the daemon: the daemon gives the state's bytes and gets
 * told of transitions through a callback. */
#ifndef HOMEOSTAT_CONTROLLER_HA_H
#define HOMEOSTAT_CONTROLLER_HA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum ha_backend_kind { HA_NONE, HA_ETCD, HA_KUBERNETES };

#define HA_MAX_ENDPOINTS 16
/* The shared state's most bytes once gzipped: etcd refuses requests over 1.5 MiB by default
 * (--max-request-bytes) and the API server objects over 1 MiB. Past it the state is not
 * shared (counted, said in the status): a new leader starts from its own. */
#define HA_STATE_MAX_BYTES (900u * 1024u)

struct ha_config {
    enum ha_backend_kind backend;
    const char *identity;   /* this replica's name in the lease (default HOSTNAME-PID) */
    const char *lease_name; /* etcd: the key prefix's last part; Kubernetes: the Lease's name */
    uint64_t lease_usec, renew_deadline_usec, retry_usec; /* 15 s, 10 s, 2 s */
    /* TLS to the backend (PEM files; NULL: none / the system's CAs) */
    const char *ca_file, *cert_file, *key_file;
    /* etcd: endpoints (http://h:p or https://h:p), tried in turn from the last good one;
     * keys under prefix ("/homeostat/" by default): PREFIX LEASE/leader and /state */
    const char *endpoints[HA_MAX_ENDPOINTS];
    size_t n_endpoints;
    const char *prefix;
    /* Kubernetes: the API server's URL, a bearer token file, the namespace; NULL: the
     * in-cluster service account (KUBERNETES_SERVICE_HOST/PORT and
     * /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}); or a
     * kubeconfig file (its current context's cluster and user) */
    const char *kube_url, *kube_token_file, *kube_namespace, *kubeconfig;
};

struct ha;

/* What the daemon is told (from the HA thread, no lock of ha held): became leader (the
 * state it must carry on from is ha_get_state's), or stepped down and why. */
typedef void (*ha_change_fn)(void *ctx, bool leader, const char *why);

/* A backend: one request each, serialised by ha (io lock). Each returns 0 or -errno with a
 * message naming the endpoint in msg. */
struct ha_backend_ops {
    const char *name;
    int (*init)(struct ha *h, char *msg, size_t msg_size);
    /* Acquire (not leader) or renew (leader) the lease: *leader says which we are after it,
     * *holder who holds the lease ("" none). */
    int (*tick)(struct ha *h, bool *leader, char *holder, size_t holder_size, char *msg,
                size_t msg_size);
    /* While holding the lease, in one request bound to it: write data (NULL: only check).
     * -EPERM: the lease is no longer ours. */
    int (*fence)(struct ha *h, const void *data, size_t len, char *msg, size_t msg_size);
    /* The shared state into out (empty when there is none). */
    int (*get)(struct ha *h, struct buf *out, char *msg, size_t msg_size);
    int (*release)(struct ha *h); /* give up the lease (at stop), best effort: 0 or -errno */
    void (*free)(struct ha *h);
};
extern const struct ha_backend_ops ha_etcd_ops, ha_kubernetes_ops;

/* Backends' access to ha's configuration and their own data. */
const struct ha_config *ha_config_of(const struct ha *h);
void *ha_backend_data(const struct ha *h);
void ha_set_backend_data(struct ha *h, void *data);
/* The endpoint a backend uses now, for messages and the status ("" none). */
void ha_set_endpoint(struct ha *h, const char *endpoint);

/* Starts the HA thread (cfg is copied, its strings must outlive h). 0, or -errno with a
 * message (a bad setting; the backend being down is not an error: it is retried). */
int ha_start(const struct ha_config *cfg, ha_change_fn on_change, void *ctx, struct ha **ret,
             char *msg, size_t msg_size);
/* Stops the thread and gives the lease up when held (the next leader does not wait for it
 * to expire). NULL is fine. */
void ha_stop(struct ha *h);

/* Whether this replica may act now as far as it knows (it renewed within the renew
 * deadline). Not a fence: ha_fence is. NULL (no HA): true. */
bool ha_leading(struct ha *h);
/* The fence, immediately before an action: data (the shared state, gzipped here; NULL:
 * none) written bound to the lease. 0: we hold the lease and the state is written; -EPERM:
 * we do not (stepped down, told through the callback); another -errno: the backend could
 * not be asked (not leading: do not act). NULL (no HA): 0. */
int ha_fence(struct ha *h, const void *data, size_t len);
/* The same with data, or alt when data is over the backend's limit gzipped (alt NULL:
 * none). */
int ha_fence_either(struct ha *h, const void *data, size_t len, const void *alt, size_t alt_len);
/* The shared state (gunzipped) into out; empty when none was written. 0 or -errno. */
int ha_get_state(struct ha *h, struct buf *out, char *msg, size_t msg_size);

/* For /api/v1/status and the metrics: {backend, identity, leader, holder, since, endpoint,
 * error, error_time, lease_seconds, ...}, the times in epoch seconds (new reference). */
json_t *ha_status_json(struct ha *h);
struct ha_counters {
    unsigned long long acquired, lost, fenced, errors, state_writes, state_too_large;
    bool leader;
};
void ha_counters(struct ha *h, struct ha_counters *out);

/* Parses "15s"-style durations and the backend's name; for flags. */
int ha_backend_parse(const char *s, enum ha_backend_kind *out);

#endif
