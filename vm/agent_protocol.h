/*
 * The guest agent's protocol, defined once for both of its ends: the host
 * (vm/agent.c) and the guest (tools/guest/agent.c, which tools/build-guest
 * compiles with this header and base64.c). build-guest also reads the
 * version and the port name from here for guest.json.
 *
 * One message per line, fields separated by exactly one space, payloads in
 * base64 (base64.h; AGENT_PROTO_EMPTY for an empty one):
 *
 *   host -> guest   run ID B64CMD        start /bin/sh -c CMD
 *                   kill ID              SIGKILL the command's process group
 *                   ping ID              answered by pong ID
 *   guest -> host   hello GUEST VERSION  first, at every connection
 *                   pong ID
 *                   exit ID STATUS B64STDOUT B64STDERR   STATUS: exit code, or 128 + signal
 *                   error ID|- B64MESSAGE                "-" when no id applies
 *
 * Many commands run at once; their replies come in any order.
 *
 * Bump AGENT_PROTO_VERSION whenever a peer built against the old header
 * could misread the other: the host refuses a hello of another version, so
 * a stale guest is a clear boot error instead of a protocol mystery.
 *   1  the first protocol (limits written separately on each side)
 *   2  the limits below, shared; the host checks the version at hello
 */
#ifndef FAULTFS_AGENT_PROTOCOL_H
#define FAULTFS_AGENT_PROTOCOL_H

#define AGENT_PROTO_VERSION 2

/* The virtio-serial port QEMU gives the guest; the agent finds it by this name. */
#define AGENT_PROTO_PORT "org.faultfs.agent"

/* An id: 1 to AGENT_PROTO_ID_MAX of AGENT_PROTO_ID_CHARS, chosen by the host. */
#define AGENT_PROTO_ID_MAX 32
#define AGENT_PROTO_ID_CHARS "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"

/* The longest command, in bytes before base64 (16 MiB). */
#define AGENT_PROTO_COMMAND_MAX (16u << 20)

/* The longest line the guest accepts: a run of the longest command. */
#define AGENT_PROTO_LINE_MAX                                                                       \
    (sizeof "run " + AGENT_PROTO_ID_MAX + 1 + (AGENT_PROTO_COMMAND_MAX + 2) / 3 * 4)

/* Bytes of stdout and of stderr kept per command (4 MiB each); the rest is read and dropped. */
#define AGENT_PROTO_STREAM_MAX (4u << 20)

/* The payload field of an empty payload. */
#define AGENT_PROTO_EMPTY "-"

#endif
