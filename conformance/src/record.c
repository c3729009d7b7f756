/*
 * Record mode (README.md, "Record mode"). Live: a transparent TCP relay
 * between clients and a server that writes each connection as a server-role
 * case; the peers' TLS handshake and channel binding pass through untouched
 * (spec §6.3, §14.2), and TLS sessions are read with the secrets of the key
 * log one endpoint writes (SSLKEYLOGFILE). It keeps listening until SIGINT or
 * --sessions N. From a capture: every Cairn connection of a pcap or pcapng
 * file (rec_pcap.c).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/net.h"
#include "rec.h"
#include "wire.h"

#define MAX_PAIRS 32

typedef struct pair {
    int fd[2]; /* [0] server side, [1] client side */
    int eof[2];
    rec_conn *rc;
    int n; /* its number, from 1 */
} pair;

static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cairn-conform record --listen HOST:PORT --upstream HOST:PORT -o FILE|DIR\n"
            "                            [--keylog FILE] [--tls | --plaintext] [--sessions N]\n"
            "                            [--id ID]\n"
            "       cairn-conform record --pcap CAPTURE [--keylog FILE] -o DIR [--id PREFIX]\n"
            "  --keylog FILE   the TLS key log (SSLKEYLOGFILE) the client or the server writes:\n"
            "                  TLS sessions are decrypted with it; without it they are refused\n"
            "  --tls           record only TLS sessions (needs --keylog); --plaintext only\n"
            "                  plaintext ones (default: either, told by the first bytes)\n"
            "  --sessions N    stop after N recorded connections (default: 1 with -o FILE,\n"
            "                  until SIGINT with -o DIR)\n"
            "  -o FILE|DIR     one case file, or DIR/ID-001.case, DIR/ID-002.case, ...\n"
            "  --id ID         the case ID (-o FILE), or the IDs' prefix (-o DIR; default REC)\n");
}

static int is_dir(const char *p)
{
    struct stat st;
    size_t n = strlen(p);
    return (n && p[n - 1] == '/') || (!stat(p, &st) && S_ISDIR(st.st_mode));
}

/* Writes all of p to a non-blocking socket; -1 when the peer is gone. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd q = {fd, POLLOUT, 0};
            if (poll(&q, 1, 10000) <= 0)
                return -1;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void case_path(char *buf, size_t n, const char *out, int dir, const char *id, int k,
                      char *idbuf, size_t idn)
{
    if (dir) {
        snprintf(idbuf, idn, "%s-%03d", id, k);
        snprintf(buf, n, "%s%s%s.case", out, out[strlen(out) - 1] == '/' ? "" : "/", idbuf);
    } else {
        snprintf(idbuf, idn, "%s", id);
        snprintf(buf, n, "%s", out);
    }
}

/* Finishes a connection: its case, unless it carried no Cairn frame. 1 when written. */
static int finish(pair *p, const char *out, int dir, const char *id, int *written)
{
    for (int i = 0; i < 2; i++)
        if (p->fd[i] >= 0)
            close(p->fd[i]);
    p->fd[0] = p->fd[1] = -1;
    char path[4096], cid[128];
    case_path(path, sizeof(path), out, dir, id, *written + 1, cid, sizeof(cid));
    int rv = rec_conn_write(p->rc, cid, path);
    rec_conn_free(p->rc);
    p->rc = NULL;
    if (rv == 0) {
        (*written)++;
        fprintf(stderr, "cairn-conform: connection %d: wrote %s (%s)\n", p->n, path, cid);
        return 1;
    }
    if (rv > 0)
        fprintf(stderr, "cairn-conform: connection %d: nothing to record\n", p->n);
    return 0;
}

static int live(const char *listen_addr, const char *upstream, const char *out, const char *id,
                int sessions, rec_opts *o)
{
    int dir = is_dir(out);
    if (dir)
        mkdir(out, 0777);
    if (sessions < 0)
        sessions = dir ? 0 : 1;
    if (!dir && sessions != 1) {
        fprintf(stderr, "cairn-conform: more than one connection needs -o DIR\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (cairn_net_parse_addr(listen_addr, &ss, &sl)) {
        fprintf(stderr, "cairn-conform: bad address %s\n", listen_addr);
        return 2;
    }
    int lfd = cairn_net_listen((struct sockaddr *)&ss, sl, 16);
    if (lfd < 0) {
        fprintf(stderr, "cairn-conform: listen %s: %s\n", listen_addr, strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "cairn-conform: recording on %s for %s (%s%s%s), %s\n", listen_addr, upstream,
            o->only == REC_TLS     ? "TLS"
            : o->only == REC_PLAIN ? "plaintext"
                                   : "plaintext or TLS",
            o->keys ? ", key log " : ", no key log: TLS refused", o->keys ? o->keylog : "",
            sessions ? "until the connections are recorded" : "until SIGINT");
    pair pairs[MAX_PAIRS];
    size_t np = 0;
    int accepted = 0, written = 0, rc = 0;
    static uint8_t buf[1 << 16];
    while (!stop_flag) {
        int done = sessions && written >= sessions;
        if (done && !np)
            break;
        struct pollfd pf[1 + 2 * MAX_PAIRS];
        int nf = 0;
        pf[nf++] = (struct pollfd){done || np == MAX_PAIRS ? -1 : lfd, POLLIN, 0};
        for (size_t i = 0; i < np; i++)
            for (int s = 0; s < 2; s++)
                pf[nf++] = (struct pollfd){pairs[i].eof[s] ? -1 : pairs[i].fd[s], POLLIN, 0};
        int pr = poll(pf, (nfds_t)nf, 50);
        if (pr < 0 && errno != EINTR) {
            rc = 1;
            break;
        }
        if (pr > 0 && (pf[0].revents & POLLIN)) {
            struct sockaddr_storage peer;
            socklen_t plen = sizeof(peer);
            int cfd = cairn_net_accept(lfd, &peer, &plen);
            if (cfd >= 0) {
                char err[256];
                int sfd = cf_tcp_dial(upstream, NULL, 5000, err, sizeof(err));
                if (sfd < 0) {
                    fprintf(stderr, "cairn-conform: %s\n", err);
                    close(cfd);
                } else {
                    pair *p = &pairs[np];
                    memset(p, 0, sizeof(*p));
                    p->fd[0] = sfd, p->fd[1] = cfd;
                    p->n = ++accepted;
                    char desc[96];
                    snprintf(desc, sizeof(desc), "connection %d", p->n);
                    p->rc = rec_conn_new(o, desc);
                    if (!p->rc) {
                        close(sfd), close(cfd);
                    } else {
                        np++;
                    }
                }
            }
        }
        for (size_t i = 0; i < np; i++) {
            pair *p = &pairs[i];
            for (int s = 0; s < 2 && pr > 0; s++) {
                struct pollfd *q = &pf[1 + 2 * i + (size_t)s];
                if (p->eof[s] || !(q->revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                int from_client = s == 1;
                ssize_t n = recv(p->fd[s], buf, sizeof(buf), 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (n <= 0) {
                    p->eof[s] = 1;
                    rec_conn_eof(p->rc, from_client, n < 0);
                    shutdown(p->fd[!s], SHUT_WR);
                    continue;
                }
                rec_conn_data(p->rc, from_client, buf, (size_t)n);
                int refused = 0;
                rec_conn_pump(p->rc, 0, &refused);
                if (refused) { /* before a byte went through */
                    p->eof[0] = p->eof[1] = 1;
                    break;
                }
                if (send_all(p->fd[!s], buf, (size_t)n)) {
                    p->eof[s] = p->eof[!s] = 1;
                    rec_conn_eof(p->rc, !from_client, 1);
                }
            }
            int refused = 0;
            rec_conn_pump(p->rc, 0, &refused);
            if (refused || (p->eof[0] && p->eof[1])) {
                finish(p, out, dir, id, &written);
                pairs[i--] = pairs[--np];
            }
        }
    }
    for (size_t i = 0; i < np; i++) {
        rec_conn_eof(pairs[i].rc, 1, 0); /* the recorder stopped: as if the client closed */
        finish(&pairs[i], out, dir, id, &written);
    }
    close(lfd);
    fprintf(stderr, "cairn-conform: %d connection(s), %d case(s) written\n", accepted, written);
    return rc ? rc : (written ? 0 : 1);
}

int cf_record(int argc, char **argv)
{
    const char *listen_addr = NULL, *upstream = NULL, *out = NULL, *id = NULL, *pcap = NULL,
               *keylog = NULL;
    int only = 0, sessions = -1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen_addr = argv[++i];
        else if (!strcmp(argv[i], "--upstream") && i + 1 < argc)
            upstream = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--id") && i + 1 < argc)
            id = argv[++i];
        else if (!strcmp(argv[i], "--pcap") && i + 1 < argc)
            pcap = argv[++i];
        else if (!strcmp(argv[i], "--keylog") && i + 1 < argc)
            keylog = argv[++i];
        else if (!strcmp(argv[i], "--sessions") && i + 1 < argc)
            sessions = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tls"))
            only = REC_TLS;
        else if (!strcmp(argv[i], "--plaintext"))
            only = REC_PLAIN;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (!out || (!pcap && (!listen_addr || !upstream)) || sessions < -1) {
        usage();
        return 2;
    }
    if (only == REC_TLS && !keylog) {
        fprintf(stderr, "cairn-conform: --tls needs --keylog FILE: the recorder relays the TLS "
                        "session untouched and decrypts it with the secrets one endpoint writes "
                        "(run it with SSLKEYLOGFILE=FILE)\n");
        return 2;
    }
    rec_opts o = {NULL, keylog, only, upstream};
    if (keylog && !(o.keys = rec_keylog_new(keylog))) {
        fprintf(stderr, "cairn-conform: out of memory\n");
        return 1;
    }
    int rv;
    if (pcap)
        rv = rec_pcap(pcap, &o, out, id ? id : "REC");
    else
        rv = live(listen_addr, upstream, out,
                  id            ? id
                  : is_dir(out) ? "REC"
                                : "REC-001",
                  sessions, &o);
    rec_keylog_free(o.keys);
    return rv;
}
