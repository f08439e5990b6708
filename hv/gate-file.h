/* SPDX-License-Identifier: MIT */
/*
 * A log file as the gate's sink (pvft-hv --record) and source (--replay):
 * Documentation/log-format.md. The sink stops the domain at its size limit
 * (--record-limit, exit status 153 as SIGXFSZ); the source reads the whole
 * log once before the replay and refuses it up front if any record is bad.
 */
#ifndef PVFT_HV_GATE_FILE_H
#define PVFT_HV_GATE_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "gate.h"
#include "logfile.h"

struct gate_file {
	const char *path;
	uint64_t limit; /* the sink's size limit (--record-limit) */
	struct logfile_writer w;
	bool writer_open;
	struct logfile_reader r;
	bool reader_open;
};

extern const struct gate_sink_ops gate_file_sink;
extern const struct gate_source_ops gate_file_source;

void gate_file__init(struct gate_file *f, const char *path, uint64_t limit);
void gate_file__dispose(struct gate_file *f);

#endif /* PVFT_HV_GATE_FILE_H */
