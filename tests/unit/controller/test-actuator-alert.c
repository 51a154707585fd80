/* test-actuator-alert: the alert kind's validation (controller/actuators/actuator_alert.c)
 * through actuator_validate, the way the rules loader calls it: label names (valid, not
 * reserved), the keys it takes, and the placeholders of its annotations. Posting to a real
 * Alertmanager is tests/integration/actuators/actuator_alertmanager.sh. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "actuator.h"
#include "test.h"
#include "validate_cases.h"

#define KIND ACTION_ALERT

static const struct validate_case cases[] = {
    {"{}", true, NULL, NULL},
    {"{\"labels\":{\"service\":\"shop\"},\"annotations\":{\"summary\":\"x\"}}", true, NULL, NULL},
    {"{\"labels\":{\"service\":3}}", true, NULL, NULL},
    {"{\"annotations\":{\"summary\":\"{{state}} now\"}}", true, NULL, NULL},
    {"null", false, NULL, "expected a map of settings"},
    {"{\"labels\":{\"bad-name\":\"x\"}}", false, "labels",
     "'bad-name' is not a valid label name: letters, digits and _,"},
    {"{\"labels\":{\"__x\":\"y\"}}", false, "labels",
     "'__x' is not a valid label name: letters, digits and _, not "},
    {"{\"labels\":{\"alertname\":\"X\"}}", false, "labels",
     "label 'alertname' is set by the alert action itself: use the"},
    {"{\"bogus\":1}", false, "bogus",
     "unknown key 'bogus': an alert takes alertname, severity, lab"},
    {"{\"labels\":\"x\"}", false, "labels", "labels must be a map of name to text"},
    {"{\"annotations\":{\"summary\":\"{{nope}}\"}}", false, "annotations",
     "unknown placeholder {{nope}}: use a parameter declared in pa"},
};

TEST(alert_actions_are_checked)
{
    CHECK_INT(validate_cases(KIND, cases, sizeof(cases) / sizeof(cases[0])), 0);
}

TEST_MAIN(TEST_ENTRY(alert_actions_are_checked))
