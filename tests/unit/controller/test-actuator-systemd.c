/* test-actuator-systemd: controller/actuators/actuator_systemd.c without a real systemd:
 * validate() on good and bad values (messages and bad keys, through actuator_validate as
 * the rules loader calls it), apply against a bus address where nothing listens (a clear
 * error, ACT_RETRY), bad undo records, and an in-process fake systemd (sd-bus in server
 * mode on a unix socket in a temporary directory, one thread) that answers Hello,
 * LoadUnit, Properties.Get and SetUnitProperties and records the last call: the values on
 * the wire for every accepted form (percent, sizes, bytes, infinity), runtime=true, the
 * undo record and its revert, a D-Bus error reply, and server dry run. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "actuator.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------------------- */

static struct actuator_env env = {.alert_resend_usec = 60000000};

static struct action_ctx make_ctx(void)
{
    struct action_ctx ctx = {
        .decision_id = "d-7",
        .state = "critical",
        .from = "optimal",
        .reasoning = "cpu_busy=0.93 > 0.85",
        .confidence = 0.9,
        .time = 1700000000.0,
        .env = &env,
    };
    return ctx;
}

/* actuator_validate on a JSON text: the message and the bad key in *bad ("" for none);
 * NULL when valid. */
static const char *validate_text(const char *json, const char **bad)
{
    static char msg[512];
    json_error_t e;
    json_t *p = json_loads(json, 0, &e);
    if (!p) {
        snprintf(msg, sizeof(msg), "test JSON does not parse: %s", e.text);
        *bad = "";
        return msg;
    }
    static const char *const declared[] = {"quota", "unit", NULL};
    static char key[64];
    const char *bad_key = NULL;
    int r = actuator_validate(ACTION_SYSTEMD, p, declared, &bad_key, msg, sizeof(msg));
    /* bad_key may point into p. */
    snprintf(key, sizeof(key), "%s", bad_key ? bad_key : "");
    json_decref(p);
    *bad = key;
    return r < 0 ? msg : NULL;
}

#define CHECK_VALID(json)                                                                          \
    do {                                                                                           \
        const char *_bad, *_m = validate_text(json, &_bad);                                        \
        if (_m)                                                                                    \
            TEST_FAIL("%s rejected: %s%s%s", json, _bad, *_bad ? ": " : "", _m);                   \
    } while (0)

/* Rejected, with key as the bad key ("" for the action itself) and msg_part in the text. */
#define CHECK_INVALID(json, key, msg_part)                                                         \
    do {                                                                                           \
        const char *_bad, *_m = validate_text(json, &_bad);                                        \
        if (!_m)                                                                                   \
            TEST_FAIL("%s accepted", json);                                                        \
        CHECK_STR(_bad, key);                                                                      \
        CHECK_CONTAINS(_m, msg_part);                                                              \
    } while (0)

/* Runs the action from a JSON text through actuator_run; res to be cleared by the caller. */
static void run_text(const char *json, const struct action_ctx *ctx, struct action_result *res)
{
    json_t *p = json_loads(json, 0, NULL);
    struct action_def a = {.kind = ACTION_SYSTEMD, .params = p, .summary = (char *)"test"};
    actuator_run(&a, ctx, res, NULL);
    json_decref(p);
}

static char *dumps(const json_t *v)
{
    static char text[1024];
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(text, sizeof(text), "%s", s ? s : "null");
    free(s);
    return text;
}

/* ---- validate ---------------------------------------------------------------------- */

TEST(validate_accepts_every_form)
{
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": \"50%\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": \"12.5%\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": 250}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": 1.5}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": \"100000%\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": \"infinity\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"memory_high\": \"512M\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"memory_high\": \"64K\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"memory_high\": \"1G\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"memory_high\": 1048576}");
    CHECK_VALID("{\"unit\": \"app.service\", \"memory_high\": \"infinity\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"tasks_max\": 1}");
    CHECK_VALID("{\"unit\": \"app.service\", \"tasks_max\": \"300\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"tasks_max\": \"infinity\"}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_weight\": 1}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_weight\": 10000}");
    CHECK_VALID("{\"unit\": \"app.service\", \"cpu_quota\": \"50%\", \"memory_high\": \"1G\", "
                "\"tasks_max\": 100, \"cpu_weight\": 50, \"timeout\": \"2s\", \"retries\": 3, "
                "\"backoff\": \"500ms\"}");
}

TEST(validate_unit_names)
{
    static const char *const good[] = {
        "app.service",       "user.slice",
        "-.slice",           "session-4.scope",
        "sshd.socket",       "home.mount",
        "dev-sda2.swap",     "getty@tty1.service",
        "a:b_c-d.e.service", "dev-disk-by\\\\x2dlabel-data.mount",
    };
    char json[512];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(json, sizeof(json), "{\"unit\": \"%s\", \"cpu_weight\": 10}", good[i]);
        CHECK_VALID(json);
    }
    static const char *const bad[] = {
        "",
        "app",
        ".service",
        "app.timer",
        "app.target",
        "app.device",
        "foo@.service",
        "@foo.service",
        "a@b@c.service",
        "app service.service",
        "app/x.service",
        "app.service.",
        "appé.service",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"unit\": \"%s\", \"cpu_weight\": 10}", bad[i]);
        CHECK_INVALID(json, "unit", "is not a unit with resource control");
    }
    char longname[300];
    memset(longname, 'a', 247);
    memcpy(longname + 247, ".service", 9); /* 255 characters: the longest */
    snprintf(json, sizeof(json), "{\"unit\": \"%s\", \"cpu_weight\": 10}", longname);
    CHECK_VALID(json);
    memset(longname, 'a', 248);
    memcpy(longname + 248, ".service", 9);
    snprintf(json, sizeof(json), "{\"unit\": \"%s\", \"cpu_weight\": 10}", longname);
    CHECK_INVALID(json, "unit", "(255 at most)");
}

TEST(validate_rejects_bad_values_naming_the_key)
{
    static const struct {
        const char *json, *key, *msg;
    } cases[] = {
        {"{\"unit\": \"a.service\", \"cpu_quota\": \"50\"}", "cpu_quota", "percentage"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": \"0.5%\"}", "cpu_quota", "1% to 100000%"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": \"100001%\"}", "cpu_quota", "100000%"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": 0}", "cpu_quota", "cpu_quota must be"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": -5}", "cpu_quota", "cpu_quota must be"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": \"half%\"}", "cpu_quota", "cpu_quota"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": \"nan%\"}", "cpu_quota", "cpu_quota"},
        {"{\"unit\": \"a.service\", \"cpu_quota\": true}", "cpu_quota", "cpu_quota"},
        {"{\"unit\": \"a.service\", \"memory_high\": \"lots\"}", "memory_high", "512M"},
        {"{\"unit\": \"a.service\", \"memory_high\": \"1.5G\"}", "memory_high", "memory_high"},
        {"{\"unit\": \"a.service\", \"memory_high\": \"50%\"}", "memory_high", "memory_high"},
        {"{\"unit\": \"a.service\", \"memory_high\": 0}", "memory_high", "at least 1"},
        {"{\"unit\": \"a.service\", \"memory_high\": -1}", "memory_high", "memory_high"},
        {"{\"unit\": \"a.service\", \"memory_high\": 1.5}", "memory_high", "memory_high"},
        {"{\"unit\": \"a.service\", \"memory_high\": \"99999999T\"}", "memory_high", "size"},
        {"{\"unit\": \"a.service\", \"tasks_max\": 0}", "tasks_max", "at least 1"},
        {"{\"unit\": \"a.service\", \"tasks_max\": \"many\"}", "tasks_max", "tasks_max"},
        {"{\"unit\": \"a.service\", \"tasks_max\": 2.5}", "tasks_max", "tasks_max"},
        {"{\"unit\": \"a.service\", \"cpu_weight\": 0}", "cpu_weight", "1 to 10000"},
        {"{\"unit\": \"a.service\", \"cpu_weight\": 10001}", "cpu_weight", "1 to 10000"},
        {"{\"unit\": \"a.service\", \"cpu_weight\": \"infinity\"}", "cpu_weight", "cpu_weight"},
        {"{\"unit\": \"a.service\", \"cpu_weight\": \"heavy\"}", "cpu_weight", "cpu_weight"},
        {"{\"unit\": 5, \"cpu_weight\": 5}", "unit", "unit must be a string"},
        {"{\"unit\": \"a.service\", \"cpu_wieght\": 5}", "cpu_wieght", "unknown key"},
        {"{\"unit\": \"a.service\", \"cpu_weight\": 5, \"timeout\": \"forever\"}", "timeout",
         "timeout"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INVALID(cases[i].json, cases[i].key, cases[i].msg);
}

TEST(validate_needs_a_unit_and_something_to_set)
{
    CHECK_INVALID("{\"cpu_weight\": 5}", "", "missing unit");
    CHECK_INVALID("{\"unit\": \"a.service\"}", "", "nothing to set");
    CHECK_INVALID("{\"unit\": \"a.service\", \"timeout\": \"1s\"}", "", "nothing to set");
    CHECK_INVALID("[\"a.service\"]", "", "expected a map");
}

TEST(validate_leaves_placeholders_for_after_expansion)
{
    CHECK_VALID("{\"unit\": \"{{unit}}\", \"cpu_quota\": \"{{quota}}\"}");
    CHECK_VALID("{\"unit\": \"app-{{unit}}.service\", \"cpu_quota\": \"{{quota}}%\"}");
    CHECK_INVALID("{\"unit\": \"a.service\", \"cpu_quota\": \"{{nope}}\"}", "cpu_quota",
                  "unknown placeholder {{nope}}");
}

TEST(expanded_values_are_checked_again)
{
    struct action_ctx ctx = make_ctx();
    json_t *args = json_pack("{s:s}", "quota", "lots");
    ctx.args = args;
    struct action_result res;
    run_text("{\"unit\": \"app.service\", \"cpu_quota\": \"{{quota}}\"}", &ctx, &res);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "systemd: after expanding placeholders: cpu_quota: cpu_quota must");
    action_result_clear(&res);
    json_decref(args);
}

/* ---- no bus ------------------------------------------------------------------------ */

TEST(apply_without_a_bus_is_transient_and_clear)
{
    setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent", 1);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text("{\"unit\": \"app.service\", \"cpu_quota\": \"50%\", \"retries\": 1, "
             "\"backoff\": \"1ms\"}",
             &ctx, &res);
    CHECK_INT(res.status, ACT_RETRY);
    CHECK_INT(res.attempts, 2);
    CHECK_STR(res.error, "systemd app.service: cannot connect to the system bus "
                         "(unix:path=/nonexistent): No such file or directory");
    CHECK(res.undo == NULL);
    action_result_clear(&res);

    /* The user bus comes from DBUS_SESSION_BUS_ADDRESS. */
    setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent-user", 1);
    env.systemd_user_bus = true;
    run_text("{\"unit\": \"app.service\", \"cpu_weight\": 5, \"retries\": 0}", &ctx, &res);
    env.systemd_user_bus = false;
    CHECK_INT(res.status, ACT_RETRY);
    CHECK_CONTAINS(res.error, "cannot connect to the user bus (unix:path=/nonexistent-user)");
    action_result_clear(&res);

    /* No user bus to be found is not worth retrying. */
    unsetenv("DBUS_SESSION_BUS_ADDRESS");
    const char *rt = getenv("XDG_RUNTIME_DIR");
    char *saved_rt = rt ? strdup(rt) : NULL;
    unsetenv("XDG_RUNTIME_DIR");
    env.systemd_user_bus = true;
    run_text("{\"unit\": \"app.service\", \"cpu_weight\": 5}", &ctx, &res);
    env.systemd_user_bus = false;
    if (saved_rt)
        setenv("XDG_RUNTIME_DIR", saved_rt, 1);
    free(saved_rt);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_INT(res.attempts, 1);
    CHECK_STR(res.error, "systemd app.service: cannot connect to the user bus (neither "
                         "DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set)");
    action_result_clear(&res);
}

TEST(revert_rejects_bad_undo_records)
{
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    json_t *params = json_pack("{s:s,s:i}", "unit", "app.service", "cpu_weight", 5);
    static const char *const undos[] = {
        "{\"unit\": \"app.service\"}",
        "{\"unit\": \"app.service\", \"properties\": {\"Nice\": 5}}",
        "{\"unit\": \"app.service\", \"properties\": {\"CPUWeight\": -1}}",
        "{\"unit\": \"app.service\", \"properties\": {\"CPUWeight\": \"lots\"}}",
        "{\"unit\": \"bad name\", \"properties\": {\"CPUWeight\": 100}}",
    };
    for (size_t i = 0; i < sizeof(undos) / sizeof(undos[0]); i++) {
        json_t *undo = json_loads(undos[i], 0, NULL);
        actuator_revert(ACTION_SYSTEMD, params, undo, &ctx, &res);
        json_decref(undo);
        if (res.status != ACT_FAIL || !strstr(res.error, "revert"))
            TEST_FAIL("undo %s: status %d, error '%s'", undos[i], (int)res.status, res.error);
        action_result_clear(&res);
    }
    json_decref(params);
}

/* ---- a fake systemd in this process ---------------------------------------------- */

#define FAKE_UNIT_PATH "/org/freedesktop/systemd1/unit/app_2eservice"

struct fake_systemd {
    int listen_fd;
    unsigned connections; /* to serve before the thread ends */
    pthread_t thread;
    char dir[64], address[128];
    /* app.service, on org.freedesktop.systemd1.Service */
    uint64_t cpu_quota, memory_high, tasks_max, cpu_weight;
    const char *load_state;
    /* the last SetUnitProperties */
    unsigned n_calls;
    char set_unit[64];
    int set_runtime;
    char set_text[512]; /* "Name:type:value " for each property */
};

static int fake_hello(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    (void)ud;
    (void)e;
    return sd_bus_reply_method_return(m, "s", ":1.42");
}

static int fake_load_unit(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    (void)ud;
    const char *name;
    int r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    if (strcmp(name, "app.service") != 0)
        return sd_bus_error_setf(e, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not found.",
                                 name);
    return sd_bus_reply_method_return(m, "o", FAKE_UNIT_PATH);
}

static int fake_set_unit_properties(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    struct fake_systemd *f = ud;
    const char *name;
    int runtime;
    int r = sd_bus_message_read(m, "sb", &name, &runtime);
    if (r < 0)
        return r;
    f->n_calls++;
    snprintf(f->set_unit, sizeof(f->set_unit), "%s", name);
    f->set_runtime = runtime;
    f->set_text[0] = '\0';
    size_t used = 0;
    if ((r = sd_bus_message_enter_container(m, 'a', "(sv)")) < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
        const char *prop, *contents;
        char type;
        uint64_t v = 0;
        if ((r = sd_bus_message_read(m, "s", &prop)) < 0 ||
            (r = sd_bus_message_peek_type(m, &type, &contents)) < 0)
            return r;
        if ((r = sd_bus_message_enter_container(m, 'v', contents)) < 0)
            return r;
        if (strcmp(contents, "t") == 0)
            r = sd_bus_message_read(m, "t", &v);
        else
            r = sd_bus_message_skip(m, contents);
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0 ||
            (r = sd_bus_message_exit_container(m)) < 0)
            return r;
        used += (size_t)snprintf(f->set_text + used, sizeof(f->set_text) - used, "%s:%s:%llu ",
                                 prop, contents, (unsigned long long)v);
        if (strcmp(prop, "CPUQuotaPerSecUSec") == 0)
            f->cpu_quota = v;
        else if (strcmp(prop, "MemoryHigh") == 0)
            f->memory_high = v;
        else if (strcmp(prop, "TasksMax") == 0)
            f->tasks_max = v;
        else if (strcmp(prop, "CPUWeight") == 0)
            f->cpu_weight = v;
        else
            return sd_bus_error_setf(e, "org.freedesktop.DBus.Error.PropertyReadOnly",
                                     "Cannot set property %s, or unknown property.", prop);
    }
    if (r < 0)
        return r;
    return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable fake_dbus_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Hello", "", "s", fake_hello, 0),
    SD_BUS_VTABLE_END,
};

static const sd_bus_vtable fake_manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("LoadUnit", "s", "o", fake_load_unit, 0),
    SD_BUS_METHOD("SetUnitProperties", "sba(sv)", "", fake_set_unit_properties, 0),
    SD_BUS_VTABLE_END,
};

static const sd_bus_vtable fake_service_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("CPUQuotaPerSecUSec", "t", NULL, offsetof(struct fake_systemd, cpu_quota), 0),
    SD_BUS_PROPERTY("MemoryHigh", "t", NULL, offsetof(struct fake_systemd, memory_high), 0),
    SD_BUS_PROPERTY("TasksMax", "t", NULL, offsetof(struct fake_systemd, tasks_max), 0),
    SD_BUS_PROPERTY("CPUWeight", "t", NULL, offsetof(struct fake_systemd, cpu_weight), 0),
    SD_BUS_VTABLE_END,
};

static const sd_bus_vtable fake_unit_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("LoadState", "s", NULL, offsetof(struct fake_systemd, load_state), 0),
    SD_BUS_VTABLE_END,
};

/* Serves one client connection until it hangs up (10 s at most). */
static void fake_serve(struct fake_systemd *f, int fd)
{
    sd_bus *b = NULL;
    sd_id128_t id;
    uint64_t deadline = 0;
    int r = sd_bus_new(&b);
    if (r >= 0)
        r = sd_id128_randomize(&id);
    if (r >= 0)
        r = sd_bus_set_fd(b, fd, fd);
    if (r >= 0)
        r = sd_bus_set_server(b, 1, id);
    if (r >= 0)
        r = sd_bus_add_object_vtable(b, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     fake_dbus_vtable, f);
    if (r >= 0)
        r = sd_bus_add_object_vtable(b, NULL, "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", fake_manager_vtable, f);
    if (r >= 0)
        r = sd_bus_add_object_vtable(b, NULL, FAKE_UNIT_PATH, "org.freedesktop.systemd1.Service",
                                     fake_service_vtable, f);
    if (r >= 0)
        r = sd_bus_add_object_vtable(b, NULL, FAKE_UNIT_PATH, "org.freedesktop.systemd1.Unit",
                                     fake_unit_vtable, f);
    if (r >= 0)
        r = sd_bus_start(b);
    if (r >= 0)
        deadline = (uint64_t)time(NULL) + 10;
    while (r >= 0 && (uint64_t)time(NULL) < deadline) {
        r = sd_bus_process(b, NULL);
        if (r > 0)
            continue;
        if (r == 0)
            r = sd_bus_wait(b, 1000000);
    }
    if (b)
        sd_bus_flush_close_unref(b);
    else
        close(fd);
}

static void *fake_thread(void *ud)
{
    struct fake_systemd *f = ud;
    for (unsigned i = 0; i < f->connections; i++) {
        struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break;
        int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            break;
        fake_serve(f, fd);
    }
    return NULL;
}

/* app.service with systemd's defaults; change them before fake_start. */
static void fake_init(struct fake_systemd *f)
{
    memset(f, 0, sizeof(*f));
    f->cpu_quota = UINT64_MAX;
    f->memory_high = UINT64_MAX;
    f->tasks_max = 4915;
    f->cpu_weight = 100;
    f->load_state = "loaded";
}

/* Starts the fake on a fresh socket, for this many connections, and points
 * DBUS_SYSTEM_BUS_ADDRESS at it. 0 or -1. */
static int fake_start(struct fake_systemd *f, unsigned connections)
{
    f->connections = connections;
    const char *dir = test_tmpdir();
    if (!dir)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/bus", f->dir);
    snprintf(f->address, sizeof(f->address), "unix:path=%s", sa.sun_path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(f->listen_fd, 4) < 0)
        return -1;
    setenv("DBUS_SYSTEM_BUS_ADDRESS", f->address, 1);
    return pthread_create(&f->thread, NULL, fake_thread, f) == 0 ? 0 : -1;
}

/* Waits for the thread (it ends after its connections) and removes the socket. */
static void fake_stop(struct fake_systemd *f)
{
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    char path[128];
    snprintf(path, sizeof(path), "%s/bus", f->dir);
    unlink(path);
    rmdir(f->dir);
}

/* One apply of json against a fresh fake; fills f and res. */
static int apply_on_fake(struct fake_systemd *f, const char *json, bool dry_run,
                         struct action_result *res)
{
    fake_init(f);
    if (fake_start(f, 1) < 0)
        return -1;
    struct action_ctx ctx = make_ctx();
    ctx.server_dry_run = dry_run;
    run_text(json, &ctx, res);
    fake_stop(f);
    return 0;
}

TEST(values_on_the_wire)
{
    static const struct {
        const char *params, *wire;
    } cases[] = {
        {"\"cpu_quota\": \"50%\"", "CPUQuotaPerSecUSec:t:500000 "},
        {"\"cpu_quota\": \"12.5%\"", "CPUQuotaPerSecUSec:t:125000 "},
        {"\"cpu_quota\": 1", "CPUQuotaPerSecUSec:t:10000 "},
        {"\"cpu_quota\": 250", "CPUQuotaPerSecUSec:t:2500000 "},
        {"\"cpu_quota\": 0.5e1", "CPUQuotaPerSecUSec:t:50000 "},
        {"\"cpu_quota\": \"100000%\"", "CPUQuotaPerSecUSec:t:1000000000 "},
        {"\"cpu_quota\": \"infinity\"", "CPUQuotaPerSecUSec:t:18446744073709551615 "},
        {"\"memory_high\": \"512M\"", "MemoryHigh:t:536870912 "},
        {"\"memory_high\": \"64K\"", "MemoryHigh:t:65536 "},
        {"\"memory_high\": \"1G\"", "MemoryHigh:t:1073741824 "},
        {"\"memory_high\": \"2GiB\"", "MemoryHigh:t:2147483648 "},
        {"\"memory_high\": 123456789", "MemoryHigh:t:123456789 "},
        {"\"memory_high\": \"infinity\"", "MemoryHigh:t:18446744073709551615 "},
        {"\"tasks_max\": 64", "TasksMax:t:64 "},
        {"\"tasks_max\": \"64\"", "TasksMax:t:64 "},
        {"\"tasks_max\": \"infinity\"", "TasksMax:t:18446744073709551615 "},
        {"\"cpu_weight\": 10000", "CPUWeight:t:10000 "},
        /* several at once go in one call, in a fixed order */
        {"\"cpu_weight\": 20, \"tasks_max\": 30, \"memory_high\": 40, \"cpu_quota\": 50",
         "CPUQuotaPerSecUSec:t:500000 MemoryHigh:t:40 TasksMax:t:30 CPUWeight:t:20 "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_systemd f;
        struct action_result res;
        char json[256];
        snprintf(json, sizeof(json), "{\"unit\": \"app.service\", %s}", cases[i].params);
        if (apply_on_fake(&f, json, false, &res) < 0)
            TEST_FAIL("cannot start the fake systemd: %s", strerror(errno));
        if (res.status != ACT_OK)
            TEST_FAIL("%s: status %d: %s", json, (int)res.status, res.error);
        CHECK_INT(f.n_calls, 1);
        CHECK_STR(f.set_unit, "app.service");
        CHECK_INT(f.set_runtime, 1);
        if (strcmp(f.set_text, cases[i].wire) != 0)
            TEST_FAIL("%s: sent '%s', expected '%s'", json, f.set_text, cases[i].wire);
        action_result_clear(&res);
    }
}

TEST(undo_and_revert_round_trip)
{
    struct fake_systemd f;
    struct action_result res;
    if (apply_on_fake(&f,
                      "{\"unit\": \"app.service\", \"cpu_quota\": \"50%\", \"memory_high\": "
                      "\"1G\", \"tasks_max\": 100, \"cpu_weight\": 50}",
                      false, &res) < 0)
        TEST_FAIL("cannot start the fake systemd");
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(dumps(res.undo), "{\"properties\":{\"CPUQuotaPerSecUSec\":\"infinity\","
                               "\"CPUWeight\":100,\"MemoryHigh\":\"infinity\",\"TasksMax\":4915},"
                               "\"unit\":\"app.service\"}");
    CHECK_STR(dumps(res.detail),
              "{\"bus\":\"system\",\"object_path\":\"" FAKE_UNIT_PATH "\","
              "\"previous\":{\"CPUQuotaPerSecUSec\":\"infinity\",\"CPUWeight\":100,"
              "\"MemoryHigh\":\"infinity\",\"TasksMax\":4915},\"set\":{\"CPUQuotaPerSecUSec\":"
              "500000,\"CPUWeight\":50,\"MemoryHigh\":1073741824,\"TasksMax\":100},"
              "\"unit\":\"app.service\"}");
    json_t *undo = json_incref(res.undo);
    action_result_clear(&res);

    /* The revert puts UINT64_MAX back for "infinity" and the numbers as they were. */
    fake_init(&f);
    f.cpu_quota = 500000;
    if (fake_start(&f, 1) < 0)
        TEST_FAIL("cannot start the fake systemd");
    struct action_ctx ctx = make_ctx();
    json_t *params = json_pack("{s:s,s:i}", "unit", "app.service", "cpu_weight", 50);
    actuator_revert(ACTION_SYSTEMD, params, undo, &ctx, &res);
    fake_stop(&f);
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(f.set_text, "CPUQuotaPerSecUSec:t:18446744073709551615 "
                          "MemoryHigh:t:18446744073709551615 TasksMax:t:4915 CPUWeight:t:100 ");
    CHECK_INT(f.set_runtime, 1);
    CHECK(f.cpu_quota == UINT64_MAX);
    CHECK_STR(dumps(json_object_get(res.detail, "set")),
              "{\"CPUQuotaPerSecUSec\":\"infinity\",\"CPUWeight\":100,\"MemoryHigh\":"
              "\"infinity\",\"TasksMax\":4915}");
    action_result_clear(&res);
    json_decref(params);
    json_decref(undo);
}

TEST(error_reply_is_permanent_and_named)
{
    struct fake_systemd f;
    struct action_result res;
    if (apply_on_fake(&f, "{\"unit\": \"gone.service\", \"cpu_weight\": 5}", false, &res) < 0)
        TEST_FAIL("cannot start the fake systemd");
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_INT(res.attempts, 1);
    CHECK_CONTAINS(res.error, "systemd gone.service: org.freedesktop.systemd1.NoSuchUnit: Unit "
                              "gone.service not found. (LoadUnit on the system bus, timeout 5s)");
    CHECK_INT(f.n_calls, 0);
    CHECK(res.undo == NULL);
    action_result_clear(&res);
}

TEST(unit_not_found_fails_before_setting)
{
    struct fake_systemd f;
    struct action_result res;
    fake_init(&f);
    f.load_state = "not-found";
    if (fake_start(&f, 1) < 0)
        TEST_FAIL("cannot start the fake systemd");
    struct action_ctx ctx = make_ctx();
    run_text("{\"unit\": \"app.service\", \"cpu_weight\": 5}", &ctx, &res);
    fake_stop(&f);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error,
                   "systemd app.service: org.freedesktop.systemd1.NoSuchUnit: Unit app.service "
                   "not found.");
    CHECK_INT(f.n_calls, 0);
    action_result_clear(&res);
}

TEST(server_dry_run_reads_and_sets_nothing)
{
    struct fake_systemd f;
    struct action_result res;
    if (apply_on_fake(&f, "{\"unit\": \"app.service\", \"cpu_quota\": \"20%\"}", true, &res) < 0)
        TEST_FAIL("cannot start the fake systemd");
    CHECK_INT(res.status, ACT_OK);
    CHECK_INT(f.n_calls, 0);
    CHECK(res.undo == NULL);
    CHECK_STR(dumps(res.detail), "{\"bus\":\"system\",\"checked\":true,\"dry_run\":true,"
                                 "\"object_path\":\"" FAKE_UNIT_PATH "\",\"previous\":{"
                                 "\"CPUQuotaPerSecUSec\":\"infinity\"},\"unit\":\"app.service\","
                                 "\"would_set\":{\"CPUQuotaPerSecUSec\":200000}}");
    action_result_clear(&res);
}

TEST_MAIN(TEST_ENTRY(validate_accepts_every_form), TEST_ENTRY(validate_unit_names),
          TEST_ENTRY(validate_rejects_bad_values_naming_the_key),
          TEST_ENTRY(validate_needs_a_unit_and_something_to_set),
          TEST_ENTRY(validate_leaves_placeholders_for_after_expansion),
          TEST_ENTRY(expanded_values_are_checked_again),
          TEST_ENTRY(apply_without_a_bus_is_transient_and_clear),
          TEST_ENTRY(revert_rejects_bad_undo_records), TEST_ENTRY(values_on_the_wire),
          TEST_ENTRY(undo_and_revert_round_trip), TEST_ENTRY(error_reply_is_permanent_and_named),
          TEST_ENTRY(unit_not_found_fails_before_setting),
          TEST_ENTRY(server_dry_run_reads_and_sets_nothing))
