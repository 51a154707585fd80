/* actuator_systemd: changes the resource control of a systemd unit (cpu_quota,
 * memory_high, tasks_max, cpu_weight) with the manager's SetUnitProperties(runtime=true)
 * over D-Bus, after reading the values it replaces so that revert can put them back.
 * Each call opens its own bus connection and closes it before returning: the daemon
 * runs actions from several threads and an sd_bus object belongs to one thread. Every
 * D-Bus call is bounded by what is left of the action's timeout. Exports
 * actuator_systemd (actuator.h). */
#include "actuator.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "parse.h"
#include "rules_loader.h"

#define SYSD_DEST "org.freedesktop.systemd1"
#define SYSD_PATH "/org/freedesktop/systemd1"
#define SYSD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SYSD_UNIT_NAME_MAX 255 /* systemd's UNIT_NAME_MAX less the NUL */
#define SYSD_INFINITY UINT64_MAX
#define SYSD_CPU_QUOTA_MIN_PERCENT 1.0
#define SYSD_CPU_QUOTA_MAX_PERCENT 100000.0
#define SYSD_CPU_WEIGHT_MAX 10000

enum sysd_prop {
    SYSD_CPU_QUOTA,
    SYSD_MEMORY_HIGH,
    SYSD_TASKS_MAX,
    SYSD_CPU_WEIGHT,
    SYSD_PROP_MAX,
};

/* The rules' keys and the unit properties they set, all of D-Bus type 't'. */
static const struct {
    const char *key;
    const char *property;
} sysd_props[SYSD_PROP_MAX] = {
    [SYSD_CPU_QUOTA] = {"cpu_quota", "CPUQuotaPerSecUSec"},
    [SYSD_MEMORY_HIGH] = {"memory_high", "MemoryHigh"},
    [SYSD_TASKS_MAX] = {"tasks_max", "TasksMax"},
    [SYSD_CPU_WEIGHT] = {"cpu_weight", "CPUWeight"},
};

/* The unit types that have these properties, with the interface that carries them. */
static const struct {
    const char *suffix;
    const char *iface;
} sysd_types[] = {
    {".service", "org.freedesktop.systemd1.Service"},
    {".slice", "org.freedesktop.systemd1.Slice"},
    {".scope", "org.freedesktop.systemd1.Scope"},
    {".socket", "org.freedesktop.systemd1.Socket"},
    {".mount", "org.freedesktop.systemd1.Mount"},
    {".swap", "org.freedesktop.systemd1.Swap"},
};

#define SYSD_KEYS "unit, cpu_quota, memory_high, tasks_max, cpu_weight, timeout, retries, backoff"

/* What one apply asks for: the unit and the values of the properties it sets. */
struct sysd_req {
    const char *unit;  /* borrowed from params */
    const char *iface; /* the type's interface (static) */
    bool has[SYSD_PROP_MAX];
    uint64_t value[SYSD_PROP_MAX];
};

/* The interface of a valid unit name whose type has resource control, or NULL. Follows
 * systemd's unit_name_is_valid: 1..255 characters of letters, digits and ":-_.\", at
 * most one '@' that is neither first nor right before the type suffix (a template
 * without its instance cannot be changed), a non-empty prefix, a known suffix. */
static const char *unit_iface(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > SYSD_UNIT_NAME_MAX)
        return NULL;
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return NULL;
    const char *iface = NULL;
    for (size_t i = 0; i < sizeof(sysd_types) / sizeof(sysd_types[0]); i++)
        if (strcmp(dot, sysd_types[i].suffix) == 0)
            iface = sysd_types[i].iface;
    if (!iface)
        return NULL;
    const char *at = NULL;
    for (const char *p = name; p < dot; p++) {
        char c = *p;
        if (c == '@') {
            if (at || p == name || p + 1 == dot)
                return NULL;
            at = p;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == ':' || c == '-' || c == '_' || c == '.' || c == '\\')) {
            return NULL;
        }
    }
    return iface;
}

static bool has_placeholder(const json_t *v)
{
    return json_is_string(v) && strstr(json_string_value(v), "{{") != NULL;
}

/* A whole number >= min from a JSON integer or a string of digits. */
static int whole_number(const json_t *v, uint64_t min, uint64_t *ret)
{
    unsigned long long u;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -EINVAL;
        u = (unsigned long long)json_integer_value(v);
    } else if (!json_is_string(v) || parse_u64(json_string_value(v), &u) < 0) {
        return -EINVAL;
    }
    if (u < min)
        return -EINVAL;
    *ret = u;
    return 0;
}

static bool is_infinity(const json_t *v)
{
    return json_is_string(v) && strcmp(json_string_value(v), "infinity") == 0;
}

/* cpu_quota: "50%", a number of percent, or "infinity" -> CPUQuotaPerSecUSec. */
static int parse_cpu_quota(const json_t *v, uint64_t *ret)
{
    double percent;
    if (is_infinity(v)) {
        *ret = SYSD_INFINITY;
        return 0;
    }
    if (json_is_number(v)) {
        percent = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        char num[32];
        if (n < 2 || n >= sizeof(num) || s[n - 1] != '%')
            return -EINVAL;
        memcpy(num, s, n - 1);
        num[n - 1] = '\0';
        if (parse_double(num, &percent) < 0)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (!isfinite(percent) || percent < SYSD_CPU_QUOTA_MIN_PERCENT ||
        percent > SYSD_CPU_QUOTA_MAX_PERCENT)
        return -EINVAL;
    /* One percent of a CPU is 10 ms of CPU time per second. */
    *ret = (uint64_t)llround(percent * 10000.0);
    return 0;
}

/* memory_high: "512M" (1024-based), a number of bytes, or "infinity" -> MemoryHigh. */
static int parse_memory_high(const json_t *v, uint64_t *ret)
{
    uint64_t bytes;
    if (is_infinity(v)) {
        *ret = SYSD_INFINITY;
        return 0;
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 1)
            return -EINVAL;
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v) || parse_size_bytes(json_string_value(v), &bytes) < 0 || bytes == 0)
        return -EINVAL;
    *ret = bytes;
    return 0;
}

/* tasks_max: a whole number >= 1 or "infinity" -> TasksMax. */
static int parse_tasks_max(const json_t *v, uint64_t *ret)
{
    if (is_infinity(v)) {
        *ret = SYSD_INFINITY;
        return 0;
    }
    return whole_number(v, 1, ret);
}

/* cpu_weight: 1..10000 -> CPUWeight. */
static int parse_cpu_weight(const json_t *v, uint64_t *ret)
{
    uint64_t w;
    if (whole_number(v, 1, &w) < 0 || w > SYSD_CPU_WEIGHT_MAX)
        return -EINVAL;
    *ret = w;
    return 0;
}

static int (*const sysd_parsers[SYSD_PROP_MAX])(const json_t *, uint64_t *) = {
    [SYSD_CPU_QUOTA] = parse_cpu_quota,
    [SYSD_MEMORY_HIGH] = parse_memory_high,
    [SYSD_TASKS_MAX] = parse_tasks_max,
    [SYSD_CPU_WEIGHT] = parse_cpu_weight,
};

static const char *const sysd_hints[SYSD_PROP_MAX] = {
    [SYSD_CPU_QUOTA] = "must be a percentage of one CPU from 1% to 100000%, such as \"50%\" "
                       "(\"200%\" is two CPUs), or \"infinity\"",
    [SYSD_MEMORY_HIGH] = "must be a size such as \"512M\" or \"2G\" (powers of 1024), a number "
                         "of bytes of at least 1, or \"infinity\"",
    [SYSD_TASKS_MAX] = "must be a whole number of at least 1, or \"infinity\"",
    [SYSD_CPU_WEIGHT] = "must be a whole number from 1 to 10000 (the default weight is 100)",
};

/* Checks params into req. With placeholders allowed (at load time), a string holding a
 * {{placeholder}} passes unchecked: actuator_run checks the expanded value again. */
static int parse_params(const json_t *params, bool placeholders, struct sysd_req *req,
                        const char **bad_key, char *msg, size_t msg_size)
{
    memset(req, 0, sizeof(*req));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)params, k, v)
    {
        bool known = strcmp(k, "unit") == 0 || actuator_generic_key(k);
        for (size_t i = 0; i < SYSD_PROP_MAX; i++)
            known |= strcmp(k, sysd_props[i].key) == 0;
        if (!known) {
            *bad_key = k;
            snprintf(msg, msg_size, "unknown key; a systemd action takes %s", SYSD_KEYS);
            return -EINVAL;
        }
    }
    const json_t *unit = json_object_get(params, "unit");
    if (!unit) {
        snprintf(msg, msg_size, "missing unit: the systemd unit to change, such as app.service");
        return -EINVAL;
    }
    if (!json_is_string(unit)) {
        *bad_key = "unit";
        snprintf(msg, msg_size, "unit must be a string, such as app.service");
        return -EINVAL;
    }
    req->unit = json_string_value(unit);
    if (!(placeholders && has_placeholder(unit)) && !(req->iface = unit_iface(req->unit))) {
        *bad_key = "unit";
        snprintf(msg, msg_size,
                 "'%.60s' is not a unit with resource control: NAME.TYPE (255 at most), NAME of "
                 "letters, digits, :-_.\\ and one @ before an instance (foo@bar.service), TYPE "
                 "service, slice, scope, socket, mount or swap",
                 req->unit);
        return -EINVAL;
    }
    bool any = false;
    for (size_t i = 0; i < SYSD_PROP_MAX; i++) {
        const json_t *pv = json_object_get(params, sysd_props[i].key);
        if (!pv)
            continue;
        any = true;
        if (placeholders && has_placeholder(pv))
            continue;
        if (sysd_parsers[i](pv, &req->value[i]) < 0) {
            *bad_key = sysd_props[i].key;
            snprintf(msg, msg_size, "%s %s", sysd_props[i].key, sysd_hints[i]);
            return -EINVAL;
        }
        req->has[i] = true;
    }
    if (!any) {
        snprintf(msg, msg_size,
                 "nothing to set: give at least one of cpu_quota, memory_high, tasks_max, "
                 "cpu_weight");
        return -EINVAL;
    }
    return 0;
}

static int validate_systemd(const json_t *params, const char **bad_key, char *msg, size_t msg_size)
{
    struct sysd_req req;
    return parse_params(params, true, &req, bad_key, msg, msg_size);
}

/* ---- values as JSON ---- */

/* A property value as JSON: a number, "infinity" for UINT64_MAX, and decimal text above
 * what a JSON integer holds. New reference. */
static json_t *value_json(uint64_t v)
{
    if (v == SYSD_INFINITY)
        return json_string("infinity");
    if (v > (uint64_t)INT64_MAX) {
        char text[24];
        snprintf(text, sizeof(text), "%" PRIu64, v);
        return json_string(text);
    }
    return json_integer((json_int_t)v);
}

/* The inverse of value_json. */
static int value_from_json(const json_t *v, uint64_t *ret)
{
    if (is_infinity(v)) {
        *ret = SYSD_INFINITY;
        return 0;
    }
    return whole_number(v, 0, ret);
}

/* ---- the bus ---- */

/* One connection for one apply or revert. */
struct sysd_conn {
    sd_bus *bus;
    const char *unit;       /* for messages */
    const char *bus_kind;   /* "system" or "user" */
    uint64_t timeout_usec;  /* the action's */
    uint64_t deadline_usec; /* CLOCK_MONOTONIC */
};

/* The error text of an action, made one line. */
static void conn_fail(struct action_result *res, enum act_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_fail(struct action_result *res, enum act_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    for (char *p = res->error; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    res->status = status;
}

static bool transient_errno(int e)
{
    return e == ETIMEDOUT || e == ECONNRESET || e == ECONNREFUSED || e == ECONNABORTED ||
           e == ENOTCONN || e == EPIPE || e == ESHUTDOWN || e == EAGAIN || e == ENOBUFS;
}

/* Whether a failed call is worth another attempt: the bus timed out, the peer did not
 * answer or the connection broke. An error reply from systemd is permanent. */
static bool transient_error(const sd_bus_error *e, int r)
{
    if (sd_bus_error_has_names(e, SD_BUS_ERROR_TIMEOUT, SD_BUS_ERROR_NO_REPLY,
                               SD_BUS_ERROR_DISCONNECTED, SD_BUS_ERROR_NO_SERVER,
                               SD_BUS_ERROR_LIMITS_EXCEEDED, "org.freedesktop.DBus.Error.TimedOut"))
        return true;
    if (sd_bus_error_is_set(e) && strncmp(e->name, "System.Error.", 13) != 0)
        return false;
    return transient_errno(-r);
}

static uint64_t conn_left(const struct sysd_conn *c)
{
    uint64_t now = now_usec();
    return now < c->deadline_usec ? c->deadline_usec - now : 0;
}

/* Where the bus is, for error messages only (sd-bus reads the same variables). */
static const char *bus_address_hint(bool user, char *buf, size_t size)
{
    const char *a = getenv(user ? "DBUS_SESSION_BUS_ADDRESS" : "DBUS_SYSTEM_BUS_ADDRESS");
    if (a && *a)
        return a;
    if (!user)
        return "unix:path=/run/dbus/system_bus_socket";
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (!rt || !*rt)
        return "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set";
    snprintf(buf, size, "unix:path=%s/bus", rt);
    return buf;
}

/* Connects to the system or user bus and waits (within the deadline) until it is ready
 * for calls. 0, or -errno with res filled. */
static int conn_open(struct sysd_conn *c, bool user, const char *unit, uint64_t timeout_usec,
                     struct action_result *res)
{
    memset(c, 0, sizeof(*c));
    c->unit = unit;
    c->bus_kind = user ? "user" : "system";
    c->timeout_usec = timeout_usec;
    c->deadline_usec = now_usec() + timeout_usec;
    char hint[300];
    int r = user ? sd_bus_open_user(&c->bus) : sd_bus_open_system(&c->bus);
    if (r >= 0)
        r = sd_bus_set_allow_interactive_authorization(c->bus, 0);
    /* Authentication and Hello: sd_bus_call would wait for them without a bound. */
    while (r >= 0) {
        r = sd_bus_is_ready(c->bus);
        if (r != 0)
            break;
        r = sd_bus_process(c->bus, NULL);
        if (r != 0)
            continue;
        uint64_t left = conn_left(c);
        if (left == 0) {
            r = -ETIMEDOUT;
            break;
        }
        r = sd_bus_wait(c->bus, left);
        if (r == -EINTR)
            r = 0;
    }
    if (r > 0)
        return 0;
    if (r == 0)
        r = -ENOTCONN;
    c->bus = sd_bus_flush_close_unref(c->bus);
    /* sd-bus says ECONNREFUSED for a malformed address too: only these are certain. */
    bool permanent = r == -EACCES || r == -EPERM || r == -EINVAL || r == -ENOMEDIUM;
    conn_fail(res, permanent ? ACT_FAIL : ACT_RETRY,
              "systemd %s: cannot connect to the %s bus (%s)%s%s", unit, c->bus_kind,
              bus_address_hint(user, hint, sizeof(hint)), r == -ENOMEDIUM ? "" : ": ",
              r == -ENOMEDIUM ? "" : strerror(-r));
    return r;
}

static void conn_close(struct sysd_conn *c)
{
    c->bus = sd_bus_flush_close_unref(c->bus);
}

/* Sends m and waits for its reply within what is left of the deadline. 0 and *ret_reply
 * (caller unrefs), or -errno with res filled; what names the call for the message. */
static int conn_call(struct sysd_conn *c, sd_bus_message *m, const char *what,
                     sd_bus_message **ret_reply, struct action_result *res)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    uint64_t left = conn_left(c);
    int r;
    if (left == 0) {
        conn_fail(res, ACT_RETRY, "systemd %s: timed out after %gs before %s on the %s bus",
                  c->unit, (double)c->timeout_usec / 1e6, what, c->bus_kind);
        return -ETIMEDOUT;
    }
    r = sd_bus_call(c->bus, m, left, &e, ret_reply);
    if (r >= 0)
        return 0;
    enum act_status status = transient_error(&e, r) ? ACT_RETRY : ACT_FAIL;
    if (sd_bus_error_is_set(&e))
        conn_fail(res, status, "systemd %s: %s: %s (%s on the %s bus, timeout %gs)", c->unit,
                  e.name, e.message ? e.message : strerror(-r), what, c->bus_kind,
                  (double)c->timeout_usec / 1e6);
    else
        conn_fail(res, status, "systemd %s: %s on the %s bus: %s", c->unit, what, c->bus_kind,
                  strerror(-r));
    sd_bus_error_free(&e);
    return r;
}

static int build_failed(struct sysd_conn *c, const char *what, int r, struct action_result *res)
{
    conn_fail(res, ACT_FAIL, "systemd %s: cannot build the %s call: %s", c->unit, what,
              strerror(-r));
    return r;
}

/* Manager.LoadUnit: the unit's object path (caller frees). */
static int load_unit(struct sysd_conn *c, char **ret_path, struct action_result *res)
{
    sd_bus_message *m = NULL, *reply = NULL;
    const char *path;
    int r =
        sd_bus_message_new_method_call(c->bus, &m, SYSD_DEST, SYSD_PATH, SYSD_MANAGER, "LoadUnit");
    if (r >= 0)
        r = sd_bus_message_append(m, "s", c->unit);
    if (r < 0) {
        sd_bus_message_unref(m);
        return build_failed(c, "LoadUnit", r, res);
    }
    r = conn_call(c, m, "LoadUnit", &reply, res);
    sd_bus_message_unref(m);
    if (r < 0)
        return r;
    r = sd_bus_message_read(reply, "o", &path);
    if (r >= 0 && !(*ret_path = strdup(path)))
        r = -ENOMEM;
    sd_bus_message_unref(reply);
    if (r < 0)
        conn_fail(res, ACT_FAIL, "systemd %s: LoadUnit did not answer an object path: %s", c->unit,
                  strerror(-r));
    return r;
}

/* Properties.Get of one property of type (a basic type: 't' or 's') into ret. */
static int get_property(struct sysd_conn *c, const char *path, const char *iface, const char *name,
                        char type, void *ret, struct action_result *res)
{
    sd_bus_message *m = NULL, *reply = NULL;
    char what[160], sig[2] = {type, '\0'};
    snprintf(what, sizeof(what), "Get %s.%s", iface, name);
    int r = sd_bus_message_new_method_call(c->bus, &m, SYSD_DEST, path,
                                           "org.freedesktop.DBus.Properties", "Get");
    if (r >= 0)
        r = sd_bus_message_append(m, "ss", iface, name);
    if (r < 0) {
        sd_bus_message_unref(m);
        return build_failed(c, what, r, res);
    }
    r = conn_call(c, m, what, &reply, res);
    sd_bus_message_unref(m);
    if (r < 0)
        return r;
    r = sd_bus_message_enter_container(reply, 'v', sig);
    if (r > 0)
        r = sd_bus_message_read_basic(reply, type, ret);
    if (r == 0)
        r = -ENXIO;
    sd_bus_message_unref(reply);
    if (r < 0)
        conn_fail(res, ACT_FAIL, "systemd %s: %s is not of D-Bus type '%c'", c->unit, what + 4,
                  type);
    return r;
}

/* The unit must have loaded: SetUnitProperties would refuse a unit that is not found,
 * masked or broken, and Get answers defaults for it, which must not pass as values. */
static int check_load_state(struct sysd_conn *c, const char *path, struct action_result *res)
{
    const char *state = NULL;
    sd_bus_message *m = NULL, *reply = NULL;
    int r = sd_bus_message_new_method_call(c->bus, &m, SYSD_DEST, path,
                                           "org.freedesktop.DBus.Properties", "Get");
    if (r >= 0)
        r = sd_bus_message_append(m, "ss", SYSD_UNIT_IFACE, "LoadState");
    if (r < 0) {
        sd_bus_message_unref(m);
        return build_failed(c, "Get LoadState", r, res);
    }
    r = conn_call(c, m, "Get " SYSD_UNIT_IFACE ".LoadState", &reply, res);
    sd_bus_message_unref(m);
    if (r < 0)
        return r;
    r = sd_bus_message_read(reply, "v", "s", &state);
    if (r < 0) {
        sd_bus_message_unref(reply);
        conn_fail(res, ACT_FAIL, "systemd %s: LoadState is not a string", c->unit);
        return r;
    }
    r = 0;
    if (strcmp(state, "not-found") == 0) {
        conn_fail(res, ACT_FAIL,
                  "systemd %s: org.freedesktop.systemd1.NoSuchUnit: Unit %s not found. "
                  "(LoadState not-found on the %s bus)",
                  c->unit, c->unit, c->bus_kind);
        r = -ENOENT;
    } else if (strcmp(state, "masked") == 0) {
        conn_fail(res, ACT_FAIL,
                  "systemd %s: org.freedesktop.systemd1.UnitMasked: Unit %s is masked. "
                  "(LoadState masked on the %s bus)",
                  c->unit, c->unit, c->bus_kind);
        r = -ESHUTDOWN;
    } else if (strcmp(state, "loaded") != 0) {
        conn_fail(res, ACT_FAIL,
                  "systemd %s: the unit did not load properly (LoadState %.40s on the %s bus)",
                  c->unit, state, c->bus_kind);
        r = -EINVAL;
    }
    sd_bus_message_unref(reply);
    return r;
}

/* Manager.SetUnitProperties(unit, runtime=true, [(property, <t value>)...]). */
static int set_properties(struct sysd_conn *c, const bool has[], const uint64_t value[],
                          struct action_result *res)
{
    sd_bus_message *m = NULL, *reply = NULL;
    int r = sd_bus_message_new_method_call(c->bus, &m, SYSD_DEST, SYSD_PATH, SYSD_MANAGER,
                                           "SetUnitProperties");
    if (r >= 0)
        r = sd_bus_message_append(m, "sb", c->unit, 1);
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "(sv)");
    for (size_t i = 0; r >= 0 && i < SYSD_PROP_MAX; i++)
        if (has[i])
            r = sd_bus_message_append(m, "(sv)", sysd_props[i].property, "t", value[i]);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r < 0) {
        sd_bus_message_unref(m);
        return build_failed(c, "SetUnitProperties", r, res);
    }
    r = conn_call(c, m, "SetUnitProperties", &reply, res);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return r;
}

/* {"Property": value, ...} of the properties in has. New reference. */
static json_t *values_json(const bool has[], const uint64_t value[])
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < SYSD_PROP_MAX; i++)
        if (has[i])
            json_object_set_new(o, sysd_props[i].property, value_json(value[i]));
    return o;
}

static bool ctx_user_bus(const struct action_ctx *ctx)
{
    return ctx && ctx->env && ctx->env->systemd_user_bus;
}

static void apply_systemd(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                          struct action_result *res)
{
    struct sysd_req req;
    const char *bad_key = NULL;
    char msg[400];
    if (parse_params(params, false, &req, &bad_key, msg, sizeof(msg)) < 0) {
        action_fail(res, ACT_FAIL, "systemd: %s%s%s", bad_key ? bad_key : "", bad_key ? ": " : "",
                    msg);
        return;
    }
    bool dry_run = ctx && ctx->server_dry_run;
    struct sysd_conn c;
    char *path = NULL;
    uint64_t prev[SYSD_PROP_MAX] = {0};
    if (conn_open(&c, ctx_user_bus(ctx), req.unit, timeout_usec, res) < 0)
        return;
    int r = load_unit(&c, &path, res);
    if (r >= 0)
        r = check_load_state(&c, path, res);
    for (size_t i = 0; r >= 0 && i < SYSD_PROP_MAX; i++)
        if (req.has[i])
            r = get_property(&c, path, req.iface, sysd_props[i].property, 't', &prev[i], res);
    bool sent = false;
    if (r >= 0 && !dry_run) {
        r = set_properties(&c, req.has, req.value, res);
        sent = true;
    }
    conn_close(&c);

    json_t *d = json_object();
    json_object_set_new(d, "unit", json_string(req.unit));
    json_object_set_new(d, "bus", json_string(c.bus_kind));
    if (path)
        json_object_set_new(d, "object_path", json_string(path));
    if (dry_run) {
        json_object_set_new(d, "dry_run", json_true());
        json_object_set_new(d, "checked", json_boolean(r >= 0));
        json_object_set_new(d, "would_set", values_json(req.has, req.value));
    } else {
        /* "set" once systemd took them; until then they were only asked for. */
        json_object_set_new(d, r >= 0 ? "set" : "requested", values_json(req.has, req.value));
    }
    if (r >= 0 || sent)
        json_object_set_new(d, "previous", values_json(req.has, prev));
    res->detail = d;
    /* A call that timed out may still have been applied: keep what revert needs. */
    if (sent && (r >= 0 || res->status == ACT_RETRY)) {
        json_t *u = json_object();
        json_object_set_new(u, "unit", json_string(req.unit));
        json_object_set_new(u, "properties", values_json(req.has, prev));
        res->undo = u;
    }
    free(path);
    if (r >= 0)
        res->status = ACT_OK;
}

static void revert_systemd(const json_t *params, const json_t *undo, const struct action_ctx *ctx,
                           uint64_t timeout_usec, struct action_result *res)
{
    const json_t *u = json_object_get(undo, "unit");
    if (!u)
        u = json_object_get(params, "unit");
    const char *unit = json_string_value(u);
    if (!unit || !unit_iface(unit)) {
        action_fail(res, ACT_FAIL, "systemd: revert: the undo record names no valid unit");
        return;
    }
    const json_t *props = json_object_get(undo, "properties");
    bool has[SYSD_PROP_MAX] = {false};
    uint64_t value[SYSD_PROP_MAX] = {0};
    if (!json_is_object(props)) {
        action_fail(res, ACT_FAIL, "systemd %s: revert: the undo record has no properties", unit);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v)
    {
        size_t i;
        for (i = 0; i < SYSD_PROP_MAX; i++)
            if (strcmp(k, sysd_props[i].property) == 0)
                break;
        if (i == SYSD_PROP_MAX || value_from_json(v, &value[i]) < 0) {
            action_fail(res, ACT_FAIL,
                        "systemd %s: revert: bad property '%.60s' in the undo record", unit, k);
            return;
        }
        has[i] = true;
    }
    bool dry_run = ctx && ctx->server_dry_run;
    struct sysd_conn c;
    char *path = NULL;
    if (conn_open(&c, ctx_user_bus(ctx), unit, timeout_usec, res) < 0)
        return;
    int r;
    if (dry_run) {
        r = load_unit(&c, &path, res);
        if (r >= 0)
            r = check_load_state(&c, path, res);
    } else {
        r = set_properties(&c, has, value, res);
    }
    conn_close(&c);
    json_t *d = json_object();
    json_object_set_new(d, "unit", json_string(unit));
    json_object_set_new(d, "bus", json_string(c.bus_kind));
    if (path)
        json_object_set_new(d, "object_path", json_string(path));
    if (dry_run) {
        json_object_set_new(d, "dry_run", json_true());
        json_object_set_new(d, "checked", json_boolean(r >= 0));
    }
    json_object_set_new(d,
                        dry_run  ? "would_set"
                        : r >= 0 ? "set"
                                 : "requested",
                        values_json(has, value));
    res->detail = d;
    free(path);
    if (r >= 0)
        res->status = ACT_OK;
}

/* The body: a map with a unit, which the summary names first. */
/* A regulator's read back: the one property whose value is made of {{output}}, as systemd
 * has it now (infinity: +Inf) and as params ask for it, in the property's units. */
static int read_systemd(const json_t *raw, const json_t *params, const struct action_ctx *ctx,
                        uint64_t timeout_usec, double *ret_now, double *ret_asked,
                        struct action_result *res)
{
    size_t which = SYSD_PROP_MAX;
    for (size_t i = 0; i < SYSD_PROP_MAX; i++) {
        const char *v = json_string_value(json_object_get(raw, sysd_props[i].key));
        if (v && strstr(v, "{{output}}")) {
            if (which != SYSD_PROP_MAX)
                return -EOPNOTSUPP; /* two values from one output: none is the output */
            which = i;
        }
    }
    if (which == SYSD_PROP_MAX)
        return -EOPNOTSUPP;
    struct sysd_req req;
    const char *bad_key = NULL;
    char msg[400];
    if (parse_params(params, false, &req, &bad_key, msg, sizeof(msg)) < 0) {
        action_fail(res, ACT_FAIL, "systemd: %s%s%s", bad_key ? bad_key : "", bad_key ? ": " : "",
                    msg);
        return -EIO;
    }
    struct sysd_conn c;
    char *path = NULL;
    uint64_t now = 0;
    if (conn_open(&c, ctx_user_bus(ctx), req.unit, timeout_usec, res) < 0)
        return -EIO;
    int r = load_unit(&c, &path, res);
    if (r >= 0)
        r = check_load_state(&c, path, res);
    if (r >= 0)
        r = get_property(&c, path, req.iface, sysd_props[which].property, 't', &now, res);
    conn_close(&c);
    free(path);
    if (r < 0)
        return -EIO;
    *ret_now = now == UINT64_MAX ? INFINITY : (double)now;
    *ret_asked = req.value[which] == UINT64_MAX ? INFINITY : (double)req.value[which];
    return 0;
}

static bool load_systemd(struct loader *l, struct action_def *a, const struct ytree_node *v,
                         struct buf *sum)
{
    static const char *const primary[] = {"unit", NULL};
    const struct ytree_node *x;
    const char *s;
    if (!loader_action_map(l, a, v))
        return false;
    if (!(x = ytree_get(v, "unit"))) {
        loader_report(l, v, "systemd needs a unit");
        return false;
    }
    if (!loader_get_text(l, x, "unit", 256, &s))
        return false;
    buf_printf(sum, " %s", s);
    return loader_action_params(l, a, v, sum, primary);
}

const struct actuator actuator_systemd = {
    .kind = ACTION_SYSTEMD,
    .name = "systemd",
    .load = load_systemd,
    .validate = validate_systemd,
    .apply = apply_systemd,
    .revert = revert_systemd,
    .read = read_systemd,
    .default_timeout_usec = 5000000,
    .default_retries = 1,
};
