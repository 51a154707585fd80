/* test-ha-kube: the Kubernetes backend of ha (controller/clients/ha_kube.c) through ha's
 * own API (ha_start, ha_fence, ha_get_state, ha_stop), against
 * tests/integration/fakes/fake_kube_api.py, which answers Leases, ConfigMaps and 409
 * conflicts as the real API server does. Each test starts its own fake (python3, port 0)
 * and uses short durations (lease 2 s, renew deadline 1.5 s, retry 0.3 s). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "ha.h"
#include "parse.h"
#include "test.h"

#define LEASE_USEC 2000000ull
#define RENEW_USEC 1500000ull
#define RETRY_USEC 300000ull
#define NS "homeostat"

/* ---- the fake API server ---------------------------------------------------------------- */

struct fake {
    pid_t pid;
    char url[128];
    char dir[64];
    char log[128];
};

static int fake_start(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    const char *src = getenv("HOMEOSTAT_SOURCE_DIR");
    if (!src) {
        fprintf(stderr, "  HOMEOSTAT_SOURCE_DIR is not set (ctest sets it)\n");
        return -1;
    }
    char script[512];
    snprintf(script, sizeof(script), "%s/tests/integration/fakes/fake_kube_api.py", src);
    char *dir = test_tmpdir();
    if (!dir)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    snprintf(f->log, sizeof(f->log), "%s/requests.log", f->dir);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test that crashed */
        dup2(p[1], STDOUT_FILENO);
        /* its log of requests: a file, not the test's output */
        char err[160];
        snprintf(err, sizeof(err), "%s/stderr", f->dir);
        int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        char *argv[] = {"python3", script, "--port", "0", "--log", f->log, NULL};
        execvp("python3", argv);
        _exit(127);
    }
    close(p[1]);
    f->pid = pid;
    char line[256];
    size_t n = 0;
    uint64_t deadline = now_usec() + 15000000;
    while (n < sizeof(line) - 1 && now_usec() < deadline) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t got = read(p[0], line + n, 1);
        if (got <= 0)
            break;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(p[0]);
    const char *u = strstr(line, "listening on ");
    if (!u) {
        fprintf(stderr, "  the fake did not start: '%s'\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    snprintf(f->url, sizeof(f->url), "%s", u + strlen("listening on "));
    return 0;
}

static void fake_stop(struct fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
    unlink(f->log);
    char p[128];
    snprintf(p, sizeof(p), "%s/kubeconfig", f->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/token", f->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/stderr", f->dir);
    unlink(p);
    rmdir(f->dir);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return buf_append(userdata, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

/* A request to the fake (a control endpoint); the status, the reply in out when given. */
static long fake_call(struct fake *f, const char *method, const char *path, const char *body,
                      struct buf *out)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->url, path);
    struct buf sink;
    buf_init(&sink, 1u << 20);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? out : &sink);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    buf_free(&sink);
    return status;
}

/* The stored object (new reference), NULL when there is none. */
static json_t *fake_object(struct fake *f, const char *resource, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/_control/object/%s/%s/%s", NS, resource, name);
    struct buf b;
    buf_init(&b, 4u << 20);
    long status = fake_call(f, "GET", path, NULL, &b);
    json_t *o = status == 200 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    buf_free(&b);
    return o;
}

static const char *lease_holder(json_t *lease)
{
    const char *s =
        json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
    return s ? s : "";
}

static long long lease_transitions(json_t *lease)
{
    return json_integer_value(json_object_get(json_object_get(lease, "spec"), "leaseTransitions"));
}

/* Someone else holds the Lease: written behind the replicas' backs. */
static long fake_set_holder(struct fake *f, const char *holder, int duration_seconds,
                            const char *renew_time)
{
    char body[600];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":"
             "{\"name\":\"homeostat-controller\",\"namespace\":\"" NS "\"},\"spec\":"
             "{\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":%d,\"renewTime\":\"%s\","
             "\"acquireTime\":\"%s\",\"leaseTransitions\":7}}",
             holder, duration_seconds, renew_time, renew_time);
    return fake_call(f, "POST", "/_control/object", body, NULL);
}

/* ---- replicas --------------------------------------------------------------------------- */

struct seen {
    pthread_mutex_t lock;
    int became, lost;
    char why[600];
};

static void on_change(void *ctx, bool leader, const char *why)
{
    struct seen *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (leader)
        s->became++;
    else
        s->lost++;
    snprintf(s->why, sizeof(s->why), "%s", why);
    pthread_mutex_unlock(&s->lock);
}

static int seen_lost(struct seen *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->lost;
    pthread_mutex_unlock(&s->lock);
    return n;
}

struct replica {
    struct ha *h;
    struct seen seen;
    struct ha_config cfg;
};

static void config_for(struct ha_config *cfg, const char *url, const char *identity)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->backend = HA_KUBERNETES;
    cfg->identity = identity;
    cfg->lease_usec = LEASE_USEC;
    cfg->renew_deadline_usec = RENEW_USEC;
    cfg->retry_usec = RETRY_USEC;
    cfg->kube_url = url;
    cfg->kube_namespace = NS;
}

static int replica_start(struct replica *r, const struct ha_config *cfg, char *msg, size_t size)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->seen.lock, NULL);
    r->cfg = *cfg;
    return ha_start(&r->cfg, on_change, &r->seen, &r->h, msg, size);
}

static void replica_stop(struct replica *r)
{
    ha_stop(r->h);
    r->h = NULL;
}

static bool wait_leading(struct ha *h, bool want, uint64_t usec)
{
    uint64_t end = now_usec() + usec;
    while (now_usec() < end) {
        if (ha_leading(h) == want)
            return true;
        usleep(20000);
    }
    return ha_leading(h) == want;
}

/* A string field of ha_status_json, copied. */
static void status_field(struct ha *h, const char *key, char *out, size_t size)
{
    json_t *s = ha_status_json(h);
    const char *v = json_string_value(json_object_get(s, key));
    snprintf(out, size, "%s", v ? v : "");
    json_decref(s);
}

/* ---- tests ------------------------------------------------------------------------------ */

TEST(backend_is_built_in)
{
    /* named here, so the backend's object is linked and not only weakly referenced */
    CHECK_STR(ha_kubernetes_ops.name, "kubernetes");
}

TEST(one_leader_and_a_fast_takeover)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    struct ha_config ca, cb;
    config_for(&ca, f.url, "replica-a");
    config_for(&cb, f.url, "replica-b");
    struct replica a, b;
    char msg[512] = "";
    int ra = replica_start(&a, &ca, msg, sizeof(msg));
    int rb = replica_start(&b, &cb, msg, sizeof(msg));
    if (ra < 0 || rb < 0) {
        replica_stop(&a);
        replica_stop(&b);
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    bool one = true;
    uint64_t end = now_usec() + 3000000;
    while (one && now_usec() < end && !ha_leading(a.h) && !ha_leading(b.h))
        usleep(20000);
    /* exactly one leads, and keeps leading over several renewals */
    int leaders_seen = 0, both = 0;
    for (int i = 0; one && i < 40; i++) {
        bool la = ha_leading(a.h), lb = ha_leading(b.h);
        leaders_seen += la || lb;
        both += la && lb;
        usleep(25000);
    }
    struct replica *lead = ha_leading(a.h) ? &a : &b, *other = lead == &a ? &b : &a;
    char holder[256], status_lead[64];
    status_field(other->h, "holder", holder, sizeof(holder));
    status_field(lead->h, "identity", status_lead, sizeof(status_lead));
    /* the state written by the leader, as the other will read it */
    int fenced = ha_fence(lead->h, "state one", 9);
    json_t *lease = fake_object(&f, "leases", "homeostat-controller");
    char lease_holder_before[64];
    snprintf(lease_holder_before, sizeof(lease_holder_before), "%s", lease_holder(lease));
    long long transitions_before = lease_transitions(lease);
    json_decref(lease);

    /* the leader stops: it gives the lease up, the other leads within the retry period */
    uint64_t stopped = now_usec();
    replica_stop(lead);
    bool took_over = wait_leading(other->h, true, RETRY_USEC + 700000);
    uint64_t took = now_usec() - stopped;
    struct buf state;
    buf_init(&state, 1u << 20);
    int got = ha_get_state(other->h, &state, msg, sizeof(msg));
    lease = fake_object(&f, "leases", "homeostat-controller");
    char lease_holder_after[64];
    snprintf(lease_holder_after, sizeof(lease_holder_after), "%s", lease_holder(lease));
    long long transitions_after = lease_transitions(lease);
    json_decref(lease);
    pthread_mutex_lock(&other->seen.lock);
    int became = other->seen.became;
    pthread_mutex_unlock(&other->seen.lock);
    replica_stop(other);
    fake_stop(&f);

    CHECK(one);
    CHECK_INT(both, 0);
    CHECK_INT(leaders_seen, 40);
    CHECK_STR(holder, status_lead);
    CHECK_INT(fenced, 0);
    CHECK_STR(lease_holder_before, status_lead);
    CHECK_INT(transitions_before, 0);
    if (!took_over)
        TEST_FAIL("the other replica did not lead within %llu ms of the stop",
                  (unsigned long long)(RETRY_USEC + 700000) / 1000);
    CHECK(took < RETRY_USEC + 700000);
    CHECK_INT(became, 1);
    CHECK_INT(got, 0);
    CHECK_INT(state.len, 9);
    CHECK(memcmp(state.data, "state one", 9) == 0);
    CHECK(strcmp(lease_holder_after, lease_holder_before) != 0);
    CHECK_INT(transitions_after, 1);
    buf_free(&state);
}

TEST(fenced_when_taken_over)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    struct ha_config c;
    config_for(&c, f.url, "replica-a");
    struct replica a;
    char msg[512] = "";
    int r = replica_start(&a, &c, msg, sizeof(msg));
    if (r < 0) {
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    bool led = r == 0 && wait_leading(a.h, true, 3000000);
    int before = led ? ha_fence(a.h, NULL, 0) : -1;
    /* someone else writes the Lease: the next fence must fail, whatever ha thought */
    char now[64];
    time_t t = time(NULL);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&t));
    long put = fake_set_holder(&f, "intruder", 60, now);
    int after = ha_fence(a.h, "x", 1);
    bool leading_after = ha_leading(a.h);
    /* and it does not take the lease back while the intruder's record is fresh */
    usleep(1000000);
    bool leading_later = ha_leading(a.h);
    char holder[64];
    status_field(a.h, "holder", holder, sizeof(holder));
    json_t *cm = fake_object(&f, "configmaps", "homeostat-controller-state");
    pthread_mutex_lock(&a.seen.lock);
    int lost = a.seen.lost;
    char why[600];
    snprintf(why, sizeof(why), "%s", a.seen.why);
    pthread_mutex_unlock(&a.seen.lock);
    replica_stop(&a);
    fake_stop(&f);

    CHECK_INT(r, 0);
    CHECK(led);
    CHECK_INT(before, 0);
    CHECK_INT(put, 200);
    CHECK_INT(after, -EPERM);
    CHECK(!leading_after);
    CHECK(!leading_later);
    CHECK_STR(holder, "intruder");
    CHECK(cm == NULL); /* the fenced write never reached the ConfigMap */
    json_decref(cm);
    CHECK_INT(lost, 1);
    CHECK_CONTAINS(why, "HTTP 409 Conflict");
    CHECK_CONTAINS(why, "/apis/coordination.k8s.io/v1/namespaces/homeostat/leases/"
                        "homeostat-controller");
}

TEST(expiry_by_our_clock_not_theirs)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    /* A holder whose renewTime is a year old (its clock, or a dead replica): we wait the
     * whole lease duration from when we first saw the record, not from its renewTime. */
    long put = fake_set_holder(&f, "old", 1, "2000-01-01T00:00:00.000000Z");
    struct ha_config c;
    config_for(&c, f.url, "replica-a");
    struct replica a;
    char msg[512] = "";
    uint64_t start = now_usec();
    int r = replica_start(&a, &c, msg, sizeof(msg));
    if (r < 0) {
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    usleep(600000);
    bool early = r == 0 && ha_leading(a.h);
    bool led = r == 0 && wait_leading(a.h, true, 2000000);
    uint64_t took = now_usec() - start;
    json_t *lease = fake_object(&f, "leases", "homeostat-controller");
    char holder[64];
    snprintf(holder, sizeof(holder), "%s", lease_holder(lease));
    long long transitions = lease_transitions(lease);
    json_decref(lease);
    replica_stop(&a);
    fake_stop(&f);

    CHECK_INT(put, 200);
    CHECK_INT(r, 0);
    CHECK(!early);
    CHECK(led);
    CHECK(took >= 1000000);
    CHECK_STR(holder, "replica-a");
    CHECK_INT(transitions, 8);
}

TEST(conflicts)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    struct ha_config c;
    config_for(&c, f.url, "replica-a");
    struct replica a;
    char msg[512] = "";
    int r = replica_start(&a, &c, msg, sizeof(msg));
    if (r < 0) {
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    bool led = r == 0 && wait_leading(a.h, true, 3000000);
    int first = ha_fence(a.h, "one", 3);
    /* someone else wrote the ConfigMap since: re-read, the Lease is still ours, written */
    long touched = fake_call(
        &f, "POST", "/_control/touch/" NS "/configmaps/homeostat-controller-state", NULL, NULL);
    int second = ha_fence(a.h, "two", 3);
    json_t *cm = fake_object(&f, "configmaps", "homeostat-controller-state");
    const char *b64 =
        json_string_value(json_object_get(json_object_get(cm, "binaryData"), "state"));
    char state[64];
    snprintf(state, sizeof(state), "%s", b64 ? b64 : "");
    json_decref(cm);
    struct buf got;
    buf_init(&got, 1u << 20);
    int read = ha_get_state(a.h, &got, msg, sizeof(msg));
    /* the ConfigMap's writes conflict twice: not retried past once, not leading */
    long armed = fake_call(
        &f, "POST", "/_control/conflict/" NS "/configmaps/homeostat-controller-state?count=2", NULL,
        NULL);
    int third = ha_fence(a.h, "three", 5);
    bool leading_after = ha_leading(a.h);
    /* the Lease is still ours: the next round renews it and leads again */
    bool again = wait_leading(a.h, true, 2000000);
    /* a 409 on the Lease itself fences */
    long armed2 = fake_call(
        &f, "POST", "/_control/conflict/" NS "/leases/homeostat-controller?count=1", NULL, NULL);
    int fourth = ha_fence(a.h, NULL, 0);
    replica_stop(&a);
    fake_stop(&f);

    CHECK_INT(r, 0);
    CHECK(led);
    CHECK_INT(first, 0);
    CHECK_INT(touched, 200);
    CHECK_INT(second, 0);
    CHECK(state[0]); /* base64 of the gzipped "two" */
    CHECK_INT(read, 0);
    CHECK_INT(got.len, 3);
    CHECK(memcmp(got.data, "two", 3) == 0);
    buf_free(&got);
    CHECK_INT(armed, 200);
    CHECK_INT(third, -EPERM);
    CHECK(!leading_after);
    CHECK(again);
    CHECK_INT(armed2, 200);
    CHECK_INT(fourth, -EPERM);
}

TEST(api_server_down_steps_down)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    struct ha_config c;
    config_for(&c, f.url, "replica-a");
    struct replica a;
    char msg[512] = "";
    int r = replica_start(&a, &c, msg, sizeof(msg));
    if (r < 0) {
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    bool led = r == 0 && wait_leading(a.h, true, 3000000);
    long failing = fake_call(&f, "POST", "/_control/fail?code=503", NULL, NULL);
    uint64_t start = now_usec();
    int fenced_ok = 0, fences = 0;
    while (now_usec() - start < RENEW_USEC + RETRY_USEC + 1000000 && ha_leading(a.h)) {
        fenced_ok += ha_fence(a.h, "x", 1) == 0;
        fences++;
        usleep(100000);
    }
    bool stepped_down = !ha_leading(a.h);
    uint64_t took = now_usec() - start;
    char error[512];
    status_field(a.h, "error", error, sizeof(error));
    int fence_down = ha_fence(a.h, "x", 1);
    /* ha_leading says no from the deadline on; the thread tells at its next round */
    for (int i = 0; i < 50 && !seen_lost(&a.seen); i++)
        usleep(20000);
    int lost = seen_lost(&a.seen);
    /* a server that answers with something else than JSON: an error, never a crash */
    fake_call(&f, "POST", "/_control/fail?code=0", NULL, NULL);
    fake_call(&f, "POST", "/_control/garbage?on=1", NULL, NULL);
    usleep(2 * RETRY_USEC + 200000);
    char garbage[512];
    status_field(a.h, "error", garbage, sizeof(garbage));
    bool leading_garbage = ha_leading(a.h);
    /* back: it leads again (its Lease was never taken) */
    fake_call(&f, "POST", "/_control/garbage?on=0", NULL, NULL);
    bool back = wait_leading(a.h, true, 2000000);
    replica_stop(&a);
    fake_stop(&f);

    CHECK_INT(r, 0);
    CHECK(led);
    CHECK_INT(failing, 200);
    CHECK(fences > 0);
    CHECK_INT(fenced_ok, 0);
    CHECK(stepped_down);
    CHECK(took >= RENEW_USEC - RETRY_USEC - 100000);
    CHECK_INT(lost, 1);
    CHECK(fence_down != 0);
    CHECK_CONTAINS(error, "HTTP 503 ServiceUnavailable: the server is currently unable");
    CHECK_CONTAINS(error, "/apis/coordination.k8s.io/v1/namespaces/homeostat/leases/"
                          "homeostat-controller");
    CHECK(!leading_garbage);
    CHECK_CONTAINS(garbage, "HTTP 200: the reply is not a JSON object: <html><body>502 Bad");
    CHECK(back);
}

TEST(hung_server_times_out)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    struct ha_config c;
    config_for(&c, f.url, "replica-a");
    struct replica a;
    char msg[512] = "";
    int r = replica_start(&a, &c, msg, sizeof(msg));
    if (r < 0) {
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    bool led = r == 0 && wait_leading(a.h, true, 3000000);
    fake_call(&f, "POST", "/_control/hang?on=1", NULL, NULL);
    uint64_t start = now_usec();
    int fenced = ha_fence(a.h, "x", 1);
    uint64_t took = now_usec() - start;
    bool stepped_down = wait_leading(a.h, false, RENEW_USEC + 2000000);
    replica_stop(&a);
    fake_stop(&f);

    CHECK_INT(r, 0);
    CHECK(led);
    CHECK(fenced != 0 && fenced != -EPERM);
    CHECK(took < RENEW_USEC);
    CHECK(stepped_down);
}

/* The fake's request log: whether a request to a path containing path_part carried the
 * Authorization header auth. */
static bool logged(struct fake *f, const char *path_part, const char *auth)
{
    char *data = NULL;
    size_t len = 0;
    if (file_read_alloc(f->log, 16u << 20, &data, &len) < 0)
        return false;
    bool found = false;
    for (char *line = data, *next; line && *line && !found; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_t *o = json_loads(line, 0, NULL);
        const char *p = json_string_value(json_object_get(o, "path"));
        const char *a = json_string_value(json_object_get(o, "authorization"));
        found = p && a && strstr(p, path_part) && strcmp(a, auth) == 0;
        json_decref(o);
    }
    free(data);
    return found;
}

TEST(kubeconfig_and_rotated_token)
{
    struct fake f;
    if (fake_start(&f) < 0)
        TEST_FAIL("fake API server did not start");
    char path[128], token[128], text[2048], endpoint[256] = "";
    snprintf(path, sizeof(path), "%s/kubeconfig", f.dir);
    snprintf(token, sizeof(token), "%s/token", f.dir);
    /* the current context's cluster, user and namespace; the other context is not used */
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: ci\n"
             "contexts:\n- name: other\n  context: {cluster: nowhere, user: nobody}\n"
             "- name: ci\n  context:\n    cluster: fake\n    user: robot\n    namespace: team-a\n"
             "clusters:\n- name: nowhere\n  cluster: {server: 'http://127.0.0.1:1'}\n"
             "- name: fake\n  cluster:\n    server: %s/\n"
             "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
             "users:\n- name: robot\n  user:\n    tokenFile: token\n",
             f.url);
    int w1 = file_write_atomic(path, text, strlen(text), 0600);
    int w2 = file_write_atomic(token, "tok-1\n", 6, 0600);
    struct ha_config c;
    config_for(&c, NULL, "replica-a");
    c.kube_namespace = NULL;
    c.kubeconfig = path;
    struct replica a;
    char msg[512] = "";
    int r = replica_start(&a, &c, msg, sizeof(msg));
    if (r < 0) {
        fake_stop(&f);
        TEST_FAIL("ha_start: %s", msg);
    }
    bool led = r == 0 && wait_leading(a.h, true, 3000000);
    if (r == 0)
        status_field(a.h, "endpoint", endpoint, sizeof(endpoint));
    /* the token file is replaced, as the kubelet rotates a projected token */
    int w3 = file_write_atomic(token, "tok-2\n", 6, 0600);
    usleep(2 * RETRY_USEC + 200000);
    bool ns_and_token =
        logged(&f, "/namespaces/team-a/leases/homeostat-controller", "Bearer tok-1");
    bool rotated = logged(&f, "/namespaces/team-a/leases/homeostat-controller", "Bearer tok-2");
    replica_stop(&a);
    fake_stop(&f);

    CHECK_INT(w1, 0);
    CHECK_INT(w2, 0);
    CHECK_INT(w3, 0);
    if (r != 0)
        TEST_FAIL("ha_start: %s", msg);
    CHECK(led);
    CHECK_STR(endpoint, f.url);
    CHECK(ns_and_token);
    CHECK(rotated);
}

/* Settings refused at start, each with a message naming what is wrong. */
TEST(bad_settings)
{
    static const struct {
        const char *kubeconfig, *url, *ns, *lease, *want;
    } cases[] = {
        {NULL, "http://127.0.0.1:1", "Bad_NS", NULL, "namespace 'Bad_NS' is not a DNS label"},
        {NULL, "http://127.0.0.1:1", NULL, "a/b", "lease name 'a/b' is not a DNS subdomain"},
        {NULL, "ftp://127.0.0.1:1", "ns", NULL, "is not http:// or https://"},
        {"current-context: x\n", NULL, NULL, NULL, ":1:1: no contexts list"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
         "clusters:\n- name: c\n  cluster: {server: 'https://k:6443'}\n"
         "users:\n- name: u\n  user:\n    exec: {command: aws}\n",
         NULL, NULL, NULL, ":11:11: user 'u' authenticates with exec, which is not supported"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
         "clusters:\n- name: c\n  cluster: {server: 'https://k:6443', "
         "certificate-authority-data: '@@@'}\n",
         NULL, NULL, NULL, "certificate-authority-data: not base64"},
    };
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/kubeconfig", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ha_config c;
        config_for(&c, cases[i].url, "replica-a");
        c.kube_namespace = cases[i].ns;
        c.lease_name = cases[i].lease;
        if (cases[i].kubeconfig) {
            CHECK_INT(
                file_write_atomic(path, cases[i].kubeconfig, strlen(cases[i].kubeconfig), 0600), 0);
            c.kubeconfig = path;
        }
        struct ha *h = NULL;
        char msg[512] = "";
        int r = ha_start(&c, on_change, NULL, &h, msg, sizeof(msg));
        ha_stop(h);
        if (r != -EINVAL || !strstr(msg, cases[i].want))
            TEST_FAIL("case %zu: %d '%s', expected -EINVAL '%s'", i, r, msg, cases[i].want);
    }
    unlink(path);
    rmdir(dir);
    /* no URL, no kubeconfig, not in a pod */
    unsetenv("KUBERNETES_SERVICE_HOST");
    struct ha_config c;
    config_for(&c, NULL, "replica-a");
    struct ha *h = NULL;
    char msg[512] = "";
    int r = ha_start(&c, on_change, NULL, &h, msg, sizeof(msg));
    ha_stop(h);
    CHECK_INT(r, -EINVAL);
    CHECK_CONTAINS(msg,
                   "no Kubernetes API server: give --ha.kubernetes.api-url or --ha.kubeconfig");
}

TEST_MAIN(TEST_ENTRY(backend_is_built_in), TEST_ENTRY(one_leader_and_a_fast_takeover),
          TEST_ENTRY(fenced_when_taken_over), TEST_ENTRY(expiry_by_our_clock_not_theirs),
          TEST_ENTRY(conflicts), TEST_ENTRY(api_server_down_steps_down),
          TEST_ENTRY(hung_server_times_out), TEST_ENTRY(kubeconfig_and_rotated_token),
          TEST_ENTRY(bad_settings))
