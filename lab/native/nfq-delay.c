/*
 * nfq-delay QUEUE DELAY_MS: holds every packet of NFQUEUE queue QUEUE for DELAY_MS milliseconds,
 * then accepts it, in arrival order. The lab's stand-in for `tc qdisc ... netem delay` on kernels
 * built without sch_netem (CONFIG_NET_SCH_NETEM is not set on the machines this project runs
 * its lab on). Built and started by src/lab/faults.ts; libnetfilter_queue does the netlink work.
 *
 * It prints "ready" once bound. On SIGTERM or SIGINT it accepts whatever it still holds and exits,
 * and the iptables rule uses --queue-bypass, so traffic flows again whenever this is not running.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define HELD_MAX 65536

struct held {
    uint32_t id;
    int64_t due_ns;
};

static struct held ring[HELD_MAX];
static unsigned head, tail; /* ring[head..tail) is held, oldest first */
static int64_t delay_ns;
static struct nfq_q_handle *queue;
static volatile sig_atomic_t stopping;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void accept_packet(uint32_t id) {
    nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
    (void)qh, (void)msg, (void)data;
    struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(nfa);
    if (header == NULL) return 0;
    uint32_t id = ntohl(header->packet_id);
    if (tail - head >= HELD_MAX) {
        accept_packet(id); /* full: let it through undelayed rather than drop it */
        return 0;
    }
    ring[tail % HELD_MAX] = (struct held){ id, now_ns() + delay_ns };
    tail++;
    return 0;
}

static void on_signal(int signal) {
    (void)signal;
    stopping = 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s QUEUE DELAY_MS\n", argv[0]);
        return 2;
    }
    int queue_num = atoi(argv[1]);
    delay_ns = (int64_t)(atof(argv[2]) * 1e6);
    if (queue_num < 0 || queue_num > 65535 || delay_ns < 0) {
        fprintf(stderr, "bad queue or delay\n");
        return 2;
    }

    struct sigaction action = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    struct nfq_handle *handle = nfq_open();
    if (handle == NULL) {
        perror("nfq_open");
        return 1;
    }
    queue = nfq_create_queue(handle, (uint16_t)queue_num, &on_packet, NULL);
    if (queue == NULL) {
        perror("nfq_create_queue");
        return 1;
    }
    if (nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(queue, HELD_MAX) < 0) {
        perror("nfq_set_mode");
        return 1;
    }
    /* If the kernel's queue overflows, pass packets instead of dropping them: delay, not loss. */
    nfq_set_queue_flags(queue, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
    nfnl_rcvbufsiz(nfq_nfnlh(handle), 8 * 1024 * 1024);
    int fd = nfq_fd(handle);
    printf("ready\n");
    fflush(stdout);

    char buffer[65536];
    while (!stopping) {
        int timeout_ms = -1;
        if (head != tail) {
            int64_t wait = ring[head % HELD_MAX].due_ns - now_ns();
            timeout_ms = wait <= 0 ? 0 : (int)((wait + 999999) / 1000000);
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, timeout_ms) > 0) {
            for (;;) {
                ssize_t length = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
                if (length > 0) {
                    nfq_handle_packet(handle, buffer, (int)length);
                    continue;
                }
                if (length < 0 && errno == ENOBUFS) continue; /* the kernel dropped messages; fail-open passed them */
                break;
            }
        }
        int64_t now = now_ns();
        while (head != tail && ring[head % HELD_MAX].due_ns <= now) {
            accept_packet(ring[head % HELD_MAX].id);
            head++;
        }
    }
    while (head != tail) {
        accept_packet(ring[head % HELD_MAX].id);
        head++;
    }
    nfq_destroy_queue(queue);
    nfq_close(handle);
    return 0;
}
