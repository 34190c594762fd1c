/* Decoding a request that came on a ring into a call of its handler. */
#ifndef FAULTFS_RING_DISPATCH_H
#define FAULTFS_RING_DISPATCH_H

#include "request.h"

#include <linux/fuse.h>

/*
 * Calls OPS's handler for the request IN (OP_IN: its opcode's fixed argument;
 * PAYLOAD, LEN bytes: the rest), which replies through R; an opcode faultfs
 * does not serve is answered as libfuse would answer it.
 */
void ring_dispatch(const struct request_ops *ops, struct request r, const struct fuse_in_header *in,
                   const void *op_in, const char *payload, size_t len);

#endif
