/* SPDX-License-Identifier: MIT */
/*
 * Where pvft keeps its run-time state: each domain's directory with its
 * replicas' control sockets, logs and console output (pvft(1), FILES).
 */
#ifndef PVFT_LIB_RUNDIR_H
#define PVFT_LIB_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * $PVFT_RUN_DIR if set; else /run/pvft for root, $XDG_RUNTIME_DIR/pvft or
 * /tmp/pvft-UID for others. With @create, made (mode 0700) when missing;
 * one that is not a directory owned by this user is refused (-EPERM).
 * 0, or -errno.
 */
int pvft__run_dir(char *buf, size_t len, bool create);

/* mkdir -p @path, the last component 0700 and ours. 0, or -errno. */
int pvft__make_private_dir(const char *path);

#endif /* PVFT_LIB_RUNDIR_H */
