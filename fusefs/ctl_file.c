/* The control files: MOUNT/ctl (attach, detach, list), ID/ctl (faults) and ID/stats. */
#include "faultfs.h"

#include "ctl_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int snapshot_json(struct handle *h, json_t *json)
{
    if (!json)
        return -ENOMEM;
    char *text = json_dumps(json, JSON_INDENT(2));
    json_decref(json);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    char *with_newline = realloc(text, len + 2);
    if (!with_newline) {
        free(text);
        return -ENOMEM;
    }
    memcpy(with_newline + len, "\n", 2);
    h->text = with_newline;
    h->text_len = len + 1;
    return 0;
}

static int snapshot_faults(struct handle *h)
{
    size_t size = FAULT_TABLE_MAX_RULES * FAULT_RULE_TEXT_MAX + 1;
    h->text = malloc(size);
    if (!h->text)
        return -ENOMEM;
    ssize_t len = fault_table_render(&h->disk->faults, h->text, size);
    if (len < 0)
        return (int)len;
    h->text_len = (size_t)len;
    return 0;
}

int ctl_file_snapshot(struct faultfs *fs, struct handle *h)
{
    switch (h->kind) {
    case NODE_MOUNT_CTL:
        return snapshot_json(h, disk_registry_json(&fs->disks));
    case NODE_DISK_CTL:
        return snapshot_faults(h);
    case NODE_STATS:
        return snapshot_json(h, disk_stats_json(h->disk));
    default:
        return -EINVAL;
    }
}

void ctl_file_write(fuse_req_t req, struct handle *h, const char *buf, size_t size)
{
    struct faultfs *fs = faultfs_of(req);
    enum ctl_scope scope = h->kind == NODE_MOUNT_CTL ? CTL_SCOPE_MOUNT : CTL_SCOPE_DISK;
    const char *where = h->disk ? h->disk->id : "mount";
    struct ctl_batch batch;
    struct ctl_error err;
    char why[CTL_ERROR_TEXT_MAX + 64];

    if (h->disk && atomic_load(&h->disk->detached)) {
        fuse_reply_err(req, ENXIO);
        return;
    }
    int rc = ctl_parse(scope, buf, size, &batch, &err);
    if (rc == 0)
        rc = scope == CTL_SCOPE_MOUNT ? disk_registry_apply(&fs->disks, &batch, &err)
                                      : ctl_batch_apply_faults(&batch, &h->disk->faults);
    ctl_batch_free(&batch);
    if (rc < 0) {
        if (err.text[0]) {
            ctl_error_format(&err, why, sizeof why);
            fuse_log(FUSE_LOG_ERR, "faultfs: %s ctl: %s\n", where, why);
        }
        fuse_reply_err(req, -rc);
        return;
    }
    fuse_reply_write(req, size);
}
