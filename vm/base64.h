/*
 * Base64 (standard alphabet, padded, unwrapped): the payload encoding of the
 * guest agent's protocol (agent_protocol.h). One implementation for both
 * ends: the host links it from vm/, tools/build-guest compiles it into the
 * guest's agent.
 */
#ifndef FAULTFS_BASE64_H
#define FAULTFS_BASE64_H

#include <stddef.h>

/* Encoded length of LEN bytes, without the NUL. */
size_t base64_encoded_len(size_t len);

/* Writes the encoding of DATA and a NUL into OUT (base64_encoded_len(len) + 1 bytes). */
void base64_encode(const void *data, size_t len, char *out);

/*
 * Decodes LEN characters of TEXT into OUT, which must hold len * 3 / 4 + 1
 * bytes; OUT may be TEXT itself (the output never overtakes the input).
 * Padding is optional. Returns the decoded length, or -1 for a character
 * outside the alphabet, anything after the padding, more than two '=', or
 * a length no encoding has.
 */
long base64_decode(const char *text, size_t len, void *out);

#endif
