/*
 * What a disk's batch of commands does beyond its fault table edits: the
 * volatile cache follows the rules (on with a volatile rule's limit, written
 * back when the rule goes), then the one-shot commands run in order:
 * powercut, mark TEXT, trace on|off|clear (SPEC §2b).
 */
#ifndef FAULTFS_DISK_CONTROL_H
#define FAULTFS_DISK_CONTROL_H

#include "ctl_parse.h"
#include "disk.h"

/*
 * The fault table edits of a disk's BATCH (all or nothing), then the rest,
 * as disk_control_after. 0, or -errno with ERR.
 */
int disk_control_apply(struct disk *disk, const struct ctl_batch *batch, struct ff_error *err);

/*
 * After BATCH's edits are in DISK's table: the cache follows them and the
 * one-shot commands run, those of ID only when ID is not NULL (the mount's
 * ctl, "ID: COMMAND"). 0, or -errno with ERR: the edits stay made.
 */
int disk_control_after(struct disk *disk, const struct ctl_batch *batch, const char *id,
                       struct ff_error *err);

#endif
