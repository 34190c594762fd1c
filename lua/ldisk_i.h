/* Private to the Disk: the state its two files (ldisk.c, ldisk_io.c) share. */
#ifndef FAULTFS_LDISK_I_H
#define FAULTFS_LDISK_I_H

#include "ldisk.h"

#include "fault_table.h"
#include "lmount.h"

#include <lauxlib.h>
#include <stdint.h>

/* 4 GiB: the seed's modelled size of a disk attached without one. */
#define LDISK_DEFAULT_SIZE (4ll << 30)

/* Most sectors one read_sectors call returns (32 MiB). */
#define LDISK_MAX_SECTORS 65536

typedef struct LDisk {
    bool detached;
    bool faults_ready;              /* faults was initialized */
    bool in_mount;                  /* MOUNT/<mount_id> was attached for it */
    char id[DISK_ID_MAX + 1];       /* as the script named it */
    char mount_id[DISK_ID_MAX + 1]; /* <vm>.<id> */
    unsigned slot;                  /* its VM's number for it: QEMU node d<slot> */
    bool retry;                     /* on_error = "retry" */
    const char *aio;                /* QEMU's aio for it: "threads", "native", "io_uring" */
    const char *format;             /* QEMU's format driver for it: "raw", "qcow2" */
    char *image;                    /* the backing image, or NULL */
    int fd;                         /* the raw image for sector I/O, or -1 */
    lua_Integer size;               /* the modelled size */
    struct fault_table faults;      /* a view of ctl; the only table of an image-less disk */
    const struct ldisk_vm_ops *vm;  /* what it asks of its VM (uservalue 1) */
} LDisk;

#define todisk(L) ((LDisk *)luaL_checkudata(L, 1, FAULTFS_DISK))

#define LDISK_NO_IMAGE "no backing image — disk:with_image required"

/* The Disk at 1, raising the seed's "disk is detached" once it is. */
LDisk *ldisk_live(lua_State *L, const char *what);

/* The Mount of the Disk at index DI (kept alive by that Disk's uservalue). */
LMount *ldisk_mount(lua_State *L, int di);

/* The image's live size. 0 or -errno. */
int ldisk_image_size(const LDisk *d, uint64_t *size);

/* Sends TEXT (one batch for the disk's ctl), or applies it locally without an image. */
int ldisk_send(lua_State *L, LDisk *d, const char *what, const char *text);

/* The methods of ldisk_io.c. */
int ldisk_read_sectors(lua_State *L);
int ldisk_write_sectors(lua_State *L);
int ldisk_fault_inject(lua_State *L);
int ldisk_clear_faults(lua_State *L);
int ldisk_active_faults(lua_State *L);
int ldisk_powercut(lua_State *L);
int ldisk_mark(lua_State *L);
int ldisk_trace(lua_State *L);
int ldisk_read_trace(lua_State *L);

#endif
