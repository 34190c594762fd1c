/* Disk ids: 1-64 characters of [A-Za-z0-9_.-], never ".", ".." or "ctl". */
#include "disk_id.h"

#include <errno.h>
#include <string.h>

static int disk_id_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

int disk_id_check(const char *id, size_t len, const char **why)
{
    if (len == 0) {
        *why = "empty";
        return -EINVAL;
    }
    if (len > DISK_ID_MAX) {
        *why = "longer than 64 characters";
        return -EINVAL;
    }
    if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.')) {
        *why = "'.' and '..' are reserved";
        return -EINVAL;
    }
    if (len == 3 && memcmp(id, "ctl", 3) == 0) {
        *why = "'ctl' is reserved (MOUNT/ctl is the mount's control file)";
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!disk_id_char_ok(id[i])) {
            *why = "only A-Z a-z 0-9 _ . - are allowed";
            return -EINVAL;
        }
    }
    return 0;
}
