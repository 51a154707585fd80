/* collector_filesystem: test hooks of the filesystem collector (the collector itself
 * is collector_filesystem in collector.h). Lets tests replace statvfs(3) so that
 * sizes are deterministic and a hung mount can be simulated without NFS. */
#ifndef HOMEOSTAT_EXPORTER_COLLECTOR_FILESYSTEM_H
#define HOMEOSTAT_EXPORTER_COLLECTOR_FILESYSTEM_H

#include <sys/statvfs.h>

/* Same contract as statvfs(3): 0, or -1 with errno set. Called on a worker thread. */
typedef int (*filesystem_statvfs_fn)(const char *path, struct statvfs *buf);

/* Replaces the statvfs the collector calls (NULL restores statvfs(3)). Takes effect for
 * the jobs started by the next collect(); a job already running keeps its function.
 * Not thread-safe against a concurrent collect(): call it between scrapes. */
void filesystem_set_statvfs_for_test(filesystem_statvfs_fn fn);

#endif
