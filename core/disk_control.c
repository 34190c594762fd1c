/* A disk's commands past its fault table: the volatile cache and the one-shot commands. */
#include "disk_control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int disk_control_apply(struct disk *disk, const struct ctl_batch *batch, struct ff_error *err)
{
    int rc = ctl_batch_apply_faults(batch, &disk->faults);
    if (rc < 0)
        return ff_error_set(err, rc, "%s: %s", disk->id,
                            rc == -ENOSPC ? "too many rules for one disk" : strerror(-rc));
    return disk_control_after(disk, batch, NULL, err);
}

/* The sectors a power cut made bad again, as bad_sectors rules (8 runs a rule). */
static int powercut_unmend(struct disk *disk, const struct write_cache_unmended *u)
{
    const struct fault_mode *bad = &fault_modes[FAULT_MODE_BAD_SECTORS];
    struct fault_edit *edits = calloc(u->count ? u->count : 1, sizeof *edits);
    size_t n = 0;
    if (!edits)
        return -ENOMEM;
    for (size_t i = 0; i < u->count; i++) {
        struct fault_rule *r = n ? &edits[n - 1].rule : NULL;
        if (!r || r->nranges == FAULT_RULE_MAX_RANGES || r->error != u->runs[i].error) {
            edits[n] = (struct fault_edit){.op = FAULT_EDIT_SET, .rule = fault_rule_default(bad)};
            r = &edits[n++].rule;
            r->error = u->runs[i].error;
        }
        r->ranges[r->nranges++] = (struct fault_range){u->runs[i].first, u->runs[i].last};
    }
    int rc = fault_table_apply(&disk->faults, edits, n);
    free(edits);
    return rc;
}

static int run_action(struct disk *disk, const struct ctl_command *c, struct ff_error *err)
{
    int rc = 0;
    switch (c->action) {
    case CTL_ACTION_POWERCUT: {
        struct write_cache_unmended unmended;
        int64_t lost = write_cache_powercut(&disk->cache, disk->fd, c->keep, c->seed, &unmended);
        rc = lost < 0 ? (int)lost : 0;
        if (unmended.count && powercut_unmend(disk, &unmended) < 0 && rc == 0)
            rc = -ENOMEM;
        free(unmended.runs);
        break;
    }
    case CTL_ACTION_MARK:
        rc = io_trace_mark(&disk->trace, c->text);
        break;
    case CTL_ACTION_TRACE_ON:
    case CTL_ACTION_TRACE_OFF:
        rc = io_trace_switch(&disk->trace, c->action == CTL_ACTION_TRACE_ON);
        break;
    case CTL_ACTION_TRACE_CLEAR:
        io_trace_clear(&disk->trace);
        break;
    case CTL_ACTION_NONE:
        break;
    }
    if (rc < 0)
        ff_error_set(err, rc, "%s: line %u: %s: %s", disk->id, c->line,
                     c->action == CTL_ACTION_POWERCUT ? "powercut: writing the kept blocks failed"
                                                      : "trace",
                     strerror(-rc));
    return rc;
}

int disk_control_after(struct disk *disk, const struct ctl_batch *batch, const char *id,
                       struct ff_error *err)
{
    int rc = 0;
    /* A volatile rule added, changed or gone: the cache follows it first. */
    uint64_t limit = fault_table_cache_limit(&disk->faults);
    struct write_cache_stats now;
    write_cache_stats(&disk->cache, &now);
    if (limit != now.limit) {
        rc = write_cache_set_limit(&disk->cache, disk->fd, limit);
        if (rc < 0)
            ff_error_set(err, rc, "%s: volatile: writing the cache back failed: %s", disk->id,
                         strerror(-rc));
    }
    for (size_t i = 0; i < batch->count && rc == 0; i++) {
        const struct ctl_command *c = &batch->commands[i];
        if (c->op == CTL_OP_FAULT && (!id || strcmp(c->id, id) == 0))
            rc = run_action(disk, c, err);
    }
    return rc;
}
