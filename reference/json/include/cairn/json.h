/*
 * The proto3 JSON mapping of Cairn messages (lowerCamelCase names, 64-bit
 * integers as decimal strings, bytes as base64, enums by name, defaults
 * omitted), for test vectors, conformance case files and wire logs. Not part
 * of libcairn: it needs jansson.
 */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H

#include <jansson.h>

#include "cairn/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new JSON object for `m` (caller owns the reference), NULL on failure. */
json_t *cairn_json_from_msg(const ProtobufCMessage *m);

/*
 * Builds a message of type `desc` from a JSON object. Every allocation comes
 * from `arena` (freed with it). Field names may be lowerCamelCase or as in
 * the .proto; 64-bit integers may be strings or numbers; bytes are base64,
 * or {"hex": "..."} for readability. Unknown names are an error. On failure
 * returns CAIRN_ERR_INVALID_ARG and writes a reason to err.
 */
int cairn_json_to_msg(const json_t *obj, const ProtobufCMessageDescriptor *desc, cairn_arena *arena,
                      ProtobufCMessage **out, char *err, size_t errlen);

/* lowerCamelCase JSON name of a .proto field name; `out` holds 64 bytes. */
void cairn_json_field_name(char out[64], const char *proto_name);

#ifdef __cplusplus
}
#endif
#endif
