/*
 * notify.c — telling systemd how a daemon is doing (READY=1, STOPPING=1):
 * the mount's service (fs/cli/service.c) and `imgfs serve`
 * (fs/serve/serve.c) both run under Type=notify units (SPEC §15).  No
 * libsystemd: the protocol is one datagram, and a failure to send it is
 * not the daemon's to report (systemd then times the unit out).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (an
 * abstract socket when it starts with '@'); nothing when it is unset. */
void fs_sd_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	if (!path || !path[0] || (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract socket */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}
