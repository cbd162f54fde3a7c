/* Open-loop HTTP/1.1 load at a fixed rate, latency counted from each request's planned send time.
 *
 * Request i is due at start + i/rate whatever came back before it, so a stalled server shows in the
 * tail instead of slowing the sender (wrk's closed loop hides that: coordinated omission). Requests
 * due while every connection is busy wait in a queue and keep their planned time. One thread, epoll,
 * keep-alive connections; a few microseconds of CPU a request, so the client stays off the CPU the
 * server needs (bench/ingest.py compiles and runs it).
 *
 *   openloop HOST PORT PATH RATE SECONDS CONNECTIONS BODY_FILE KEY_PREFIX [HEADER ...]
 *
 * Every "@KEY@" in the body becomes KEY_PREFIX-<n> (a new alert per request). Prints one JSON line:
 * sent, completed, non-2xx, errors, rate, p50/p90/p99/p999/max in ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;            /* a request is in flight */
    double planned;      /* its planned send time */
    char out[65536];
    size_t out_len, out_sent;
    char in[65536];
    size_t in_len;
} conn_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1);
    if (fread(buf, 1, n, f) != (size_t)n) { perror("read"); exit(2); }
    buf[n] = 0;
    fclose(f);
    *len = n;
    return buf;
}

static const char *host, *path, *prefix, *body_tpl;
static char headers[8192];
static long counter;

/* Render request number `counter` into c->out. */
static void render(conn_t *c) {
    char key[128], body[32768];
    snprintf(key, sizeof key, "%s-%ld", prefix, counter++);
    size_t klen = strlen(key), bl = 0;
    for (const char *p = body_tpl; *p && bl < sizeof body - 256;) {
        if (strncmp(p, "@KEY@", 5) == 0) { memcpy(body + bl, key, klen); bl += klen; p += 5; }
        else body[bl++] = *p++;
    }
    c->out_len = snprintf(c->out, sizeof c->out,
        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
        path, host, headers, bl);
    memcpy(c->out + c->out_len, body, bl);
    c->out_len += bl;
    c->out_sent = 0;
}

static int ep;
static struct sockaddr_in addr;

static void open_conn(conn_t *c, int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); exit(1); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    c->fd = fd;
    c->in_len = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int flush_out(conn_t *c) {
    while (c->out_sent < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->out_sent += n;
    }
    return 0;
}

/* A complete response in c->in? Returns its length (0: not yet), sets *status. */
static size_t parse_response(conn_t *c, int *status) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = end - c->in + 4, clen = 0;
    *status = atoi(c->in + 9);
    for (char *p = c->in; p < end; ) {
        char *eol = memmem(p, end - p + 2, "\r\n", 2);
        if (!eol) break;
        if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0) clen = strtoul(p + 15, NULL, 10);
        p = eol + 2;
    }
    return c->in_len >= head + clen ? head + clen : 0;
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: %s HOST PORT PATH RATE SECONDS CONNECTIONS BODY_FILE KEY_PREFIX [HEADER ...]\n", argv[0]);
        return 2;
    }
    host = argv[1];
    int port = atoi(argv[2]);
    path = argv[3];
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    int nconn = atoi(argv[6]);
    size_t body_len;
    body_tpl = read_file(argv[7], &body_len);
    prefix = argv[8];
    for (int i = 9; i < argc; i++) { strcat(headers, argv[i]); strcat(headers, "\r\n"); }

    long total = (long)(rate * seconds);
    double *lat = calloc(total, sizeof(double));
    int nsec = (int)seconds + 1;
    double *sec_max = calloc(nsec, sizeof(double));     /* worst latency per second of planned time */
    long *sec_n = calloc(nsec, sizeof(long));
    double *backlog = calloc(total, sizeof(double));   /* planned times waiting for a connection */
    long bl_head = 0, bl_tail = 0, done = 0, non2xx = 0, errors = 0, planned_i = 0;
    conn_t *conns = calloc(nconn, sizeof(conn_t));
    ep = epoll_create1(0);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    for (int i = 0; i < nconn; i++) open_conn(&conns[i], i);
    int *idle = malloc(nconn * sizeof(int)), nidle = nconn;
    for (int i = 0; i < nconn; i++) idle[i] = i;

    double start = now_s(), deadline = start + seconds + 30;  /* 30 s to drain */
    struct epoll_event events[256];
    while (done + errors < total && now_s() < deadline) {
        double t = now_s();
        while (planned_i < total && start + planned_i / rate <= t) backlog[bl_tail++] = start + planned_i++ / rate;
        while (nidle > 0 && bl_head < bl_tail) {
            conn_t *c = &conns[idle[--nidle]];
            c->busy = 1;
            c->planned = backlog[bl_head++];
            render(c);
            if (flush_out(c) < 0) { errors++; c->busy = 0; }
        }
        double next = planned_i < total ? start + planned_i / rate - now_s() : 0.05;
        int timeout = next <= 0 ? 0 : (int)(next * 1000) + (next * 1000 > (int)(next * 1000));
        int n = epoll_wait(ep, events, 256, timeout > 50 ? 50 : timeout);
        for (int k = 0; k < n; k++) {
            int i = events[k].data.u32;
            conn_t *c = &conns[i];
            ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                /* closed by the server (idle keep-alive timeout, or it failed): a request in
                 * flight is lost and counted; the connection is opened again */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                open_conn(c, i);
                if (c->busy) {
                    errors++;
                    c->busy = 0;
                    idle[nidle++] = i;
                }
                continue;
            }
            c->in_len += r;
            int status;
            size_t used;
            while (c->busy && (used = parse_response(c, &status)) > 0) {
                double l = now_s() - c->planned;
                int sec = (int)(c->planned - start);
                if (sec >= 0 && sec < nsec) { sec_n[sec]++; if (l > sec_max[sec]) sec_max[sec] = l; }
                lat[done++] = l;
                if (status < 200 || status >= 300) non2xx++;
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
                c->busy = 0;
                idle[nidle++] = i;
            }
        }
    }
    double elapsed = now_s() - start;
    if (getenv("OPENLOOP_PER_SECOND"))
        for (int i = 0; i < nsec; i++) fprintf(stderr, "second %d: %ld done, worst %.1f ms\n", i, sec_n[i], sec_max[i] * 1000);
    qsort(lat, done, sizeof(double), cmp_double);
#define PCT(p) (done ? lat[(long)((done - 1) * (p))] * 1000 : 0.0)
    printf("{\"sent\": %ld, \"completed\": %ld, \"non2xx\": %ld, \"errors\": %ld, \"rate\": %.1f, "
           "\"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"p999_ms\": %.2f, \"max_ms\": %.2f}\n",
           planned_i, done, non2xx, errors, done / elapsed, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999),
           done ? lat[done - 1] * 1000 : 0.0);
    return 0;
}
