/* subproc: placeholder until the subprocess runner lands (see subproc.h). */
#include "subproc.h"

#include <errno.h>
#include <string.h>

int subproc_run(const struct subproc_opts *opts, struct subproc_result *res)
{
    memset(res, 0, sizeof(*res));
    return -ENOSYS;
}

void subproc_result_free(struct subproc_result *res)
{
    buf_free(&res->out);
    buf_free(&res->err);
}

const char *subproc_describe(const struct subproc_result *res, char *buf, size_t size)
{
    return "not implemented";
}
