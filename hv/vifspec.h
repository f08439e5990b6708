/* SPDX-License-Identifier: MIT */
/*
 * vifspec: the --vif spec of pvft-hv ('mac=..,ip=..,tap=NAME[,bridge=BR]'
 * or '...,loopback=127.X.Y.Z:PORT[,guest-port=N]'), parsed into a struct
 * vif_config. Pure: no domain, no devices, no log; linked into pvft-hv
 * (netback) and into the pvft command, which checks a config's vif lines
 * with it before anything is started (pvft.cfg(5)).
 */
#ifndef PVFT_HV_VIFSPEC_H
#define PVFT_HV_VIFSPEC_H

#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

enum vif_host {
	VIF_HOST_NONE,	   /* no host side (an offline replay) */
	VIF_HOST_TAP,	   /* a tap device: real L2 */
	VIF_HOST_LOOPBACK, /* UDP on 127.0.0.0/8, forwarded to the guest */
};

struct vif_config {
	uint8_t mac[6];
	struct in_addr ip; /* the guest's (host side: ARP, forwards); 0: none */
	enum vif_host host;
	char tap[IFNAMSIZ];
	char bridge[IFNAMSIZ];
	struct sockaddr_in service; /* loopback: the address clients use */
	uint16_t guest_port;	    /* loopback: the guest's UDP port */
};

/* The default MAC: Xen's OUI 00:16:3e, then "pv" and 1. */
#define VIF_DEFAULT_MAC                            \
	{                                          \
		0x00, 0x16, 0x3e, 0x70, 0x76, 0x01 \
	}

/* Parse a --vif spec into @cfg; 0, or -1 with @err filled. */
int vif__parse(struct vif_config *cfg, const char *spec, char *err,
	       size_t errlen);
/* "00:16:3e:70:76:01" (18 bytes with the NUL). */
void vif__format_mac(const uint8_t mac[6], char out[18]);

#endif /* PVFT_HV_VIFSPEC_H */
