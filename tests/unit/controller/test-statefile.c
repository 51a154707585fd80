/* test-statefile: the controller's state file (controller/daemon/statefile.c): an exact save/load
 * round trip with the rules of tests/fixtures/rules/full.yaml (state, since, per-state timers,
 * cooldowns by decision state name, paused, decision counter), the unknown state, rules
 * where a state was renamed or removed, corrupt files rejected with a message and the
 * state untouched, failed saves that leave no temporary file, and atomicity: a child
 * saving in a loop is SIGKILLed 200 times at random moments and the file always parses as
 * one complete save, never older than the one before. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "parse.h"
#include "statefile.h"
#include "test.h"

#define T0 1700000000.0

static char tmp[PATH_MAX];
static char state_path[PATH_MAX + 16];

/* The rules of full.yaml with one state renamed (degraded -> slow) and one removed
 * (stressed), and the decisions listed in another order. */
static const char renamed_yaml[] =
    "signals: {cpu_busy: {query: up}, p95_latency_seconds: {query: up}}\n"
    "states:\n"
    "  - {name: critical, conditions: [\"cpu_busy > 0.9\"]}\n"
    "  - {name: slow, conditions: [\"p95_latency_seconds > 5\"]}\n"
    "  - {name: optimal}\n"
    "decisions:\n"
    "  optimal: {actions: [{alert: {annotations: {summary: ok}}}]}\n"
    "  critical: {actions: [{alert: {annotations: {summary: hot}}}]}\n"
    "alerting: {alertmanagers: ['http://127.0.0.1:9093']}\n";

static int setup(void)
{
    const char *d = test_tmpdir();
    if (!d)
        return -1;
    snprintf(tmp, sizeof(tmp), "%s", d);
    snprintf(state_path, sizeof(state_path), "%s/state.json", tmp);
    return 0;
}

/* Removes the entries of tmp (files, and one level of directories) and tmp. */
static void teardown(void)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", tmp, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(tmp);
}

/* Entries of tmp other than . and .., and how many start with "state.json.tmp". */
static int count_entries(int *ret_temps)
{
    DIR *d = opendir(tmp);
    if (!d)
        return -1;
    int n = 0, temps = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (strncmp(e->d_name, "state.json.tmp", 14) == 0)
            temps++;
    }
    closedir(d);
    if (ret_temps)
        *ret_temps = temps;
    return n;
}

static struct rules *load_full(void)
{
    struct buf errors;
    buf_init(&errors, 1 << 16);
    struct rules *r = NULL;
    int ret = rules_load_file(test_fixture("rules/full.yaml"), &r, &errors);
    if (ret < 0)
        fprintf(stderr, "  full.yaml: %s\n", errors.data ? errors.data : "?");
    buf_free(&errors);
    return r;
}

static struct rules *load_renamed(void)
{
    struct buf errors;
    buf_init(&errors, 1 << 16);
    struct rules *r = NULL;
    int ret =
        rules_load_string(renamed_yaml, sizeof(renamed_yaml) - 1, "renamed.yaml", &r, &errors);
    if (ret < 0)
        fprintf(stderr, "  renamed.yaml: %s\n", errors.data ? errors.data : "?");
    buf_free(&errors);
    return r;
}

/* A state as the daemon initialises it: the default state since now, nothing ran. */
static int cs_init(struct controller_state *s, const struct rules *r, double now)
{
    memset(s, 0, sizeof(*s));
    s->last_exec = calloc(r->n_decisions ? r->n_decisions : 1, sizeof(double));
    if (!s->last_exec || statefile_init_json(s) < 0)
        return -ENOMEM;
    return eval_state_init(&s->eval, r, now);
}

static void cs_free(struct controller_state *s)
{
    eval_state_free(&s->eval);
    free(s->last_exec);
    statefile_free_json(s);
}

/* Fills s from k so that every field tells which save it came from. */
static void cs_fill(struct controller_state *s, const struct rules *r, unsigned long long k)
{
    s->eval.current = (size_t)(k % r->n_states);
    s->eval.since = T0 + (double)k + 0.25;
    for (size_t i = 0; i < r->n_states; i++) {
        s->eval.held_since[i] = T0 + (double)k * 10 + (double)i;
        s->eval.last_held[i] = T0 + (double)k * 100 + (double)i + 0.5;
    }
    for (size_t i = 0; i < r->n_decisions; i++)
        s->last_exec[i] = T0 + (double)k * 1000 + (double)i + 0.125;
    s->paused = k & 1;
    s->decision_seq = k;
}

/* 1 when s holds exactly what cs_fill(k) put there, k being its decision_seq. */
static int cs_consistent(const struct controller_state *s, const struct rules *r)
{
    unsigned long long k = s->decision_seq;
    if (s->eval.current != (size_t)(k % r->n_states) || s->eval.since != T0 + (double)k + 0.25 ||
        s->paused != (bool)(k & 1))
        return 0;
    for (size_t i = 0; i < r->n_states; i++)
        if (s->eval.held_since[i] != T0 + (double)k * 10 + (double)i ||
            s->eval.last_held[i] != T0 + (double)k * 100 + (double)i + 0.5)
            return 0;
    for (size_t i = 0; i < r->n_decisions; i++)
        if (s->last_exec[i] != T0 + (double)k * 1000 + (double)i + 0.125)
            return 0;
    return 1;
}

/* 1 when a and b (for the same rules) are equal in every field. */
static int cs_equal(const struct controller_state *a, const struct controller_state *b,
                    const struct rules *r)
{
    if (a->eval.current != b->eval.current || a->eval.since != b->eval.since ||
        a->paused != b->paused || a->decision_seq != b->decision_seq)
        return 0;
    for (size_t i = 0; i < r->n_states; i++)
        if (a->eval.held_since[i] != b->eval.held_since[i] ||
            a->eval.last_held[i] != b->eval.last_held[i])
            return 0;
    for (size_t i = 0; i < r->n_decisions; i++)
        if (a->last_exec[i] != b->last_exec[i])
            return 0;
    return 1;
}

TEST(save_load_round_trip)
{
    CHECK(setup() == 0);
    struct rules *r = load_full();
    CHECK(r != NULL);
    CHECK_INT(r->n_states, 4);
    CHECK_INT(r->n_decisions, 3);
    struct controller_state s, back;
    CHECK_INT(cs_init(&s, r, T0), 0);
    CHECK_INT(cs_init(&back, r, T0 + 5000), 0);
    s.eval.current = 1; /* degraded */
    s.eval.since = T0 + 10.5;
    double held[4] = {T0 + 1.25, T0 + 2.5, 0, 0}, last[4] = {T0 + 3, T0 + 4.75, T0 - 1, 0};
    memcpy(s.eval.held_since, held, sizeof(held));
    memcpy(s.eval.last_held, last, sizeof(last));
    s.last_exec[0] = T0 + 100.25; /* critical */
    s.last_exec[1] = T0 + 200.5;  /* degraded */
    s.last_exec[2] = 0;           /* optimal: never */
    s.paused = true;
    s.decision_seq = 42;
    mode_t old_mask = umask(022);
    int r_save = statefile_save(state_path, r, &s);
    umask(old_mask);
    CHECK_INT(r_save, 0);
    int temps = -1;
    CHECK_INT(count_entries(&temps), 1);
    CHECK_INT(temps, 0);
    struct stat st;
    CHECK(stat(state_path, &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0600);

    /* The file itself: what an operator reads. */
    json_error_t jerr;
    json_t *root = json_load_file(state_path, 0, &jerr);
    CHECK(root != NULL);
    json_t *states = json_object_get(root, "states"),
           *cool = json_object_get(root, "last_executed");
    long long version = json_integer_value(json_object_get(root, "version"));
    char name[64];
    const char *state_name = json_string_value(json_object_get(root, "state"));
    snprintf(name, sizeof(name), "%s", state_name ? state_name : "");
    int paused = json_is_true(json_object_get(root, "paused"));
    long long seq = json_integer_value(json_object_get(root, "decision_seq"));
    size_t n_states = json_object_size(states), n_cool = json_object_size(cool);
    double degraded_held =
        json_real_value(json_object_get(json_object_get(states, "degraded"), "held_since"));
    double cool_critical = json_real_value(json_object_get(cool, "critical"));
    double cool_degraded = json_real_value(json_object_get(cool, "degraded"));
    int cool_optimal_zero = json_is_real(json_object_get(cool, "optimal")) &&
                            json_real_value(json_object_get(cool, "optimal")) == 0;
    double saved_at = json_real_value(json_object_get(root, "saved_at"));
    json_decref(root);
    CHECK_INT(version, 1);
    CHECK_STR(name, "degraded");
    CHECK(paused);
    CHECK_INT(seq, 42);
    CHECK_INT(n_states, 4);
    CHECK_DBL(degraded_held, T0 + 2.5, 0);
    CHECK_INT(n_cool, 3);
    CHECK_DBL(cool_critical, T0 + 100.25, 0);
    CHECK_DBL(cool_degraded, T0 + 200.5, 0);
    CHECK(cool_optimal_zero);
    CHECK(saved_at > T0);

    struct buf errors;
    buf_init(&errors, 4096);
    int r_load = statefile_load(state_path, r, &back, &errors);
    int equal = cs_equal(&s, &back, r);
    int no_errors = errors.len == 0;
    buf_free(&errors);
    CHECK_INT(r_load, 0);
    CHECK(no_errors);
    CHECK(equal);
    CHECK_STR(eval_state_name(r, back.eval.current), "degraded");

    /* Saved again with other values, the file is replaced, not merged. */
    s.eval.current = 3;
    s.paused = false;
    s.decision_seq = 0;
    s.last_exec[0] = 0;
    CHECK_INT(statefile_save(state_path, r, &s), 0);
    CHECK_INT(statefile_load(state_path, r, &back, NULL), 0);
    CHECK(cs_equal(&s, &back, r));
    CHECK_INT(count_entries(&temps), 1);
    CHECK_INT(temps, 0);
    cs_free(&s);
    cs_free(&back);
    rules_free(r);
    teardown();
}

TEST(unknown_state_round_trip)
{
    CHECK(setup() == 0);
    struct rules *r = load_full();
    CHECK(r != NULL);
    struct controller_state s, back;
    CHECK_INT(cs_init(&s, r, T0), 0);
    CHECK_INT(cs_init(&back, r, T0 + 1), 0);
    s.eval.current = EVAL_STATE_UNKNOWN;
    s.eval.since = T0 + 7;
    CHECK_INT(statefile_save(state_path, r, &s), 0);
    char *text = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc(state_path, 1 << 20, &text, &len), 0);
    int named = strstr(text, "\"state\": \"unknown\"") != NULL;
    free(text);
    CHECK(named);
    CHECK_INT(statefile_load(state_path, r, &back, NULL), 0);
    CHECK(back.eval.current == EVAL_STATE_UNKNOWN);
    CHECK_DBL(back.eval.since, T0 + 7, 0);
    cs_free(&s);
    cs_free(&back);
    rules_free(r);
    teardown();
}

/* Saved with full.yaml, loaded with rules where degraded became slow and stressed went:
 * states and decisions are matched by name, what has no match is left fresh. */
TEST(renamed_and_removed_states_are_ignored)
{
    CHECK(setup() == 0);
    struct rules *full = load_full(), *renamed = load_renamed();
    CHECK(full != NULL);
    CHECK(renamed != NULL);
    CHECK_INT(renamed->n_decisions, 2);
    CHECK_STR(renamed->states[renamed->decisions[0].state].name, "optimal");
    struct controller_state s, back;
    CHECK_INT(cs_init(&s, full, T0), 0);
    CHECK_INT(cs_init(&back, renamed, T0 + 5000), 0);
    s.eval.current = 0; /* critical: exists in both */
    s.eval.since = T0 + 10;
    double held[4] = {T0 + 1, T0 + 2, T0 + 3, 0}, last[4] = {T0 + 11, T0 + 12, T0 + 13, T0 + 14};
    memcpy(s.eval.held_since, held, sizeof(held));
    memcpy(s.eval.last_held, last, sizeof(last));
    s.last_exec[0] = T0 + 111; /* critical */
    s.last_exec[1] = T0 + 222; /* degraded */
    s.last_exec[2] = T0 + 333; /* optimal */
    s.decision_seq = 9;
    CHECK_INT(statefile_save(state_path, full, &s), 0);
    struct buf errors;
    buf_init(&errors, 4096);
    int ret = statefile_load(state_path, renamed, &back, &errors);
    buf_free(&errors);
    CHECK_INT(ret, 0);
    CHECK_STR(eval_state_name(renamed, back.eval.current), "critical");
    CHECK_DBL(back.eval.since, T0 + 10, 0);
    CHECK_DBL(back.eval.held_since[0], T0 + 1, 0); /* critical */
    CHECK_DBL(back.eval.last_held[0], T0 + 11, 0);
    CHECK_DBL(back.eval.held_since[1], 0, 0); /* slow: new */
    CHECK_DBL(back.eval.last_held[1], 0, 0);
    CHECK_DBL(back.eval.held_since[2], 0, 0); /* optimal */
    CHECK_DBL(back.eval.last_held[2], T0 + 14, 0);
    CHECK_DBL(back.last_exec[0], T0 + 333, 0); /* optimal's decision, listed first */
    CHECK_DBL(back.last_exec[1], T0 + 111, 0); /* critical's */
    CHECK_INT(back.decision_seq, 9);

    /* The current state renamed away: the loaded state stays the initial one. */
    s.eval.current = 1; /* degraded */
    CHECK_INT(statefile_save(state_path, full, &s), 0);
    cs_free(&back);
    CHECK_INT(cs_init(&back, renamed, T0 + 5000), 0);
    CHECK_INT(statefile_load(state_path, renamed, &back, NULL), 0);
    CHECK_STR(eval_state_name(renamed, back.eval.current), "optimal");
    CHECK_DBL(back.last_exec[1], T0 + 111, 0);
    CHECK_INT(back.decision_seq, 9);
    cs_free(&s);
    cs_free(&back);
    rules_free(full);
    rules_free(renamed);
    teardown();
}

/* Regression (fixed): when the saved current state does not exist in the rules (renamed or
 * removed), state_load keeps the initial (default) state but still overwrites since with the time
 * the vanished state was entered, so the API reports "optimal since <when degraded
 * began>" and homeostat_controller_state_since_timestamp_seconds lies. */
TEST(unmatched_current_state_keeps_its_since)
{
    CHECK(setup() == 0);
    struct rules *full = load_full(), *renamed = load_renamed();
    CHECK(full != NULL);
    CHECK(renamed != NULL);
    struct controller_state s, back;
    CHECK_INT(cs_init(&s, full, T0), 0);
    CHECK_INT(cs_init(&back, renamed, T0 + 5000), 0);
    s.eval.current = 1; /* degraded: not in the renamed rules */
    s.eval.since = T0 + 10;
    CHECK_INT(statefile_save(state_path, full, &s), 0);
    CHECK_INT(statefile_load(state_path, renamed, &back, NULL), 0);
    CHECK_STR(eval_state_name(renamed, back.eval.current), "optimal");
    double since = back.eval.since;
    cs_free(&s);
    cs_free(&back);
    rules_free(full);
    rules_free(renamed);
    teardown();
    if (since != T0 + 5000)
        TEST_FAIL(
            "regression: the default state kept after an unmatched saved state 'degraded' got "
            "since %.3f (degraded's), expected its own %.3f",
            since, T0 + 5000);
}

TEST(corrupt_files_are_rejected_and_change_nothing)
{
    CHECK(setup() == 0);
    struct rules *r = load_full();
    CHECK(r != NULL);
    struct controller_state good, s, snap;
    CHECK_INT(cs_init(&good, r, T0), 0);
    cs_fill(&good, r, 7);
    CHECK_INT(statefile_save(state_path, r, &good), 0);
    char *saved = NULL;
    size_t saved_len = 0;
    CHECK_INT(file_read_alloc(state_path, 1 << 20, &saved, &saved_len), 0);

    CHECK_INT(cs_init(&s, r, T0 + 1), 0);
    CHECK_INT(cs_init(&snap, r, T0 + 1), 0);
    cs_fill(&s, r, 3);
    cs_fill(&snap, r, 3);

    struct {
        const char *text;
        size_t len;      /* 0: strlen */
        const char *msg; /* expected after "PATH:" */
    } cases[] = {
        {"", 0, NULL},
        {"{", 0, NULL},
        {"not json at all", 0, NULL},
        {"[1, 2]", 0, "1:1: not a homeostat state file (version 1)"},
        {"{\"state\": \"critical\"}", 0, "1:1: not a homeostat state file (version 1)"},
        {"{\"version\": 2, \"state\": \"critical\"}", 0,
         "1:1: not a homeostat state file (version 1)"},
        {"{\"version\": \"1\", \"state\": \"critical\"}", 0,
         "1:1: not a homeostat state file (version 1)"},
        {saved, saved_len / 2, NULL},
        {saved, saved_len - 3, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *f = fopen(state_path, "w");
        CHECK(f != NULL);
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        if (len)
            fwrite(cases[i].text, 1, len, f);
        fclose(f);
        struct buf errors;
        buf_init(&errors, 4096);
        int ret = statefile_load(state_path, r, &s, &errors);
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", errors.data ? errors.data : "");
        buf_free(&errors);
        if (ret != -EINVAL)
            TEST_FAIL("case %zu: state_load returned %d, expected -EINVAL", i, ret);
        if (!cs_equal(&s, &snap, r))
            TEST_FAIL("case %zu: the state was changed by a rejected file", i);
        size_t pl = strlen(state_path);
        if (strncmp(msg, state_path, pl) != 0 || msg[pl] != ':' || strlen(msg) < pl + 6)
            TEST_FAIL("case %zu: the message \"%s\" does not start with \"%s:L:C: \"", i, msg,
                      state_path);
        if (cases[i].msg && strcmp(msg + pl + 1, cases[i].msg) != 0)
            TEST_FAIL("case %zu: message \"%s\", expected \"%s:%s\"", i, msg, state_path,
                      cases[i].msg);
    }
    free(saved);

    /* No file: -ENOENT (start fresh), nothing touched. */
    unlink(state_path);
    CHECK_INT(statefile_load(state_path, r, &s, NULL), -ENOENT);
    CHECK(cs_equal(&s, &snap, r));
    /* Larger than the limit: refused before parsing. */
    FILE *f = fopen(state_path, "w");
    CHECK(f != NULL);
    fputs("{\"version\": 1, \"pad\": \"", f);
    for (size_t i = 0; i < STATE_MAX_FILE_BYTES; i++)
        fputc('x', f);
    fputs("\"}", f);
    fclose(f);
    CHECK_INT(statefile_load(state_path, r, &s, NULL), -EFBIG);
    CHECK(cs_equal(&s, &snap, r));
    cs_free(&good);
    cs_free(&s);
    cs_free(&snap);
    rules_free(r);
    teardown();
}

TEST(failed_saves_leave_no_temporary_file)
{
    CHECK(setup() == 0);
    struct rules *r = load_full();
    CHECK(r != NULL);
    struct controller_state s;
    CHECK_INT(cs_init(&s, r, T0), 0);
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof(missing), "%s/missing/state.json", tmp);
    CHECK_INT(statefile_save(missing, r, &s), -ENOENT);
    /* The state path taken by a directory: the rename fails, the temp file goes. */
    CHECK(mkdir(state_path, 0700) == 0);
    int ret = statefile_save(state_path, r, &s);
    CHECK(ret == -EISDIR || ret == -EEXIST || ret == -ENOTEMPTY);
    int temps = -1;
    CHECK_INT(count_entries(&temps), 1);
    CHECK_INT(temps, 0);
    CHECK(rmdir(state_path) == 0);
    for (int i = 0; i < 20; i++) {
        cs_fill(&s, r, (unsigned long long)i);
        CHECK_INT(statefile_save(state_path, r, &s), 0);
    }
    CHECK_INT(count_entries(&temps), 1);
    CHECK_INT(temps, 0);
    cs_free(&s);
    rules_free(r);
    teardown();
}

/* Saves forever, the content of save number k being cs_fill(k), k from base. */
static void saver(const struct rules *r, unsigned long long base)
{
    struct controller_state s;
    if (cs_init(&s, r, T0) < 0)
        _exit(3);
    for (unsigned long long k = base;; k++) {
        cs_fill(&s, r, k);
        if (statefile_save(state_path, r, &s) < 0)
            _exit(2);
    }
}

TEST(save_is_atomic_under_sigkill)
{
    CHECK(setup() == 0);
    struct rules *r = load_full();
    CHECK(r != NULL);
    struct controller_state s;
    CHECK_INT(cs_init(&s, r, T0), 0);
    cs_fill(&s, r, 0);
    CHECK_INT(statefile_save(state_path, r, &s), 0);
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "  seed %u\n", seed);
    unsigned long long last_k = 0;
    int kills = 0, reads = 0, advanced = 0;
    fflush(NULL);
    for (int i = 0; i < 200; i++) {
        unsigned long long base = (unsigned long long)(i + 1) * 1000000ull;
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            saver(r, base);
        /* Read while it saves, for a random 0..4 ms, then kill it. Every tenth child is
         * killed only once a reader saw one of its saves (10 s at most), so that some kills
         * come after a save however slow the machine is (valgrind). */
        uint64_t start = now_usec();
        uint64_t until = start + (uint64_t)(rand_r(&seed) % 4000);
        bool await_save = i % 10 == 0;
        char problem[512] = "";
        do {
            struct controller_state seen;
            if (cs_init(&seen, r, T0) < 0) {
                snprintf(problem, sizeof(problem), "out of memory");
                break;
            }
            struct buf errors;
            buf_init(&errors, 4096);
            int ret = statefile_load(state_path, r, &seen, &errors);
            if (ret != 0)
                snprintf(problem, sizeof(problem), "a reader got %d: %s", ret,
                         errors.data ? errors.data : "");
            else if (!cs_consistent(&seen, r))
                snprintf(problem, sizeof(problem), "a reader saw a mixed state (seq %llu)",
                         seen.decision_seq);
            else if (seen.decision_seq < last_k)
                snprintf(problem, sizeof(problem), "a reader saw seq %llu after %llu",
                         seen.decision_seq, last_k);
            else
                last_k = seen.decision_seq;
            if (seen.decision_seq >= base)
                await_save = false;
            buf_free(&errors);
            cs_free(&seen);
            reads++;
        } while (!problem[0] &&
                 (now_usec() < until || (await_save && now_usec() < start + 10000000)));
        kill(pid, SIGKILL);
        int status = 0;
        pid_t waited = waitpid(pid, &status, 0);
        if (problem[0])
            TEST_FAIL("kill %d: %s", i, problem);
        CHECK(waited == pid);
        if (!WIFSIGNALED(status))
            TEST_FAIL("kill %d: the saver exited by itself (status %d)", i, status);
        kills++;
        cs_free(&s);
        CHECK_INT(cs_init(&s, r, T0), 0);
        struct buf errors;
        buf_init(&errors, 4096);
        int ret = statefile_load(state_path, r, &s, &errors);
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", errors.data ? errors.data : "");
        buf_free(&errors);
        if (ret != 0)
            TEST_FAIL("kill %d: after the kill state_load gives %d: %s", i, ret, msg);
        if (!cs_consistent(&s, r))
            TEST_FAIL("kill %d: after the kill the file holds a mixed state (seq %llu)", i,
                      s.decision_seq);
        if (s.decision_seq < last_k)
            TEST_FAIL("kill %d: after the kill seq %llu < %llu", i, s.decision_seq, last_k);
        if (s.decision_seq >= base)
            advanced++;
        last_k = s.decision_seq;
    }
    int temps = 0;
    count_entries(&temps);
    fprintf(stderr,
            "  %d kills, %d reads, %d kills after a save of that child, %d temporary "
            "files left by killed savers\n",
            kills, reads, advanced, temps);
    CHECK_INT(kills, 200);
    CHECK(advanced > 0);
    cs_free(&s);
    rules_free(r);
    teardown();
}

TEST_MAIN(TEST_ENTRY(save_load_round_trip), TEST_ENTRY(unknown_state_round_trip),
          TEST_ENTRY(renamed_and_removed_states_are_ignored),
          TEST_ENTRY(unmatched_current_state_keeps_its_since),
          TEST_ENTRY(corrupt_files_are_rejected_and_change_nothing),
          TEST_ENTRY(failed_saves_leave_no_temporary_file),
          TEST_ENTRY(save_is_atomic_under_sigkill))
