// rtpgen: the load generator of media-pod/bench/relay.bench.ts (built by the bench with the system C compiler).
// One thread, non-blocking sockets on 127.0.0.1, sendmmsg/recvmmsg batches: cheap enough per packet that it can
// outrun a relay on another core (a Node generator cannot: it pays about what the relay pays per packet).
//
// Usage: rtpgen <sockets> <rcvbuf-bytes>. Prints "ports <p0> <p1> ..." (the bound sockets), then reads commands,
// one per line, on stdin:
//   flow <socket> <dst-port>   a stream sent from socket <socket> to 127.0.0.1:<dst-port> (SSRC 0x10000 + index)
//   packets <path> <size>      send prebuilt packets (e.g. SRTP) read from <path>, <size> bytes each: a flow's n-th
//                              packet is record n (records must not run out: a wrap would be a replay)
//   window <w>                 closed loop: keep <w> packets in flight, flows round-robin; after 20 ms with nothing
//                              received the in-flight packets are written off as lost ("stall")
//   paced <pps>                every flow at <pps>, the flows' phases spread evenly over the period
//   late <ms>                  packets delayed more than this count as late (default 100)
//   mark                       prints "mark <sent> <received> <stalls> <late> <p50-µs> <p99-µs> <max-µs>"
//   stop                       stops sending; after 300 ms of draining prints the same as "stopped ..."
// Plain RTP packets carry their send time (CLOCK_REALTIME ns) in payload bytes 0-7; the one-way delay is measured to
// the kernel's arrival timestamp at the generator's socket (SO_TIMESTAMPNS), not to when the generator reads it.
// Plain RTP packets are 172 bytes (G.711, 20 ms): version 2, PT 0, per-flow sequence, timestamp and SSRC.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT 172
#define MAXSOCK 512

struct flow {
  int sock;
  struct sockaddr_in dst;
  uint32_t seq;
  uint32_t ssrc;
};

static int nsock;
static int fds[MAXSOCK];
static struct flow *flows;
static int nflows, capflows;
static uint8_t *records;
static size_t nrecords, recsize;

static uint64_t sent, received, stalls, lost;
// one-way delay through the relay, from the send time the generator writes in each plain RTP packet's payload:
// a histogram in 100 µs buckets up to 2 s (the last bucket: anything later), and the count later than late_ns
#define BUCKETS 20001
static uint64_t hist[BUCKETS], late, late_ns = 100000000ull, max_delay;
static uint64_t send_time;
static enum { IDLE, WINDOW, PACED } mode = IDLE;
static uint64_t window_size;
static double pps_total;
static uint64_t paced_t0, paced_base;
static uint64_t stop_at;
static int next_flow;
static uint64_t last_progress;

// per-socket pending batch
static struct mmsghdr out[MAXSOCK][BATCH];
static struct iovec outv[MAXSOCK][BATCH];
static uint8_t outbuf[MAXSOCK][BATCH][PKT];
static int pending[MAXSOCK];

static struct mmsghdr in[BATCH];
static struct iovec inv[BATCH];
static uint8_t inbuf[BATCH][2048];
static uint8_t incmsg[BATCH][CMSG_SPACE(sizeof(struct timespec))];

static uint64_t real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void flush(int s) {
  int n = pending[s], at = 0;
  while (at < n) {
    int r = sendmmsg(fds[s], &out[s][at], (unsigned)(n - at), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == ENOBUFS) {
        // socket send buffer full: wait for room (counts as sent late, never as lost)
        struct pollfd p = {.fd = fds[s], .events = POLLOUT};
        poll(&p, 1, 5);
        continue;
      }
      if (errno == ECONNREFUSED) continue;  // an ICMP error from an earlier packet: retry
      die("sendmmsg");
    }
    at += r;
  }
  pending[s] = 0;
}

static void flush_all(void) {
  for (int s = 0; s < nsock; s++)
    if (pending[s]) flush(s);
}

static void queue_packet(void) {
  struct flow *f = &flows[next_flow];
  next_flow = next_flow + 1 == nflows ? 0 : next_flow + 1;
  int s = f->sock, k = pending[s];
  struct mmsghdr *m = &out[s][k];
  if (records) {
    size_t r = f->seq < nrecords ? f->seq : nrecords - 1;
    outv[s][k].iov_base = records + r * recsize;
    outv[s][k].iov_len = recsize;
  } else {
    uint8_t *b = outbuf[s][k];
    b[0] = 0x80;
    b[1] = 0;
    b[2] = (uint8_t)(f->seq >> 8);
    b[3] = (uint8_t)f->seq;
    uint32_t ts = f->seq * 160;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(f->ssrc >> 24);
    b[9] = (uint8_t)(f->ssrc >> 16);
    b[10] = (uint8_t)(f->ssrc >> 8);
    b[11] = (uint8_t)f->ssrc;
    memcpy(b + 12, &send_time, sizeof send_time);
    outv[s][k].iov_base = b;
    outv[s][k].iov_len = PKT;
  }
  m->msg_hdr.msg_name = &f->dst;
  m->msg_hdr.msg_namelen = sizeof f->dst;
  m->msg_hdr.msg_iov = &outv[s][k];
  m->msg_hdr.msg_iovlen = 1;
  m->msg_hdr.msg_control = NULL;
  m->msg_hdr.msg_controllen = 0;
  m->msg_hdr.msg_flags = 0;
  f->seq++;
  sent++;
  if (++pending[s] == BATCH) flush(s);
}

static int drain(int s) {
  int got = 0;
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      inv[i].iov_base = inbuf[i];
      inv[i].iov_len = sizeof inbuf[i];
      in[i].msg_hdr.msg_name = NULL;
      in[i].msg_hdr.msg_namelen = 0;
      in[i].msg_hdr.msg_iov = &inv[i];
      in[i].msg_hdr.msg_iovlen = 1;
      in[i].msg_hdr.msg_control = incmsg[i];
      in[i].msg_hdr.msg_controllen = sizeof incmsg[i];
    }
    int r = recvmmsg(fds[s], in, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) break;
    received += (uint64_t)r;
    if (!records) {
      uint64_t now = real_ns(), t;
      for (int i = 0; i < r; i++) {
        if (in[i].msg_len < 20) continue;
        memcpy(&t, inbuf[i] + 12, sizeof t);
        // the kernel's arrival time at our socket (SO_TIMESTAMPNS), so our own lag in reading does not count
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&in[i].msg_hdr); c; c = CMSG_NXTHDR(&in[i].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
          }
        }
        uint64_t d = now > t ? now - t : 0;
        uint64_t b = d / 100000u;
        hist[b < BUCKETS ? b : BUCKETS - 1]++;
        if (d > late_ns) late++;
        if (d > max_delay) max_delay = d;
      }
    }
    got += r;
    if (r < BATCH) break;
  }
  return got;
}

/** Delay (µs, bucket upper bound) below which a share q of the timed packets arrived. */
static uint64_t percentile(double q) {
  uint64_t n = 0, at = 0;
  for (int i = 0; i < BUCKETS; i++) n += hist[i];
  if (!n) return 0;
  for (int i = 0; i < BUCKETS; i++) {
    at += hist[i];
    if ((double)at >= q * (double)n) return (uint64_t)(i + 1) * 100u;
  }
  return (uint64_t)BUCKETS * 100u;
}

static void report(const char *word) {
  printf("%s %llu %llu %llu %llu %llu %llu %llu\n", word, (unsigned long long)sent, (unsigned long long)received,
         (unsigned long long)stalls, (unsigned long long)late, (unsigned long long)percentile(0.5),
         (unsigned long long)percentile(0.99), (unsigned long long)(max_delay / 1000u));
  fflush(stdout);
}

static char line[1 << 16];
static size_t linelen;

static void command(char *c) {
  if (!strncmp(c, "flow ", 5)) {
    int s, port;
    if (sscanf(c + 5, "%d %d", &s, &port) != 2 || s < 0 || s >= nsock) {
      fprintf(stderr, "rtpgen: bad flow: %s\n", c);
      exit(2);
    }
    if (nflows == capflows) {
      capflows = capflows ? capflows * 2 : 1024;
      flows = realloc(flows, (size_t)capflows * sizeof *flows);
      if (!flows) die("realloc");
    }
    struct flow *f = &flows[nflows];
    memset(f, 0, sizeof *f);
    f->sock = s;
    f->dst.sin_family = AF_INET;
    f->dst.sin_port = htons((uint16_t)port);
    f->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->ssrc = 0x10000u + (uint32_t)nflows;
    nflows++;
  } else if (!strncmp(c, "packets ", 8)) {
    char path[4096];
    size_t size;
    if (sscanf(c + 8, "%4095s %zu", path, &size) != 2 || size == 0) {
      fprintf(stderr, "rtpgen: bad packets: %s\n", c);
      exit(2);
    }
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    struct stat st;
    if (fstat(fileno(f), &st) < 0) die("fstat");
    records = malloc((size_t)st.st_size);
    if (!records || fread(records, 1, (size_t)st.st_size, f) != (size_t)st.st_size) die("read packets");
    fclose(f);
    recsize = size;
    nrecords = (size_t)st.st_size / size;
  } else if (!strncmp(c, "window ", 7)) {
    window_size = strtoull(c + 7, NULL, 10);
    last_progress = now_ns();
    mode = WINDOW;
  } else if (!strncmp(c, "paced ", 6)) {
    pps_total = strtod(c + 6, NULL) * nflows;
    paced_t0 = now_ns();
    paced_base = sent;
    mode = PACED;
  } else if (!strncmp(c, "late ", 5)) {
    late_ns = strtoull(c + 5, NULL, 10) * 1000000ull;
  } else if (!strcmp(c, "mark")) {
    report("mark");
  } else if (!strcmp(c, "stop")) {
    mode = IDLE;
    stop_at = now_ns() + 300000000ull;
  } else if (*c) {
    fprintf(stderr, "rtpgen: unknown command: %s\n", c);
    exit(2);
  }
}

static void read_stdin(void) {
  ssize_t r = read(0, line + linelen, sizeof line - 1 - linelen);
  if (r == 0) exit(0);
  if (r < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    die("read stdin");
  }
  linelen += (size_t)r;
  char *start = line, *nl;
  while ((nl = memchr(start, '\n', linelen - (size_t)(start - line)))) {
    *nl = 0;
    command(start);
    start = nl + 1;
  }
  linelen -= (size_t)(start - line);
  memmove(line, start, linelen);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: rtpgen <sockets> <rcvbuf-bytes>\n");
    return 2;
  }
  nsock = atoi(argv[1]);
  int rcvbuf = atoi(argv[2]);
  if (nsock < 1 || nsock > MAXSOCK) {
    fprintf(stderr, "rtpgen: 1..%d sockets\n", MAXSOCK);
    return 2;
  }
  printf("ports");
  for (int s = 0; s < nsock; s++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) die("SO_RCVBUF");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) die("SO_TIMESTAMPNS");
    int sndbuf = 1 << 21;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    fds[s] = fd;
    printf(" %d", ntohs(a.sin_port));
  }
  printf("\n");
  fflush(stdout);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

  // epoll (edge cases aside, cost per wake-up is per ready socket, not per socket); data.u32: socket index, or
  // MAXSOCK for stdin. Level-triggered: a socket not drained completely is reported again.
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = MAXSOCK};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll_ctl stdin");
  for (int s = 0; s < nsock; s++) {
    ev.data.u32 = (uint32_t)s;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[s], &ev) < 0) die("epoll_ctl");
  }
  struct epoll_event ready[MAXSOCK + 1];
  last_progress = now_ns();
  for (;;) {
    uint64_t now = now_ns();
    int timeout_ms = 5;
    send_time = real_ns();
    if (mode == WINDOW && nflows) {
      // late arrivals of packets written off: never let the count in flight go negative
      if (received + lost > sent) lost = sent - received;
      while (sent - received - lost < window_size) queue_packet();
      flush_all();
      if (now - last_progress > 20000000ull && sent > received + lost) {
        stalls++;
        lost = sent - received;
        last_progress = now;
      }
    } else if (mode == PACED && nflows) {
      uint64_t due = paced_base + (uint64_t)((double)(now - paced_t0) * pps_total / 1e9);
      while (sent < due) queue_packet();
      flush_all();
      // paced: sleep in ticks of 250 µs and drain what came back at each tick, rather than waking per packet
      struct timespec tick = {0, 250000};
      nanosleep(&tick, NULL);
      timeout_ms = 0;
    } else if (stop_at && now >= stop_at) {
      stop_at = 0;
      report("stopped");
    }
    int n = epoll_wait(ep, ready, MAXSOCK + 1, timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    int got = 0;
    for (int i = 0; i < n; i++) {
      if (ready[i].data.u32 == MAXSOCK) read_stdin();
      else got += drain((int)ready[i].data.u32);
    }
    if (got > 0) last_progress = now_ns();
  }
}
