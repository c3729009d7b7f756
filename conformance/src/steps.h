/* What the step files (steps.c, step_*.c, persona.c, rules.c) share among themselves. */
#ifndef CAIRN_CONFORM_STEPS_H
#define CAIRN_CONFORM_STEPS_H

#include "harness.h"

#define OUR_MAX_FRAME 4194304u

/* step_send.c */
int hx_write_split(hx *x, hconn *h, const uint8_t *p, size_t n, const cf_split *sp);
void hx_note_sent(hx *x, hconn *h, uint16_t type, const uint8_t *payload, size_t len);
int hx_send_payload(hx *x, hconn *h, uint16_t type, const uint8_t *payload, size_t len,
                    const cf_step *st);
int hx_send_json(hx *x, hconn *h, uint16_t type, const json_t *fields, const cf_step *st);
int hx_send_hello(hx *x, hconn *h, const cf_step *st);
int hx_send_auth(hx *x, hconn *h, const cf_step *st);
int hx_send_msg(hx *x, hconn *h, const ProtobufCMessage *m);
hx_req *hx_req_find(hx_req *v, size_t n, uint64_t id);
void hx_req_remove(hx_req *v, size_t *n, hx_req *r);
int hx_transcript(hconn *h, const uint8_t *binding, size_t blen, uint8_t th[32]);

/* persona.c */
void hx_auto_handle(hx *x, hconn *h, const cf_rx *rx);

/* rules.c */
int hx_allowed(hx *x, const cf_rx *rx);
void hx_observe(hx *x, hconn *h, cf_rx *rx);

/* step_expect.c */
void hx_run_expect(hx *x, hconn *h, const cf_step *st);

/* step_sync.c */
void hx_barrier(hx *x, hconn *h);
void hx_settle(hx *x, hconn *h);
void hx_sync_view(hx *x, hconn *h);

/* step_connect.c */
void hx_do_connect(hx *x, const cf_step *st);

#endif
