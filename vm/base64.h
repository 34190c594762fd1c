/* Base64 (standard alphabet, padded), as the guest agent's protocol carries payloads. */
#ifndef FAULTFS_BASE64_H
#define FAULTFS_BASE64_H

#include <stddef.h>

/* Encoded length of LEN bytes, without the NUL. */
size_t base64_encoded_len(size_t len);

/* Writes the encoding of DATA and a NUL into OUT (base64_encoded_len(len) + 1 bytes). */
void base64_encode(const void *data, size_t len, char *out);

/*
 * Decodes LEN characters of TEXT (padding optional) into OUT, which must hold
 * len * 3 / 4 + 3 bytes. Returns the decoded length, or -1 on a bad character.
 */
long base64_decode(const char *text, size_t len, void *out);

#endif
