/* test-actuator-kubectl: the kubectl kind's validation (controller/actuators/
 * actuator_kubectl.c) through actuator_validate, the way the rules loader calls it: one
 * verb per action, the resource types each verb takes, Kubernetes names and namespaces,
 * replicas and their bounds, the keys each verb accepts. Running kubectl against an API
 * server is tests/integration/actuators/actuator_kubectl.sh. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "actuator.h"
#include "test.h"
#include "validate_cases.h"

#define KIND ACTION_KUBECTL

static const struct validate_case cases[] = {
    {"{\"scale\":\"deployment/app\",\"replicas\":3}", true, NULL, NULL},
    {"{\"scale\":\"deployment/app\",\"replicas\":\"+2\",\"max\":10}", true, NULL, NULL},
    {"{\"scale\":\"sts/db\",\"replicas\":\"-1\",\"min\":1}", true, NULL, NULL},
    {"{\"scale\":\"deployment/app\",\"replicas\":\"{{limit}}\"}", false, "replicas",
     "unknown placeholder {{limit}}: use a parameter declared in p"},
    {"{\"scale\":\"deployment/app\"}", false, NULL,
     "scale needs replicas: a number, or \"+N\" / \"-N\" to add or rem"},
    {"{\"scale\":\"pod/x\",\"replicas\":1}", false, "scale",
     "resource type 'pod' is not one of deployment, statefulset, r"},
    {"{\"scale\":\"deployment/App_1\",\"replicas\":1}", false, "scale",
     "name 'App_1' is not a valid Kubernetes name (lower-case lett"},
    {"{\"scale\":\"deployment/app\",\"patch\":\"x\"}", false, "patch",
     "one kubectl action does one thing: it has both scale and pat"},
    {"{}", false, NULL, "kubectl needs one of scale, patch, annotate, rollout_restart"},
    {"{\"scale\":\"deployment/app\",\"replicas\":-1}", false, "replicas",
     "replicas must be a whole number from 0 to 1000000, or a stri"},
    {"{\"scale\":\"deployment/app\",\"replicas\":\"+1\",\"min\":5,\"max\":3}", false, "min",
     "min (5) is above max (3)"},
    {"{\"patch\":\"deployment/app\",\"merge_patch\":{\"spec\":{\"paused\":true}}}", true, NULL,
     NULL},
    {"{\"patch\":\"deployment/app\",\"merge\":{\"a\":1}}", false, "merge",
     "unknown key for kubectl patch: expected namespace, context, "},
    {"{\"annotate\":\"deployment/app\",\"annotations\":{\"example.com/owner\":\"sre\"}}", true,
     NULL, NULL},
    {"{\"annotate\":\"deployment/app\",\"annotations\":{\"Bad Key\":\"x\"}}", false, "annotations",
     "annotation key 'Bad Key' is not valid: [prefix/]name, the pr"},
    {"{\"rollout_restart\":\"deployment/app\"}", true, NULL, NULL},
    {"{\"rollout_restart\":\"service/app\"}", false, "rollout_restart",
     "resource type 'service' is not one of deployment, statefulse"},
    {"{\"scale\":\"deployment/app\",\"replicas\":3,\"namespace\":\"Prod\"}", false, "namespace",
     "namespace must be a DNS-1123 label: lower-case letters, digi"},
    {"{\"scale\":\"deployment/app\",\"replicas\":3,\"bogus\":1}", false, "bogus",
     "unknown key for kubectl scale: expected namespace, context, "},
};

TEST(kubectl_actions_are_checked)
{
    CHECK_INT(validate_cases(KIND, cases, sizeof(cases) / sizeof(cases[0])), 0);
}

TEST_MAIN(TEST_ENTRY(kubectl_actions_are_checked))
