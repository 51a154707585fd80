/* yamltree: loads a YAML document (libyaml) into a small immutable tree whose every
 * node keeps its line and column, with limits on size, depth, node count and alias
 * expansion (no billion laughs), so configuration loaders can report every error as
 * "FILE:LINE:COL: message". PLACEHOLDER: being written. */
#ifndef HOMEOSTAT_YAMLTREE_H
#define HOMEOSTAT_YAMLTREE_H
#endif
