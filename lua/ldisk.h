/*
 * Disk: the seed's Disk API over a mount's disk and its raw image. Above
 * lmount; below the VM, which owns its disks. A Disk never calls into the
 * VM layer: the VM hands it plain data (struct ldisk_owner) and the few
 * things a Disk asks of its VM as a table of functions (struct ldisk_vm_ops).
 */
#ifndef FAULTFS_LDISK_H
#define FAULTFS_LDISK_H

#include "disk_id.h"

#include <limits.h>
#include <lua.h>
#include <stdbool.h>

#define FAULTFS_DISK "faultfs.Disk"

/* What QEMU needs to plug a Disk in. */
struct ldisk_drive {
    char node[16];       /* QEMU node name, unique in its VM: d<slot> */
    unsigned slot;       /* the VM's number for the disk, in attach order */
    char serial[21];     /* the guest reads it in /sys/block/vdX/serial */
    char path[PATH_MAX]; /* MOUNT/<vm>.<id>/image */
    bool retry;          /* on_error = "retry": QEMU pauses on an error, retries on resume */
    const char *aio;     /* "threads", "native" or "io_uring" (static strings) */
    const char *format;  /* what QEMU reads the image as: "raw" or "qcow2" (static strings) */
};

/*
 * What a Disk asks of its VM; each gets the VM at VM_INDEX (the Disk keeps
 * its VM alive). The VM layer fills one static table for all its disks.
 */
struct ldisk_vm_ops {
    /* Hot-plugs DRIVE if the VM is running: 0, or -1 with a message pushed. */
    int (*plug)(lua_State *L, int vm_index, const struct ldisk_drive *drive);
    /*
     * The Disk ID is being detached: unplug DRIVE (NULL if it has none) from
     * a running VM, best effort, and forget the id so it can be attached again.
     */
    void (*detach)(lua_State *L, int vm_index, const char *id, const struct ldisk_drive *drive);
    /* Lets the VM run on if QEMU paused it on an error of a retry disk. */
    void (*service)(lua_State *L, int vm_index);
    /* Pushes the guest's device (/dev/vdX) of the disk with SERIAL; raises if not running. */
    int (*guest_device)(lua_State *L, int vm_index, const char *serial);
};

/* The VM a new Disk belongs to, as plain data. */
struct ldisk_owner {
    int vm_index;    /* the VM (kept as the Disk's uservalue 1) */
    int mount_index; /* its Mount (uservalue 2) */
    const char *vm_name;
    unsigned slot; /* the VM's number for this disk: its QEMU node, its boot order */
    const struct ldisk_vm_ops *ops;
};

/* attach_disk's options, parsed and checked. */
struct ldisk_options {
    char id[DISK_ID_MAX + 1];
    lua_Integer size;   /* the modelled size */
    bool retry;         /* on_error = "retry" */
    const char *aio;    /* static string */
    const char *format; /* "raw" or "qcow2": static string */
    const char *image;  /* borrowed from the options table, or NULL */
};

/*
 * Parses the attach_disk options table at OPTS_INDEX (may be nil) of VM
 * VM_NAME into OUT; raises "attach_disk: ..." naming a bad option. No side
 * effects: the VM checks the id before anything is attached.
 */
void ldisk_options_parse(lua_State *L, int opts_index, const char *vm_name,
                         struct ldisk_options *out);

/*
 * Pushes a new Disk of OWNER with options O; its image (if any) is attached
 * to the mount and opened. Raises "attach_disk: ..." (leaving nothing
 * attached). Plugging it into a running VM is the VM's business.
 */
void ldisk_attach(lua_State *L, const struct ldisk_owner *owner, const struct ldisk_options *o);

/* Undoes ldisk_attach for the Disk at INDEX when the VM could not take it; safe twice. */
void ldisk_release(lua_State *L, int index);

/* Fills OUT for the Disk at INDEX; false when it has no image (nothing to plug) or is detached. */
bool ldisk_drive(lua_State *L, int index, struct ldisk_drive *out);

/* Registers the Disk class. */
void ldisk_open(lua_State *L);

#endif
