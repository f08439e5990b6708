// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

int pvft__make_private_dir(const char *path)
{
	char tmp[4096];
	struct stat sb;
	size_t i, len = strlen(path);

	if (!len || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	/* The parents as mkdir -p makes them. */
	for (i = 1; i < len; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		tmp[i] = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(path, &sb))
		return -errno;
	/* Not a symlink someone planted, not someone else's. */
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return -EPERM;
	if ((sb.st_mode & 077) && chmod(path, 0700))
		return -errno;
	return 0;
}

int pvft__run_dir(char *buf, size_t len, bool create)
{
	const char *env = getenv("PVFT_RUN_DIR"), *xdg;
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/pvft");
	else if ((xdg = getenv("XDG_RUNTIME_DIR")) && *xdg)
		n = snprintf(buf, len, "%s/pvft", xdg);
	else
		n = snprintf(buf, len, "/tmp/pvft-%u", (unsigned int)geteuid());
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return create ? pvft__make_private_dir(buf) : 0;
}
