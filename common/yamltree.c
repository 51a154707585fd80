/* yamltree: libyaml events into an immutable, position-keeping tree with limits on input
 * size, depth, node count and alias expansion; typed getters that report
 * "FILE:LINE:COL: message" (see yamltree.h). */
#include "yamltree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "fileio.h"
#include "log.h"
#include "parse.h"

struct ytree_node {
    const struct ytree *tree;
    enum ytree_kind kind;
    enum ytree_style style;
    unsigned line, column;
    const char *tag;  /* arena, or NULL */
    const char *text; /* scalars: arena, NUL-terminated */
    size_t len;       /* scalars: text length; collections: items (maps: 2 per entry) */
    const struct ytree_node **items; /* collections: arena; maps interleave key, value */
    size_t weight;   /* nodes in the subtree with aliases expanded, this one included */
    unsigned height; /* 0 for scalars, 1 + the highest child for collections */
    bool complete;   /* false while a collection is still being read */
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
};

struct ytree {
    char *name;
    struct arena_chunk *arena;
    struct ytree_node *root;
};

#define ARENA_CHUNK_BYTES 16384u

static void *arena_alloc(struct ytree *t, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    struct arena_chunk *c = t->arena;
    if (!c || c->size - c->used < n) {
        size_t size = n > ARENA_CHUNK_BYTES ? n : ARENA_CHUNK_BYTES;
        struct arena_chunk *nc = malloc(sizeof(*nc) + size);
        if (!nc)
            return NULL;
        nc->used = 0;
        nc->size = size;
        if (c && n > ARENA_CHUNK_BYTES) {
            /* A big block goes behind the current chunk so its free space stays usable. */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            t->arena = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_strndup(struct ytree *t, const char *s, size_t n)
{
    char *p = arena_alloc(t, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* One map or sequence being read. */
struct frame {
    struct ytree_node *node;
    const struct ytree_node **v;
    size_t n, cap;
};

struct anchor {
    char *name;
    struct ytree_node *node;
};

struct loader {
    struct ytree *t;
    struct ytree_limits lim;
    struct buf *errors;
    const char *data;
    size_t data_len;
    struct frame *stack;
    size_t depth, cap_stack;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t nodes, aliases;
    unsigned documents;
    bool have_root;
    int soft_error; /* errors reported while reading goes on (duplicate keys) */
};

static void append_error(struct buf *errors, const char *name, unsigned line, unsigned col,
                         const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void append_error(struct buf *errors, const char *name, unsigned line, unsigned col,
                         const char *fmt, va_list ap)
{
    if (!errors)
        return;
    size_t before = errors->len;
    int r =
        line ? buf_printf(errors, "%s:%u:%u: ", name, line, col) : buf_printf(errors, "%s: ", name);
    if (r >= 0)
        r = buf_vprintf(errors, fmt, ap);
    if (r >= 0)
        r = buf_putc(errors, '\n');
    if (r < 0 && errors->data) {
        /* Never leave half a line behind. */
        errors->len = before;
        errors->data[before] = '\0';
    }
}

static int load_error(struct loader *l, int error, unsigned line, unsigned col, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

static int load_error(struct loader *l, int error, unsigned line, unsigned col, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_error(l->errors, l->t->name, line, col, fmt, ap);
    va_end(ap);
    return error;
}

static int oom(struct loader *l)
{
    return load_error(l, -ENOMEM, 0, 0, "out of memory");
}

static struct ytree_node *new_node(struct loader *l, enum ytree_kind kind, const yaml_mark_t *mark,
                                   const yaml_char_t *tag, int *ret_r)
{
    if (l->nodes >= l->lim.max_nodes) {
        *ret_r = load_error(l, -E2BIG, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
                            "document has more than %zu nodes", l->lim.max_nodes);
        return NULL;
    }
    struct ytree_node *n = arena_alloc(l->t, sizeof(*n));
    if (!n) {
        *ret_r = oom(l);
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->tree = l->t;
    n->kind = kind;
    n->style = YTREE_PLAIN;
    n->line = (unsigned)mark->line + 1;
    n->column = (unsigned)mark->column + 1;
    n->weight = 1;
    if (tag) {
        n->tag = arena_strndup(l->t, (const char *)tag, strlen((const char *)tag));
        if (!n->tag) {
            *ret_r = oom(l);
            return NULL;
        }
    }
    l->nodes++;
    return n;
}

static int add_anchor(struct loader *l, const yaml_char_t *name, struct ytree_node *node)
{
    if (!name)
        return 0;
    if (l->n_anchors == l->cap_anchors) {
        size_t cap = l->cap_anchors ? l->cap_anchors * 2 : 16;
        struct anchor *a = realloc(l->anchors, cap * sizeof(*a));
        if (!a)
            return oom(l);
        l->anchors = a;
        l->cap_anchors = cap;
    }
    char *copy = strdup((const char *)name);
    if (!copy)
        return oom(l);
    l->anchors[l->n_anchors].name = copy;
    l->anchors[l->n_anchors].node = node;
    l->n_anchors++;
    return 0;
}

/* Hands a finished node (or an alias' target) to the collection being read, or makes it
 * the root. */
static int attach(struct loader *l, const struct ytree_node *n, unsigned line, unsigned col)
{
    if (l->depth == 0) {
        l->t->root = (struct ytree_node *)n;
        l->have_root = true;
        return 0;
    }
    struct frame *f = &l->stack[l->depth - 1];
    if (f->node->kind == YTREE_MAP && f->n % 2 == 0 && n->kind != YTREE_SCALAR)
        return load_error(l, -EINVAL, line, col, "map keys must be scalars, got %s",
                          ytree_describe(n));
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        const struct ytree_node **v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return oom(l);
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = n;
    return 0;
}

static int open_collection(struct loader *l, const yaml_event_t *ev, enum ytree_kind kind)
{
    const yaml_char_t *tag, *anchor;
    if (kind == YTREE_MAP) {
        tag = ev->data.mapping_start.tag;
        anchor = ev->data.mapping_start.anchor;
    } else {
        tag = ev->data.sequence_start.tag;
        anchor = ev->data.sequence_start.anchor;
    }
    const yaml_mark_t *m = &ev->start_mark;
    if (l->depth + 1 > l->lim.max_depth)
        return load_error(l, -E2BIG, (unsigned)m->line + 1, (unsigned)m->column + 1,
                          "nesting deeper than %u levels", l->lim.max_depth);
    int r = 0;
    struct ytree_node *n = new_node(l, kind, m, tag, &r);
    if (!n)
        return r;
    if (l->depth == l->cap_stack) {
        size_t cap = l->cap_stack ? l->cap_stack * 2 : 8;
        struct frame *s = realloc(l->stack, cap * sizeof(*s));
        if (!s)
            return oom(l);
        l->stack = s;
        l->cap_stack = cap;
    }
    l->stack[l->depth++] = (struct frame){.node = n};
    return add_anchor(l, anchor, n);
}

struct key_ref {
    const struct ytree_node *key;
    size_t index;
};

static int key_ref_cmp(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->text, y->key->text, n);
    if (c)
        return c;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Reports every key that repeats an earlier one, in document order. */
static int check_duplicate_keys(struct loader *l, const struct ytree_node **v, size_t n_entries)
{
    if (n_entries < 2)
        return 0;
    struct key_ref *refs = malloc(n_entries * sizeof(*refs));
    size_t *first = malloc(n_entries * sizeof(*first));
    if (!refs || !first) {
        free(refs);
        free(first);
        return oom(l);
    }
    for (size_t i = 0; i < n_entries; i++) {
        refs[i] = (struct key_ref){v[2 * i], i};
        first[i] = SIZE_MAX;
    }
    qsort(refs, n_entries, sizeof(*refs), key_ref_cmp);
    for (size_t i = 1; i < n_entries; i++) {
        const struct ytree_node *a = refs[i - 1].key, *b = refs[i].key;
        if (a->len == b->len && memcmp(a->text, b->text, a->len) == 0)
            first[refs[i].index] =
                first[refs[i - 1].index] == SIZE_MAX ? refs[i - 1].index : first[refs[i - 1].index];
    }
    for (size_t i = 0; i < n_entries; i++) {
        if (first[i] == SIZE_MAX)
            continue;
        const struct ytree_node *k = v[2 * i], *orig = v[2 * first[i]];
        /* An alias used as a key has its anchor's position; the original's is still
         * the most useful one to show. */
        load_error(l, 0, k->line, k->column, "duplicate key '%s' (first at %u:%u)", k->text,
                   orig->line, orig->column);
        l->soft_error = -EINVAL;
    }
    free(refs);
    free(first);
    return 0;
}

static int close_collection(struct loader *l)
{
    if (l->depth == 0)
        return load_error(l, -EINVAL, 0, 0, "unbalanced collection end");
    struct frame *f = &l->stack[l->depth - 1];
    struct ytree_node *n = f->node;
    size_t weight = 1;
    unsigned height = 0;
    for (size_t i = 0; i < f->n; i++) {
        weight += f->v[i]->weight;
        if (f->v[i]->height > height)
            height = f->v[i]->height;
    }
    n->weight = weight;
    n->height = height + 1;
    n->len = f->n;
    if (f->n) {
        n->items = arena_alloc(l->t, f->n * sizeof(*n->items));
        if (!n->items)
            return oom(l);
        memcpy(n->items, f->v, f->n * sizeof(*n->items));
    }
    free(f->v);
    f->v = NULL;
    if (n->kind == YTREE_MAP) {
        int r = check_duplicate_keys(l, n->items, n->len / 2);
        if (r < 0)
            return r;
    }
    n->complete = true;
    l->depth--;
    return attach(l, n, n->line, n->column);
}

static int scalar(struct loader *l, const yaml_event_t *ev)
{
    int r = 0;
    struct ytree_node *n = new_node(l, YTREE_SCALAR, &ev->start_mark, ev->data.scalar.tag, &r);
    if (!n)
        return r;
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = YTREE_SINGLE_QUOTED; break;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = YTREE_DOUBLE_QUOTED; break;
    case YAML_LITERAL_SCALAR_STYLE: n->style = YTREE_LITERAL; break;
    case YAML_FOLDED_SCALAR_STYLE: n->style = YTREE_FOLDED; break;
    default: n->style = YTREE_PLAIN; break;
    }
    n->len = ev->data.scalar.length;
    n->text = arena_strndup(l->t, (const char *)ev->data.scalar.value, n->len);
    if (!n->text)
        return oom(l);
    n->height = 0;
    n->complete = true;
    r = add_anchor(l, ev->data.scalar.anchor, n);
    if (r < 0)
        return r;
    return attach(l, n, n->line, n->column);
}

static int alias(struct loader *l, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    struct ytree_node *target = NULL;
    for (size_t i = l->n_anchors; i > 0; i--)
        if (strcmp(l->anchors[i - 1].name, name) == 0) {
            target = l->anchors[i - 1].node;
            break;
        }
    if (!target)
        return load_error(l, -EINVAL, line, col, "unknown alias '*%s'", name);
    if (!target->complete)
        return load_error(l, -EINVAL, line, col, "alias '*%s' refers to a node that contains it",
                          name);
    if (++l->aliases > l->lim.max_aliases)
        return load_error(l, -E2BIG, line, col, "more than %zu alias references",
                          l->lim.max_aliases);
    if (target->weight > l->lim.max_nodes - l->nodes)
        return load_error(l, -E2BIG, line, col, "alias '*%s' expands the document past %zu nodes",
                          name, l->lim.max_nodes);
    if (l->depth + target->height > l->lim.max_depth)
        return load_error(l, -E2BIG, line, col, "alias '*%s' nests deeper than %u levels", name,
                          l->lim.max_depth);
    l->nodes += target->weight;
    return attach(l, target, line, col);
}

/* libyaml reader errors carry a byte offset; turn it into a line and column. */
static void offset_position(const struct loader *l, size_t offset, unsigned *line, unsigned *col)
{
    unsigned ln = 1, c = 1;
    for (size_t i = 0; i < offset && i < l->data_len; i++) {
        if (l->data[i] == '\n') {
            ln++;
            c = 1;
        } else if (((unsigned char)l->data[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = ln;
    *col = c;
}

static int parser_error(struct loader *l, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "syntax error";
    switch (p->error) {
    case YAML_MEMORY_ERROR: return oom(l);
    case YAML_READER_ERROR: {
        unsigned line, col;
        offset_position(l, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            return load_error(l, -EINVAL, line, col, "%s (byte 0x%02x)", problem,
                              (unsigned)p->problem_value & 0xff);
        return load_error(l, -EINVAL, line, col, "%s", problem);
    }
    default: {
        unsigned line = (unsigned)p->problem_mark.line + 1;
        unsigned col = (unsigned)p->problem_mark.column + 1;
        if (p->context)
            return load_error(l, -EINVAL, line, col, "%s (%s at %u:%u)", problem, p->context,
                              (unsigned)p->context_mark.line + 1,
                              (unsigned)p->context_mark.column + 1);
        return load_error(l, -EINVAL, line, col, "%s", problem);
    }
    }
}

static int run_parser(struct loader *l, yaml_parser_t *p)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev))
            return parser_error(l, p);
        int r = 0;
        bool done = false;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++l->documents > 1)
                r = load_error(l, -EINVAL, (unsigned)ev.start_mark.line + 1,
                               (unsigned)ev.start_mark.column + 1,
                               "expected a single document, found another one");
            break;
        case YAML_SCALAR_EVENT: r = scalar(l, &ev); break;
        case YAML_ALIAS_EVENT: r = alias(l, &ev); break;
        case YAML_SEQUENCE_START_EVENT: r = open_collection(l, &ev, YTREE_SEQ); break;
        case YAML_MAPPING_START_EVENT: r = open_collection(l, &ev, YTREE_MAP); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: r = close_collection(l); break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (r < 0)
            return r;
        if (done)
            return 0;
    }
}

static struct ytree_limits limits_or_defaults(const struct ytree_limits *in)
{
    struct ytree_limits lim = in ? *in : (struct ytree_limits){0};
    if (!lim.max_bytes)
        lim.max_bytes = YTREE_DEFAULT_MAX_BYTES;
    if (!lim.max_depth)
        lim.max_depth = YTREE_DEFAULT_MAX_DEPTH;
    if (!lim.max_nodes)
        lim.max_nodes = YTREE_DEFAULT_MAX_NODES;
    if (!lim.max_aliases)
        lim.max_aliases = YTREE_DEFAULT_MAX_ALIASES;
    return lim;
}

int ytree_load_string(const char *data, size_t len, const char *name,
                      const struct ytree_limits *limits, struct ytree **ret, struct buf *errors)
{
    struct ytree *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->name = strdup(name ? name : "<string>");
    if (!t->name) {
        free(t);
        return -ENOMEM;
    }
    struct loader l = {
        .t = t,
        .lim = limits_or_defaults(limits),
        .errors = errors,
        .data = data,
        .data_len = len,
    };
    int r;
    if (len > l.lim.max_bytes) {
        r = load_error(&l, -E2BIG, 0, 0, "input is %zu bytes, more than the limit of %zu", len,
                       l.lim.max_bytes);
        goto out;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        r = oom(&l);
        goto out;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(data ? data : ""), len);
    r = run_parser(&l, &parser);
    yaml_parser_delete(&parser);
    if (r >= 0 && l.soft_error < 0)
        r = l.soft_error;
    if (r >= 0 && !l.have_root) {
        /* An empty stream: a null document. */
        yaml_mark_t start = {0, 0, 0};
        struct ytree_node *n = new_node(&l, YTREE_SCALAR, &start, NULL, &r);
        if (n) {
            n->text = "";
            n->complete = true;
            t->root = n;
        }
    }
out:
    for (size_t i = 0; i < l.depth; i++)
        free(l.stack[i].v);
    free(l.stack);
    for (size_t i = 0; i < l.n_anchors; i++)
        free(l.anchors[i].name);
    free(l.anchors);
    if (r < 0) {
        log_debug("yamltree: %s: load failed (%d)", t->name, r);
        ytree_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

int ytree_load_file(const char *path, const struct ytree_limits *limits, struct ytree **ret,
                    struct buf *errors)
{
    struct ytree_limits lim = limits_or_defaults(limits);
    char *data = NULL;
    size_t len = 0;
    int r = file_read_alloc(path, lim.max_bytes, &data, &len);
    if (r < 0) {
        if (errors) {
            if (r == -EFBIG)
                buf_printf(errors, "%s: file is larger than the limit of %zu bytes\n", path,
                           lim.max_bytes);
            else
                buf_printf(errors, "%s: cannot read: %s\n", path, strerror(-r));
        }
        return r;
    }
    r = ytree_load_string(data, len, path, &lim, ret, errors);
    free(data);
    return r;
}

void ytree_free(struct ytree *t)
{
    if (!t)
        return;
    struct arena_chunk *c = t->arena;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(t->name);
    free(t);
}

const struct ytree_node *ytree_root(const struct ytree *t)
{
    return t->root;
}

const char *ytree_name(const struct ytree *t)
{
    return t->name;
}

enum ytree_kind ytree_kind(const struct ytree_node *n)
{
    return n->kind;
}

unsigned ytree_line(const struct ytree_node *n)
{
    return n->line;
}

unsigned ytree_column(const struct ytree_node *n)
{
    return n->column;
}

const char *ytree_file(const struct ytree_node *n)
{
    return n->tree->name;
}

const char *ytree_text(const struct ytree_node *n, size_t *ret_len)
{
    if (n->kind != YTREE_SCALAR)
        return NULL;
    if (ret_len)
        *ret_len = n->len;
    return n->text;
}

enum ytree_style ytree_style(const struct ytree_node *n)
{
    return n->style;
}

const char *ytree_tag(const struct ytree_node *n)
{
    return n->tag;
}

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static bool tag_is(const struct ytree_node *n, const char *what)
{
    return n->tag && strncmp(n->tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) == 0 &&
           strcmp(n->tag + strlen(YAML_TAG_PREFIX), what) == 0;
}

/* A plain scalar without a tag (or with the non-specific "!"?) may be read as a number,
 * boolean or null. */
static bool plain_untagged(const struct ytree_node *n)
{
    return n->kind == YTREE_SCALAR && n->style == YTREE_PLAIN && !n->tag;
}

bool ytree_is_null(const struct ytree_node *n)
{
    if (n->kind != YTREE_SCALAR)
        return false;
    if (tag_is(n, "null"))
        return true;
    if (!plain_untagged(n))
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

size_t ytree_len(const struct ytree_node *n)
{
    if (n->kind == YTREE_MAP)
        return n->len / 2;
    if (n->kind == YTREE_SEQ)
        return n->len;
    return 0;
}

const struct ytree_node *ytree_item(const struct ytree_node *seq, size_t i)
{
    if (seq->kind != YTREE_SEQ || i >= seq->len)
        return NULL;
    return seq->items[i];
}

const struct ytree_node *ytree_key(const struct ytree_node *map, size_t i)
{
    if (map->kind != YTREE_MAP || i >= map->len / 2)
        return NULL;
    return map->items[2 * i];
}

const struct ytree_node *ytree_value(const struct ytree_node *map, size_t i)
{
    if (map->kind != YTREE_MAP || i >= map->len / 2)
        return NULL;
    return map->items[2 * i + 1];
}

const struct ytree_node *ytree_get(const struct ytree_node *map, const char *key)
{
    if (!map || map->kind != YTREE_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < map->len; i += 2) {
        const struct ytree_node *k = map->items[i];
        if (k->len == kl && memcmp(k->text, key, kl) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

const char *ytree_describe(const struct ytree_node *n)
{
    static _Thread_local char out[64];
    if (n->kind == YTREE_MAP)
        return "a map";
    if (n->kind == YTREE_SEQ)
        return "a sequence";
    if (ytree_is_null(n))
        return "null";
    if (!plain_untagged(n))
        return "a string";
    size_t max = 40;
    size_t len = strnlen(n->text, max + 1);
    if (len > max)
        snprintf(out, sizeof(out), "'%.*s...'", (int)max, n->text);
    else
        snprintf(out, sizeof(out), "'%s'", n->text);
    return out;
}

int ytree_error(struct buf *errors, const struct ytree_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_error(errors, n->tree->name, n->line, n->column, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int ytree_expect(const struct ytree_node *n, enum ytree_kind kind, struct buf *errors)
{
    static const char *const names[] = {
        [YTREE_SCALAR] = "a scalar", [YTREE_MAP] = "a map", [YTREE_SEQ] = "a sequence"};
    if (n->kind == kind)
        return 0;
    return ytree_error(errors, n, "expected %s, got %s", names[kind], ytree_describe(n));
}

int ytree_get_string(const struct ytree_node *n, const char **ret, struct buf *errors)
{
    if (n->kind != YTREE_SCALAR || ytree_is_null(n))
        return ytree_error(errors, n, "expected a string, got %s", ytree_describe(n));
    if (strlen(n->text) != n->len)
        return ytree_error(errors, n, "string contains a NUL character");
    *ret = n->text;
    return 0;
}

int ytree_get_bool(const struct ytree_node *n, bool *ret, struct buf *errors)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    if (plain_untagged(n) || tag_is(n, "bool")) {
        for (size_t i = 0; i < 3; i++) {
            if (strcasecmp(n->text, yes[i]) == 0) {
                *ret = true;
                return 0;
            }
            if (strcasecmp(n->text, no[i]) == 0) {
                *ret = false;
                return 0;
            }
        }
    }
    return ytree_error(errors, n, "expected true or false, got %s", ytree_describe(n));
}

int ytree_get_double(const struct ytree_node *n, double *ret, struct buf *errors)
{
    static const struct {
        const char *text;
        double value;
    } special[] = {
        {".inf", INFINITY},   {".Inf", INFINITY},  {".INF", INFINITY},   {"+.inf", INFINITY},
        {"+.Inf", INFINITY},  {"+.INF", INFINITY}, {"-.inf", -INFINITY}, {"-.Inf", -INFINITY},
        {"-.INF", -INFINITY}, {".nan", NAN},       {".NaN", NAN},        {".NAN", NAN},
    };
    if (plain_untagged(n) || tag_is(n, "float") || tag_is(n, "int")) {
        for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
            if (strcmp(n->text, special[i].text) == 0) {
                *ret = special[i].value;
                return 0;
            }
        double v;
        int r = n->len ? parse_double(n->text, &v) : -EINVAL;
        if (r == -ERANGE)
            return ytree_error(errors, n, "number %s is out of range", ytree_describe(n));
        if (r == 0) {
            *ret = v;
            return 0;
        }
    }
    return ytree_error(errors, n, "expected a number, got %s", ytree_describe(n));
}

int ytree_get_uint(const struct ytree_node *n, uint64_t *ret, struct buf *errors)
{
    if (plain_untagged(n) || tag_is(n, "int")) {
        unsigned long long v;
        int r = n->len ? parse_u64(n->text, &v) : -EINVAL;
        if (r == -ERANGE)
            return ytree_error(errors, n, "integer %s is out of range", ytree_describe(n));
        if (r == 0) {
            *ret = v;
            return 0;
        }
    }
    return ytree_error(errors, n, "expected a non-negative integer, got %s", ytree_describe(n));
}

int ytree_get_duration(const struct ytree_node *n, uint64_t *ret_usec, struct buf *errors)
{
    if (n->kind == YTREE_SCALAR && !ytree_is_null(n) && strlen(n->text) == n->len) {
        uint64_t v;
        int r = parse_duration_usec(n->text, &v);
        if (r == -ERANGE)
            return ytree_error(errors, n, "duration '%s' is out of range", n->text);
        if (r == 0) {
            *ret_usec = v;
            return 0;
        }
    }
    if (n->kind == YTREE_SCALAR && !ytree_is_null(n))
        return ytree_error(errors, n, "expected a duration such as 30s, 5m or 1h30m, got '%.40s'",
                           n->text);
    return ytree_error(errors, n, "expected a duration such as 30s, 5m or 1h30m, got %s",
                       ytree_describe(n));
}

unsigned ytree_edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return 255;
    unsigned d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb] > 255 ? 255 : d[la][lb];
}

const char *ytree_suggest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    unsigned best_d = 255;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        unsigned d = ytree_edit_distance(s, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    if (best && best_d <= 2 && best_d * 3 <= strlen(best))
        return best;
    return NULL;
}

int ytree_check_keys(const struct ytree_node *map, const char *const *allowed, struct buf *errors)
{
    if (map->kind != YTREE_MAP)
        return -EINVAL;
    int r = 0;
    for (size_t i = 0; i + 1 < map->len; i += 2) {
        const struct ytree_node *k = map->items[i];
        const char *const *a = allowed;
        while (*a && !(k->len == strlen(*a) && memcmp(k->text, *a, k->len) == 0))
            a++;
        if (*a)
            continue; /* known: no suggestion to compute */
        size_t n_allowed = 0;
        while (allowed[n_allowed])
            n_allowed++;
        const char *best = ytree_suggest(k->text, allowed, n_allowed);
        if (best)
            r = ytree_error(errors, k, "unknown key '%.64s'; did you mean '%s'?", k->text, best);
        else
            r = ytree_error(errors, k, "unknown key '%.64s'", k->text);
    }
    return r;
}

struct error_line {
    const char *text;
    size_t len, index;
    unsigned long line, column;
};

static int error_line_cmp(const void *a, const void *b)
{
    const struct error_line *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void ytree_errors_sorted(struct buf *out, const struct buf *in, const char *name)
{
    if (!out || !in->len)
        return;
    size_t n = 0;
    for (size_t i = 0; i < in->len; i++)
        n += in->data[i] == '\n';
    struct error_line *lines = calloc(n ? n : 1, sizeof(*lines));
    if (!lines) {
        buf_append(out, in->data, in->len);
        return;
    }
    size_t nl = strlen(name), k = 0;
    for (const char *p = in->data; k < n; k++) {
        const char *end = strchr(p, '\n');
        struct error_line *e = &lines[k];
        *e = (struct error_line){.text = p, .len = (size_t)(end - p) + 1, .index = k};
        if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
            char *q;
            e->line = strtoul(p + nl + 1, &q, 10);
            if (*q == ':')
                e->column = strtoul(q + 1, NULL, 10);
        }
        p = end + 1;
    }
    qsort(lines, n, sizeof(*lines), error_line_cmp);
    for (size_t i = 0; i < n; i++)
        buf_append(out, lines[i].text, lines[i].len);
    free(lines);
}
