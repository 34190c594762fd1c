/* Reads the module's configuration: the environment and our own location. */
#include "lconfig.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long vm:boot() and vm:reset() wait unless PROVIUM_BOOT_TIMEOUT says otherwise. */
#define LCONFIG_BOOT_TIMEOUT_NS (180 * DURATION_NS_PER_S)

/*
 * The directory of this code into OUT: the module's .so when an interpreter
 * loaded it (*IS_MODULE set), else the program it is built into. False if
 * neither can be found.
 */
static bool self_dir(char *out, size_t size, bool *is_module)
{
    char path[PATH_MAX];
    Dl_info info;
    *is_module = false;
    /* For a program, dladdr names argv[0], which may be relative: /proc/self/exe is sure. */
    if (dladdr((void *)self_dir, &info) && info.dli_fname && strstr(info.dli_fname, ".so") &&
        realpath(info.dli_fname, path)) {
        *is_module = true;
    } else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0)
            return false;
        path[n] = '\0';
    }
    char *slash = strrchr(path, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return (size_t)snprintf(out, size, "%s", path) < size;
}

/* VALUE of NAME if set and not empty, else NULL. */
static const char *env(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

static void boot_timeout_read(struct lvm_config *vm)
{
    const char *text = env("PROVIUM_BOOT_TIMEOUT");
    const char *why;
    uint64_t ns;
    vm->boot_timeout_ns = LCONFIG_BOOT_TIMEOUT_NS;
    duration_format(LCONFIG_BOOT_TIMEOUT_NS, vm->boot_timeout_text);
    if (!text)
        return;
    if (duration_parse(text, strlen(text), &ns, &why) < 0) {
        snprintf(vm->config_error, sizeof vm->config_error,
                 "bad PROVIUM_BOOT_TIMEOUT '%.64s': %s", text, why);
        return;
    }
    vm->boot_timeout_ns = ns;
    /* Messages quote the limit as the user wrote it. */
    if (strlen(text) < sizeof vm->boot_timeout_text)
        snprintf(vm->boot_timeout_text, sizeof vm->boot_timeout_text, "%s", text);
    else
        duration_format(ns, vm->boot_timeout_text);
}

void lconfig_read(struct lconfig *cfg)
{
    char dir[PATH_MAX];
    bool is_module;
    bool found = self_dir(dir, sizeof dir, &is_module);
    memset(cfg, 0, sizeof *cfg);

    const char *daemon = env("FAULTFS");
    snprintf(cfg->daemon, sizeof cfg->daemon, "%s", daemon ? daemon : "faultfs");
    if (!daemon && found) {
        char beside[PATH_MAX + 32];
        if (is_module)
            snprintf(beside, sizeof beside, "%s/%s/faultfs", dir, LCONFIG_MODULE_TO_BIN);
        else
            snprintf(beside, sizeof beside, "%s/faultfs", dir);
        if (access(beside, X_OK) == 0 && strlen(beside) < sizeof cfg->daemon)
            strcpy(cfg->daemon, beside);
    }

    struct lvm_config *vm = &cfg->vm;
    const char *builder = env("FAULTFS_BUILD_GUEST");
    if (builder)
        snprintf(vm->guest_builder, sizeof vm->guest_builder, "%s", builder);
    else if (!found ||
             (size_t)snprintf(vm->guest_builder, sizeof vm->guest_builder, "%s/%s/build-guest", dir,
                              is_module ? LCONFIG_MODULE_TO_DATA : LCONFIG_PROGRAM_TO_DATA) >=
                 sizeof vm->guest_builder)
        snprintf(vm->guest_builder, sizeof vm->guest_builder, "build-guest");
    const char *guest_dir = env("PROVIUM_GUEST_DIR");
    if (guest_dir)
        snprintf(vm->guest_dir, sizeof vm->guest_dir, "%s", guest_dir);
    boot_timeout_read(vm);
    const char *accel = env("PROVIUM_ACCEL");
    vm->accel = !accel                      ? VM_ACCEL_AUTO
                : strcmp(accel, "kvm") == 0 ? VM_ACCEL_KVM
                                            : VM_ACCEL_TCG;
    /* A misspelt accelerator would quietly mean TCG. */
    if (accel && strcmp(accel, "kvm") != 0 && strcmp(accel, "tcg") != 0 && !vm->config_error[0])
        snprintf(vm->config_error, sizeof vm->config_error,
                 "bad PROVIUM_ACCEL '%.64s': expected kvm or tcg (or unset: KVM where usable)",
                 accel);

    cfg->guest_aliases = env("PROVIUM_GUEST_ALIASES");
}
