/* actuator_kubectl: what the kubectl kind's two files share: actuator_kubectl.c (names,
 * resource types and the validation of an action) and actuator_kubectl_run.c (running
 * kubectl: scale, patch, annotate, rollout restart, revert). Private to them. */
#ifndef HOMEOSTAT_CONTROLLER_ACTUATOR_KUBECTL_H
#define HOMEOSTAT_CONTROLLER_ACTUATOR_KUBECTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "actuator.h"

#define KUBE_MAX_REPLICAS 1000000
#define KUBE_MAX_ANNOTATIONS 64
#define KUBE_MAX_PATCH_BYTES (64u << 10)
#define KUBE_MAX_REASONING_BYTES 1024
#define KUBE_MAX_ANNOTATION_BYTES (256u << 10) /* what the API server accepts in all */
#define KUBE_MAX_ARGS (16 + KUBE_MAX_ANNOTATIONS)

enum kube_verb {
    VERB_SCALE = 1 << 0,
    VERB_PATCH = 1 << 1,
    VERB_ANNOTATE = 1 << 2,
    VERB_RESTART = 1 << 3,
};
#define VERB_ANY (VERB_SCALE | VERB_PATCH | VERB_ANNOTATE | VERB_RESTART)
#define VERB_EDIT (VERB_PATCH | VERB_ANNOTATE)

bool kubectl_dns_label_ok(const char *s, size_t len, size_t max);
int kubectl_find_verb(const json_t *params, const char **ret_key, enum kube_verb *ret_verb,
                      const char **bad_key, char *msg, size_t msg_size);
int kubectl_parse_replicas(const json_t *v, long long *ret_value, bool *ret_relative);
int kubectl_parse_resource(const char *value, enum kube_verb verb, char *resource,
                           size_t resource_size, char *msg, size_t msg_size);

/* The kind's load and validate (struct actuator). */
bool kubectl_load(struct loader *l, struct action_def *a, const struct ytree_node *v,
                  struct buf *sum);
int kubectl_validate(const json_t *params, const char **bad_key, char *msg, size_t msg_size);

#endif
