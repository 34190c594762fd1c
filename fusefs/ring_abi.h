/*
 * FUSE over io_uring, the kernel's side of it (Linux 6.14+, protocol 7.42):
 * Documentation/filesystems/fuse-io-uring.rst and include/uapi/linux/fuse.h.
 * Debian 12's kernel headers predate it, so the few structures are spelled
 * out here, as the ABI fixes them.
 *
 * Each registered entry is two buffers: a header (the request's fuse_in_header,
 * its opcode's fixed argument, and the entry's own bookkeeping) and a payload
 * (the rest of the arguments: names, write data; on the way back the reply's
 * arguments). Commands go in the 80-byte area of a 128-byte SQE.
 */
#ifndef FAULTFS_RING_ABI_H
#define FAULTFS_RING_ABI_H

#include <stdint.h>

#define RING_IN_OUT_HEADER_SIZE 128
#define RING_OP_IN_SIZE 128

struct ring_ent_in_out {
    uint64_t flags;
    uint64_t commit_id;  /* the request's unique, to name it in the commit */
    uint32_t payload_sz; /* bytes of the payload in use, either way */
    uint32_t padding;
    uint64_t reserved;
};

struct ring_req_header {
    char in_out[RING_IN_OUT_HEADER_SIZE]; /* fuse_in_header in, fuse_out_header back */
    char op_in[RING_OP_IN_SIZE];          /* the opcode's first argument (fuse_read_in...) */
    struct ring_ent_in_out ent;
};

enum ring_cmd {
    RING_CMD_REGISTER = 1,         /* hand an entry to a queue: it waits for a request */
    RING_CMD_COMMIT_AND_FETCH = 2, /* answer the entry's request and wait for the next */
};

struct ring_cmd_req {
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

_Static_assert(sizeof(struct ring_ent_in_out) == 32, "the kernel's fuse_uring_ent_in_out");
_Static_assert(sizeof(struct ring_req_header) == 288, "the kernel's fuse_uring_req_header");
_Static_assert(sizeof(struct ring_cmd_req) == 24, "the kernel's fuse_uring_cmd_req");

#endif
