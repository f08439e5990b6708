// SPDX-License-Identifier: MIT
/*
 * vifspec: pvft-hv's --vif spec, parsed (vifspec.h). Shared by pvft-hv and
 * the pvft command, so that a config is refused for exactly what pvft-hv
 * would refuse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hostport.h"
#include "vifspec.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly XX:XX:XX:XX:XX:XX, two hex digits a byte. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	/* A vif's MAC is a unicast address. */
	return mac[0] & 1 ? -1 : 0;
}

void vif__format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

/* IPV4:PORT (lib/hostport.h splits it; no brackets: IPv4 only). */
static int parse_service(const char *s, struct sockaddr_in *sa)
{
	char host[64], port_s[64];
	struct hostport hp;
	char *end;
	unsigned long port;

	if (s[0] == '[' || hostport__split(s, strlen(s), &hp) || !hp.host_len ||
	    hp.host_len >= sizeof(host) || !hp.port_len ||
	    hp.port_len >= sizeof(port_s))
		return -1;
	memcpy(host, hp.host, hp.host_len);
	host[hp.host_len] = '\0';
	memcpy(port_s, hp.port, hp.port_len);
	port_s[hp.port_len] = '\0';
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || *end || end == port_s || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	return 0;
}

int vif__parse(struct vif_config *cfg, const char *spec, char *err,
	       size_t errlen)
{
	static const uint8_t def_mac[6] = VIF_DEFAULT_MAC;
	char *copy = strdup(spec), *save = NULL, *tok;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->mac, def_mac, 6);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');

		if (!val) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE", tok);
			goto out;
		}
		*val++ = '\0';
		if (!strcmp(tok, "mac")) {
			if (parse_mac(val, cfg->mac)) {
				snprintf(err, errlen,
					 "mac '%s': want a unicast "
					 "XX:XX:XX:XX:XX:XX",
					 val);
				goto out;
			}
		} else if (!strcmp(tok, "ip")) {
			if (inet_pton(AF_INET, val, &cfg->ip) != 1 ||
			    !cfg->ip.s_addr) {
				snprintf(err, errlen,
					 "ip '%s': want an IPv4 address", val);
				goto out;
			}
		} else if (!strcmp(tok, "tap") || !strcmp(tok, "bridge")) {
			char *dst = tok[0] == 't' ? cfg->tap : cfg->bridge;

			if (!*val || strlen(val) >= IFNAMSIZ ||
			    strpbrk(val, "/ \t")) {
				snprintf(err, errlen,
					 "%s '%s': want an interface name of "
					 "1 to %d characters",
					 tok, val, IFNAMSIZ - 1);
				goto out;
			}
			strcpy(dst, val);
			if (tok[0] == 't')
				cfg->host = VIF_HOST_TAP;
		} else if (!strcmp(tok, "loopback")) {
			if (parse_service(val, &cfg->service) ||
			    (ntohl(cfg->service.sin_addr.s_addr) >> 24) !=
				127) {
				snprintf(err, errlen,
					 "loopback '%s': want 127.X.Y.Z:PORT",
					 val);
				goto out;
			}
			cfg->host = VIF_HOST_LOOPBACK;
		} else if (!strcmp(tok, "guest-port")) {
			char *end;
			unsigned long p = strtoul(val, &end, 10);

			if (*end || end == val || p < 1 || p > 65535) {
				snprintf(err, errlen,
					 "guest-port '%s': want 1..65535", val);
				goto out;
			}
			cfg->guest_port = p;
		} else {
			snprintf(err, errlen,
				 "unknown key '%s' (want mac, ip, tap, bridge, "
				 "loopback, guest-port)",
				 tok);
			goto out;
		}
	}
	if (cfg->tap[0] && cfg->service.sin_port) {
		snprintf(err, errlen, "tap= and loopback=: one or the other");
		goto out;
	}
	if (cfg->bridge[0] && !cfg->tap[0]) {
		snprintf(err, errlen, "bridge= needs tap=");
		goto out;
	}
	if (cfg->host == VIF_HOST_NONE) {
		snprintf(err, errlen,
			 "no host side: want tap=NAME or "
			 "loopback=127.0.0.1:PORT");
		goto out;
	}
	if (cfg->host == VIF_HOST_LOOPBACK && !cfg->ip.s_addr) {
		snprintf(err, errlen, "loopback= needs the guest's ip=");
		goto out;
	}
	if (!cfg->guest_port)
		cfg->guest_port = ntohs(cfg->service.sin_port);
	rc = 0;
out:
	free(copy);
	return rc;
}
