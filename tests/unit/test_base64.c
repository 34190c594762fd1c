#include "base64.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(const char *data, size_t len, const char *want)
{
    char enc[64], dec[64];
    cr_assert_eq(base64_encoded_len(len), strlen(want));
    base64_encode(data, len, enc);
    cr_assert_str_eq(enc, want);
    cr_assert_eq(base64_decode(enc, strlen(enc), dec), (long)len);
    cr_assert_eq(memcmp(dec, data, len), 0);
}

Test(base64, rfc4648_vectors)
{
    roundtrip("", 0, "");
    roundtrip("f", 1, "Zg==");
    roundtrip("fo", 2, "Zm8=");
    roundtrip("foo", 3, "Zm9v");
    roundtrip("foob", 4, "Zm9vYg==");
    roundtrip("fooba", 5, "Zm9vYmE=");
    roundtrip("foobar", 6, "Zm9vYmFy");
}

Test(base64, binary_bytes_survive)
{
    unsigned char all[256], back[256 + 3];
    char enc[400];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    base64_encode(all, sizeof all, enc);
    cr_assert_eq(base64_decode(enc, strlen(enc), back), 256);
    cr_assert_eq(memcmp(all, back, 256), 0);
}

Test(base64, padding_is_optional_and_junk_is_refused)
{
    char out[16];
    cr_assert_eq(base64_decode("Zm8", 3, out), 2);
    cr_assert_eq(memcmp(out, "fo", 2), 0);
    cr_assert_eq(base64_decode("Zm9v!", 5, out), -1);
    cr_assert_eq(base64_decode("Zm 9v", 5, out), -1);
}

Test(base64, impossible_lengths_and_stray_padding_are_refused)
{
    char out[16];
    cr_assert_eq(base64_decode("Zm9vY", 5, out), -1);
    cr_assert_eq(base64_decode("Zg===", 5, out), -1);
    cr_assert_eq(base64_decode("Zg=g", 4, out), -1);
}

Test(base64, decodes_in_place)
{
    char text[] = "Zm9vYmFy";
    cr_assert_eq(base64_decode(text, strlen(text), text), 6);
    cr_assert_eq(memcmp(text, "foobar", 6), 0);
}
